"""Background jobs: list (all, or a project's), read, cancel, and submit the health probe."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.api.access import AccessDep
from app.api.deps import CeleryDep, OffsetQuery, SessionDep, SettingsDep
from app.api.presenters import job_read
from app.models.job import JobKind, JobState
from app.repositories import jobs as jobs_repo
from app.schemas.job import JobList, JobRead, ProbeJobCreate
from app.services import jobs as jobs_service
from app.services.projects import get_project_or_raise

router = APIRouter(tags=["jobs"])

StatesQuery = Annotated[
    list[JobState], Query(description="Only jobs in these states (repeat the parameter).")
]
LimitQuery = Annotated[int, Query(ge=1, le=500)]


@router.get("/api/jobs", response_model=JobList, summary="List every job, newest first (site admins)")
def list_jobs(
    session: SessionDep,
    state: StatesQuery = [],  # noqa: B006 (FastAPI copies query defaults)
    kind: JobKind | None = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> JobList:
    rows, total = jobs_repo.list_jobs(session, states=state, kind=kind, limit=limit, offset=offset)
    return JobList(items=[job_read(r) for r in rows], total=total)


@router.get(
    "/api/projects/{project_id}/jobs", response_model=JobList, summary="List a project's jobs, newest first"
)
def list_project_jobs(
    project_id: uuid.UUID,
    session: SessionDep,
    state: StatesQuery = [],  # noqa: B006
    kind: JobKind | None = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> JobList:
    rows, total = jobs_repo.list_jobs(
        session, project_id=project_id, states=state, kind=kind, limit=limit, offset=offset
    )
    return JobList(items=[job_read(r) for r in rows], total=total)


@router.get(
    "/api/jobs/{job_id:uuid}", response_model=JobRead, summary="A job's state, progress, error and result"
)
def read_job(job_id: uuid.UUID, session: SessionDep) -> JobRead:
    return job_read(jobs_service.get_job_or_raise(session, job_id))


@router.post(
    "/api/jobs/{job_id:uuid}/cancel",
    response_model=JobRead,
    summary="Cancel a job: a queued one never starts, a running one stops at its next check",
)
def cancel_job(job_id: uuid.UUID, session: SessionDep) -> JobRead:
    job = jobs_service.cancel_job(session, job_id)
    session.commit()
    return job_read(job)


@router.post(
    "/api/jobs/probe",
    response_model=JobRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a health probe job on a worker queue",
)
def submit_probe(
    body: ProbeJobCreate, session: SessionDep, celery: CeleryDep, settings: SettingsDep, access: AccessDep
) -> JobRead:
    if body.project_id is not None:
        get_project_or_raise(session, body.project_id)
    job = jobs_service.new_job(
        JobKind.PROBE,
        body.params(),
        project_id=body.project_id,
        created_by=access.user_id,
        settings=settings.jobs,
        queue_override=body.queue,
    )
    return job_read(jobs_service.submit_job(session, celery, job))
