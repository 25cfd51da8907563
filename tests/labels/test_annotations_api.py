"""Annotations through the API on real PostGIS: versions, 409s, revisions, restore, idempotency, bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import GeorefSource, Observation, ObservationStatus, Project, Region, Revision, Site


def square(x: float, y: float, size: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]],
    }


def add_observation(session: Session, project: Project | None = None) -> Observation:
    """A 1000 x 1000 px observation, georeferenced with 10 m pixels in UTM 19S (as a workshop image), in
    ``project`` (a new one when None). Commits."""
    if project is None:
        project = Project(name=f"labels-{uuid.uuid4().hex[:6]}")
        session.add(project)
        session.flush()
    site = Site(project_id=project.id, name="0854")
    session.add(site)
    session.flush()
    row = Observation(
        project_id=project.id, site_id=site.id, index=0, original_filename="0854_000.png",
        content_hash="h" * 64, size_bytes=1, driver="PNG", width=1000, height=1000, band_count=3,
        band_names=["red", "green", "blue"], dtype="uint8", has_alpha=False,
        georef_source=GeorefSource.SIDECAR, crs="EPSG:32719",
        transform=[10.0, 0.0, 367588.2, 0.0, -10.0, 6960504.4],
        status=ObservationStatus.READY, original_key="k",
    )  # fmt: skip
    session.add(row)
    session.commit()
    return row


@pytest.fixture
def observation(db_session: Session) -> Observation:
    return add_observation(db_session)


def create(client: TestClient, observation: Observation, regions: list[dict[str, Any]], **params: Any) -> Any:
    return client.post(
        f"/api/observations/{observation.id}/annotations", json={"regions": regions}, params=params
    )


def test_create_read_and_save_with_versions(
    client: TestClient, observation: Observation, db_session: Session
) -> None:
    pit_id = str(uuid.uuid4())
    created = create(client, observation, [{"id": pit_id, "label": "Pit", "geometry": square(100, 100, 50)}])
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["version"] == 1 and created.headers["etag"] == '"1"'
    (feature,) = body["regions"]
    assert feature["id"] == pit_id and feature["properties"]["area_px"] == 2500
    assert feature["properties"]["area_ha"] == pytest.approx(2500 * 100 / 10_000, rel=0.01)  # 10 m pixels
    assert feature["properties"]["geometry_wgs84"]["type"] == "MultiPolygon"
    assert feature["properties"]["annotation_id"] == body["id"] and feature["properties"]["source"] == "human"
    assert feature["properties"]["prediction_id"] is None and feature["properties"]["model_version"] is None

    url = f"/api/annotations/{body['id']}"
    moved = {"id": pit_id, "label": "Pit", "geometry": square(110, 100, 50)}
    outline = {"label": "Outline", "geometry": square(0, 0, 500)}
    saved = client.put(url, json={"regions": [moved, outline]}, headers={"If-Match": '"1"'})
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 2
    pit = next(r for r in saved.json()["regions"] if r["id"] == pit_id)
    assert pit["properties"]["version"] == 2

    # The same save again is a no-op: no new version, no revision.
    revisions_before = db_session.scalar(select(func.count()).select_from(Revision))
    again = client.put(
        url, json={"version": 2, "regions": [moved, saved.json()["regions"][1] | {"label": "Outline"}]}
    )
    assert again.status_code == 422  # a Feature is not a RegionIn: the API says so instead of guessing
    same = client.put(
        url, json={"version": 2, "regions": [moved, {**outline, "id": saved.json()["regions"][1]["id"]}]}
    )
    assert same.status_code == 200 and same.json()["version"] == 2
    assert db_session.scalar(select(func.count()).select_from(Revision)) == revisions_before
    assert client.get(url).headers["etag"] == '"2"'


def test_a_stale_save_gets_409_with_the_current_state_and_changes_nothing(
    client: TestClient, observation: Observation, db_session: Session
) -> None:
    body = create(client, observation, [{"label": "Pit", "geometry": square(100, 100, 50)}]).json()
    url = f"/api/annotations/{body['id']}"
    first = client.put(
        url, json={"version": 1, "regions": [{"label": "Pit", "geometry": square(200, 200, 30)}]}
    )
    assert first.status_code == 200
    stale = client.put(
        url, json={"version": 1, "regions": [{"label": "Infrastructure", "geometry": square(5, 5, 5)}]}
    )
    assert stale.status_code == 409
    conflict = stale.json()
    assert conflict["code"] == "version_conflict" and "is at version 2, not 1" in conflict["detail"]
    assert conflict["current"]["version"] == 2
    assert [r["label"] for r in conflict["current"]["regions"]] == ["Pit"]
    current = client.get(url).json()
    assert current["version"] == 2 and [r["properties"]["label"] for r in current["regions"]] == ["Pit"]


def test_every_change_is_a_revision_and_old_versions_can_be_restored(
    client: TestClient, observation: Observation
) -> None:
    pit = {"id": str(uuid.uuid4()), "label": "Pit", "geometry": square(100, 100, 50)}
    infra = {"id": str(uuid.uuid4()), "label": "Infrastructure", "geometry": square(300, 300, 20)}
    body = create(client, observation, [pit, infra]).json()
    url = f"/api/annotations/{body['id']}"
    assert client.put(url, json={"version": 1, "regions": [pit]}).json()["version"] == 2  # infra deleted
    revisions = client.get(f"{url}/revisions").json()
    assert [(r["action"], r["annotation_version"]) for r in revisions] == [
        ("create", 1),
        ("create", 1),
        ("create", 1),
        ("delete", 2),
    ]
    deletion = revisions[-1]
    assert deletion["region_id"] == infra["id"] and deletion["after"] is None
    assert deletion["before"]["label"] == "Infrastructure"

    restored = client.post(f"{url}/restore", json={"version": 1}, headers={"If-Match": "2"})
    assert restored.status_code == 200, restored.text
    assert restored.json()["version"] == 3
    assert {r["id"] for r in restored.json()["regions"]} == {pit["id"], infra["id"]}
    last = client.get(f"{url}/revisions").json()[-1]
    assert last["action"] == "restore" and last["region_id"] == infra["id"]
    future = client.post(f"{url}/restore", json={"version": 9, "based_on_version": 3})
    assert future.status_code == 422 and "does not exist yet" in future.json()["detail"]


def test_idempotency_key_replays_and_client_region_ids_prevent_duplicates(
    client: TestClient, observation: Observation, db_session: Session
) -> None:
    region = {"id": str(uuid.uuid4()), "label": "Pit", "geometry": square(10, 10, 10)}
    headers = {"Idempotency-Key": "save-1"}
    url = f"/api/observations/{observation.id}/annotations"
    first = client.post(url, json={"regions": [region]}, headers=headers)
    second = client.post(url, json={"regions": [region]}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replay"] == "true" and second.json() == first.json()
    assert db_session.scalar(select(func.count()).select_from(Region)) == 1
    reused = client.post(url, json={"regions": []}, headers=headers)
    assert reused.status_code == 422 and "was used for a different request" in reused.json()["detail"]
    # Without a key, the region's own id still refuses a duplicate.
    duplicate = client.post(url, json={"regions": [region]})
    assert duplicate.status_code == 409 and "belongs to another annotation" in duplicate.json()["detail"]
    assert db_session.scalar(select(func.count()).select_from(Region)) == 1


BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [50, 50], [50, 0], [0, 50], [0, 0]]]}
GEOMETRY = "region_geometry_invalid"
# region, words of the message, and the body's machine-readable code and reason
BAD_REGIONS = {
    "unknown-class": (
        {"label": "Lake", "geometry": square(1, 1, 5)},
        "'Lake' is not a class of this project",
        "unknown_label",
        None,
    ),
    "self-intersecting": (
        {"label": "Pit", "geometry": BOWTIE},
        "is not a valid polygon",
        GEOMETRY,
        "invalid_polygon",
    ),
    "outside": (
        {"label": "Pit", "geometry": square(990, 990, 50)},
        "reaches outside the 1000 x 1000 image",
        GEOMETRY,
        "outside_image",
    ),
    "two-vertices": (
        {"label": "Pit", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [5, 0], [0, 0], [0, 0]]]}},
        "fewer than 3 distinct vertices",
        GEOMETRY,
        "too_few_vertices",
    ),
    "not-closed": (
        {"label": "Pit", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [5, 0], [5, 5], [0, 5]]]}},
        "not closed",
        GEOMETRY,
        "ring_not_closed",
    ),
    "point": (
        {"label": "Pit", "geometry": {"type": "Point", "coordinates": [1, 1]}},
        '"Polygon" or "MultiPolygon"',
        GEOMETRY,
        "not_a_polygon",
    ),
}


@pytest.mark.parametrize(
    ("region", "message", "code", "reason"), BAD_REGIONS.values(), ids=BAD_REGIONS.keys()
)
def test_bad_regions_get_422_naming_the_region_and_nothing_is_stored(
    client: TestClient, observation: Observation, db_session: Session, region: dict[str, Any], message: str,
    code: str, reason: str | None,
) -> None:  # fmt: skip
    good = {"label": "Pit", "geometry": square(100, 100, 10)}
    bad_id = str(uuid.uuid4())
    response = create(client, observation, [good, {**region, "id": bad_id}])
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"].startswith("Region 2")
    assert message in body["detail"]
    # Which region and why, without reading the message: its id, its position in `regions`, the reason.
    assert (body["code"], body["region_id"], body["region_index"]) == (code, bad_id, 1)
    assert body.get("reason") == reason
    assert db_session.scalar(select(func.count()).select_from(Region)) == 0

    # A region without an id is still found by its position.
    anonymous = create(client, observation, [region, good])
    assert anonymous.status_code == 422
    assert (anonymous.json()["region_id"], anonymous.json()["region_index"]) == (None, 0)


def test_a_refused_save_of_an_annotation_names_the_region_and_changes_nothing(
    client: TestClient, observation: Observation, db_session: Session
) -> None:
    pit = {"id": str(uuid.uuid4()), "label": "Pit", "geometry": square(100, 100, 10)}
    body = create(client, observation, [pit]).json()
    outline_id = str(uuid.uuid4())
    bowtie = {"id": outline_id, "label": "Outline", "geometry": BOWTIE}
    refused = client.put(f"/api/annotations/{body['id']}", json={"version": 1, "regions": [bowtie, pit]})
    assert refused.status_code == 422
    assert {k: refused.json()[k] for k in ("code", "region_id", "region_index", "reason")} == {
        "code": GEOMETRY, "region_id": outline_id, "region_index": 0, "reason": "invalid_polygon",
    }  # fmt: skip
    current = client.get(f"/api/annotations/{body['id']}").json()
    assert current["version"] == 1 and [r["id"] for r in current["regions"]] == [pit["id"]]
    assert db_session.get(Region, uuid.UUID(outline_id)) is None


def test_nan_coordinates_are_refused(client: TestClient, observation: Observation) -> None:
    ring = "[[[0, 0], [NaN, 1], [1, 1], [0, 0]]]"
    body = '{"regions": [{"label": "Pit", "geometry": {"type": "Polygon", "coordinates": ' + ring + "}}]}"
    response = client.post(
        f"/api/observations/{observation.id}/annotations",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_repair_and_clip_report_what_they_changed(client: TestClient, observation: Observation) -> None:
    bowtie_id = str(uuid.uuid4())
    kept = {"label": "Outline", "geometry": square(0, 0, 900)}
    repaired = create(
        client, observation, [kept, {"id": bowtie_id, "label": "Pit", "geometry": BOWTIE}], repair="true"
    )
    assert repaired.status_code == 201
    (change,) = repaired.json()["changes"]
    assert (change["region_id"], change["code"]) == (bowtie_id, "repaired")
    assert change["message"].startswith("repaired (Self-intersection")
    bowtie = next(r for r in repaired.json()["regions"] if r["id"] == bowtie_id)
    assert bowtie["geometry"]["type"] == "MultiPolygon" and len(bowtie["geometry"]["coordinates"]) == 2
    # A region without a client id is named by the id the server gave it.
    clipped = create(client, observation, [{"label": "Pit", "geometry": square(980, 980, 40)}], clip="true")
    assert clipped.status_code == 201
    (region,) = clipped.json()["regions"]
    (change,) = clipped.json()["changes"]
    assert (change["region_id"], change["code"]) == (region["id"], "clipped")
    assert region["properties"]["area_px"] == 400


def test_topology_rules_come_back_as_warnings(client: TestClient, observation: Observation) -> None:
    outline = {"label": "Outline", "geometry": square(0, 0, 300)}
    pit_outside = {"id": str(uuid.uuid4()), "label": "Pit", "geometry": square(400, 400, 50)}
    pit = {"id": str(uuid.uuid4()), "label": "Pit", "geometry": square(10, 10, 100)}
    infra = {"id": str(uuid.uuid4()), "label": "Infrastructure", "geometry": square(50, 50, 100)}
    response = create(client, observation, [outline, pit_outside, pit, infra])
    assert response.status_code == 201
    warnings = {(w["region_id"], w["code"], w["other_region_id"]) for w in response.json()["warnings"]}
    assert warnings == {
        (pit_outside["id"], "outside_outline", None),
        (pit["id"], "pit_overlaps_infrastructure", infra["id"]),
    }
    assert all(w["message"].startswith(f"Region {w['region_id']} ") for w in response.json()["warnings"])
    # Listing the task's annotations brings them too (a client shows them on opening the task).
    (listed,) = client.get(f"/api/observations/{observation.id}/annotations").json()
    listed_warnings = [(w["region_id"], w["code"], w["other_region_id"]) for w in listed["warnings"]]
    saved_warnings = [(w["region_id"], w["code"], w["other_region_id"]) for w in response.json()["warnings"]]
    assert listed_warnings == saved_warnings  # the same, in the order the save checked them
    assert all(
        set(w) == {"code", "region_id", "other_region_id"} for w in listed["warnings"]
    )  # worded from `code`


def test_a_pit_overlapping_two_infrastructure_regions_gets_a_warning_for_each(
    client: TestClient, observation: Observation
) -> None:
    outline = {"label": "Outline", "geometry": square(0, 0, 500)}
    pit = {"id": str(uuid.uuid4()), "label": "Pit", "geometry": square(100, 100, 100)}
    west = {"id": str(uuid.uuid4()), "label": "Infrastructure", "geometry": square(50, 120, 80)}
    east = {"id": str(uuid.uuid4()), "label": "Infrastructure", "geometry": square(170, 120, 80)}
    response = create(client, observation, [outline, pit, west, east])
    assert response.status_code == 201, response.text
    found = {(w["region_id"], w["code"], w["other_region_id"]) for w in response.json()["warnings"]}
    overlap = "pit_overlaps_infrastructure"
    assert found == {(pit["id"], overlap, west["id"]), (pit["id"], overlap, east["id"])}
    assert len(response.json()["warnings"]) == 2


def test_a_region_inside_two_touching_outlines_is_inside_the_mine(
    client: TestClient, observation: Observation
) -> None:
    """Covered by the union of the Outlines around it, not by either alone: no warning. A far Outline does
    not count, and a Pit reaching past both gets the warning."""
    west = {"label": "Outline", "geometry": square(0, 0, 100)}
    east = {"label": "Outline", "geometry": square(100, 0, 100)}
    far = {"label": "Outline", "geometry": square(600, 600, 100)}
    across = {"id": str(uuid.uuid4()), "label": "Pit", "geometry": square(50, 20, 60)}
    past = {"id": str(uuid.uuid4()), "label": "Infrastructure", "geometry": square(150, 20, 100)}
    response = create(client, observation, [west, east, far, across, past])
    assert response.status_code == 201, response.text
    assert {(w["region_id"], w["code"]) for w in response.json()["warnings"]} == {
        (past["id"], "outside_outline")
    }


def test_versions_are_required_and_deletes_are_tombstones(
    client: TestClient, observation: Observation, db_session: Session
) -> None:
    body = create(client, observation, [{"label": "Pit", "geometry": square(1, 1, 9)}]).json()
    url = f"/api/annotations/{body['id']}"
    missing = client.put(url, json={"regions": []})
    assert missing.status_code == 422 and "If-Match" in missing.json()["detail"]
    assert client.delete(url, headers={"If-Match": '"1"'}).status_code == 204
    assert client.get(url).status_code == 404
    (region,) = db_session.scalars(select(Region)).all()
    assert region.deleted_at is not None  # kept, as a tombstone
