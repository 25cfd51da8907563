"""The `minelabel` command: admin tasks (users, migrations) and the local development stack."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError

from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_session_factory
from app.core.errors import MineLabelError
from app.core.logging import configure_logging
from app.core.migrations import upgrade
from app.models.access import ProjectRole
from app.models.project import DisplayPreset

T = TypeVar("T")

cli = typer.Typer(
    help="MineLabel administration.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _settings() -> Settings:
    try:
        settings = get_settings()
    except ValidationError as exc:
        typer.echo(f"Invalid settings:\n{exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level)
    return settings


@cli.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply database migrations (DB__URL)."""
    upgrade(_settings().db.url, revision)
    typer.echo(f"database at {revision}")


@cli.command()
def init() -> None:
    """Migrate the database, prepare file storage (the S3 bucket), and create the first admin if there
    is no user (ADMIN__EMAIL/PASSWORD)."""
    from app.imagery.storage import make_storage
    from app.services.bootstrap import describe_created_admin, initialise_database

    settings = _settings()
    created = initialise_database(settings.db.url, settings.admin)
    typer.echo(make_storage(settings.storage).prepare())
    typer.echo(describe_created_admin(created) if created else "database ready; users exist already")


@cli.command("create-user")
def create_user(
    email: str,
    admin: Annotated[bool, typer.Option("--admin", help="Give the user every right.")] = False,
    password: Annotated[
        str | None, typer.Option(help="Omit to be asked (safer than a shell history).")
    ] = None,
) -> None:
    """Create a user account."""
    from app.services.users import create_user as create

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = make_engine(_settings())
    try:
        with make_session_factory(engine)() as session:
            user = create(session, email=email, password=password, is_admin=admin)
    except MineLabelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(f"created {'admin ' if admin else ''}{user.email} ({user.id})")


@cli.command("create-project")
def create_project(
    name: str,
    preset: Annotated[
        DisplayPreset, typer.Option(help="How multi-band images are shown.")
    ] = DisplayPreset.TRUE_COLOR,
    description: str = "",
) -> None:
    """Create a project."""
    from app import cli_imagery

    _run_or_exit(lambda: cli_imagery.create_project(_settings(), name, preset, description))


@cli.command("add-member")
def add_member(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    email: str,
    role: Annotated[ProjectRole, typer.Argument(help="admin, reviewer or annotator.")],
) -> None:
    """Add a user to a project with a role (or change their role)."""
    from app import cli_access

    _run_or_exit(lambda: cli_access.add_member(_settings(), project, email, role))


@cli.command("create-token")
def create_token(
    email: str, name: Annotated[str, typer.Argument(help="What the token is for.")] = "script"
) -> None:
    """Create a personal API token for a user and print its key (once)."""
    from app import cli_access

    _run_or_exit(lambda: cli_access.create_token(_settings(), email, name))


@cli.command("import-images")
def import_images(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    folder: Annotated[Path, typer.Argument(help="Folder of .png/.jpg/.tif images.")],
    sidecar: Annotated[
        Path | None,
        typer.Option(
            help="CSV/JSON with dates and centre/extent; default: sidecar.csv or sidecar.json in FOLDER."
        ),
    ] = None,
) -> None:
    """Import a folder of images: `<site>_<index>.png` names a site and its observation index."""
    from app import cli_imagery

    failed = _run_or_exit(lambda: cli_imagery.import_images(_settings(), project, folder, sidecar))
    raise typer.Exit(1 if failed else 0)


def _run_or_exit(action: Callable[[], T]) -> T:
    try:
        return action()
    except MineLabelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@cli.command()
def dev() -> None:
    """Run PostGIS, Redis, a worker and the API locally (what `make run` calls); Ctrl+C stops them."""
    from app.devstack.supervisor import run_dev_stack

    raise typer.Exit(run_dev_stack(_settings()))


@cli.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "cpu,gpu",
    concurrency: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Run a Celery worker (production: one on `cpu`, one per GPU on `gpu`)."""
    from workers.celery_app import celery_app

    settings = _settings()
    celery_app.worker_main(
        ["worker", "-Q", queues, "--concurrency", str(concurrency), "--loglevel", settings.log_level]
    )


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Defaults to API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Defaults to API_PORT.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
) -> None:
    """Run the API with uvicorn."""
    import uvicorn

    settings = _settings()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
    )


def main() -> None:
    sys.exit(cli())
