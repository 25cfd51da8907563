"""The load benchmark: 50 annotators and 5 reviewers (locust, bench/load/locustfile.py) against the real
stack, then the database checked against every answer they got (bench/load/check.py).

Starts its own throw-away PostGIS and Redis, the API (uvicorn, 2 workers) and a Celery worker; makes a
project with ``--images`` small synthetic PNGs (uploaded and converted like any others) and the users,
all through the HTTP API; runs locust headless; prints and writes (``--out``) req/s, p50/p95/p99 per
endpoint, 5xx, lost and duplicated. Exits non-zero when a 5xx was answered or the check failed.

    python -m bench.load.run_load                      # the benchmark: 55 users, 10 minutes
    python -m bench.load.run_load --annotators 4 --reviewers 1 --run-time 20 --images 40
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import numpy as np
from PIL import Image
from pydantic import BaseModel
from sqlalchemy import Engine, create_engine

from app.core.migrations import upgrade
from app.devstack.processes import worker_command
from app.devstack.throwaway import free_port, running_services
from bench.common import AUTH, bench_admin_headers, minelabel_server, start, stop
from bench.load.check import CheckResult, check
from bench.load.records import LoadConfig, LoadRecords

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
IMAGE_SIZE = 256
UPLOAD_BATCH = 50
PASSWORD = "load-benchmark-password"  # noqa: S105 (throw-away accounts in a throw-away database)


class EndpointStats(BaseModel):
    name: str
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


class Summary(BaseModel):
    annotators: int
    reviewers: int
    run_time_s: float
    images: int
    load_average: tuple[float, float, float]  # at the end of the run (1, 5, 15 minutes)
    endpoints: list[EndpointStats]
    total: EndpointStats
    server_errors: int
    check: CheckResult
    records: LoadRecords

    @property
    def ok(self) -> bool:
        return self.server_errors == 0 and self.check.ok and self.records.retries_mismatched == 0


def synthetic_png(rng: np.random.Generator) -> bytes:
    """A small RGB image, different every time (the project refuses duplicates by content)."""
    pixels = rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def wait_for_job(client: httpx.Client, job_id: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] == "succeeded":
            return
        if job["state"] in ("failed", "cancelled"):
            raise RuntimeError(f"ingest job {job_id} ended {job['state']}: {job['message']}")
        time.sleep(0.5)
    raise RuntimeError(f"ingest job {job_id} did not finish in {timeout_s} s")


def make_project(client: httpx.Client, images: int) -> str:
    """A project with ``images`` tasks, uploaded in batches and converted by the Celery worker."""
    project = client.post("/api/projects", json={"name": "load benchmark"})
    project.raise_for_status()
    project_id: str = project.json()["id"]
    rng = np.random.default_rng(0)
    for first in range(0, images, UPLOAD_BATCH):
        files = [
            ("files", (f"site{n // 10:03d}_{n % 10}.png", synthetic_png(rng), "image/png"))
            for n in range(first, min(images, first + UPLOAD_BATCH))
        ]
        upload = client.post(f"/api/projects/{project_id}/images", files=files, timeout=300)
        assert upload.status_code == 202, upload.text
        wait_for_job(client, upload.json()["job"]["id"])
    return project_id


def make_member(client: httpx.Client, project_id: str, role: str, n: int) -> str:
    """An account with ``role`` in the project, signed in once to make its API token; returns the key."""
    email = f"{role}-{n}-{uuid.uuid4().hex[:6]}@load.local"
    user = client.post("/api/users", json={"email": email, "password": PASSWORD})
    assert user.status_code == 201, user.text
    member = client.put(f"/api/projects/{project_id}/members/{user.json()['id']}", json={"role": role})
    assert member.status_code == 200, member.text
    with httpx.Client(base_url=str(client.base_url), timeout=30) as browser:
        signed_in = browser.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        token = browser.post(
            "/api/auth/tokens",
            json={"name": "load"},
            headers={"X-CSRF-Token": signed_in.json()["csrf_token"]},
        )
        assert token.status_code == 201, token.text
        key: str = token.json()["key"]
    return key


def read_stats(csv_path: Path) -> tuple[list[EndpointStats], EndpointStats]:
    rows = []
    with csv_path.open() as f:
        for row in csv.DictReader(f):
            rows.append(
                EndpointStats(
                    name=row["Name"],
                    requests=int(row["Request Count"]),
                    failures=int(row["Failure Count"]),
                    rps=float(row["Requests/s"]),
                    p50_ms=float(row["50%"] if row["50%"] != "N/A" else 0),
                    p95_ms=float(row["95%"] if row["95%"] != "N/A" else 0),
                    p99_ms=float(row["99%"] if row["99%"] != "N/A" else 0),
                )
            )
    total = next(r for r in rows if r.name == "Aggregated")
    return [r for r in rows if r is not total], total


def markdown(summary: Summary) -> str:
    c, r = summary.check, summary.records
    lines = [
        f"{summary.annotators} annotators + {summary.reviewers} reviewers, {summary.run_time_s:.0f} s, "
        f"{summary.images} images; load average at the end "
        + ", ".join(f"{x:.2f}" for x in summary.load_average),
        "",
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | failures |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in [*summary.endpoints, summary.total]:
        lines.append(
            f"| {e.name} | {e.requests} | {e.rps:.1f} | {e.p50_ms:.0f} | {e.p95_ms:.0f} | {e.p99_ms:.0f} "
            f"| {e.failures} |"
        )
    lines += [
        "",
        f"5xx: {summary.server_errors}; lost: {c.lost} (final states differing: {c.final_state_mismatches}); "
        f"duplicated: {c.duplicated} (versions answered twice: {c.duplicated_versions}); refused but "
        f"stored: {c.refused_stored}",
        f"accepted changes: {c.accepted_changes}; refused (stale, 409): {c.refused_changes}; retries: "
        f"{r.retries} (answered otherwise: {r.retries_mismatched}); annotations: {c.annotations}",
        f"tasks submitted: {r.tasks_submitted}, approved: {r.approved}, rejected: {r.rejected}; "
        f"'no task left' answers: {r.no_task_left}; other surprises: {r.unexpected or 'none'}",
    ]
    return "\n".join(lines) + "\n"


def run_locust(
    base: str, config_path: Path, users: int, spawn_rate: float, seconds: float, prefix: Path
) -> None:
    """locust in a process of its own (gevent patches everything it imports)."""
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        base,
        "--users",
        str(users),
        "--spawn-rate",
        str(spawn_rate),
        "--run-time",
        f"{seconds:g}s",
        "--stop-timeout",
        "60",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    env = {**os.environ, "LOAD_CONFIG": str(config_path)}
    # Exit code 1 means some request counted as a failure: the summary reports them, so it is not fatal.
    result = subprocess.run(argv, env=env, check=False)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"locust ended with {result.returncode}")


# Called with the database and the records after the check, while the database still runs (the test uses it
# to show that the check finds what it should).
Probe = Callable[[Engine, LoadRecords], None]


@contextmanager
def celery_worker(env: dict[str, str]) -> Iterator[None]:
    """The worker that converts the uploads; started first, as it takes longest to boot."""
    argv = worker_command("cpu", 2, "WARNING", f"load-{uuid.uuid4().hex[:6]}@%h")
    worker = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        worker.terminate()
        worker.wait(timeout=60)


@contextmanager
def api_server(env: dict[str, str]) -> Iterator[str]:
    """The API as in production: uvicorn with 2 worker processes; yields its base URL."""
    port = free_port()
    server = start(minelabel_server(port, workers=2), env, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def set_up(base: str, args: argparse.Namespace, records_path: Path) -> LoadConfig:
    """The project, its images and its members, through the HTTP API."""
    began = time.monotonic()
    with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
        project_id = make_project(client, args.images)
        print(f"{args.images} images uploaded and converted: {time.monotonic() - began:.0f} s", flush=True)
        annotators = [make_member(client, project_id, "annotator", n) for n in range(args.annotators)]
        reviewers = [make_member(client, project_id, "reviewer", n) for n in range(args.reviewers)]
    print(f"set-up through the API: {time.monotonic() - began:.0f} s", flush=True)
    return LoadConfig(
        project_id=uuid.UUID(project_id),
        annotator_tokens=annotators,
        reviewer_tokens=reviewers,
        image_size=IMAGE_SIZE,
        records_path=str(records_path),
        edits_per_task=(args.min_edits, args.max_edits),
    )


def run(args: argparse.Namespace, probe: Probe | None = None) -> Summary:
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="minelabel-load-"))
    out.mkdir(parents=True, exist_ok=True)
    with running_services("minelabel-load-") as services:
        services.postgres.ensure_database("load")
        db_url = services.db_url("load")
        env = {
            **os.environ,
            "DB__URL": db_url,
            "REDIS__URL": services.redis.url,
            "STORAGE__DATA_DIR": str(services.root / "files"),
            "JOBS__SCRATCH_DIR": str(services.root / "scratch"),
            "LOG_LEVEL": "WARNING",
        }
        with celery_worker(env):
            upgrade(db_url)
            bench_admin_headers(db_url)
            with api_server(env) as base:
                config = set_up(base, args, out / "records.json")
                config_path = out / "config.json"
                config_path.write_text(config.model_dump_json())
                users = args.annotators + args.reviewers
                started = time.monotonic()
                run_locust(base, config_path, users, args.spawn_rate, args.run_time, out / "locust")
                elapsed = time.monotonic() - started
        records = LoadRecords.model_validate_json((out / "records.json").read_text())
        engine = create_engine(db_url)
        result = check(engine, records)
        if probe is not None:
            probe(engine, records)
        engine.dispose()
    endpoints, total = read_stats(out / "locust_stats.csv")
    summary = Summary(
        annotators=args.annotators,
        reviewers=args.reviewers,
        run_time_s=elapsed,
        images=args.images,
        load_average=os.getloadavg(),
        endpoints=endpoints,
        total=total,
        server_errors=sum(records.server_errors.values()),
        check=result,
        records=records,
    )
    (out / "summary.json").write_text(summary.model_dump_json(indent=2))
    (out / "summary.md").write_text(markdown(summary))
    return summary


def main(argv: list[str] | None = None, probe: Probe | None = None) -> Summary:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--reviewers", type=int, default=5)
    parser.add_argument("--run-time", type=float, default=600, help="Seconds of load (default 600).")
    parser.add_argument("--spawn-rate", type=float, default=5, help="Users started per second.")
    parser.add_argument("--images", type=int, default=600, help="Tasks in the project.")
    parser.add_argument(
        "--min-edits", type=int, default=12, help="Saves per task before submitting, at least."
    )
    parser.add_argument("--max-edits", type=int, default=30, help="... and at most.")
    parser.add_argument("--out", help="Folder for the summary (JSON, markdown) and locust's CSV files.")
    args = parser.parse_args(argv)
    summary = run(args, probe)
    print(markdown(summary))
    if not summary.ok:
        raise SystemExit("load check FAILED: see the 5xx, lost, duplicated and refused counts above")
    return summary


if __name__ == "__main__":
    main()
