"""Segment Anything for the API: whether it is set up, the embeddings a prompt needs (queued when missing
or stale), and the jobs that embed, pre-label and carry labels forward. No torch: GPU workers do that."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import ConflictError, ServiceUnavailableError
from app.imagery.storage import Storage
from app.models.job import Job, JobKind, JobState
from app.models.observation import Observation, ObservationStatus
from app.models.project import Project, Site
from app.schemas.job import JobParams
from app.schemas.sam import (
    DecoderRead,
    EmbeddingManifest,
    SamCarryForwardParams,
    SamEmbedParams,
    SamPrelabelParams,
    SamStatus,
)
from app.services import jobs as jobs_service
from app.services.imagery_processing import render_spec
from app.services.sam_embeddings import read_decoder, read_manifest, why_stale

SETUP_MESSAGE = "SAM is not set up: set SAM__CHECKPOINT to a checkpoint file (see README)"


class SamNotSetUpError(ServiceUnavailableError):
    code = "sam_not_set_up"


class SamEmbeddingPendingError(ConflictError):
    code = "sam_embedding_pending"


class ObservationNotReadyError(ConflictError):
    code = "observation_not_ready"


def status(settings: Settings, storage: Storage) -> SamStatus:
    """What the API can tell without a worker: configured, and which checkpoint's decoder is published."""
    if settings.sam.checkpoint is None:
        return SamStatus(ready=False, detail=SETUP_MESSAGE)
    decoder = read_decoder(storage)
    if decoder is None:
        return SamStatus(
            ready=False,
            detail=f"SAM is configured ({settings.sam.checkpoint}) but no GPU worker has loaded it yet: "
            "start a worker on the gpu queue (`minelabel worker --queues gpu`); /api/health says what it "
            "found.",
        )
    return SamStatus(
        ready=True,
        detail=f"SAM {decoder.model_type} ({decoder.checkpoint_hash})",
        checkpoint_hash=decoder.checkpoint_hash,
        model_type=decoder.model_type,
    )


def embeddings_for_prompt(
    session: Session,
    celery: Celery,
    settings: Settings,
    storage: Storage,
    observation: Observation,
    user_id: uuid.UUID | None,
) -> tuple[DecoderRead, EmbeddingManifest]:
    """The decoder and the observation's current embeddings; when they are missing or stale, a `sam_embed`
    job is queued (or the one already queued named) and SamEmbeddingPendingError says to wait for it."""
    if settings.sam.checkpoint is None:
        raise SamNotSetUpError(SETUP_MESSAGE)
    if observation.status is not ObservationStatus.READY:
        raise ObservationNotReadyError(
            f"Observation {observation.id} is {observation.status.value}; SAM works on ready images only."
        )
    decoder = read_decoder(storage)
    site = session.get(Site, observation.site_id)
    project = session.get(Project, observation.project_id)
    assert site is not None and project is not None
    manifest = read_manifest(storage, observation)
    reason = why_stale(
        manifest,
        decoder.checkpoint_hash if decoder else None,
        render_spec(observation, site, project.display_preset),
        settings.sam,
    )
    if decoder is None:
        reason = reason or "SAM's decoder has not been exported yet"
    if reason is None and decoder is not None and manifest is not None:
        return decoder, manifest
    job = pending_embed_job(session, observation.id) or submit_embed(
        session, celery, settings, observation.project_id, [observation.id], user_id
    )
    raise SamEmbeddingPendingError(
        f"SAM cannot answer yet: {reason}. The embeddings are being computed by job {job.id} "
        f"({job.state.value}); wait for it (GET /api/jobs/{job.id}) and prompt again.",
        job_id=str(job.id),
        reason=reason,
    )


def pending_embed_job(session: Session, observation_id: uuid.UUID) -> Job | None:
    """A queued or running `sam_embed` job that covers the observation."""
    return session.scalars(
        select(Job)
        .where(
            Job.kind == JobKind.SAM_EMBED,
            Job.state.in_([JobState.QUEUED, JobState.RUNNING]),
            Job.params["observation_ids"].contains([str(observation_id)]),
        )
        .order_by(Job.created_at.desc())
        .limit(1)
    ).first()


def submit_embed(
    session: Session,
    celery: Celery,
    settings: Settings,
    project_id: uuid.UUID,
    observation_ids: Sequence[uuid.UUID],
    user_id: uuid.UUID | None,
    *,
    force: bool = False,
) -> Job:
    params = SamEmbedParams(observation_ids=list(observation_ids), force=force)
    return _submit(session, celery, settings, JobKind.SAM_EMBED, params, project_id, user_id)


def submit_prelabel(
    session: Session,
    celery: Celery,
    settings: Settings,
    project_id: uuid.UUID,
    params: SamPrelabelParams,
    user_id: uuid.UUID | None,
) -> Job:
    return _submit(session, celery, settings, JobKind.SAM_PRELABEL, params, project_id, user_id)


def submit_carry_forward(
    session: Session,
    celery: Celery,
    settings: Settings,
    project_id: uuid.UUID,
    params: SamCarryForwardParams,
    user_id: uuid.UUID | None,
) -> Job:
    return _submit(session, celery, settings, JobKind.SAM_CARRY_FORWARD, params, project_id, user_id)


def _submit(
    session: Session,
    celery: Celery,
    settings: Settings,
    kind: JobKind,
    params: JobParams,
    project_id: uuid.UUID,
    user_id: uuid.UUID | None,
) -> Job:
    if settings.sam.checkpoint is None:
        raise SamNotSetUpError(SETUP_MESSAGE)
    job = jobs_service.new_job(
        kind, params, project_id=project_id, created_by=user_id, settings=settings.jobs
    )
    return jobs_service.submit_job(session, celery, job)
