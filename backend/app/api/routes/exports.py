"""Exports (streamed, or as a job with a file to download) and imports of labels."""

from __future__ import annotations

import shutil
import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from app.api.access import AccessDep
from app.api.deps import CeleryDep, QueryBool, SessionDep, SettingsDep, StorageDep
from app.api.presenters import job_read
from app.api.staging import new_staging, staging_root
from app.api.uploads import BadUploadError, receive_multipart
from app.core.errors import ConflictError, InvalidInputError
from app.interop.exports import ExportOptions, export_filename, load_formats
from app.interop.imports import (
    ImportOptions,
    Outside,
    UnknownClasses,
    import_formats,
    label_map_option,
    parse_import_options,
)
from app.interop.selection import AnnotationChoice, Selection
from app.models.job import JobKind, JobState
from app.models.observation import TaskState
from app.schemas.job import ExportParams, ExportResult, JobRead, SelectionParams
from app.services import exports as export_service
from app.services import jobs as jobs_service
from app.services.imports import run_import
from app.services.projects import get_project_or_raise

router = APIRouter(tags=["exports"])

FormatQuery = Annotated[str, Query(description="label-studio, geojson, gpkg, coco or masks.")]
ImportFormatQuery = Annotated[str, Query(description="label-studio, coco, geojson or gpkg.")]


def selection_from_query(
    state: Annotated[
        list[TaskState] | None, Query(description="Task states to export (default: approved).")
    ] = None,
    all_states: Annotated[QueryBool, Query(description="Every state (overrides `state`).")] = False,
    site_id: Annotated[list[uuid.UUID] | None, Query()] = None,
    date_from: date | None = None,
    date_to: date | None = None,
    label: Annotated[list[str] | None, Query(description="Only these classes.")] = None,
    annotator: Annotated[list[uuid.UUID] | None, Query(description="Only these annotators' work.")] = None,
    predictions: Annotated[QueryBool, Query(description="Include predictions.")] = True,
    annotations: Annotated[
        AnnotationChoice,
        Query(
            description="ground_truth: one annotation per task (its ground truth once approved); all; "
            "none: predictions only."
        ),
    ] = "ground_truth",
    model_version: Annotated[
        str | None,
        Query(max_length=200, description="Only this model version's predictions (e.g. unet-v3)."),
    ] = None,
) -> Selection:
    states: tuple[TaskState, ...] = () if all_states else tuple(state or [TaskState.APPROVED])
    return Selection(
        states=states, site_ids=tuple(site_id or ()), date_from=date_from, date_to=date_to,
        classes=tuple(label or ()), annotator_ids=tuple(annotator or ()), include_predictions=predictions,
        annotations=annotations, model_version=model_version,
    )  # fmt: skip


def options_from_query(
    image_url: Annotated[str | None, Query(description="Label Studio: image reference template.")] = None,
    completed_by: Annotated[str, Query(pattern="^(omit|email)$")] = "omit",
    chip_size: Annotated[int | None, Query(ge=32, le=4096)] = None,
    chip_images: QueryBool = True,
) -> ExportOptions:
    fields: dict[str, object] = {
        "completed_by": completed_by,
        "chip_size": chip_size,
        "chip_images": chip_images,
    }
    if image_url:
        fields["image_url"] = image_url
    try:
        return ExportOptions.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInputError("; ".join(str(e["msg"]) for e in exc.errors())) from exc


# The filters and options of every export, from the query string (shared by the streamed export and the job).
SelectionDep = Annotated[Selection, Depends(selection_from_query)]
OptionsDep = Annotated[ExportOptions, Depends(options_from_query)]


@router.get(
    "/api/projects/{project_id}/export",
    summary="Export the project's labels (streamed): Label Studio JSON, GeoJSON, GeoPackage, COCO or masks",
    response_class=StreamingResponse,
)
def export_labels(
    project_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    selection: SelectionDep,
    options: OptionsDep,
    format: FormatQuery = "label-studio",
) -> StreamingResponse:
    """Whatever the project's size, the answer streams in constant memory. `X-Export-Tasks` says how many
    tasks it holds, `X-Export-Notes` what is known before the first byte (that no task matched); the full
    report (e.g. holes dropped for Label Studio) comes with an export job, and in the file where the format
    has room for it (GeoJSON, COCO: `minelabel_report`; masks: report.json)."""
    # A writer's temporary files go under staging, which is swept by age after a killed process.
    scratch = staging_root(settings.storage.data_dir)
    scratch.mkdir(parents=True, exist_ok=True)
    ctx, fmt = export_service.prepare(
        session, project_id, format, selection, options, storage, settings.tiles, scratch=scratch
    )
    # The request's session stays open until the response is sent (FastAPI closes dependencies with yield
    # after the response), so the stream reads through it.
    chunks, report = export_service.stream(ctx, fmt)
    filename = export_filename(ctx.project, fmt)
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Export-Tasks": str(ctx.total_tasks),
    }
    if report.notes:  # what is known before the first byte (no task matched); headers are Latin-1
        headers["X-Export-Notes"] = " ".join(report.notes).encode("latin-1", "replace").decode("latin-1")
    return StreamingResponse(chunks, media_type=fmt.media_type, headers=headers)


@router.post(
    "/api/projects/{project_id}/exports",
    response_model=JobRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Export as a job (for large projects): follow its progress, then download its file",
)
def create_export_job(
    project_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    celery: CeleryDep,
    access: AccessDep,
    selection: SelectionDep,
    options: OptionsDep,
    format: FormatQuery = "label-studio",
) -> JobRead:
    export_service.prepare(session, project_id, format, selection, options, storage, settings.tiles)  # checks
    params = ExportParams(format=format, selection=SelectionParams.of(selection), options=options)
    job = jobs_service.new_job(
        JobKind.EXPORT, params, project_id=project_id, created_by=access.user_id, settings=settings.jobs
    )
    return job_read(jobs_service.submit_job(session, celery, job))


@router.get(
    "/api/jobs/{job_id:uuid}/file",
    summary="Download the file a finished export job wrote",
    response_class=StreamingResponse,
)
def download_job_file(job_id: uuid.UUID, session: SessionDep, storage: StorageDep) -> StreamingResponse:
    job = jobs_service.get_job_or_raise(session, job_id)
    result = job_read(job).result
    if job.state != JobState.SUCCEEDED or not isinstance(result, ExportResult):
        raise ConflictError(f"Job {job_id} has no file ({job.state.value}); wait until it has succeeded.")
    return StreamingResponse(
        storage.iter_bytes(result.file_key),
        media_type=result.media_type,
        headers={"Content-Disposition": f'attachment; filename="{result.filename}"'},
    )


@router.get("/api/export-formats", summary="The export and import formats")
def list_formats() -> dict[str, dict[str, dict[str, str]]]:
    exports = {
        name: {"media_type": f.media_type, "description": f.description} for name, f in load_formats().items()
    }
    imports = {name: {"description": f.description} for name, f in import_formats().items()}
    return {"exports": exports, "imports": imports}


def import_options_from_query(
    format: ImportFormatQuery = "label-studio",
    as_: Annotated[str, Query(alias="as", pattern="^(annotations|predictions)$")] = "annotations",
    observation_id: Annotated[
        uuid.UUID | None, Query(description="GIS: the one observation to put the features on.")
    ] = None,
    site_id: Annotated[
        uuid.UUID | None,
        Query(description="GIS: every observation of this site whose footprint a feature overlaps."),
    ] = None,
    label_property: str = "class",
    default_label: str | None = None,
    label_map: Annotated[
        str | None,
        Query(description='COCO/GIS: a JSON object, category or value -> class, e.g. {"pit": "Pit"}.'),
    ] = None,
    unknown_classes: Annotated[
        UnknownClasses,
        Query(description="COCO/GIS: an unknown category or class refuses the file, or is skipped."),
    ] = "fail",
    outside: Annotated[
        Outside,
        Query(
            description="GIS: features wholly outside the images skipped (skip) or refused (clip), or "
            "every feature not wholly inside refused (fail)."
        ),
    ] = "skip",
    date_property: Annotated[
        str | None, Query(description="GIS: the property with each feature's date (ISO date, month or year).")
    ] = None,
    date_tolerance_days: int = 0,
    model_version: str = "import",
) -> ImportOptions:
    """The import's options from the query string, all checked before the upload is read (422 naming the
    field: `code` invalid_import_option, `field`)."""
    fields: dict[str, object] = {
        "as": as_,
        "observation_id": observation_id,
        "site_id": site_id,
        "label_property": label_property,
        "default_label": default_label,
        "label_map": label_map_option(label_map),
        "unknown_classes": unknown_classes,
        "outside": outside,
        "date_property": date_property,
        "date_tolerance_days": date_tolerance_days,
        "model_version": model_version,
    }
    return parse_import_options(format, fields)


ImportOptionsDep = Annotated[ImportOptions, Depends(import_options_from_query)]


@router.post(
    "/api/projects/{project_id}/import",
    summary="Import labels: a Label Studio JSON export, COCO, or GeoJSON / GeoPackage polygons (multipart "
    "`file`)",
    responses={
        422: {
            "description": "Nothing was stored: `problems` names every bad task/result/image/annotation/"
            "feature; a bad option gives `code` invalid_import_option and its `field`."
        }
    },
)
async def import_labels(
    project_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    access: AccessDep,
    options: ImportOptionsDep,
    format: ImportFormatQuery = "label-studio",
) -> dict[str, object]:
    staging = new_staging(settings.storage.data_dir, settings.storage.staging_max_idle_s)
    try:
        received = await receive_multipart(
            request,
            staging,
            settings.limits.max_import_bytes,
            1,
            "LIMITS__MAX_IMPORT_BYTES",
            how="the file as multipart/form-data (e.g. curl -F file=@export.json ...)",
        )
        files = received.files.get("file", [])
        if not files:
            raise BadUploadError(
                "Send the file to import in a form field named 'file' (curl -F file=@export.json)."
            )

        def run() -> dict[str, object]:
            project = get_project_or_raise(session, project_id)
            report = run_import(
                session, project, format, files[0].path, access.user_id, options, settings.limits
            )
            return report.to_dict()

        return await run_in_threadpool(run)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
