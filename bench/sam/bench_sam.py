"""Segment Anything: prompt -> polygon through the API (warm embedding), and the encoder's windows per second.

- Prompts: a Sentinel-2 seed image (or a generated one) ingested and embedded in this process with a SAM of
  random weights whose prompt encoder and mask decoder have the real size (they are the same for vit_b, vit_l
  and vit_h: only the image encoder differs), then random clicks and boxes sent to
  ``POST /api/observations/{id}/sam`` of a real uvicorn server (1 process, loopback), one at a time, after
  one warm-up call per window. Latency as the client sees it, and the server's own decode time.
- Encoder: windows per second of the tiny test encoder on this CPU, and of a ViT-B (random weights) on
  CUDA with bf16 and batching when a GPU is at hand (``--vit-b``, also on a CPU: slow).

Run: ``.venv/bin/python -m bench.sam.bench_sam [--prompts 300] [--vit-b]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx2 as httpx
import numpy as np
import torch
from sqlalchemy import create_engine

from app.core.config import SamSettings, Settings, StorageSettings, TileSettings
from app.core.db import make_session_factory
from app.core.migrations import upgrade
from app.devstack.throwaway import free_port, running_services
from app.imagery.storage import LocalStorage
from app.services.imagery_processing import process_observations
from app.services.ingest import StagedFile, register_images
from app.services.projects import create_project
from bench.common import AUTH, bench_admin_headers, minelabel_server, percentile, start, stop
from workers.ml.sam import model as sam_model
from workers.ml.sam.embed import embed_observation, publish_decoder
from workers.ml.sam.encode import encode, pick_device
from workers.ml.sam.model import Architecture, build

SEED_IMAGE = (
    Path(__file__).resolve().parents[3] / "shared" / "seed-data" / "minetracking2021" / "0854_000.png"
)
TINY = Architecture(
    embed_dim=64, depth=2, num_heads=2, window_size=14, global_attn_indexes=(1,), patch_size=16
)
VIT_B = Architecture(
    embed_dim=768, depth=12, num_heads=12, window_size=14, global_attn_indexes=(2, 5, 8, 11), patch_size=16
)


def checkpoint(arch: Architecture, folder: Path) -> Path:
    torch.manual_seed(0)
    path = folder / f"sam_{arch.embed_dim}x{arch.depth}.pth"
    torch.save(build(arch).state_dict(), path)
    return path


def image(folder: Path) -> Path:
    if SEED_IMAGE.is_file():
        return SEED_IMAGE
    import rasterio

    path = folder / "bench_000.tif"
    data = np.random.default_rng(0).integers(0, 255, (3, 1000, 1000), dtype=np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=1000, height=1000, count=3, dtype="uint8") as dst:
        dst.write(data)
    return path


def prompts(db_url: str, files: Path, ckpt: Path, count: int) -> None:
    # No hover maps: prompts through the API do not use them (hover_rate times them).
    sam = SamSettings(checkpoint=ckpt, hover_points_per_side=0)
    settings = Settings(storage=StorageSettings(data_dir=files), sam=sam)
    storage = LocalStorage(files)
    engine = create_engine(db_url)
    factory = make_session_factory(engine)
    source = image(files.parent)
    with factory() as session:
        project = create_project(session, name=f"sam-bench-{uuid.uuid4().hex[:6]}")
        staged = StagedFile(source.name, source, source.stat().st_size, uuid.uuid4().hex * 2)
        (observation,) = register_images(session, storage, project, [staged], {}, settings).observations
        process_observations(session, storage, [observation.id], TileSettings(), lambda *_: None, files)
        loaded = sam_model.load(settings.sam)
        publish_decoder(storage, loaded)
        started = time.perf_counter()
        windows = embed_observation(session, storage, settings, loaded, observation, force=True)
        print(
            f"embedded {observation.width} x {observation.height} px: {windows} windows in "
            f"{time.perf_counter() - started:.1f} s on {pick_device(settings.sam)}",
            flush=True,
        )
        width, height, observation_id = observation.width, observation.height, observation.id
    engine.dispose()

    port = free_port()
    env = dict(os.environ, DB__URL=db_url, STORAGE__DATA_DIR=str(files), SAM__CHECKPOINT=str(ckpt))
    server = start(minelabel_server(port, workers=1), env, port)
    rng = np.random.default_rng(1)
    url = f"http://127.0.0.1:{port}/api/observations/{observation_id}/sam"
    try:
        with httpx.Client(headers=AUTH, timeout=60) as client:
            for left in range(0, width, 256):  # warm every window's embedding once
                client.post(url, json={"points": [{"x": left + 1, "y": 1}]}).raise_for_status()
            client.post(url, json={"box": [1, 1, width - 1, height - 1]}).raise_for_status()
            latencies: list[float] = []
            decode: list[float] = []
            for n in range(count):
                x, y = float(rng.uniform(5, width - 5)), float(rng.uniform(5, height - 5))
                body = (
                    {"points": [{"x": x, "y": y}], "simplify_px": 1.0}
                    if n % 3
                    else {"box": [max(x - 40, 0), max(y - 40, 0), min(x + 40, width), min(y + 40, height)]}
                )
                started = time.perf_counter()
                answer = client.post(url, json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                answer.raise_for_status()
                decode.append(answer.json()["decode_ms"])
    finally:
        stop(server)
    p50, p95, p99 = statistics.median(latencies), percentile(latencies, 0.95), percentile(latencies, 0.99)
    print(
        f"prompt -> polygon over HTTP ({count} prompts, one at a time, warm): p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms, p99 {p99:.1f} ms; server decode p50 {statistics.median(decode):.1f} ms, "
        f"p95 {percentile(decode, 0.95):.1f} ms",
        flush=True,
    )


def decoder_parts(ckpt: Path, runs: int = 50) -> None:
    """Where a decode's time goes, in this process: the ONNX decoder (float32, and int8-quantized as an
    option), and tracing a pit-like mask (what trained weights give) against the noise random weights give."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from app.ml.sam_windows import Window
    from app.ml.vectorize import vectorize
    from app.schemas.sam import SamPoint, SamPrompt
    from app.services.sam_decoder import _decoder_inputs
    from workers.ml.sam.onnx_export import export_decoder

    loaded = sam_model.load(SamSettings(checkpoint=ckpt))
    window = Window(0, "tile", 0, 0, 512, 512)
    embedding = np.random.default_rng(0).standard_normal((1, 256, 64, 64)).astype(np.float32)
    inputs = _decoder_inputs(SamPrompt(points=[SamPoint(x=200, y=200)]), window, embedding)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "decoder.onnx"
        plain.write_bytes(export_decoder(loaded.model))
        quantized = Path(tmp) / "decoder-int8.onnx"
        quantize_dynamic(str(plain), str(quantized), weight_type=QuantType.QUInt8)
        for name, path in (("float32", plain), ("int8 (dynamic quantization)", quantized)):
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for _ in range(5):
                masks, _, _ = session.run(None, inputs)
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                session.run(None, inputs)
                times.append((time.perf_counter() - started) * 1000)
            size = path.stat().st_size / 2**20
            print(
                f"decoder {name} ({size:.1f} MiB): p50 {statistics.median(times):.1f} ms, "
                f"p95 {percentile(times, 0.95):.1f} ms",
                flush=True,
            )
    rows, cols = np.mgrid[0:512, 0:512]
    pit = (rows - 200) ** 2 / 60**2 + (cols - 240) ** 2 / 90**2 < 1  # a smooth blob, as trained SAM draws
    noise = masks[0, 0] > 0
    vectorize(pit, min_area_px=16, simplify_px=1.0)  # warm-up (GDAL's first polygonize)
    for name, mask in (("a pit-like mask", pit), ("random weights' noise", noise)):
        took = []
        for _ in range(5):
            started = time.perf_counter()
            polygons = vectorize(mask, min_area_px=16, simplify_px=1.0)
            took.append((time.perf_counter() - started) * 1000)
        print(
            f"mask -> polygons, {name}: {statistics.median(took):.1f} ms ({len(polygons)} polygons)",
            flush=True,
        )


def encoder_rate(arch: Architecture, name: str, windows: int, batch: int) -> None:
    device = pick_device(SamSettings())
    model = build(arch).to(device).eval()
    images = [
        np.random.default_rng(i).integers(0, 255, (1024, 1024, 3), dtype=np.uint8) for i in range(windows)
    ]
    list(encode(model, images[:batch], device, batch))  # warm-up (CUDA kernels, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    list(encode(model, images, device, batch))
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    precision = "bf16/fp16 autocast" if device.type == "cuda" else "float32"
    gpu = (
        torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(
        f"encoder {name}: {windows / seconds:.2f} windows/s ({windows} windows of 1024 px, batch {batch}, "
        f"{precision}, {gpu})",
        flush=True,
    )


def hover_rate(ckpt: Path, per_side: int) -> None:
    """One 512 px tile's hover map (workers/ml/sam/hover.py): decodes per second, and the map's size."""
    from app.ml.sam_windows import Window
    from workers.ml.sam.hover import hover_map

    device = pick_device(SamSettings())
    loaded = sam_model.load(SamSettings(checkpoint=ckpt))
    sam = loaded.model.to(device)
    window = Window(0, "tile", 0, 0, 512, 512)
    embedding = np.random.default_rng(1).standard_normal((256, 64, 64)).astype(np.float16)
    hover_map(sam, embedding, window, 2, device)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    data = hover_map(sam, embedding, window, per_side, device)
    seconds = time.perf_counter() - started
    where = (
        torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(
        f"hover map, {per_side} x {per_side} points on a 512 px tile: {seconds:.1f} s "
        f"({per_side**2 / seconds:.0f} points/s, float32, {where}); {len(data) / 2**10:.0f} KiB "
        "(random weights: noisier masks than a trained SAM's, so larger)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--vit-b", action="store_true", help="also time a ViT-B encoder (random weights)")
    parser.add_argument("--encoder-only", action="store_true", help="skip the HTTP prompt benchmark")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    encoder_rate(TINY, "tiny (2 blocks, 64 wide)", 16 if not cuda else 256, 1 if not cuda else 16)
    if args.vit_b:
        encoder_rate(VIT_B, "ViT-B", 2 if not cuda else 512, 1 if not cuda else 32)
    with tempfile.TemporaryDirectory() as tmp:
        hover_rate(checkpoint(TINY, Path(tmp)), 32 if cuda else 8)
    if args.encoder_only:
        return
    with tempfile.TemporaryDirectory() as tmp:
        decoder_parts(checkpoint(TINY, Path(tmp)))
    with tempfile.TemporaryDirectory() as tmp, running_services("minelabel-bench-sam-") as services:
        services.postgres.ensure_database("bench")
        db_url = services.db_url("bench")
        upgrade(db_url)
        bench_admin_headers(db_url)
        files = Path(tmp) / "files"
        files.mkdir()
        prompts(db_url, files, checkpoint(TINY, Path(tmp)), args.prompts)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
