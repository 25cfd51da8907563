"""Running an export: to a stream (the API), or to a file (the CLI and the export job)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from app.core.config import TileSettings
from app.imagery.storage import Storage
from app.interop.exports import (
    ExportContext,
    ExportFormat,
    ExportOptions,
    ExportReport,
    get_format,
    no_task_note,
)
from app.interop.labeling_config import parse_labeling_config
from app.interop.selection import Selection, count_tasks
from app.services.projects import get_project_or_raise


def prepare(
    session: Session,
    project_id: uuid.UUID,
    format_name: str,
    selection: Selection,
    options: ExportOptions,
    storage: Storage,
    tiles: TileSettings,
    on_progress: Callable[[int], None] | None = None,
    scratch: Path | None = None,
) -> tuple[ExportContext, ExportFormat]:
    """Check everything that can be checked before the first byte is written.

    Args:
        scratch: where the format's writer may put temporary files (a folder something sweeps).
    """
    fmt = get_format(format_name)
    project = get_project_or_raise(session, project_id)
    config = parse_labeling_config(project.labeling_config)
    selection.check(config.class_names)
    ctx = ExportContext(
        session=session, project=project, config=config, selection=selection, options=options,
        storage=storage, tiles=tiles, total_tasks=count_tasks(session, project.id, selection),
        on_progress=on_progress, scratch=scratch,
    )  # fmt: skip
    return ctx, fmt


def stream(ctx: ExportContext, fmt: ExportFormat) -> tuple[Iterator[bytes], ExportReport]:
    """The export's bytes, and its report (complete once the bytes are read). An export of no task says so
    in the report's notes from the start, so that formats with room for the report carry it."""
    report = ExportReport(format=fmt.name)
    if ctx.total_tasks == 0:
        report.notes.append(no_task_note(ctx.selection))
    return fmt.writer(ctx, report), report


def write_file(ctx: ExportContext, fmt: ExportFormat, path: Path) -> ExportReport:
    """Write the export to ``path`` (through a temporary name, so a failed export leaves no file)."""
    chunks, report = stream(ctx, fmt)
    partial = path.with_name(path.name + ".part")
    try:
        with partial.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return report
