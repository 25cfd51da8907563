"""The training process on its own (python -m workers.ml.training.run), on chips written as a dataset job
writes them: under torchrun with two CPU processes (DDP over gloo) only rank 0 reports and writes, data-loader
workers load the chips, and a run resumed from a checkpoint continues after its epoch."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from app.ml.rasterize import LabeledShape, class_masks
from app.schemas.ml import BandStats, ChipEntry, DatasetManifest, TrainOptions
from app.services.datasets import _npz
from tests.services import REPO_ROOT
from tests.training.synthetic import BANDS, make_scene

if TYPE_CHECKING:
    from workers.ml.training.spec import DoneEvent, EpochEvent

pytest.importorskip(
    "segmentation_models_pytorch", reason="the ml group is not installed: MINELABEL_SKIP_ML=1"
)
pytestmark = pytest.mark.slow

CLASSES = ["Pit", "Infrastructure", "Outline"]
CHIP = 64


def write_dataset(root: Path) -> None:
    """Two training sites and one test site, two dates each, as 64 px chips with their manifest."""
    chips, pixels = [], []
    for site, split in enumerate(["train", "train", "test"]):
        site_id = uuid.uuid4()
        for date in range(2):
            scene = make_scene(900 + site * 10 + date)
            masks = class_masks([LabeledShape(p, label) for label, p in scene.shapes], CLASSES, 128, 128)
            for y in range(0, 128, CHIP):
                for x in range(0, 128, CHIP):
                    image = scene.image[:, y : y + CHIP, x : x + CHIP]
                    data = _npz(image, masks[:, y : y + CHIP, x : x + CHIP], np.zeros((CHIP, CHIP), bool))
                    key = f"datasets/x/chips/{split}/{site}_{date}_{x}_{y}.npz"
                    (root / key).parent.mkdir(parents=True, exist_ok=True)
                    (root / key).write_bytes(data)
                    chips.append(
                        ChipEntry(
                            key=key,
                            split=split,
                            site_id=site_id,
                            observation_id=uuid.uuid4(),
                            x=x,
                            y=y,
                            size=CHIP,
                            sha256=hashlib.sha256(data).hexdigest(),
                        )
                    )
                    if split == "train":
                        pixels.append(image.reshape(BANDS, -1).astype(np.float64))
    values = np.concatenate(pixels, axis=1)
    manifest = DatasetManifest(
        dataset_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        classes=CLASSES,
        band_count=BANDS,
        band_names=[f"B{i}" for i in range(1, BANDS + 1)],
        chip_size=CHIP,
        stride=CHIP,
        normalisation=BandStats(mean=values.mean(axis=1).tolist(), std=values.std(axis=1).tolist()),
        chips=chips,
        content_hash="test",
        created_at=datetime.now(UTC),
    )
    (root / "manifest.json").write_text(manifest.model_dump_json())


def run(spec_path: Path, *, processes: int = 1) -> tuple[list[EpochEvent | DoneEvent], str]:
    from workers.ml.training.spec import parse_event
    from workers.ml.training.train import command

    done = subprocess.run(
        command(spec_path, processes), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    events = [e for e in (parse_event(line) for line in done.stdout.splitlines()) if e is not None]
    return events, done.stderr


def spec_for(tmp: Path, epochs: int, **fields: object) -> Path:
    from workers.ml.training.network import Architecture
    from workers.ml.training.spec import TrainSpec

    out = tmp / f"out-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    spec = TrainSpec(
        dataset_dir=tmp / "dataset",
        out_dir=out,
        architecture=Architecture(encoder="resnet18", encoder_depth=3, in_channels=BANDS, classes=3),
        classes=CLASSES,
        options=TrainOptions(epochs=epochs, batch_size=4, encoder="resnet18", encoder_depth=3),
        device="cpu",
        **fields,
    )
    path = out / "spec.json"
    path.write_text(spec.model_dump_json())
    return path


def test_ddp_on_two_cpu_processes_reports_once_per_epoch_and_exports(tmp_path: Path) -> None:
    from workers.ml.training.spec import DoneEvent, EpochEvent

    write_dataset(tmp_path / "dataset")
    events, _ = run(spec_for(tmp_path, 2, num_workers=1), processes=2)
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    done = [e for e in events if isinstance(e, DoneEvent)]
    assert [e.epoch for e in epochs] == [1, 2] and len(done) == 1  # rank 0 alone reports
    assert epochs[0].val is None  # no validation site in this dataset
    assert done[0].test is not None and sum(done[0].test.tp) + sum(done[0].test.fn) > 0
    assert done[0].checkpoint.is_file() and done[0].onnx is not None and done[0].onnx.stat().st_size > 10_000


def test_a_resumed_run_continues_after_the_checkpoints_epoch(tmp_path: Path) -> None:
    from workers.ml.training.spec import EpochEvent

    write_dataset(tmp_path / "dataset")
    first, _ = run(spec_for(tmp_path, 1))
    checkpoint = first[-1].checkpoint
    resumed, log = run(spec_for(tmp_path, 3, resume_from=checkpoint))
    assert [e.epoch for e in resumed if isinstance(e, EpochEvent)] == [2, 3]
    assert "resuming after epoch 1" in log
