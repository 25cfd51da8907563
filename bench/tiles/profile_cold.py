"""Where a cold tile's time goes, in process: read (and warp), scale to 8 bits, encode, per step.

The Web Mercator tiles of bench_tiles (the Landsat seed image's COG, zooms 7-12) and the full-resolution
pixel tiles of one seed Sentinel-2 image, each tile once, one reader per grid as an API thread keeps it.
Encoding is timed twice on the same pixels: with Pillow (what tiles use) and with GDAL's drivers through
rio-tiler's render (what they used before), so the two can be compared within one run. Then a cProfile of
the whole Web Mercator pass in JPEG, the API's default format.

Run: ``.venv/bin/python -m bench.tiles.profile_cold`` (about a minute).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import morecantile
from rio_tiler.io import Reader

from app.imagery.cog import make_cog
from app.imagery.render import (
    RenderSpec,
    TileFormat,
    TileGrid,
    TileOutsideBoundsError,
    encode,
    pixel_grid_maxzoom,
    read_tile,
    to_display,
)
from bench.tiles.bench_tiles import SEED_IMAGE, ZOOMS

SENTINEL = SEED_IMAGE.parents[1] / "minetracking2021"
QUALITY = 85
RGB = RenderSpec(indexes=(1, 2, 3), ranges=None)


def gdal_encode(cog_image: object, fmt: TileFormat) -> bytes:
    """The encoder before Pillow: rio-tiler's render through GDAL's PNG/JPEG drivers."""
    options = {TileFormat.JPEG: {"QUALITY": QUALITY}, TileFormat.PNG: {"ZLEVEL": 1}}[fmt]
    rendered: bytes = cog_image.render(  # type: ignore[attr-defined]
        img_format=fmt.driver, add_mask=fmt is not TileFormat.JPEG, **options
    )
    return rendered


def timed(step: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = step()
    return (time.perf_counter() - start) * 1000, result


def steps(cog: str, grid: TileGrid, tiles: list[tuple[int, int, int]]) -> None:
    times: dict[str, list[float]] = {
        k: [] for k in ("read", "to 8 bits", "png", "jpeg", "png gdal", "jpeg gdal")
    }
    served = 0
    for z, x, y in tiles:
        try:
            ms, image = timed(lambda: read_tile(cog, grid, z, x, y, RGB))  # noqa: B023
        except TileOutsideBoundsError:
            continue
        served += 1
        times["read"].append(ms)
        times["to 8 bits"].append(timed(lambda: to_display(image, RGB))[0])  # type: ignore[arg-type]  # noqa: B023
        for fmt in (TileFormat.PNG, TileFormat.JPEG):
            name = "png" if fmt is TileFormat.PNG else "jpeg"
            times[name].append(timed(lambda: encode(image, RGB, fmt, QUALITY))[0])  # type: ignore[arg-type]  # noqa: B023
            times[f"{name} gdal"].append(timed(lambda: gdal_encode(image, fmt))[0])  # noqa: B023
    print(f"\n{grid.value} grid, {served} tiles, ms per tile (mean / p50 / p99):")
    for name, values in times.items():
        values.sort()
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(f"  {name:10s} {statistics.fmean(values):6.2f} / {values[len(values) // 2]:6.2f} / {p99:6.2f}")
    for kind in ("png", "jpeg"):
        before = sum(map(statistics.fmean, (times["read"], times[f"{kind} gdal"])))
        after = sum(map(statistics.fmean, (times["read"], times[kind])))
        share = statistics.fmean(times[kind]) / after
        print(
            f"  {kind}: read + encode {before:.2f} ms before, {after:.2f} ms now (encode {share:.0%} of it)"
        )


def profile(cog: str, tiles: list[tuple[int, int, int]]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for z, x, y in tiles:
        with contextlib.suppress(TileOutsideBoundsError):
            encode(read_tile(cog, TileGrid.MERCATOR, z, x, y, RGB), RGB, TileFormat.JPEG, QUALITY)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    print("\ncProfile, Web Mercator JPEG pass (cumulative):")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


def main() -> None:
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        landsat = Path(tmp) / "landsat.tif"
        make_cog(str(SEED_IMAGE), landsat)
        with Reader(str(landsat)) as reader:
            bounds = reader.get_geographic_bounds(reader.tms.rasterio_geographic_crs)
        tms = morecantile.tms.get("WebMercatorQuad")
        west, south, east, north = bounds
        mercator = [(t.z, t.x, t.y) for t in tms.tiles(west, south, east, north, zooms=list(ZOOMS))]
        steps(str(landsat), TileGrid.MERCATOR, mercator)

        sentinel = Path(tmp) / "sentinel.tif"
        make_cog(str(sorted(SENTINEL.glob("*.png"))[0]), sentinel)
        with Reader(str(sentinel)) as reader:
            top = pixel_grid_maxzoom(reader.dataset.width, reader.dataset.height)
            columns, rows = -(-reader.dataset.width // 256), -(-reader.dataset.height // 256)
        steps(str(sentinel), TileGrid.PIXEL, [(top, x, y) for x in range(columns) for y in range(rows)])

        landsat_again = Path(tmp) / "landsat-again.tif"  # another file: no reader or blocks kept from above
        make_cog(str(SEED_IMAGE), landsat_again)
        profile(str(landsat_again), mercator)


if __name__ == "__main__":
    main()
