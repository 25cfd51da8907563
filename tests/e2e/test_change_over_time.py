"""Change over time in the browser: a reviewer opens a site from the dashboard, sees its pit area per date in
the chart and the table, what changed between the two dates in numbers, downloads the CSV, and sees the
change on the map of the labeling view (gained and lost, toggled with G or the Layers checkbox), the two
dates side by side in two maps that stay synced after a pan, and the project overview of change."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from rasterio.io import MemoryFile
from sqlalchemy import Engine

from tests.e2e.actions import html_attr, sign_in
from tests.e2e.conftest import (
    SEED_SERIES,
    SEED_SITE,
    Account,
    E2EAccounts,
    Shot,
    create_e2e_project,
    synthetic_png,
)
from tests.e2e.test_ground_truth_ui import api_as, label_and_submit
from tests.world import square

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Both dates are 1000 x 1000 px; the pit grows from 200 px to 300 px a side: +50,000 px.
PIT_BEFORE = square(350, 350, 200)
PIT_AFTER = square(350, 350, 300)


def two_dates() -> list[tuple[str, bytes]]:
    """Site 0854's first two Sentinel-2 PNGs where the seed data is; else two synthetic PNGs that differ."""
    if SEED_SERIES.is_dir():
        return [
            (f"{SEED_SITE}_{i:03}.png", (SEED_SERIES / f"{SEED_SITE}_{i:03}.png").read_bytes())
            for i in (0, 1)
        ]
    first = synthetic_png()
    with MemoryFile(first) as source, source.open() as image:
        pixels = image.read()
        profile = image.profile
    pixels[:, 400:700, 400:700] = np.uint8(60)  # the pit, deeper and wider three months later
    with MemoryFile() as target:
        with target.open(**profile) as out:
            out.write(pixels)
        second = target.read()
    return [("synthetic_000.png", first), ("synthetic_001.png", second)]


@contextmanager
def labeled_site(
    committing_client: TestClient, committing_app: FastAPI, engine: Engine, accounts: E2EAccounts
) -> Iterator[tuple[str, str, str, tuple[str, ...]]]:
    """Both dates labeled by the annotator and approved: (project id, site id, site name, observation ids)."""
    project = create_e2e_project(committing_client, accounts, two_dates(), SEED_SERIES.is_dir())
    with api_as(committing_app, engine, accounts.annotator) as annotator:
        for regions in (
            [{"label": "Pit", "geometry": PIT_BEFORE}],
            [{"label": "Pit", "geometry": PIT_AFTER}],
        ):
            task, _ = label_and_submit(annotator, project, regions)
            approved = committing_client.post(f"/api/observations/{task}/task/approve")
            assert approved.status_code == 200, approved.text
    yield project.project_id, project.site_id, project.site_name, project.observation_ids


def test_a_reviewer_sees_a_sites_area_over_time_and_what_changed(
    page: Page,
    committing_client: TestClient,
    committing_app: FastAPI,
    engine: Engine,
    worker: str,
    e2e_accounts: E2EAccounts,
    shot: Shot,
) -> None:
    with labeled_site(committing_client, committing_app, engine, e2e_accounts) as (
        project_id,
        site_id,
        site,
        ids,
    ):
        reviewer: Account = e2e_accounts.reviewer
        sign_in(page, reviewer)
        page.goto(f"/#/projects/{project_id}")
        html_attr(page, "view", "dashboard")
        page.locator("[data-action=open-site]", has_text=site).click()
        html_attr(page, "view", "site")
        expect(page.locator("h1")).to_have_text(f"Site {site}")

        # The time axis: both dates, approved.
        axis = page.locator(".time-axis li")
        expect(axis).to_have_count(2)
        expect(axis.locator(".state")).to_have_text(["approved", "approved"])
        # The chart: one Pit series with a point per date, the unit on the axis (the PNGs have no
        # georeferencing: pixels, and the page says why).
        chart = page.locator("[data-testid=site-chart]")
        expect(chart.locator("g.series[data-series=Pit] circle")).to_have_count(2)
        expect(chart.locator("text.label", has_text="Area (pixels: not georeferenced)")).to_have_count(1)
        expect(page.locator("[data-testid=unit-reason]")).to_contain_text("no georeferencing")
        # The table under it.
        rows = page.locator("[data-testid=site-table] tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("40,000 px")
        expect(rows.nth(1)).to_contain_text("90,000 px")
        # What changed between the two dates.
        html_attr(page, "change-ready", f"{ids[0]}:{ids[1]}")
        pit = page.locator("[data-testid=change-table] tr[data-label=Pit] td")
        expect(pit).to_have_text(["Pit", "40,000 px", "90,000 px", "50,000 px", "0 px", "40,000 px"])
        shot(page, "site-change-over-time")

        # The CSV download holds what the API says.
        with page.expect_download() as download:
            page.locator("[data-action=timeline-csv]").click()
        path = download.value.path()
        rows_csv = list(csv.DictReader(io.StringIO(path.read_text())))
        api = committing_client.get(f"/api/projects/{project_id}/sites/{site_id}/timeline").json()
        assert [(r["observation_id"], r["label"], float(r["area"])) for r in rows_csv] == [
            (e["observation_id"], a["label"], a["area"]) for e in api["observations"] for a in e["labels"]
        ]

        # The change on the map: from the site page, the later date's labeling view with the layer on.
        page.locator("[data-action=change-on-map]").click()
        html_attr(page, "view", "labeling")
        html_attr(page, "map-ready", ids[1])
        html_attr(page, "change-layer", "on:1")  # one gained polygon (the pit's new ring), nothing lost
        shot(page, "labeling-change-layer")
        page.locator("#map").focus()
        page.keyboard.press("g")
        html_attr(page, "change-layer", "off")
        page.keyboard.press("g")
        html_attr(page, "change-layer", "on:1")
        # The Layers panel's checkbox follows G, and G the checkbox.
        checkbox = page.locator("input[name=show-change]")
        expect(checkbox).to_be_checked()
        checkbox.uncheck()
        html_attr(page, "change-layer", "off")
        checkbox.check()
        html_attr(page, "change-layer", "on:1")

        # Side by side on the site page: two maps, each its own date, synced after a pan of the left one.
        page.goto(f"/#/projects/{project_id}/sites/{site_id}")
        html_attr(page, "view", "site")
        page.locator("[data-action=side-by-side]").click()
        html_attr(page, "side-by-side", "ready")
        left = page.locator(".side-map[data-side=before]")
        expect(left).to_have_attribute("tabindex", "0")  # keyboard-reachable: focus it, pan with arrows
        left.scroll_into_view_if_needed()
        box = left.bounding_box()
        assert box is not None
        start = centres(page)
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x - 120, y - 60, steps=8)
        page.mouse.up()
        page.wait_for_function(
            """(start) => {
                const now = document.documentElement.dataset.sideBySideCentres;
                return now !== undefined && now !== start;
            }""",
            arg=start,
        )
        after_pan = centres_list(page)
        assert after_pan[0]["centre"] == pytest.approx(after_pan[1]["centre"], abs=1e-6)
        assert after_pan[0]["resolution"] == after_pan[1]["resolution"]
        panned = centres(page)
        left.focus()
        # Back towards the middle: the drag took the view right, where the image's edge may stop it.
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(
            "(before) => document.documentElement.dataset.sideBySideCentres !== before", arg=panned
        )
        moved = centres_list(page)
        assert moved[0]["centre"] == pytest.approx(moved[1]["centre"], abs=1e-6)
        assert moved[0]["centre"] != pytest.approx(after_pan[0]["centre"], abs=1e-6)
        shot(page, "site-side-by-side")

        # The project overview of change: the site ranked with its last interval's change, and the CSV.
        page.goto(f"/#/projects/{project_id}")
        html_attr(page, "view", "dashboard")
        page.locator("[data-action=change-overview]").click()
        html_attr(page, "view", "change-overview")
        row = page.locator(f"[data-testid=overview-table] tr[data-site-id='{site_id}']")
        expect(row.locator("[data-testid=site-change]")).to_have_text("+50,000 px")
        expect(row).to_contain_text("+125 %")
        expect(row.locator("svg.sparkline polyline")).to_have_count(1)
        shot(page, "change-overview")
        with page.expect_download() as overview_download:
            page.locator("[data-action=overview-csv]").click()
        (exported,) = list(csv.DictReader(io.StringIO(overview_download.value.path().read_text())))
        assert (exported["site_id"], float(exported["change"])) == (site_id, 50_000.0)


def centres(page: Page) -> str:
    value = page.evaluate("document.documentElement.dataset.sideBySideCentres || ''")
    return str(value)


def centres_list(page: Page) -> list[dict[str, Any]]:
    value: list[dict[str, Any]] = json.loads(centres(page))
    return value
