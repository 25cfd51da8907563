"""Projects: creation, lookup, display settings."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.interop.labeling_config import DEFAULT_LABELING_CONFIG, parse_labeling_config
from app.models.access import ProjectMember, ProjectRole
from app.models.project import DisplayPreset, Project, Site
from app.repositories import imagery as repo


class ProjectNotFoundError(NotFoundError):
    code = "project_not_found"


class SiteNotFoundError(NotFoundError):
    code = "site_not_found"


def create_project(
    session: Session,
    *,
    name: str,
    description: str = "",
    preset: DisplayPreset | None = None,
    labeling_config: str | None = None,
    admin_id: uuid.UUID | None = None,
) -> Project:
    """Create and commit a project; its labeling config (default: the workshop's) is checked first.
    ``admin_id`` (the creator) becomes the project's first admin."""
    name = name.strip()
    if not name:
        raise InvalidInputError("A project needs a name.")
    config = labeling_config or DEFAULT_LABELING_CONFIG
    parse_labeling_config(config)
    if repo.get_project_by_name(session, name) is not None:
        raise ConflictError(f"A project named {name!r} exists already; choose another name.")
    project = Project(
        name=name,
        description=description,
        display_preset=preset or DisplayPreset.TRUE_COLOR,
        labeling_config=config,
    )
    session.add(project)
    if admin_id is not None:
        session.flush()
        session.add(ProjectMember(project_id=project.id, user_id=admin_id, role=ProjectRole.ADMIN))
    session.commit()
    return project


def set_labeling_config(session: Session, project: Project, config: str) -> Project:
    """Replace the project's labeling config after checking it (LabelingConfigError otherwise)."""
    parse_labeling_config(config)
    project.labeling_config = config
    session.commit()
    return project


def get_project_or_raise(session: Session, project_id: uuid.UUID) -> Project:
    project = repo.get_project(session, project_id)
    if project is None:
        raise ProjectNotFoundError(f"No project with id {project_id}.")
    return project


def find_project(session: Session, name_or_id: str) -> Project:
    """A project by name, or by id (what the CLI accepts)."""
    project = repo.get_project_by_name(session, name_or_id)
    if project is None:
        try:
            project = repo.get_project(session, uuid.UUID(name_or_id))
        except ValueError:
            project = None
    if project is None:
        raise ProjectNotFoundError(f"No project named or with id {name_or_id!r}; create it first.")
    return project


def get_site_or_raise(session: Session, site_id: uuid.UUID) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise SiteNotFoundError(f"No site with id {site_id}.")
    return site
