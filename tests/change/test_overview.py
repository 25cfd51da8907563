"""The project overview of change through the API: sites ranked by the change in their last interval (a pit
that grows, one that shrinks, one that appears, a site with one date), filtered by class and date range,
in pixels with the reason where an image has no georeferencing, its CSV equal to the API, and who may ask
for drafts."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, ProjectRole, Site
from tests.change.test_change_api import GRID_1, ClientFor, box, label, make_date, make_site
from tests.world import add_member, make_user

INFRASTRUCTURE = ("Infrastructure", box(600, 600, 640, 620))  # 8 ha on 10 m pixels


@pytest.fixture
def project(db_session: Session) -> Project:
    row = Project(name=f"overview-{uuid.uuid4().hex[:6]}")
    db_session.add(row)
    db_session.commit()
    return row


def pit(hectares: float) -> tuple[str, dict[str, object]]:
    """A Pit of ``hectares`` on 10 m pixels (100 pixels a hectare), 10 pixels high."""
    return ("Pit", box(0, 0, 10 * hectares, 10))


@pytest.fixture
def sites(client: TestClient, db_session: Session, project: Project) -> dict[str, Site]:
    """grows: Pit 1, 2, 3 ha (Jan, Apr, Jul); shrinks: 1 then 0.5 ha, Infrastructure steady; appears: no
    Pit, then 0.25 ha; single: one date; draft: 1 ha, then a draft of 4 ha (not approved)."""
    made: dict[str, Site] = {}
    days = [date(2021, 1, 15), date(2021, 4, 15), date(2021, 7, 15)]
    plans: dict[str, list[list[tuple[str, dict[str, object]]]]] = {
        "grows": [[pit(1)], [pit(2)], [pit(3)]],
        "shrinks": [[pit(1), INFRASTRUCTURE], [pit(0.5), INFRASTRUCTURE]],
        "appears": [[INFRASTRUCTURE], [pit(0.25), INFRASTRUCTURE]],
        "single": [[pit(5)]],
        "draft": [[pit(1)], [pit(4)]],
    }
    for name, plan in plans.items():
        site = make_site(db_session, project, name)
        for i, regions in enumerate(plan):
            observation = make_date(db_session, site, i, days[i], GRID_1)
            label(client, db_session, observation, regions, approve=not (name == "draft" and i == 1))
        made[name] = site
    return made


def overview_url(project: Project, suffix: str = "change-overview") -> str:
    return f"/api/projects/{project.id}/{suffix}"


def test_sites_ranked_by_the_change_in_their_last_interval(
    client: TestClient, project: Project, sites: dict[str, Site]
) -> None:
    answer = client.get(overview_url(project), params={"label": "Pit"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["unit"], body["reason"], body["label"], body["order"]) == ("ha", None, "Pit", "change")
    ranked = [s["site_name"] for s in body["sites"]]
    # draft has one approved date only: no interval, like single (ties by name).
    assert ranked == ["grows", "appears", "shrinks", "draft", "single"]
    by_name = {s["site_name"]: s for s in body["sites"]}
    grows = by_name["grows"]
    assert [p["area"] for p in grows["series"]] == pytest.approx([1.0, 2.0, 3.0], rel=1e-3)
    assert (grows["before"]["area"], grows["after"]["area"]) == pytest.approx((2.0, 3.0), rel=1e-3)
    assert grows["change"] == pytest.approx(1.0, rel=1e-3)
    assert grows["growth_pct"] == pytest.approx(50.0, rel=1e-3)
    assert by_name["shrinks"]["change"] == pytest.approx(-0.5, rel=1e-3)
    assert by_name["shrinks"]["growth_pct"] == pytest.approx(-50.0, rel=1e-3)
    appears = by_name["appears"]
    assert [p["area"] for p in appears["series"]] == pytest.approx([0.0, 0.25], rel=1e-3)
    assert appears["growth_pct"] is None and appears["change"] == pytest.approx(0.25, rel=1e-3)
    assert (by_name["single"]["dates"], by_name["single"]["change"], by_name["single"]["before"]) == (
        1,
        None,
        None,
    )

    by_growth = client.get(overview_url(project), params={"label": "Pit", "order": "growth"}).json()
    assert [s["site_name"] for s in by_growth["sites"]] == ["appears", "grows", "shrinks", "draft", "single"]

    everything = client.get(overview_url(project), params={"label": "Pit", "include": "all"}).json()
    draft = next(s for s in everything["sites"] if s["site_name"] == "draft")
    assert draft["change"] == pytest.approx(3.0, rel=1e-3)
    assert draft["growth_pct"] == pytest.approx(300.0, rel=1e-3)
    assert everything["sites"][0]["site_name"] == "draft"


def test_filtered_by_class_and_date_range(
    client: TestClient, project: Project, sites: dict[str, Site]
) -> None:
    infrastructure = client.get(overview_url(project), params={"label": "Infrastructure"}).json()
    by_name = {s["site_name"]: s for s in infrastructure["sites"]}
    assert by_name["shrinks"]["change"] == pytest.approx(0.0, abs=1e-9)
    assert [p["area"] for p in by_name["shrinks"]["series"]] == pytest.approx([8.0, 8.0], rel=1e-3)
    assert [p["area"] for p in by_name["grows"]["series"]] == [0.0, 0.0, 0.0]

    all_classes = client.get(overview_url(project)).json()
    shrinks = next(s for s in all_classes["sites"] if s["site_name"] == "shrinks")
    assert all_classes["label"] is None
    assert shrinks["change"] == pytest.approx(-0.5, rel=1e-3)
    assert shrinks["after"]["area"] == pytest.approx(8.5, rel=1e-3)

    until_may = client.get(overview_url(project), params={"label": "Pit", "to": "2021-05-01"}).json()
    grows = next(s for s in until_may["sites"] if s["site_name"] == "grows")
    assert (grows["dates"], grows["change"], grows["growth_pct"]) == (
        2,
        pytest.approx(1.0, rel=1e-3),
        pytest.approx(100.0, rel=1e-3),
    )
    from_march = client.get(overview_url(project), params={"label": "Pit", "from": "2021-03-01"}).json()
    grows = next(s for s in from_march["sites"] if s["site_name"] == "grows")
    assert [p["acquired_on"] for p in grows["series"]] == ["2021-04-15", "2021-07-15"]
    assert next(s for s in from_march["sites"] if s["site_name"] == "single")["dates"] == 0

    unknown = client.get(overview_url(project), params={"label": "Lake"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "label"
    assert "Pit" in unknown.json()["detail"]
    backwards = client.get(overview_url(project), params={"from": "2021-06-01", "to": "2021-01-01"})
    assert backwards.status_code == 422 and backwards.json()["field"] == "from"


def test_the_csv_is_the_api_in_rank_order(
    client: TestClient, project: Project, sites: dict[str, Site]
) -> None:
    params = {"label": "Pit", "order": "growth"}
    api = client.get(overview_url(project), params=params).json()
    download = client.get(overview_url(project, "change-overview.csv"), params=params)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [r["site_id"] for r in rows] == [s["site_id"] for s in api["sites"]]
    assert [int(r["rank"]) for r in rows] == list(range(1, len(api["sites"]) + 1))
    for row, site in zip(rows, api["sites"], strict=True):
        assert row["label"] == "Pit" and row["unit"] == "ha" and int(row["dates"]) == site["dates"]
        assert (float(row["change"]) if row["change"] else None) == site["change"]
        assert (float(row["growth_pct"]) if row["growth_pct"] else None) == site["growth_pct"]
        if site["after"]:
            assert float(row["after_area"]) == site["after"]["area"]
            assert row["before_date"] == site["before"]["acquired_on"]


def test_without_georeferencing_in_pixels_with_the_reason(
    client: TestClient, db_session: Session, project: Project
) -> None:
    site = make_site(db_session, project, "plain")
    first = make_date(db_session, site, 0, date(2021, 1, 1), None)
    second = make_date(db_session, site, 1, date(2021, 4, 1), None)
    label(client, db_session, first, [("Pit", box(0, 0, 100, 100))])
    label(client, db_session, second, [("Pit", box(0, 0, 150, 100))])
    body = client.get(overview_url(project)).json()
    assert body["unit"] == "px" and body["reason"]["code"] == "not_georeferenced"
    assert body["reason"]["observation_id"] == str(first.id)
    (only,) = body["sites"]
    assert (only["change"], only["growth_pct"]) == (5_000, 50.0)


def test_annotators_of_a_private_project_see_approved_labels_only(
    client_for: ClientFor, db_session: Session, project: Project, sites: dict[str, Site]
) -> None:
    annotator = make_user(db_session, "ann")
    add_member(db_session, project, annotator, ProjectRole.ANNOTATOR)
    as_annotator = client_for(annotator)
    approved = as_annotator.get(overview_url(project), params={"label": "Pit"})
    assert approved.status_code == 200 and len(approved.json()["sites"]) == len(sites)
    for suffix in ("change-overview", "change-overview.csv"):
        denied = as_annotator.get(overview_url(project, suffix), params={"include": "all"})
        assert denied.status_code == 403 and denied.json()["code"] == "forbidden", suffix
    outsider = client_for(make_user(db_session, "out"))
    assert outsider.get(overview_url(project)).status_code == 404
