"""The logic of the torch-free job kinds, each a function of its job's context returning its result.

Celery tasks (workers/tasks/) and the CLI call these through app.jobs.runner; what they do lives in
services, and this module only unpacks typed parameters and wires progress and scratch folders in.
GPU kinds have their handlers in workers/ml/, where torch may be imported.
"""

from __future__ import annotations

import os
import socket
import time

from celery import Celery
from sqlalchemy import select, text

from app.core.config import Settings, get_settings
from app.core.queue import make_celery
from app.imagery.storage import make_storage
from app.interop.exports import export_filename
from app.jobs.errors import JobCancelledError, LeaseLostError, TransientJobError, is_transient
from app.jobs.runner import JobContext
from app.models.ml import DatasetState, ModelVersion
from app.schemas.job import (
    ExportParams,
    ExportReportRead,
    ExportResult,
    GeoreferenceParams,
    GeoreferenceResult,
    IngestParams,
    IngestResult,
    ProbeParams,
    ProbeResult,
    RenderParams,
    RenderResult,
)
from app.schemas.ml import DatasetParams, DatasetResult, SplitSummary
from app.services import datasets as datasets_service
from app.services import exports as export_service
from app.services import georeference as georeference_service
from app.services import models as models_service
from app.services import sam as sam_service
from app.services.imagery_processing import process_observations, refresh_project_rendering


class ProbeFailedError(RuntimeError):
    """Raised when a probe was asked to fail (to check that failures are reported)."""


def probe(ctx: JobContext[ProbeParams]) -> ProbeResult:
    """Prove that a worker on a queue reaches PostGIS, reporting progress; optionally misbehave on
    purpose (fail, fail transiently, fill its scratch folder) to check the job machinery."""
    params = ctx.params
    if params.scratch_bytes:
        with (ctx.scratch / "ballast.bin").open("wb") as handle:
            handle.truncate(params.scratch_bytes)
    for step in range(1, params.steps + 1):
        time.sleep(params.step_seconds)
        ctx.progress(step / params.steps, f"step {step} of {params.steps}")
    if ctx.attempt <= params.transient_failures:
        raise TransientJobError(f"a connection error on purpose (attempt {ctx.attempt})")
    if params.fail_with:
        raise ProbeFailedError(params.fail_with)
    postgis = ctx.session.scalar(text("SELECT postgis_lib_version()"))
    return ProbeResult(
        hostname=socket.gethostname(),
        pid=os.getpid(),
        queue=ctx.queue,
        attempt=ctx.attempt,
        postgis_version=str(postgis),
    )


def ingest(ctx: JobContext[IngestParams]) -> IngestResult:
    """COGs, display ranges and thumbnails; then, when SAM is set up, a `sam_embed` job for what became
    ready, so that the first click on a new image is as fast as every other one."""
    settings = get_settings()
    result = process_observations(
        ctx.session,
        make_storage(settings.storage),
        list(ctx.params.observation_ids),
        settings.tiles,
        ctx.progress,
        ctx.scratch,
    )
    failed = {f.id for f in result.failed}
    ready = [i for i in ctx.params.observation_ids if i not in failed]
    # (SAM__CHECKPOINT names a file on the GPU machines; the API and the workers are set up alike.)
    if ctx.params.sam_embed and ready and ctx.project_id is not None and settings.sam.checkpoint is not None:
        job = sam_service.submit_embed(ctx.session, _celery(settings), settings, ctx.project_id, ready, None)
        result.sam_embed_job_id = job.id
    return result


_celery_client: Celery | None = None


def _celery(settings: Settings) -> Celery:
    """A Celery client to queue follow-up jobs from a job (made once per process)."""
    global _celery_client
    if _celery_client is None:
        _celery_client = make_celery(settings)
    return _celery_client


def render(ctx: JobContext[RenderParams]) -> RenderResult:
    settings = get_settings()
    assert ctx.project_id is not None, "render jobs belong to a project"
    return refresh_project_rendering(
        ctx.session, make_storage(settings.storage), ctx.project_id, settings.tiles, ctx.progress
    )


def georeference(ctx: JobContext[GeoreferenceParams]) -> GeoreferenceResult:
    settings = get_settings()
    return georeference_service.rewrite_cog(
        ctx.session,
        make_storage(settings.storage),
        ctx.job_id,
        ctx.params.observation_id,
        ctx.progress,
        ctx.scratch,
    )


def export_key(ctx: JobContext[ExportParams], filename: str) -> str:
    return f"exports/{ctx.job_id}/{filename}"


def export(ctx: JobContext[ExportParams]) -> ExportResult:
    """Write the export into the scratch folder, then store it; cancelled before that, nothing is stored."""
    settings = get_settings()
    storage = make_storage(settings.storage)
    assert ctx.project_id is not None, "export jobs belong to a project"
    params = ctx.params

    def progress(done: int) -> None:
        total = max(export_ctx.total_tasks, 1)
        ctx.progress(min(done / total, 1.0) * 0.95, f"{done:,} of {export_ctx.total_tasks:,} tasks written")

    export_ctx, fmt = export_service.prepare(
        ctx.session,
        ctx.project_id,
        params.format,
        params.selection.selection(),
        params.options,
        storage,
        settings.tiles,
        on_progress=progress,
        scratch=ctx.scratch,
    )
    filename = export_filename(export_ctx.project, fmt)
    local = ctx.scratch / filename
    report = export_service.write_file(export_ctx, fmt, local)
    ctx.progress(0.97, "storing the file")
    key = export_key(ctx, filename)
    storage.put_file(local, key)
    return ExportResult(
        file_key=key,
        filename=filename,
        media_type=fmt.media_type,
        size_bytes=local.stat().st_size,
        report=ExportReportRead.model_validate(report.to_dict()),
    )


def dataset(ctx: JobContext[DatasetParams]) -> DatasetResult:
    """Freeze the project's approved tasks into a dataset; then, when asked, queue the training on it (once:
    a redelivered job finds the dataset ready and the model version queued, and adds nothing)."""
    settings = get_settings()
    session = ctx.session
    record = models_service.dataset_of_job(session, ctx.job_id)
    if record.state is not DatasetState.READY:
        try:
            datasets_service.build(
                session, make_storage(settings.storage), record, ctx.params, ctx.part(0.0, 0.95)
            )
        except (JobCancelledError, LeaseLostError):
            raise
        except Exception as exc:
            if is_transient(exc):
                raise
            session.rollback()
            record.state = DatasetState.FAILED
            record.error = f"{type(exc).__name__}: {exc}"[:2000]
            session.commit()
            raise
    summary = {k: SplitSummary.model_validate(v) for k, v in record.summary.items()}
    result = DatasetResult(dataset_id=record.id, content_hash=record.content_hash or "", splits=summary)
    if ctx.params.then_train is not None:
        existing = session.scalars(select(ModelVersion).where(ModelVersion.dataset_id == record.id)).first()
        if existing is not None:
            result.train_job_id = existing.job_id
        else:
            _, job = models_service.submit_training(
                session, _celery(settings), settings, record, ctx.params.then_train, record.created_by
            )
            session.commit()
            result.train_job_id = job.id
    ctx.progress(1.0, f"{sum(s.chips for s in summary.values())} chips")
    return result
