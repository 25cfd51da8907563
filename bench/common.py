"""Helpers the benchmarks share: starting and stopping a server, percentiles."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx2 as httpx
import numpy as np
import shapely


def start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """Start a server and wait until it answers on ``port``. Its log goes to the file BENCH_SERVER_LOG names
    (appended), else nowhere."""
    log_path = os.environ.get("BENCH_SERVER_LOG")
    log = Path(log_path).open("ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 (the server keeps it)
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"server on port {port} did not start: {command}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# Filled by bench_admin_headers(); every request to MineLabel sends it (titiler ignores it).
AUTH: dict[str, str] = {}


def bench_admin_headers(db_url: str) -> dict[str, str]:
    """Create a site admin with an API token in the benchmark's database; remember and return the header."""
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.services.auth import create_api_token
    from app.services.users import create_user

    engine = create_engine(db_url)
    with Session(engine) as session:
        email = f"bench-{uuid.uuid4().hex[:6]}@bench.local"
        admin = create_user(session, email=email, password=uuid.uuid4().hex, is_admin=True)
        _, key = create_api_token(session, admin, "benchmark")
    engine.dispose()
    AUTH["Authorization"] = f"Token {key}"
    return AUTH


def minelabel_server(port: int, workers: int = 2) -> list[str]:
    import sys

    return [
        sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--workers", str(workers),
        "--no-access-log", "--log-level", "warning", "--port", str(port),
    ]  # fmt: skip


def irregular_polygons(
    rng: np.random.Generator, count: int, *, image_size: int, vertices: tuple[int, int],
    radius: tuple[float, float], margin: float,
) -> list[shapely.Polygon]:  # fmt: skip
    """Star-shaped polygons like hand-drawn pits: ``vertices`` [low, high) corners at random angles, a radius
    in ``radius`` varied by up to 40 % per corner, centred at least ``margin`` px inside the image."""
    shapes = []
    for _ in range(count):
        n = int(rng.integers(*vertices))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(*radius) * rng.uniform(0.6, 1.0, n)
        cx, cy = rng.uniform(margin, image_size - margin, 2)
        shapes.append(
            shapely.Polygon(np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)]))
        )
    return shapes
