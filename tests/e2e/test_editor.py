"""The labeling view's editing tools in Chromium: holes, snapping, class keys, delete, undo/redo, cancel and
Backspace while drawing, the shortcuts help; a 409 from the server and its three choices; predictions;
the time series (swipe, copy the previous observation's approved regions); an expired session."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Route, expect

from tests.e2e.actions import (
    annotation_of,
    drag,
    draw_polygon,
    html_attr,
    open_review_queue,
    put_regions,
    select_at,
    sign_in,
    start_labeling,
    vertices,
)
from tests.e2e.conftest import (
    ConsoleErrors,
    E2EAccounts,
    E2EProject,
    Shot,
    create_account,
    open_page,
)
from tests.world import square

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BIG = [(-150, -120), (130, -130), (150, 120), (-140, 130)]


def test_holes_snapping_class_keys_delete_undo_redo(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts, shot: Shot
) -> None:
    first = e2e_project.observation_ids[0]
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    admin = committing_client

    draw_polygon(page, BIG)
    html_attr(page, "regions", "1")

    # A hole: select the polygon, H, draw a ring inside it.
    select_at(page, 0, 0)
    page.keyboard.press("h")
    html_attr(page, "mode", "hole")
    for placed, (dx, dy) in enumerate([(-30, -30), (30, -30), (30, 30), (-30, 30)], start=1):
        centre = page.locator("#map").bounding_box()
        assert centre is not None
        x, y = centre["x"] + centre["width"] / 2 + dx, centre["y"] + centre["height"] / 2 + dy
        page.mouse.click(x, y)
        html_attr(page, "draw-vertices", str(placed))
    page.keyboard.press("Enter")
    html_attr(page, "mode", "select")
    html_attr(page, "save-state", "saved")
    expect(page.locator(".selected")).to_contain_text("1 hole")
    assert len(vertices(annotation_of(admin, first), "Pit")) == 2  # outer ring and one hole

    # Snapping: a new polygon whose first click lands 4 px off the big one's second vertex starts on it.
    page.keyboard.press("Escape")  # nothing selected: the class key then only picks the class
    expect(page.locator("html")).not_to_have_attribute("data-selected", re.compile(".+"))
    page.keyboard.press("2")
    near = (BIG[1][0] + 4, BIG[1][1] + 3)
    draw_polygon(page, [near, (220, -130), (220, -40)])
    html_attr(page, "regions", "2")
    html_attr(page, "save-state", "saved")
    saved = annotation_of(admin, first)
    pit_outer = {tuple(v) for v in vertices(saved, "Pit")[0]}
    plant_outer = {tuple(v) for v in vertices(saved, "Infrastructure")[0]}
    assert pit_outer & plant_outer, "the shared vertex was not snapped"

    # Class keys recolour the selection; Delete removes it; Ctrl+Z / Ctrl+Shift+Z undo and redo that.
    select_at(page, 200, -90)
    page.keyboard.press("3")
    html_attr(page, "save-state", "saved")
    assert sorted(r["properties"]["label"] for r in annotation_of(admin, first)["regions"]) == [
        "Outline",
        "Pit",
    ]
    page.keyboard.press("Delete")
    html_attr(page, "regions", "1")
    page.keyboard.press("Control+z")
    html_attr(page, "regions", "2")
    page.keyboard.press("Control+Shift+z")
    html_attr(page, "regions", "1")
    html_attr(page, "save-state", "saved")
    assert [r["properties"]["label"] for r in annotation_of(admin, first)["regions"]] == ["Pit"]

    # While drawing: Backspace takes the last vertex back, Esc drops the polygon.
    page.keyboard.press("d")
    box = page.locator("#map").bounding_box()
    assert box is not None
    for placed, (dx, dy) in enumerate([(200, 150), (260, 150), (260, 200)], start=1):
        page.mouse.click(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy)
        html_attr(page, "draw-vertices", str(placed))
    page.keyboard.press("Backspace")
    html_attr(page, "draw-vertices", "2")
    page.keyboard.press("Escape")
    expect(page.locator("html")).not_to_have_attribute("data-draw-vertices", "2")
    html_attr(page, "regions", "1")

    page.keyboard.press("Escape")
    page.keyboard.press("?")
    expect(page.locator("dialog#shortcuts")).to_be_visible()
    shot(page, "16-shortcuts-help")
    page.keyboard.press("Escape")
    expect(page.locator("dialog#shortcuts")).to_have_count(0)


def test_a_conflict_offers_keep_mine_take_theirs_and_see_both(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts, shot: Shot,
    console_errors: ConsoleErrors,
) -> None:  # fmt: skip
    console_errors.allow("status of 409", "/api/annotations/")  # the conflicts this test makes
    first = e2e_project.observation_ids[0]
    admin = committing_client
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    draw_polygon(page, BIG)
    html_attr(page, "save-state", "saved")

    # Someone else (an admin, through the API) saves meanwhile; the next edit here gets a 409.
    theirs = {"label": "Outline", "geometry": square(10, 10, 40)}
    put_regions(admin, annotation_of(admin, first), [theirs])
    page.keyboard.press("2")
    draw_polygon(page, [(200, 150), (260, 150), (260, 200)])
    dialog = page.locator("dialog.modal")
    expect(dialog).to_contain_text("Someone else saved this annotation")
    shot(page, "11-conflict")
    dialog.get_by_role("button", name="See both").click()
    html_attr(page, "save-state", "conflict")
    page.locator(".save-state button").click()
    dialog.get_by_role("button", name="Keep mine").click()
    html_attr(page, "save-state", "saved")
    mine = annotation_of(admin, first)
    assert sorted(r["properties"]["label"] for r in mine["regions"]) == ["Infrastructure", "Pit"]

    # Again, and this time take theirs: the map shows their single region and nothing more is sent.
    put_regions(admin, mine, [theirs])
    page.keyboard.press("1")
    draw_polygon(page, [(-260, 150), (-200, 150), (-200, 200)])
    dialog.get_by_role("button", name="Take theirs").click()
    html_attr(page, "regions", "1")
    html_attr(page, "save-state", "saved")
    final = annotation_of(admin, first)
    assert [r["properties"]["label"] for r in final["regions"]] == ["Outline"]
    assert final["version"] == mine["version"] + 1


def test_predictions_are_accepted_one_or_all(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts, shot: Shot
) -> None:
    first = e2e_project.observation_ids[0]
    created = committing_client.post(
        f"/api/observations/{first}/predictions",
        json={
            "model_version": "sam-vit-b", "score": 0.8,
            "regions": [
                {"label": "Pit", "geometry": square(300, 300, 120), "source": "sam", "score": 0.91},
                {"label": "Infrastructure", "geometry": square(600, 600, 60), "source": "sam", "score": 0.62},
            ],
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    panel = page.locator(".predictions")
    expect(panel).to_contain_text("Predictions (2)")
    shot(page, "12-predictions")
    panel.locator("li", has_text="Pit").get_by_role("button", name="Accept").click()
    html_attr(page, "regions", "1")
    expect(panel).to_contain_text("Predictions (1)")
    html_attr(page, "save-state", "saved")
    (accepted,) = annotation_of(committing_client, first)["regions"]
    assert accepted["properties"]["source"] == "sam"
    assert accepted["properties"]["score"] == pytest.approx(0.91)
    assert accepted["properties"]["accepted_from"] == created.json()["regions"][0]["id"]
    assert accepted["properties"]["area_px"] == pytest.approx(120 * 120)

    panel.get_by_role("button", name="Accept all").click()
    html_attr(page, "regions", "2")
    expect(panel).to_contain_text("Predictions (0)")
    html_attr(page, "save-state", "saved")
    assert len(annotation_of(committing_client, first)["regions"]) == 2


def test_an_expired_session_keeps_the_edit_and_saves_it_after_signing_in_again(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts,
    console_errors: ConsoleErrors,
) -> None:  # fmt: skip
    console_errors.allow("status of 401", "/api/annotations/")  # the save the expired session makes
    first = e2e_project.observation_ids[0]
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    page.context.clear_cookies()  # the session is gone, as after expiry
    draw_polygon(page, BIG, then_select=False)  # the save is sent at once: its 401 opens the dialog
    again = page.locator("dialog#sign-in-again")
    expect(again).to_be_visible()
    html_attr(page, "save-state", "signed-out")
    assert annotation_of(committing_client, first)["regions"] == []
    again.locator("input[name=email]").fill(e2e_accounts.annotator.email)
    again.locator("input[name=password]").fill(e2e_accounts.annotator.password)
    again.locator("button[type=submit]").click()
    html_attr(page, "save-state", "saved")
    assert len(annotation_of(committing_client, first)["regions"]) == 1


def test_time_series_swipe_and_copy_from_the_approved_previous_observation(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts, shot: Shot
) -> None:
    if len(e2e_project.observation_ids) < 2:
        pytest.skip("the synthetic project has one observation; the seed series has two")
    first, second = e2e_project.observation_ids[:2]
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    draw_polygon(page, BIG)
    html_attr(page, "save-state", "saved")
    page.click("[data-action=submit]")
    html_attr(page, "map-ready", second)  # submitting opens the next task: the site's next observation
    approved = committing_client.post(f"/api/observations/{first}/task/approve")
    assert approved.status_code == 200, approved.text

    page.keyboard.press("c")
    expect(page.locator(".swipe-control")).to_be_visible()
    html_attr(page, "swipe", "ready")
    shot(page, "13-time-series-swipe")
    page.keyboard.press("c")
    expect(page.locator(".swipe-control")).to_be_hidden()
    page.click("[data-action=copy-previous]")
    html_attr(page, "regions", "1")
    html_attr(page, "save-state", "saved")
    copied = annotation_of(committing_client, second)["regions"]
    original = annotation_of(committing_client, first)["regions"]
    assert [r["geometry"] for r in copied] == [r["geometry"] for r in original]
    assert copied[0]["id"] != original[0]["id"]

    page.keyboard.press("[")
    html_attr(page, "map-ready", first)
    # Approved meanwhile: its ground truth (the annotator's own work), read-only.
    expect(page.locator(".banner")).to_have_text(
        f"Approved · ground truth by {e2e_accounts.annotator.email} · read-only"
    )


def test_topology_warnings_show_on_the_offending_polygon_also_after_a_reload(
    page: Page, e2e_project: E2EProject, e2e_accounts: E2EAccounts, shot: Shot
) -> None:
    first = e2e_project.observation_ids[0]
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    page.keyboard.press("3")
    draw_polygon(page, [(-200, -150), (0, -150), (0, 50), (-200, 50)])  # the mine grounds
    page.keyboard.press("Escape")
    page.keyboard.press("1")
    draw_polygon(page, [(-50, -20), (120, -20), (120, 120), (-50, 120)])  # a pit reaching outside them
    html_attr(page, "save-state", "saved")
    html_attr(page, "warnings", "1")
    select_at(page, 100, 100)
    expect(page.locator(".selected .warnings")).to_contain_text("outside every Outline")
    shot(page, "15-topology-warning")

    page.reload()
    html_attr(page, "map-ready", first)
    html_attr(page, "warnings", "1")


# The first entry of the client's outbox (IndexedDB "minelabel", store "outbox"), or null.
OUTBOX_ENTRY_JS = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("minelabel", 1);
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const all = open.result.transaction("outbox", "readonly").objectStore("outbox").getAll();
    all.onsuccess = () => { open.result.close(); resolve(all.result[0] ?? null); };
    all.onerror = () => reject(all.error);
  };
})"""


def test_edits_made_offline_survive_a_reload_and_are_saved_once_back_online(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts,
    console_errors: ConsoleErrors,
) -> None:  # fmt: skip
    first = e2e_project.observation_ids[0]
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    version = annotation_of(committing_client, first)["version"]
    console_errors.allow("net::ERR_INTERNET_DISCONNECTED")
    page.route("**/api/annotations/**", lambda route: route.abort("internetdisconnected"))
    draw_polygon(page, BIG)
    html_attr(page, "save-state", "offline")
    # The outbox keeps what changed since the confirmed version (one region), not the whole state.
    entry = page.wait_for_function(OUTBOX_ENTRY_JS).json_value()
    assert entry["baseVersion"] == version and "regions" not in entry
    assert len(entry["delta"]["regions"]) == 1 and entry["delta"]["deleted"] == []

    page.reload()  # still offline: the edit comes back from IndexedDB, not from the server
    html_attr(page, "map-ready", first)
    html_attr(page, "regions", "1")
    expect(page.locator(".save-state")).to_contain_text("1 edit pending")
    assert annotation_of(committing_client, first)["regions"] == []

    page.unroute("**/api/annotations/**")
    html_attr(page, "save-state", "saved", timeout=40_000)
    saved = annotation_of(committing_client, first)
    assert len(saved["regions"]) == 1
    assert saved["version"] == version + 1


def test_a_project_admin_deletes_a_prediction(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts
) -> None:
    first = e2e_project.observation_ids[0]
    admin = create_account(committing_client, "admin")
    role = committing_client.put(
        f"/api/projects/{e2e_project.project_id}/members/{admin.id}", json={"role": "admin"}
    )
    assert role.status_code == 200, role.text
    created = committing_client.post(
        f"/api/observations/{first}/predictions",
        json={"model_version": "m1", "regions": [{"label": "Pit", "geometry": square(300, 300, 80)}]},
    )
    assert created.status_code == 201, created.text

    sign_in(page, admin)
    page.goto(f"/#/projects/{e2e_project.project_id}/label/{first}")
    html_attr(page, "map-ready", first)
    panel = page.locator(".predictions")
    expect(panel).to_contain_text("Predictions (1)")
    panel.get_by_role("button", name="Delete").click()
    expect(panel).to_contain_text("Predictions (0)")
    gone = committing_client.get(
        f"/api/observations/{first}/regions", params={"bbox": "0,0,1000,1000", "kind": "predictions"}
    )
    assert gone.json()["features"] == []


def test_a_task_assigned_to_someone_else_opens_read_only(
    page: Page, e2e_project: E2EProject, e2e_accounts: E2EAccounts
) -> None:
    first = e2e_project.observation_ids[0]
    sign_in(page, e2e_accounts.annotator)
    page.goto(f"/#/projects/{e2e_project.project_id}/label/{first}")  # not taken: nobody's task yet
    html_attr(page, "map-ready", first)
    expect(page.locator(".banner")).to_contain_text("not assigned to you")
    expect(page.locator(".comments")).to_contain_text("shown to the task's annotators")
    expect(page.locator("[data-action=submit]")).to_have_count(0)
    page.keyboard.press("d")  # drawing is refused with a message, and nothing is drawn
    expect(page.locator(".toast")).to_contain_text("cannot be edited")
    html_attr(page, "mode", "select")


def test_a_reviewer_fixes_a_region_during_review_and_approves(
    page: Page, browser: Browser, live_server: str, console_errors: ConsoleErrors,
    committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts,
) -> None:  # fmt: skip
    first = e2e_project.observation_ids[0]
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    draw_polygon(page, BIG)
    html_attr(page, "save-state", "saved")
    page.click("[data-action=submit]")
    expect(page.locator("html")).not_to_have_attribute("data-map-ready", first)
    submitted = annotation_of(committing_client, first)

    reviewer = open_page(browser, live_server, console_errors)
    sign_in(reviewer, e2e_accounts.reviewer)
    open_review_queue(reviewer, e2e_project, first)
    select_at(reviewer, 0, 0)
    drag(reviewer, BIG[0], (BIG[0][0] - 40, BIG[0][1] - 30))
    html_attr(reviewer, "saved-version", str(submitted["version"] + 1))
    reviewer.click("[data-action=approve]")
    expect(reviewer.locator("[data-task-state]")).to_have_attribute("data-task-state", "approved")
    reviewer.context.close()

    fixed = annotation_of(committing_client, first)
    assert fixed["id"] == submitted["id"]  # the annotator's annotation, changed by the reviewer
    assert fixed["regions"][0]["properties"]["area_px"] > submitted["regions"][0]["properties"]["area_px"]
    revisions = committing_client.get(f"/api/annotations/{fixed['id']}/revisions").json()
    assert revisions[-1]["user_id"] == e2e_accounts.reviewer.id


def test_a_save_whose_answer_is_lost_is_not_taken_for_someone_elses(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts,
    console_errors: ConsoleErrors,
) -> None:  # fmt: skip
    first = e2e_project.observation_ids[0]
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    draw_polygon(page, BIG)
    html_attr(page, "save-state", "saved")
    version = annotation_of(committing_client, first)["version"]

    # The next save reaches the server and is applied, but its answer never comes back.
    console_errors.allow("net::ERR_CONNECTION_RESET")
    lost: list[str] = []

    sent: list[Any] = []  # the bodies of the saves of changes, as sent

    def lose_the_answer(route: Route) -> None:
        if route.request.method == "PATCH":
            sent.append(route.request.post_data_json)
        if lost or route.request.method != "PATCH":
            route.continue_()
            return
        route.fetch()  # the server saves it ...
        lost.append(route.request.url)
        route.abort("connectionreset")  # ... and the browser never hears of it

    page.route("**/api/annotations/**", lose_the_answer)
    page.keyboard.press("2")
    draw_polygon(page, [(200, 150), (260, 150), (260, 200)])
    html_attr(page, "save-state", "offline")
    assert annotation_of(committing_client, first)["version"] == version + 1  # it was applied
    page.keyboard.press("3")
    draw_polygon(page, [(-260, 150), (-200, 150), (-200, 200)])

    # The lost request is sent again as it was (the server answers from its idempotency record), then the
    # newest state on top of it: no conflict with oneself, nothing saved twice.
    html_attr(page, "save-state", "saved", timeout=40_000)
    expect(page.locator("dialog.modal")).to_have_count(0)
    final = annotation_of(committing_client, first)
    assert final["version"] == version + 2
    assert sorted(r["properties"]["label"] for r in final["regions"]) == ["Infrastructure", "Outline", "Pit"]
    # Each save sent only what changed since the confirmed version: the one new region, not the annotation.
    assert sent[0] == sent[1]  # the lost one, sent again as it was
    assert [len(body["regions"]) for body in sent] == [1, 1, 1] and sent[-1]["version"] == version + 1
    assert sent[-1]["regions"][0]["label"] == "Outline" and all(body["deleted"] == [] for body in sent)


def test_polygons_past_the_edge_are_cut_to_the_image_and_a_bowtie_can_be_repaired(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts,
    console_errors: ConsoleErrors, shot: Shot,
) -> None:  # fmt: skip
    first = e2e_project.observation_ids[0]
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    box = page.locator("#map").bounding_box()
    assert box is not None
    left_of_image = -int(box["width"] / 2) + 20  # the map's left margin, outside the image
    draw_polygon(page, [(left_of_image, -60), (-250, -60), (-250, 60), (left_of_image, 60)])
    html_attr(page, "save-state", "saved")
    expect(page.locator(".toast")).to_contain_text("clipped to the image")
    (cut,) = annotation_of(committing_client, first)["regions"]
    assert min(x for x, _ in vertices(annotation_of(committing_client, first), "Pit")[0]) == 0
    assert cut["properties"]["area_px"] > 0

    # A bowtie is refused with the server's reason and a Repair button; the region is selected.
    console_errors.allow("status of 422", "/api/annotations/")
    page.keyboard.press("Escape")
    page.keyboard.press("2")
    draw_polygon(page, [(0, 0), (120, 120), (120, 0), (0, 120)])
    html_attr(page, "save-state", "error")
    expect(page.locator(".save-state")).to_contain_text("not a valid polygon")
    expect(page.locator("html")).to_have_attribute("data-selected", re.compile(".+"))
    refused = page.locator("html").get_attribute("data-selected")  # from the error body's region_id
    shot(page, "18-invalid-polygon")
    page.click("[data-action=repair]")
    html_attr(page, "save-state", "saved")
    repaired = annotation_of(committing_client, first)
    assert sorted(r["properties"]["label"] for r in repaired["regions"]) == ["Infrastructure", "Pit"]
    bowtie = next(r for r in repaired["regions"] if r["properties"]["label"] == "Infrastructure")
    assert bowtie["geometry"]["type"] == "MultiPolygon" and len(bowtie["geometry"]["coordinates"]) == 2
    assert bowtie["id"] == refused  # the refused region was the one selected (the cut Pit was not)


def test_an_edited_region_is_drawn_on_its_own_layer_and_joins_the_image_after_its_save(
    page: Page, committing_client: TestClient, e2e_project: E2EProject, e2e_accounts: E2EAccounts
) -> None:
    """An edit redraws only the regions it touched (the live layer); the image of all regions takes them
    back a moment after the save is answered, and they stay selectable and editable there."""
    first = e2e_project.observation_ids[0]
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    html_attr(page, "live-regions", "0")
    draw_polygon(page, [(-60, -60), (60, -60), (60, 60), (-60, 60)])
    html_attr(page, "live-regions", "1")
    html_attr(page, "save-state", "saved")
    html_attr(page, "live-regions", "0")  # joined the image
    (before,) = annotation_of(committing_client, first)["regions"]

    # Picked from the image and moved: it leaves the image for the live layer, and the move is saved.
    select_at(page, 0, 0)
    version = annotation_of(committing_client, first)["version"]
    drag(page, (0, 0), (40, 0))
    html_attr(page, "saved-version", str(version + 1))
    html_attr(page, "live-regions", "1")  # still selected: it stays live
    (after,) = annotation_of(committing_client, first)["regions"]
    xs = [[x for x, _ in r["geometry"]["coordinates"][0][0]] for r in (before, after)]  # MultiPolygons
    assert min(xs[1]) > min(xs[0]) + 10

    # Deleted from the live layer, and gone from the annotation.
    page.keyboard.press("Delete")
    html_attr(page, "regions", "0")
    html_attr(page, "live-regions", "0")
    html_attr(page, "saved-version", str(version + 2))
    assert annotation_of(committing_client, first)["regions"] == []


def test_a_task_whose_regions_did_not_all_arrive_is_not_opened(
    page: Page, e2e_project: E2EProject, e2e_accounts: E2EAccounts
) -> None:
    """Opening reads the regions as a stream of lines; one cut off before its `end` line (a connection that
    broke) is refused with a message, never opened as if it were the whole task (a save could then drop
    the regions that did not arrive). Opened again, the task is whole."""
    first = e2e_project.observation_ids[0]
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    draw_polygon(page, BIG)
    html_attr(page, "save-state", "saved")

    def cut_off(route: Route) -> None:
        lines = route.fetch().text().splitlines(keepends=True)
        assert lines[-1].startswith('{"end":') and len(lines) == 4  # annotation, regions, warnings, end
        route.fulfill(status=200, content_type="application/x-ndjson", body="".join(lines[:2]))

    page.route("**/annotations/stream*", cut_off)
    page.reload()
    html_attr(page, "view", "labeling-error")
    expect(page.locator(".error")).to_contain_text("did not all arrive")
    expect(page.locator("html")).not_to_have_attribute("data-map-ready", first)
    page.unroute("**/annotations/stream*")
    page.reload()
    html_attr(page, "map-ready", first)
    html_attr(page, "regions", "1")
