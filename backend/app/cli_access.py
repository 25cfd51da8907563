"""What the `minelabel` access commands do: project membership and API tokens from the shell."""

from __future__ import annotations

import typer

from app.core.config import Settings
from app.core.db import command_session
from app.core.errors import NotFoundError
from app.models.access import ProjectRole
from app.repositories import users as users_repo
from app.services import auth as auth_service
from app.services import members as members_service
from app.services import projects as projects_service


def add_member(settings: Settings, project_ref: str, email: str, role: ProjectRole) -> None:
    with command_session(settings) as session:
        project = projects_service.find_project(session, project_ref)
        user = users_repo.get_user_by_email(session, email)
        if user is None:
            raise NotFoundError(f"No user with email {email}; create it first (minelabel create-user).")
        members_service.set_member(session, project.id, user.id, role)
        typer.echo(f"{user.email} is {role.value} of {project.name}")


def create_token(settings: Settings, email: str, name: str) -> None:
    with command_session(settings) as session:
        user = users_repo.get_user_by_email(session, email)
        if user is None:
            raise NotFoundError(f"No user with email {email}.")
        _, key = auth_service.create_api_token(session, user, name)
        typer.echo(key)
        typer.echo(f"(shown once) send it as 'Authorization: Token {key[:10]}...'", err=True)
