"""The whole round in the browser, against the real backend: an annotator signs in, opens the seed image,
draws a Pit by clicking vertices, edits a vertex, undoes, reloads, draws while the network is down and
finds it saved once when it comes back, submits; the reviewer rejects with a comment pinned to the region;
the annotator sees it, fixes and resubmits; the reviewer approves; the export holds the polygon.

Every wait is on a state the client exposes on <html> (data-view, data-map-ready, data-saved-version,
data-regions, data-selected, data-draw-vertices), never a sleep. Screenshots go to test-artifacts/e2e."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Route, expect

from tests.e2e.actions import (
    annotation_of,
    areas,
    drag,
    draw_polygon,
    html_attr,
    map_centre,
    open_labeling,
    open_review_queue,
    select_at,
    sign_in,
    task_state,
    vertices,
)
from tests.e2e.conftest import ConsoleErrors, E2EAccounts, E2EProject, Shot, open_page, wait_for_view

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Offsets from the map's centre (screen pixels) of the Pit's vertices: a quadrilateral around the centre.
PIT = [(-90, -70), (70, -80), (90, 60), (-80, 70)]
# A second region, drawn while offline.
PLANT = [(150, 120), (230, 120), (230, 190), (150, 190)]


def test_label_review_rework_approve_export(
    page: Page,
    browser: Browser,
    live_server: str,
    console_errors: ConsoleErrors,
    committing_client: TestClient,
    e2e_project: E2EProject,
    e2e_accounts: E2EAccounts,
    shot: Shot,
) -> None:
    admin = committing_client
    first = e2e_project.observation_ids[0]

    # --- The annotator signs in and takes the next task from the dashboard ----------------------------------
    page.goto("/")
    wait_for_view(page, "sign-in")
    shot(page, "01-sign-in")
    sign_in(page, e2e_accounts.annotator)
    shot(page, "02-projects")
    page.click(f"text={e2e_project.name}")
    wait_for_view(page, "dashboard")
    shot(page, "03-dashboard")
    page.get_by_role("button", name="Start labeling").first.click()
    wait_for_view(page, "labeling")
    html_attr(page, "map-ready", first)
    shot(page, "04-labeling-empty")
    v0 = annotation_of(admin, first)["version"]  # taking the task made an empty annotation

    # --- Draw a Pit by clicking vertices; it is saved through the API ---------------------------------------
    page.keyboard.press("1")
    draw_polygon(page, PIT)
    html_attr(page, "saved-version", str(v0 + 1))
    html_attr(page, "save-state", "saved")
    saved = annotation_of(admin, first)
    assert [r["properties"]["label"] for r in saved["regions"]] == ["Pit"]
    drawn_area = areas(saved)["Pit"]
    assert drawn_area > 1000
    select_at(page, 0, 0)
    expect(page.locator("[data-testid=selected-area]")).to_contain_text("px²")
    shot(page, "05-pit-drawn")

    # --- Edit a vertex (drag it outwards), then undo --------------------------------------------------------
    vertex = PIT[2]
    drag(page, vertex, (vertex[0] + 60, vertex[1] + 50))
    html_attr(page, "saved-version", str(v0 + 2))
    edited_area = areas(annotation_of(admin, first))["Pit"]
    assert edited_area > drawn_area
    page.keyboard.press("Control+z")
    html_attr(page, "saved-version", str(v0 + 3))
    assert areas(annotation_of(admin, first))["Pit"] == pytest.approx(drawn_area)

    # --- Reload: the Pit is there ---------------------------------------------------------------------------
    page.reload()
    wait_for_view(page, "labeling")
    html_attr(page, "map-ready", first)
    html_attr(page, "regions", "1")

    # --- Offline: saves fail; the edit waits in the browser and is saved once when the network is back ------
    def fail(route: Route) -> None:
        route.abort("internetdisconnected")

    console_errors.allow("net::ERR_INTERNET_DISCONNECTED")
    page.route("**/api/annotations/**", fail)
    page.keyboard.press("2")
    draw_polygon(page, PLANT)
    html_attr(page, "save-state", "offline")
    expect(page.locator(".save-state")).to_contain_text("1 edit pending")
    shot(page, "06-offline-edit-pending")
    assert len(annotation_of(admin, first)["regions"]) == 1  # nothing reached the server
    page.unroute("**/api/annotations/**", fail)
    html_attr(page, "save-state", "saved", timeout=40_000)
    back_online = annotation_of(admin, first)
    assert back_online["version"] == v0 + 4  # one save, not one per retry
    assert sorted(areas(back_online)) == ["Infrastructure", "Pit"]

    # --- Submit ---------------------------------------------------------------------------------------------
    page.click("[data-action=submit]")
    expect(page.locator("html")).not_to_have_attribute("data-map-ready", first)
    assert task_state(admin, first) == "submitted"

    # --- The reviewer rejects, with a comment pinned to the Pit ---------------------------------------------
    reviewer = open_page(browser, live_server, console_errors)
    sign_in(reviewer, e2e_accounts.reviewer)
    open_review_queue(reviewer, e2e_project, first)
    html_attr(reviewer, "regions", "2")
    pit_id = next(r["id"] for r in back_online["regions"] if r["properties"]["label"] == "Pit")
    # A comment pinned to a point: M, click, write.
    reviewer.keyboard.press("m")
    html_attr(reviewer, "mode", "comment")
    cx, cy = map_centre(reviewer)
    reviewer.mouse.click(cx + 190, cy + 155)
    reviewer.fill("dialog textarea", "Is this building part of the plant?")
    reviewer.click("dialog button[type=submit]")
    expect(reviewer.locator(".comments h3")).to_contain_text("Comments (1 open)")
    select_at(reviewer, 0, 0)
    html_attr(reviewer, "selected", pit_id)
    reviewer.click("[data-action=reject]")
    reviewer.fill("dialog textarea", "The pit's east wall goes further: follow the dark edge.")
    shot(reviewer, "07-review-reject")
    reviewer.click("dialog button[type=submit]")
    expect(reviewer.locator(".comments h3")).to_contain_text("Comments (2 open)")
    assert task_state(admin, first) == "rejected"
    threads = {
        t["comment"]["body"][:8]: t["comment"]
        for t in admin.get(f"/api/observations/{first}/comments").json()
    }
    assert threads["The pit'"]["region_id"] == pit_id
    assert threads["Is this "]["point"] is not None and threads["Is this "]["region_id"] is None

    # --- The annotator sees the comment, fixes the Pit and submits again ------------------------------------
    open_labeling(page, e2e_project, first)
    region_thread = page.locator(".thread", has_text="east wall")
    expect(region_thread).to_be_visible()
    region_thread.locator("input[name=reply]").fill("Followed the edge, thanks.")
    region_thread.locator("input[name=reply]").press("Enter")
    expect(page.locator(".thread", has_text="east wall")).to_contain_text("Followed the edge")
    page.locator(".thread", has_text="east wall").locator("[data-action=resolve]").click()
    expect(page.locator(".thread.resolved", has_text="east wall")).to_be_visible()
    expect(page.locator(".comments h3")).to_contain_text("Comments (1 open)")
    html_attr(page, "regions", "2")
    version_before_fix = annotation_of(admin, first)["version"]
    select_at(page, 0, 0)
    drag(page, PIT[1], (PIT[1][0] + 50, PIT[1][1] - 10))
    html_attr(page, "saved-version", str(version_before_fix + 1))
    shot(page, "08-rework-with-comment")
    page.click("[data-action=submit]")
    expect(page.locator("html")).not_to_have_attribute("data-map-ready", first)
    assert task_state(admin, first) == "submitted"

    # --- The reviewer approves ------------------------------------------------------------------------------
    open_review_queue(reviewer, e2e_project, first)
    reviewer.click("[data-action=approve]")
    expect(reviewer.locator("[data-task-state]")).to_have_attribute("data-task-state", "approved")
    assert task_state(admin, first) == "approved"

    # The task list shows it; the dashboard charts it and exports it (a download, as a person would).
    reviewer.goto(f"/#/projects/{e2e_project.project_id}/tasks")
    wait_for_view(reviewer, "tasks")
    expect(reviewer.locator(f"[data-observation-id='{first}']")).to_contain_text("pproved")
    reviewer.locator("select[name=state]").select_option("approved")
    expect(reviewer.locator("[data-observation-id]")).to_have_count(1)
    shot(reviewer, "10-task-list")
    reviewer.goto(f"/#/projects/{e2e_project.project_id}")
    wait_for_view(reviewer, "dashboard")
    expect(reviewer.locator("svg")).to_have_count(1)  # labeled area per date per site
    shot(reviewer, "09-dashboard-reviewer")
    reviewer.locator("select[name=export-format]").select_option("label-studio")
    with reviewer.expect_download() as download:
        reviewer.click("[data-action=export]")
    exported = json.loads(download.value.path().read_bytes())
    reviewer.context.close()

    # --- The export holds the fixed polygon -----------------------------------------------------------------
    (task,) = exported  # approved tasks only
    assert task["data"]["minelabel"]["state"] == "approved"
    results = task["annotations"][0]["result"]
    labels = sorted(r["value"]["polygonlabels"][0] for r in results)
    assert labels == ["Infrastructure", "Pit"]
    pit = next(r for r in results if r["value"]["polygonlabels"] == ["Pit"])
    assert len(pit["value"]["points"]) == 4
    # The same vertices as stored (Label Studio points are percent of the image size).
    width, height = task["data"]["minelabel"]["width"], task["data"]["minelabel"]["height"]
    exported_points = {
        (round(x * width / 100, 1), round(y * height / 100, 1)) for x, y in pit["value"]["points"]
    }
    stored_points = {(round(x, 1), round(y, 1)) for x, y in vertices(annotation_of(admin, first), "Pit")[0]}
    assert exported_points == stored_points
