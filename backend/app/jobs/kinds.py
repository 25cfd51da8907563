"""Every job kind in one table: its queue, its Celery task's name, and its parameter and result models.

Adding a kind: a JobKind member, models in app/schemas/job.py, a row here, a task in workers/tasks/ that
calls the runner, a service that submits it (README "Add a job kind").
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from app.core.errors import InvalidInputError
from app.models.job import JobKind, JobQueue
from app.schemas import job as schemas
from app.schemas import ml, sam


@dataclass(frozen=True)
class KindSpec:
    kind: JobKind
    task_name: str  # what workers/tasks registers
    queue: JobQueue  # the default queue (the probe may choose)
    params: type[schemas.JobParams]
    result: type[schemas.JobResult]


KINDS: dict[JobKind, KindSpec] = {
    spec.kind: spec
    for spec in [
        KindSpec(JobKind.PROBE, "minelabel.probe", JobQueue.CPU, schemas.ProbeParams, schemas.ProbeResult),
        KindSpec(
            JobKind.INGEST, "minelabel.ingest", JobQueue.CPU, schemas.IngestParams, schemas.IngestResult
        ),
        KindSpec(
            JobKind.RENDER, "minelabel.render", JobQueue.CPU, schemas.RenderParams, schemas.RenderResult
        ),
        KindSpec(
            JobKind.GEOREFERENCE,
            "minelabel.georeference",
            JobQueue.CPU,
            schemas.GeoreferenceParams,
            schemas.GeoreferenceResult,
        ),
        KindSpec(
            JobKind.EXPORT, "minelabel.export", JobQueue.CPU, schemas.ExportParams, schemas.ExportResult
        ),
        KindSpec(
            JobKind.SAM_EMBED, "minelabel.sam_embed", JobQueue.GPU, sam.SamEmbedParams, sam.SamEmbedResult
        ),
        KindSpec(
            JobKind.SAM_PRELABEL,
            "minelabel.sam_prelabel",
            JobQueue.GPU,
            sam.SamPrelabelParams,
            sam.SamPrelabelResult,
        ),
        KindSpec(
            JobKind.SAM_CARRY_FORWARD,
            "minelabel.sam_carry_forward",
            JobQueue.GPU,
            sam.SamCarryForwardParams,
            sam.SamCarryForwardResult,
        ),
        KindSpec(JobKind.DATASET, "minelabel.dataset", JobQueue.CPU, ml.DatasetParams, ml.DatasetResult),
        KindSpec(JobKind.TRAIN, "minelabel.train", JobQueue.GPU, ml.TrainParams, ml.TrainResult),
        KindSpec(JobKind.PREDICT, "minelabel.predict", JobQueue.GPU, ml.PredictParams, ml.PredictResult),
    ]
}


class InvalidJobParamsError(InvalidInputError):
    code = "invalid_job_params"


def read_params(kind: JobKind, raw: object) -> schemas.JobParams:
    """The kind's parameters from JSON, or InvalidJobParamsError naming each bad field."""
    try:
        return KINDS[kind].params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'parameters'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidJobParamsError(f"Invalid parameters for a {kind.value} job: {problems}.") from exc
