"""Each attempt's own scratch folder, ``<root>/<job id>-<lease token>``, on the machine that runs it.

A killed attempt cannot remove its folder, so others do: the next attempt of the same job, a worker when
it starts, and the reaper, which keep only the folders of attempts that still hold their lease.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.job import Job, JobState

logger = logging.getLogger(__name__)


def attempt_folder(root: Path, job_id: uuid.UUID, token: uuid.UUID) -> Path:
    """Create and return the attempt's folder."""
    folder = root / f"{job_id}-{token}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _parse(name: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    if len(name) != 73 or name[36] != "-":
        return None
    try:
        return uuid.UUID(name[:36]), uuid.UUID(name[37:])
    except ValueError:
        return None


def sweep(session: Session, root: Path, *, job_id: uuid.UUID | None = None) -> list[Path]:
    """Remove the folders under ``root`` of attempts that no longer hold their job's lease (all jobs, or
    only ``job_id``'s). Folders whose names are not attempts' are left alone. Returns what was removed."""
    if not root.is_dir():
        return []
    folders: dict[Path, tuple[uuid.UUID, uuid.UUID]] = {}
    for path in root.iterdir():
        parsed = _parse(path.name)
        if path.is_dir() and parsed is not None and (job_id is None or parsed[0] == job_id):
            folders[path] = parsed
    if not folders:
        return []
    live = {
        (row.id, row.lease_token)
        for row in session.execute(
            select(Job.id, Job.lease_token).where(
                Job.id.in_({ids[0] for ids in folders.values()}), Job.state == JobState.RUNNING
            )
        )
    }
    removed = [path for path, ids in folders.items() if ids not in live]
    for path in removed:
        logger.info("removing %s, left by an attempt that ended", path)
        remove(path)
    return removed
