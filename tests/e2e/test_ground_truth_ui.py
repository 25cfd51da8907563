"""One ground truth per approved task, in the browser against the real backend: an approved task opens
read-only for everyone with its ground truth (and a project admin's Reopen sends it back to review); a
reviewer of a task with two annotators' annotations switches between them, sees the others dashed and
their IoU, and approves one as the ground truth, or starts their own from one, corrects it and approves
that. States the test is not about (labeled, submitted, approved) are made through the API.

Every wait is on a state the client exposes on <html> (data-annotation, data-regions, data-overlay,
data-agreement, data-read-only, ...), never a sleep. Screenshots go to test-artifacts/e2e."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Request, expect
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.models import User
from app.services.auth import create_api_token
from tests.e2e.actions import (
    drag,
    html_attr,
    open_labeling,
    open_review_queue,
    select_at,
    sign_in,
    task_state,
)
from tests.e2e.conftest import (
    Account,
    ConsoleErrors,
    E2EAccounts,
    E2EProject,
    Shot,
    create_account,
    open_page,
    wait_for_view,
)
from tests.world import square

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# In image pixels (both the seed PNGs and the synthetic one are 1000 x 1000): regions around the centre,
# which is the map's centre once the view has fitted the image.
PIT_A = square(350, 350, 300)
PIT_B = square(400, 350, 300)  # shifted by 50 px: IoU with A's Pit is 75,000 / 105,000 = 0.71
PLANT_B = square(700, 700, 100)


@contextmanager
def api_as(app: FastAPI, engine: Engine, account: Account) -> Iterator[TestClient]:
    """An API client of ``account`` (a personal token, as a script would use)."""
    with Session(engine) as session:
        user = session.get(User, account.id)
        assert user is not None
        _, key = create_api_token(session, user, "e2e ground truth")
    with TestClient(app, headers={"Authorization": f"Token {key}"}) as client:
        yield client


def label_and_submit(
    client: TestClient, project: E2EProject, regions: list[dict[str, Any]]
) -> tuple[str, str]:
    """The annotator takes the next task, saves ``regions`` and submits; returns (task, annotation) ids."""
    handout = client.post(f"/api/projects/{project.project_id}/tasks/next")
    assert handout.status_code == 200, handout.text
    task_id, annotation_id = handout.json()["task"]["observation_id"], handout.json()["annotation_id"]
    saved = client.put(f"/api/annotations/{annotation_id}", json={"version": 1, "regions": regions})
    assert saved.status_code == 200, saved.text
    submitted = client.post(f"/api/observations/{task_id}/task/submit")
    assert submitted.status_code == 200, submitted.text
    return task_id, annotation_id


def add_member(admin: TestClient, project: E2EProject, role: str) -> Account:
    account = create_account(admin, role)
    member = admin.put(f"/api/projects/{project.project_id}/members/{account.id}", json={"role": role})
    assert member.status_code == 200, member.text
    return account


def pixel_offset(page: Page, x: float, y: float) -> tuple[int, int]:
    """Where image pixel (x, y) is on the screen, from the map's centre: the view fits the 1000 px image
    into the map with 16 px of padding (pixelMap.ts), so one screen pixel is this many image pixels."""
    box = page.locator("#map").bounding_box()
    assert box is not None
    resolution = max(1000 / (box["width"] - 32), 1000 / (box["height"] - 32))
    return round((x - 500) / resolution), round((y - 500) / resolution)


class LabelWrites:
    """The label changes a page asks the server for (saving, creating or deleting annotations and regions)."""

    def __init__(self, page: Page) -> None:
        self.seen: list[str] = []
        page.on("request", self.on_request)

    def on_request(self, request: Request) -> None:
        writes = request.method in ("POST", "PUT", "PATCH", "DELETE")
        if writes and re.search(
            r"/api/(annotations|regions)|/api/observations/[^/]+/annotations", request.url
        ):
            self.seen.append(f"{request.method} {request.url}")


@pytest.fixture
def overlap(
    committing_app: FastAPI, engine: Engine, committing_client: TestClient, e2e_project: E2EProject,
    e2e_accounts: E2EAccounts,
) -> Iterator[tuple[str, str, str, Account]]:  # fmt: skip
    """The project's first task labeled by two annotators (annotators_per_task = 2) and submitted: yields
    (task, A's annotation, B's annotation, B). A has one Pit; B a shifted Pit and an Infrastructure region."""
    changed = committing_client.patch(
        f"/api/projects/{e2e_project.project_id}", json={"annotators_per_task": 2}
    )
    assert changed.status_code == 200, changed.text
    second = add_member(committing_client, e2e_project, "annotator")
    first_regions = [{"label": "Pit", "geometry": PIT_A}]
    second_regions = [{"label": "Pit", "geometry": PIT_B}, {"label": "Infrastructure", "geometry": PLANT_B}]
    with api_as(committing_app, engine, e2e_accounts.annotator) as client:
        task, a = label_and_submit(client, e2e_project, first_regions)
    with api_as(committing_app, engine, second) as client:
        again, b = label_and_submit(client, e2e_project, second_regions)
    assert again == task == e2e_project.observation_ids[0]
    assert task_state(committing_client, task) == "submitted"
    yield task, a, b, second


def test_an_approved_task_opens_read_only_with_its_ground_truth_and_an_admin_reopens_it(
    page: Page, browser: Browser, live_server: str, console_errors: ConsoleErrors, committing_app: FastAPI,
    engine: Engine, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts,
    shot: Shot,
) -> None:  # fmt: skip
    admin_api = committing_client
    regions = [{"label": "Pit", "geometry": PIT_A}, {"label": "Infrastructure", "geometry": PLANT_B}]
    with api_as(committing_app, engine, e2e_accounts.annotator) as client:
        task, annotation = label_and_submit(client, e2e_project, regions)
    approved = admin_api.post(f"/api/observations/{task}/task/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["ground_truth_annotation_id"] == annotation
    truth = admin_api.get(f"/api/observations/{task}/approved-regions").json()["features"]
    assert len(truth) == 2

    # --- The reviewer, outside review mode: the ground truth, read-only ------------------------------------
    writes = LabelWrites(page)
    sign_in(page, e2e_accounts.reviewer)
    open_labeling(page, e2e_project, task)
    banner = page.locator(".banner")
    expect(banner).to_have_text(f"Approved · ground truth by {e2e_accounts.annotator.email} · read-only")
    html_attr(page, "regions", str(len(truth)))
    html_attr(page, "read-only", "true")
    expect(page.locator("[data-task-state]")).to_have_attribute("data-task-state", "approved")
    expect(page.locator("[data-action=submit]")).to_have_count(0)
    expect(page.locator("[data-action=reopen]")).to_have_count(0)  # reviewers cannot reopen
    expect(page.locator(".mode-bar [data-mode=draw]")).to_have_count(0)  # no drawing or editing tools
    expect(page.locator(".mode-bar [data-action=undo]")).to_have_count(0)
    shot(page, "ground-truth-readonly")

    # Keys that edit do nothing: no drawing mode, no deletion, no class change, and no save request.
    page.keyboard.press("d")
    expect(page.locator(".toast").last).to_contain_text("cannot be edited")
    html_attr(page, "mode", "select")
    select_at(page, 0, 0)
    page.keyboard.press("2")
    page.keyboard.press("Delete")
    page.keyboard.press("Control+z")
    html_attr(page, "regions", str(len(truth)))
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    help_dialog = page.locator("dialog#shortcuts")
    expect(help_dialog.locator("[data-testid=shortcuts-read-only]")).to_contain_text(
        "The keys that edit do nothing"
    )
    expect(help_dialog.locator("tr[data-off]").first).to_contain_text("(off: read-only)")
    page.keyboard.press("Escape")
    expect(help_dialog).to_have_count(0)
    expect(page.locator(".save-state")).to_be_hidden()  # nothing is saved from here
    assert writes.seen == []
    after = admin_api.get(f"/api/observations/{task}/approved-regions").json()["features"]
    assert [(r["id"], r["properties"]["label"]) for r in after] == [
        (r["id"], r["properties"]["label"]) for r in truth
    ]

    # --- A project admin sees the same, and reopens it: back to review, submitted, editable ----------------
    project_admin = add_member(admin_api, e2e_project, "admin")
    admin_page = open_page(browser, live_server, console_errors)
    sign_in(admin_page, project_admin)
    open_labeling(admin_page, e2e_project, task)
    expect(admin_page.locator(".banner")).to_contain_text("Approved · ground truth by")
    html_attr(admin_page, "regions", str(len(truth)))
    html_attr(admin_page, "read-only", "true")
    admin_page.click("[data-action=reopen]")
    dialog = admin_page.locator("dialog.modal")
    expect(dialog).to_contain_text("Reopen this approved task?")
    dialog.get_by_role("button", name="Reopen").click()
    expect(admin_page).to_have_url(re.compile(rf"/label/{task}\?mode=review$"))
    html_attr(admin_page, "map-ready", task)
    expect(admin_page.locator("[data-task-state]")).to_have_attribute("data-task-state", "submitted")
    html_attr(admin_page, "read-only", "false")
    html_attr(admin_page, "regions", str(len(truth)))
    expect(admin_page.locator(".banner")).to_be_hidden()
    expect(admin_page.locator("[data-action=approve]")).to_be_enabled()
    admin_page.context.close()
    assert task_state(admin_api, task) == "submitted"
    assert admin_api.get(f"/api/observations/{task}/task").json()["ground_truth_annotation_id"] is None
    audit = admin_api.get(f"/api/observations/{task}/task/audit").json()
    assert audit[-1]["action"] == "reopen" and audit[-1]["actor_id"] == project_admin.id


def test_a_reviewer_switches_between_two_annotations_and_approves_the_second(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts,
    overlap: tuple[str, str, str, Account], shot: Shot,
) -> None:  # fmt: skip
    task, a, b, second = overlap
    sign_in(page, e2e_accounts.reviewer)
    open_review_queue(page, e2e_project, task)
    html_attr(page, "annotations", "2")
    panel = page.locator(".annotations")
    expect(panel.locator("li")).to_have_count(2)
    expect(panel.locator(f"li[data-annotation-id='{a}']")).to_contain_text(e2e_accounts.annotator.email)
    expect(panel.locator(f"li[data-annotation-id='{a}']")).to_contain_text("1 region")
    expect(panel.locator(f"li[data-annotation-id='{b}']")).to_contain_text(second.email)
    expect(panel.locator(f"li[data-annotation-id='{b}']")).to_contain_text("2 regions")

    # A's on the map (editable as today), B's dashed over it, with their IoU per class.
    panel.locator(f"li[data-annotation-id='{a}'] button").click()
    html_attr(page, "annotation", a)
    html_attr(page, "regions", "1")
    html_attr(page, "overlay", "2")
    iou = panel.locator(f"li[data-annotation-id='{b}'] [data-testid=iou]")
    expect(iou).to_have_text("IoU with the selected one: Infrastructure 0.00 · Pit 0.71")
    approve = page.locator("[data-action=approve]")
    expect(approve).to_have_text(f"Approve {e2e_accounts.annotator.email}'s annotation as ground truth")

    # B's: the map shows its two regions, A's one dashed; the switch reads the task again through the
    # annotations' stream, as opening it does.
    with page.expect_request(f"**/api/observations/{task}/annotations/stream?*"):
        panel.locator(f"li[data-annotation-id='{b}'] button").click()
    html_attr(page, "annotation", b)
    html_attr(page, "regions", "2")
    html_attr(page, "overlay", "1")
    expect(panel.locator(f"li[data-annotation-id='{a}'] [data-testid=iou]")).to_contain_text("Pit 0.71")
    expect(approve).to_have_text(f"Approve {second.email}'s annotation as ground truth")
    expect(page.locator("[data-action=start-own]")).to_have_text("Start my own from this one")
    shot(page, "review-several-annotations")

    # O hides the others and shows them again; A goes round the list.
    page.keyboard.press("o")
    html_attr(page, "overlay", "off")
    page.keyboard.press("o")
    html_attr(page, "overlay", "1")
    page.keyboard.press("a")
    html_attr(page, "annotation", a)
    page.keyboard.press("a")
    html_attr(page, "annotation", b)
    html_attr(page, "regions", "2")

    approve.click()
    expect(page.locator("[data-task-state]")).to_have_attribute("data-task-state", "approved")
    expect(page.locator(".banner")).to_have_text(f"Approved · ground truth by {second.email} · read-only")
    html_attr(page, "regions", "2")
    read = committing_client.get(f"/api/observations/{task}/task").json()
    assert read["state"] == "approved"
    assert read["ground_truth_annotation_id"] == b
    assert {x["state"] for x in read["assignments"]} == {"approved"}

    # The dashboard says where its areas come from.
    page.goto(f"/#/projects/{e2e_project.project_id}")
    wait_for_view(page, "dashboard")
    expect(page.locator("[data-testid=area-rule]")).to_contain_text(
        "its ground truth once the task is approved"
    )


def test_a_reviewer_starts_their_own_from_one_annotation_corrects_it_and_approves_it(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts,
    overlap: tuple[str, str, str, Account],
) -> None:  # fmt: skip
    task, a, b, _ = overlap
    sign_in(page, e2e_accounts.reviewer)
    open_review_queue(page, e2e_project, task)
    page.locator(f".annotations li[data-annotation-id='{a}'] button").click()
    html_attr(page, "annotation", a)
    page.click("[data-action=start-own]")
    html_attr(page, "annotations", "3")
    expect(page.locator("html")).not_to_have_attribute("data-annotation", re.compile(f"^({a}|{b})$"))
    own = page.locator("html").get_attribute("data-annotation")
    assert own
    html_attr(page, "regions", "1")
    html_attr(page, "overlay", "3")  # A's Pit, and B's Pit and Infrastructure
    expect(page.locator(f".annotations li[data-annotation-id='{own}']")).to_contain_text("(you)")
    # A copy of A's: the same Pit, so a perfect score with it before the correction.
    expect(page.locator(f".annotations li[data-annotation-id='{a}'] [data-testid=iou]")).to_contain_text(
        "Pit 1.00"
    )
    expect(page.locator("[data-action=start-own]")).to_have_count(0)
    approve = page.locator("[data-action=approve]")
    expect(approve).to_have_text("Approve my annotation as ground truth")

    # Move the Pit's south-east vertex outwards; the save goes to the reviewer's own annotation.
    select_at(page, 0, 0)
    corner = pixel_offset(page, 650, 650)
    drag(page, corner, (corner[0] + 60, corner[1] + 50))
    html_attr(page, "saved-version", "2")
    html_attr(page, "save-state", "saved")
    expect(page.locator(f".annotations li[data-annotation-id='{a}'] [data-testid=iou]")).not_to_contain_text(
        "Pit 1.00"
    )
    mine = committing_client.get(f"/api/annotations/{own}").json()
    original = committing_client.get(f"/api/annotations/{a}").json()
    assert mine["created_by"] == e2e_accounts.reviewer.id
    assert mine["regions"][0]["properties"]["area_px"] > original["regions"][0]["properties"]["area_px"]
    assert original["version"] == 2  # A's own work is untouched (1: taken, 2: labeled)

    approve.click()
    expect(page.locator("[data-task-state]")).to_have_attribute("data-task-state", "approved")
    expect(page.locator(".banner")).to_have_text(
        f"Approved · ground truth by {e2e_accounts.reviewer.email} · read-only"
    )
    assert committing_client.get(f"/api/observations/{task}/task").json()["ground_truth_annotation_id"] == own

    exported = committing_client.get(
        f"/api/projects/{e2e_project.project_id}/export", params={"format": "label-studio"}
    )
    assert exported.status_code == 200, exported.text
    (entry,) = exported.json()  # approved tasks only
    (annotation,) = entry["annotations"]  # the ground truth only
    assert annotation["ground_truth"] is True
    (result,) = annotation["result"]
    assert result["value"]["polygonlabels"] == ["Pit"]
    wait_for_view(page, "labeling")


def test_approve_asks_which_annotation_when_the_server_says_there_are_several_now(
    page: Page, console_errors: ConsoleErrors, committing_app: FastAPI, engine: Engine,
    committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts,
) -> None:  # fmt: skip
    console_errors.allow("status of 422", "/task/approve")  # the answer this test is about
    with api_as(committing_app, engine, e2e_accounts.annotator) as client:
        task, annotation = label_and_submit(client, e2e_project, [{"label": "Pit", "geometry": PIT_A}])
    sign_in(page, e2e_accounts.reviewer)
    open_review_queue(page, e2e_project, task)
    expect(page.locator(".annotations")).to_have_count(0)  # one annotation: today's one-click Approve
    expect(page.locator("[data-action=approve]")).to_have_text("Approve")

    # Meanwhile an admin starts a copy of their own: the task has two annotations now.
    copy = committing_client.post(f"/api/observations/{task}/annotations", json={"copy_from": annotation})
    assert copy.status_code == 201, copy.text
    page.click("[data-action=approve]")
    dialog = page.locator("dialog.modal")
    expect(dialog).to_contain_text("Which annotation is the ground truth?")
    expect(dialog).to_contain_text("This task has 2 annotations")  # the server's own message
    expect(dialog.locator("li[data-annotation-id]")).to_have_count(2)
    dialog.get_by_role(
        "button", name=f"Approve {e2e_accounts.annotator.email}'s annotation (1 region)"
    ).click()
    expect(page.locator("[data-task-state]")).to_have_attribute("data-task-state", "approved")
    expect(page.locator(".banner")).to_have_text(
        f"Approved · ground truth by {e2e_accounts.annotator.email} · read-only"
    )
    read = committing_client.get(f"/api/observations/{task}/task").json()
    assert read["ground_truth_annotation_id"] == annotation
