"""`minelabel train` and `minelabel predict`: a training round (dataset, then training on a GPU worker) or
pre-labels from a model, followed with a progress bar. Like the API, the CLI only queues jobs: torch lives on
the GPU workers."""

from __future__ import annotations

import uuid

from rich.console import Console
from sqlalchemy import select

from app.cli_sam import follow
from app.core.config import Settings
from app.core.db import command_session
from app.core.errors import InvalidInputError
from app.core.queue import make_celery
from app.models.job import Job
from app.models.ml import ModelVersion
from app.models.observation import TaskState
from app.repositories import imagery as repo
from app.schemas.ml import DatasetParams, PredictRequest, TrainOptions
from app.services import models as models_service
from app.services import projects as projects_service
from app.services.selection import ready_observations


def train(
    settings: Settings, project_ref: str, dataset: DatasetParams, options: TrainOptions, wait: bool
) -> int:
    """Queue a round; with ``wait``, follow the dataset job and then the training. The exit code."""
    console = Console(stderr=True)
    with command_session(settings) as session:
        project = projects_service.find_project(session, project_ref)
        job = models_service.start_round(
            session, make_celery(settings), settings, project, dataset, options, None
        )
        console.print(f"queued dataset job {job.id}; the training follows it")
        if not wait:
            return 0
        if code := follow(session, job, console):
            return code
        session.expire_all()
        finished = session.get(Job, job.id)
        assert finished is not None and finished.result is not None
        train_job = session.get(Job, uuid.UUID(str(finished.result["train_job_id"])))
        assert train_job is not None
        code = follow(session, train_job, console)
        session.expire_all()
        result = session.get(Job, train_job.id)
        if code == 0 and result is not None and result.result is not None:
            console.print(str(result.result["promotion"]))
        return code


def predict(
    settings: Settings,
    project_ref: str,
    model: str | None,
    site_name: str | None,
    all_tasks: bool,
    wait: bool,
) -> int:
    """Pre-label with a model (the champion by default): unlabeled tasks, or every ready image."""
    console = Console(stderr=True)
    with command_session(settings) as session:
        project = projects_service.find_project(session, project_ref)
        version_id = None
        if model is not None:
            version = session.scalars(
                select(ModelVersion).where(ModelVersion.project_id == project.id, ModelVersion.name == model)
            ).first()
            if version is None:
                raise InvalidInputError(f"Project {project.name} has no model version named {model!r}.")
            version_id = version.id
        site_id = None
        if site_name is not None:
            site = repo.get_site_by_name(session, project.id, site_name)
            if site is None:
                raise InvalidInputError(f"Project {project.name} has no site named {site_name!r}.")
            site_id = site.id
        ids = ready_observations(
            session, project.id, site_id=site_id, states=[] if all_tasks else [TaskState.NEW]
        )
        request = PredictRequest(model_version_id=version_id, unlabeled_only=not all_tasks)
        job = models_service.submit_prediction(
            session, make_celery(settings), settings, project, request, ids, None
        )
        console.print(f"queued predict job {job.id} for {len(ids)} image(s)")
        return follow(session, job, console) if wait else 0
