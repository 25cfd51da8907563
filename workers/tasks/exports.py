"""The export job: a large export written to storage, with progress, for download when done."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from celery import shared_task

from app.core.config import get_settings
from app.imagery.storage import make_storage
from app.interop.exports import ExportOptions, export_filename
from app.interop.selection import Selection
from app.services import exports as export_service
from workers.runtime import JobContext, run_job


def export_key(job_id: uuid.UUID, filename: str) -> str:
    return f"exports/{job_id}/{filename}"


def export_logic(ctx: JobContext) -> dict[str, Any]:
    settings = get_settings()
    storage = make_storage(settings.storage)
    params = ctx.job.params

    def progress(done: int) -> None:
        total = max(export_ctx.total_tasks, 1)
        ctx.progress(min(done / total, 1.0) * 0.95, f"{done:,} of {export_ctx.total_tasks:,} tasks written")

    selection = Selection.from_params(params["selection"])
    options = ExportOptions.model_validate(params["options"])
    export_ctx, fmt = export_service.prepare(
        ctx.session, uuid.UUID(params["project_id"]), params["format"], selection, options, storage,
        settings.tiles, on_progress=progress,
    )  # fmt: skip
    filename = export_filename(export_ctx.project, fmt)
    with tempfile.TemporaryDirectory(prefix="minelabel-export-") as tmp:
        local = Path(tmp) / filename
        report = export_service.write_file(export_ctx, fmt, local)
        ctx.progress(0.97, "storing the file")
        key = export_key(ctx.job.id, filename)
        storage.put_file(local, key)
        size = local.stat().st_size
    return {"file_key": key, "filename": filename, "media_type": fmt.media_type, "size_bytes": size,
            "report": report.to_dict()}  # fmt: skip


@shared_task(name="minelabel.export")
def export(job_id: str) -> None:
    run_job(job_id, export_logic)
