"""Background jobs: list, read, and submit the health probe."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.api.deps import CeleryDep, SessionDep
from app.models.job import JobState
from app.repositories import jobs as jobs_repo
from app.schemas.job import JobList, JobRead, ProbeJobCreate
from app.services import jobs as jobs_service

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("", response_model=JobList, summary="List jobs, newest first")
def list_jobs(
    session: SessionDep,
    state: JobState | None = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobList:
    rows, total = jobs_repo.list_jobs(session, state=state, kind=kind, limit=limit, offset=offset)
    return JobList(items=[JobRead.model_validate(r) for r in rows], total=total)


@router.get("/{job_id}", response_model=JobRead, summary="A job's state, progress, error and result")
def read_job(job_id: uuid.UUID, session: SessionDep) -> JobRead:
    return JobRead.model_validate(jobs_service.get_job_or_raise(session, job_id))


@router.post(
    "/probe",
    response_model=JobRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a health probe job on a worker queue",
)
def submit_probe(body: ProbeJobCreate, session: SessionDep, celery: CeleryDep) -> JobRead:
    def enqueue(task_name: str, job_id: str, queue: str) -> None:
        celery.send_task(task_name, args=[job_id], queue=queue)

    job = jobs_service.submit_job(
        session, kind="probe", queue=body.queue, params=body.model_dump(exclude={"queue"}), enqueue=enqueue
    )
    return JobRead.model_validate(job)
