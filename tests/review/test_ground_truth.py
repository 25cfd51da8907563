"""One ground truth per approved task, through the API on real PostGIS: chosen when approving (required when
a task has several annotations, or the reviewer's own corrected copy), recorded on the task, read-only
until reopened, and the one annotation that exports, masks, statistics, agreement and copy-forward use."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import rasterio
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Annotation, AuditEvent, Observation, Region, TaskState, User
from tests.review.test_workflow import ClientFor, Team
from tests.review.test_workflow import team as team
from tests.world import square

PIT_A = square(10, 10, 100)  # annotator A's Pit: 100 x 100
PIT_B = square(60, 10, 100)  # annotator B's Pit, shifted by half: IoU with A's is 1/3


@pytest.fixture
def overlap(db_session: Session, app: FastAPI, tmp_path: Path, client_for: ClientFor) -> Team:
    return Team(db_session, app, tmp_path, client_for, annotators_per_task=2)


def label_and_submit(team: Team, user: User, geometry: dict[str, Any]) -> str:
    handout = team.next(user)
    annotation_id = str(handout["annotation_id"])
    client = team.as_(user)
    saved = client.put(
        f"/api/annotations/{annotation_id}",
        json={"version": 1, "regions": [{"label": "Pit", "geometry": geometry}]},
    )
    assert saved.status_code == 200, saved.text
    task_id = handout["task"]["observation_id"]  # type: ignore[index]
    assert client.post(f"/api/observations/{task_id}/task/submit").status_code == 200
    return annotation_id


def submitted_overlap_task(team: Team) -> tuple[Observation, str, str]:
    task = team.task()
    a = label_and_submit(team, team.annotators[0], PIT_A)
    b = label_and_submit(team, team.annotators[1], PIT_B)
    assert team.state(task) == "submitted"
    return task, a, b


def test_one_annotation_is_the_ground_truth_and_assignments_say_approved(team: Team) -> None:
    task = team.task()
    annotation = label_and_submit(team, team.annotators[0], PIT_A)
    approved = team.as_(team.reviewer).post(f"/api/observations/{task.id}/task/approve")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["state"] == "approved"
    assert body["ground_truth_annotation_id"] == annotation
    assert [a["state"] for a in body["assignments"]] == ["approved"]
    event = team.session.scalars(
        select(AuditEvent).where(AuditEvent.observation_id == task.id, AuditEvent.action == "approve")
    ).one()
    assert event.detail == {"ground_truth_annotation_id": annotation}


def test_several_annotations_need_a_choice_and_the_choice_is_checked(overlap: Team) -> None:
    task, a, b = submitted_overlap_task(overlap)
    reviewer = overlap.as_(overlap.reviewer)
    url = f"/api/observations/{task.id}/task/approve"
    unchosen = reviewer.post(url)
    assert unchosen.status_code == 422
    error = unchosen.json()
    assert error["code"] == "ground_truth_required"
    assert "This task has 2 annotations" in error["detail"] and "annotation_id" in error["detail"]
    assert {c["annotation_id"] for c in error["candidates"]} == {a, b}
    assert {c["regions"] for c in error["candidates"]} == {1}
    stranger = str(uuid.uuid4())
    wrong = reviewer.post(url, json={"annotation_id": stranger})
    assert wrong.status_code == 422 and wrong.json()["code"] == "annotation_not_of_task"
    assert stranger in wrong.json()["detail"]
    assert overlap.state(task) == "submitted"  # nothing changed
    assert overlap.session.get(Observation, task.id).ground_truth_annotation_id is None  # type: ignore[union-attr]

    chosen = reviewer.post(url, json={"annotation_id": b})
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["ground_truth_annotation_id"] == b


def test_a_reviewer_approves_a_corrected_copy_of_their_own(overlap: Team) -> None:
    task, a, _ = submitted_overlap_task(overlap)
    reviewer = overlap.as_(overlap.reviewer)
    own = reviewer.post(f"/api/observations/{task.id}/annotations", json={"copy_from": a})
    assert own.status_code == 201, own.text
    copy = own.json()
    assert copy["created_by"] == str(overlap.reviewer.id)
    (original,) = overlap.as_(overlap.admin).get(f"/api/annotations/{a}").json()["regions"]
    (copied,) = copy["regions"]
    assert copied["geometry"] == original["geometry"] and copied["id"] != original["id"]
    fixed = reviewer.put(
        f"/api/annotations/{copy['id']}",
        json={"version": 1, "regions": [{"label": "Pit", "geometry": square(30, 10, 100)}]},
    )
    assert fixed.status_code == 200, fixed.text
    approved = reviewer.post(f"/api/observations/{task.id}/task/approve", json={"annotation_id": copy["id"]})
    assert approved.json()["ground_truth_annotation_id"] == copy["id"]


def test_copy_from_must_be_an_annotation_of_the_task(overlap: Team) -> None:
    task, a, _ = submitted_overlap_task(overlap)
    reviewer = overlap.as_(overlap.reviewer)
    count = len(overlap.session.scalars(select(Annotation).where(Annotation.observation_id == task.id)).all())
    both = reviewer.post(
        f"/api/observations/{task.id}/annotations",
        json={"copy_from": a, "regions": [{"label": "Pit", "geometry": PIT_A}]},
    )
    assert both.status_code == 422 and both.json()["detail"] == "Give either regions or copy_from, not both."
    other_task = overlap.task(index=1)
    elsewhere = reviewer.post(f"/api/observations/{other_task.id}/annotations", json={"copy_from": a})
    assert elsewhere.status_code in (403, 422)  # the other task is not in review: the role refuses first
    missing = reviewer.post(f"/api/observations/{task.id}/annotations", json={"copy_from": str(uuid.uuid4())})
    assert missing.status_code == 422 and missing.json()["code"] == "copy_source_invalid"
    overlap.session.expire_all()
    after = len(overlap.session.scalars(select(Annotation).where(Annotation.observation_id == task.id)).all())
    assert after == count


def approved_task(team: Team) -> tuple[Observation, str]:
    task = team.task()
    annotation = label_and_submit(team, team.annotators[0], PIT_A)
    assert team.as_(team.reviewer).post(f"/api/observations/{task.id}/task/approve").status_code == 200
    return task, annotation


def test_an_approved_task_refuses_every_label_change_whoever_asks(team: Team, client: TestClient) -> None:
    task, annotation = approved_task(team)
    region = team.as_(team.admin).get(f"/api/annotations/{annotation}").json()["regions"][0]["id"]
    pit = {"label": "Pit", "geometry": square(300, 300, 20)}
    changes = [
        ("POST", f"/api/observations/{task.id}/annotations", {"regions": [pit]}, {}),
        ("PUT", f"/api/annotations/{annotation}", {"version": 2, "regions": []}, {}),
        ("POST", f"/api/annotations/{annotation}/regions", {**pit, "version": 2}, {}),
        ("PUT", f"/api/regions/{region}", pit, {"If-Match": "1"}),
        ("DELETE", f"/api/regions/{region}", None, {"If-Match": "1"}),
        ("DELETE", f"/api/annotations/{annotation}", None, {"If-Match": "2"}),
        ("POST", f"/api/annotations/{annotation}/restore", {"version": 1, "based_on_version": 2}, {}),
    ]
    for caller in (client, team.as_(team.admin)):  # a site admin and the project's admin alike
        for method, url, body, headers in changes:
            response = caller.request(method, url, json=body, headers=headers)
            assert response.status_code == 409, (method, url, response.text)
            error = response.json()
            assert error["code"] == "task_approved" and error["state"] == "approved"
            assert f"/api/observations/{task.id}/task/reopen" in error["detail"]
    team.session.expire_all()
    stored = team.session.scalars(select(Region).where(Region.observation_id == task.id)).all()
    assert [(r.id, r.version, r.deleted_at) for r in stored] == [(uuid.UUID(region), 1, None)]
    assert (
        len(team.session.scalars(select(Annotation).where(Annotation.observation_id == task.id)).all()) == 1
    )


def test_reopening_sends_it_back_to_review_where_it_can_change(team: Team) -> None:
    task, annotation = approved_task(team)
    reopened = team.as_(team.admin).post(f"/api/observations/{task.id}/task/reopen")
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["state"] == "submitted"
    assert reopened.json()["ground_truth_annotation_id"] is None
    assert [a["state"] for a in reopened.json()["assignments"]] == ["submitted"]
    fixed = team.as_(team.reviewer).put(
        f"/api/annotations/{annotation}",
        json={"version": 2, "regions": [{"label": "Pit", "geometry": PIT_B}]},
    )
    assert fixed.status_code == 200, fixed.text
    actions = team.session.scalars(
        select(AuditEvent.action).where(AuditEvent.observation_id == task.id).order_by(AuditEvent.created_at)
    ).all()
    assert actions[-2:] == ["approve", "reopen"]


def export(client: TestClient, team: Team, fmt: str, **params: str) -> bytes:
    response = client.get(f"/api/projects/{team.project.id}/export", params={"format": fmt, **params})
    assert response.status_code == 200, response.text
    return response.content


def test_exports_statistics_agreement_masks_and_copy_forward_use_the_ground_truth(
    overlap: Team, db_session: Session
) -> None:
    task, a, b = submitted_overlap_task(overlap)
    reviewer = overlap.as_(overlap.reviewer)
    assert (
        reviewer.post(f"/api/observations/{task.id}/task/approve", json={"annotation_id": a}).status_code
        == 200
    )
    # B's annotation is the more recently saved one: the old "latest wins" rule would have taken it.
    b_row = db_session.get(Annotation, uuid.UUID(b))
    a_row = db_session.get(Annotation, uuid.UUID(a))
    assert b_row is not None and a_row is not None and b_row.updated_at >= a_row.updated_at
    admin = overlap.as_(overlap.admin)

    tasks = orjson.loads(export(admin, overlap, "label-studio"))
    (exported,) = tasks
    assert [(x["ground_truth"], len(x["result"])) for x in exported["annotations"]] == [(True, 1)]
    everyone = orjson.loads(export(admin, overlap, "label-studio", annotations="all"))[0]["annotations"]
    assert sorted(x["ground_truth"] for x in everyone) == [False, True]

    coco = orjson.loads(export(admin, overlap, "coco"))["annotations"]
    assert [x["minelabel_annotation_id"] for x in coco] == [a]

    archive = zipfile.ZipFile(io.BytesIO(export(admin, overlap, "masks")))
    (mask_name,) = [n for n in archive.namelist() if n.startswith("masks/")]
    with rasterio.MemoryFile(archive.read(mask_name)) as memory, memory.open() as png:
        mask = png.read(1)
    expected = np.zeros_like(mask)
    expected[10:110, 10:110] = 1  # A's Pit, not B's
    np.testing.assert_array_equal(mask, expected)

    stats = admin.get(f"/api/projects/{overlap.project.id}/label-stats").json()
    assert [(s["label"], s["regions"], s["area_px"]) for s in stats] == [("Pit", 1, 10_000)]  # not 2 x 10,000
    progress = admin.get(f"/api/projects/{overlap.project.id}/progress").json()
    assert [(c["label"], c["regions"], c["area_px"]) for c in progress["per_class"]] == [("Pit", 1, 10_000)]

    agreement = reviewer.get(f"/api/observations/{task.id}/agreement").json()
    (pair,) = agreement["pairs"]
    assert pair["with_ground_truth"] is True and pair["iou"] == pytest.approx(1 / 3)
    (pit,) = agreement["per_class"]
    assert (pit["ground_truth_pairs"], pit["ground_truth_mean_iou"]) == (1, pytest.approx(1 / 3))

    forward = overlap.as_(overlap.annotators[1]).get(f"/api/observations/{task.id}/approved-regions").json()
    assert [f["properties"]["annotation_id"] for f in forward["features"]] == [a]
    assert overlap.state(task) == TaskState.APPROVED.value
