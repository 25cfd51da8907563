"""Projects, their sites, and image uploads into them."""

from __future__ import annotations

import shutil
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select

from app.api.access import AccessDep
from app.api.deps import CeleryDep, OffsetQuery, SessionDep, SettingsDep, StorageDep
from app.api.presenters import job_read, labeling_config_read, observation_read, project_read, site_read
from app.api.staging import new_staging
from app.api.uploads import BadUploadError, receive_multipart
from app.core.errors import ConflictError, InvalidInputError, ServiceUnavailableError
from app.imagery.auxiliary import auxiliary_kind
from app.imagery.sidecar import parse_sidecar
from app.models.access import ProjectRole
from app.models.job import JobKind
from app.models.observation import Observation
from app.repositories import imagery as repo
from app.schemas.imagery import (
    LabelingConfigRead,
    LabelingConfigUpdate,
    ObservationList,
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    RejectedFile,
    SiteRead,
    UploadResult,
)
from app.schemas.job import RenderParams
from app.services import jobs as jobs_service
from app.services import members as members_service
from app.services import projects as projects_service
from app.services.ingest import DuplicateImageError, register_images, undo_batch

router = APIRouter(prefix="/api/projects", tags=["projects"])


@router.post("", response_model=ProjectRead, status_code=status.HTTP_201_CREATED, summary="Create a project")
def create_project(body: ProjectCreate, session: SessionDep, access: AccessDep) -> ProjectRead:
    """The creator becomes the project's admin."""
    project = projects_service.create_project(
        session,
        name=body.name,
        description=body.description,
        preset=body.display_preset,
        labeling_config=body.labeling_config,
        admin_id=access.user_id,
    )
    return project_read(project, ProjectRole.ADMIN.value)


@router.get("", response_model=list[ProjectRead], summary="The projects you belong to (site admins: all)")
def list_projects(session: SessionDep, access: AccessDep) -> list[ProjectRead]:
    user = access.user
    assert user is not None
    roles = members_service.roles_of(session, user.id)
    projects = repo.list_projects(session)
    if not user.is_admin:
        projects = [p for p in projects if p.id in roles]
    return [project_read(p, roles.get(p.id)) for p in projects]


@router.get("/{project_id}", response_model=ProjectRead, summary="A project")
def read_project(project_id: uuid.UUID, session: SessionDep, access: AccessDep) -> ProjectRead:
    role = access.role.value if access.role else None
    return project_read(projects_service.get_project_or_raise(session, project_id), role)


@router.patch(
    "/{project_id}",
    response_model=ProjectRead,
    summary="Change a project's description, display preset, overlap or model settings",
)
def update_project(
    project_id: uuid.UUID,
    body: ProjectUpdate,
    session: SessionDep,
    celery: CeleryDep,
    settings: SettingsDep,
    access: AccessDep,
) -> ProjectRead:
    """A new display preset gives every site new tile URLs at once; thumbnails follow in a `render` job."""
    project = projects_service.get_project_or_raise(session, project_id)
    if body.description is not None:
        project.description = body.description
    if body.annotators_per_task is not None:
        project.annotators_per_task = body.annotators_per_task
    if body.annotators_see_others is not None:
        project.annotators_see_others = body.annotators_see_others
    if body.binary_mining is not None:
        project.binary_mining = body.binary_mining
    if "auto_train_every" in body.model_fields_set:
        project.auto_train_every = body.auto_train_every
    if body.next_task_order is not None:
        project.next_task_order = body.next_task_order
    if body.promotion_margin is not None:
        project.promotion_margin = body.promotion_margin
    if body.promotion_max_drop is not None:
        project.promotion_max_drop = body.promotion_max_drop
    new_preset = body.display_preset if body.display_preset != project.display_preset else None
    if new_preset is not None:
        project.display_preset = new_preset
        # New tile URLs for every site, so no cached tile of the old preset is shown.
        for site in repo.list_sites(session, project.id):
            site.render_version += 1
    session.commit()
    if new_preset is not None:
        job = jobs_service.new_job(
            JobKind.RENDER,
            RenderParams(),
            project_id=project.id,
            created_by=access.user_id,
            settings=settings.jobs,
        )
        jobs_service.submit_job(session, celery, job)
    return project_read(project, access.role.value if access.role else None)


@router.get(
    "/{project_id}/labeling-config",
    response_model=LabelingConfigRead,
    summary="The project's Label Studio labeling config and the classes it defines",
)
def read_labeling_config(project_id: uuid.UUID, session: SessionDep) -> LabelingConfigRead:
    return labeling_config_read(projects_service.get_project_or_raise(session, project_id))


@router.put(
    "/{project_id}/labeling-config",
    response_model=LabelingConfigRead,
    summary="Replace the labeling config (paste the one your team uses in Label Studio)",
    responses={422: {"description": "Not a usable config; `detail` says why."}},
)
def replace_labeling_config(
    project_id: uuid.UUID, body: LabelingConfigUpdate, session: SessionDep
) -> LabelingConfigRead:
    project = projects_service.get_project_or_raise(session, project_id)
    return labeling_config_read(projects_service.set_labeling_config(session, project, body.config))


@router.get("/{project_id}/sites", response_model=list[SiteRead], summary="The project's sites")
def list_sites(project_id: uuid.UUID, session: SessionDep) -> list[SiteRead]:
    projects_service.get_project_or_raise(session, project_id)
    counts = dict(
        session.execute(
            select(Observation.site_id, func.count())
            .where(Observation.project_id == project_id)
            .group_by(Observation.site_id)
        ).all()
    )
    return [site_read(site, counts.get(site.id, 0)) for site in repo.list_sites(session, project_id)]


@router.get(
    "/{project_id}/observations", response_model=ObservationList, summary="Observations, by site and index"
)
def list_observations(
    project_id: uuid.UUID,
    session: SessionDep,
    site_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OffsetQuery = 0,
) -> ObservationList:
    project = projects_service.get_project_or_raise(session, project_id)
    rows, total = repo.list_observations(session, project_id, site_id=site_id, limit=limit, offset=offset)
    sites = {s.id: s for s in repo.list_sites(session, project_id)}
    items = [observation_read(o, sites[o.site_id], project.display_preset) for o in rows]
    return ObservationList(items=items, total=total)


@router.post(
    "/{project_id}/images",
    response_model=UploadResult,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload images (multipart: one or more `files`, with any world files, .prj and .aux.xml beside "
    "them, and an optional `sidecar` CSV/JSON)",
    responses={
        409: {"description": "Every file was a duplicate of an image already in the project."},
        413: {"description": "A file is larger than LIMITS__MAX_UPLOAD_BYTES, or too many files."},
        422: {"description": "No file was accepted; `detail` says why for each."},
    },
)
async def upload_images(
    project_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    celery: CeleryDep,
    access: AccessDep,
) -> UploadResult:
    """Files named ``<site>_<index>.<ext>`` become observations of that site. Good files are kept even
    when others in the same request are rejected; the response lists each rejected file and why.
    Conversion to Cloud-Optimized GeoTIFF runs in the returned job."""
    project = await run_in_threadpool(projects_service.get_project_or_raise, session, project_id)
    staging = new_staging(settings.storage.data_dir, settings.storage.staging_max_idle_s)
    try:
        received = await receive_multipart(
            request, staging, settings.limits.max_upload_bytes, settings.limits.max_files_per_upload
        )
        # The images with their world files, .prj and .aux.xml (matched by name in register_images).
        images = received.files.get("files", [])
        if all(auxiliary_kind(f.filename) is not None for f in images):
            raise BadUploadError("No images in the upload: send them in form fields named 'files'.")
        sidecar = {}
        if sidecars := received.files.get("sidecar"):
            sidecar = parse_sidecar(sidecars[0].path.read_bytes(), sidecars[0].filename)
        batch = await run_in_threadpool(
            register_images, session, storage, project, images, sidecar, settings, access.user_id
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    rejected = [RejectedFile(filename=r.filename, code=r.code, message=r.message) for r in batch.rejected]
    if batch.job is None:
        messages = " ".join(r.message for r in batch.rejected)
        if all(r.code == DuplicateImageError.code for r in batch.rejected):
            raise ConflictError(messages, rejected=rejected)
        raise ImagesRejectedError(messages, rejected=rejected)

    try:
        await run_in_threadpool(jobs_service.enqueue_job, session, celery, batch.job)
    except ServiceUnavailableError:
        # Nothing half-way: without its job the batch would never be converted, so undo it.
        await run_in_threadpool(undo_batch, session, storage, batch)
        raise
    sites = {s.id: s for s in repo.list_sites(session, project.id)}
    return UploadResult(
        job=job_read(batch.job),
        observations=[
            observation_read(o, sites[o.site_id], project.display_preset) for o in batch.observations
        ],
        rejected=rejected,
    )


class ImagesRejectedError(InvalidInputError):
    code = "images_rejected"
