"""`minelabel sam-embed`: queue SAM embeddings for a project's images (a GPU worker computes them) and follow
the job with a progress bar. The CLI never runs the encoder itself: torch lives on the GPU workers."""

from __future__ import annotations

import time
from datetime import date
from typing import Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import command_session
from app.core.errors import InvalidInputError
from app.core.queue import make_celery
from app.imagery.storage import Storage, make_storage
from app.models.job import Job
from app.models.observation import Observation, ObservationStatus
from app.models.project import Project, Site
from app.repositories import imagery as repo
from app.schemas.sam import SamCarryForwardParams, SamPrelabelParams
from app.services import projects as projects_service
from app.services import sam as sam_service
from app.services.imagery_processing import render_spec
from app.services.sam_embeddings import read_decoder, read_manifest, why_stale

POLL_S = 1.0


def sam_embed(
    settings: Settings, project_ref: str, site_name: str | None, missing_only: bool, wait: bool
) -> int:
    """Queue the embeddings and, with ``wait``, follow them; the exit code (0: done, 1: the job failed)."""
    console = Console(stderr=True)
    storage = make_storage(settings.storage)
    with command_session(settings) as session:
        project = projects_service.find_project(session, project_ref)
        observations = _ready(session, project, site_name, None, None)
        if missing_only:
            observations = [
                o for o in observations if _needs_embedding(session, storage, settings, o, project)
            ]
        if not observations:
            console.print("nothing to encode: every selected image has current embeddings")
            return 0
        job = sam_service.submit_embed(
            session,
            make_celery(settings),
            settings,
            project.id,
            [o.id for o in observations],
            None,
            force=not missing_only,
        )
        console.print(f"queued sam_embed job {job.id} for {len(observations)} image(s)")
        return follow(session, job, console) if wait else 0


def sam_batch(
    settings: Settings,
    kind: Literal["prelabel", "carry-forward"],
    project_ref: str,
    site_name: str | None,
    date_from: date | None,
    date_to: date | None,
    wait: bool,
) -> int:
    """Queue SAM pre-labels (or carry-forward) of a project's ready images; with ``wait``, follow the job."""
    console = Console(stderr=True)
    with command_session(settings) as session:
        project = projects_service.find_project(session, project_ref)
        observations = _ready(session, project, site_name, date_from, date_to)
        if not observations:
            raise InvalidInputError("No ready image matches; nothing to do.")
        ids = [o.id for o in observations]
        celery = make_celery(settings)
        if kind == "prelabel":
            job = sam_service.submit_prelabel(
                session, celery, settings, project.id, SamPrelabelParams(observation_ids=ids), None
            )
        else:
            job = sam_service.submit_carry_forward(
                session, celery, settings, project.id, SamCarryForwardParams(observation_ids=ids), None
            )
        console.print(f"queued {job.kind.value} job {job.id} for {len(ids)} image(s)")
        return follow(session, job, console) if wait else 0


def _ready(
    session: Session, project: Project, site_name: str | None, date_from: date | None, date_to: date | None
) -> list[Observation]:
    stmt = select(Observation).where(
        Observation.project_id == project.id, Observation.status == ObservationStatus.READY
    )
    if site_name is not None:
        site = repo.get_site_by_name(session, project.id, site_name)
        if site is None:
            raise InvalidInputError(f"Project {project.name} has no site named {site_name!r}.")
        stmt = stmt.where(Observation.site_id == site.id)
    if date_from is not None:
        stmt = stmt.where(Observation.acquired_on >= date_from)
    if date_to is not None:
        stmt = stmt.where(Observation.acquired_on <= date_to)
    return list(session.scalars(stmt.order_by(Observation.site_id, Observation.index)))


def follow(session: Session, job: Job, console: Console) -> int:
    """A progress bar until the job ends; 0 when it succeeded, else 1 with its error."""
    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("waiting for a gpu worker", total=1.0)
        while True:
            session.expire_all()
            row = session.get(Job, job.id)
            assert row is not None
            progress.update(bar, completed=row.progress, description=row.message[:60] or row.state.value)
            if row.state.is_final:
                break
            time.sleep(POLL_S)
    if row.state.value != "succeeded":
        typer.echo(f"error: the job {row.state.value}: {row.error or row.message}", err=True)
        return 1
    result = row.result or {}
    summary = ", ".join(
        f"{key.replace('_', ' ')} {value}" for key, value in result.items() if isinstance(value, int)
    )
    console.print(f"done: {summary}")
    return 0


def _needs_embedding(
    session: Session, storage: Storage, settings: Settings, observation: Observation, project: Project
) -> bool:
    site = session.get(Site, observation.site_id)
    assert site is not None
    decoder = read_decoder(storage)
    spec = render_spec(observation, site, project.display_preset)
    manifest = read_manifest(storage, observation)
    return why_stale(manifest, decoder.checkpoint_hash if decoder else None, spec, settings.sam) is not None
