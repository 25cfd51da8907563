"""Predictions: a model's regions on a task, kept apart from people's annotations (never overwriting them)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from app.core.config import LimitSettings
from app.core.errors import NotFoundError
from app.interop.labeling_config import parse_labeling_config
from app.labels.geometry import check_region_geometry
from app.labels.regions import check_label
from app.models.annotation import Prediction, Region, RegionSource
from app.models.observation import Observation
from app.models.project import Project
from app.repositories.labels import postgis_make_valid
from app.services.annotations import RegionIdTakenError, RegionInput, fill_region, region_ref


class PredictionNotFoundError(NotFoundError):
    code = "prediction_not_found"


def create_prediction(
    session: Session,
    observation: Observation,
    model_version: str,
    score: float | None,
    regions: list[RegionInput],
    limits: LimitSettings,
    *,
    repair: bool = False,
    clip: bool = False,
    commit: bool = True,
    import_key: str | None = None,
) -> tuple[Prediction, list[Region]]:
    """Store a model's regions as one prediction, all checked like human ones, in one transaction
    (``commit=False`` only flushes, for imports that store many in one)."""
    project = session.get(Project, observation.project_id)
    assert project is not None
    classes = parse_labeling_config(project.labeling_config).class_names
    prediction = Prediction(id=uuid.uuid4(), project_id=project.id, observation_id=observation.id,
                            model_version=model_version, score=score, import_key=import_key)  # fmt: skip
    session.add(prediction)
    session.flush()
    stored = []
    for number, item in enumerate(regions, start=1):
        ref = region_ref(number, item)
        check_label(item.label, ref, classes)
        checked = check_region_geometry(
            item.geometry, region=ref, width=observation.width, height=observation.height,
            max_vertices=limits.max_polygon_vertices, repair=repair, clip=clip,
            make_valid=postgis_make_valid(session),
        )  # fmt: skip
        if item.id is not None and session.get(Region, item.id) is not None:
            raise RegionIdTakenError(f"Region {ref.name}: id {item.id} is taken.", **ref.error_fields())
        region = Region(id=item.id or uuid.uuid4(), project_id=project.id, observation_id=observation.id,
                        prediction_id=prediction.id)  # fmt: skip
        source = item.source if item.source is not RegionSource.HUMAN else RegionSource.MODEL
        fill_region(
            session, region, RegionInput(**{**item.__dict__, "source": source}), checked.geometry, observation
        )
        session.add(region)
        stored.append(region)
    if commit:
        session.commit()
    else:
        session.flush()
    return prediction, stored


def delete_prediction(session: Session, prediction_id: uuid.UUID) -> None:
    prediction = session.get(Prediction, prediction_id)
    if prediction is None:
        raise PredictionNotFoundError(f"No prediction with id {prediction_id}.")
    session.delete(prediction)
    session.commit()
