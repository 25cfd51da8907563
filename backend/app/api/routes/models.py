"""Retraining over HTTP: datasets (build, read, download), Train now, model versions with their metrics,
promote and roll back, checkpoint and ONNX downloads, and pre-labels from a model (README "Retraining")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.access import AccessDep
from app.api.deps import CeleryDep, SessionDep, SettingsDep, StorageDep
from app.api.presenters import job_read
from app.core.errors import ConflictError
from app.models.ml import Dataset, ModelVersion
from app.models.observation import TaskState
from app.schemas.job import JobRead
from app.schemas.ml import (
    CurvePoint,
    DatasetParams,
    DatasetRead,
    ModelMetrics,
    ModelVersionRead,
    PredictRequest,
    SplitSummary,
    TrainNowRequest,
    TrainOptions,
)
from app.services import datasets as datasets_service
from app.services import models as models_service
from app.services import projects as projects_service
from app.services.selection import ready_observations

router = APIRouter(tags=["models"])


def dataset_read(dataset: Dataset) -> DatasetRead:
    return DatasetRead(
        id=dataset.id,
        project_id=dataset.project_id,
        job_id=dataset.job_id,
        state=dataset.state,
        content_hash=dataset.content_hash,
        classes=dataset.classes,
        band_count=dataset.band_count,
        summary={k: SplitSummary.model_validate(v) for k, v in dataset.summary.items()},
        error=dataset.error,
        created_at=dataset.created_at,
    )


def version_read(session: Session, version: ModelVersion) -> ModelVersionRead:
    dataset = session.get(Dataset, version.dataset_id) if version.dataset_id else None
    return ModelVersionRead(
        id=version.id,
        project_id=version.project_id,
        number=version.number,
        name=version.name,
        dataset_id=version.dataset_id,
        dataset_hash=dataset.content_hash if dataset else None,
        parent_id=version.parent_id,
        job_id=version.job_id,
        state=version.state,
        settings=TrainOptions.model_validate(version.settings),
        code_version=version.code_version,
        classes=version.classes,
        in_channels=version.in_channels,
        metrics=ModelMetrics.model_validate(version.metrics) if version.metrics else None,
        curve=[CurvePoint.model_validate(p) for p in version.curve],
        has_checkpoint=version.checkpoint_key is not None,
        has_onnx=version.onnx_key is not None,
        is_champion=version.is_champion,
        promotion=version.promotion,
        promoted_at=version.promoted_at,
        error=version.error,
        created_at=version.created_at,
    )


@router.get(
    "/api/projects/{project_id}/datasets",
    response_model=list[DatasetRead],
    summary="The project's datasets, newest first",
)
def list_datasets(project_id: uuid.UUID, session: SessionDep) -> list[DatasetRead]:
    projects_service.get_project_or_raise(session, project_id)
    rows = session.scalars(
        select(Dataset).where(Dataset.project_id == project_id).order_by(Dataset.created_at.desc())
    )
    return [dataset_read(d) for d in rows]


@router.post(
    "/api/projects/{project_id}/datasets",
    response_model=JobRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Freeze a dataset of the approved tasks (a `dataset` job); `then_train` trains on it when ready",
    responses={
        409: {"description": "A training round of the project is under way, or no site is left to test on."},
        422: {"description": "No approved task, one site only, or images with different bands."},
    },
)
def create_dataset(
    project_id: uuid.UUID,
    body: DatasetParams,
    session: SessionDep,
    settings: SettingsDep,
    celery: CeleryDep,
    access: AccessDep,
) -> JobRead:
    project = projects_service.get_project_or_raise(session, project_id)
    if body.then_train is not None:
        job = models_service.start_round(
            session, celery, settings, project, body, body.then_train, access.user_id
        )
    else:
        models_service.check_dataset(session, project, body)
        job = models_service.submit_dataset(session, celery, settings, project, body, access.user_id)
    return job_read(job)


@router.get(
    "/api/datasets/{dataset_id}", response_model=DatasetRead, summary="A dataset: its splits and hash"
)
def read_dataset(dataset_id: uuid.UUID, session: SessionDep) -> DatasetRead:
    return dataset_read(models_service.get_dataset(session, dataset_id))


@router.get(
    "/api/datasets/{dataset_id}/download",
    response_class=StreamingResponse,
    summary="The dataset as a zip: manifest.json and the chips (.npz), exactly what training reads",
)
def download_dataset(dataset_id: uuid.UUID, session: SessionDep, storage: StorageDep) -> StreamingResponse:
    dataset = models_service.get_dataset(session, dataset_id)
    chunks = datasets_service.iter_zip(storage, dataset)
    first = next(chunks)  # a dataset that is not ready raises here, before the response starts
    return StreamingResponse(
        _prepend(first, chunks),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="dataset-{dataset.id}.zip"',
            "X-Content-Hash": dataset.content_hash or "",
        },
    )


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


@router.post(
    "/api/projects/{project_id}/train",
    response_model=JobRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Train now: freeze a dataset of the approved tasks and train a model version on it",
    responses={
        409: {"description": "A training round of the project is under way, or no site is left to test on."},
        422: {"description": "No approved task, one site only, or images with different bands."},
    },
)
def train_now(
    project_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    celery: CeleryDep,
    access: AccessDep,
    body: TrainNowRequest | None = None,
) -> JobRead:
    """Answers with the `dataset` job; when it is done, its result names the `train` job."""
    project = projects_service.get_project_or_raise(session, project_id)
    request = body or TrainNowRequest()
    job = models_service.start_round(
        session, celery, settings, project, request.dataset, request.options, access.user_id
    )
    return job_read(job)


@router.get(
    "/api/projects/{project_id}/models",
    response_model=list[ModelVersionRead],
    summary="The project's model versions, newest first, with their metrics and training curves",
)
def list_models(project_id: uuid.UUID, session: SessionDep) -> list[ModelVersionRead]:
    projects_service.get_project_or_raise(session, project_id)
    rows = session.scalars(
        select(ModelVersion).where(ModelVersion.project_id == project_id).order_by(ModelVersion.number.desc())
    )
    return [version_read(session, v) for v in rows]


@router.get("/api/models/{model_version_id}", response_model=ModelVersionRead, summary="A model version")
def read_model(model_version_id: uuid.UUID, session: SessionDep) -> ModelVersionRead:
    return version_read(session, models_service.get_version(session, model_version_id))


@router.post(
    "/api/models/{model_version_id}/promote",
    response_model=ModelVersionRead,
    summary="Make this trained version the project's champion (by hand; audited)",
)
def promote_model(model_version_id: uuid.UUID, session: SessionDep, access: AccessDep) -> ModelVersionRead:
    version = models_service.get_version(session, model_version_id)
    models_service.promote(session, version, access.user_id, "promoted by hand")
    session.commit()
    return version_read(session, version)


@router.post(
    "/api/projects/{project_id}/models/roll-back",
    response_model=ModelVersionRead,
    summary="Make the champion before the current one champion again",
)
def roll_back_model(project_id: uuid.UUID, session: SessionDep, access: AccessDep) -> ModelVersionRead:
    projects_service.get_project_or_raise(session, project_id)
    version = models_service.roll_back(session, project_id, access.user_id)
    session.commit()
    return version_read(session, version)


def _download(storage: StorageDep, key: str | None, filename: str, what: str) -> StreamingResponse:
    if key is None:
        raise ConflictError(f"The model has no {what} yet: it is stored once training has run.")
    return StreamingResponse(
        storage.iter_bytes(key),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/api/models/{model_version_id}/checkpoint",
    response_class=StreamingResponse,
    summary="The PyTorch checkpoint (weights, architecture, normalisation; the last epoch's while training)",
)
def download_checkpoint(
    model_version_id: uuid.UUID, session: SessionDep, storage: StorageDep
) -> StreamingResponse:
    version = models_service.get_version(session, model_version_id)
    return _download(storage, version.checkpoint_key, f"{version.name}.pt", "checkpoint")


@router.get(
    "/api/models/{model_version_id}/model.onnx",
    response_class=StreamingResponse,
    summary="The model in ONNX (input `image`: normalised bands, N x C x H x W; output `logits`)",
)
def download_onnx(model_version_id: uuid.UUID, session: SessionDep, storage: StorageDep) -> StreamingResponse:
    version = models_service.get_version(session, model_version_id)
    return _download(storage, version.onnx_key, f"{version.name}.onnx", "ONNX export")


@router.post(
    "/api/projects/{project_id}/predict",
    response_model=JobRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Pre-label with a model (the champion by default): unlabeled tasks, a site, dates, or given ids",
    responses={
        409: {"description": "No champion yet, or the model is not trained (failed, cancelled)."},
        422: {"description": "Nothing matches, or images whose bands the model does not take."},
    },
)
def predict(
    project_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    celery: CeleryDep,
    access: AccessDep,
    body: PredictRequest | None = None,
) -> JobRead:
    project = projects_service.get_project_or_raise(session, project_id)
    request = body or PredictRequest()
    ids = ready_observations(
        session,
        project.id,
        ids=request.observation_ids,
        site_id=request.site_id,
        date_from=request.date_from,
        date_to=request.date_to,
        states=[TaskState.NEW] if request.unlabeled_only else [],
    )
    job = models_service.submit_prediction(session, celery, settings, project, request, ids, access.user_id)
    return job_read(job)
