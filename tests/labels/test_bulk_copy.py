"""Binary COPY of regions: what bulk imports and the viewport benchmark use."""

from __future__ import annotations

import uuid

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Annotation, Observation, Region, RegionSource
from app.repositories.labels import copy_regions, regions_in_viewport
from tests.labels.test_annotations_api import observation

__all__ = ["observation"]  # the fixture, shared


def test_copy_regions_stores_readable_geometry(db_session: Session, observation: Observation) -> None:
    annotation = Annotation(project_id=observation.project_id, observation_id=observation.id)
    db_session.add(annotation)
    db_session.flush()
    shapes = [shapely.MultiPolygon([shapely.box(10 * i, 10 * i, 10 * i + 5, 10 * i + 5)]) for i in range(3)]
    wgs84 = shapely.set_srid(shapely.MultiPolygon([shapely.box(-70.3, -27.5, -70.29, -27.49)]), 4326)
    wgs84_wkb = shapely.to_wkb(wgs84, include_srid=True)
    rows = [
        (uuid.uuid4(), observation.project_id, observation.id, annotation.id, None, "Pit", "human", None,
         shapely.to_wkb(shape), wgs84_wkb if i == 0 else None, shape.area, None, 1)
        for i, shape in enumerate(shapes)
    ]  # fmt: skip
    assert copy_regions(db_session, rows) == 3
    assert copy_regions(db_session, []) == 0
    stored = db_session.scalars(select(Region).order_by(Region.area_px)).all()
    assert len(stored) == 3 and all(r.source is RegionSource.HUMAN for r in stored)
    found = regions_in_viewport(
        db_session, observation.id, (0, 0, 12, 12), wgs84=False, simplify=0, predictions=False, limit=10
    )
    assert len(found) == 2  # the boxes at 0 and 10 px, not the one at 20
    box = (-70.31, -27.51, -70.28, -27.48)
    in_degrees = regions_in_viewport(
        db_session, observation.id, box, wgs84=True, simplify=0, predictions=False, limit=10
    )
    assert len(in_degrees) == 1
