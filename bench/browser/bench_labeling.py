"""The browser labeling view with many regions: opening a task, pan/zoom smoothness, autosave round trip.

For each region count N (default 500, 2000, 5000) one 1000 x 1000 px PNG is uploaded through the API and
ingested by a real Celery worker, and an annotation with N irregular polygons (10 to 30 vertices, 5 to
25 px radius, labels Pit / Infrastructure / Outline in turn) is created through the API by a project
admin, who then drives the built client (frontend/dist, served by the real app: uvicorn, 2 workers) in
Debian's headless Chromium at 1366 x 768:

1. open: a fresh document at ``/#/projects/P/label/O`` until ``<html data-map-ready="O">`` (the first
   render with tiles and all regions drawn), several times; with the share of the annotations' stream
   (``GET /api/observations/{id}/annotations/stream``: first and last byte);
2. pan and zoom: a drag-pan (30 mouse moves in a circle) and three wheel zooms in and three out, with a
   requestAnimationFrame recorder: frames, median / p95 / longest frame interval;
3. autosave: draw a triangle (``d``, three clicks, Enter) and time Enter until ``<html data-saved-version>``
   shows the next version (the client sends what changed with ``PATCH /api/annotations/{id}`` after a
   50 ms debounce), split into the client's and the server's parts;
4. accept all (``--accept N``): on an image of its own with an empty annotation and a prediction of N
   regions, the time from clicking "Accept all" until the save of the N regions is confirmed.

Times are taken in the page (``performance.now()``: a MutationObserver on <html>'s data-* attributes,
Resource Timing, long tasks), not by polling from Python.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import shapely
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright
from rasterio.io import MemoryFile

from app.core.migrations import upgrade
from app.devstack.throwaway import free_port, running_services
from bench.browser.chromium import CHROMIUM, CHROMIUM_ARGS, VIEWPORT_HEIGHT, VIEWPORT_WIDTH
from bench.common import (
    AUTH,
    bench_admin_headers,
    irregular_polygons,
    minelabel_server,
    percentile,
    start,
    stop,
)

REPO = Path(__file__).resolve().parents[2]
VIEWPORT: ViewportSize = {"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT}
SIZE = 1000
LABELS = ["Pit", "Infrastructure", "Outline"]
TIMEOUT_MS = 120_000  # generous: opening or saving 5,000 regions takes seconds here
INGEST_TIMEOUT_S = 180.0
DRAG_MOVES = 30
DRAG_RADIUS_PX = 120
WHEEL_DELTAS = [-300, -300, -300, 300, 300, 300]  # three zooms in, three out
WHEEL_PAUSE_MS = 400  # OpenLayers animates a wheel zoom for 250 ms
TRIANGLE = [(-90, -60), (80, -70), (10, 80)]  # px from the map's centre

# Runs in every new document before the app's scripts: records frames (while ``recording``), changes of
# <html>'s data-* attributes (the client's state hooks), key presses and long tasks, all in page time.
RECORDER_JS = """
(() => {
  if (window.__bench) return;
  performance.setResourceTimingBufferSize(100000);
  const bench = { frames: [], recording: false, marks: [], keys: [], downs: [], longTasks: [] };
  window.__bench = bench;
  const tick = (t) => { if (bench.recording) bench.frames.push(t); requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const watch = (html) => new MutationObserver((records) => {
    const now = performance.now();
    for (const r of records) {
      if (r.attributeName && r.attributeName.startsWith("data-")) {
        bench.marks.push([now, r.attributeName, html.getAttribute(r.attributeName)]);
      }
    }
  }).observe(html, { attributes: true });
  if (document.documentElement) watch(document.documentElement);
  else new MutationObserver((_, observer) => {
    if (document.documentElement) { observer.disconnect(); watch(document.documentElement); }
  }).observe(document, { childList: true });
  window.addEventListener("keydown", (e) => bench.keys.push([performance.now(), e.key]), true);
  window.addEventListener("pointerdown", () => bench.downs.push(performance.now()), true);
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) bench.longTasks.push([e.startTime, e.duration]);
    }).observe({ type: "longtask", buffered: true });
  } catch (e) { /* no long task timing */ }
})();
"""

# After an open: when the view showed "labeling" and the map was ready (ms since navigation start), the
# annotations' stream (GET /api/observations/{id}/annotations/stream) and the longest task.
OPEN_JS = """
(observation) => {
  const b = window.__bench;
  const mark = (name, value) => (b.marks.find(([, n, v]) => n === name && v === value) || [null])[0];
  const path = `/api/observations/${observation}/annotations/stream`;
  const get = performance.getEntriesByType("resource").filter((e) => new URL(e.name).pathname === path).pop();
  return {
    labeling: mark("data-view", "labeling"),
    ready: mark("data-map-ready", observation),
    get_start: get ? get.startTime : null,
    get_server: get ? get.responseStart - get.requestStart : null,
    get_end: get ? get.responseEnd : null,
    get_bytes: get ? get.encodedBodySize : null,
    longest_task: Math.max(0, ...b.longTasks.map((t) => t[1])),
    regions: Number(document.documentElement.dataset.regions),
  };
}
"""

START_FRAMES_JS = "() => { const b = window.__bench; b.frames = []; b.longTasks = []; b.recording = true; }"
STOP_FRAMES_JS = """
() => {
  const b = window.__bench;
  b.recording = false;
  return { frames: b.frames, long_tasks: b.longTasks.map((t) => t[1]) };
}
"""

# After a save: each step's time since Enter (ms), the PUT's Resource Timing, the longest task since Enter.
SAVE_JS = """
(version) => {
  const b = window.__bench;
  const since = (key) => [...b.keys].reverse().find(([, k]) => k === key)[0];
  const enter = since("Enter");
  const after = (t0, name, value) => {
    const m = b.marks.find(([t, n, v]) => t >= t0 && n === name && v === value);
    return m ? m[0] - t0 : null;
  };
  const put = performance.getEntriesByType("resource")
    .filter((e) => e.startTime >= enter && /^\\/api\\/annotations\\/[^/]+$/.test(new URL(e.name).pathname))
    .shift();
  const d = since("d");
  // Each click of the triangle (pointerdown) until the client counted its vertex.
  const vertices = b.downs.filter((t) => t > d && t < enter)
    .map((t, i) => after(t, "data-draw-vertices", String(i + 1)));
  return {
    draw_mode: after(d, "data-mode", "draw"),
    vertices,
    pending: after(enter, "data-save-state", "pending"),
    saving: after(enter, "data-save-state", "saving"),
    saved: after(enter, "data-saved-version", version),
    put_start: put ? put.startTime - enter : null,
    put_request: put ? put.requestStart - enter : null,
    put_response: put ? put.responseStart - enter : null,
    put_end: put ? put.responseEnd - enter : null,
    put_response_bytes: put ? put.encodedBodySize : null,
    longest_task: Math.max(0, ...b.longTasks.filter((t) => t[0] >= enter).map((t) => t[1])),
    warnings: Number(document.documentElement.dataset.warnings),
  };
}
"""


@dataclass
class Task:
    regions: int
    observation_id: str
    annotation_id: str
    version: int
    vertices: int
    create_s: float


# After "Accept all": the click until the saved version, the save request's Resource Timing.
ACCEPT_JS = """
(version) => {
  const b = window.__bench;
  const click = b.downs[b.downs.length - 1];
  const saved = b.marks.find(([t, n, v]) => t >= click && n === "data-saved-version" && v === version);
  const save = performance.getEntriesByType("resource")
    .filter((e) => e.startTime >= click && /^\\/api\\/annotations\\/[^/]+$/.test(new URL(e.name).pathname))
    .shift();
  return {
    saved: saved ? saved[0] - click : null,
    request_start: save ? save.startTime - click : null,
    server: save ? save.responseStart - save.requestStart : null,
    response_end: save ? save.responseEnd - click : null,
    regions: Number(document.documentElement.dataset.regions),
  };
}
"""


@dataclass
class Prepared:
    project_id: str
    email: str
    password: str
    tasks: list[Task] = field(default_factory=list)
    accept: Task | None = None  # an empty annotation on an image with a prediction of ``regions`` regions


# --- Data, through the API --------------------------------------------------------------------------------


def png(rng: np.random.Generator) -> bytes:
    """A 1000 x 1000 RGB PNG: soft ground colours with noise (so every image has its own content hash)."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    ground = np.stack(
        [150 + 40 * np.sin(6 * rows), 130 + 30 * np.cos(5 * cols), 100 + 30 * np.sin(4 * rows * cols)]
    )
    image = np.clip(ground + rng.normal(0, 12, ground.shape), 0, 255).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a PNG has no georeference, and that is fine here
        with MemoryFile() as memfile:
            with memfile.open(driver="PNG", width=SIZE, height=SIZE, count=3, dtype="uint8") as dst:
                dst.write(image)
            return bytes(memfile.read())


def regions(rng: np.random.Generator, count: int) -> list[dict[str, Any]]:
    """``count`` polygons as the API takes them, coordinates rounded to 0.01 px as the client rounds them
    (so a region the user did not touch is sent back unchanged)."""
    out: list[dict[str, Any]] = []
    while len(out) < count:
        (shape,) = irregular_polygons(rng, 1, image_size=SIZE, vertices=(10, 31), radius=(5, 25), margin=30)
        ring = [[round(x, 2), round(y, 2)] for x, y in shape.exterior.coords]
        if not shapely.Polygon(ring).is_valid:  # rounding can make two close corners cross: draw again
            continue
        out.append(
            {"label": LABELS[len(out) % len(LABELS)], "geometry": {"type": "Polygon", "coordinates": [ring]}}
        )
    return out


def ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.url}: {response.text[:500]}"
    return response.json()


def ingest(
    client: httpx.Client, project_id: str, files: list[tuple[str, bytes]], env: dict[str, str], log: Path
) -> None:
    """Upload ``files`` and let a real Celery worker (started here, stopped after) make them ready."""
    uploaded = ok(
        client.post(
            f"/api/projects/{project_id}/images",
            files=[("files", (n, data, "image/png")) for n, data in files],
        ),
        202,
    )
    assert uploaded["rejected"] == [], uploaded
    job_id = uploaded["job"]["id"]
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.celery_app:celery_app",
        "worker",
        "-Q",
        "cpu",
        "--concurrency",
        "1",
        "--loglevel",
        "WARNING",
        "-n",
        f"bench-{uuid.uuid4().hex[:6]}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    with log.open("wb") as out:
        worker = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + INGEST_TIMEOUT_S
            while True:
                job = ok(client.get(f"/api/jobs/{job_id}"), 200)
                if job["state"] in ("succeeded", "failed"):
                    assert job["state"] == "succeeded" and not job["result"]["failed"], job
                    return
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ingest job {job_id} did not finish; the worker's log: {log}")
                time.sleep(0.3)
        finally:
            worker.terminate()
            worker.wait(timeout=30)


# 10,000 regions of 10 to 30 vertices pass the default limit of 200,000 vertices per annotation.
MAX_ANNOTATION_VERTICES = 1_000_000


def create_annotation(db_url: str, user_id: str, observation_id: str, body: list[dict[str, Any]]) -> Task:
    """The labeler's annotation with these regions, through the service layer the API route calls, but
    without the route's closing topology check, as an import makes them."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from app.core.config import LimitSettings
    from app.models.annotation import RegionSource
    from app.models.observation import Observation
    from app.services import annotations as service

    limits = LimitSettings(max_annotation_vertices=MAX_ANNOTATION_VERTICES)
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            observation = session.get(Observation, uuid.UUID(observation_id))
            assert observation is not None
            inputs = [
                service.RegionInput(
                    id=None,
                    label=r["label"],
                    geometry=r["geometry"],
                    source=RegionSource.HUMAN,
                    score=None,
                    accepted_from=None,
                )
                for r in body
            ]
            t0 = time.perf_counter()
            created = service.create_annotation(
                session, observation, inputs, limits, user_id=uuid.UUID(user_id), commit=False
            )
            session.commit()
            elapsed = time.perf_counter() - t0
            annotation_id, version = str(created.annotation.id), created.annotation.version
            # Statistics, as a database in use has them; without them the topology query's plan is far worse.
            session.execute(text("ANALYZE regions"))
            session.commit()
    finally:
        engine.dispose()
    vertices = sum(len(r["geometry"]["coordinates"][0]) - 1 for r in body)
    return Task(len(body), observation_id, annotation_id, version, vertices, elapsed)


def prepare(
    base: str,
    env: dict[str, str],
    db_url: str,
    log: Path,
    counts: list[int],
    rng: np.random.Generator,
    accept: int,
) -> Prepared:
    """A labeler (project admin) and a project with one ready image per count, through the HTTP API; on
    each image the labeler's annotation with that many regions."""
    with httpx.Client(base_url=base, headers=AUTH, timeout=120) as admin:
        email, password = f"labeler-{uuid.uuid4().hex[:6]}@bench.local", uuid.uuid4().hex
        user = ok(
            admin.post("/api/users", json={"email": email, "password": password, "is_admin": False}), 201
        )
        project = ok(admin.post("/api/projects", json={"name": "bench-browser", "description": "bench"}), 201)
        prepared = Prepared(project_id=project["id"], email=email, password=password)
        ok(admin.put(f"/api/projects/{project['id']}/members/{user['id']}", json={"role": "admin"}), 200)
        t0 = time.perf_counter()
        images = [(f"bench{n}_000.png", png(rng)) for n in counts]
        if accept:
            images.append(("benchaccept_000.png", png(rng)))
        ingest(admin, project["id"], images, env, log)
        print(
            f"ingested {len(counts)} images of {SIZE} x {SIZE} px in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        listed = ok(admin.get(f"/api/projects/{project['id']}/observations"), 200)["items"]
        by_site = {o["site_name"]: o["id"] for o in listed}
        if accept:
            predicted = [r | {"source": "sam", "score": 0.9} for r in regions(rng, accept)]
            body = {"model_version": "bench", "score": 0.9, "regions": predicted}
            ok(admin.post(f"/api/observations/{by_site['benchaccept']}/predictions", json=body), 201)
    for n in counts:
        task = create_annotation(db_url, user["id"], by_site[f"bench{n}"], regions(rng, n))
        prepared.tasks.append(task)
        print(
            f"created an annotation of {n:,} regions ({task.vertices:,} vertices) in {task.create_s:.1f} s",
            flush=True,
        )
        # Made as an import makes it, its topology warnings are not stored yet: the first open checks the
        # whole annotation once and stores them (docs/adr/2026-12-02-stored-topology-warnings.md). Timed
        # here, so that the browser's opens are those of a task someone saved before.
        with httpx.Client(base_url=base, headers=AUTH, timeout=600) as admin:
            t0 = time.perf_counter()
            ok(admin.get(f"/api/observations/{task.observation_id}/annotations"), 200)
            first = time.perf_counter() - t0
            print(f"  its first open (the whole topology check, then stored): {first:.1f} s", flush=True)
    if accept:
        prepared.accept = create_annotation(db_url, user["id"], by_site["benchaccept"], [])
        prepared.accept.regions = accept
    return prepared


# --- The browser ----------------------------------------------------------------------------------------


def html_attr(page: Page, name: str, value: str) -> None:
    """Wait for ``<html data-NAME="VALUE">`` (a locator wait: the app's CSP forbids wait_for_function)."""
    expect(page.locator("html")).to_have_attribute(f"data-{name}", value, timeout=TIMEOUT_MS)


def map_centre(page: Page) -> tuple[float, float]:
    box = page.locator("#map").bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def frame_stats(recorded: dict[str, Any]) -> dict[str, float]:
    frames: list[float] = recorded["frames"]
    gaps = [b - a for a, b in itertools.pairwise(frames)]
    long_tasks: list[float] = recorded["long_tasks"]
    return {
        "frames": len(frames),
        "seconds": round((frames[-1] - frames[0]) / 1000, 2) if frames else 0.0,
        "median_ms": round(statistics.median(gaps), 1) if gaps else 0.0,
        "p95_ms": round(percentile(gaps, 0.95), 1) if gaps else 0.0,
        "longest_ms": round(max(gaps), 1) if gaps else 0.0,
        "long_tasks": len(long_tasks),
        "longest_task_ms": round(max(long_tasks, default=0.0), 1),
    }


def pan(page: Page) -> dict[str, float]:
    cx, cy = map_centre(page)
    page.evaluate(START_FRAMES_JS)
    page.mouse.move(cx + DRAG_RADIUS_PX, cy)
    page.mouse.down()
    for i in range(1, DRAG_MOVES + 1):
        angle = 2 * np.pi * i / DRAG_MOVES
        page.mouse.move(cx + DRAG_RADIUS_PX * np.cos(angle), cy + DRAG_RADIUS_PX * np.sin(angle), steps=4)
    page.mouse.up()
    page.wait_for_timeout(500)  # the drag's kinetic glide
    return frame_stats(page.evaluate(STOP_FRAMES_JS))


def zoom(page: Page) -> dict[str, float]:
    cx, cy = map_centre(page)
    page.mouse.move(cx, cy)
    page.evaluate(START_FRAMES_JS)
    for delta in WHEEL_DELTAS:
        page.mouse.wheel(0, delta)
        page.wait_for_timeout(WHEEL_PAUSE_MS)
    return frame_stats(page.evaluate(STOP_FRAMES_JS))


def save(page: Page, task: Task, put_bytes: list[int]) -> dict[str, Any]:
    page.keyboard.press("f")  # fit the image again after panning and zooming
    page.wait_for_timeout(500)
    cx, cy = map_centre(page)
    page.keyboard.press("d")
    html_attr(page, "mode", "draw")
    for placed, (dx, dy) in enumerate(TRIANGLE, start=1):
        page.mouse.move(cx + dx, cy + dy, steps=3)
        page.mouse.click(cx + dx, cy + dy)
        html_attr(page, "draw-vertices", str(placed))
    put_bytes.clear()
    page.keyboard.press("Enter")
    html_attr(page, "saved-version", str(task.version + 1))
    result: dict[str, Any] = page.evaluate(SAVE_JS, str(task.version + 1))
    result["put_request_bytes"] = put_bytes[0] if put_bytes else None
    return result


def signed_in_page(browser: Browser, base: str, prepared: Prepared) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport=VIEWPORT, base_url=base, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(RECORDER_JS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{error.name}: {error.message}"))
    page.goto("/")
    html_attr(page, "view", "sign-in")
    page.fill("input[name=email]", prepared.email)
    page.fill("input[name=password]", prepared.password)
    page.click("button[type=submit]")
    html_attr(page, "view", "projects")
    return page, errors


def measure_accept(browser: Browser, base: str, prepared: Prepared, task: Task) -> dict[str, Any]:
    """Open the task with the prediction, click "Accept all", wait for the saved version."""
    page, errors = signed_in_page(browser, base, prepared)
    try:
        page.goto(f"/#/projects/{prepared.project_id}/label/{task.observation_id}")
        html_attr(page, "map-ready", task.observation_id)
        panel = page.locator(".predictions")
        expect(panel).to_contain_text(f"Predictions ({task.regions})", timeout=TIMEOUT_MS)
        page.wait_for_timeout(1000)
        panel.locator("[data-action=accept-all]").click()
        html_attr(page, "saved-version", str(task.version + 1))
        result: dict[str, Any] = page.evaluate(ACCEPT_JS, str(task.version + 1))
        result["page_errors"] = errors
    finally:
        page.context.close()
    return result


def measure(browser: Browser, base: str, prepared: Prepared, task: Task, opens: int) -> dict[str, Any]:
    context = browser.new_context(viewport=VIEWPORT, base_url=base, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(RECORDER_JS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{error.name}: {error.message}"))
    put_bytes: list[int] = []
    page.on(
        "request",
        lambda r: (
            put_bytes.append(len(r.post_data_buffer or b""))
            if r.method in ("PUT", "PATCH") and "/api/annotations/" in r.url
            else None
        ),
    )
    try:
        page.goto("/")
        html_attr(page, "view", "sign-in")
        page.fill("input[name=email]", prepared.email)
        page.fill("input[name=password]", prepared.password)
        page.click("button[type=submit]")
        html_attr(page, "view", "projects")
        open_runs = []
        for _ in range(opens):
            page.goto("about:blank")
            page.goto(f"/#/projects/{prepared.project_id}/label/{task.observation_id}")
            html_attr(page, "map-ready", task.observation_id)
            run: dict[str, Any] = page.evaluate(OPEN_JS, task.observation_id)
            assert run["regions"] == task.regions, run
            open_runs.append(run)
        page.wait_for_timeout(1000)  # let tile fade-ins and the last requests settle
        result = {
            "open": open_runs,
            "pan": pan(page),
            "zoom": zoom(page),
            "save": save(page, task, put_bytes),
            "page_errors": errors,
        }
    finally:
        context.close()
    return result


# --- Output -----------------------------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f} MiB"


def frames_text(s: dict[str, float]) -> str:
    return f"{s['frames']} in {s['seconds']} s / {s['median_ms']} / {s['p95_ms']} / {s['longest_ms']}"


def report(task: Task, result: dict[str, Any]) -> str:
    """Prints the details of one count; returns its row of the summary table."""
    runs = result["open"]
    ready = [r["ready"] for r in runs]
    run = sorted(runs, key=lambda r: r["ready"])[len(runs) // 2]  # the median run
    print(f"\n{task.regions:,} regions ({task.vertices:,} vertices)", flush=True)
    print(
        f"  open, {len(runs)} fresh loads: map ready {', '.join(ms(v) for v in ready)} ms after navigation; "
        f"median run: annotations stream {ms(run['get_start'])} -> {ms(run['get_end'])} ms (first byte "
        f"after {ms(run['get_server'])} ms, {mib(run['get_bytes'])}), view shown at {ms(run['labeling'])} "
        f"ms, longest task {ms(run['longest_task'])} ms"
    )
    for phase in ("pan", "zoom"):
        f = result[phase]
        print(
            f"  {phase}: {f['frames']} frames in {f['seconds']} s; interval median {f['median_ms']} ms, "
            f"p95 {f['p95_ms']} ms, longest {f['longest_ms']} ms; {f['long_tasks']} long tasks, longest "
            f"{f['longest_task_ms']} ms"
        )
    s = result["save"]
    server = None if s["put_response"] is None else s["put_response"] - s["put_request"]
    print(
        f"  draw: d -> draw mode {ms(s['draw_mode'])} ms; click -> vertex counted "
        f"{', '.join(ms(v) for v in s['vertices'])} ms"
    )
    print(
        f"  save, ms after Enter: pending {ms(s['pending'])}, saving {ms(s['saving'])}, PUT sent "
        f"{ms(s['put_start'])}, answered {ms(s['put_response'])} (server {ms(server)}), read "
        f"{ms(s['put_end'])}, saved-version {ms(s['saved'])}; request {mib(s['put_request_bytes'])}, "
        f"response {mib(s['put_response_bytes'])}; longest task {ms(s['longest_task'])} ms; "
        f"{s['warnings']} topology warnings"
    )
    if result["page_errors"]:
        print(f"  page errors: {result['page_errors']}")
    return (
        f"| {task.regions:,} | {ms(statistics.median(ready))} | {ms(run['get_end'] - run['get_start'])} / "
        f"{ms(run['get_server'])} | {ms(run['ready'] - run['get_end'])} "
        f"| {frames_text(result['pan'])} | {frames_text(result['zoom'])} | {ms(s['draw_mode'])} "
        f"| {ms(max(s['vertices'], default=None))} | {ms(s['saved'])} | {ms(server)} "
        f"| {ms(s['longest_task'])} |"
    )


SUMMARY_COLUMNS = [
    "regions",
    "open: map ready, ms (median)",
    "annotations stream: whole / first byte ms",
    "after the GET, ms",
    "pan: frames in s / median / p95 / longest ms",
    "zoom: frames in s / median / p95 / longest ms",
    "d -> draw mode, ms",
    "click -> vertex, ms (slowest)",
    "Enter -> saved, ms",
    "PUT, server ms",
    "longest task in the save, ms",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--regions", default="500,2000,5000", help="region counts, comma-separated")
    parser.add_argument("--opens", type=int, default=3, help="fresh loads of the view per count")
    parser.add_argument("--accept", type=int, default=0, help="time accepting a prediction of N regions")
    args = parser.parse_args()
    counts = [int(c) for c in args.regions.split(",")]
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: install Debian's chromium package (scripts/setup.sh does)")
    if not (REPO / "frontend" / "dist" / "index.html").is_file():
        sys.exit("frontend/dist is missing: run `make frontend`")
    rng = np.random.default_rng(5)
    rows = []
    with running_services("minelabel-bench-") as services:
        services.postgres.ensure_database("bench")
        db_url = services.db_url("bench")
        upgrade(db_url)
        bench_admin_headers(db_url)
        env = {
            **os.environ,
            "DB__URL": db_url,
            "REDIS__URL": services.redis.url,
            "STORAGE__DATA_DIR": str(services.root / "files"),
            "LOG_LEVEL": "WARNING",
            "LIMITS__MAX_ANNOTATION_VERTICES": str(MAX_ANNOTATION_VERTICES),
        }
        port = free_port()
        server = start(minelabel_server(port), env, port)
        base = f"http://127.0.0.1:{port}"
        try:
            prepared = prepare(base, env, db_url, services.root / "worker.log", counts, rng, args.accept)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    # The opens first: measured after the accept-all (2,000 new rows) they were ~0.5 s
                    # slower, the machine still busy with its aftermath.
                    for task in prepared.tasks:
                        rows.append(report(task, measure(browser, base, prepared, task, args.opens)))
                    if prepared.accept is not None:
                        accepted = measure_accept(browser, base, prepared, prepared.accept)
                        print(
                            f"\naccept all of {prepared.accept.regions:,} predictions: saved "
                            f"{ms(accepted['saved'])} ms after the click (request sent at "
                            f"{ms(accepted['request_start'])} ms, server {ms(accepted['server'])} ms, answer "
                            f"read at {ms(accepted['response_end'])} ms); {accepted['regions']:,} regions on "
                            f"the map; page errors: {accepted['page_errors']}",
                            flush=True,
                        )
                finally:
                    browser.close()
        finally:
            stop(server)
    print("\n| " + " | ".join(SUMMARY_COLUMNS) + " |")
    print("|" + " --- |" * len(SUMMARY_COLUMNS))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
