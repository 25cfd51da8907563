"""The training process: ``python -m workers.ml.training.run SPEC.json``, or under ``torchrun`` for DDP.

The `train` job starts this in a process of its own (docs/adr/2026-12-01-retraining-plain-pytorch-in-a-
subprocess.md): it reads the spec, trains epoch after epoch from where the last checkpoint left off, writes a
checkpoint after every epoch, and tells the job about each on stdout (workers.ml.training.spec). At the end
it scores the model, and the champion, on the dataset's test chips and exports the model to ONNX. Under
torchrun only rank 0 writes and reports; validation and test run on rank 0 alone.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from app.ml.metrics import Counts
from app.schemas.ml import BandStats, DatasetManifest, Split
from workers.ml.training import network
from workers.ml.training.chips import Chips
from workers.ml.training.loop import counts_wire, evaluate, train_epoch
from workers.ml.training.spec import EVENT_PREFIX, DoneEvent, EpochEvent, TrainSpec

logger = logging.getLogger("minelabel.training")

Loader = DataLoader[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
ONNX_OPSET = 17


def emit(event: EpochEvent | DoneEvent) -> None:
    sys.stdout.write(EVENT_PREFIX + event.model_dump_json() + "\n")
    sys.stdout.flush()


def pick_device(preference: str, local_rank: int) -> torch.device:
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("TRAIN__DEVICE is cuda, but this machine has no CUDA device")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a reader (the job uploading it) never sees half a file."""
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    partial.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    return loaded


def model_from_checkpoint(path: Path) -> tuple[torch.nn.Module, network.Architecture, BandStats]:
    state = load_checkpoint(path)
    arch = network.Architecture.model_validate(state["architecture"])
    model = network.build(arch)
    model.load_state_dict(state["model"])
    return model, arch, BandStats.model_validate(state["normalisation"])


def _loader(
    manifest: DatasetManifest,
    spec: TrainSpec,
    split: Split,
    stats: BandStats,
    *,
    shuffle: bool,
    sampler: DistributedSampler[Any] | None = None,
    seed: int = 0,
) -> Loader:
    chips = Chips(manifest, spec.dataset_dir, split, stats)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        chips,
        batch_size=spec.options.batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=spec.num_workers,
        generator=generator,
        drop_last=False,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )


def _champion_test(
    spec: TrainSpec, manifest: DatasetManifest, device: torch.device
) -> tuple[Counts | None, str | None]:
    """The champion's counts on this dataset's test chips, with its own normalisation."""
    if spec.champion is None:
        return None, None
    model, arch, stats = model_from_checkpoint(spec.champion)
    if arch.in_channels != manifest.band_count or arch.classes != len(manifest.classes):
        return None, (
            f"the champion takes {arch.in_channels} bands and {arch.classes} classes, this dataset "
            f"{manifest.band_count} and {len(manifest.classes)}"
        )
    loader = _loader(manifest, spec, "test", stats, shuffle=False)
    if not len(loader.dataset):  # type: ignore[arg-type]
        return None, None
    _, counts = evaluate(model.to(device), loader, device, arch.classes)
    return counts, None


def export_onnx(model: torch.nn.Module, arch: network.Architecture, chip: int, path: Path) -> None:
    """Batch, height and width stay dynamic (height and width must be multiples of 2**depth)."""
    model = model.to("cpu").eval()
    dummy = torch.zeros(1, arch.in_channels, chip, chip)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={
            "image": {0: "batch", 2: "height", 3: "width"},
            "logits": {0: "batch", 2: "height", 3: "width"},
        },
        opset_version=ONNX_OPSET,
        dynamo=False,
    )


def train(spec: TrainSpec) -> None:
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(spec.device, local_rank)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    leader = rank == 0
    torch.manual_seed(spec.options.seed + rank)

    manifest = DatasetManifest.model_validate_json((spec.dataset_dir / "manifest.json").read_bytes())
    stats = manifest.normalisation
    arch = spec.architecture
    model = network.build(arch, spec.encoder_weights).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=spec.options.learning_rate, weight_decay=spec.options.weight_decay
    )
    # A grad scaler only matters for fp16; with bf16 or on a CPU it passes gradients through.
    fp16 = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler(device.type, enabled=fp16)
    start = 1
    if spec.resume_from is not None:
        state = load_checkpoint(spec.resume_from)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start = int(state["epoch"]) + 1
        logger.info("resuming after epoch %d", start - 1)
    elif spec.init_from is not None:
        model.load_state_dict(load_checkpoint(spec.init_from)["model"])
        logger.info("warm start from %s", spec.init_from.name)

    # A shallow encoder (depth < 5) leaves the backbone's last stages without gradients; DDP must know.
    unused_stages = arch.encoder_depth < 5
    trained: torch.nn.Module = (
        DistributedDataParallel(model, find_unused_parameters=unused_stages) if distributed else model
    )
    train_chips = Chips(manifest, spec.dataset_dir, "train", stats)
    sampler: DistributedSampler[Any] | None = (
        DistributedSampler(train_chips, shuffle=True, seed=spec.options.seed) if distributed else None
    )
    val_loader = _loader(manifest, spec, "val", stats, shuffle=False)
    has_val = len(val_loader.dataset) > 0  # type: ignore[arg-type]
    checkpoint = spec.out_dir / "last.pt"
    val_counts: Counts | None = None

    for epoch in range(start, spec.options.epochs + 1):
        began = time.monotonic()
        if sampler is not None:
            sampler.set_epoch(epoch)
        loader = _loader(
            manifest, spec, "train", stats, shuffle=True, sampler=sampler, seed=spec.options.seed + epoch
        )
        loss = train_epoch(trained, loader, optimizer, scaler, device)
        if not leader:
            dist.barrier()
            continue
        val_loss, val_counts = evaluate(model, val_loader, device, arch.classes) if has_val else (None, None)
        save_checkpoint(
            checkpoint,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "architecture": arch.model_dump(),
                "classes": spec.classes,
                "normalisation": stats.model_dump(),
                "options": spec.options.model_dump(),
            },
        )
        emit(
            EpochEvent(
                epoch=epoch,
                epochs=spec.options.epochs,
                loss=loss,
                val_loss=val_loss,
                val=counts_wire(val_counts) if val_counts is not None else None,
                seconds=time.monotonic() - began,
                checkpoint=checkpoint,
            )
        )
        if distributed:
            dist.barrier()

    if leader:
        if has_val and val_counts is None:  # resumed after the last epoch: score it again
            _, val_counts = evaluate(model, val_loader, device, arch.classes)
        test_loader = _loader(manifest, spec, "test", stats, shuffle=False)
        test_counts = (
            evaluate(model, test_loader, device, arch.classes)[1]
            if len(test_loader.dataset)  # type: ignore[arg-type]
            else None
        )
        champion_counts, problem = _champion_test(spec, manifest, device)
        onnx_path = spec.out_dir / "model.onnx"
        export_onnx(model, arch, manifest.chip_size, onnx_path)
        emit(
            DoneEvent(
                val=counts_wire(val_counts) if val_counts is not None else None,
                test=counts_wire(test_counts) if test_counts is not None else None,
                champion_test=counts_wire(champion_counts) if champion_counts is not None else None,
                champion_problem=problem,
                onnx=onnx_path,
                checkpoint=checkpoint,
            )
        )
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    if len(argv) != 2:
        sys.stderr.write("usage: python -m workers.ml.training.run SPEC.json\n")
        return 2
    train(TrainSpec.model_validate_json(Path(argv[1]).read_bytes()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
