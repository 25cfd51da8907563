"""Region lineage through the API: regions copied forward name their ancestor (the previous date's ground
truth region), a region accepted from a carried-forward prediction gets the prediction's, and the lineage of
any region of the chain gives one pit's area per date; bad ancestors are refused, nothing stored; who may
ask what."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import LimitSettings
from app.models import Observation, Project, ProjectRole, Region, Site, TaskState
from app.services.annotations import RegionInput
from app.services.predictions import create_prediction
from tests.change.test_change_api import GRID_1, ClientFor, box, label, make_date, make_site
from tests.world import add_member, make_user


@pytest.fixture
def project(db_session: Session) -> Project:
    row = Project(name=f"lineage-{uuid.uuid4().hex[:6]}")
    db_session.add(row)
    db_session.commit()
    return row


def approved_regions(client: TestClient, observation: Observation) -> dict[str, dict[str, Any]]:
    """The date's ground truth regions by class and place (their left edge), as copy-forward reads them."""
    answer = client.get(f"/api/observations/{observation.id}/approved-regions")
    assert answer.status_code == 200, answer.text
    return {f["properties"]["label"]: f for f in answer.json()["features"]}


def copy_forward(
    client: TestClient, session: Session, observation: Observation, regions: list[tuple[str, str, Any]]
) -> dict[str, Any]:
    """Save and approve ``(class, ancestor id, geometry)`` on ``observation``, as the labeling view's "copy
    the previous observation" does before the annotator corrects the shapes."""
    saved = client.post(
        f"/api/observations/{observation.id}/annotations",
        json={
            "regions": [
                {"label": name, "geometry": geometry, "ancestor_id": ancestor}
                for name, ancestor, geometry in regions
            ]
        },
    )
    assert saved.status_code == 201, saved.text
    body: dict[str, Any] = saved.json()
    observation.task_state = TaskState.APPROVED
    observation.ground_truth_annotation_id = uuid.UUID(body["id"])
    session.commit()
    return body


def lineage_url(project: Project, site: Site, region_id: str | uuid.UUID) -> str:
    return f"/api/projects/{project.id}/sites/{site.id}/regions/{region_id}/lineage"


@pytest.fixture
def series(
    client: TestClient, db_session: Session, project: Project
) -> tuple[Site, list[Observation], dict[str, list[str]]]:
    """Three dates on one 10 m grid. The Pit is 1 ha, then 1.5 ha (copied forward and grown), then 2 ha
    (copied forward again); the Infrastructure is 0.25 ha, copied forward, then carried forward by a model
    as a prediction that the annotator accepts on date 3 (0.5 ha). Returns each lineage's region ids per
    date."""
    site = make_site(db_session, project)
    dates = [make_date(db_session, site, i, date(2021, 1 + 3 * i, 15), GRID_1) for i in range(3)]
    first = label(
        client,
        db_session,
        dates[0],
        [("Pit", box(100, 100, 110, 110)), ("Infrastructure", box(300, 300, 305, 305))],
    )
    pit_1 = next(r["id"] for r in first["regions"] if r["properties"]["label"] == "Pit")
    infra_1 = next(r["id"] for r in first["regions"] if r["properties"]["label"] == "Infrastructure")
    earlier = approved_regions(client, dates[0])
    assert earlier["Pit"]["id"] == pit_1  # copy-forward reads the ground truth's own region ids

    second = copy_forward(
        client,
        db_session,
        dates[1],
        [("Pit", pit_1, box(100, 100, 115, 110)), ("Infrastructure", infra_1, box(300, 300, 305, 305))],
    )
    pit_2 = next(r["id"] for r in second["regions"] if r["properties"]["label"] == "Pit")
    infra_2 = next(r["id"] for r in second["regions"] if r["properties"]["label"] == "Infrastructure")
    assert {r["properties"]["ancestor_id"] for r in second["regions"]} == {pit_1, infra_1}

    # A model carries date 2's Infrastructure forward; accepting it (without naming an ancestor) links it.
    create_prediction(
        db_session,
        dates[2],
        "carry",
        0.9,
        [
            RegionInput(
                label="Infrastructure", geometry=box(300, 300, 310, 305), carried_from=uuid.UUID(infra_2)
            )
        ],
        LimitSettings(),
    )
    db_session.commit()
    carried = db_session.scalars(
        select(Region).where(Region.observation_id == dates[2].id, Region.prediction_id.is_not(None))
    ).one()
    third = client.post(
        f"/api/observations/{dates[2].id}/annotations",
        json={
            "regions": [
                {"label": "Pit", "geometry": box(100, 100, 120, 110), "ancestor_id": pit_2},
                {
                    "label": "Infrastructure",
                    "geometry": box(300, 300, 310, 305),
                    "source": "sam",
                    "accepted_from": str(carried.id),
                },
            ]
        },
    )
    assert third.status_code == 201, third.text
    dates[2].task_state = TaskState.APPROVED
    dates[2].ground_truth_annotation_id = uuid.UUID(third.json()["id"])
    db_session.commit()
    by_label = {r["properties"]["label"]: r for r in third.json()["regions"]}
    assert by_label["Infrastructure"]["properties"]["ancestor_id"] == infra_2  # from the carried prediction
    return (
        site,
        dates,
        {
            "Pit": [pit_1, pit_2, by_label["Pit"]["id"]],
            "Infrastructure": [infra_1, infra_2, by_label["Infrastructure"]["id"]],
        },
    )


def test_one_pit_followed_through_copy_forward_from_any_of_its_dates(
    client: TestClient, project: Project, series: tuple[Site, list[Observation], dict[str, list[str]]]
) -> None:
    site, dates, chains = series
    for region_id in chains["Pit"]:  # the same lineage whichever date's region is chosen
        answer = client.get(lineage_url(project, site, region_id))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["unit"], body["reason"], body["region_id"]) == ("ha", None, region_id)
        steps = body["steps"]
        assert [s["observation_id"] for s in steps] == [str(d.id) for d in dates]
        assert [s["region_ids"] for s in steps] == [[r] for r in chains["Pit"]]
        assert [s["labels"] for s in steps] == [["Pit"]] * 3
        assert [s["area"] for s in steps] == pytest.approx([1.0, 1.5, 2.0], rel=1e-3)
    dump = client.get(lineage_url(project, site, chains["Infrastructure"][0])).json()
    assert [s["region_ids"] for s in dump["steps"]] == [[r] for r in chains["Infrastructure"]]
    assert [s["area"] for s in dump["steps"]] == pytest.approx([0.25, 0.25, 0.5], rel=1e-3)


def test_the_ancestor_stays_when_later_saves_leave_it_out_and_in_a_reviewers_copy(
    client: TestClient,
    db_session: Session,
    project: Project,
    series: tuple[Site, list[Observation], dict[str, list[str]]],
) -> None:
    site, dates, chains = series
    middle = db_session.get(Region, uuid.UUID(chains["Pit"][1]))
    assert middle is not None and middle.annotation_id is not None
    annotation = client.get(f"/api/annotations/{middle.annotation_id}").json()
    dates[1].task_state = TaskState.IN_PROGRESS  # reopened to correct it (approved labels are read-only)
    db_session.commit()
    # A client that knows nothing of lineage saves the shapes again, the Pit grown a little more.
    resaved = client.put(
        f"/api/annotations/{middle.annotation_id}",
        json={
            "version": annotation["version"],
            "regions": [
                {
                    "id": r["id"],
                    "label": r["properties"]["label"],
                    "geometry": box(100, 100, 116, 110) if r["id"] == chains["Pit"][1] else r["geometry"],
                }
                for r in annotation["regions"]
            ],
        },
    )
    assert resaved.status_code == 200, resaved.text
    # A reviewer's own copy of it (to approve as the ground truth) keeps the ancestors too.
    copy = client.post(
        f"/api/observations/{dates[1].id}/annotations", json={"copy_from": str(middle.annotation_id)}
    )
    assert copy.status_code == 201, copy.text
    assert {r["properties"]["ancestor_id"] for r in copy.json()["regions"]} == {
        chains["Pit"][0],
        chains["Infrastructure"][0],
    }
    dates[1].task_state = TaskState.APPROVED
    db_session.commit()
    assert {r["properties"]["ancestor_id"] for r in resaved.json()["regions"]} == {
        chains["Pit"][0],
        chains["Infrastructure"][0],
    }
    steps = client.get(lineage_url(project, site, chains["Pit"][0])).json()["steps"]
    assert steps[1]["area"] == pytest.approx(1.6, rel=1e-3)


def test_an_ancestor_must_be_a_region_of_an_earlier_date_of_the_site(
    client: TestClient,
    db_session: Session,
    project: Project,
    series: tuple[Site, list[Observation], dict[str, list[str]]],
) -> None:
    site, _, chains = series
    between = make_date(db_session, site, 5, date(2021, 2, 15), GRID_1)  # between the first two dates
    other = make_site(db_session, project, "0855")
    elsewhere = make_date(db_session, other, 3, date(2021, 12, 1), GRID_1)
    for ancestor in (chains["Pit"][2], str(uuid.uuid4())):  # a later date's region; no region at all
        refused = client.post(
            f"/api/observations/{between.id}/annotations",
            json={"regions": [{"label": "Pit", "geometry": box(0, 0, 10, 10), "ancestor_id": ancestor}]},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid_ancestor" and ancestor in refused.json()["detail"]
    foreign = client.post(
        f"/api/observations/{elsewhere.id}/annotations",
        json={"regions": [{"label": "Pit", "geometry": box(0, 0, 10, 10), "ancestor_id": chains["Pit"][0]}]},
    )
    assert foreign.status_code == 422 and foreign.json()["code"] == "invalid_ancestor"
    for observation in (between, elsewhere):  # nothing stored half-way
        assert db_session.scalar(select(Region.id).where(Region.observation_id == observation.id)) is None
    accepted = client.post(
        f"/api/observations/{between.id}/annotations",
        json={"regions": [{"label": "Pit", "geometry": box(0, 0, 10, 10), "ancestor_id": chains["Pit"][0]}]},
    )
    assert accepted.status_code == 201, accepted.text


def test_regions_that_do_not_count_and_who_may_ask(
    client: TestClient,
    client_for: ClientFor,
    db_session: Session,
    project: Project,
    series: tuple[Site, list[Observation], dict[str, list[str]]],
) -> None:
    site, _, chains = series
    draft_date = make_date(db_session, site, 3, date(2021, 12, 15), GRID_1)
    draft = copy_forward_draft(client, draft_date, chains["Pit"][2])
    not_counted = client.get(lineage_url(project, site, draft))
    assert not_counted.status_code == 422 and not_counted.json()["code"] == "region_not_counted"
    assert "include=all" in not_counted.json()["detail"]
    everything = client.get(lineage_url(project, site, draft), params={"include": "all"}).json()
    assert [s["region_ids"][0] for s in everything["steps"]] == [*chains["Pit"], draft]
    # With approved labels only, the draft's date is left out of the pit's lineage.
    assert len(client.get(lineage_url(project, site, chains["Pit"][0])).json()["steps"]) == 3
    unknown = client.get(lineage_url(project, site, uuid.uuid4()))
    assert unknown.status_code == 404 and unknown.json()["code"] == "region_not_found"
    other = make_site(db_session, project, "0856")
    assert client.get(lineage_url(project, other, chains["Pit"][0])).status_code == 404

    annotator = make_user(db_session, "ann")
    add_member(db_session, project, annotator, ProjectRole.ANNOTATOR)
    as_annotator = client_for(annotator)
    assert as_annotator.get(lineage_url(project, site, chains["Pit"][1])).status_code == 200
    denied = as_annotator.get(lineage_url(project, site, draft), params={"include": "all"})
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    outsider = client_for(make_user(db_session, "out"))
    assert outsider.get(lineage_url(project, site, chains["Pit"][1])).status_code == 404


def copy_forward_draft(client: TestClient, observation: Observation, ancestor: str) -> str:
    saved = client.post(
        f"/api/observations/{observation.id}/annotations",
        json={"regions": [{"label": "Pit", "geometry": box(100, 100, 125, 110), "ancestor_id": ancestor}]},
    )
    assert saved.status_code == 201, saved.text
    region_id: str = saved.json()["regions"][0]["id"]
    return region_id
