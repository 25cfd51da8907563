"""The `train` job: fetch the dataset, start the training process, follow it, keep its checkpoints, score it.

The training runs in a process of its own (workers.ml.training.run; under torchrun when TRAIN__DEVICES > 1),
never in this Celery pool process. Each epoch's checkpoint goes to storage before the epoch is recorded on
the model version, so another attempt (a killed process, a redelivered job) continues after the last stored
epoch, and an epoch done twice is recorded once. A cancel terminates the process. At the end the candidate
and the champion are compared on the same test chips and the promotion rule decides
(app.services.models.decide_promotion).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from app.core.config import REPO_ROOT, Settings, get_settings
from app.imagery.storage import Storage, make_storage
from app.jobs.errors import JobCancelledError, LeaseLostError, TransientJobError
from app.jobs.runner import JobContext
from app.ml.metrics import scores
from app.models.ml import Dataset, ModelState, ModelVersion
from app.models.project import Project
from app.schemas.ml import (
    ClassScore,
    CurvePoint,
    DatasetManifest,
    ModelMetrics,
    SplitMetrics,
    TrainParams,
    TrainResult,
)
from app.services import models as models_service
from app.services.health import VERSION
from workers.ml.training.loop import counts_of
from workers.ml.training.network import Architecture
from workers.ml.training.spec import CountsWire, DoneEvent, EpochEvent, TrainSpec, parse_event

logger = logging.getLogger(__name__)

POLL_S = 0.25
_PR_SET_PDEATHSIG = 1


def checkpoint_key(version_id: object) -> str:
    return f"models/{version_id}/last.pt"


def onnx_key(version_id: object) -> str:
    return f"models/{version_id}/model.onnx"


def code_version() -> str:
    """The package version, and the git commit where the code is a checkout."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"minelabel {VERSION}" + (f" ({commit})" if commit else "")


def fetch_dataset(storage: Storage, manifest_key: str, into: Path) -> DatasetManifest:
    """The manifest and every chip, under their storage keys below ``into``; each chip's hash checked."""
    import hashlib

    raw = storage.get_bytes(manifest_key)
    manifest = DatasetManifest.model_validate_json(raw)
    (into / "manifest.json").write_bytes(raw)
    for chip in manifest.chips:
        data = storage.get_bytes(chip.key)
        if hashlib.sha256(data).hexdigest() != chip.sha256:
            raise RuntimeError(
                f"Chip {chip.key} does not match its hash in the manifest: storage is damaged."
            )
        path = into / chip.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return manifest


def class_scores(wire: CountsWire | None, classes: list[str]) -> SplitMetrics | None:
    if wire is None:
        return None
    return models_service.split_metrics(
        [
            ClassScore(label=s.label, iou=s.iou, f1=s.f1, precision=s.precision, recall=s.recall)
            for s in scores(counts_of(wire), classes)
        ]
    )


def _die_with_parent() -> None:
    """Run in the child before exec: a SIGKILL when the worker process that started it dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()  # its own process group, so that a cancel stops torchrun's children too


def command(spec_path: Path, devices: int) -> list[str]:
    if devices > 1:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={devices}",
            "-m",
            "workers.ml.training.run",
            str(spec_path),
        ]
    return [sys.executable, "-m", "workers.ml.training.run", str(spec_path)]


class _Process:
    """The training process, its stdout read by a thread into a queue of lines (so that the job can check
    for a cancel while it waits), its stderr kept for the error message."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=REPO_ROOT,
            env=env,
            preexec_fn=_die_with_parent,
        )
        (log_path.parent / "train.pid").write_text(str(self.popen.pid))
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="train-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def events(self, ctx: JobContext[TrainParams]) -> Iterator[EpochEvent | DoneEvent]:
        """Its events until its stdout closes; a cancel or a lost lease stops the process."""
        while True:
            try:
                line = self.lines.get(timeout=POLL_S)
            except queue.Empty:
                try:
                    ctx.check()
                except (JobCancelledError, LeaseLostError):
                    self.stop()
                    raise
                continue
            if line is None:
                return
            event = parse_event(line)
            if event is None:
                logger.info("training: %s", line)
                continue
            yield event

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()

    def wait(self) -> int:
        code = self.popen.wait()
        self._reader.join(timeout=5)
        self._log.close()
        return code

    def stderr_tail(self, characters: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:].strip()


def _set_state(session: Session, version: ModelVersion, state: ModelState, error: str | None = None) -> None:
    version.state = state
    version.error = error
    session.commit()


def _progress_message(event: EpochEvent, classes: list[str], started: float, done_before: int) -> str:
    parts = [f"epoch {event.epoch} of {event.epochs}: loss {event.loss:.3f}"]
    metrics = class_scores(event.val, classes)
    if metrics is not None:
        parts.append(
            "validation IoU "
            + ", ".join(f"{s.label} {s.iou:.2f}" for s in metrics.per_class if s.iou is not None)
        )
    done_here = event.epoch - done_before
    if done_here > 0 and event.epoch < event.epochs:
        left = (time.monotonic() - started) / done_here * (event.epochs - event.epoch)
        parts.append(f"about {timedelta(seconds=round(left))} left")
    return "; ".join(parts)


def _curve_point(event: EpochEvent, classes: list[str]) -> CurvePoint:
    metrics = class_scores(event.val, classes)
    return CurvePoint(
        epoch=event.epoch,
        loss=event.loss,
        val_loss=event.val_loss,
        val_iou={s.label: s.iou for s in metrics.per_class} if metrics else {},
        seconds=event.seconds,
    )


def train(ctx: JobContext[TrainParams]) -> TrainResult:
    settings = get_settings()
    storage = make_storage(settings.storage)
    session = ctx.session
    version = models_service.get_version(session, ctx.params.model_version_id)
    if version.state in (ModelState.TRAINED, ModelState.CANCELLED):
        raise RuntimeError(f"Model {version.name} is {version.state.value} already; nothing to train.")
    try:
        return _train(ctx, settings, storage, version)
    except JobCancelledError:
        session.rollback()
        _set_state(session, version, ModelState.CANCELLED, "cancelled")
        raise
    except (TransientJobError, LeaseLostError):
        session.rollback()
        raise
    except Exception as exc:
        session.rollback()
        _set_state(session, version, ModelState.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
        raise


def _train(
    ctx: JobContext[TrainParams], settings: Settings, storage: Storage, version: ModelVersion
) -> TrainResult:
    session = ctx.session
    dataset = session.get(Dataset, ctx.params.dataset_id)
    if dataset is None or dataset.manifest_key is None:
        raise RuntimeError(f"Dataset {ctx.params.dataset_id} is gone or not ready.")
    version.state = ModelState.TRAINING
    version.code_version = code_version()
    session.commit()
    options = ctx.params.options

    ctx.progress(0.0, "fetching the dataset")
    data_dir = ctx.scratch / "dataset"
    data_dir.mkdir()
    manifest = fetch_dataset(storage, dataset.manifest_key, data_dir)
    if not any(c.split == "train" for c in manifest.chips):
        raise RuntimeError("The dataset has no training chip.")
    out_dir = ctx.scratch / "out"
    out_dir.mkdir()

    resume = _download(storage, version.checkpoint_key, ctx.scratch / "resume.pt")
    champion = models_service.champion(session, version.project_id)
    champion_path = (
        _download(storage, champion.checkpoint_key, ctx.scratch / "champion.pt")
        if champion is not None and champion.id != version.id
        else None
    )
    parent = session.get(ModelVersion, version.parent_id) if version.parent_id else None
    init = (
        _download(storage, parent.checkpoint_key, ctx.scratch / "parent.pt")
        if options.warm_start and parent is not None
        else None
    )
    arch = Architecture(
        encoder=options.encoder,
        encoder_depth=options.encoder_depth,
        in_channels=manifest.band_count,
        classes=len(manifest.classes),
    )
    weights = (
        settings.train.encoder_weights_dir / f"{options.encoder}.pth"
        if settings.train.encoder_weights_dir is not None
        else None
    )
    spec = TrainSpec(
        dataset_dir=data_dir,
        out_dir=out_dir,
        architecture=arch,
        classes=manifest.classes,
        options=options,
        device=settings.train.device,
        num_workers=settings.train.num_workers,
        resume_from=resume,
        init_from=init,
        champion=champion_path,
        encoder_weights=weights if weights is not None and weights.is_file() else None,
    )
    spec_path = ctx.scratch / "spec.json"
    spec_path.write_text(spec.model_dump_json())
    version.normalisation = manifest.normalisation.model_dump()
    session.commit()

    process = _Process(command(spec_path, settings.train.devices), ctx.scratch / "train.log")
    started = time.monotonic()
    done_before = _last_epoch(version)
    finished: DoneEvent | None = None
    try:
        for event in process.events(ctx):
            if isinstance(event, EpochEvent):
                _record_epoch(session, storage, version, event, manifest.classes)
                ctx.progress(
                    event.epoch / (event.epochs + 1),
                    _progress_message(event, manifest.classes, started, done_before),
                )
            else:
                finished = event
        code = process.wait()
    finally:
        process.stop()
    if code < 0:
        raise TransientJobError(
            f"the training process was killed (signal {-code}); "
            f"the next attempt resumes after epoch {_last_epoch(version)}"
        )
    if code != 0 or finished is None:
        raise RuntimeError(f"The training process failed (exit {code}): {process.stderr_tail()}")

    ctx.progress(options.epochs / (options.epochs + 1), "storing the model and comparing it")
    storage.put_file(finished.checkpoint, checkpoint_key(version.id))
    if finished.onnx is not None:
        storage.put_file(finished.onnx, onnx_key(version.id))
        version.onnx_key = onnx_key(version.id)
    metrics = ModelMetrics(
        val=class_scores(finished.val, manifest.classes),
        test=class_scores(finished.test, manifest.classes),
        champion_test=class_scores(finished.champion_test, manifest.classes),
    )
    version.metrics = metrics.model_dump(mode="json")
    version.state = ModelState.TRAINED
    version.error = None
    project = session.get(Project, version.project_id)
    assert project is not None
    if champion is not None and metrics.champion_test is None and finished.champion_problem:
        promoted, reason = False, f"not compared with {champion.name}: {finished.champion_problem}"
    else:
        promoted, reason = models_service.decide_promotion(
            metrics.test,
            metrics.champion_test if champion is not None else None,
            margin=project.promotion_margin,
            max_drop=project.promotion_max_drop,
        )
    if promoted:
        models_service.promote(session, version, None, reason)
    else:
        version.promotion = reason
    session.commit()
    ctx.progress(1.0, reason)
    return TrainResult(
        model_version_id=version.id,
        epochs=options.epochs,
        test=metrics.test,
        promoted=promoted,
        promotion=reason,
    )


def _download(storage: Storage, key: str | None, path: Path) -> Path | None:
    if key is None or not storage.exists(key):
        return None
    with path.open("wb") as handle:
        for chunk in storage.iter_bytes(key):
            handle.write(chunk)
    return path


def _last_epoch(version: ModelVersion) -> int:
    return max((int(p["epoch"]) for p in version.curve), default=0)


def _record_epoch(
    session: Session, storage: Storage, version: ModelVersion, event: EpochEvent, classes: list[str]
) -> None:
    """Store the epoch's checkpoint, then record the epoch (replacing one an earlier attempt recorded)."""
    storage.put_file(event.checkpoint, checkpoint_key(version.id))
    version.checkpoint_key = checkpoint_key(version.id)
    point = _curve_point(event, classes)
    version.curve = [p for p in version.curve if int(p["epoch"]) < event.epoch] + [point.model_dump()]
    session.commit()
