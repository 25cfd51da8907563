"""Helpers the benchmarks share: starting and stopping a server, percentiles."""

from __future__ import annotations

import subprocess
import time

import httpx2 as httpx


def start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """Start a server and wait until it answers on ``port``."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def minelabel_server(port: int, workers: int = 2) -> list[str]:
    import sys

    return [
        sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--workers", str(workers),
        "--no-access-log", "--log-level", "warning", "--port", str(port),
    ]  # fmt: skip
