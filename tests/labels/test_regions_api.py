"""Single-region edits, the viewport query, per-class statistics and predictions."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Observation, Prediction, Region
from tests.labels.test_annotations_api import create, observation, square

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
    added = client.post(f"/api/annotations/{body['id']}/regions", json=new)
    retried = client.post(f"/api/annotations/{body['id']}/regions", json=new)
    assert added.status_code == retried.status_code == 201
    assert added.json()["version"] == retried.json()["version"] == 4  # the retry changed nothing
    deleted = client.delete(f"/api/regions/{added_id}", headers={"If-Match": "1"})
    assert deleted.status_code == 200 and added_id not in {r["id"] for r in deleted.json()["regions"]}
    assert client.delete(f"/api/regions/{added_id}", headers={"If-Match": "1"}).status_code == 404
    assert client.get(f"/api/regions/{added_id}").status_code == 404
    read = client.get(f"/api/regions/{pit}")
    assert read.status_code == 200 and read.headers["etag"] == '"2"'
    assert read.json()["properties"]["label"] == "Pit" and read.json()["geometry"]["type"] == "MultiPolygon"


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
