"""The SAM tool in Chromium with the tiny random-weight SAM: hover previews (from the hover map at once, a
near miss's from the nearest mask, then decoded; also on top of placed prompts), a click's polygon decoded in
the browser matches the server's for the same prompt and is a valid polygon, a negative point and a
Shift+drag box change the mask, a plain drag pans, Enter saves it through the autosave (in the API, found
again after a reload), a double-click places one point and keeps its mask, Esc clears the prompts; without
WebAssembly the tool decodes on the server and says so; an image whose embeddings are still being computed
shows the job's progress, then works once it is done."""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Any

import httpx2 as httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Route, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from shapely.geometry import shape
from shapely.ops import unary_union
from shapely.validation import explain_validity

from app.imagery.storage import observation_prefix
from app.ml import sam_hover
from app.ml.sam_windows import window_for
from app.schemas.sam import SamWindowRead
from tests.e2e.actions import annotation_of, embedded, html_attr, map_centre, start_labeling
from tests.e2e.conftest import ConsoleErrors, E2EAccounts, E2EProject, Shot
from tests.jobs import wait_for_job

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def arm(page: Page, decoder: str) -> None:
    expect(page.locator(".mode-bar [data-mode=sam]")).to_be_visible()
    page.keyboard.press("s")
    html_attr(page, "mode", "sam")
    html_attr(page, "sam", "ready", timeout=90_000)
    html_attr(page, "sam-decoder", decoder)


# The first "sam-drawn" performance mark (frontend/src/labeling/tools/sam.ts) of a kind painted for an
# event after a time: its detail, or undefined (a wait_for_function polls until there is one).
DRAWN_SINCE_JS = """([since, kind]) => performance.getEntriesByName('sam-drawn')
    .map(m => m.detail).find(m => m.kind === kind && m.askedAt >= since)"""


def last_result(page: Page) -> dict[str, Any]:
    raw = page.locator("[data-testid=sam-status]").get_attribute("data-result")
    assert raw, "no SAM result yet"
    return dict(json.loads(raw))


def settled(page: Page, prompts: int) -> dict[str, Any]:
    """The answer for exactly ``prompts`` placed prompts (waits until the shown result is theirs)."""
    html_attr(page, "sam-prompts", str(prompts))
    expect(page.locator("[data-testid=sam-status]")).to_have_attribute(
        "data-result", _json_with_points(prompts)
    )
    return last_result(page)


def _json_with_points(count: int) -> Any:
    return re.compile(r'^\{"request":\{"points":\[' + ",".join([r"\{[^}]*\}"] * count) + r"\]")


def server_polygons(client: httpx.Client, observation_id: str, request: dict[str, Any]) -> Any:
    answer = client.post(
        f"/api/observations/{observation_id}/sam",
        json={
            "points": request["points"],
            "box": request["box"],
            "simplify_px": request["simplifyPx"],
            "min_area_px": request["minAreaPx"],
            "largest_only": request["largestOnly"],
        },
    )
    assert answer.status_code == 200, answer.text
    return unary_union([shape(p["geometry"]) for p in answer.json()["polygons"]])


def browser_shape(result: dict[str, Any], may_be_empty: bool = False) -> Any:
    """The browser's polygons as one shape; each must be valid (the API refuses invalid ones).

    ``may_be_empty``: after a negative point the random-weight SAM may keep nothing; the comparison with the
    server's answer (IoU 1 only when both are empty) then still says whether the browser decoded it right.
    """
    polygons = [shape(p) for p in result["polygons"]]
    assert polygons or may_be_empty, "SAM found nothing"
    assert all(p.is_valid for p in polygons), [explain_validity(p) for p in polygons]
    return unary_union(polygons)


def iou(a: Any, b: Any) -> float:
    union = a.union(b).area
    return 1.0 if union == 0 else float(a.intersection(b).area / union)


def test_the_sam_tool_previews_decodes_in_the_browser_and_saves_a_region(
    sam_page: Page,
    sam_api: httpx.Client,
    committing_client: TestClient,
    e2e_project: E2EProject,
    e2e_accounts: E2EAccounts,
    shot: Shot,
) -> None:
    page = sam_page
    first = e2e_project.observation_ids[0]
    embedded(sam_api, committing_client, e2e_project)
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    arm(page, "browser")
    expect(page.locator(".sam-panel")).to_be_visible()
    # Compared at simplify 0 px: both sides are then the exact pixel outlines, where they must agree (two
    # simplifiers of a noisy random-weight mask differ by more than a percent, which says nothing about SAM).
    page.locator("[data-testid=sam-detail]").fill("0")
    expect(page.locator(".sam-panel")).to_contain_text("0 px")

    # Hovering previews the mask under the pointer.
    cx, cy = map_centre(page)
    page.mouse.move(cx - 40, cy - 30, steps=4)
    expect(page.locator("html")).not_to_have_attribute("data-sam-preview", "0")
    shot(page, "sam-01-hover-preview")

    # The pointer comes to rest: the preview painted for exactly that spot (a move after `since`).
    page.mouse.move(cx - 39, cy - 30)
    since = page.evaluate("performance.now()")
    page.mouse.move(cx - 40, cy - 30)
    page.wait_for_function(DRAWN_SINCE_JS, arg=[since, "preview"])

    # A click there: the browser's polygon is the server's for the same prompt. It is the answer the preview
    # decoded (the same point, positive), shown without decoding it again.
    page.mouse.click(cx - 40, cy - 30)
    clicked = settled(page, 1)
    assert clicked["request"]["simplifyPx"] == 0
    assert iou(browser_shape(clicked), server_polygons(sam_api, first, clicked["request"])) >= 0.99
    assert clicked["timing"] is not None  # decoded in the browser
    result = page.wait_for_function(DRAWN_SINCE_JS, arg=[since, "result"]).json_value()
    assert result["reused"] is True and result["timing"] is None, result

    # Hovering elsewhere previews the placed point plus the hovered one; the placed prompts stay as they were.
    page.mouse.move(cx + 10, cy + 40, steps=3)
    expect(page.locator("[data-testid=sam-status]")).to_have_attribute("data-preview", _json_with_points(2))
    assert last_result(page)["request"] == clicked["request"]

    # A negative point changes the mask.
    page.keyboard.down("Alt")
    page.mouse.click(cx + 30, cy + 20)
    page.keyboard.up("Alt")
    negative = settled(page, 2)
    assert negative["request"]["points"][1]["positive"] is False
    assert negative["polygons"] != clicked["polygons"]
    server_negative = server_polygons(sam_api, first, negative["request"])
    assert iou(browser_shape(negative, may_be_empty=True), server_negative) >= 0.99
    shot(page, "sam-02-points")

    # Esc clears the prompts; the tool stays armed.
    page.keyboard.press("Escape")
    html_attr(page, "sam-prompts", "0")
    html_attr(page, "mode", "sam")

    # A plain drag pans the map (no prompt): the same screen spot is then another image pixel.
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 90, cy + 70, steps=8)
    page.mouse.up()
    html_attr(page, "sam-prompts", "0")
    page.mouse.click(cx - 40, cy - 30)
    panned = settled(page, 1)["request"]["points"][0]
    before = clicked["request"]["points"][0]
    assert abs(panned["x"] - before["x"]) > 5 and abs(panned["y"] - before["y"]) > 5
    page.keyboard.press("Escape")
    page.mouse.move(cx + 90, cy + 70)
    page.mouse.down()
    page.mouse.move(cx, cy, steps=8)
    page.mouse.up()
    html_attr(page, "sam-prompts", "0")

    # A box: Shift+drag.
    page.mouse.move(cx - 80, cy - 70)
    page.keyboard.down("Shift")
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 50, steps=6)
    page.mouse.up()
    page.keyboard.up("Shift")
    html_attr(page, "sam-prompts", "1")
    expect(page.locator("[data-testid=sam-status]")).to_have_attribute("data-result", _box_result())
    boxed = last_result(page)
    assert boxed["request"]["box"] is not None
    assert iou(browser_shape(boxed), server_polygons(sam_api, first, boxed["request"])) >= 0.99

    # Detail applies to the mask Enter keeps, not only to the preview. (At 0 px the random-weight mask of a
    # box over the synthetic image can outline 150,000 pixel edges, past the API's vertex limit.)
    page.locator("[data-testid=sam-detail]").fill("1")
    page.locator("[data-testid=sam-detail]").blur()  # keys go to the map again
    expect(page.locator("[data-testid=sam-status]")).to_have_attribute(
        "data-result", re.compile(r'"box":\[[^\]]*\],"simplifyPx":1,')
    )

    # Enter: a region of the current class, saved by the autosave; found again after a reload.
    page.keyboard.press("Enter")
    html_attr(page, "regions", "1")
    html_attr(page, "save-state", "saved")
    html_attr(page, "mode", "sam")
    saved = annotation_of(committing_client, first)["regions"]
    assert len(saved) == 1 and saved[0]["properties"]["source"] == "sam"
    assert saved[0]["properties"]["label"] == "Pit"
    page.reload()
    html_attr(page, "map-ready", first)
    html_attr(page, "regions", "1")
    shot(page, "sam-03-saved-region")

    # Two quick clicks on two spots (OpenLayers calls any two within 250 ms a double-click) are two points,
    # and nothing is kept yet.
    arm(page, "browser")
    page.mouse.click(cx - 60, cy + 40)
    page.mouse.click(cx + 60, cy - 40)
    html_attr(page, "sam-prompts", "2")
    settled(page, 2)
    page.wait_for_timeout(500)  # a double-click would have kept the mask once it was decoded
    html_attr(page, "regions", "1")
    html_attr(page, "sam-prompts", "2")
    html_attr(page, "mode", "sam")
    page.keyboard.press("Escape")
    html_attr(page, "sam-prompts", "0")

    # A double-click places one point (not two) and keeps its mask as a second region.
    page.mouse.move(cx + 50, cy - 50, steps=3)
    page.mouse.dblclick(cx + 50, cy - 50)
    html_attr(page, "regions", "2")
    assert len(last_result(page)["request"]["points"]) == 1
    html_attr(page, "save-state", "saved")
    assert len(annotation_of(committing_client, first)["regions"]) == 2


def test_hovering_shows_the_hover_maps_mask_at_once_then_the_decode_of_the_spot(
    sam_page: Page,
    sam_api: httpx.Client,
    committing_client: TestClient,
    e2e_project: E2EProject,
    e2e_accounts: E2EAccounts,
    shot: Shot,
) -> None:
    page = sam_page
    first = e2e_project.observation_ids[0]
    embedded(sam_api, committing_client, e2e_project)
    manifest = sam_api.get(f"/api/observations/{first}/sam/embeddings").json()["manifest"]
    assert manifest["hover_points_per_side"] == 4  # the test worker's grid
    windows = [SamWindowRead.model_validate(w).window() for w in manifest["windows"]]

    # The regions' vertex limit as an operator may set it (LIMITS__MAX_POLYGON_VERTICES), which the tool
    # reads with the embeddings: here 3, so that any mask is over it at Enter (see the end).
    def low_limit(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, json=response.json() | {"max_polygon_vertices": 3})

    page.route(f"**/api/observations/{first}/sam/embeddings", low_limit)
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    arm(page, "browser")
    page.locator("[data-testid=sam-detail]").fill("0")  # exact pixel outlines on both sides, as above
    page.locator("[data-testid=sam-detail]").blur()
    cx, cy = map_centre(page)

    # Spots around the centre until one is answered by a grid point whose mask holds the spot and that the
    # server's decode would also put in that window (a grid point near a window's edge is decoded in a
    # neighbouring one with more room), and one is a near miss: no grid mask holds the spot, one holds a
    # pixel close to it.
    found = near_miss = None
    samples: list[tuple[tuple[float, float], dict[str, Any]]] = []
    for step in range(40):
        angle, radius = step * 2.4, 25 + 9 * (step % 20)
        spot = (cx + radius * math.cos(angle), cy + radius * math.sin(angle))
        since = page.evaluate("performance.now()")
        page.mouse.move(*spot)
        try:
            mark = page.wait_for_function(DRAWN_SINCE_JS, arg=[since, "map"], timeout=5_000).json_value()
        except PlaywrightTimeoutError:
            continue  # no grid point's mask holds this spot or a pixel near it (or the maps are loading)
        mapped = json.loads(page.locator("[data-testid=sam-status]").get_attribute("data-map-preview") or "")
        samples.append((spot, mapped))
        if mapped["near"] and near_miss is None:
            near_miss = mapped
        window = windows[mapped["windowIndex"]]
        gx, gy = sam_hover.grid_points(window.width, window.height, 4)[mapped["gridIndex"]]
        point = (window.x + gx, window.y + gy)
        if (
            found is None
            and not mapped["near"]
            and window_for(windows, (*point, *point)).index == window.index
        ):
            found = (mapped, window, point)
            shot(page, "sam-04-hover-map-preview")
            assert mark["timing"] is None and mark["arrivedAt"] - mark["sentAt"] < 1_000
            # Then the decode of the spot itself replaces it (the pointer rests), painted after it.
            decoded = page.wait_for_function(DRAWN_SINCE_JS, arg=[since, "preview"]).json_value()
            assert decoded["timing"] is not None and decoded["paintedAt"] > mark["paintedAt"]
            expect(page.locator("[data-testid=sam-status]")).to_have_attribute(
                "data-preview",
                re.compile(r'^\{"request":\{"points":\[\{"x":' + re.escape(json.dumps(mapped["hover"]["x"]))),
            )
        if found and near_miss:
            break
    assert found is not None, "no hover was answered from the hover map"
    assert near_miss is not None, "no hover was a near miss of the hover map's masks"
    mapped, window, (px, py) = found

    def hover_map(window_index: int) -> sam_hover.HoverMap:
        return sam_hover.decode(sam_api.get(f"/api/observations/{first}/sam/hover/{window_index}").content)

    # A near miss: no grid mask holds the pointer's pixel; the one shown holds the nearest pixel that any
    # does, and that pixel is within 4 screen pixels (image pixels per screen pixel from two samples).
    (a, first_seen), (b, last_seen) = samples[0], samples[-1]
    seen_a, seen_b = first_seen["hover"], last_seen["hover"]
    resolution = math.dist((seen_a["x"], seen_a["y"]), (seen_b["x"], seen_b["y"])) / math.dist(a, b)
    near_window = windows[near_miss["windowIndex"]]
    near_map = hover_map(near_window.index)
    masks = np.stack([near_map.mask(i) for i in range(len(near_map.entries))])
    hx, hy = int(near_miss["hover"]["x"]) - near_window.x, int(near_miss["hover"]["y"]) - near_window.y
    assert not masks[:, hy, hx].any()

    def nearest(mask: np.ndarray) -> float:
        ys, xs = np.nonzero(mask)
        return float(np.hypot(xs - hx, ys - hy).min())

    held_by_any: np.ndarray = np.any(masks, axis=0)
    assert near_miss["near"] == pytest.approx(nearest(held_by_any))
    assert nearest(masks[near_miss["gridIndex"]]) == pytest.approx(near_miss["near"])
    assert near_miss["near"] <= 4 * resolution * 1.05, (near_miss["near"], resolution)

    # The map's mask is the one the server decodes for that grid point, and it holds the hovered pixel.
    preview = browser_shape(mapped)
    request = {"points": [{"x": px, "y": py, "positive": True}], "box": None, "simplifyPx": 0}
    server = server_polygons(sam_api, first, request | {"minAreaPx": 16, "largestOnly": True})
    assert iou(preview, server) >= 0.99
    stored = hover_map(window.index)
    hover = mapped["hover"]
    assert stored.mask(mapped["gridIndex"])[int(hover["y"]) - window.y, int(hover["x"]) - window.x]

    # With a point placed, hovering decodes (the map knows single points only).
    page.mouse.click(cx, cy)
    settled(page, 1)
    since = page.evaluate("performance.now()")
    page.mouse.move(cx + 30, cy + 30, steps=2)
    page.wait_for_function(DRAWN_SINCE_JS, arg=[since, "preview"])
    assert page.evaluate(DRAWN_SINCE_JS, [since, "map"]) is None

    # Enter with a mask over the vertex limit keeps nothing and says what to do (not a failed save later).
    page.keyboard.press("Enter")
    expect(page.locator(".toast").filter(has_text="more than the 3 a region may have")).to_contain_text(
        "raise Simplify"
    )
    html_attr(page, "regions", "0")
    html_attr(page, "sam-prompts", "1")  # the prompts stay: a higher Simplify keeps them


def _box_result() -> Any:
    return re.compile(r'^\{"request":\{"points":\[\],"box":\[')


def test_without_webassembly_sam_decodes_on_the_server_and_says_so(
    sam_page: Page,
    sam_api: httpx.Client,
    committing_client: TestClient,
    e2e_project: E2EProject,
    e2e_accounts: E2EAccounts,
) -> None:
    page = sam_page
    first = e2e_project.observation_ids[0]
    embedded(sam_api, committing_client, e2e_project)
    page.add_init_script("delete window.WebAssembly")
    start_labeling(page, e2e_accounts.annotator, e2e_project, first)
    arm(page, "server")
    expect(
        page.locator(".toast, [role=status]").filter(has_text="SAM decodes on the server")
    ).not_to_have_count(0)
    cx, cy = map_centre(page)
    page.mouse.click(cx, cy)
    clicked = settled(page, 1)
    assert clicked["timing"] is None and clicked["polygons"]


def test_embeddings_still_being_computed_show_progress_then_sam_works(
    sam_page: Page,
    sam_api: httpx.Client,
    committing_client: TestClient,
    e2e_project: E2EProject,
    e2e_accounts: E2EAccounts,
    worker: str,
    committing_app: Any,
    console_errors: ConsoleErrors,
) -> None:
    page = sam_page
    first = e2e_project.observation_ids[0]
    # The server's 409 to the tool's prompt is how it learns which job computes the missing embeddings.
    console_errors.allow("status of 409", f"/api/observations/{first}/sam]")
    embedded(sam_api, committing_client, e2e_project)
    celery = committing_app.state.celery
    # The worker stops taking SAM's jobs, and the image's embeddings go: arming the tool queues a new job
    # (through the server's answer to a prompt) and shows its progress until it is done.
    celery.control.cancel_consumer("gpu", destination=[worker], reply=True)
    try:
        prefix = observation_prefix(uuid.UUID(e2e_project.project_id), uuid.UUID(first))
        committing_app.state.storage.delete_prefix(f"{prefix}/sam")
        start_labeling(page, e2e_accounts.annotator, e2e_project, first)
        page.keyboard.press("s")
        html_attr(page, "sam", "waiting", timeout=60_000)
        expect(page.locator("[data-testid=sam-status]")).to_contain_text("computing this image's embeddings")
        job = sam_api.get(f"/api/observations/{first}/sam/embeddings").json()["job"]
        assert job is not None and job["state"] == "queued"
    finally:
        celery.control.add_consumer("gpu", destination=[worker], reply=True)
    wait_for_job(committing_client, job["id"], 300)
    html_attr(page, "sam", "ready", timeout=90_000)
    cx, cy = map_centre(page)
    page.mouse.click(cx, cy)
    assert settled(page, 1)["polygons"] is not None
