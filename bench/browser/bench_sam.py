"""The SAM tool in the browser: pointer move -> preview drawn, click -> polygon drawn, one window's embedding.

Throw-away PostGIS and Redis; a SAM built with segment-anything's classes and random weights whose prompt
encoder and mask decoder have the real size (the same for vit_b, vit_l and vit_h; only the image encoder
differs, and a tiny one computes the embeddings here); its decoder exported to ONNX and the image's windows
embedded and stored as the workers do (``publish_decoder``, ``embed_observation``), on a Sentinel-2 seed
image (or a generated one). The built client (frontend/dist, served by the real app under uvicorn) in
Debian's headless Chromium at 1366 x 768, with the SAM tool armed (onnxruntime-web in a Web Worker):

1. hover, one move at a time: the mouse moves to a new spot and waits until the preview for it is painted,
   ``--moves`` times (latency with nothing queued);
2. hover, a sweep: the mouse moves on every ~16 ms (a hand moving at 60 Hz) for ``--sweep`` moves; each
   painted preview against the move it answers (moves that come while a decode runs are skipped: only the
   newest is decoded next);
3. click -> polygon: ``--clicks`` clicks, each until its polygon is painted, then Esc;
4. the first prompt on each window: the embedding's download and its float16 -> float32 conversion.

Times come from the client: each painted answer leaves a ``sam-drawn`` performance mark (sam.ts) with the
pointer event's time, when the decode was asked and answered, the preview layer updated and the map painted,
and the worker's own split (waiting for the embedding, the ONNX decode, mask -> polygon).

Run: ``.venv/bin/python -m bench.browser.bench_sam [--moves 60] [--sweep 150] [--clicks 30]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
from playwright.sync_api import FloatRect, Page, ViewportSize, expect, sync_playwright
from rasterio import features
from shapely.geometry import Point, shape
from sqlalchemy import create_engine

from app.core.config import SamSettings, Settings, StorageSettings, TileSettings
from app.core.db import make_session_factory
from app.core.migrations import upgrade
from app.devstack.throwaway import free_port, running_services
from app.imagery.storage import LocalStorage
from app.imagery.windows import render_window
from app.ml import sam_hover
from app.models.project import Site
from app.services.imagery_processing import process_observations, render_spec
from app.services.ingest import StagedFile, register_images
from app.services.projects import create_project
from app.services.sam_embeddings import manifest_key, read_manifest
from bench.browser.chromium import CHROMIUM, CHROMIUM_ARGS, VIEWPORT_HEIGHT, VIEWPORT_WIDTH
from bench.common import AUTH, bench_admin_headers, minelabel_server, percentile, start, stop
from bench.sam.bench_sam import TINY, checkpoint, image
from workers.ml.sam import model as sam_model
from workers.ml.sam.embed import embed_observation, publish_decoder

REPO = Path(__file__).resolve().parents[2]
VIEWPORT: ViewportSize = {"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT}
TIMEOUT_MS = 120_000
SWEEP_INTERVAL_MS = 16
GOALS = {"hover_p50": 50.0, "hover_p95": 100.0, "click_p50": 60.0, "fetch": 200.0}

# The client's "sam-drawn" marks since ``since`` (performance.now()), oldest first.
DRAWN_JS = """
(since) => performance.getEntriesByName("sam-drawn")
  .filter((m) => m.startTime >= since)
  .map((m) => m.detail)
"""
NOW_JS = "() => performance.now()"
HOVER_MAPS_LOADED_JS = """() => {
  const [loaded, all] = (document.documentElement.dataset.samHoverMaps ?? "0/1").split("/");
  return loaded === all;
}"""


def box_mean(values: np.ndarray, size: int) -> np.ndarray:
    """The mean over a size x size box around each pixel (edges repeated), per channel."""
    pad = size // 2
    padded = np.pad(values, ((pad, pad), (pad, pad), (0, 0)), mode="edge").astype(np.float64)
    total = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0), (0, 0)))
    height, width = values.shape[:2]
    sums: np.ndarray = (
        total[size:, size:][:height, :width]
        - total[:-size, size:][:height, :width]
        - total[size:, :-size][:height, :width]
        + total[:-size, :-size][:height, :width]
    )
    return sums / (size * size)


def stand_in_masks(rgb: np.ndarray, per_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Object-like masks for the grid points of one window, made without SAM: the 4-connected region of
    pixels whose (smoothed) colour is near the point's own, holding the point, its edge smoothed by a 5 x 5
    majority. A stand-in for a trained SAM's smooth masks (random weights give speckle), used only to
    measure what the browser does with a map of such masks: its size, the lookup, the polygons, the paint."""
    height, width, _ = rgb.shape
    image = box_mean(rgb, 5)
    masks = np.zeros((per_side * per_side, height, width), dtype=bool)
    for index, (x, y) in enumerate(sam_hover.grid_points(width, height, per_side)):
        px, py = int(x), int(y)
        close = np.linalg.norm(image - image[py, px], axis=2) < 18
        close = box_mean(close[:, :, None].astype(np.float32), 5)[:, :, 0] > 0.5
        close[py, px] = True
        for geometry, _ in features.shapes(close.astype(np.uint8), mask=close, connectivity=4):
            polygon = shape(geometry)
            if polygon.covers(Point(px + 0.5, py + 0.5)):
                masks[index] = features.rasterize([(polygon, 1)], out_shape=(height, width)).astype(bool)
                break
    return masks, np.full(per_side * per_side, 0.9, dtype=np.float32)


def write_stand_in_maps(storage: LocalStorage, observation: Any, spec: Any, per_side: int) -> None:
    """Every window's hover map replaced by stand-in masks (``stand_in_masks``), the manifest naming them."""
    manifest = read_manifest(storage, observation)
    assert manifest is not None
    path = storage.raster_path(observation.cog_key)
    windows = []
    for stored in manifest.windows:
        rgb = render_window(
            path, spec, stored.x, stored.y, stored.width, stored.height, (stored.height, stored.width)
        )
        key = stored.key.replace("window-", "hover-").replace(".npy", ".bin")
        storage.put_bytes(sam_hover.encode(*stand_in_masks(rgb, per_side), per_side), key)
        windows.append(stored.model_copy(update={"hover_key": key}))
    updated = manifest.model_copy(update={"windows": windows, "hover_points_per_side": per_side})
    storage.put_bytes(updated.model_dump_json().encode(), manifest_key(observation))


def prepare(
    db_url: str, files: Path, ckpt: Path, hover_grid: int, stand_in: bool
) -> tuple[str, str, int, int]:
    """The image ingested, its decoder published and its windows embedded (with hover maps of
    ``hover_grid`` points per side: SAM's, or with ``stand_in`` object-like masks made without it) as the
    workers do; returns the project's and the observation's ids and the image's size."""
    sam = SamSettings(checkpoint=ckpt, hover_points_per_side=0 if stand_in else hover_grid)
    settings = Settings(storage=StorageSettings(data_dir=files), sam=sam)
    storage = LocalStorage(files)
    engine = create_engine(db_url)
    source = image(files.parent)
    with make_session_factory(engine)() as session:
        project = create_project(session, name=f"sam-browser-{uuid.uuid4().hex[:6]}")
        staged = StagedFile(source.name, source, source.stat().st_size, uuid.uuid4().hex * 2)
        (observation,) = register_images(session, storage, project, [staged], {}, settings).observations
        process_observations(session, storage, [observation.id], TileSettings(), lambda *_: None, files)
        loaded = sam_model.load(settings.sam)
        decoder = publish_decoder(storage, loaded)
        started = time.perf_counter()
        windows = embed_observation(session, storage, settings, loaded, observation, force=True)
        took = time.perf_counter() - started
        if stand_in:
            site = session.get(Site, observation.site_id)
            assert site is not None
            spec = render_spec(observation, site, project.display_preset)
            write_stand_in_maps(storage, observation, spec, hover_grid)
        manifest = read_manifest(storage, observation)
        assert manifest is not None
        maps = [len(storage.get_bytes(w.hover_key)) for w in manifest.windows if w.hover_key]
        print(
            f"{source.name}: {observation.width} x {observation.height} px, {windows} windows embedded in "
            f"{took:.0f} s on the CPU; decoder {decoder.size_bytes / 2**20:.1f} MiB (opset {decoder.opset})",
            flush=True,
        )
        if maps:
            print(
                f"hover maps, {hover_grid} x {hover_grid} points a window: {len(maps)} windows, "
                f"{sum(maps) / 2**20:.2f} MiB in all, p50 {statistics.median(maps) / 2**10:.0f} KiB, max "
                f"{max(maps) / 2**10:.0f} KiB a window",
                flush=True,
            )
        ids = str(project.id), str(observation.id), observation.width, observation.height
        session.commit()
    engine.dispose()
    return ids


def ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.url}: {response.text[:500]}"
    return response.json()


def html_attr(page: Page, name: str, value: str) -> None:
    expect(page.locator("html")).to_have_attribute(f"data-{name}", value, timeout=TIMEOUT_MS)


def drawn_since(page: Page, since: float) -> list[dict[str, Any]]:
    marks: list[dict[str, Any]] = page.evaluate(DRAWN_JS, since)
    return marks


def wait_drawn(page: Page, since: float, kind: str, *also: str) -> dict[str, Any]:
    """The first mark of ``kind`` (or of the ``also`` kinds) painted for an event after ``since`` (polled: a
    locator cannot wait on a performance mark)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    kinds = {kind, *also}
    while time.monotonic() < deadline:
        found = [m for m in drawn_since(page, since) if m["kind"] in kinds and m["askedAt"] >= since]
        if found:
            return found[0]
        page.wait_for_timeout(5)
    raise TimeoutError(f"no {kind} painted")


def spots(rng: np.random.Generator, box: FloatRect, count: int) -> list[tuple[float, float]]:
    """Random screen points over the middle of the map (where the fitted image is)."""
    x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.2
    return [
        (float(x0 + rng.uniform(0, box["width"] * 0.4)), float(y0 + rng.uniform(0, box["height"] * 0.6)))
        for _ in range(count)
    ]


def measure(page: Page, moves: int, sweep: int, clicks: int) -> dict[str, list[dict[str, Any]]]:
    rng = np.random.default_rng(7)
    box = page.locator("#map").bounding_box()
    assert box is not None
    first = page.evaluate(NOW_JS)
    # Every window's embedding fetched once before the timed parts (its first use is step 4's).
    for x, y in spots(rng, box, 40):
        since = page.evaluate(NOW_JS)
        page.mouse.move(x, y)
        wait_drawn(page, since, "preview")
    warm = drawn_since(page, first)

    # Each move: its first painted preview (from the hover map where a grid mask holds the spot, else its
    # decode), and its decode; the next move once the decode is painted.
    one_by_one, one_decoded = [], []
    for x, y in spots(rng, box, moves):
        since = page.evaluate(NOW_JS)
        page.mouse.move(x, y)
        one_by_one.append(wait_drawn(page, since, "map", "preview"))
        one_decoded.append(wait_drawn(page, since, "preview"))

    # A sweep: a circle's worth of small moves, one every SWEEP_INTERVAL_MS, paced in the page's time.
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    since = page.evaluate(NOW_JS)
    started = time.monotonic()
    for i in range(sweep):
        angle = 4 * np.pi * i / sweep
        page.mouse.move(cx + 150 * np.cos(angle), cy + 100 * np.sin(angle))
        pause = started + (i + 1) * SWEEP_INTERVAL_MS / 1000 - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    page.wait_for_timeout(500)  # the last decode
    swept = [m for m in drawn_since(page, since) if m["kind"] == "preview"]
    swept_maps = [m for m in drawn_since(page, since) if m["kind"] == "map"]

    clicked = []
    for x, y in spots(rng, box, clicks):
        page.mouse.move(x, y)
        page.wait_for_timeout(150)  # the hover preview first, as a person rests before clicking
        since = page.evaluate(NOW_JS)
        page.mouse.click(x, y)
        clicked.append(wait_drawn(page, since, "result"))
        page.keyboard.press("Escape")
        html_attr(page, "sam-prompts", "0")
    return {
        "warm": warm,
        "one_by_one": one_by_one,
        "one_decoded": one_decoded,
        "sweep": swept,
        "sweep_maps": swept_maps,
        "click": clicked,
    }


def worker_ms(timing: dict[str, Any]) -> float:
    """The worker's own time on a decode (the rest of the round trip is messages and the page's queue)."""
    return float(timing["fetchMs"] + timing["decodeMs"] + timing["polygonMs"])


def split(marks: list[dict[str, Any]]) -> dict[str, float]:
    """Medians of where a painted answer's time went."""

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 1) if values else float("nan")

    timed = [m for m in marks if m["timing"]]
    return {
        "queued": med([m["sentAt"] - m["askedAt"] for m in marks]),
        "worker_wait": med([t["fetchMs"] for t in (m["timing"] for m in timed)]),
        "decode": med([m["timing"]["decodeMs"] for m in timed]),
        "polygon": med([m["timing"]["polygonMs"] for m in timed]),
        "messages": med([m["arrivedAt"] - m["sentAt"] - worker_ms(m["timing"]) for m in timed]),
        # A hover map's lookup: the grid masks around the pointer, the smallest holding it, its polygons.
        "lookup": med([m["arrivedAt"] - m["sentAt"] for m in marks if m["kind"] == "map"]),
        "layer": med([m["drawnAt"] - m["arrivedAt"] for m in marks]),
        "paint": med([m["paintedAt"] - m["drawnAt"] for m in marks]),
        # Answered from an earlier decode of the same request (a click where its hover preview was).
        "reused": float(sum(1 for m in marks if m.get("reused"))),
    }


def latencies(marks: list[dict[str, Any]]) -> tuple[float, float, int]:
    values = [m["paintedAt"] - m["askedAt"] for m in marks]
    return statistics.median(values), percentile(values, 0.95), len(values)


def met(value: float, goal: float) -> str:
    return "met" if value <= goal else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--moves", type=int, default=60, help="hover moves, one at a time")
    parser.add_argument("--sweep", type=int, default=150, help="hover moves at 60 Hz")
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument(
        "--hover-grid",
        type=int,
        default=16,
        help="hover map points per side (the setting's default is 32, for GPU workers; on this CPU each "
        "point takes ~80 ms to decode, so 32 would take ~14 min for the seed image's 10 windows)",
    )
    parser.add_argument(
        "--stand-in-masks",
        action="store_true",
        help="hover maps of object-like masks made without SAM (stand_in_masks) instead of the random-weight "
        "SAM's speckle: what the browser does with smooth masks, as a trained SAM gives",
    )
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: install Debian's chromium package (scripts/setup.sh does)")
    if not (REPO / "frontend" / "dist" / "index.html").is_file():
        sys.exit("frontend/dist is missing: run `make frontend`")
    with tempfile.TemporaryDirectory() as tmp, running_services("minelabel-bench-sam-browser-") as services:
        services.postgres.ensure_database("bench")
        db_url = services.db_url("bench")
        upgrade(db_url)
        bench_admin_headers(db_url)
        files = Path(tmp) / "files"
        files.mkdir()
        ckpt = checkpoint(TINY, Path(tmp))
        project_id, observation_id, width, height = prepare(
            db_url, files, ckpt, args.hover_grid, args.stand_in_masks
        )
        env = {
            **os.environ,
            "DB__URL": db_url,
            "REDIS__URL": services.redis.url,
            "STORAGE__DATA_DIR": str(files),
            "SAM__CHECKPOINT": str(ckpt),
            "LOG_LEVEL": "WARNING",
        }
        port = free_port()
        server = start(minelabel_server(port, workers=1), env, port)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, headers=AUTH, timeout=60) as admin:
                email, password = f"sam-{uuid.uuid4().hex[:6]}@bench.local", uuid.uuid4().hex
                body = {"email": email, "password": password, "is_admin": False}
                user = ok(admin.post("/api/users", json=body), 201)
                member = {"role": "admin"}  # a project admin may edit any task: no assignment needed
                ok(admin.put(f"/api/projects/{project_id}/members/{user['id']}", json=member), 200)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    context = browser.new_context(viewport=VIEWPORT, base_url=base, bypass_csp=True)
                    context.set_default_timeout(TIMEOUT_MS)
                    page = context.new_page()
                    errors: list[str] = []
                    page.on("pageerror", lambda error: errors.append(f"{error.name}: {error.message}"))
                    page.goto("/")
                    html_attr(page, "view", "sign-in")
                    page.fill("input[name=email]", email)
                    page.fill("input[name=password]", password)
                    page.click("button[type=submit]")
                    html_attr(page, "view", "projects")
                    page.goto(f"/#/projects/{project_id}/label/{observation_id}")
                    html_attr(page, "map-ready", observation_id)
                    t0 = time.perf_counter()
                    page.keyboard.press("s")
                    html_attr(page, "sam", "ready")
                    html_attr(page, "sam-decoder", "browser")
                    armed = (time.perf_counter() - t0) * 1000
                    # The hover maps load in the background once the tool is armed: all of them here.
                    page.wait_for_function(HOVER_MAPS_LOADED_JS, timeout=TIMEOUT_MS)
                    maps_loaded = (time.perf_counter() - t0) * 1000
                    results = measure(page, args.moves, args.sweep, args.clicks)
                finally:
                    browser.close()
        finally:
            stop(server)
    report(results, args.sweep, armed, maps_loaded, errors, width, height)


def report(
    results: dict[str, list[dict[str, Any]]],
    sweep: int,
    armed: float,
    maps_loaded: float,
    errors: list[str],
    w: int,
    h: int,
) -> None:
    load = os.getloadavg()
    print(f"\nimage {w} x {h} px; load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    print(f"S -> tool ready (decoder fetched and loaded in the worker): {armed:,.0f} ms")
    print(f"S -> every hover map loaded (in the background): {maps_loaded:,.0f} ms")
    fetched = [m["timing"]["fetched"] for m in results["warm"] if m["timing"] and m["timing"]["fetched"]]
    total = [f["networkMs"] + f["convertMs"] for f in fetched]
    if fetched:
        print(
            f"embedding fetch, {len(fetched)} windows (2 MiB float16 each): download p50 "
            f"{statistics.median(f['networkMs'] for f in fetched):.0f} ms, max "
            f"{max(f['networkMs'] for f in fetched):.0f} ms; + float16 -> float32 "
            f"{statistics.median(f['convertMs'] for f in fetched):.0f} ms; together p50 "
            f"{statistics.median(total):.0f} ms, max {max(total):.0f} ms "
            f"(goal <= {GOALS['fetch']:.0f} ms: {met(max(total), GOALS['fetch'])})"
        )
    rows = []
    hover_rows = (
        ("hover, one move at a time: first preview", "one_by_one"),
        ("hover, one move at a time: its decode", "one_decoded"),
        ("hover, 60 Hz sweep: map previews", "sweep_maps"),
        ("hover, 60 Hz sweep: decoded previews", "sweep"),
    )
    for name, key in hover_rows:
        if not results[key]:
            rows.append((name, 0, float("nan"), float("nan"), "-", split([])))
            continue
        p50, p95, n = latencies(results[key])
        verdict = f"{met(p50, GOALS['hover_p50'])} / {met(p95, GOALS['hover_p95'])}"
        rows.append((name, n, p50, p95, verdict, split(results[key])))
    from_map = [m for m in results["one_by_one"] if m["kind"] == "map"]
    near = sorted(m["near"] for m in from_map if m.get("near"))
    print(
        f"hover, one move at a time: {len(from_map)} of {len(results['one_by_one'])} first previews came "
        f"from the hover map ({len(near)} of them near misses, nearest held pixel "
        f"{', '.join(f'{d:.1f}' for d in near) or '-'} window px away); sweep: {len(results['sweep_maps'])} "
        f"map previews painted for {sweep} moves"
    )
    p50, p95, n = latencies(results["click"])
    rows.append(("click -> polygon", n, p50, p95, met(p50, GOALS["click_p50"]), split(results["click"])))
    parts = ["queued", "lookup", "worker_wait", "decode", "polygon", "messages", "layer", "paint"]
    print("\n| what | n | p50 ms | p95 ms | goal | " + " | ".join(parts) + " (medians, ms) | reused |")
    print("|" + " --- |" * (6 + len(parts)))
    for name, n, p50, p95, verdict, where in rows:
        print(
            f"| {name} | {n} | {p50:.0f} | {p95:.0f} | {verdict} | "
            + " | ".join(f"{where[p]:.1f}" for p in parts)
            + f" | {where['reused']:.0f} |"
        )
    if errors:
        print(f"page errors: {errors}")


if __name__ == "__main__":
    main()
