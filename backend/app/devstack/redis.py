"""A Redis server of the project's own, as a child process on a port of its own."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from app.devstack.postgres import LocalServiceError


@dataclass
class LocalRedis:
    data_dir: Path
    port: int
    persistent: bool = True
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise LocalServiceError("redis-server is not installed; `apt-get install redis-server`.")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--save", "60 1"] if self.persistent else ["--save", ""]
        args = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir)]
        args += ["--daemonize", "no", "--logfile", str(self.data_dir / "redis.log"), *persistence]
        # A session of its own: Ctrl+C reaches only our supervisor, which stops Redis in order.
        self._process = subprocess.Popen(args, start_new_session=True)
        deadline = time.monotonic() + 15
        while not self.answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise LocalServiceError(
                    f"Redis did not start on port {self.port}; see {self.data_dir / 'redis.log'}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
