"""Browser tests: the built client (frontend/dist), served by the real app on a live port with real PostGIS,
Redis and a Celery worker behind it, driven through Playwright in Debian's headless Chromium.

Fixtures (see each one's docstring):

- ``live_server`` (session) -> str: "http://127.0.0.1:PORT", the committing app under uvicorn.
- ``browser`` (package) -> Browser: /usr/bin/chromium, headless (skipped where it is not installed).
- ``page`` -> Page: a fresh context at 1366 x 768 whose relative URLs go to ``live_server``; 15 s timeouts.
  Console errors and uncaught page errors fail the test; ``console_errors.allow(...)`` lets expected ones
  through.
- ``console_errors`` -> ConsoleErrors: what ``page`` saw, and ``allow(*substrings)``.
- ``wait_for_view(page, "projects")`` (a function): waits for ``<html data-view="projects">``; use it, not
  ``page.wait_for_function``, which the app's Content-Security-Policy blocks.
- ``artifacts`` (session) -> Path: test-artifacts/e2e; ``shot(page, name)`` saves ``<name>.png`` there.
- ``e2e_accounts`` -> E2EAccounts: a committed annotator and reviewer who can sign in with a password.
- ``e2e_project`` -> E2EProject: a committed project with both as members and ready imagery (the real
  Sentinel-2 seed PNGs of site 0854 where ../shared/seed-data exists, else a synthetic PNG).
- ``sam_server`` (module) -> str: the built client on an app with SAM set up (the tiny random-weight
  checkpoint the session worker loads too); ``sam_api``: a site admin's httpx client on it; ``sam_page``: a
  page on it (console errors fail the test, as ``page``'s do).

Playwright never downloads a browser here (``playwright install`` is not used): Debian's chromium package,
installed by scripts/setup.sh, is the browser.
"""

from __future__ import annotations

import http.client
import mimetypes
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from rasterio.io import MemoryFile

from app.core.config import SamSettings, Settings
from app.main import create_app
from bench.browser.chromium import CHROMIUM, CHROMIUM_ARGS, VIEWPORT_HEIGHT, VIEWPORT_WIDTH
from tests.jobs import wait_for_job
from tests.services import REPO_ROOT, free_port
from tests.world import PASSWORD

TIMEOUT_MS = 15_000
FRONTEND_INDEX = REPO_ROOT / "frontend" / "dist" / "index.html"
SEED_SERIES = REPO_ROOT.parent / "shared" / "seed-data" / "minetracking2021"
SEED_SITE = "0854"
SYNTHETIC_SITE = "synthetic"
INGEST_TIMEOUT_S = 180.0

expect.set_options(timeout=TIMEOUT_MS)


# --- The live server ---------------------------------------------------------------------------------------


def _status(port: int, path: str) -> int | None:
    """The HTTP status of GET ``path`` on the loopback port, or None while nothing answers there."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn in a daemon thread on a free loopback port; yields its base URL once
    /api/health/live answers."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"e2e-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while _status(port, "/api/health/live") != 200:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail(f"the live server on port {port} did not answer /api/health/live", pytrace=False)
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="session")
def live_server(committing_app: FastAPI) -> Iterator[str]:
    """The committing app (writes are real, the ``worker`` fixture's worker sees them) with the built
    client at "/"."""
    mounted = any(getattr(route, "name", None) == "frontend" for route in committing_app.routes)
    if not FRONTEND_INDEX.is_file() or not mounted:
        pytest.fail("frontend/dist is missing: run `make frontend`", pytrace=False)
    with serve(committing_app) as url:
        yield url


# --- The browser -------------------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, shared by the tests of tests/e2e.

    Package scope, not session: while Playwright's sync API runs, the main thread counts as inside its
    event loop (``asyncio.run()`` there raises), so it is stopped once the browser tests are done.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package (scripts/setup.sh does)")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@dataclass
class ConsoleErrors:
    """Console errors and uncaught exceptions of one test's page, each with where it came from.

    A failed network request shows in the console as "Failed to load resource: ... status of 404 (Not
    Found) [URL]"; a test that causes one on purpose lets it through with ``allow``. Let through by default:
    the browser's own request for /favicon.ico, and the signed-out client's probe of its session (a 401
    from /api/auth/me).
    """

    seen: list[str] = field(default_factory=list)
    allowed: list[tuple[str, ...]] = field(
        default_factory=lambda: [("status of 404", "/favicon.ico]"), ("status of 401", "/api/auth/me]")]
    )
    reported: int = 0

    def allow(self, *substrings: str) -> None:
        """Let through messages that contain every one of ``substrings`` (say a status and a URL)."""
        if not substrings:
            raise ValueError("allow() needs at least one substring")
        self.allowed.append(substrings)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location
            where = location.get("url", "")
            if where and location.get("lineNumber"):
                where = f"{where}:{location['lineNumber']}"
            self.seen.append(f"console error: {message.text} [{where}]")

    def on_page_error(self, error: PlaywrightError) -> None:
        self.seen.append("uncaught " + (error.stack or f"{error.name}: {error.message}"))

    def unexpected(self) -> list[str]:
        return [m for m in self.seen if not any(all(s in m for s in subs) for subs in self.allowed)]

    def take_unreported(self) -> list[str]:
        """The unexpected messages not yet reported, marked as reported now."""
        fresh = self.unexpected()[self.reported :]
        self.reported += len(fresh)
        return fresh

    def check(self) -> None:
        """Fail the test when there are unexpected messages not yet reported."""
        if fresh := self.take_unreported():
            pytest.fail("the page logged errors:\n" + "\n".join(f"  {m}" for m in fresh), pytrace=False)


CONSOLE_ERRORS = pytest.StashKey[ConsoleErrors]()


@pytest.fixture
def console_errors() -> ConsoleErrors:
    """The ``page`` fixture's console errors; call ``allow(...)`` for those a test causes on purpose."""
    return ConsoleErrors()


def open_page(browser: Browser, base_url: str, errors: ConsoleErrors) -> Page:
    """A page in a fresh context (no cookies) at 1366 x 768 whose console errors go to ``errors``."""
    context = browser.new_context(
        viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT}, base_url=base_url
    )
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    opened.on("console", errors.on_console)
    opened.on("pageerror", errors.on_page_error)
    return opened


@pytest.fixture
def page(
    browser: Browser, live_server: str, console_errors: ConsoleErrors, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A page in a fresh context (no cookies) at 1366 x 768; ``page.goto("/")`` opens the live server."""
    new_page = open_page(browser, live_server, console_errors)
    request.node.stash[CONSOLE_ERRORS] = console_errors
    try:
        yield new_page
    finally:
        new_page.context.close()
    # What arrived too late for pytest_runtest_call below.
    console_errors.check()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Console errors fail a test that passed; a failing test shows them beside its own error."""
    try:
        result = yield
    except BaseException:
        errors = item.stash.get(CONSOLE_ERRORS, None)
        if errors is not None and (fresh := errors.take_unreported()):
            item.add_report_section("call", "browser console errors", "\n".join(fresh))
        raise
    if (errors := item.stash.get(CONSOLE_ERRORS, None)) is not None:
        errors.check()
    return result


def wait_for_view(page: Page, view: str) -> None:
    """Wait until the client says it shows ``view`` (``document.documentElement.dataset.view``).

    Not ``page.wait_for_function``: Playwright runs its predicate through ``eval()`` in the page, which the
    app's Content-Security-Policy (``script-src 'self'``, app/api/middleware.py) forbids, and the tests keep
    that policy on (no ``bypass_csp``) so they catch what it blocks. A locator wait needs no eval.
    """
    expect(page.locator("html")).to_have_attribute("data-view", view)


# --- Screenshots -------------------------------------------------------------------------------------------

Shot = Callable[[Page, str], Path]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """<repo>/test-artifacts/e2e (ignored by git), for screenshots and anything else a test wants to keep."""
    folder = REPO_ROOT / "test-artifacts" / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_shot(folder: Path, page: Page, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=path, full_page=False)
    return path


@pytest.fixture
def shot(artifacts: Path) -> Shot:
    """``shot(page, "name")`` saves the page's viewport as test-artifacts/e2e/name.png; returns the path."""

    def take(page: Page, name: str) -> Path:
        return save_shot(artifacts, page, name)

    return take


# --- Accounts and a project --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    password: str


@dataclass(frozen=True)
class E2EAccounts:
    annotator: Account
    reviewer: Account


@dataclass(frozen=True)
class E2EProject:
    project_id: str
    name: str
    site_id: str
    site_name: str
    observation_ids: tuple[str, ...]  # in series order (by index)
    seed_imagery: bool  # the real Sentinel-2 PNGs of ../shared/seed-data; False: a synthetic PNG


def create_account(client: TestClient, role: str) -> Account:
    email = f"e2e-{role}-{uuid.uuid4().hex[:8]}@test.local"
    response = client.post("/api/users", json={"email": email, "password": PASSWORD, "is_admin": False})
    assert response.status_code == 201, response.text
    return Account(id=response.json()["id"], email=email, password=PASSWORD)


@pytest.fixture
def e2e_accounts(committing_client: TestClient) -> E2EAccounts:
    """An annotator and a reviewer (not site admins), committed through the API, with the password
    tests.world.PASSWORD. They become members of ``e2e_project``; on their own they belong to no project."""
    return E2EAccounts(
        annotator=create_account(committing_client, "annotator"),
        reviewer=create_account(committing_client, "reviewer"),
    )


def synthetic_png() -> bytes:
    """A 1000 x 1000 RGB PNG of dry ground with a pit lake, a waste dump, a plant and a haul road."""
    size = 1000
    rows, cols = np.mgrid[0:size, 0:size]
    image = np.empty((3, size, size), dtype=np.uint8)
    image[:] = np.array([168, 140, 104], dtype=np.uint8)[:, None, None]
    shapes: list[tuple[Any, tuple[int, int, int]]] = [
        ((rows - 430) ** 2 + (cols - 400) ** 2 < 170**2, (92, 84, 78)),  # pit
        ((rows - 430) ** 2 + (cols - 400) ** 2 < 70**2, (36, 110, 150)),  # pit lake
        ((rows > 120) & (rows < 330) & (cols > 650) & (cols < 900), (205, 196, 180)),  # waste dump
        ((rows > 700) & (rows < 800) & (cols > 620) & (cols < 760), (70, 70, 80)),  # plant
        (abs(rows - cols - 150) < 8, (230, 220, 200)),  # haul road
    ]
    for mask, colour in shapes:
        image[:, mask] = np.array(colour, dtype=np.uint8)[:, None]
    with MemoryFile() as memfile:
        with memfile.open(driver="PNG", width=size, height=size, count=3, dtype="uint8") as dst:
            dst.write(image)
        return bytes(memfile.read())


def _upload_files() -> tuple[list[tuple[str, bytes]], str, bool]:
    """The files to upload (named ``<site>_<index>.png``: that names the site and the series order)."""
    if SEED_SERIES.is_dir():
        names = [f"{SEED_SITE}_000.png", f"{SEED_SITE}_001.png"]
        return [(name, (SEED_SERIES / name).read_bytes()) for name in names], SEED_SITE, True
    return [(f"{SYNTHETIC_SITE}_000.png", synthetic_png())], SYNTHETIC_SITE, False


def create_e2e_project(
    client: TestClient, accounts: E2EAccounts, files: list[tuple[str, bytes]], seed_imagery: bool
) -> E2EProject:
    """A committed project ("E2E <hex>") with the annotator and reviewer as members and ``files`` (named
    ``<site>_<index>.<ext>``) ingested by the real worker, every observation ready."""
    name = f"E2E {uuid.uuid4().hex[:8]}"
    created = client.post("/api/projects", json={"name": name, "description": "Browser tests"})
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    for account, role in ((accounts.annotator, "annotator"), (accounts.reviewer, "reviewer")):
        member = client.put(f"/api/projects/{project_id}/members/{account.id}", json={"role": role})
        assert member.status_code == 200, member.text

    uploaded = client.post(
        f"/api/projects/{project_id}/images",
        files=[
            ("files", (filename, data, mimetypes.guess_type(filename)[0] or "")) for filename, data in files
        ],
    )
    assert uploaded.status_code == 202, uploaded.text
    assert uploaded.json()["rejected"] == [], uploaded.text
    job = wait_for_job(client, uploaded.json()["job"]["id"], INGEST_TIMEOUT_S)
    assert job["result"]["failed"] == [], job

    listed = client.get(f"/api/projects/{project_id}/observations")
    assert listed.status_code == 200, listed.text
    observations = sorted(listed.json()["items"], key=lambda o: int(o["index"]))
    assert len(observations) == len(files), observations
    assert all(o["status"] == "ready" for o in observations), observations
    return E2EProject(
        project_id=project_id,
        name=name,
        site_id=observations[0]["site_id"],
        site_name=observations[0]["site_name"],
        observation_ids=tuple(o["id"] for o in observations),
        seed_imagery=seed_imagery,
    )


@pytest.fixture
def e2e_project(committing_client: TestClient, worker: str, e2e_accounts: E2EAccounts) -> E2EProject:
    """A committed project with the annotator and reviewer of ``e2e_accounts`` as members and its imagery
    ingested by the real worker. With ../shared/seed-data: site 0854's first two Sentinel-2 PNGs (0854_000,
    0854_001); without: one synthetic 1000 x 1000 PNG. Deleted after the test by ``committing_client``."""
    files, site_name, seed_imagery = _upload_files()
    project = create_e2e_project(committing_client, e2e_accounts, files, seed_imagery)
    assert project.site_name == site_name
    return project


# --- SAM in the browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sam_server(settings: Settings, sam_checkpoint: Path | None) -> Iterator[str]:
    """The built client on an app with SAM set up (the tiny checkpoint the session worker loads too)."""
    if sam_checkpoint is None:
        pytest.skip("the ml group (torch, segment-anything) is not installed: MINELABEL_SKIP_ML=1")
    app = create_app(settings.model_copy(update={"sam": SamSettings(checkpoint=sam_checkpoint)}))
    with serve(app) as url:
        yield url


@pytest.fixture
def sam_api(sam_server: str, committed_admin_key: str) -> Iterator[httpx.Client]:
    """A site admin's HTTP client on the SAM app (the committing app has no SAM)."""
    with httpx.Client(
        base_url=sam_server, headers={"Authorization": f"Token {committed_admin_key}"}, timeout=60
    ) as client:
        yield client


@pytest.fixture
def sam_page(
    browser: Browser, sam_server: str, console_errors: ConsoleErrors, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A page on the SAM app; its console errors fail the test (shown beside a failure, as ``page``'s are)."""
    opened = open_page(browser, sam_server, console_errors)
    request.node.stash[CONSOLE_ERRORS] = console_errors
    try:
        yield opened
    finally:
        opened.context.close()
    console_errors.check()
