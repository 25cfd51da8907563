"""The browser client in Chromium against the live backend: it loads, and an annotator signs in."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from app.core.config import Settings
from app.main import create_app
from tests.e2e.conftest import ConsoleErrors, E2EAccounts, E2EProject, Shot, open_page, serve, wait_for_view

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


def test_where_sign_up_is_allowed_a_visitor_creates_an_account(
    browser: Browser, settings: Settings, console_errors: ConsoleErrors, shot: Shot
) -> None:
    open_doors = settings.model_copy(
        update={"security": settings.security.model_copy(update={"allow_signup": True})}
    )
    with serve(create_app(open_doors)) as url:
        page = open_page(browser, url, console_errors)
        page.goto("/")
        wait_for_view(page, "sign-in")
        page.click("[data-action=sign-up]")
        form = page.locator("form#sign-up")
        form.locator("input[name=email]").fill(f"visitor-{uuid.uuid4().hex[:8]}@test.local")
        form.locator("input[name=password]").fill("a long enough passphrase")
        shot(page, "00-sign-up")
        form.locator("button[type=submit]").click()
        wait_for_view(page, "projects")
        expect(page.locator(".empty")).to_contain_text("not a member of any project")
        page.context.close()


def test_wrong_credentials_show_the_servers_message(page: Page, console_errors: ConsoleErrors) -> None:
    console_errors.allow("status of 401", "/api/auth/sign-in")
    page.goto("/")
    wait_for_view(page, "sign-in")
    expect(page.locator("[data-action=sign-up]")).to_have_count(0)  # sign-up is off by default
    page.fill("input[name=email]", "nobody@test.local")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator("form#sign-in .error")).to_contain_text("Wrong email or password")
