"""The bulk prediction writer on real PostGIS: 10,000 polygons in one call, with the same measures as the
per-region ORM path, their labels, scores and carried_from stored, typed in the viewport; bad input refused
before anything is stored."""

from __future__ import annotations

import uuid
from typing import Any

import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from geoalchemy2.shape import to_shape
from shapely import geometry as shp
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.core.errors import InvalidInputError
from app.labels.geometry import RegionGeometryError
from app.labels.regions import UnknownLabelError
from app.models import GeorefSource, Observation, ObservationStatus, Prediction, Region, RegionSource
from app.repositories import prediction_writer
from app.repositories.prediction_writer import PredictedPolygon, write_predictions
from app.services.annotations import RegionInput, fill_region
from tests.labels.test_annotations_api import observation

__all__ = ["observation"]  # the fixture, shared: 1000 x 1000 px, 10 m pixels in UTM 19S

CLASSES = ["Pit", "Infrastructure", "Outline"]
COUNT = 10_000


def shape(i: int) -> shp.Polygon | shp.MultiPolygon:
    """The i-th of a 100 x 100 grid of 10 px cells: squares, triangles off the pixel grid, polygons with a
    hole and two-part MultiPolygons, in turn."""
    x, y = 10.0 * (i % 100), 10.0 * (i // 100)
    kind = i % 4
    if kind == 0:
        return shp.box(x + 1, y + 1, x + 9, y + 9)
    if kind == 1:
        return shp.Polygon([(x + 0.25, y + 0.5), (x + 9.75, y + 1.125), (x + 4.375, y + 9.8)])
    if kind == 2:
        return shp.Polygon(
            shp.box(x + 1, y + 1, x + 9, y + 9).exterior, [shp.box(x + 4, y + 4, x + 6, y + 6).exterior]
        )
    return shp.MultiPolygon([shp.box(x + 1, y + 1, x + 4, y + 4), shp.box(x + 6.5, y + 6.5, x + 9, y + 9)])


def polygons(count: int = COUNT) -> list[PredictedPolygon]:
    return [
        PredictedPolygon(
            geometry=shape(i), label=CLASSES[i % 3], score=(i % 1000) / 999,
            source=RegionSource.SAM if i % 2 else RegionSource.MODEL,
            carried_from=uuid.UUID(int=i + 1) if i % 7 == 0 else None,
        )
        for i in range(count)
    ]  # fmt: skip


def orm_measures(session: Session, observation: Observation, polygon: PredictedPolygon) -> Region:
    """The same polygon measured by the per-region path (fill_region), which API saves use."""
    region = Region()
    geometry = (
        polygon.geometry
        if isinstance(polygon.geometry, shp.MultiPolygon)
        else shp.MultiPolygon([polygon.geometry])
    )
    fill_region(session, region, RegionInput(label=polygon.label or "", geometry=None), geometry, observation)
    return region


def test_ten_thousand_polygons_in_one_call_measured_as_the_orm_path_measures_them(
    db_session: Session, observation: Observation, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = polygons()
    # Transformed to EPSG:4326 in chunks of about 7,919 vertices here: ten, split at odd places.
    monkeypatch.setattr(prediction_writer, "CHUNK_VERTICES", 7919)
    assert sum(shapely.get_num_coordinates([p.geometry for p in batch])) == 72_500
    statements: list[str] = []
    connection = db_session.connection()

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(connection, "before_cursor_execute", count)
    try:
        written = write_predictions(
            db_session, observation, "sam-vit-h-2026-12", batch, classes=CLASSES, score=0.6
        )
    finally:
        event.remove(connection, "before_cursor_execute", count)
    # Besides the staging table and its COPY, one statement for the whole batch (no row-by-row inserts).
    assert len(statements) == 1 and statements[0].lstrip().startswith("WITH prediction AS")
    assert len(written.region_ids) == len(set(written.region_ids)) == COUNT

    prediction = db_session.get(Prediction, written.prediction_id)
    assert prediction is not None
    assert (prediction.model_version, prediction.score) == ("sam-vit-h-2026-12", 0.6)
    assert (prediction.observation_id, prediction.project_id) == (observation.id, observation.project_id)
    stored = {
        r.id: r for r in db_session.scalars(select(Region).where(Region.prediction_id == prediction.id))
    }
    assert set(stored) == set(written.region_ids)
    for region_id, polygon in zip(written.region_ids, batch, strict=True):
        region = stored[region_id]
        assert (region.label, region.score, region.source, region.carried_from) == (
            polygon.label, polygon.score, polygon.source, polygon.carried_from,
        )  # fmt: skip
        assert region.observation_id == observation.id and region.annotation_id is None
        assert region.version == 1 and region.deleted_at is None
    assert sum(r.carried_from is not None for r in stored.values()) == len(range(0, COUNT, 7))

    # Every kind of polygon, measured both ways: pixels, hectares and the EPSG:4326 copy agree.
    for i in [*range(8), 1092, 1093, 4321, 9998, 9999]:  # 1093 starts the second chunk
        region, polygon = stored[written.region_ids[i]], batch[i]
        expected = orm_measures(db_session, observation, polygon)
        assert to_shape(region.geom).equals_exact(expected_geom(polygon), 0)
        assert region.area_px == expected.area_px == polygon.geometry.area
        # The EPSG:4326 copies come from two builds of PROJ (rasterio's and PostGIS's): mostly equal to the
        # bit, sometimes a last bit apart, which the geodesic area of a 0.15 ha polygon makes ~1e-10.
        assert expected.area_ha is not None and region.area_ha == pytest.approx(expected.area_ha, rel=1e-9)
        assert region.area_ha == pytest.approx(region.area_px * 100 / 10_000, rel=0.01)  # 10 m pixels
        assert region.geom_wgs84 is not None and expected.geom_wgs84 is not None
        assert to_shape(region.geom_wgs84).equals_exact(to_shape(expected.geom_wgs84), 1e-9)
    # Every region has its own polygon's EPSG:4326 copy (neighbours differ in shape and area, so a region
    # given another's copy would show): as many vertices, and hectares of 100 m² pixels (the UTM scale
    # factor there is within 0.1 %).
    mismatched = db_session.scalar(
        select(func.count())
        .select_from(Region)
        .where(
            Region.prediction_id == prediction.id,
            (func.ST_NPoints(Region.geom_wgs84) != func.ST_NPoints(Region.geom))
            | (func.abs(Region.area_ha * 100 / Region.area_px - 1) > 0.002),
        )
    )
    assert mismatched == 0
    db_session.commit()

    # The viewport sends them with the typed properties.
    viewport = client.get(
        f"/api/observations/{observation.id}/regions",
        params={"bbox": "0,0,1000,1000", "kind": "predictions", "limit": 50_000},
    )
    assert viewport.status_code == 200, viewport.text
    features = {f["id"]: f for f in viewport.json()["features"]}
    assert len(features) == COUNT and viewport.json()["truncated"] is False
    for i in (0, 1, 7, 9999):
        properties = features[str(written.region_ids[i])]["properties"]
        polygon = batch[i]
        assert {k: properties[k] for k in ("label", "source", "score", "model_version", "prediction_id")} == {
            "label": polygon.label, "source": polygon.source.value, "score": polygon.score,
            "model_version": "sam-vit-h-2026-12", "prediction_id": str(prediction.id),
        }  # fmt: skip
        carried = str(polygon.carried_from) if polygon.carried_from else None
        assert (properties["carried_from"], properties["annotation_id"]) == (carried, None)
        assert properties["area_px"] == pytest.approx(polygon.geometry.area, rel=1e-12)


def expected_geom(polygon: PredictedPolygon) -> shp.MultiPolygon:
    geometry = polygon.geometry
    return geometry if isinstance(geometry, shp.MultiPolygon) else shp.MultiPolygon([geometry])


def test_pixel_space_a_wkt_crs_and_several_calls_in_one_transaction(
    db_session: Session, observation: Observation
) -> None:
    plain = Observation(
        project_id=observation.project_id, site_id=observation.site_id, index=1,
        original_filename="0854_001.png", content_hash="p" * 64, size_bytes=1, driver="PNG", width=1000,
        height=1000, band_count=3, band_names=["red", "green", "blue"], dtype="uint8", has_alpha=False,
        georef_source=GeorefSource.NONE, status=ObservationStatus.READY, original_key="k",
    )  # fmt: skip
    db_session.add(plain)  # not flushed: the writer flushes it before its COPY
    first = write_predictions(db_session, plain, "m1", polygons(10), classes=CLASSES)
    second = write_predictions(db_session, plain, "m1", polygons(3), classes=CLASSES)
    empty = write_predictions(db_session, plain, "m2", [], classes=CLASSES)
    counts = dict(
        db_session.execute(
            select(Region.prediction_id, func.count())
            .where(Region.observation_id == plain.id)
            .group_by(Region.prediction_id)
        ).all()
    )
    # The staging table is emptied per call: the second call stored its 3, not the first call's 10 again.
    assert counts == {first.prediction_id: 10, second.prediction_id: 3}
    assert db_session.get(Prediction, empty.prediction_id) is not None  # a model that found nothing
    region = db_session.get(Region, first.region_ids[2])
    assert region is not None
    assert region.geom_wgs84 is None and region.area_ha is None
    assert region.area_px == pytest.approx(shape(2).area, rel=1e-12) and region.area_px == 60
    # A CRS given as WKT (no EPSG code), a rotated and sheared pixel grid (so that every term of the affine
    # transform counts) and a batch of one: the same measures as the ORM path too.
    plain.crs = pyproj.CRS(observation.crs).to_wkt()
    plain.transform = [10.0, 2.0, 367588.2, 1.5, -10.0, 6960504.4]
    (one,) = polygons(2)[1:]
    georeferenced = write_predictions(db_session, plain, "m1", [one], classes=CLASSES)
    stored_one = db_session.get(Region, georeferenced.region_ids[0])
    expected = orm_measures(db_session, plain, one)
    assert stored_one is not None and stored_one.geom_wgs84 is not None and expected.geom_wgs84 is not None
    assert to_shape(stored_one.geom_wgs84).equals_exact(to_shape(expected.geom_wgs84), 1e-9)
    assert expected.area_ha is not None and stored_one.area_ha == pytest.approx(expected.area_ha, rel=1e-9)
    human = write_predictions(
        db_session,
        plain,
        "m3",
        [PredictedPolygon(shape(0), "Pit", source=RegionSource.HUMAN)],
        classes=CLASSES,
    )
    stored = db_session.get(Region, human.region_ids[0])
    assert stored is not None and stored.source is RegionSource.MODEL  # a prediction is a machine's


def test_a_bad_label_or_score_is_refused_before_anything_is_stored(
    db_session: Session, observation: Observation
) -> None:
    batch = polygons(6000)
    batch[5000] = PredictedPolygon(shape(5000), "Lake", score=0.5)
    with pytest.raises(UnknownLabelError, match="Region 5001: 'Lake' is not a class") as error:
        write_predictions(db_session, observation, "m", batch, classes=CLASSES)
    assert error.value.extra == {"region_id": None, "region_index": 5000}
    batch[5000] = PredictedPolygon(shape(5000), "Pit", score=1.5)
    with pytest.raises(InvalidInputError, match="between 0 and 1") as score_error:
        write_predictions(db_session, observation, "m", batch, classes=CLASSES)
    assert score_error.value.extra["region_index"] == 5000
    line = shp.LineString([(0, 0), (5, 5)])
    batch[5000] = PredictedPolygon(line, "Pit")  # type: ignore[arg-type]  # what a careless caller sends
    with pytest.raises(RegionGeometryError, match="not a polygon"):
        write_predictions(db_session, observation, "m", batch, classes=CLASSES)
    with pytest.raises(InvalidInputError, match="model version"):
        write_predictions(db_session, observation, "m" * 201, polygons(2), classes=CLASSES)
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 0
    assert db_session.scalar(select(func.count()).select_from(Region)) == 0
