"""The browser client in Chromium against the live backend: it loads, and an annotator signs in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import E2EAccounts, E2EProject, Shot, wait_for_view

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_live_server_answers_and_the_browser_loads_the_client(page: Page) -> None:
    health = page.request.get("/api/health/live")
    assert health.status == 200, health.text()

    response = page.goto("/")
    assert response is not None and response.status == 200
    expect(page).to_have_title(re.compile("MineLabel"))


def test_an_annotator_signs_in_and_sees_their_project(
    page: Page, e2e_accounts: E2EAccounts, e2e_project: E2EProject, shot: Shot
) -> None:
    page.goto("/")
    form = page.locator("form#sign-in")
    expect(form).to_be_visible()
    form.locator("input[name=email]").fill(e2e_accounts.annotator.email)
    form.locator("input[name=password]").fill(e2e_accounts.annotator.password)
    shot(page, "sign-in")

    form.locator("button[type=submit]").click()
    wait_for_view(page, "projects")
    expect(page.get_by_text(e2e_project.name).first).to_be_visible()
    shot(page, "projects")
