"""Fixtures: real PostGIS and Redis for the session, each test in a transaction that is rolled back."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, delete, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from app.core.config import DatabaseSettings, JobSettings, RedisSettings, Settings, StorageSettings
from app.core.migrations import upgrade
from app.main import create_app
from app.models import Job, Project, User
from app.services.auth import create_api_token
from app.services.users import create_user
from tests.services import RunningServices, celery_worker, running_services, service_env

SEED_DATA = Path(__file__).resolve().parents[2] / "shared" / "seed-data"
TEST_DATABASE = "minelabel_test"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def services() -> Iterator[RunningServices]:
    with running_services() as running:
        running.postgres.ensure_database(TEST_DATABASE)
        upgrade(running.db_url(TEST_DATABASE))
        yield running


@pytest.fixture(scope="session")
def settings(services: RunningServices, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        db=DatabaseSettings(url=services.db_url(TEST_DATABASE)),
        redis=RedisSettings(url=services.redis.url),
        storage=StorageSettings(data_dir=tmp_path_factory.mktemp("files")),
        jobs=JobSettings(scratch_dir=tmp_path_factory.mktemp("scratch")),
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_engine(settings.db.url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection in an outer transaction that is rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        try:
            yield conn
        finally:
            outer.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    # Sessions join the outer transaction through savepoints: their commit() is real to the code
    # under test, and the test's rollback still undoes everything.
    return sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")


@pytest.fixture
def db_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    """This test's own storage folder, so a test can check that nothing was left behind."""
    return tmp_path / "files"


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session], files_dir: Path) -> FastAPI:
    test_settings = settings.model_copy(update={"storage": StorageSettings(data_dir=files_dir)})
    return create_app(test_settings, session_factory=session_factory)


@pytest.fixture
def site_admin(db_session: Session) -> User:
    return create_user(
        db_session, email=f"admin-{uuid.uuid4().hex[:8]}@test.local", password=PASSWORD, is_admin=True
    )


@pytest.fixture
def client_for(app: FastAPI, db_session: Session) -> Iterator[Callable[[User | None], TestClient]]:
    """Clients signed in as a given user with an API token (None: anonymous), closed after the test."""
    opened: list[TestClient] = []

    def make(user: User | None) -> TestClient:
        test_client = TestClient(app)
        if user is not None:
            _, key = create_api_token(db_session, user, "tests")
            test_client.headers["Authorization"] = f"Token {key}"
        opened.append(test_client)
        return test_client

    yield make
    for test_client in opened:
        test_client.close()


@pytest.fixture
def admin_headers(db_session: Session, site_admin: User) -> dict[str, str]:
    """Headers that sign a site admin in, for tests that build an app of their own."""
    _, key = create_api_token(db_session, site_admin, "tests")
    return {"Authorization": f"Token {key}"}


@pytest.fixture
def client(client_for: Callable[[User | None], TestClient], site_admin: User) -> TestClient:
    """A client signed in as a site admin (who passes every permission rule)."""
    return client_for(site_admin)


@pytest.fixture
def anonymous_client(client_for: Callable[[User | None], TestClient]) -> TestClient:
    return client_for(None)


@pytest.fixture(scope="session")
def sam_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A tiny SAM checkpoint with random weights (tests/sam/tiny.py); None where torch is not installed."""
    from importlib.util import find_spec

    if find_spec("torch") is None or find_spec("segment_anything") is None:
        return None
    from tests.sam.tiny import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("sam") / "sam_tiny.pth")


@pytest.fixture(scope="session")
def worker_env(settings: Settings, sam_checkpoint: Path | None) -> dict[str, str]:
    """The session worker's environment: the test services, and SAM set up with the tiny checkpoint (the
    API only asks for SAM where a test's app has it set up too)."""
    # Random weights score far under SAM's quality thresholds (predicted IoU 0.88, stability 0.92): the batch
    # pre-label that the client starts (with the project's defaults, no thresholds of its own) keeps every
    # mask here, from a 4 x 4 point grid per window (a quick job on a CPU).
    sam = (
        {
            "SAM__CHECKPOINT": str(sam_checkpoint),
            "SAM__PRED_IOU_THRESH": "0",
            "SAM__STABILITY_SCORE_THRESH": "0",
            "SAM__POINTS_PER_SIDE": "4",
            # Hover maps of 4 x 4 points (16 decodes a window, ~80 ms each on a CPU) instead of 32 x 32.
            "SAM__HOVER_POINTS_PER_SIDE": "4",
        }
        if sam_checkpoint
        else {}
    )
    return service_env(
        settings.db.url,
        settings.redis.url,
        STORAGE__DATA_DIR=str(settings.storage.data_dir),
        JOBS__SCRATCH_DIR=str(settings.jobs.scratch_dir),
        TRAIN__NUM_WORKERS="0",  # chips load in the training process: quicker for the tiny test datasets
        **sam,
    )


@pytest.fixture(scope="session")
def committing_app(settings: Settings) -> FastAPI:
    """An app whose writes are committed for real, for tests where a worker process must see them."""
    return create_app(settings)


@pytest.fixture(scope="session")
def worker(committing_app: FastAPI, worker_env: dict[str, str]) -> Iterator[str]:
    with celery_worker(worker_env, committing_app.state.celery, "test-worker") as node:
        yield node


@pytest.fixture(scope="session")
def committed_admin_key(engine: Engine) -> str:
    """An API key of a site admin committed for real (workers and the committing app see it)."""
    with Session(engine) as session:
        email = f"worker-admin-{uuid.uuid4().hex[:8]}@test.local"
        admin = create_user(session, email=email, password=PASSWORD, is_admin=True)
        _, key = create_api_token(session, admin, "committing tests")
    return key


@pytest.fixture
def committing_client(
    committing_app: FastAPI, engine: Engine, committed_admin_key: str
) -> Iterator[TestClient]:
    """A site admin's client on the committing app; the jobs and projects it makes are deleted afterwards."""
    jobs_before = _ids(engine, Job)
    projects_before = _ids(engine, Project)
    with TestClient(committing_app, headers={"Authorization": f"Token {committed_admin_key}"}) as test_client:
        yield test_client
    with Session(engine) as session:
        session.execute(delete(Project).where(Project.id.not_in(projects_before)))
        session.execute(delete(Job).where(Job.id.not_in(jobs_before)))
        session.commit()


def _ids(engine: Engine, model: type[Job] | type[Project]) -> list[uuid.UUID]:
    with Session(engine) as session:
        return list(session.scalars(select(model.id)))


@pytest.fixture
def seed_data() -> Path:
    if not SEED_DATA.is_dir():
        pytest.skip(f"seed data not found at {SEED_DATA} (it comes with the project's shared/ folder)")
    return SEED_DATA


def pytest_report_header() -> str:
    if SEED_DATA.is_dir():
        return f"seed data: {SEED_DATA}"
    return f"seed data: not found at {SEED_DATA}; tests marked 'seed' will be skipped"


def _no_cuda_reason() -> str | None:
    """Why tests marked `gpu` cannot run here, or None when a CUDA device is at hand."""
    from importlib.util import find_spec

    if find_spec("torch") is None:
        return "torch is not installed (the ml group was left out: MINELABEL_SKIP_ML=1)"
    import torch

    if not torch.cuda.is_available():
        return f"no CUDA device (torch {torch.__version__} sees none); these run on a GPU machine"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_items and (reason := _no_cuda_reason()):
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=f"gpu test skipped: {reason}"))
