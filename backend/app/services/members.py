"""Project membership: who belongs to a project, with which role."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.models.access import ProjectMember, ProjectRole
from app.models.user import User


def roles_of(session: Session, user_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """Project id -> the user's role there."""
    rows = session.execute(
        select(ProjectMember.project_id, ProjectMember.role).where(ProjectMember.user_id == user_id)
    )
    return {project_id: role.value for project_id, role in rows}


def list_members(session: Session, project_id: uuid.UUID) -> list[tuple[ProjectMember, User]]:
    rows = session.execute(
        select(ProjectMember, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id)
        .order_by(User.email)
    )
    return [(m, u) for m, u in rows]


def set_member(
    session: Session, project_id: uuid.UUID, user_id: uuid.UUID, role: ProjectRole
) -> ProjectMember:
    """Add the user to the project with ``role``, or change their role."""
    if session.get(User, user_id) is None:
        raise InvalidInputError(
            f"No user with id {user_id}; a site admin creates accounts at POST /api/users."
        )
    member = session.get(ProjectMember, (project_id, user_id))
    if member is None:
        member = ProjectMember(project_id=project_id, user_id=user_id, role=role)
        session.add(member)
    else:
        if member.role == ProjectRole.ADMIN and role != ProjectRole.ADMIN:
            _keep_an_admin(session, project_id)
        member.role = role
    session.commit()
    return member


def remove_member(session: Session, project_id: uuid.UUID, user_id: uuid.UUID) -> None:
    member = session.get(ProjectMember, (project_id, user_id))
    if member is None:
        raise NotFoundError(f"User {user_id} is not a member of this project.")
    if member.role == ProjectRole.ADMIN:
        _keep_an_admin(session, project_id)
    session.delete(member)
    session.commit()


def _keep_an_admin(session: Session, project_id: uuid.UUID) -> None:
    admins = session.scalar(
        select(func.count())
        .select_from(ProjectMember)
        .where(ProjectMember.project_id == project_id, ProjectMember.role == ProjectRole.ADMIN)
    )
    if (admins or 0) <= 1:
        raise ConflictError("This is the project's last admin; make someone else admin first.")
