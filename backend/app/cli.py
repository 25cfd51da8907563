"""The `minelabel` command: admin tasks (users, migrations) and the local development stack."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError

from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_session_factory
from app.core.errors import InvalidInputError, MineLabelError
from app.core.logging import configure_logging
from app.core.migrations import upgrade
from app.models.access import ProjectRole
from app.models.observation import TaskState
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
        DisplayPreset, typer.Option(help="How images are shown (hillshade, elevation: for DEMs).")
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


@cli.command("export")
def export(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    out: Annotated[Path, typer.Argument(help="The file to write.")],
    format_name: Annotated[
        str, typer.Option("--format", help="label-studio, geojson, gpkg, coco or masks.")
    ] = "label-studio",
    state: Annotated[list[TaskState] | None, typer.Option(help="Task states (default: approved).")] = None,
    all_states: Annotated[bool, typer.Option("--all-states", help="Every task state.")] = False,
    label: Annotated[list[str] | None, typer.Option(help="Only these classes.")] = None,
    predictions: Annotated[bool, typer.Option(help="Include predictions.")] = True,
    image_url: Annotated[str | None, typer.Option(help="Label Studio image reference template.")] = None,
    completed_by: Annotated[str, typer.Option(help="omit or email.")] = "omit",
    chip_size: Annotated[int | None, typer.Option(help="Masks: chip size in pixels.")] = None,
    annotations: Annotated[
        str,
        typer.Option(
            help="ground_truth (one per task, its ground truth once approved), all, none (predictions only)."
        ),
    ] = "ground_truth",
    model_version: Annotated[
        str | None, typer.Option(help="Only this model version's predictions (e.g. unet-v3).")
    ] = None,
) -> None:
    """Export labels to a file (with a progress bar and a report of what the format could not hold).

    A model's mining areas per site and date: ``--format gpkg --annotations none --model-version unet-v3
    --all-states``."""
    from app import cli_exports
    from app.interop.exports import ExportOptions
    from app.interop.selection import AnnotationChoice, Selection

    states: tuple[TaskState, ...] = () if all_states else tuple(state or [TaskState.APPROVED])
    choices: dict[str, AnnotationChoice] = {"ground_truth": "ground_truth", "all": "all", "none": "none"}
    if annotations not in choices:
        typer.echo(f"error: --annotations must be ground_truth, all or none, not {annotations!r}", err=True)
        raise typer.Exit(2)
    selection = Selection(
        states=states,
        classes=tuple(label or ()),
        include_predictions=predictions,
        annotations=choices[annotations],
        model_version=model_version,
    )
    fields: dict[str, object] = {"completed_by": completed_by, "chip_size": chip_size}
    if image_url:
        fields["image_url"] = image_url
    _run_or_exit(
        lambda: cli_exports.export(
            _settings(), project, format_name, out, selection, ExportOptions.model_validate(fields)
        )
    )


@cli.command("import-labels")
def import_labels(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    path: Annotated[
        Path, typer.Argument(help="A Label Studio JSON export, a COCO file, or a GeoJSON/GeoPackage file.")
    ],
    as_user: Annotated[str, typer.Option("--as-user", help="The importing user's email.")],
    format_name: Annotated[
        str, typer.Option("--format", help="label-studio, coco, geojson or gpkg.")
    ] = "label-studio",
    as_: Annotated[str, typer.Option("--as", help="annotations or predictions.")] = "annotations",
    observation: Annotated[str | None, typer.Option(help="GIS files: the one observation's id.")] = None,
    site: Annotated[
        str | None,
        typer.Option(
            help="GIS files: a site's name or id: every observation whose footprint a feature overlaps."
        ),
    ] = None,
    label_property: Annotated[str, typer.Option(help="GIS files: the class property.")] = "class",
    default_label: Annotated[str | None, typer.Option(help="GIS files: class when none is given.")] = None,
    label_map: Annotated[
        str | None,
        typer.Option(help='COCO/GIS: category or value -> class: pit=Pit,mine=Outline or {"pit": "Pit"}.'),
    ] = None,
    unknown_classes: Annotated[
        str, typer.Option(help="COCO/GIS: fail, or skip shapes of unknown categories/classes.")
    ] = "fail",
    outside: Annotated[
        str, typer.Option(help="GIS files: skip, clip or fail, for features not wholly on the image.")
    ] = "skip",
    date_property: Annotated[
        str | None, typer.Option(help="GIS files: the property with each feature's date (or year).")
    ] = None,
    date_tolerance_days: Annotated[int, typer.Option(help="GIS files: days either side of the date.")] = 0,
    model_version: Annotated[str, typer.Option(help="For shapes imported as predictions.")] = "import",
) -> None:
    """Import labels; the whole file or nothing, with every problem listed."""
    from app import cli_exports

    fields: dict[str, object] = {
        "as": as_,
        "observation_id": observation,
        "label_property": label_property,
        "default_label": default_label,
        "unknown_classes": unknown_classes,
        "outside": outside,
        "date_property": date_property,
        "date_tolerance_days": date_tolerance_days,
        "model_version": model_version,
    }
    _run_or_exit(
        lambda: cli_exports.import_labels(
            _settings(), project, format_name, path, as_user, fields, site=site, label_map=label_map
        )
    )


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


@cli.command("render-tiles")
def render_tiles(project: Annotated[str, typer.Argument(help="Project name or id.")]) -> None:
    """Re-render a project's thumbnails and stored first-view tiles (e.g. for images ingested before they
    were stored)."""
    from app import cli_imagery

    _run_or_exit(lambda: cli_imagery.render_tiles(_settings(), project))


def _run_or_exit(action: Callable[[], T]) -> T:
    try:
        return action()
    except MineLabelError as exc:
        typer.echo(f"error: {exc}", err=True)
        for problem in exc.extra.get("problems", []):
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(1) from exc


@cli.command("sam-embed")
def sam_embed(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    site: Annotated[str | None, typer.Option(help="Only this site (its name).")] = None,
    missing_only: Annotated[
        bool, typer.Option("--missing-only", help="Only images without current embeddings (else all again).")
    ] = False,
    wait: Annotated[bool, typer.Option(help="Follow the job with a progress bar until it ends.")] = True,
) -> None:
    """Queue SAM embeddings of a project's ready images on the GPU workers (a backfill, or after a new
    checkpoint) and show the job's progress."""
    from app import cli_sam

    raise typer.Exit(_run_or_exit(lambda: cli_sam.sam_embed(_settings(), project, site, missing_only, wait)))


@cli.command("sam-prelabel")
def sam_prelabel(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    site: Annotated[str | None, typer.Option(help="Only this site (its name).")] = None,
    date_from: Annotated[datetime | None, typer.Option("--from", formats=["%Y-%m-%d"])] = None,
    date_to: Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d"])] = None,
    wait: Annotated[bool, typer.Option(help="Follow the job with a progress bar until it ends.")] = True,
) -> None:
    """Pre-label a project's ready images with SAM (predictions; a second run adds nothing)."""
    from app import cli_sam

    raise typer.Exit(
        _run_or_exit(
            lambda: cli_sam.sam_batch(
                _settings(),
                "prelabel",
                project,
                site,
                date_from and date_from.date(),
                date_to and date_to.date(),
                wait,
            )
        )
    )


@cli.command("train")
def train(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    epochs: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    batch_size: Annotated[int, typer.Option(min=1, max=512)] = 8,
    learning_rate: Annotated[float, typer.Option(min=0, max=1)] = 1e-3,
    encoder: Annotated[str, typer.Option(help="A segmentation-models-pytorch encoder.")] = "resnet34",
    encoder_depth: Annotated[int, typer.Option(min=3, max=5)] = 5,
    warm_start: Annotated[bool, typer.Option(help="Start from the champion's weights.")] = False,
    chip_size: Annotated[int, typer.Option(min=32, max=4096)] = 512,
    stride: Annotated[int, typer.Option(min=16, max=4096)] = 448,
    wait: Annotated[bool, typer.Option(help="Follow the jobs with a progress bar until they end.")] = True,
) -> None:
    """Train now: freeze a dataset of the approved tasks, train a model version on a GPU worker, and promote
    it if it beats the champion on the frozen test sites."""
    from app import cli_models
    from app.schemas.ml import DatasetParams, TrainOptions

    def run() -> int:
        try:
            dataset = DatasetParams(chip_size=chip_size, stride=stride)
        except ValidationError as exc:  # the stride larger than the chip
            messages = (str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
            raise InvalidInputError("; ".join(messages)) from exc
        options = TrainOptions(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            encoder=encoder,
            encoder_depth=encoder_depth,
            warm_start=warm_start,
        )
        return cli_models.train(_settings(), project, dataset, options, wait)

    raise typer.Exit(_run_or_exit(run))


@cli.command("predict")
def predict(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    model: Annotated[str | None, typer.Option(help="A model version's name (default: the champion).")] = None,
    site: Annotated[str | None, typer.Option(help="Only this site (its name).")] = None,
    all_tasks: Annotated[
        bool, typer.Option("--all", help="Every ready image, not only unlabeled ones.")
    ] = False,
    wait: Annotated[bool, typer.Option(help="Follow the job with a progress bar until it ends.")] = True,
) -> None:
    """Pre-label a project's unlabeled tasks with a model (predictions; a second run adds nothing)."""
    from app import cli_models

    raise typer.Exit(
        _run_or_exit(lambda: cli_models.predict(_settings(), project, model, site, all_tasks, wait))
    )


@cli.command("sam-carry-forward")
def sam_carry_forward(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    site: Annotated[str | None, typer.Option(help="Only this site (its name).")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the job with a progress bar until it ends.")] = True,
) -> None:
    """Carry each site's approved labels forward to its next date with SAM (predictions, change scores)."""
    from app import cli_sam

    raise typer.Exit(
        _run_or_exit(lambda: cli_sam.sam_batch(_settings(), "carry-forward", project, site, None, None, wait))
    )


@cli.command()
def dev() -> None:
    """Run PostGIS, Redis, a worker and the API locally (what `make run` calls); Ctrl+C stops them."""
    from app.devstack.supervisor import run_dev_stack

    raise typer.Exit(run_dev_stack(_settings()))


@cli.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "cpu,gpu",
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=(
                "Pool processes; default: one per GPU (per TRAIN__DEVICES GPUs) on a gpu-only worker, else 1."
            ),
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Celery node name (default celery@<host>).")] = None,
) -> None:
    """Run a Celery worker: one on `cpu`, and on each GPU machine one on `gpu` (one job per GPU)."""
    from app.devstack.processes import worker_command
    from app.jobs.gpus import list_gpus

    settings = _settings()
    if concurrency is None:
        gpu_only = {q.strip() for q in queues.split(",")} == {"gpu"}
        gpus = settings.worker.gpus if settings.worker.gpus is not None else len(list_gpus())
        # One job per GPU, or per TRAIN__DEVICES GPUs when one training spans several (DDP).
        concurrency = max(gpus // settings.train.devices, 1) if gpu_only else 1
    # The worker is the `celery` program itself, so that this process (the backend) never imports workers/.
    _exec(worker_command(queues, concurrency, settings.log_level, name))


@cli.command()
def beat() -> None:
    """Run Celery beat, which starts the reaper of dead jobs every JOBS__REAP_INTERVAL_S (one per
    installation; a second one is harmless)."""
    from app.devstack.processes import beat_command

    settings = _settings()
    _exec(beat_command(settings))


def _exec(argv: list[str]) -> None:
    import os

    os.execv(argv[0], argv)  # noqa: S606 (our own interpreter, with fixed arguments)


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
        proxy_headers=False,  # the app trusts SECURITY__TRUSTED_PROXIES only (app.main)
    )


def main() -> None:
    sys.exit(cli())
