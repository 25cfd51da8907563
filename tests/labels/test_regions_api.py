"""Single-region edits, the viewport query, per-class statistics and predictions."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Observation, Prediction, Region
from tests.labels.test_annotations_api import BOWTIE, create, observation, square

__all__ = ["observation"]  # the fixture, shared


def test_single_region_edits_check_the_region_version(client: TestClient, observation: Observation) -> None:
    pit, infra = str(uuid.uuid4()), str(uuid.uuid4())
    body = create(
        client,
        observation,
        [
            {"id": pit, "label": "Pit", "geometry": square(10, 10, 10)},
            {"id": infra, "label": "Infrastructure", "geometry": square(50, 50, 10)},
        ],
    ).json()
    # Someone moves the Infrastructure region; an edit of the Pit based on its own version still goes through.
    moved = client.put(
        f"/api/regions/{infra}",
        json={"label": "Infrastructure", "geometry": square(60, 60, 10)},
        headers={"If-Match": "1"},
    )
    assert moved.status_code == 200 and moved.json()["version"] == 2, moved.text
    edited = client.put(
        f"/api/regions/{pit}",
        json={"label": "Pit", "geometry": square(12, 12, 10)},
        headers={"If-Match": "1"},
    )
    assert edited.status_code == 200 and edited.json()["version"] == 3
    stale = client.put(
        f"/api/regions/{pit}", json={"label": "Pit", "geometry": square(0, 0, 5)}, headers={"If-Match": "1"}
    )
    assert stale.status_code == 409 and stale.json()["current"]["version"] == 2
    added_id = str(uuid.uuid4())
    new = {"id": added_id, "label": "Pit", "geometry": square(200, 200, 20)}
    # Adding a region names the annotation's version too (here 3): a stale one is refused with `current`.
    add_url = f"/api/annotations/{body['id']}/regions"
    behind = client.post(add_url, json=new, headers={"If-Match": "2"})
    assert behind.status_code == 409 and behind.json()["current"]["version"] == 3
    assert client.post(add_url, json={**new, "version": 1}).status_code == 409
    unnamed = client.post(add_url, json=new)
    assert unnamed.status_code == 422 and "If-Match" in unnamed.json()["detail"]
    added = client.post(add_url, json={**new, "version": 3})
    retried = client.post(add_url, json=new, headers={"If-Match": "3"})
    assert added.status_code == retried.status_code == 201
    assert added.json()["version"] == retried.json()["version"] == 4  # the retry changed nothing
    deleted = client.delete(f"/api/regions/{added_id}", headers={"If-Match": "1"})
    assert deleted.status_code == 200 and added_id not in {r["id"] for r in deleted.json()["regions"]}
    assert client.delete(f"/api/regions/{added_id}", headers={"If-Match": "1"}).status_code == 404
    assert client.get(f"/api/regions/{added_id}").status_code == 404
    read = client.get(f"/api/regions/{pit}")
    assert read.status_code == 200 and read.headers["etag"] == '"2"'
    assert read.json()["properties"]["label"] == "Pit" and read.json()["geometry"]["type"] == "MultiPolygon"


def test_a_refused_single_region_edit_names_the_region_and_changes_nothing(
    client: TestClient, observation: Observation
) -> None:
    pit = str(uuid.uuid4())
    body = create(client, observation, [{"id": pit, "label": "Pit", "geometry": square(10, 10, 10)}]).json()
    refused = client.put(
        f"/api/regions/{pit}", json={"label": "Pit", "geometry": BOWTIE}, headers={"If-Match": "1"}
    )
    assert refused.status_code == 422
    error = refused.json()
    # The body is the region itself: no position in a list, only its id.
    assert (error["code"], error["reason"], error["region_id"], error["region_index"]) == (
        "region_geometry_invalid", "invalid_polygon", pit, None,
    )  # fmt: skip
    added_id = str(uuid.uuid4())
    outside = {"id": added_id, "label": "Pit", "geometry": square(990, 990, 50)}
    added = client.post(f"/api/annotations/{body['id']}/regions", json=outside, headers={"If-Match": "1"})
    assert added.status_code == 422
    assert (added.json()["reason"], added.json()["region_id"]) == ("outside_image", added_id)
    unknown = client.post(
        f"/api/annotations/{body['id']}/regions",
        json={"label": "Lake", "geometry": square(1, 1, 5), "version": 1},
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_label"
    assert (unknown.json()["region_id"], unknown.json()["region_index"]) == (None, None)
    current = client.get(f"/api/annotations/{body['id']}").json()
    assert current["version"] == 1 and [r["id"] for r in current["regions"]] == [pit]
    assert current["regions"][0]["geometry"] == client.get(f"/api/regions/{pit}").json()["geometry"]
    assert client.get(f"/api/regions/{pit}").json()["properties"]["area_px"] == 100


def test_viewport_returns_what_intersects_in_pixels_or_degrees(
    client: TestClient, observation: Observation
) -> None:
    create(
        client,
        observation,
        [
            {"label": "Pit", "geometry": square(100, 100, 50)},
            {"label": "Outline", "geometry": square(600, 600, 300)},
        ],
    )
    url = f"/api/observations/{observation.id}/regions"
    near = client.get(url, params={"bbox": "0,0,200,200"}).json()
    assert [f["properties"]["label"] for f in near["features"]] == ["Pit"] and near["truncated"] is False
    both = client.get(url, params={"bbox": "0,0,1000,1000", "limit": 1}).json()
    assert len(both["features"]) == 1 and both["truncated"] is True
    pit_wgs84 = near["features"][0]
    degrees = client.get(url, params={"bbox": "-70.4,-27.6,-70.2,-27.4", "crs": "EPSG:4326"}).json()
    assert {f["properties"]["label"] for f in degrees["features"]} == {"Pit", "Outline"}
    assert all(-71 < c[0] < -70 for f in degrees["features"] for c in f["geometry"]["coordinates"][0][0])
    simplified = client.get(url, params={"bbox": "0,0,200,200", "simplify": 5}).json()
    assert simplified["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert pit_wgs84["properties"]["area_px"] == 2500
    bad = client.get(url, params={"bbox": "1,2,3"})
    assert bad.status_code == 422 and "four numbers" in bad.json()["detail"]


def test_label_stats_per_task_and_class(client: TestClient, observation: Observation) -> None:
    create(
        client,
        observation,
        [
            {"label": "Pit", "geometry": square(0, 0, 10)},
            {"label": "Pit", "geometry": square(20, 20, 10)},
            {"label": "Outline", "geometry": square(0, 0, 100)},
        ],
    )
    stats = client.get(f"/api/projects/{observation.project_id}/label-stats").json()
    by_label = {s["label"]: s for s in stats}
    assert by_label["Pit"]["regions"] == 2 and by_label["Pit"]["area_px"] == 200
    assert by_label["Outline"]["area_ha"] > 0


def test_predictions_are_kept_apart_and_checked(
    client: TestClient, observation: Observation, db_session: Session
) -> None:
    url = f"/api/observations/{observation.id}/predictions"
    made = client.post(
        url,
        json={
            "model_version": "sam-vit-b-test",
            "score": 0.8,
            "regions": [{"label": "Pit", "geometry": square(10, 10, 30), "score": 0.9}],
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["regions"][0]["properties"]["source"] == "model"
    bad = client.post(
        url, json={"model_version": "m", "regions": [{"label": "Lake", "geometry": square(1, 1, 5)}]}
    )
    assert bad.status_code == 422 and "'Lake' is not a class" in bad.json()["detail"]
    assert (bad.json()["code"], bad.json()["region_index"]) == ("unknown_label", 0)
    score = client.post(url, json={"model_version": "m", "score": 1.5, "regions": []})
    assert score.status_code == 422
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 1
    viewport = client.get(
        f"/api/observations/{observation.id}/regions", params={"bbox": "0,0,100,100"}
    ).json()
    assert viewport["features"] == []  # predictions are not annotations
    predicted = client.get(
        f"/api/observations/{observation.id}/regions", params={"bbox": "0,0,100,100", "kind": "predictions"}
    ).json()
    assert len(predicted["features"]) == 1
    assert client.delete(f"/api/predictions/{made.json()['id']}").status_code == 204
    assert db_session.scalar(select(func.count()).select_from(Region)) == 0


def test_prediction_regions_carry_their_model_version_and_where_they_were_carried_from(
    client: TestClient, observation: Observation
) -> None:
    earlier = uuid.uuid4()  # a region on the previous date: no foreign key, like accepted_from
    region_id = str(uuid.uuid4())
    made = client.post(
        f"/api/observations/{observation.id}/predictions",
        json={
            "model_version": "segformer-2026-11",
            "regions": [
                {"id": region_id, "label": "Pit", "geometry": square(10, 10, 30), "source": "sam",
                 "score": 0.7, "carried_from": str(earlier)},
                {"label": "Outline", "geometry": square(0, 0, 200)},
            ],
        },
    )  # fmt: skip
    assert made.status_code == 201, made.text
    carried, fresh = made.json()["regions"]
    expected = {
        "label": "Pit", "source": "sam", "score": 0.7, "model_version": "segformer-2026-11",
        "carried_from": str(earlier), "prediction_id": made.json()["id"], "annotation_id": None,
        "accepted_from": None, "version": 1, "area_px": 900,
    }  # fmt: skip
    assert {k: carried["properties"][k] for k in expected} == expected
    assert (fresh["properties"]["carried_from"], fresh["properties"]["model_version"]) == (
        None,
        "segformer-2026-11",
    )
    assert fresh["properties"]["source"] == "model"  # no source given: a model's

    viewport = client.get(
        f"/api/observations/{observation.id}/regions", params={"bbox": "0,0,100,100", "kind": "predictions"}
    ).json()
    by_id = {f["id"]: f["properties"] for f in viewport["features"]}
    assert {k: by_id[region_id][k] for k in expected} == expected
    assert by_id[region_id]["area_ha"] == pytest.approx(9, rel=0.01)  # 900 px of 100 m²
    read = client.get(f"/api/regions/{region_id}").json()["properties"]
    assert {k: read[k] for k in expected} == expected

    people = client.get(f"/api/observations/{observation.id}/regions", params={"bbox": "0,0,100,100"})
    assert people.json()["features"] == []
    wrong = client.post(
        f"/api/observations/{observation.id}/annotations",
        json={"regions": [{"label": "Pit", "geometry": square(1, 1, 5), "carried_from": str(earlier)}]},
    )
    assert wrong.status_code == 422  # carried_from is a prediction's: annotations do not take it
