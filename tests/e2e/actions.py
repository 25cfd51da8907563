"""What a person does in the client, as steps for the browser tests: sign in, open a task, draw, select,
drag a vertex; and the client's test hooks on <html> to wait on (never sleeps)."""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    TIMEOUT_MS,
    Account,
    E2EProject,
    wait_for_view,
)
from tests.jobs import wait_for_job


def html_attr(page: Page, name: str, value: str, timeout: float = TIMEOUT_MS) -> None:
    expect(page.locator("html")).to_have_attribute(f"data-{name}", value, timeout=timeout)


def sign_in(page: Page, account: Account) -> None:
    page.goto("/")
    wait_for_view(page, "sign-in")
    page.fill("input[name=email]", account.email)
    page.fill("input[name=password]", account.password)
    page.click("button[type=submit]")
    wait_for_view(page, "projects")


def map_centre(page: Page) -> tuple[float, float]:
    box = page.locator("#map").bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def open_labeling(page: Page, project: E2EProject, observation_id: str) -> None:
    page.goto(f"/#/projects/{project.project_id}/label/{observation_id}")
    wait_for_view(page, "labeling")
    html_attr(page, "map-ready", observation_id)


def open_review_queue(page: Page, project: E2EProject, expected: str) -> None:
    """The reviewer's way in: the dashboard's "Review queue" opens the first submitted task."""
    page.goto(f"/#/projects/{project.project_id}")
    wait_for_view(page, "dashboard")
    page.get_by_role("button", name="Review queue").first.click()
    wait_for_view(page, "labeling")
    html_attr(page, "map-ready", expected)


def draw_polygon(page: Page, offsets: list[tuple[int, int]], *, then_select: bool = True) -> None:
    """Click each vertex (waiting for the client to count it), then Enter to finish, and (``then_select``)
    V for Select again; not where the save opens a dialog at once (it takes the keys)."""
    cx, cy = map_centre(page)
    page.keyboard.press("d")
    html_attr(page, "mode", "draw")
    for placed, (dx, dy) in enumerate(offsets, start=1):
        page.mouse.move(cx + dx, cy + dy, steps=3)
        page.mouse.click(cx + dx, cy + dy)
        html_attr(page, "draw-vertices", str(placed))
    page.keyboard.press("Enter")
    if then_select:
        page.keyboard.press("v")
        html_attr(page, "mode", "select")


def select_at(page: Page, dx: int, dy: int) -> None:
    cx, cy = map_centre(page)
    page.mouse.click(cx + dx, cy + dy)
    expect(page.locator("html")).to_have_attribute("data-selected", re.compile(r".+"))


def drag(page: Page, start: tuple[int, int], end: tuple[int, int]) -> None:
    cx, cy = map_centre(page)
    page.mouse.move(cx + start[0], cy + start[1])
    page.mouse.down()
    page.mouse.move(cx + (start[0] + end[0]) / 2, cy + (start[1] + end[1]) / 2, steps=4)
    page.mouse.move(cx + end[0], cy + end[1], steps=4)
    page.mouse.up()


def annotation_of(client: TestClient, observation_id: str) -> dict[str, Any]:
    response = client.get(f"/api/observations/{observation_id}/annotations")
    assert response.status_code == 200, response.text
    (annotation,) = response.json()
    return dict(annotation)


def areas(annotation: dict[str, Any]) -> dict[str, float]:
    return {r["properties"]["label"]: r["properties"]["area_px"] for r in annotation["regions"]}


def task_state(client: TestClient, observation_id: str) -> str:
    return str(client.get(f"/api/observations/{observation_id}/task").json()["state"])


def start_labeling(page: Page, account: Account, project: E2EProject, expected: str) -> None:
    """Sign in, open the project's dashboard and take the next task ("Start labeling")."""
    sign_in(page, account)
    page.goto(f"/#/projects/{project.project_id}")
    wait_for_view(page, "dashboard")
    page.get_by_role("button", name="Start labeling").first.click()
    wait_for_view(page, "labeling")
    html_attr(page, "map-ready", expected)


def vertices(annotation: dict[str, Any], label: str) -> list[list[list[float]]]:
    """The rings of the (first) region of ``label``, as the API stores it (a MultiPolygon's first part)."""
    region = next(r for r in annotation["regions"] if r["properties"]["label"] == label)
    geometry = region["geometry"]
    rings: list[list[list[float]]] = (
        geometry["coordinates"][0] if geometry["type"] == "MultiPolygon" else geometry["coordinates"]
    )
    return rings


def put_regions(client: TestClient, annotation: dict[str, Any], regions: list[dict[str, Any]]) -> int:
    """Saves the annotation as someone else would (the admin's API client); returns the new version."""
    response = client.put(
        f"/api/annotations/{annotation['id']}", json={"version": annotation["version"], "regions": regions}
    )
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


def embedded(sam_api: httpx.Client, client: TestClient, project: E2EProject) -> None:
    """The project's observations embedded (the ingest queued it; this waits for it, or does it)."""
    job = sam_api.post(f"/api/projects/{project.project_id}/sam/embed", json={})
    assert job.status_code == 202, job.text
    wait_for_job(client, job.json()["id"], 300)
