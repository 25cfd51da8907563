"""Tiles per second and latency through the real HTTP stack: MineLabel vs titiler on one COG.

Cold: every tile of a shuffled list requested once, by an asyncio client with 8 connections, on freshly
started servers (empty tile cache, empty GDAL block cache). Warm: wrk, 2 threads, 16 connections, random
tiles from the same list for a fixed time, after the cold pass. Both servers run uvicorn with one worker
process (``--workers``: with two, how the kernel spread the connections decided the ratio); the image is a
seed GeoTIFF ingested by MineLabel, and titiler reads MineLabel's own COG.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import morecantile

from app.core.config import Settings, TileSettings
from app.core.db import make_session_factory
from app.core.migrations import upgrade
from app.devstack.throwaway import free_port, running_services
from app.imagery.storage import LocalStorage
from app.services.imagery_processing import process_observations
from app.services.ingest import StagedFile, register_images
from app.services.projects import create_project
from bench.common import AUTH, bench_admin_headers, start, stop

REPO = Path(__file__).resolve().parents[2]
SEED_IMAGE = REPO.parent / "shared" / "seed-data" / "georef" / "landsat7_rgb_byte.tif"
# What one pass measured: rates and latencies, counts, and one text (how connections were spread).
Measures = dict[str, float | str]
TITILER_UVICORN = REPO / "bench" / ".venv-titiler" / "bin" / "uvicorn"
ZOOMS = range(7, 13)


def ingest(db_url: str, files: Path) -> tuple[str, Path, tuple[float, float, float, float]]:
    import hashlib

    from sqlalchemy import create_engine

    engine = create_engine(db_url)
    factory = make_session_factory(engine)
    storage = LocalStorage(files)
    digest = hashlib.sha256(SEED_IMAGE.read_bytes()).hexdigest()
    with factory() as session:
        project = create_project(session, name="bench")
        staged = StagedFile(SEED_IMAGE.name, SEED_IMAGE, SEED_IMAGE.stat().st_size, digest)
        (observation,) = register_images(session, storage, project, [staged], {}, Settings()).observations
        process_observations(session, storage, [observation.id], TileSettings(), lambda *_: None, files)
        from geoalchemy2.shape import to_shape

        assert observation.footprint is not None and observation.cog_key is not None
        bounds = to_shape(observation.footprint).bounds
        return str(observation.id), files / observation.cog_key, bounds


def tile_list(bounds: tuple[float, float, float, float]) -> list[tuple[int, int, int]]:
    tms = morecantile.tms.get("WebMercatorQuad")
    tiles = [(t.z, t.x, t.y) for t in tms.tiles(*bounds, zooms=list(ZOOMS))]
    random.Random(42).shuffle(tiles)
    return tiles


async def cold_pass(
    base: str, paths: list[str], ok_paths: list[str], connections: int = 8, *, report_spread: bool = False
) -> Measures:
    """Each path once; the paths answered with 200 are added to ``ok_paths``. ``report_spread`` adds
    ``connections_per_process`` (a pass of over a second)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            path = queue.get_nowait()
            start_time = time.perf_counter()
            try:
                code = (await client.get(path)).status_code
            except httpx.TransportError:
                code = 0  # connection dropped: counted, not fatal
            latencies.append((time.perf_counter() - start_time) * 1000)
            statuses[code] = statuses.get(code, 0) + 1
            if code == 200:
                ok_paths.append(path)

    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60, headers=AUTH) as client:
        began = time.perf_counter()
        spread = asyncio.create_task(connections_per_process(base)) if report_spread else None
        await asyncio.gather(*(worker(client) for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "tiles_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "ok": statuses.get(200, 0),
        "not_found": statuses.get(404, 0),
        "errors": sum(n for code, n in statuses.items() if code not in (200, 404)),
        **({"connections_per_process": await spread} if spread is not None else {}),
    }


async def connections_per_process(base: str) -> str:
    """How the kernel spread the client's keep-alive connections over the server's worker processes, a
    second into a pass (``ss``): uvicorn's workers share one listening socket, and a split such as 6/2
    leaves one process with most of the work, which is where most of a run's spread comes from."""
    await asyncio.sleep(1)
    port = base.rsplit(":", 1)[1]
    listing = await asyncio.create_subprocess_exec(
        "ss", "-Htnp", "state", "established", f"( sport = :{port} )", stdout=subprocess.PIPE
    )
    out, _ = await listing.communicate()
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", out.decode()):
        counts[pid] = counts.get(pid, 0) + 1
    return "/".join(str(n) for n in sorted(counts.values(), reverse=True)) or "none seen"


# wrk's threads; each_path_once.lua splits the paths between them (BENCH_THREADS).
WRK_THREADS = 2


def warm_pass(base: str, paths: list[str], seconds: int, connections: int) -> Measures:
    """wrk for ``seconds``: random paths of the list, ``connections`` connections."""
    output = _wrk(base, paths, "random_paths.lua", seconds, connections, {})
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert rate, output
    return {"tiles_per_s": float(rate[1]), **_latencies(output)}


def once_pass(base: str, paths: list[str], connections: int = 8) -> Measures:
    """wrk: every path exactly once (``each_path_once.lua``). A client in C, so that on a 2-core machine
    the client's own time does not count as the server's (an asyncio client at ~1,000 requests/s takes a
    whole core, and its event loop's queue shows up in every latency)."""
    with tempfile.TemporaryDirectory() as scratch:
        times = Path(scratch) / "times.txt"
        # wrk runs for its whole duration even after the script has stopped every thread; long enough
        # for 50 tiles/s, and a shorter run (answers missing) fails below.
        seconds = max(5, len(paths) // 50)
        output = _wrk(base, paths, "each_path_once.lua", seconds, connections, {"BENCH_TIMES": str(times)})
        spans = [tuple(map(float, line.split())) for line in times.read_text().splitlines()]
    assert len(spans) == WRK_THREADS, f"not every wrk thread got all its answers in {seconds} s:\n{output}"
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    return {"tiles_per_s": len(paths) / elapsed, **_latencies(output)}


def _wrk(
    base: str, paths: list[str], script: str, seconds: int, connections: int, env: dict[str, str]
) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(paths))
    output = subprocess.run(
        ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", f"Authorization: {AUTH['Authorization']}", "-s", str(Path(__file__).with_name(script)), base],
        env={**os.environ, **env, "BENCH_PATHS": handle.name, "BENCH_THREADS": str(WRK_THREADS)},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    Path(handle.name).unlink()
    return output


def _latencies(output: str) -> Measures:
    """wrk's --latency percentiles and non-2xx count, from its report."""

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", output, re.MULTILINE)
        assert match, output
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    assert requests, output
    return {
        "requests": int(requests[1]),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(non2xx[1]) if non2xx else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15, help="length of each warm run")
    parser.add_argument("--cold-only", action="store_true", help="only the cold pass (about 2 minutes)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes per server (default 1: with more, the kernel decides how the "
        "client's keep-alive connections spread over them, all 8 on one process in most runs and 7/1 in "
        "others, and that decided the ratio; connections_per_process reports it)",
    )
    parser.add_argument(
        "--formats", default="png,jpg", help="formats in the order they run (the first follows the ingest)"
    )
    args = parser.parse_args()
    if not SEED_IMAGE.is_file():
        sys.exit(f"seed image not found: {SEED_IMAGE}")
    results: dict[str, Measures] = {}
    with running_services("minelabel-bench-") as services:
        services.postgres.ensure_database("bench")
        db_url = services.db_url("bench")
        upgrade(db_url)
        bench_admin_headers(db_url)
        files = services.root / "files"
        observation_id, cog, bounds = ingest(db_url, files)
        tiles = tile_list(bounds)
        print(
            f"{len(tiles)} Web Mercator tiles at zooms {ZOOMS.start}-{ZOOMS.stop - 1} of {cog.name}",
            flush=True,
        )
        env = {
            **os.environ,
            "DB__URL": db_url,
            "REDIS__URL": services.redis.url,
            "STORAGE__DATA_DIR": str(files),
            "LOG_LEVEL": "WARNING",
            "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        }
        minelabel = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
        titiler = [str(TITILER_UVICORN), "titiler_app:app", "--app-dir", str(Path(__file__).parent)]
        common = ["--workers", str(args.workers), "--no-access-log", "--log-level", "warning"]
        servers: dict[str, tuple[list[str], Callable[[str], list[str]]]] = {
            "minelabel": (
                minelabel + common,
                lambda fmt: [f"/api/observations/{observation_id}/tiles/mercator/{z}/{x}/{y}.{fmt}?v=1"
                             for z, x, y in tiles],
            ),
            "titiler": (
                titiler + common,
                lambda fmt: [f"/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.{fmt}?url={cog}" for z, x, y in tiles],
            ),
        }  # fmt: skip
        for fmt in args.formats.split(","):
            for name, (command, paths_for) in servers.items():
                port = free_port()
                process = start([*command, "--port", str(port)], env, port)
                base = f"http://127.0.0.1:{port}"
                try:
                    ok: list[str] = []
                    runs = {"cold": asyncio.run(cold_pass(base, paths_for(fmt), ok, report_spread=True))}
                    if not args.cold_only:
                        # Every worker process has its own tile cache: fill both before measuring warm
                        # (three more passes over every tile, then random requests for a while).
                        for _ in range(3):
                            asyncio.run(cold_pass(base, ok, []))
                        warm_pass(base, ok, args.seconds, 16)
                        runs["warm c16"] = warm_pass(base, ok, args.seconds, 16)
                        runs["warm c4"] = warm_pass(base, ok, args.seconds, 4)
                finally:
                    stop(process)
                for label, run in runs.items():
                    results[f"{name} {fmt} {label}"] = run
                    print(f"{name:9} {fmt:4} {label:8} {json.dumps(run)}", flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
