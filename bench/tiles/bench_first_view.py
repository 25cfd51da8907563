"""The first view of a new task, cold: pixel-grid tiles of never-seen 1000 x 1000 images through HTTP.

The seed Sentinel-2 PNGs (``../shared/seed-data/minetracking2021``, 1000 x 1000 RGBA) are ingested as
several projects' images twice: once with the stored pyramid (``TILES__PYRAMID_MAX_TILES``, the default)
and once without (every tile rendered on request, as before the pyramid). Then a freshly started server
(uvicorn, 2 worker processes) answers, for each image exactly once:
- *first view*: every tile the labeling view asks for at its fit zoom (zoom 2, 16 PNG tiles), 6 connections
  as a browser opens; the time from the first request to the last answer, per image. The first two images
  (one per worker process) are reported apart as *fresh processes*: they also pay for the process's start;
- *full resolution*: every zoom-2 tile of other never-seen images in one shuffled list, each once, by wrk
  (a client in C: an asyncio client at this rate takes a core of the two and its own queue shows up in
  every latency), 2 threads, 8 connections;
- *memory cache*: the same list again, answered from the in-memory tile cache: what this HTTP stack does
  with no tile work at all, on this machine at this moment (a yardstick for a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

from app.core.config import Settings, TileSettings
from app.core.db import make_session_factory
from app.core.migrations import upgrade
from app.devstack.throwaway import free_port, running_services
from app.imagery.storage import LocalStorage
from app.services.imagery_processing import process_observations
from app.services.ingest import StagedFile, register_images
from app.services.projects import create_project
from bench.common import bench_admin_headers, minelabel_server, start, stop
from bench.tiles.bench_tiles import Measures, cold_pass, once_pass

REPO = Path(__file__).resolve().parents[2]
SEEDS = sorted((REPO.parent / "shared" / "seed-data" / "minetracking2021").glob("*_0*.png"))
# 1000 px fitted into a 1366 x 768 window: 1 to 2 image pixels per screen pixel; zoom 2 is full size.
FIT_ZOOM = 2
# Images opened first on a freshly started server, one per uvicorn worker process (2).
FRESH_VIEWS = 2


def ingest(db_url: str, files: Path, copies: int, pyramid_max_tiles: int) -> tuple[list[str], float]:
    """``copies`` projects of every seed image; returns the observation ids and the seconds per image."""
    from sqlalchemy import create_engine

    factory = make_session_factory(create_engine(db_url))
    storage = LocalStorage(files)
    tiles = TileSettings(pyramid_max_tiles=pyramid_max_tiles)
    ids: list[str] = []
    began = time.perf_counter()
    for copy in range(copies):
        with factory() as session:
            project = create_project(session, name=f"first-view-{pyramid_max_tiles}-{copy}")
            staged = [
                StagedFile(p.name, p, p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
                for p in SEEDS
            ]
            observations = register_images(session, storage, project, staged, {}, Settings()).observations
            session.commit()
            process_observations(
                session, storage, [o.id for o in observations], tiles, lambda *_: None, files / "scratch"
            )
            ids += [str(o.id) for o in observations]
    return ids, (time.perf_counter() - began) / len(ids)


def tile_paths(observation_id: str, version: int = 1) -> list[str]:
    return [
        f"/api/observations/{observation_id}/tiles/pixel/{FIT_ZOOM}/{x}/{y}.png?v={version}"
        for x in range(2**FIT_ZOOM)
        for y in range(2**FIT_ZOOM)
    ]


async def first_views(base: str, observation_ids: list[str]) -> Measures:
    """One image after another, as an annotator opens task after task: all its fit-zoom tiles at once."""
    walls: list[float] = []
    for observation_id in observation_ids:
        ok: list[str] = []
        began = time.perf_counter()
        run = await cold_pass(base, tile_paths(observation_id), ok, connections=6)
        walls.append((time.perf_counter() - began) * 1000)
        assert run["ok"] == 16, run
    print("first views, ms, in order:", " ".join(f"{wall:.0f}" for wall in walls), flush=True)
    walls.sort()
    return {"images": len(walls), "median_ms": statistics.median(walls), "max_ms": walls[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=3, help="projects of all 18 seed images per variant")
    parser.add_argument("--views", type=int, default=12, help="images opened one by one per variant")
    args = parser.parse_args()
    results: dict[str, Measures] = {}
    with running_services("minelabel-bench-") as services:
        services.postgres.ensure_database("bench")
        db_url = services.db_url("bench")
        upgrade(db_url)
        bench_admin_headers(db_url)
        files = services.root / "files"
        variants = {"stored pyramid": TileSettings().pyramid_max_tiles, "rendered on request": 0}
        ingested = {}
        for name, max_tiles in variants.items():
            ids, seconds = ingest(db_url, files, args.copies, max_tiles)
            ingested[name] = ids
            print(f"{name}: {len(ids)} images ingested, {seconds:.2f} s per image", flush=True)
            results[f"{name} ingest"] = {"s_per_image": seconds}
        env = {
            **os.environ,
            "DB__URL": db_url,
            "REDIS__URL": services.redis.url,
            "STORAGE__DATA_DIR": str(files),
            "LOG_LEVEL": "WARNING",
            "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        }
        for name, ids in ingested.items():
            port = free_port()
            process = start(minelabel_server(port), env, port)
            base = f"http://127.0.0.1:{port}"
            try:
                # The first image each worker process answers also pays for the process's own start
                # (its database connections, first queries, lazy imports): reported apart, since an
                # annotator's next task reaches a server that has been running.
                fresh = asyncio.run(first_views(base, ids[:FRESH_VIEWS]))
                measured = ids[FRESH_VIEWS : FRESH_VIEWS + args.views]
                views = asyncio.run(first_views(base, measured))
                rest = ids[FRESH_VIEWS + args.views :]
                paths = [p for observation_id in rest for p in tile_paths(observation_id)]
                random.Random(7).shuffle(paths)
                full = once_pass(base, paths)
                once_pass(base, paths)  # the second worker process's cache too
                cached = once_pass(base, paths)
            finally:
                stop(process)
            results[f"{name} first view, fresh processes"] = fresh
            results[f"{name} first view"] = views
            results[f"{name} full resolution"] = full
            results[f"{name} memory cache"] = cached
            print(f"{name:20} fresh processes {json.dumps(fresh)}", flush=True)
            print(f"{name:20} first view      {json.dumps(views)}", flush=True)
            print(f"{name:20} full resolution {json.dumps(full)}", flush=True)
            print(f"{name:20} memory cache    {json.dumps(cached)}", flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if not SEEDS:
        sys.exit("seed images not found: ../shared/seed-data/minetracking2021")
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk (bench/tiles/run.sh installs it)")
    main()
