"""Pre-label review in Chromium with the tiny random-weight SAM: a project admin starts "Pre-label with SAM"
on the task, sees the job's progress, SAM's predictions appear in the predictions panel, "Accept all" makes
them regions saved by the autosave (in the API with their shapes, found again after a reload); with that date
approved, "Carry forward with SAM" on the next date lists the carried predictions most changed first, each
with its previous shape as a ghost, "changed more than N %" hides the others, and "Accept unchanged" accepts
exactly those at or under N %."""

from __future__ import annotations

import math
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Locator, Page, Response, expect
from shapely.geometry import shape
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from app.models.observation import Observation, TaskState
from tests.e2e.actions import annotation_of, embedded, html_attr, open_labeling, sign_in
from tests.e2e.conftest import Account, E2EAccounts, E2EProject, Shot, create_account

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JOB_TIMEOUT_MS = 180_000  # a batch job of the tiny SAM on a busy 2-core machine


def project_admin(client: TestClient, project: E2EProject) -> Account:
    """An account that is an admin of ``project`` (who may start SAM's batch jobs) but not a site admin."""
    account = create_account(client, "project-admin")
    member = client.put(f"/api/projects/{project.project_id}/members/{account.id}", json={"role": "admin"})
    assert member.status_code == 200, member.text
    return account


def predictions_of(client: httpx.Client, observation_id: str) -> dict[str, dict[str, Any]]:
    """The observation's predicted regions by id, as the API serves them."""
    listed = client.get(
        f"/api/observations/{observation_id}/regions",
        params={"bbox": "0,0,100000,100000", "kind": "predictions", "limit": 50000},
    )
    assert listed.status_code == 200, listed.text
    return {f["id"]: f for f in listed.json()["features"]}


def listed_ids(panel: Locator) -> list[str]:
    """The ids of the predictions the panel lists, in its order."""
    return [str(li.get_attribute("data-region-id")) for li in panel.locator(".prediction-list li").all()]


def run_batch(page: Page, committing_app: FastAPI, worker: str, action: str, label: str) -> None:
    """Click a batch button while the worker takes no SAM jobs (the bar must show the queued job), then let
    the worker take it and wait until the client has the job's end."""
    batch = page.locator("[data-testid=sam-batch]")
    celery = committing_app.state.celery
    celery.control.cancel_consumer("gpu", destination=[worker], reply=True)
    try:
        batch.locator(f"[data-action={action}]").click()
        bar = batch.get_by_role("progressbar", name=label)
        expect(bar).to_be_visible()
        expect(bar).to_contain_text("waiting for a SAM worker")
        expect(batch).to_have_attribute("data-state", "queued")
        expect(batch.locator(f"[data-action={action}]")).to_be_disabled()
    finally:
        celery.control.add_consumer("gpu", destination=[worker], reply=True)
    expect(batch).to_have_attribute("data-state", "succeeded", timeout=JOB_TIMEOUT_MS)
    expect(bar).to_have_count(0)
    expect(batch.locator(f"[data-action={action}]")).to_be_enabled()


def is_save(response: Response) -> bool:
    """The autosave's request (the first save creates the annotation, later ones change it)."""
    method, path = response.request.method, urlsplit(response.url).path
    return (method == "POST" and path.endswith("/annotations")) or (
        method in ("PUT", "PATCH") and path.startswith("/api/annotations/")
    )


def same_shape(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The stored region is the prediction's shape (the client rounds vertices to 0.01 px)."""
    sa, sb = shape(a), shape(b)
    return bool(sa.symmetric_difference(sb).area <= 1e-3 * max(sa.area, 1.0))


def approve(engine: Engine, client: TestClient, observation_id: str) -> None:
    """Straight to review (who labeled it does not matter here), then approved by the site admin."""
    with Session(engine) as session:
        session.execute(
            update(Observation)
            .where(Observation.id == uuid.UUID(observation_id))
            .values(task_state=TaskState.SUBMITTED)
        )
        session.commit()
    approved = client.post(f"/api/observations/{observation_id}/task/approve")
    assert approved.status_code == 200, approved.text


def test_pre_label_accept_all_then_carry_forward_and_accept_the_unchanged(
    sam_page: Page,
    sam_api: httpx.Client,
    committing_client: TestClient,
    committing_app: FastAPI,
    worker: str,
    engine: Engine,
    e2e_project: E2EProject,
    e2e_accounts: E2EAccounts,
    shot: Shot,
) -> None:
    if len(e2e_project.observation_ids) < 2:
        pytest.skip("the synthetic project has one observation; carrying forward needs the seed series' two")
    page = sam_page
    first, second = e2e_project.observation_ids[:2]
    embedded(sam_api, committing_client, e2e_project)
    admin = project_admin(committing_client, e2e_project)
    sign_in(page, admin)
    open_labeling(page, e2e_project, first)
    panel = page.locator(".predictions")
    expect(panel.locator("h3")).to_contain_text("Predictions (0)")

    # The shortcuts help lists SAM's keys and the pre-label actions (one keymap feeds it).
    expect(page.locator(".mode-bar [data-mode=sam]")).to_be_visible()
    page.keyboard.press("?")
    rows = page.locator("dialog#shortcuts tr")
    for key, says in (
        ("S", "Alt+click"),
        ("S", "Shift+drag a box"),
        ("Enter / double-click", "make SAM's mask a region"),
        ("Esc", "SAM's prompts"),
        ("Backspace", "SAM prompt"),
        ("P", "Pre-label with SAM"),
        ("P", "Accept unchanged"),
    ):
        kbd = page.locator("kbd", has_text=re.compile(f"^{re.escape(key)}$"))
        expect(rows.filter(has=kbd).filter(has_text=says)).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("dialog#shortcuts")).to_have_count(0)

    # Pre-label: the job's progress, then SAM's predictions in the panel and on the map.
    run_batch(page, committing_app, worker, "sam-prelabel", "SAM pre-label progress")
    predicted = predictions_of(sam_api, first)
    assert len(predicted) >= 3, "the tiny SAM found fewer than 3 objects: nothing to review"
    assert all(p["properties"]["source"] == "sam" for p in predicted.values())
    expect(panel.locator("h3")).to_contain_text(f"Predictions ({len(predicted)})")
    assert sorted(listed_ids(panel)) == sorted(predicted)
    panel.scroll_into_view_if_needed()  # the panel, below the fold at 1366 x 768
    shot(page, "sam-04-pre-labels")

    # Accept all: regions of the annotation with the predictions' shapes, saved; found again after a reload.
    with page.expect_response(is_save) as answer:
        panel.locator("[data-action=accept-all]").click()
    assert answer.value.ok, answer.value.text()
    html_attr(page, "regions", str(len(predicted)))
    html_attr(page, "save-state", "saved")
    expect(panel.locator("h3")).to_contain_text("Predictions (0)")
    saved = annotation_of(committing_client, first)["regions"]
    assert sorted(r["properties"]["accepted_from"] for r in saved) == sorted(predicted)
    for region in saved:
        source = predicted[region["properties"]["accepted_from"]]
        assert region["id"] != source["id"] and region["properties"]["source"] == "sam"
        assert same_shape(region["geometry"], source["geometry"]), region["id"]
    page.reload()
    html_attr(page, "map-ready", first)
    html_attr(page, "regions", str(len(predicted)))
    expect(panel.locator("h3")).to_contain_text("Predictions (0)")

    # The first date approved: carry its regions forward to the second.
    approve(engine, committing_client, first)
    approved = {r["id"]: r for r in annotation_of(committing_client, first)["regions"]}
    open_labeling(page, e2e_project, second)
    run_batch(page, committing_app, worker, "sam-carry-forward", "SAM carry-forward progress")
    carried = {
        i: p for i, p in predictions_of(sam_api, second).items() if p["properties"].get("carried_from")
    }
    assert len(carried) >= 2, "fewer than 2 regions carried forward: nothing to sort"
    assert {p["properties"]["carried_from"] for p in carried.values()} <= set(approved)
    change = {i: float(p["properties"]["change_score"]) for i, p in carried.items()}
    assert len(set(change.values())) >= 2, change
    html_attr(page, "ghosts", str(len(carried)))

    # Listed most changed first (what moved is reviewed first), each with its change.
    ids = listed_ids(panel)
    assert sorted(ids) == sorted(carried)
    assert [change[i] for i in ids] == sorted(change.values(), reverse=True)
    for i in ids[:3]:
        shown = panel.locator(f"li[data-region-id='{i}'] .change")
        expect(shown).to_have_text(f"Δ {math.floor(change[i] * 100 + 0.5)}%")  # JavaScript's Math.round
    panel.scroll_into_view_if_needed()
    shot(page, "sam-05-carry-forward-review")

    # A threshold between the least and the most changed: the filter hides those at or under it. (Random
    # weights redraw nearly everything: the changes here are all close to 100 %, so the threshold is where
    # they differ, a fraction of a percent; the client reads the number as typed, the step only spins.)
    percents = sorted(change[i] * 100 for i in ids)
    threshold = (percents[0] + percents[-1]) / 2
    over = {i for i in ids if change[i] * 100 > threshold}
    under = set(ids) - over
    assert over and under, (threshold, percents)
    panel.locator("[data-testid=change-threshold]").fill(repr(threshold))
    panel.locator("[data-testid=change-threshold]").dispatch_event("change")
    panel.locator("[data-testid=only-changed]").check()
    expect(panel.locator(".prediction-list li")).to_have_count(len(over))
    assert set(listed_ids(panel)) == over
    accept_unchanged = panel.locator("[data-action=accept-unchanged]")
    expect(accept_unchanged).to_have_text(f"Accept unchanged ({len(under)})")
    panel.scroll_into_view_if_needed()
    shot(page, "sam-06-changed-only")

    # "Accept unchanged": exactly those at or under the threshold become regions, saved.
    with page.expect_response(is_save) as answer:
        accept_unchanged.click()
    assert answer.value.ok, answer.value.text()
    html_attr(page, "regions", str(len(under)))
    html_attr(page, "save-state", "saved")
    stored = annotation_of(committing_client, second)["regions"]
    assert {r["properties"]["accepted_from"] for r in stored} == under
    for region in stored:
        source = carried[region["properties"]["accepted_from"]]
        assert region["properties"]["label"] == source["properties"]["label"]
        assert same_shape(region["geometry"], source["geometry"]), region["id"]
    # What moved is left to review.
    expect(panel.locator("h3")).to_contain_text(f"Predictions ({len(over)})")
    assert set(listed_ids(panel)) == over
