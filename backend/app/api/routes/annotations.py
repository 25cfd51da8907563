"""Annotations of an observation: create, read, save whole or save changes (versioned), delete, history,
restore."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.access import Access, AccessDep, sees_only_own
from app.api.annotation_stream import begin_snapshot, stream_lines
from app.api.deps import QueryBool, SessionDep, SettingsDep
from app.api.idempotency import fingerprint, remember, replay
from app.api.leases import renew_lease_on_edit
from app.api.presenters import annotation_head, region_feature
from app.core.errors import InvalidInputError, NotFoundError
from app.interop.labeling_config import parse_labeling_config
from app.labels.topology import TopologyWarning
from app.models.annotation import Annotation, Region, Revision, RevisionAction
from app.models.observation import Observation
from app.models.project import Project
from app.repositories.labels import annotation_features_json
from app.repositories.warnings import stored_warnings_json
from app.schemas.annotation import (
    AnnotationChanges,
    AnnotationChangesRead,
    AnnotationCreate,
    AnnotationOpenRead,
    AnnotationRead,
    AnnotationSave,
    AnnotationStreamLine,
    ChangeConflictRead,
    GeometryChangeRead,
    PredictionRegionIn,
    RegionErrorRead,
    RegionIn,
    RestoreRequest,
    RevisionRead,
    SavedRegionRead,
    TopologyWarningCodeRead,
    TopologyWarningRead,
)
from app.services import annotation_changes
from app.services import annotations as service

router = APIRouter(tags=["annotations"])

RepairQuery = Annotated[QueryBool, Query(description="Repair self-intersections with PostGIS ST_MakeValid.")]
ClipQuery = Annotated[QueryBool, Query(description="Cut regions to the image instead of refusing them.")]
# Regions per line of the stream, at most (a line is parsed at once by the client: ~0.5 MiB).
STREAM_PAGE_MAX = 5000
PageSizeQuery = Annotated[int, Query(ge=1, le=STREAM_PAGE_MAX, description="Regions per `regions` line.")]
Wgs84Query = Annotated[
    QueryBool,
    Query(
        description="Include each region's EPSG:4326 copy (`geometry_wgs84`); false leaves it null, which "
        "halves the body for a client that draws in pixels (the labeling view)."
    ),
]
IdempotencyKey = Annotated[str | None, Header(max_length=200, description="Makes a retried request a no-op.")]
IfMatch = Annotated[str | None, Header(description="The annotation version the change is based on.")]
_VERSION = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')
# Routes that check regions say what their refusals look like. (A body that does not match the schema at
# all still gets FastAPI's 422, whose `detail` is a list of problems.)
REGION_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": RegionErrorRead, "description": "A region was refused: `region_id`, `region_index` and "
          "`reason` say which and why; nothing was stored."},
}  # fmt: skip


class ObservationNotFoundError(NotFoundError):
    code = "observation_not_found"


def annotation_read(
    annotation: Annotation, regions: list[Region], result: service.SaveResult | None = None
) -> AnnotationRead:
    return AnnotationRead(
        **annotation_head(annotation),
        regions=[region_feature(r) for r in regions],
        changes=[GeometryChangeRead.model_validate(c) for c in result.changes] if result else [],
        warnings=warnings_read(result.warnings) if result else [],
    )


def owner_filter(access: Access) -> uuid.UUID | None:
    """Whose annotations a task's list holds for this caller: only their own (annotators, unless the project
    shares them), else everyone's (None)."""
    return access.user_id if sees_only_own(access) else None


def task_classes(session: Session, annotations: Sequence[Annotation]) -> list[str]:
    """The class names of the project the annotations belong to (none without annotations)."""
    project = session.get(Project, annotations[0].project_id) if annotations else None
    return parse_labeling_config(project.labeling_config).class_names if project else []


def warnings_read(warnings: Sequence[TopologyWarning]) -> list[TopologyWarningRead]:
    return [TopologyWarningRead.model_validate(w) for w in warnings]


def region_inputs(regions: Sequence[RegionIn], *, listed: bool = True) -> list[service.RegionInput]:
    """The service's inputs; ``listed``: the body is a list of regions, so errors name their positions."""
    return [
        service.RegionInput(
            id=r.id,
            label=r.label,
            geometry=r.geometry,
            source=r.source,
            score=r.score,
            accepted_from=r.accepted_from,
            carried_from=r.carried_from if isinstance(r, PredictionRegionIn) else None,
            ancestor_id=r.ancestor_id,
            position=index if listed else None,
        )
        for index, r in enumerate(regions)
    ]


def based_on_version(if_match: str | None, body_version: int | None) -> int:
    if body_version is not None:
        return body_version
    match = _VERSION.match(if_match or "")
    if match is None:
        raise InvalidInputError(
            'Say which version the change is based on: an If-Match header ("3") or "version" in the body.'
        )
    return int(match[1])


def annotation_response(
    result: service.SaveResult,
    code: int,
    session: Session | None = None,
    idempotency_key: str | None = None,
    request_print: str = "",
) -> JSONResponse:
    """The saved annotation with its version as ETag; remembered for replay when a key was given."""
    body = annotation_read(result.annotation, result.regions, result).model_dump(mode="json")
    if session is not None:
        remember(session, idempotency_key, request_print, code, body)
    return JSONResponse(status_code=code, content=body, headers={"ETag": f'"{result.annotation.version}"'})


@router.post(
    "/api/observations/{observation_id}/annotations",
    response_model=AnnotationRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create an annotation (a person's regions on this task)",
    responses=REGION_ERRORS,
    dependencies=[Depends(renew_lease_on_edit)],
)
def create_annotation(
    observation_id: uuid.UUID,
    body: AnnotationCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    access: AccessDep,
    repair: RepairQuery = False,
    clip: ClipQuery = False,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    print_ = fingerprint("POST", request.url.path, body)
    if (replayed := replay(session, idempotency_key, print_)) is not None:
        return replayed
    observation = session.get(Observation, observation_id)
    if observation is None:
        raise ObservationNotFoundError(f"No observation with id {observation_id}.")
    if body.copy_from is not None and body.regions:
        raise InvalidInputError("Give either regions or copy_from, not both.")
    regions = (
        service.copy_of(session, observation, body.copy_from)
        if body.copy_from is not None
        else region_inputs(body.regions)
    )
    result = service.create_annotation(
        session, observation, regions, settings.limits, user_id=access.user_id, repair=repair, clip=clip
    )
    return annotation_response(result, status.HTTP_201_CREATED, session, idempotency_key, print_)


@router.get(
    "/api/observations/{observation_id}/annotations",
    response_model=list[AnnotationOpenRead],
    summary="The task's annotations, not deleted (annotators: their own, unless the project shares them)",
)
def list_annotations(
    observation_id: uuid.UUID, session: SessionDep, access: AccessDep, wgs84: Wgs84Query = True
) -> Response:
    annotations = service.task_annotations(session, observation_id, owner_filter(access))
    if not annotations:
        return Response(b"[]", media_type="application/json")
    # The topology warnings come along, so a client shows them on opening the task, not only after a save:
    # those its saves stored (docs/adr/2026-12-02-stored-topology-warnings.md).
    service.store_missing_warnings(session, annotations, task_classes(session, annotations))
    warnings = {a.id: stored_warnings_json(session, a) or "[]" for a in annotations}  # all current now
    session.commit()  # warnings checked for the first time are kept
    # The regions' and the warnings' JSON comes from PostgreSQL as it is (the same RegionFeature and
    # TopologyWarningCodeRead objects, without a Python object for each of 10,000 regions and 30,000
    # warnings); the rest of each AnnotationOpenRead is built as usual.
    body = []
    for a in annotations:
        head = annotation_read(a, []).model_dump(mode="json")
        head["regions"] = orjson.Fragment(annotation_features_json(session, a.id, wgs84=wgs84))
        head["warnings"] = orjson.Fragment(warnings[a.id])
        body.append(head)
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/api/observations/{observation_id}/annotations/stream",
    response_model=AnnotationStreamLine,
    response_class=StreamingResponse,
    summary="The task's annotations as a stream of lines (NDJSON), for opening a task",
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "AnnotationStreamLine lines."}},
)
def stream_annotations(
    observation_id: uuid.UUID,
    session: SessionDep,
    access: AccessDep,
    wgs84: Wgs84Query = True,
    page_size: PageSizeQuery = 1000,
) -> StreamingResponse:
    """What the task's list answers (the same annotations, regions and warnings), as lines a client reads
    while the rest still comes: each annotation, its regions in pages, its warnings, then `end` with the
    counts. All lines are one snapshot of the task (a save meanwhile is not half in it)."""
    only_of = owner_filter(access)
    annotations = service.task_annotations(session, observation_id, only_of)
    classes = task_classes(session, annotations)
    service.store_missing_warnings(session, annotations, classes)
    session.commit()  # warnings checked for the first time are kept
    # The stream reads in one snapshot; the request's session stays open until the response is sent.
    begin_snapshot(session)
    lines = stream_lines(session, observation_id, only_of, classes, page_size=page_size, wgs84=wgs84)
    return StreamingResponse(lines, media_type="application/x-ndjson")


@router.get(
    "/api/annotations/{annotation_id}", response_model=AnnotationRead, summary="An annotation and its regions"
)
def read_annotation(annotation_id: uuid.UUID, session: SessionDep, response: Response) -> AnnotationRead:
    annotation = service.get_annotation_or_raise(session, annotation_id)
    response.headers["ETag"] = f'"{annotation.version}"'
    return annotation_read(annotation, service.live_regions(session, annotation.id))


@router.put(
    "/api/annotations/{annotation_id}",
    response_model=AnnotationRead,
    summary="Save the whole annotation: its regions become exactly these",
    responses={
        **REGION_ERRORS,
        409: {"description": "The annotation changed since `version`; `current` holds its state."},
    },
    dependencies=[Depends(renew_lease_on_edit)],
)
def save_annotation(
    annotation_id: uuid.UUID,
    body: AnnotationSave,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    access: AccessDep,
    repair: RepairQuery = False,
    clip: ClipQuery = False,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Regions with a known id are updated, new ids created, missing ones deleted (tombstones). A stale
    version gets 409 and changes nothing."""
    print_ = fingerprint("PUT", request.url.path, body)
    if (replayed := replay(session, idempotency_key, print_)) is not None:
        return replayed
    result = service.save_annotation(
        session, annotation_id, based_on_version(if_match, body.version), region_inputs(body.regions),
        settings.limits, user_id=access.user_id, repair=repair, clip=clip,
    )  # fmt: skip
    return annotation_response(result, status.HTTP_200_OK, session, idempotency_key, print_)


@router.patch(
    "/api/annotations/{annotation_id}",
    response_model=AnnotationChangesRead,
    summary="Save what changed: add or replace these regions, delete those, as one new version",
    responses={
        **REGION_ERRORS,
        409: {
            "model": ChangeConflictRead,
            "description": "The annotation changed since `version`; `current` holds what changed after it "
            "(or a taken region id: `region_id_taken`).",
        },
    },
    dependencies=[Depends(renew_lease_on_edit)],
)
def change_annotation(
    annotation_id: uuid.UUID,
    body: AnnotationChanges,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    access: AccessDep,
    repair: RepairQuery = False,
    clip: ClipQuery = False,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The autosave's save: costs what changed, not the annotation's size. Regions not named stay as they
    are; their topology warnings are checked again only where the change touches them (`checked`). A stale
    version gets 409 with what changed since it and changes nothing."""
    print_ = fingerprint("PATCH", request.url.path, body)
    if (replayed := replay(session, idempotency_key, print_)) is not None:
        return replayed
    version = based_on_version(if_match, body.version)
    result = annotation_changes.change_annotation(
        session,
        annotation_id,
        version,
        region_inputs(body.regions),
        body.deleted,
        settings.limits,
        user_id=access.user_id,
        repair=repair,
        clip=clip,
    )
    reshaped = {c.region_id for c in result.changes}
    read = AnnotationChangesRead(
        id=result.annotation.id,
        version=result.annotation.version,
        updated_at=result.annotation.updated_at,
        saved=[SavedRegionRead(id=r.id, version=r.version) for r in result.regions],
        regions=[region_feature(r) for r in result.regions if r.id in reshaped],
        deleted=result.deleted,
        changes=[GeometryChangeRead.model_validate(c) for c in result.changes],
        warnings=[TopologyWarningCodeRead.model_validate(w) for w in result.warnings],
        checked=result.checked,
    )
    content = read.model_dump(mode="json")
    remember(session, idempotency_key, print_, status.HTTP_200_OK, content)
    return JSONResponse(content=content, headers={"ETag": f'"{result.annotation.version}"'})


@router.delete(
    "/api/annotations/{annotation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete (a tombstone)",
    dependencies=[Depends(renew_lease_on_edit)],
)
def delete_annotation(
    annotation_id: uuid.UUID, session: SessionDep, access: AccessDep, if_match: IfMatch = None
) -> None:
    service.delete_annotation(
        session, annotation_id, based_on_version(if_match, None), user_id=access.user_id
    )


@router.get(
    "/api/annotations/{annotation_id}/revisions",
    response_model=list[RevisionRead],
    summary="Every change to the annotation, oldest first",
)
def list_revisions(annotation_id: uuid.UUID, session: SessionDep) -> list[RevisionRead]:
    service.get_annotation_or_raise(session, annotation_id)
    revisions = session.scalars(
        select(Revision).where(Revision.annotation_id == annotation_id).order_by(Revision.id)
    )
    return [RevisionRead.model_validate(r) for r in revisions]


@router.post(
    "/api/annotations/{annotation_id}/restore",
    response_model=AnnotationRead,
    summary="Bring back the regions of an earlier version, as a new version",
    dependencies=[Depends(renew_lease_on_edit)],
)
def restore_annotation(
    annotation_id: uuid.UUID,
    body: RestoreRequest,
    session: SessionDep,
    settings: SettingsDep,
    access: AccessDep,
    if_match: IfMatch = None,
) -> Response:
    current = service.get_annotation_or_raise(session, annotation_id)
    if body.version > current.version:
        raise InvalidInputError(
            f"Version {body.version} does not exist yet; the annotation is at {current.version}."
        )
    regions = service.regions_at_version(session, annotation_id, body.version)
    result = service.save_annotation(
        session, annotation_id, based_on_version(if_match, body.based_on_version), regions, settings.limits,
        action=RevisionAction.RESTORE, user_id=access.user_id,
    )  # fmt: skip
    return annotation_response(result, status.HTTP_200_OK)
