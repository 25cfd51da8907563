"""20 clients editing the same 10 regions for 60 s, each often with a stale version.

Every client remembers the version it last saw of each region and sends PUT /api/regions/{id} with
If-Match; on 409 it takes the version from the answer and goes on. At the end the database must agree:
each region's version is 1 + its accepted writes, the revisions of region updates equal the accepted
writes, and no request got a 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections import Counter
from typing import Any

import httpx2 as httpx
from sqlalchemy import create_engine, text

from app.core.migrations import upgrade
from app.devstack.throwaway import free_port, running_services
from app.interop.labeling_config import DEFAULT_LABELING_CONFIG
from bench.common import AUTH, bench_admin_headers, minelabel_server, start, stop

REGIONS = 10
SETUP_SQL = text(
    "WITH p AS (INSERT INTO projects (id, name, description, display_preset, labeling_config) "
    "VALUES (gen_random_uuid(), 'contention', '', 'true_color', :config) RETURNING id), "
    "s AS (INSERT INTO sites (id, project_id, name, render_version) "
    "SELECT gen_random_uuid(), id, 's', 0 FROM p RETURNING id, project_id) "
    "INSERT INTO observations (id, project_id, site_id, index, original_filename, content_hash, "
    "size_bytes, driver, width, height, band_count, band_names, dtype, has_alpha, georef_source, "
    "status, original_key) SELECT :o, project_id, id, 0, 'x.png', 'h', 1, 'PNG', 1000, 1000, 3, "
    "'{r,g,b}', 'uint8', false, 'none', 'ready', 'k' FROM s"
)


def square(x: float, y: float, size: float) -> dict[str, Any]:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


async def client_loop(base: str, ids: list[str], seconds: float, seed: int, tally: Counter[str]) -> None:
    rng = random.Random(seed)
    known = dict.fromkeys(ids, 1)
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=AUTH) as client:
        while time.monotonic() < deadline:
            region = rng.choice(ids)
            body = {"label": "Pit", "geometry": square(rng.uniform(0, 800), rng.uniform(0, 800), 50)}
            response = await client.put(
                f"/api/regions/{region}", json=body, headers={"If-Match": str(known[region])}
            )
            if response.status_code == 200:
                tally["accepted"] += 1
                tally[f"accepted:{region}"] += 1
                for feature in response.json()["regions"]:
                    known[feature["id"]] = feature["properties"]["version"]
            elif response.status_code == 409:
                tally["conflict"] += 1
                known[region] = response.json()["current"]["version"]
            else:
                tally[f"status {response.status_code}"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with running_services("minelabel-bench-") as services:
        services.postgres.ensure_database("bench")
        db_url = services.db_url("bench")
        upgrade(db_url)
        engine = create_engine(db_url)
        bench_admin_headers(db_url)
        observation_id = uuid.uuid4()
        with engine.begin() as conn:
            conn.execute(SETUP_SQL, {"o": observation_id, "config": DEFAULT_LABELING_CONFIG})
        env = {**os.environ, "DB__URL": db_url, "REDIS__URL": services.redis.url, "LOG_LEVEL": "WARNING"}
        port = free_port()
        server = start(minelabel_server(port), env, port)
        base = f"http://127.0.0.1:{port}"
        try:
            ids = [str(uuid.uuid4()) for _ in range(REGIONS)]
            regions = [
                {"id": i, "label": "Pit", "geometry": square(10 * n, 10 * n, 5)} for n, i in enumerate(ids)
            ]
            created = httpx.post(
                f"{base}/api/observations/{observation_id}/annotations",
                json={"regions": regions},
                headers=AUTH,
            )
            assert created.status_code == 201, created.text
            annotation_id = created.json()["id"]
            tally: Counter[str] = Counter()

            async def run_all() -> None:
                await asyncio.gather(
                    *(client_loop(base, ids, args.seconds, seed, tally) for seed in range(args.clients))
                )

            started = time.perf_counter()
            asyncio.run(run_all())
            elapsed = time.perf_counter() - started
        finally:
            stop(server)
        with engine.connect() as conn:
            versions: dict[str, int] = dict(conn.execute(text("SELECT id::text, version FROM regions")).all())
            updates = conn.scalar(
                text("SELECT count(*) FROM revisions WHERE annotation_id = :a AND action = 'update'"),
                {"a": annotation_id},
            )
        errors = {k: v for k, v in tally.items() if k.startswith("status")}
        consistent = all(versions[i] == 1 + tally[f"accepted:{i}"] for i in ids)
        rate = (tally["accepted"] + tally["conflict"]) / elapsed
        print(
            f"{args.clients} clients, {elapsed:.0f} s: {tally['accepted']} accepted, {tally['conflict']} 409s"
        )
        print(f"other statuses: {errors or 'none'}; {rate:.0f} requests/s")
        print(f"every region's version == 1 + its accepted writes: {consistent}")
        print(f"revisions (updates) == accepted writes: {updates == tally['accepted']} ({updates})")
        if not consistent or updates != tally["accepted"] or errors:
            raise SystemExit("contention check FAILED")


if __name__ == "__main__":
    main()
