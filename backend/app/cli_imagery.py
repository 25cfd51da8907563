"""`minelabel create-project` and `minelabel import-images`: bulk import from a local folder.

The import runs here, not on a worker: the folder is on this machine, and workers may run elsewhere.
Each chunk of files becomes an ``ingest`` job row, so the API shows the import's progress too.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape  # file names must not be read as rich markup
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.core.errors import MineLabelError
from app.imagery.auxiliary import AuxiliaryFile, auxiliary_kind, match_auxiliaries
from app.imagery.sidecar import SIDECAR_NAMES, SidecarEntry, parse_sidecar
from app.imagery.storage import make_storage
from app.models.observation import Observation, ObservationStatus
from app.models.project import DisplayPreset
from app.services import projects as projects_service
from app.services.imagery_processing import refresh_project_rendering
from app.services.ingest import DuplicateImageError, StagedFile, register_images

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
CHUNK = 50


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def create_project(settings: Settings, name: str, preset: DisplayPreset, description: str) -> None:
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            project = projects_service.create_project(
                session, name=name, description=description, preset=preset
            )
            typer.echo(f"created project {project.name} ({project.id})")
    finally:
        engine.dispose()


def render_tiles(settings: Settings, project_ref: str) -> int:
    """Re-render every site's thumbnails and the stored top of each image's pixel pyramid (images ingested
    before pyramids were stored have none and render every tile on request); returns the site count."""
    storage = make_storage(settings.storage)
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            project = projects_service.find_project(session, project_ref)
            result = refresh_project_rendering(
                session,
                storage,
                project.id,
                settings.tiles,
                lambda _f, message: typer.echo(message, err=True),
            )
        typer.echo(f"rendered {result.sites} sites of project {project.name}")
        return result.sites
    finally:
        engine.dispose()


def import_images(settings: Settings, project_ref: str, folder: Path, sidecar_path: Path | None) -> int:
    """Import every image in ``folder``; returns the number of files that failed."""
    from app.jobs import handlers
    from app.jobs.runner import run_job

    console = Console(stderr=True)
    if not folder.is_dir():
        raise MineLabelError(f"{folder} is not a folder.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise MineLabelError(f"No .png, .jpg or .tif files in {folder}.")
    auxiliaries = _auxiliaries(folder, files, console)
    sidecar = _load_sidecar(folder, sidecar_path, console)
    storage = make_storage(settings.storage)
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    failed = 0
    try:
        with factory() as session:
            project = projects_service.find_project(session, project_ref)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("importing", total=len(files))
            for start in range(0, len(files), CHUNK):
                chunk = files[start : start + CHUNK]
                progress.update(task, description=f"checking {chunk[0].name}")
                # World files, .prj and .aux.xml travel in the chunk of their image.
                beside = list(dict.fromkeys(a for p in chunk for a in auxiliaries.get(p.name, [])))
                staged = [StagedFile(p.name, p, p.stat().st_size, sha256_of(p)) for p in chunk + beside]
                with factory() as session:
                    batch = register_images(session, storage, project, staged, sidecar, settings)
                    resumed = _unfinished(session, project.id, [s.sha256 for s in staged])
                for rejection in batch.rejected:
                    if rejection.code == DuplicateImageError.code:
                        console.print(f"[yellow]skipped[/] {escape(rejection.message)}")
                    else:
                        failed += 1
                        console.print(f"[red]rejected[/] {escape(rejection.message)}")
                done = start

                def on_progress(
                    fraction: float, message: str, base: int = done, size: int = len(chunk)
                ) -> None:
                    progress.update(task, completed=base + fraction * size, description=message[:60])

                pending = [str(batch.job.id)] if batch.job is not None else []
                for job_id in pending + resumed:
                    run_job(job_id, handlers.ingest, factory, settings.jobs, on_progress=on_progress)
                progress.update(task, completed=start + len(chunk))
        failed += _report(factory, project.id, [sha256_of(p) for p in files], console)
    finally:
        engine.dispose()
    return failed


def _auxiliaries(folder: Path, images: list[Path], console: Console) -> dict[str, list[Path]]:
    """The folder's world files, .prj and .aux.xml by the image they go with; others are passed over
    (a .prj of a shapefile, say), saying so."""
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and auxiliary_kind(p.name) is not None)
    kinds = {p.name: auxiliary_kind(p.name) for p in candidates}
    matched = match_auxiliaries(
        [p.name for p in images],
        [AuxiliaryFile(p.name, kind, b"") for p in candidates if (kind := kinds[p.name]) is not None],
    )
    for name in matched.unmatched:
        console.print(f"[yellow]passed over[/] {escape(name)}: it goes with no image of the folder")
    paths = {p.name: p for p in candidates}
    # A .prj shared by two images of one stem is listed with each; a chunk takes it once.
    return {image: [paths[a.name] for a in files] for image, files in matched.by_image.items()}


def _load_sidecar(folder: Path, given: Path | None, console: Console) -> dict[str, SidecarEntry]:
    path = given or next((folder / n for n in SIDECAR_NAMES if (folder / n).is_file()), None)
    if path is None:
        return {}
    console.print(f"sidecar: {escape(str(path))}")
    return parse_sidecar(path.read_bytes(), path.name)


def _unfinished(session: Session, project_id: uuid.UUID, hashes: list[str]) -> list[str]:
    """Jobs of earlier, interrupted imports of these files, to finish now."""
    rows = session.scalars(
        select(Observation.ingest_job_id).where(
            Observation.project_id == project_id,
            Observation.content_hash.in_(hashes),
            Observation.status == ObservationStatus.PROCESSING,
            Observation.ingest_job_id.is_not(None),
        )
    )
    return sorted({str(job_id) for job_id in rows})


def _report(
    factory: sessionmaker[Session], project_id: uuid.UUID, hashes: list[str], console: Console
) -> int:
    with factory() as session:
        rows = session.scalars(
            select(Observation).where(
                Observation.project_id == project_id, Observation.content_hash.in_(hashes)
            )
        ).all()
    ready = sum(1 for o in rows if o.status is ObservationStatus.READY)
    broken = [o for o in rows if o.status is ObservationStatus.FAILED]
    for observation in broken:
        console.print(f"[red]failed[/] {escape(f'{observation.original_filename}: {observation.error}')}")
    console.print(f"{ready} image(s) ready in the project, {len(broken)} failed")
    return len(broken)
