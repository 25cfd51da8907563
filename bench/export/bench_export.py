"""Label Studio JSON export of large projects through the API: time, polygons per second, peak memory.

Two projects are made with binary COPY: 5,000 tasks with 50,000 polygons and 50,000 tasks with 500,000
polygons (10 per task, 8 to 24 vertices, on 1000 x 1000 px images, every task approved). Each is exported
with GET /api/projects/{id}/export?format=label-studio by a fresh single-process API server, the body read
to the end by one client; the server's peak resident memory (VmHWM) is read before and after the export.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from pathlib import Path

import httpx2 as httpx
import numpy as np
import orjson
import shapely
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from app.core.migrations import upgrade
from app.devstack.throwaway import free_port, running_services
from app.interop.labeling_config import DEFAULT_LABELING_CONFIG
from app.repositories.labels import copy_regions
from bench.common import AUTH, bench_admin_headers, irregular_polygons, minelabel_server, start, stop

SIZE = 1000
PER_TASK = 10
LABELS = ["Pit", "Infrastructure", "Outline"]


def polygons(rng: np.random.Generator, count: int) -> list[shapely.Polygon]:
    return irregular_polygons(rng, count, image_size=SIZE, vertices=(8, 25), radius=(5, 60), margin=70)


def make_project(engine: Engine, name: str, tasks: int, rng: np.random.Generator) -> uuid.UUID:
    project_id = uuid.uuid4()
    sites = [uuid.uuid4() for _ in range(max(tasks // 100, 1))]
    with Session(engine) as session:
        session.execute(
            text("INSERT INTO projects (id, name, description, display_preset, labeling_config) "
                 "VALUES (:id, :n, '', 'true_color', :c)"),
            {"id": project_id, "n": name, "c": DEFAULT_LABELING_CONFIG},
        )  # fmt: skip
        session.execute(
            text("INSERT INTO sites (id, project_id, name, render_version) VALUES (:s, :p, :n, 0)"),
            [{"s": s, "p": project_id, "n": f"{i:05}"} for i, s in enumerate(sites)],
        )
        session.commit()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        observations, annotations = [], []
        for i in range(tasks):
            site = i % len(sites)
            observations.append(
                (uuid.uuid4(), project_id, sites[site], i // len(sites), f"{site:05}_{i:06}.png")
            )
            annotations.append((uuid.uuid4(), project_id, observations[-1][0]))
        with cursor.copy(
            "COPY observations (id, project_id, site_id, index, original_filename, content_hash, "
            "size_bytes, driver, width, height, band_count, band_names, dtype, has_alpha, georef_source, "
            "status, original_key, task_state) FROM STDIN"
        ) as copy:
            fixed = [
                1,
                "PNG",
                SIZE,
                SIZE,
                3,
                "{red,green,blue}",
                "uint8",
                False,
                "none",
                "ready",
                "k",
                "approved",
            ]
            for o in observations:
                copy.write_row([*o, str(o[0]), *fixed])
        with cursor.copy("COPY annotations (id, project_id, observation_id, version) FROM STDIN") as copy:
            for a in annotations:
                copy.write_row([*a, 1])
        raw.commit()
    finally:
        raw.close()
    with Session(engine) as session:
        for start_at in range(0, tasks, 1000):
            rows = []
            chunk = annotations[start_at : start_at + 1000]
            shapes = polygons(rng, len(chunk) * PER_TASK)
            multi = [shapely.MultiPolygon([s]) for s in shapes]
            wkbs, areas = shapely.to_wkb(multi), shapely.area(multi)
            for k, (annotation_id, project, observation) in enumerate(chunk):
                for j in range(PER_TASK):
                    n = k * PER_TASK + j
                    owner = (project, observation, annotation_id, None)
                    rows.append((uuid.uuid4(), *owner, LABELS[n % 3], "human", None, wkbs[n], None,
                                 float(areas[n]), None, 1))  # fmt: skip
            copy_regions(session, rows)
        session.commit()
        session.execute(text("ANALYZE"))
        session.commit()
    return project_id


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def export_once(env: dict[str, str], project_id: uuid.UUID, polygons_expected: int) -> dict[str, float]:
    port = free_port()
    server = start(minelabel_server(port, workers=1), env, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300, headers=AUTH) as client:
            client.get(f"/api/projects/{project_id}")  # warm: imports, pools
            before = peak_kib(server.pid)
            body = bytearray()
            started = time.perf_counter()
            with client.stream(
                "GET", f"/api/projects/{project_id}/export", params={"format": "label-studio"}
            ) as r:
                assert r.status_code == 200, r.read()
                for chunk in r.iter_bytes():
                    body += chunk
            elapsed = time.perf_counter() - started
            after = peak_kib(server.pid)
    finally:
        stop(server)
    tasks = orjson.loads(body)
    written = sum(len(a["result"]) for t in tasks for a in t["annotations"])
    assert written == polygons_expected, (written, polygons_expected)
    return {
        "tasks": len(tasks), "polygons": written, "seconds": round(elapsed, 2),
        "polygons_per_s": round(written / elapsed), "mib": round(len(body) / 2**20, 1),
        "peak_rss_before_mib": round(before / 1024, 1), "peak_rss_after_mib": round(after / 1024, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, nargs="+", default=[5_000, 50_000])
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    with running_services("minelabel-bench-") as services:
        services.postgres.ensure_database("bench")
        db_url = services.db_url("bench")
        upgrade(db_url)
        engine = create_engine(db_url)
        bench_admin_headers(db_url)
        env = {**os.environ, "DB__URL": db_url, "REDIS__URL": services.redis.url, "LOG_LEVEL": "WARNING"}
        for tasks in args.tasks:
            t0 = time.perf_counter()
            project_id = make_project(engine, f"export-{tasks}", tasks, rng)
            print(f"made {tasks:,} tasks / {tasks * PER_TASK:,} polygons in {time.perf_counter() - t0:.0f} s",
                  flush=True)  # fmt: skip
            result = export_once(env, project_id, tasks * PER_TASK)
            print(f"export {tasks:,} tasks: {orjson.dumps(result).decode()}", flush=True)
        engine.dispose()


if __name__ == "__main__":
    main()
