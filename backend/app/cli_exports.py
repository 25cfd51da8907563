"""What `minelabel export` and `minelabel import-labels` do."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import command_session
from app.core.errors import NotFoundError
from app.imagery.storage import make_storage
from app.interop.exports import ExportOptions
from app.interop.imports import label_map_option, parse_import_options
from app.interop.selection import Selection
from app.repositories import imagery as imagery_repo
from app.repositories import users as users_repo
from app.services import exports as export_service
from app.services import projects as projects_service
from app.services.imports import run_import


def export(settings: Settings, project_ref: str, format_name: str, out: Path, selection: Selection,
           options: ExportOptions) -> None:  # fmt: skip
    with command_session(settings) as session:
        project = projects_service.find_project(session, project_ref)
        with typer.progressbar(length=1, label=f"exporting {format_name}") as bar:
            ctx, fmt = export_service.prepare(
                session, project.id, format_name, selection, options, make_storage(settings.storage),
                settings.tiles,
            )  # fmt: skip
            bar.length = max(ctx.total_tasks, 1)
            done = [0]

            def progress(count: int) -> None:
                bar.update(count - done[0])
                done[0] = count

            ctx.on_progress = progress
            report = export_service.write_file(ctx, fmt, out)
        typer.echo(f"wrote {out} ({out.stat().st_size:,} bytes)")
        typer.echo(json.dumps(report.to_dict(), indent=2))


def import_labels(
    settings: Settings,
    project_ref: str,
    format_name: str,
    path: Path,
    email: str,
    fields: dict[str, object],
    *,
    site: str | None = None,
    label_map: str | None = None,
) -> None:
    """Check the options (a site by name or id), then import, printing the report."""
    with command_session(settings) as session:
        project = projects_service.find_project(session, project_ref)
        site_id = _site_id(session, project.id, site) if site is not None else None
        options = parse_import_options(
            format_name, {**fields, "site_id": site_id, "label_map": label_map_option(label_map)}
        )
        user = users_repo.get_user_by_email(session, email)
        if user is None:
            raise NotFoundError(f"No user with email {email} (--as-user).")
        report = run_import(session, project, format_name, path, user.id, options, settings.limits)
        typer.echo(json.dumps(report.to_dict(), indent=2))


def _site_id(session: Session, project_id: uuid.UUID, ref: str) -> uuid.UUID:
    site = imagery_repo.get_site_by_name(session, project_id, ref)
    if site is not None:
        return site.id
    try:
        return uuid.UUID(ref)
    except ValueError:
        raise NotFoundError(
            f"No site named {ref!r} in the project (--site takes a site's name or id)."
        ) from None
