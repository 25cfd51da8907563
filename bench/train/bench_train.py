"""Retraining: training chips per second, and prediction km² per second, with the job's own functions.

- Training: ``workers.ml.training.loop.train_epoch`` (BCE + Dice, AdamW, bf16 autocast on CUDA) over random
  13-band chips with a learnable square, after one warm-up epoch; chips/s = chips / seconds per epoch.
- Prediction: ``workers.ml.training.predict.probabilities_of`` (blended tiles, flip averaging) and
  ``app.ml.class_polygons.class_polygons`` on a random 13-band image at 10 m per pixel; km²/s = the image's
  area / seconds, vectorization included.
- ``--round`` (meant for a GPU): the issue's full round at its size, 1,000 chips x 20 epochs, a test
  evaluation, and prediction of 100 observations of 1,024 px, timed end to end.

Run: ``.venv/bin/python -m bench.train.bench_train [--encoder resnet34 --chip 512 --batch 8] [--round]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from app.core.config import TrainSettings
from app.ml.class_polygons import PolygonRules, class_polygons
from app.schemas.ml import BandStats
from workers.ml.training.loop import evaluate, train_epoch
from workers.ml.training.network import Architecture, build
from workers.ml.training.predict import probabilities_of
from workers.ml.training.run import pick_device

BANDS, CLASSES = 13, 3
PIXEL_M = 10.0


def chips(count: int, size: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(count, BANDS, size, size, generator=generator)
    masks = torch.zeros(count, CLASSES, size, size)
    quarter = size // 4
    masks[:, :, quarter : 3 * quarter, quarter : 3 * quarter] = 1.0
    images[:, 1, quarter : 3 * quarter, quarter : 3 * quarter] += 3.0
    return TensorDataset(images, masks, torch.zeros(count, size, size, dtype=torch.bool))


def training_rate(
    model: torch.nn.Module, data: TensorDataset, batch: int, epochs: int, device: torch.device
) -> float:
    loader = DataLoader(data, batch_size=batch, shuffle=True, pin_memory=device.type == "cuda")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    train_epoch(model, loader, optimizer, scaler, device)  # warm-up (cuDNN autotuning, allocations)
    _sync(device)
    began = time.perf_counter()
    for _ in range(epochs):
        train_epoch(model, loader, optimizer, scaler, device)
    _sync(device)
    return len(data) * epochs / (time.perf_counter() - began)


def prediction_rate(
    model: torch.nn.Module, depth: int, size: int, images: int, device: torch.device, settings: TrainSettings
) -> float:
    rng = np.random.default_rng(0)
    stats = BandStats(mean=[0.0] * BANDS, std=[1.0] * BANDS)
    valid = np.ones((size, size), dtype=bool)
    rules = PolygonRules()
    image = rng.normal(0, 1, (BANDS, size, size)).astype(np.float32)
    probabilities_of(model, image, stats, depth, settings, device)  # warm-up
    began = time.perf_counter()
    for _ in range(images):
        probabilities = probabilities_of(model, image, stats, depth, settings, device)
        class_polygons(probabilities, valid, ["Pit", "Infrastructure", "Outline"], rules)
    seconds = time.perf_counter() - began
    return images * (size * PIXEL_M / 1000) ** 2 / seconds


def full_round(model: torch.nn.Module, args: argparse.Namespace, device: torch.device) -> float:
    began = time.perf_counter()
    data = chips(1000, args.chip)
    loader = DataLoader(data, batch_size=args.batch, shuffle=True, pin_memory=device.type == "cuda")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    for _ in range(20):
        train_epoch(model, loader, optimizer, scaler, device)
    evaluate(model, DataLoader(chips(200, args.chip), batch_size=args.batch), device, CLASSES)
    prediction_rate(model, args.depth, 1024, 100, device, TrainSettings(predict_batch_size=args.batch))
    _sync(device)
    return time.perf_counter() - began


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="resnet34")
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--chip", type=int, default=None, help="default: 512 on a GPU, 128 on a CPU")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--chips", type=int, default=None, help="default: 256 on a GPU, 32 on a CPU")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--predict-size", type=int, default=1024)
    parser.add_argument("--predict-images", type=int, default=None, help="default: 20 on a GPU, 2 on a CPU")
    parser.add_argument("--round", action="store_true", help="the full round (1,000 chips x 20 epochs ...)")
    args = parser.parse_args()
    device = pick_device("auto", 0)
    gpu = device.type == "cuda"
    args.chip = args.chip or (512 if gpu else 128)
    torch.backends.cudnn.benchmark = True
    arch = Architecture(encoder=args.encoder, encoder_depth=args.depth, in_channels=BANDS, classes=CLASSES)
    model = build(arch).to(device)
    name = torch.cuda.get_device_name() if gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; U-Net/{args.encoder} depth {args.depth}, {BANDS} bands, {CLASSES} classes")
    rate = training_rate(
        model, chips(args.chips or (256 if gpu else 32), args.chip), args.batch, args.epochs, device
    )
    precision = "bf16 autocast" if gpu else "fp32"
    print(f"training: {rate:.1f} chips/s ({args.chip} px chips, batch {args.batch}, {precision})")
    settings = TrainSettings(predict_batch_size=args.batch)
    km2 = prediction_rate(
        model, args.depth, args.predict_size, args.predict_images or (20 if gpu else 2), device, settings
    )
    print(
        f"prediction: {km2:.2f} km²/s ({args.predict_size} px images at {PIXEL_M:.0f} m, 512 px tiles, "
        "flip averaging x3, polygons included)"
    )
    if args.round:
        seconds = full_round(build(arch).to(device), args, device)
        what = "1,000 chips x 20 epochs, evaluate 200, predict 100 x 1,024 px"
        print(f"full round: {seconds / 60:.1f} min ({what})")


if __name__ == "__main__":
    main()
