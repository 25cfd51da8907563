"""`minelabel sam-embed`: queue SAM embeddings for a project's images (a GPU worker computes them) and follow
the job with a progress bar. The CLI never runs the encoder itself: torch lives on the GPU workers."""

from __future__ import annotations

import time

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
        stmt = select(Observation).where(
            Observation.project_id == project.id, Observation.status == ObservationStatus.READY
        )
        if site_name is not None:
            site = repo.get_site_by_name(session, project.id, site_name)
            if site is None:
                raise InvalidInputError(f"Project {project.name} has no site named {site_name!r}.")
            stmt = stmt.where(Observation.site_id == site.id)
        observations = list(session.scalars(stmt.order_by(Observation.site_id, Observation.index)))
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
        if not wait:
            return 0
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
    console.print(f"{result.get('encoded', 0)} image(s) encoded, {result.get('skipped', 0)} skipped")
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
