"""Review comments, agreement between annotators and project progress, through the API on real PostGIS."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import GeorefSource, Observation, ProjectRole, User
from tests.world import World, add_member, build_world, make_project, make_task, make_user, square

ClientFor = Callable[[User | None], TestClient]


@pytest.fixture
def world(app: FastAPI, db_session: Session, tmp_path: Path) -> World:
    return build_world(db_session, app.state.storage, tmp_path)


def comments_url(task_id: uuid.UUID) -> str:
    return f"/api/observations/{task_id}/comments"


def post_comment(client: TestClient, task_id: uuid.UUID, **body: Any) -> Any:
    return client.post(comments_url(task_id), json=body)


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_comments_are_pinned_threaded_and_resolvable(world: World, client_for: ClientFor) -> None:
    reviewer, annotator = client_for(world.reviewer), client_for(world.annotator)
    task = world.task.id

    at_point = created(post_comment(reviewer, task, body="The pit edge is off here", point=[120.5, 40]))
    on_region = created(post_comment(reviewer, task, body="Not a pit", region_id=str(world.region.id)))
    reply = created(post_comment(annotator, task, body="Moved it", parent_id=at_point["id"]))

    assert at_point["point"] == [120.5, 40.0] and at_point["region_id"] is None
    assert at_point["author_id"] == str(world.reviewer.id)
    assert at_point["author_email"] == world.reviewer.email
    assert on_region["region_id"] == str(world.region.id) and on_region["point"] is None
    assert reply["parent_id"] == at_point["id"] and reply["author_email"] == world.annotator.email

    listed = annotator.get(comments_url(task))  # the assigned annotator reads the threads
    assert listed.status_code == 200, listed.text
    threads = listed.json()
    assert [t["comment"]["id"] for t in threads] == [str(world.comment.id), at_point["id"], on_region["id"]]
    by_id = {t["comment"]["id"]: t for t in threads}
    assert [(r["id"], r["body"], r["author_email"]) for r in by_id[at_point["id"]]["replies"]] == [
        (reply["id"], "Moved it", world.annotator.email)
    ]
    assert by_id[on_region["id"]]["replies"] == []
    assert by_id[str(world.comment.id)]["comment"]["author_email"] == world.reviewer.email

    resolved = reviewer.post(f"/api/comments/{at_point['id']}/resolve", json={})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolved_at"] is not None
    assert resolved.json()["resolved_by"] == str(world.reviewer.id)

    open_only = reviewer.get(comments_url(task), params={"include_resolved": "false"}).json()
    assert [t["comment"]["id"] for t in open_only] == [str(world.comment.id), on_region["id"]]
    everything = reviewer.get(comments_url(task)).json()
    assert at_point["id"] in {t["comment"]["id"] for t in everything}
    # A reply is not a thread: resolving it is refused.
    assert reviewer.post(f"/api/comments/{reply['id']}/resolve", json={}).status_code == 422
    reopened = reviewer.post(f"/api/comments/{at_point['id']}/resolve", json={"resolved": False})
    assert reopened.status_code == 200 and reopened.json()["resolved_at"] is None
    assert len(reviewer.get(comments_url(task), params={"include_resolved": "false"}).json()) == 3


def test_bad_comments_are_refused_with_422(
    world: World, app: FastAPI, client: TestClient, client_for: ClientFor, db_session: Session, tmp_path: Path
) -> None:
    reviewer = client_for(world.reviewer)
    task = world.task.id
    thread = created(post_comment(reviewer, task, body="Look here", point=[10, 10]))
    other_task = make_task(db_session, app.state.storage, world.project, tmp_path, index=1)
    elsewhere = client.post(
        f"/api/observations/{other_task.id}/annotations",
        json={"regions": [{"label": "Pit", "geometry": square(10, 10, 20)}]},
    )
    assert elsewhere.status_code == 201, elsewhere.text
    foreign_region = elsewhere.json()["regions"][0]["id"]

    bad = {
        "a reply with a pin": {"body": "here", "parent_id": thread["id"], "point": [5, 5]},
        "a point right of the image": {"body": "here", "point": [200.5, 10]},
        "a point above the image": {"body": "here", "point": [10, -1]},
        "an empty body": {"body": "   "},
        "a region of another task": {"body": "here", "region_id": foreign_region},
        "a region that does not exist": {"body": "here", "region_id": str(uuid.uuid4())},
        "both a point and a region": {"body": "here", "point": [5, 5], "region_id": str(world.region.id)},
    }
    for what, body in bad.items():
        response = reviewer.post(comments_url(task), json=body)
        assert response.status_code == 422, f"{what}: {response.text}"
        assert response.json()["code"] == "invalid_input", what
    # The corner of the image is on it; none of the refused comments was stored.
    created(post_comment(reviewer, task, body="corner", point=[200, 200]))
    bodies = [t["comment"]["body"] for t in reviewer.get(comments_url(task)).json()]
    assert bodies == ["check", "Look here", "corner"]


def test_annotators_not_assigned_to_the_task_cannot_read_or_comment(
    world: World, client_for: ClientFor
) -> None:
    stranger = client_for(world.other_annotator)

    listed = stranger.get(comments_url(world.task.id))
    posted = post_comment(stranger, world.task.id, body="hi")

    for response in (listed, posted):
        assert response.status_code == 403, response.text
        assert "not assigned to you" in response.json()["detail"]
    assert client_for(world.annotator).get(comments_url(world.task.id)).status_code == 200


def test_comment_text_comes_back_verbatim_as_json_with_security_headers(
    world: World, client_for: ClientFor
) -> None:
    reviewer = client_for(world.reviewer)
    text = "<script>alert(1)</script> see \"0854_000.tif<img src=x onerror=alert(2)>\" & 'more'"

    response = post_comment(reviewer, world.task.id, body=text)

    comment = created(response)
    assert comment["body"] == text
    assert response.headers["content-type"].startswith("application/json")
    listed = reviewer.get(comments_url(world.task.id))
    assert listed.headers["content-type"].startswith("application/json")
    assert [t["comment"]["body"] for t in listed.json()][-1] == text
    for answer in (response, listed):
        assert answer.headers["x-content-type-options"] == "nosniff"
        policy = dict(
            part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";")
        )
        # No inline script, so markup in text cannot run; WebAssembly may compile (SAM in the browser).
        assert policy["script-src"] == "'self' 'wasm-unsafe-eval'"
        assert policy["object-src"] == "'none'"


def overlap_project(db_session: Session, app: FastAPI, tmp_path: Path) -> tuple[Any, Observation, User]:
    project = make_project(db_session, "overlap", annotators_per_task=2)
    task = make_task(db_session, app.state.storage, project, tmp_path)
    reviewer = make_user(db_session, "reviewer")
    add_member(db_session, project, reviewer, ProjectRole.REVIEWER)
    return project, task, reviewer


def take_and_draw(
    client: TestClient, project_id: uuid.UUID, regions: list[dict[str, Any]]
) -> tuple[uuid.UUID, dict[str, Any]]:
    """Take the next task, save these regions in one's annotation; the task id and the saved annotation."""
    handout = client.post(f"/api/projects/{project_id}/tasks/next")
    assert handout.status_code == 200, handout.text
    task_id, annotation_id = handout.json()["task"]["observation_id"], handout.json()["annotation_id"]
    url = f"/api/annotations/{annotation_id}"
    version = client.get(url).json()["version"]
    saved = client.put(url, json={"version": version, "regions": regions})
    assert saved.status_code == 200, saved.text
    body: dict[str, Any] = saved.json()
    return uuid.UUID(task_id), body


def test_agreement_of_a_known_pair(
    app: FastAPI, client_for: ClientFor, db_session: Session, tmp_path: Path
) -> None:
    project, task, reviewer = overlap_project(db_session, app, tmp_path)
    a, b = make_user(db_session, "ann-a"), make_user(db_session, "ann-b")
    for annotator in (a, b):
        add_member(db_session, project, annotator, ProjectRole.ANNOTATOR)
    a_regions = [
        {"label": "Pit", "geometry": square(0, 0, 100)},
        {"label": "Infrastructure", "geometry": square(150, 150, 40)},
    ]
    a_task, a_annotation = take_and_draw(client_for(a), project.id, a_regions)
    b_task, b_annotation = take_and_draw(
        client_for(b), project.id, [{"label": "Pit", "geometry": square(50, 0, 100)}]
    )
    assert a_task == b_task == task.id  # overlap: both hold the same task

    response = client_for(reviewer).get(f"/api/observations/{task.id}/agreement")

    assert response.status_code == 200, response.text
    report = response.json()
    pairs = {p["label"]: p for p in report["pairs"]}
    assert set(pairs) == {"Infrastructure", "Pit"}
    pit = pairs["Pit"]
    assert {pit["annotation_a"], pit["annotation_b"]} == {a_annotation["id"], b_annotation["id"]}
    assert {pit["user_a"], pit["user_b"]} == {str(a.id), str(b.id)}
    assert pit["observation_id"] == str(task.id)
    assert pit["intersection_px"] == pytest.approx(5000)
    assert pit["union_px"] == pytest.approx(15000)
    assert pit["iou"] == pytest.approx(1 / 3)
    infrastructure = pairs["Infrastructure"]  # drawn by A only
    assert infrastructure["intersection_px"] == 0
    assert infrastructure["union_px"] == pytest.approx(1600)
    assert infrastructure["iou"] == 0
    no_truth = {"ground_truth_pairs": 0, "ground_truth_mean_iou": None}  # the task is not approved yet
    expected_per_class = [
        {"label": "Infrastructure", "pairs": 1, "mean_iou": 0.0, "min_iou": 0.0, **no_truth},
        {
            "label": "Pit",
            "pairs": 1,
            "mean_iou": pytest.approx(1 / 3),
            "min_iou": pytest.approx(1 / 3),
            **no_truth,
        },
    ]
    assert report["per_class"] == expected_per_class

    whole = client_for(reviewer).get(f"/api/projects/{project.id}/agreement")
    assert whole.status_code == 200, whole.text
    assert whole.json()["per_class"] == expected_per_class
    assert len(whole.json()["pairs"]) == 2
    # Annotators do not see the report (it names the other annotator's work).
    assert client_for(a).get(f"/api/observations/{task.id}/agreement").status_code == 403


def test_a_task_with_one_annotation_has_no_agreement_pairs(
    app: FastAPI, client_for: ClientFor, db_session: Session, tmp_path: Path
) -> None:
    project, task, reviewer = overlap_project(db_session, app, tmp_path)
    a = make_user(db_session, "ann-a")
    add_member(db_session, project, a, ProjectRole.ANNOTATOR)
    take_and_draw(client_for(a), project.id, [{"label": "Pit", "geometry": square(0, 0, 100)}])

    report = client_for(reviewer).get(f"/api/observations/{task.id}/agreement").json()

    assert report == {"pairs": [], "per_class": []}


def georeference(db_session: Session, task: Observation) -> None:
    """10 m pixels in UTM 19S: a pixel is 100 m², so area_ha = area_px / 100 (within 1 %)."""
    task.georef_source = GeorefSource.SIDECAR
    task.crs = "EPSG:32719"
    task.transform = [10.0, 0.0, 367588.2, 0.0, -10.0, 6960504.4]
    db_session.commit()


def test_progress_counts_tasks_work_per_annotator_and_areas_per_class(
    app: FastAPI, client_for: ClientFor, db_session: Session, tmp_path: Path
) -> None:
    project = make_project(db_session, "progress")
    tasks = [make_task(db_session, app.state.storage, project, tmp_path, index=i) for i in range(4)]
    for task in tasks:
        georeference(db_session, task)
    reviewer, a, b = (
        make_user(db_session, "reviewer"),
        make_user(db_session, "ann-a"),
        make_user(db_session, "ann-b"),
    )
    add_member(db_session, project, reviewer, ProjectRole.REVIEWER)
    for annotator in (a, b):
        add_member(db_session, project, annotator, ProjectRole.ANNOTATOR)
    as_a, as_b, as_reviewer = client_for(a), client_for(b), client_for(reviewer)

    # A: task 0 drawn, submitted and approved; task 1 drawn and still in progress.
    first, _ = take_and_draw(as_a, project.id, [{"label": "Pit", "geometry": square(0, 0, 100)}])
    assert as_a.post(f"/api/observations/{first}/task/submit").status_code == 200
    assert as_reviewer.post(f"/api/observations/{first}/task/approve").status_code == 200
    small_pit = {"label": "Pit", "geometry": square(0, 0, 50)}
    take_and_draw(
        as_a, project.id, [small_pit, {"label": "Infrastructure", "geometry": square(100, 100, 20)}]
    )
    # B: task 2 submitted empty, waiting for review. Task 3 is new.
    third, _ = take_and_draw(as_b, project.id, [])
    assert as_b.post(f"/api/observations/{third}/task/submit").status_code == 200
    assert [first, third] == [tasks[0].id, tasks[2].id]

    response = as_reviewer.get(f"/api/projects/{project.id}/progress")

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["tasks_by_state"] == {"approved": 1, "in_progress": 1, "submitted": 1, "new": 1}
    assert report["tasks_total"] == 4
    rows = {row["user_id"]: row for row in report["per_annotator"]}
    assert set(rows) == {str(a.id), str(b.id)}  # the reviewer did no labeling work
    a_row, b_row = rows[str(a.id)], rows[str(b.id)]
    assert a_row["email"] == a.email
    counts = ("in_progress", "submitted", "approved", "rejected", "regions")
    assert [a_row[k] for k in counts] == [1, 0, 1, 0, 3]
    assert a_row["area_ha"] == pytest.approx((10_000 + 2_500 + 400) / 100, rel=0.01)
    assert [b_row[k] for k in counts] == [0, 1, 0, 0, 0]
    assert b_row["area_ha"] == 0
    per_class = {row["label"]: row for row in report["per_class"]}
    assert set(per_class) == {"Infrastructure", "Pit"}
    pit, infrastructure = per_class["Pit"], per_class["Infrastructure"]
    assert (pit["regions"], pit["area_px"]) == (2, pytest.approx(12_500))
    assert pit["area_ha"] == pytest.approx(125, rel=0.01)
    assert pit["approved_area_ha"] == pytest.approx(100, rel=0.01)  # only task 0 is approved
    assert (infrastructure["regions"], infrastructure["area_px"]) == (1, pytest.approx(400))
    assert infrastructure["area_ha"] == pytest.approx(4, rel=0.01)
    assert infrastructure["approved_area_ha"] == 0
    assert as_a.get(f"/api/projects/{project.id}/progress").status_code == 403
