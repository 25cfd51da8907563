"""1,000,000 polygons over many observations: bulk ingest rate (COPY) and viewport query latency.

Polygons are irregular (8 to 32 vertices), 20 to 400 px across, on 10,000 x 10,000 px observations, 500
per observation. Viewport queries ask for random 1024 x 1024 px windows of random observations, through
the real HTTP stack (uvicorn, 2 workers, one client), and directly in SQL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import numpy as np
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app.core.db import make_session_factory
from app.core.migrations import upgrade
from app.devstack.throwaway import free_port, running_services
from app.repositories.labels import copy_regions, regions_in_viewport
from bench.common import (
    AUTH,
    bench_admin_headers,
    irregular_polygons,
    minelabel_server,
    percentile,
    start,
    stop,
)

SIZE = 10_000
PROJECT_SQL = text(
    "INSERT INTO projects (id, name, description, display_preset, labeling_config) "
    "VALUES (:id, 'bench', '', 'true_color', '<View/>')"
)
SITE_SQL = text("INSERT INTO sites (id, project_id, name, render_version) VALUES (:s, :p, 's', 0)")
OBSERVATION_SQL = text(
    "INSERT INTO observations (id, project_id, site_id, index, original_filename, content_hash, size_bytes, "
    "driver, width, height, band_count, band_names, dtype, has_alpha, georef_source, status, original_key) "
    "VALUES (:id, :p, :s, :i, 'x.tif', :h, 1, 'GTiff', :w, :w, 3, '{r,g,b}', 'uint8', false, 'none', "
    "'ready', 'k')"
)
PER_OBSERVATION = 500


def polygons(rng: np.random.Generator, count: int) -> list[shapely.Polygon]:
    return irregular_polygons(rng, count, image_size=SIZE, vertices=(8, 33), radius=(10, 200), margin=250)


def report(what: str, times: list[float], note: str) -> None:
    p50, p95, p99 = statistics.median(times), percentile(times, 0.95), percentile(times, 0.99)
    print(f"{what}: p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms ({note})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--polygons", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    observations = args.polygons // PER_OBSERVATION
    rng = np.random.default_rng(7)
    with running_services("minelabel-bench-") as services:
        services.postgres.ensure_database("bench")
        db_url = services.db_url("bench")
        upgrade(db_url)
        engine = create_engine(db_url)
        bench_admin_headers(db_url)
        project_id = uuid.uuid4()
        obs_ids = [uuid.uuid4() for _ in range(observations)]
        ann_ids = [uuid.uuid4() for _ in range(observations)]
        with Session(engine) as session:
            session.execute(PROJECT_SQL, {"id": project_id})
            site_id = uuid.uuid4()
            session.execute(SITE_SQL, {"s": site_id, "p": project_id})
            session.execute(
                OBSERVATION_SQL,
                [
                    {"id": o, "p": project_id, "s": site_id, "i": i, "h": str(o), "w": SIZE}
                    for i, o in enumerate(obs_ids)
                ],
            )
            session.execute(
                text(
                    "INSERT INTO annotations (id, project_id, observation_id, version) VALUES (:a, :p, :o, 1)"
                ),
                [{"a": a, "p": project_id, "o": o} for a, o in zip(ann_ids, obs_ids, strict=True)],
            )
            session.commit()

        print(f"generating {args.polygons:,} polygons ...", flush=True)
        labels = ["Pit", "Infrastructure", "Outline"]
        batches = []
        for o, a in zip(obs_ids, ann_ids, strict=True):
            shapes = polygons(rng, PER_OBSERVATION)
            multi = [shapely.MultiPolygon([s]) for s in shapes]
            wkbs = shapely.to_wkb(multi)
            areas = shapely.area(multi)
            batches.append(
                [
                    (
                        uuid.uuid4(),
                        project_id,
                        o,
                        a,
                        None,
                        labels[i % 3],
                        "human",
                        None,
                        wkbs[i],
                        None,
                        float(areas[i]),
                        None,
                        1,
                    )
                    for i in range(PER_OBSERVATION)
                ]
            )
        vertices = sum(len(s.exterior.coords) for s in polygons(np.random.default_rng(1), 1000)) / 1000
        streams = 2  # one COPY stream per core: parsing EWKB and index upkeep are server work

        def ingest(part: list[list[tuple[object, ...]]]) -> int:
            with Session(engine) as session:
                count = sum(copy_regions(session, batch) for batch in part)
                session.commit()
                return count

        started = time.perf_counter()
        with ThreadPoolExecutor(streams) as pool:
            total = sum(pool.map(ingest, [batches[i::streams] for i in range(streams)]))
        elapsed = time.perf_counter() - started
        rate = total / elapsed
        print(f"ingest: {total:,} polygons (~{vertices:.0f} vertices each) in {elapsed:.1f} s", flush=True)
        print(f"ingest rate: {rate:,.0f} polygons/s ({streams} COPY streams, indexes live)", flush=True)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE regions"))
            conn.commit()

        def window() -> tuple[float, float, float, float]:
            x, y = rng.uniform(0, SIZE - 1024, 2)
            return float(x), float(y), float(x + 1024), float(y + 1024)

        factory = make_session_factory(engine)
        sql_times, sql_counts = [], []
        with factory() as session:
            for _ in range(args.queries):
                obs = obs_ids[int(rng.integers(0, observations))]
                t0 = time.perf_counter()
                rows = regions_in_viewport(
                    session, obs, window(), wgs84=False, simplify=0, predictions=False, limit=5000
                )
                sql_times.append((time.perf_counter() - t0) * 1000)
                sql_counts.append(len(rows))
        report("viewport in SQL", sql_times, f"{statistics.mean(sql_counts):.0f} regions per window")

        env = {**os.environ, "DB__URL": db_url, "REDIS__URL": services.redis.url, "LOG_LEVEL": "WARNING"}
        port = free_port()
        server = start(minelabel_server(port), env, port)
        http_times = []
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=AUTH) as client:
                for i in range(args.queries + 50):
                    obs = obs_ids[int(rng.integers(0, observations))]
                    bbox = ",".join(f"{v:.1f}" for v in window())
                    t0 = time.perf_counter()
                    response = client.get(f"/api/observations/{obs}/regions", params={"bbox": bbox})
                    if i >= 50:  # the first requests warm the connection pools
                        http_times.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, response.text
        finally:
            stop(server)
        report("viewport over HTTP", http_times, f"{args.queries} sequential requests")


if __name__ == "__main__":
    main()
