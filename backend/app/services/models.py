"""Model versions: a training round (dataset, then train), the promotion rule, promote and roll back by hand,
the champion, and rounds that start themselves after enough newly approved tasks. No torch here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.models.job import Job, JobKind, JobState
from app.models.ml import Dataset, DatasetState, ModelState, ModelVersion
from app.models.observation import Observation
from app.models.project import Project, Site
from app.models.review import AuditEvent
from app.schemas.ml import (
    ClassScore,
    DatasetParams,
    PredictParams,
    PredictRequest,
    SplitMetrics,
    TrainOptions,
    TrainParams,
)
from app.services import jobs as jobs_service
from app.services.datasets import assign_splits, check_can_build
from app.services.workflow import audit

ROUND_KINDS = (JobKind.DATASET, JobKind.TRAIN)


class ModelVersionNotFoundError(NotFoundError):
    code = "model_version_not_found"


class DatasetNotFoundError(NotFoundError):
    code = "dataset_not_found"


class RoundRunningError(ConflictError):
    code = "training_round_running"


def get_version(session: Session, version_id: uuid.UUID) -> ModelVersion:
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise ModelVersionNotFoundError(f"No model version with id {version_id}.")
    return version


def champion(session: Session, project_id: uuid.UUID) -> ModelVersion | None:
    return session.scalars(
        select(ModelVersion).where(ModelVersion.project_id == project_id, ModelVersion.is_champion)
    ).first()


def get_dataset(session: Session, dataset_id: uuid.UUID) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise DatasetNotFoundError(f"No dataset with id {dataset_id}.")
    return dataset


def check_dataset(session: Session, project: Project, params: DatasetParams) -> None:
    """Refuse, before anything is stored, a dataset that could not be made: no approved task, one site,
    mixed bands, or no site left to test on (the test sites' draw is tried, then undone)."""
    tasks = check_can_build(session, project)
    sites = list(session.scalars(select(Site).where(Site.id.in_({t.site_id for t in tasks}))))
    savepoint = session.begin_nested()
    try:
        assign_splits(session, sites, params)
    finally:
        savepoint.rollback()


def running_round(session: Session, project_id: uuid.UUID) -> Job | None:
    """A dataset or training job of the project that is queued or running (one round at a time)."""
    return session.scalars(
        select(Job).where(
            Job.project_id == project_id,
            Job.kind.in_(ROUND_KINDS),
            Job.state.in_([JobState.QUEUED, JobState.RUNNING]),
        )
    ).first()


def start_round(
    session: Session,
    celery: Celery,
    settings: Settings,
    project: Project,
    params: DatasetParams,
    options: TrainOptions,
    user_id: uuid.UUID | None,
) -> Job:
    """Freeze a dataset of the approved tasks now, and train on it when it is ready (a `dataset` job that
    queues the `train` job). Refused while another round of the project runs, or when no dataset can be
    made."""
    if (running := running_round(session, project.id)) is not None:
        raise RoundRunningError(
            f"A training round of this project is under way (job {running.id}, {running.kind.value}, "
            f"{running.state.value}); wait for it or cancel it first."
        )
    check_dataset(session, project, params)
    return submit_dataset(
        session, celery, settings, project, params.model_copy(update={"then_train": options}), user_id
    )


def submit_dataset(
    session: Session,
    celery: Celery,
    settings: Settings,
    project: Project,
    params: DatasetParams,
    user_id: uuid.UUID | None,
) -> Job:
    job = jobs_service.new_job(
        JobKind.DATASET, params, project_id=project.id, created_by=user_id, settings=settings.jobs
    )
    dataset = Dataset(
        project_id=project.id, job_id=job.id, params=params.model_dump(mode="json"), created_by=user_id
    )
    session.add(job)
    session.flush()
    session.add(dataset)
    return jobs_service.submit_job(session, celery, job)


def dataset_of_job(session: Session, job_id: uuid.UUID) -> Dataset:
    dataset = session.scalars(select(Dataset).where(Dataset.job_id == job_id)).first()
    if dataset is None:
        raise DatasetNotFoundError(f"No dataset is made by job {job_id}.")
    return dataset


def submit_training(
    session: Session,
    celery: Celery,
    settings: Settings,
    dataset: Dataset,
    options: TrainOptions,
    user_id: uuid.UUID | None,
) -> tuple[ModelVersion, Job]:
    """A new model version of the dataset's project and the `train` job that fits it."""
    if dataset.state is not DatasetState.READY:
        raise ConflictError(
            f"Dataset {dataset.id} is {dataset.state.value}; a model trains on a ready dataset."
        )
    number = (
        session.scalar(
            select(func.max(ModelVersion.number)).where(ModelVersion.project_id == dataset.project_id)
        )
        or 0
    ) + 1
    parent = champion(session, dataset.project_id)
    if options.warm_start and parent is not None and parent.in_channels != dataset.band_count:
        raise InvalidInputError(
            f"warm_start: the champion {parent.name} takes {parent.in_channels} bands, the dataset has "
            f"{dataset.band_count}; train from scratch (warm_start false)."
        )
    version = ModelVersion(
        id=uuid.uuid4(),
        project_id=dataset.project_id,
        number=number,
        name=f"unet-v{number}",
        dataset_id=dataset.id,
        parent_id=parent.id if parent else None,
        settings=options.model_dump(mode="json"),
        classes=dataset.classes,
        in_channels=dataset.band_count,
        created_by=user_id,
    )
    job = jobs_service.new_job(
        JobKind.TRAIN,
        TrainParams(model_version_id=version.id, dataset_id=dataset.id, options=options),
        project_id=dataset.project_id,
        created_by=user_id,
        settings=settings.jobs,
    )
    version.job_id = job.id
    session.add(job)
    session.flush()
    session.add(version)
    return version, jobs_service.submit_job(session, celery, job)


def split_metrics(scores: list[ClassScore]) -> SplitMetrics:
    ious = [s.iou for s in scores if s.iou is not None]
    return SplitMetrics(mean_iou=sum(ious) / len(ious) if ious else None, per_class=scores)


def decide_promotion(
    candidate: SplitMetrics | None, current: SplitMetrics | None, *, margin: float, max_drop: float
) -> tuple[bool, str]:
    """Whether the candidate replaces the champion: a better mean test IoU by ``margin``, and no class down
    by more than ``max_drop``; with the reason either way."""
    if candidate is None or candidate.mean_iou is None:
        return False, "no test metrics: the test sites had nothing to score"
    if current is None or current.mean_iou is None:
        return True, f"the first model with test metrics (mean test IoU {candidate.mean_iou:.3f})"
    gain = candidate.mean_iou - current.mean_iou
    theirs = {s.label: s.iou for s in current.per_class}
    drops = {
        s.label: (theirs[s.label] or 0.0) - (s.iou or 0.0)
        for s in candidate.per_class
        if theirs.get(s.label) is not None
    }
    worst = max(drops.items(), key=lambda item: item[1], default=("", 0.0))
    if worst[1] > max_drop:
        return False, (
            f"{worst[0]} fell by {worst[1]:.3f} test IoU (more than the {max_drop:.3f} allowed); "
            "the champion stays"
        )
    if gain < margin:
        return False, (
            f"mean test IoU {candidate.mean_iou:.3f} against the champion's {current.mean_iou:.3f}: "
            f"not better by {margin:.3f}; the champion stays"
        )
    return (
        True,
        f"mean test IoU {candidate.mean_iou:.3f} beats the champion's {current.mean_iou:.3f} by {gain:.3f}",
    )


def promote(session: Session, version: ModelVersion, actor_id: uuid.UUID | None, reason: str) -> None:
    """Make ``version`` the project's champion (audited). Flushes."""
    if version.state is not ModelState.TRAINED:
        raise ConflictError(
            f"Model {version.name} is {version.state.value}; only a trained model can be champion."
        )
    previous = champion(session, version.project_id)
    if previous is not None and previous.id != version.id:
        previous.is_champion = False
        session.flush()
    version.is_champion = True
    version.promoted_at = datetime.now(UTC)
    version.promotion = reason
    audit(
        session,
        None,
        version.project_id,
        actor_id,
        "promote_model",
        model=version.name,
        previous=previous.name if previous else None,
        reason=reason,
    )
    session.flush()


def roll_back(session: Session, project_id: uuid.UUID, actor_id: uuid.UUID | None) -> ModelVersion:
    """The champion before the current one becomes champion again."""
    current = champion(session, project_id)
    if current is None:
        raise ConflictError("The project has no champion model to roll back from.")
    earlier = session.scalars(
        select(ModelVersion)
        .where(
            ModelVersion.project_id == project_id,
            ModelVersion.promoted_at.is_not(None),
            ModelVersion.id != current.id,
            ModelVersion.state == ModelState.TRAINED,
        )
        .order_by(ModelVersion.promoted_at.desc())
    ).first()
    if earlier is None:
        raise ConflictError(
            f"{current.name} is the only model that was ever champion; there is none to roll back to."
        )
    promote(session, earlier, actor_id, f"rolled back from {current.name}")
    return earlier


def after_approval(session: Session, celery: Celery, settings: Settings, project: Project) -> Job | None:
    """Start a round when the project asks for one every N approvals and that many are new since the last
    dataset (with the last round's recipe); at most one round at a time, and none when no dataset can be
    made yet."""
    every = project.auto_train_every
    if not every or running_round(session, project.id) is not None:
        return None
    last = session.scalars(
        select(Dataset).where(Dataset.project_id == project.id).order_by(Dataset.created_at.desc())
    ).first()
    since = last.created_at if last is not None else None
    approvals = (
        session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.project_id == project.id,
                AuditEvent.action == "approve",
                *([AuditEvent.created_at > since] if since is not None else []),
            )
        )
        or 0
    )
    if approvals < every:
        return None
    params, options = round_recipe(last)
    try:
        return start_round(session, celery, settings, project, params, options, None)
    except (InvalidInputError, ConflictError):
        return None  # not yet possible (one site only, say): the next approval tries again


def round_recipe(last: Dataset | None) -> tuple[DatasetParams, TrainOptions]:
    """An automatic round repeats the project's last round (chips, split, training options): what an engineer
    chose by hand goes on being used; the defaults when there was none."""
    if last is None:
        return DatasetParams(), TrainOptions()
    params = DatasetParams.model_validate(last.params)
    return params.model_copy(update={"then_train": None}), params.then_train or TrainOptions()


def submit_prediction(
    session: Session,
    celery: Celery,
    settings: Settings,
    project: Project,
    request: PredictRequest,
    observation_ids: list[uuid.UUID],
    user_id: uuid.UUID | None,
) -> Job:
    """A `predict` job of the requested model (the champion by default) over the observations."""
    if request.model_version_id is None:
        version = champion(session, project.id)
        if version is None:
            raise ConflictError(
                "The project has no champion model yet: train one (Train now), or name a model version."
            )
    else:
        version = get_version(session, request.model_version_id)
        if version.project_id != project.id:
            raise ModelVersionNotFoundError(f"No model version with id {version.id} in this project.")
    if version.state is not ModelState.TRAINED or version.checkpoint_key is None:
        raise ConflictError(
            f"Model {version.name} is {version.state.value}; only a trained model pre-labels."
        )
    mismatched = session.scalars(
        select(Observation.original_filename).where(
            Observation.id.in_(observation_ids), Observation.band_count != version.in_channels
        )
    ).all()
    if mismatched:
        raise InvalidInputError(
            f"{version.name} takes {version.in_channels} bands; these images have others: "
            f"{', '.join(sorted(mismatched)[:10])}. Leave them out of the selection."
        )
    params = PredictParams(
        model_version_id=version.id, observation_ids=observation_ids, threshold=request.threshold
    )
    job = jobs_service.new_job(
        JobKind.PREDICT, params, project_id=project.id, created_by=user_id, settings=settings.jobs
    )
    return jobs_service.submit_job(session, celery, job)
