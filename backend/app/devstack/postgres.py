"""A PostgreSQL + PostGIS cluster of the project's own, in a data folder, on a port of its own.

PostgreSQL refuses to run its server as root, so when we are root the server runs as the ``postgres``
system user (created by Debian's package) and the cluster folder belongs to that user.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

SERVER_USER = "postgres"
SUPERUSER = "minelabel"


class LocalServiceError(RuntimeError):
    """A local service could not be set up; the message says what to do."""


def find_pg_bindir() -> Path:
    """The bin folder of the newest installed PostgreSQL server (Debian keeps them versioned)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise LocalServiceError(
        "No PostgreSQL server found; install it with `apt-get install postgresql-15-postgis-3` "
        "(`make run` does that for you)."
    )


@dataclass
class LocalPostgres:
    cluster_dir: Path
    port: int

    def __post_init__(self) -> None:
        # The server runs in its own folder, so a relative path would point elsewhere.
        self.cluster_dir = self.cluster_dir.resolve()

    @property
    def log_file(self) -> Path:
        return self.cluster_dir / "server.log"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _conninfo(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database} connect_timeout=5"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(find_pg_bindir() / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            raise LocalServiceError(f"{what} failed:\n{result.stdout}{result.stderr}")

    def initialise(self) -> bool:
        """Create the cluster unless it exists; True when it was created now."""
        if (self.cluster_dir / "PG_VERSION").is_file():
            return False
        self.cluster_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(SERVER_USER)
            except KeyError as exc:
                raise LocalServiceError(
                    f"There is no '{SERVER_USER}' user; install PostgreSQL from Debian's packages."
                ) from exc
            os.chown(self.cluster_dir, owner.pw_uid, owner.pw_gid)
            reachable = subprocess.run(
                ["runuser", "-u", SERVER_USER, "--", "test", "-w", str(self.cluster_dir)], check=False
            )
            if reachable.returncode != 0:
                raise LocalServiceError(
                    f"The '{SERVER_USER}' user cannot write to {self.cluster_dir} (a parent folder is closed "
                    f"to it). Put the project somewhere it can reach, or set DEV__DATA_DIR to such a folder."
                )
        self.cluster_dir.chmod(0o700)
        result = self._run(
            "initdb", "-D", str(self.cluster_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-instructions",
        )  # fmt: skip
        self._check(result, "initdb")
        return True

    def is_running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.cluster_dir)).returncode == 0

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.cluster_dir} "
            "-c fsync=on -c max_connections=200"
        )
        result = self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.cluster_dir),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.log_file),
            "-o",
            options,
        )
        if result.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise LocalServiceError(f"PostgreSQL did not start on port {self.port}:\n{result.stderr}\n{tail}")

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-D", str(self.cluster_dir), "-m", "fast", "-w")

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self._conninfo("postgres")):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def ensure_database(self, name: str) -> None:
        """Create database ``name`` unless it exists (the postgis extension comes with the migrations)."""
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
