"""Running an import: the whole file in one transaction, or nothing (the API and the CLI both use this)."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.orm import Session

from app.core.config import LimitSettings
from app.interop.imports import ImportContext, ImportOptions, ImportReport, get_import_format
from app.interop.labeling_config import parse_labeling_config
from app.models.project import Project


def run_import(
    session: Session,
    project: Project,
    format_name: str,
    path: Path,
    importer_id: uuid.UUID,
    options: ImportOptions,
    limits: LimitSettings,
) -> ImportReport:
    fmt = get_import_format(format_name)
    ctx = ImportContext(
        session=session, project=project, config=parse_labeling_config(project.labeling_config),
        importer_id=importer_id, options=options, limits=limits,
    )  # fmt: skip
    try:
        report = fmt.importer(ctx, path)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return report
