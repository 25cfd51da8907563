"""What the job hands the training subprocess (a JSON file) and what the subprocess reports back (one JSON
line per event on stdout): the wire format between the two processes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.schemas.ml import TrainOptions
from workers.ml.training.network import Architecture

EVENT_PREFIX = "@minelabel "  # lines of stdout that are events; anything else is the subprocess's log


class TrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_dir: Path  # holds manifest.json and the chips under their storage keys
    out_dir: Path  # last.pt after every epoch, model.onnx at the end
    architecture: Architecture
    classes: list[str]
    options: TrainOptions
    device: Literal["auto", "cuda", "cpu"] = "auto"
    num_workers: int = 0
    resume_from: Path | None = None  # a checkpoint of an earlier attempt: continue after its epoch
    init_from: Path | None = None  # warm start: the parent's checkpoint (its weights only)
    champion: Path | None = None  # evaluated on the same test chips, to compare with
    encoder_weights: Path | None = None


class CountsWire(BaseModel):
    tp: list[int]
    fp: list[int]
    fn: list[int]


class EpochEvent(BaseModel):
    event: Literal["epoch"] = "epoch"
    epoch: int  # 1-based, of ``epochs``
    epochs: int
    loss: float
    val_loss: float | None
    val: CountsWire | None
    seconds: float
    checkpoint: Path


class DoneEvent(BaseModel):
    event: Literal["done"] = "done"
    val: CountsWire | None
    test: CountsWire | None
    champion_test: CountsWire | None
    champion_problem: str | None = None  # why the champion could not be evaluated here
    onnx: Path | None
    checkpoint: Path


Event = Annotated[EpochEvent | DoneEvent, Field(discriminator="event")]
EVENTS: TypeAdapter[EpochEvent | DoneEvent] = TypeAdapter(Event)


def parse_event(line: str) -> EpochEvent | DoneEvent | None:
    """The event on a line of the subprocess's stdout, or None for a log line."""
    if not line.startswith(EVENT_PREFIX):
        return None
    return EVENTS.validate_json(line[len(EVENT_PREFIX) :])
