"""Single regions (checked against their own version), the viewport query, per-class statistics, and
predictions."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field

from app.api.access import AccessDep, sees_only_own
from app.api.deps import SessionDep, SettingsDep
from app.api.leases import renew_lease_on_edit
from app.api.presenters import region_feature, viewport_feature
from app.api.routes.annotations import (
    REGION_ERRORS,
    ClipQuery,
    IfMatch,
    ObservationNotFoundError,
    RepairQuery,
    annotation_response,
    based_on_version,
    region_inputs,
)
from app.core.errors import InvalidInputError
from app.models.annotation import Prediction, Region
from app.models.observation import Observation, TaskState
from app.repositories.ground_truth import task_annotations
from app.repositories.labels import class_stats, regions_in_viewport
from app.schemas.annotation import PredictionRegionIn, RegionAdd, RegionFeature, RegionIn
from app.schemas.base import RequestModel
from app.services import annotations as service
from app.services.predictions import create_prediction, delete_prediction

router = APIRouter(tags=["regions"])


@router.post(
    "/api/annotations/{annotation_id}/regions",
    summary="Add one region (a client-chosen id makes a retry a no-op)",
    status_code=status.HTTP_201_CREATED,
    responses=REGION_ERRORS,
    dependencies=[Depends(renew_lease_on_edit)],
)
def add_region(
    annotation_id: uuid.UUID,
    body: RegionAdd,
    session: SessionDep,
    settings: SettingsDep,
    access: AccessDep,
    repair: RepairQuery = False,
    clip: ClipQuery = False,
    if_match: IfMatch = None,
) -> Response:
    """Like every change, it names the annotation version it is based on: a stale one gets 409 with
    `current`. A retried add (same region id) is a no-op whatever its version."""
    (item,) = region_inputs([body], listed=False)
    result = service.add_region(
        session,
        annotation_id,
        based_on_version(if_match, body.version),
        item,
        settings.limits,
        user_id=access.user_id,
        repair=repair,
        clip=clip,
    )
    return annotation_response(result, status.HTTP_201_CREATED)


@router.get(
    "/api/regions/{region_id}", response_model=RegionFeature, summary="One region (ETag: its version)"
)
def read_region(region_id: uuid.UUID, session: SessionDep, response: Response) -> RegionFeature:
    region = session.get(Region, region_id)
    if region is None or region.deleted_at is not None:
        raise service.RegionNotFoundError(f"No region with id {region_id}.")
    response.headers["ETag"] = f'"{region.version}"'
    prediction = session.get(Prediction, region.prediction_id) if region.prediction_id else None
    return region_feature(region, prediction.model_version if prediction else None)


@router.put(
    "/api/regions/{region_id}",
    summary="Replace one region; If-Match carries the region's version",
    responses={**REGION_ERRORS, 409: {"description": "The region changed meanwhile; `current` holds it."}},
    dependencies=[Depends(renew_lease_on_edit)],
)
def replace_region(
    region_id: uuid.UUID, body: RegionIn, session: SessionDep, settings: SettingsDep, access: AccessDep,
    repair: RepairQuery = False, clip: ClipQuery = False, if_match: IfMatch = None,
) -> Response:  # fmt: skip
    if body.id is not None and body.id != region_id:
        raise InvalidInputError(f"The body's id {body.id} is not the region {region_id} of the URL.")
    (item,) = region_inputs([body.model_copy(update={"id": region_id})], listed=False)
    result = service.change_region(
        session, region_id, based_on_version(if_match, None), item, settings.limits, user_id=access.user_id,
        repair=repair, clip=clip,
    )  # fmt: skip
    return annotation_response(result, status.HTTP_200_OK)


@router.delete(
    "/api/regions/{region_id}",
    summary="Delete one region (a tombstone); If-Match: its version",
    dependencies=[Depends(renew_lease_on_edit)],
)
def delete_region(
    region_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    access: AccessDep,
    if_match: IfMatch = None,
) -> Response:
    result = service.change_region(
        session, region_id, based_on_version(if_match, None), None, settings.limits, user_id=access.user_id
    )
    return annotation_response(result, status.HTTP_200_OK)


class RegionCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[RegionFeature]
    truncated: bool = Field(description="True when more regions matched than `limit`.")


@router.get(
    "/api/observations/{observation_id}/regions",
    response_model=RegionCollection,
    summary="Regions in a viewport, in pixel or map coordinates (annotators: their own, unless shared)",
)
def viewport(
    observation_id: uuid.UUID,
    session: SessionDep,
    access: AccessDep,
    bbox: Annotated[str, Query(description="minx,miny,maxx,maxy in the chosen coordinates.")],
    crs: Annotated[Literal["pixel", "EPSG:4326"], Query()] = "pixel",
    simplify: Annotated[
        float, Query(ge=0, description="Tolerance (same units) for display at low zoom.")
    ] = 0.0,
    kind: Annotated[Literal["annotations", "predictions"], Query()] = "annotations",
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5000,
) -> RegionCollection:
    try:
        x0, y0, x1, y1 = (float(v) for v in bbox.split(","))
    except ValueError as exc:
        raise InvalidInputError(f"bbox must be four numbers minx,miny,maxx,maxy, not {bbox!r}.") from exc
    if x1 <= x0 or y1 <= y0:
        raise InvalidInputError("bbox must have minx < maxx and miny < maxy.")
    rows = regions_in_viewport(
        session, observation_id, (x0, y0, x1, y1), wgs84=crs == "EPSG:4326", simplify=simplify,
        predictions=kind == "predictions", limit=limit + 1,
        author=access.user_id if kind == "annotations" and sees_only_own(access) else None,
    )  # fmt: skip
    features = [viewport_feature(row) for row in rows[:limit]]
    return RegionCollection(features=features, truncated=len(rows) > limit)


@router.get(
    "/api/observations/{observation_id}/approved-regions",
    response_model=RegionCollection,
    summary="The regions of an approved task (its ground truth), to start the next observation from",
)
def approved_regions(observation_id: uuid.UUID, session: SessionDep) -> RegionCollection:
    """Approved labels are the project's ground truth, so every member may read them, also annotators of a
    project that keeps drafts private. A task that is not approved has none (an empty collection)."""
    observation = session.get(Observation, observation_id)
    if observation is None:
        raise ObservationNotFoundError(f"No observation with id {observation_id}.")
    if observation.task_state is not TaskState.APPROVED:
        return RegionCollection(features=[], truncated=False)
    truth = task_annotations(session, [observation_id]).get(observation_id)
    regions = service.live_regions(session, truth) if truth is not None else []
    return RegionCollection(features=[region_feature(r) for r in regions], truncated=False)


class ClassStat(BaseModel):
    observation_id: uuid.UUID
    label: str
    regions: int
    area_px: float
    area_ha: float | None


@router.get(
    "/api/projects/{project_id}/label-stats",
    response_model=list[ClassStat],
    summary="Per task and class: number of regions and their areas (people's annotations)",
)
def label_stats(
    project_id: uuid.UUID, session: SessionDep, observation_id: uuid.UUID | None = None
) -> list[ClassStat]:
    rows = class_stats(session, project_id=project_id, observation_id=observation_id)
    return [ClassStat(**row._mapping) for row in rows]


class PredictionCreate(RequestModel):
    model_version: str = Field(min_length=1, max_length=200)
    score: float | None = Field(default=None, ge=0, le=1)
    regions: list[PredictionRegionIn]


class PredictionRead(BaseModel):
    id: uuid.UUID
    observation_id: uuid.UUID
    model_version: str
    score: float | None
    regions: list[RegionFeature]


@router.post(
    "/api/observations/{observation_id}/predictions",
    response_model=PredictionRead,
    status_code=status.HTTP_201_CREATED,
    summary="Store a model's regions as a prediction (kept apart from annotations)",
    responses=REGION_ERRORS,
)
def add_prediction(
    observation_id: uuid.UUID, body: PredictionCreate, session: SessionDep, settings: SettingsDep,
    repair: RepairQuery = False, clip: ClipQuery = False,
) -> PredictionRead:  # fmt: skip
    observation = session.get(Observation, observation_id)
    if observation is None:
        raise ObservationNotFoundError(f"No observation with id {observation_id}.")
    prediction, regions = create_prediction(
        session, observation, body.model_version, body.score, region_inputs(body.regions), settings.limits,
        repair=repair, clip=clip,
    )  # fmt: skip
    return PredictionRead(
        id=prediction.id, observation_id=observation.id, model_version=prediction.model_version,
        score=prediction.score, regions=[region_feature(r, prediction.model_version) for r in regions],
    )  # fmt: skip


@router.delete(
    "/api/predictions/{prediction_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a prediction"
)
def remove_prediction(prediction_id: uuid.UUID, session: SessionDep) -> None:
    delete_prediction(session, prediction_id)
