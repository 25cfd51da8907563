"""`make run` (it execs `minelabel dev`): starts everything, keeps data between runs, and Ctrl+C stops
what it started and only that."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx2 as httpx
import pytest

from app.devstack.postgres import LocalPostgres
from app.devstack.redis import LocalRedis
from tests.services import free_port, make_shared_tmpdir, service_env

pytestmark = pytest.mark.slow

MINELABEL = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "minelabel")


class DevRun:
    """`minelabel dev` in the background, with its output collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self.process = subprocess.Popen(
            [MINELABEL, "dev"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)

    def wait_for(self, text: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"'{text}' never appeared; output:\n{''.join(self.lines)}")

    def ctrl_c(self, timeout_s: float = 60) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=timeout_s)
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def dev_env() -> Iterator[dict[str, str]]:
    data = make_shared_tmpdir("minelabel-dev-")
    env = service_env(
        "postgresql+psycopg://unused@127.0.0.1:1/unused",
        "redis://127.0.0.1:1/0",
        DEV__DATA_DIR=str(data),
        DEV__PG_PORT=str(free_port()),
        DEV__REDIS_PORT=str(free_port()),
        DEV__WORKER_CONCURRENCY="1",
        API_PORT=str(free_port()),
        ADMIN__EMAIL="first@mine.example",
        STORAGE__DATA_DIR=str(data / "files"),
    )
    yield env
    postgres = LocalPostgres(data / "postgres", int(env["DEV__PG_PORT"]))
    if postgres.is_running():
        postgres.stop()
    subprocess.run(["rm", "-rf", str(data)], check=False)


def test_dev_stack_runs_keeps_data_and_stops_only_what_it_started(dev_env: dict[str, str]) -> None:
    api = f"http://127.0.0.1:{dev_env['API_PORT']}"
    data = Path(dev_env["DEV__DATA_DIR"])
    postgres = LocalPostgres(data / "postgres", int(dev_env["DEV__PG_PORT"]))
    redis = LocalRedis(data / "redis", int(dev_env["DEV__REDIS_PORT"]))

    first = DevRun(dev_env)
    try:
        first.wait_for("MineLabel runs at")
        assert "First admin account created: first@mine.example  password: " in first.output
        password = first.output.split("first@mine.example  password: ")[1].split()[0]
        with httpx.Client(base_url=api, timeout=30) as client:
            health = wait_for_green(client)
            assert health["workers"]["queues"].keys() == {"cpu", "gpu"}
            # Signed in as a browser is: the session cookie, and the CSRF token echoed in a header.
            csrf = sign_in(client, "first@mine.example", password)
            job = client.post("/api/jobs/probe", json={"queue": "gpu"}, headers={"X-CSRF-Token": csrf}).json()
            assert wait_for_job(client, job["id"])["state"] == "succeeded"
            # A worker that dies is started again; the rest of the stack goes on.
            worker_pid = child_pid(first.process.pid, "worker")
            os.kill(worker_pid, signal.SIGKILL)
            first.wait_for("the worker process exited with code -9; starting it again in 1 s")
            first.wait_for("starting the worker process again (restart 1)")
            assert child_pid(first.process.pid, "worker") != worker_pid
            wait_for_green(client)
            again = client.post("/api/jobs/probe", json={}, headers={"X-CSRF-Token": csrf}).json()
            assert wait_for_job(client, again["id"])["state"] == "succeeded"
            assert child_pid(first.process.pid, "beat")  # the reaper's clock runs too
    finally:
        assert first.ctrl_c() == 0, first.output
    assert not postgres.is_running()
    assert not redis.answers()
    assert_port_closed(int(dev_env["API_PORT"]))

    # Second run: PostgreSQL already runs (started by someone else); the data is still there, no
    # second admin is made, and stopping leaves that PostgreSQL running.
    postgres.start()
    second = DevRun(dev_env)
    try:
        second.wait_for("MineLabel runs at")
        assert "First admin account created" not in second.output
        assert "reusing it" in second.output
        with httpx.Client(base_url=api, timeout=30) as client:
            wait_for_green(client)
            sign_in(client, "first@mine.example", password)
            assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "succeeded"
    finally:
        assert second.ctrl_c() == 0, second.output
    assert postgres.is_running()
    assert not redis.answers()


def child_pid(parent: int, program: str) -> int:
    """The pid of the supervisor's child running `celery ... <program>` (worker or beat)."""
    found = subprocess.run(
        ["pgrep", "-P", str(parent), "-f", f"celery -A workers.celery_app:celery_app {program}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert len(found) == 1, found
    return int(found[0])


def sign_in(client: httpx.Client, email: str, password: str) -> str:
    response = client.post("/api/auth/sign-in", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


def wait_for_green(client: httpx.Client, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        report: dict[str, Any] = client.get("/api/health").json()
        if report["status"] == "ok" or time.monotonic() > deadline:
            assert report["status"] == "ok", report
            return report
        time.sleep(0.5)


def wait_for_job(client: httpx.Client, job_id: str, timeout_s: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, object] = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def assert_port_closed(port: int) -> None:
    import socket

    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def test_sigterm_also_stops_cleanly(dev_env: dict[str, str]) -> None:
    run = DevRun(dev_env)
    run.wait_for("MineLabel runs at")
    os.kill(run.process.pid, signal.SIGTERM)
    assert run.process.wait(timeout=60) == 0
    assert not LocalPostgres(
        Path(dev_env["DEV__DATA_DIR"]) / "postgres", int(dev_env["DEV__PG_PORT"])
    ).is_running()
