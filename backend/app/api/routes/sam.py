"""Segment Anything: is it set up, its decoder (for the browser), prompts to polygons, and the jobs that embed
observations, pre-label them and carry the previous date's labels forward."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from app.api.access import AccessDep
from app.api.deps import CeleryDep, QueryBool, SessionDep, SettingsDep, StorageDep
from app.api.presenters import job_read
from app.core.errors import ConflictError, NotFoundError
from app.models.observation import Observation, ObservationStatus
from app.models.project import Project, Site
from app.schemas.base import RequestModel
from app.schemas.job import JobRead
from app.schemas.sam import (
    EmbeddingManifest,
    SamAnswer,
    SamCarryForwardParams,
    SamPrelabelParams,
    SamPrompt,
    SamStatus,
    SamWindowRead,
)
from app.services import sam as sam_service
from app.services.imagery_processing import render_spec
from app.services.sam_decoder import Decoder
from app.services.sam_embeddings import raw_float16, read_decoder, read_manifest, why_stale
from app.services.selection import ready_observations

router = APIRouter(tags=["sam"])


class ObservationNotFoundError(NotFoundError):
    code = "observation_not_found"


async def get_decoder(request: Request) -> Decoder:
    decoder: Decoder = request.app.state.sam_decoder
    return decoder


DecoderDep = Annotated[Decoder, Depends(get_decoder)]


@router.get("/api/sam/status", response_model=SamStatus, summary="Whether SAM is set up, and with what")
def sam_status(settings: SettingsDep, storage: StorageDep) -> SamStatus:
    return sam_service.status(settings, storage)


@router.get(
    "/api/sam/decoder.onnx",
    response_class=Response,
    summary="SAM's prompt decoder (ONNX) for the current checkpoint, for decoding in the browser",
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def sam_decoder_file(settings: SettingsDep, storage: StorageDep) -> Response:
    if settings.sam.checkpoint is None:
        raise sam_service.SamNotSetUpError(sam_service.SETUP_MESSAGE)
    decoder = read_decoder(storage)
    if decoder is None:
        raise ConflictError(
            "SAM's decoder has not been exported yet: a GPU worker does it with the first embeddings."
        )
    return Response(
        storage.get_bytes(decoder.decoder_key),
        media_type="application/octet-stream",
        headers={
            "ETag": f'"{decoder.checkpoint_hash}"',
            "X-Checkpoint-Hash": decoder.checkpoint_hash,
            # Stable URL, changing content: revalidate with the ETag (a 200 only when the checkpoint changed).
            "Cache-Control": "private, no-cache",
        },
    )


def _observation(session: SessionDep, observation_id: uuid.UUID) -> Observation:
    observation = session.get(Observation, observation_id)
    if observation is None:
        raise ObservationNotFoundError(f"No observation with id {observation_id}.")
    return observation


@router.post(
    "/api/observations/{observation_id}/sam",
    response_model=SamAnswer,
    summary="Segment what the prompt points at: positive/negative points and/or a box -> polygon(s)",
    responses={
        409: {"description": "Embeddings missing or stale: `job_id` names the job computing them."},
        503: {"description": "SAM is not set up (no SAM__CHECKPOINT)."},
    },
)
def sam_prompt(
    observation_id: uuid.UUID,
    body: SamPrompt,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    celery: CeleryDep,
    decoder: DecoderDep,
    access: AccessDep,
) -> SamAnswer:
    """Decoded on the API's CPU from the observation's stored embedding; nothing is stored."""
    observation = _observation(session, observation_id)
    onnx, manifest = sam_service.embeddings_for_prompt(
        session, celery, settings, storage, observation, access.user_id
    )
    return decoder.decode(onnx, manifest, body, settings.sam)


class EmbeddingsRead(BaseModel):
    state: Literal["current", "stale", "missing"]
    reason: str | None
    manifest: EmbeddingManifest | None
    job: JobRead | None = Field(
        description="The sam_embed job computing them, when one is queued or running."
    )
    min_area_px: float = Field(description="SAM__MIN_AREA_PX: what a browser decoding them drops.")
    simplify_px: float = Field(description="SAM__SIMPLIFY_PX: the simplification a browser starts with.")
    max_polygon_vertices: int = Field(
        description="LIMITS__MAX_POLYGON_VERTICES: a mask outlined with more cannot be saved as a region."
    )


@router.get(
    "/api/observations/{observation_id}/sam/embeddings",
    response_model=EmbeddingsRead,
    summary="The observation's SAM embeddings: whether they are current, their windows, the job making them",
)
def sam_embeddings(
    observation_id: uuid.UUID, session: SessionDep, settings: SettingsDep, storage: StorageDep
) -> EmbeddingsRead:
    observation = _observation(session, observation_id)
    if settings.sam.checkpoint is None:
        raise sam_service.SamNotSetUpError(sam_service.SETUP_MESSAGE)
    manifest = read_manifest(storage, observation)
    decoder = read_decoder(storage)
    reason = None
    if observation.status is ObservationStatus.READY:
        site, project = session.get(Site, observation.site_id), session.get(Project, observation.project_id)
        assert site is not None and project is not None
        spec = render_spec(observation, site, project.display_preset)
        reason = why_stale(manifest, decoder.checkpoint_hash if decoder else None, spec, settings.sam)
    pending = sam_service.pending_embed_job(session, observation.id)
    state: Literal["current", "stale", "missing"] = (
        "missing" if manifest is None else "stale" if reason else "current"
    )
    return EmbeddingsRead(
        state=state,
        reason=reason,
        manifest=manifest,
        job=job_read(pending) if pending else None,
        min_area_px=settings.sam.min_area_px,
        simplify_px=settings.sam.simplify_px,
        max_polygon_vertices=settings.limits.max_polygon_vertices,
    )


class EmbeddingWindowNotFoundError(NotFoundError):
    code = "sam_window_not_found"


class HoverMapNotFoundError(NotFoundError):
    code = "sam_hover_map_not_found"


def _stored_window(
    session: SessionDep, settings: SettingsDep, storage: StorageDep, observation_id: uuid.UUID, index: int
) -> tuple[Observation, SamWindowRead | None]:
    """The observation and its current embeddings' window ``index`` (None when there is no such window)."""
    observation = _observation(session, observation_id)
    if settings.sam.checkpoint is None:
        raise sam_service.SamNotSetUpError(sam_service.SETUP_MESSAGE)
    manifest = read_manifest(storage, observation)
    window = next((w for w in manifest.windows if w.index == index), None) if manifest else None
    return observation, window


def _kept_by_etag(request: Request, key: str, body: Callable[[], bytes]) -> Response:
    """Stored bytes with an ETag of their key (a new set of embeddings has new keys), so that the browser
    keeps them and revalidates with a 304."""
    etag = f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body(), media_type="application/octet-stream", headers=headers)


@router.get(
    "/api/observations/{observation_id}/sam/embeddings/{window_index}",
    response_class=Response,
    summary="One window's embedding as raw float16 (256 x 64 x 64, little-endian, C order), for the browser",
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {"description": "No such window."}},
)
def sam_embedding_window(
    observation_id: uuid.UUID,
    window_index: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> Response:
    """The bytes of the window the manifest names, without the .npy header, so that the browser hands them
    to the decoder as they are; an ETag of the stored set lets the browser keep them (a 304 afterwards)."""
    _, window = _stored_window(session, settings, storage, observation_id, window_index)
    if window is None:
        raise EmbeddingWindowNotFoundError(
            f"Observation {observation_id} has no SAM embedding window {window_index}: read the windows "
            f"from GET /api/observations/{observation_id}/sam/embeddings (compute them first if missing)."
        )
    key = window.key
    return _kept_by_etag(request, key, lambda: raw_float16(storage.get_bytes(key)))


@router.get(
    "/api/observations/{observation_id}/sam/hover/{window_index}",
    response_class=Response,
    summary="One window's hover map: the masks of a grid of points, for previews under the pointer",
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {"description": "No hover map."}},
)
def sam_hover_map(
    observation_id: uuid.UUID,
    window_index: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> Response:
    """The stored bytes (app/ml/sam_hover.py gives the format), with an ETag like the embeddings'."""
    observation, window = _stored_window(session, settings, storage, observation_id, window_index)
    if window is None or window.hover_key is None:
        raise HoverMapNotFoundError(
            f"Observation {observation_id} has no SAM hover map for window {window_index}: its embeddings "
            "were made without (SAM__HOVER_POINTS_PER_SIDE 0, or an earlier version); compute them again "
            f"with POST /api/projects/{observation.project_id}/sam/embed?force=true."
        )
    key = window.hover_key
    return _kept_by_etag(request, key, lambda: storage.get_bytes(key))


class SamSelection(RequestModel):
    """Which observations of the project: given ids, a site, a date range; by default every ready one."""

    observation_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100_000)
    site_id: uuid.UUID | None = None
    date_from: date | None = None
    date_to: date | None = None


def _select(session: SessionDep, project_id: uuid.UUID, selection: SamSelection) -> list[uuid.UUID]:
    return ready_observations(
        session,
        project_id,
        ids=selection.observation_ids,
        site_id=selection.site_id,
        date_from=selection.date_from,
        date_to=selection.date_to,
    )


class PrelabelRequest(SamSelection):
    points_per_side: int | None = Field(default=None, ge=1, le=64)
    pred_iou_thresh: float | None = Field(default=None, ge=0, le=1)
    stability_score_thresh: float | None = Field(default=None, ge=0, le=1)


@router.post(
    "/api/projects/{project_id}/sam/embed",
    response_model=JobRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Compute SAM embeddings of the selected observations (missing or stale ones; all with force)",
)
def sam_embed_project(
    project_id: uuid.UUID,
    body: SamSelection,
    session: SessionDep,
    settings: SettingsDep,
    celery: CeleryDep,
    access: AccessDep,
    force: Annotated[QueryBool, Query(description="Encode current ones again too.")] = False,
) -> JobRead:
    ids = _select(session, project_id, body)
    return job_read(
        sam_service.submit_embed(session, celery, settings, project_id, ids, access.user_id, force=force)
    )


@router.post(
    "/api/projects/{project_id}/sam/prelabel",
    response_model=JobRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Pre-label the selected observations with SAM (predictions, source=sam)",
)
def sam_prelabel_project(
    project_id: uuid.UUID,
    body: PrelabelRequest,
    session: SessionDep,
    settings: SettingsDep,
    celery: CeleryDep,
    access: AccessDep,
) -> JobRead:
    ids = _select(session, project_id, body)
    params = SamPrelabelParams(
        observation_ids=ids,
        points_per_side=body.points_per_side,
        pred_iou_thresh=body.pred_iou_thresh,
        stability_score_thresh=body.stability_score_thresh,
    )
    return job_read(
        sam_service.submit_prelabel(session, celery, settings, project_id, params, access.user_id)
    )


@router.post(
    "/api/projects/{project_id}/sam/carry-forward",
    response_model=JobRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Carry each site's approved labels forward to the next date with SAM (predictions, carried_from)",
)
def sam_carry_forward_project(
    project_id: uuid.UUID,
    body: SamSelection,
    session: SessionDep,
    settings: SettingsDep,
    celery: CeleryDep,
    access: AccessDep,
) -> JobRead:
    ids = _select(session, project_id, body)
    params = SamCarryForwardParams(observation_ids=ids)
    return job_read(
        sam_service.submit_carry_forward(session, celery, settings, project_id, params, access.user_id)
    )
