"""The stored top of the pixel pyramid: the same tiles as rendering on request, and never a stale look; and
tiles encoded with Pillow look as GDAL's drivers drew them (PNG pixel for pixel, JPEG/WebP within their
loss)."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import numpy as np
import pytest
import rio_tiler.utils
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile, get_sampling
from rasterio.io import MemoryFile
from rasterio.warp import calculate_default_transform
from rio_tiler.io import Reader
from rio_tiler.models import ImageData

from app.imagery import warp_grid
from app.imagery.cog import make_cog
from app.imagery.pyramid import (
    PYRAMID_FORMATS,
    manifest_key,
    pyramid_digest,
    pyramid_folder,
    read_manifest,
    tile_key,
    tiles_at_zoom,
    top_zoom,
    write_pyramid,
)
from app.imagery.render import (
    RenderMode,
    RenderSpec,
    TileFormat,
    TileGrid,
    TileOutsideBoundsError,
    encode,
    read_tile,
    to_display,
)
from app.imagery.storage import LocalStorage, gdal_env
from app.imagery.terrain import elevation_colormap
from app.services.tiles import TileRequest, TileSource, render_tile
from tests.imagery.conftest import IngestHere
from tests.imagery.factories import write_geotiff

PREFIX = "projects/p/observations/o"
QUALITY = 85


def cog_in_storage(tmp_path: Path, *, width: int, height: int, count: int, dtype: str) -> LocalStorage:
    storage = LocalStorage(tmp_path / "files")
    source = tmp_path / "source.tif"
    write_geotiff(source, width=width, height=height, count=count, dtype=dtype)
    local = tmp_path / "cog.tif"
    make_cog(str(source), local)
    storage.put_file(local, f"{PREFIX}/cog.tif")
    return storage


def source_for(spec: RenderSpec) -> TileSource:
    return TileSource(cog_key=f"{PREFIX}/cog.tif", prefix=PREFIX, spec=spec, jpeg_quality=QUALITY)


def live(storage: LocalStorage, spec: RenderSpec, z: int, x: int, y: int, fmt: TileFormat) -> bytes:
    """Today's rendering of a tile: read through rio-tiler and encode, nothing stored."""
    with gdal_env(storage):
        image = read_tile(storage.raster_path(f"{PREFIX}/cog.tif"), TileGrid.PIXEL, z, x, y, spec)
    return encode(image, spec, fmt, QUALITY)


def gdal_encode(image: ImageData, spec: RenderSpec, fmt: TileFormat) -> bytes:
    """The encoding before Pillow, kept here as the reference: rio-tiler's render through GDAL's drivers."""
    shown = to_display(image, spec)
    colormap = elevation_colormap() if spec.mode is RenderMode.ELEVATION else None
    options = {
        TileFormat.JPEG: {"QUALITY": QUALITY},
        TileFormat.PNG: {"ZLEVEL": 1},
        TileFormat.WEBP: {"QUALITY": 90},
    }
    return shown.render(
        img_format=fmt.driver, add_mask=fmt is not TileFormat.JPEG, colormap=colormap, **options[fmt]
    )


def assert_same_look(image: ImageData, spec: RenderSpec, fmt: TileFormat) -> None:
    """Pillow's tile against GDAL's. PNG is lossless: equal pixels. JPEG and WebP at the same settings round
    differently in two builds of one codec (libjpeg against libjpeg-turbo), so: the same quantization and
    chroma subsampling, the same alpha, and within 10 % of GDAL's distance from the pixels encoded."""
    encoded, reference = encode(image, spec, fmt, QUALITY), gdal_encode(image, spec, fmt)
    new, old = pixels(encoded), pixels(reference)
    assert new.shape == old.shape and new.dtype == old.dtype == np.uint8
    if fmt is TileFormat.PNG:
        assert np.array_equal(new, old)
        return
    if fmt is TileFormat.JPEG:
        ours, theirs = Image.open(io.BytesIO(encoded)), Image.open(io.BytesIO(reference))
        assert isinstance(ours, JpegImageFile) and isinstance(theirs, JpegImageFile)
        assert ours.quantization == theirs.quantization
        assert get_sampling(ours) == get_sampling(theirs)
    else:
        assert np.array_equal(new[3:], old[3:])  # WebP's alpha is lossless
    # The exact picture is GDAL's PNG (lossless) without its alpha; WebP has no grey, so grey is repeated.
    exact = pixels(gdal_encode(image, spec, TileFormat.PNG)).astype(np.int16)
    exact = exact[: 1 if exact.shape[0] <= 2 else 3]
    colours = new.shape[0] if fmt is TileFormat.JPEG else 3
    exact = np.repeat(exact, colours // exact.shape[0], axis=0)
    error_ours = np.abs(new[:colours].astype(np.int16) - exact).mean()
    error_theirs = np.abs(old[:colours].astype(np.int16) - exact).mean()
    assert error_ours <= 1.1 * error_theirs + 0.1, (error_ours, error_theirs)
    assert len(encoded) <= 1.1 * len(reference) + 200, (len(encoded), len(reference))


def pixels(data: bytes) -> np.ndarray:
    with MemoryFile(data) as memfile, memfile.open() as img:
        array: np.ndarray = img.read()
    return array


def request(z: int, x: int, y: int, fmt: TileFormat) -> TileRequest:
    return TileRequest("o", 1, None, TileGrid.PIXEL, z, x, y, fmt)


def test_top_zoom_counts_tiles_of_the_lowest_zooms() -> None:
    assert top_zoom(1000, 1000, 21) == 2  # 1 + 4 + 16: the whole pyramid of a Sentinel-2 scene
    assert top_zoom(1000, 1000, 20) == 1
    assert tiles_at_zoom(700, 300, 0) == (2, 1)  # zoom 0 of a long image is a row of tiles
    assert top_zoom(700, 300, 1) is None
    assert top_zoom(10_000, 10_000, 85) == 3


@pytest.mark.parametrize(
    ("count", "dtype", "spec"),
    [
        (1, "uint8", RenderSpec(indexes=(1,), ranges=None)),
        (3, "uint8", RenderSpec(indexes=(1, 2, 3), ranges=None)),
        (1, "uint16", RenderSpec(indexes=(1,), ranges=((500.0, 8000.0),))),
        (3, "uint16", RenderSpec(indexes=(3, 2, 1), ranges=((500.0, 8000.0),) * 3)),
        (
            4,
            "uint16",
            RenderSpec(indexes=(4, 3, 2), ranges=((500.0, 6000.0), (600.0, 7000.0), (700.0, 9000.0))),
        ),
        (13, "float32", RenderSpec(indexes=(4, 3, 2), ranges=((0.0, 1.0),) * 3)),
        (1, "float32", RenderSpec(indexes=(1,), ranges=((0.0, 1.0),), mode=RenderMode.ELEVATION)),
        (1, "float32", RenderSpec(indexes=(1,), ranges=None, mode=RenderMode.HILLSHADE)),
    ],
    ids=[
        "1-band-uint8",
        "3-band-uint8",
        "1-band-uint16",
        "3-band-uint16",
        "4-band-uint16",
        "13-band-float32",
        "elevation-float32",
        "hillshade-float32",
    ],
)
def test_stored_tiles_equal_live_rendering_at_every_zoom_and_edge(
    tmp_path: Path, count: int, dtype: str, spec: RenderSpec
) -> None:
    # 700 x 600: three zooms, and the right and bottom tiles of each zoom reach past the image.
    storage = cog_in_storage(tmp_path, width=700, height=600, count=count, dtype=dtype)
    with gdal_env(storage):
        written = write_pyramid(
            storage,
            storage.raster_path(f"{PREFIX}/cog.tif"),
            PREFIX,
            spec,
            width=700,
            height=600,
            jpeg_quality=QUALITY,
            max_tiles=100,
        )
    assert written == (1 + 4 + 9) * len(PYRAMID_FORMATS)
    source = source_for(spec)
    for fmt in TileFormat:
        assert source.pyramid_top(storage, fmt) == (2 if fmt in PYRAMID_FORMATS else None)
        for z in range(3):
            columns, rows = tiles_at_zoom(700, 600, z)
            for x in range(columns):
                for y in range(rows):
                    served = render_tile(storage, source, request(z, x, y, fmt))
                    expected = live(storage, spec, z, x, y, fmt)
                    # The same encoder on the same pixels: equal bytes, hence equal pixels (JPEG included).
                    assert served == expected, (fmt, z, x, y)
                    assert pixels(served).shape[1:] == (256, 256)
                    # And the picture GDAL's drivers drew before tiles were encoded with Pillow.
                    with gdal_env(storage):
                        image = read_tile(storage.raster_path(source.cog_key), TileGrid.PIXEL, z, x, y, spec)
                    assert_same_look(image, spec, fmt)
        # Beyond the image there is nothing stored, and rendering says so as before.
        with pytest.raises(TileOutsideBoundsError):
            render_tile(storage, source, request(2, 3, 0, fmt))


@pytest.mark.parametrize(
    ("count", "dtype", "spec"),
    [
        (1, "uint8", RenderSpec(indexes=(1,), ranges=None)),
        (3, "uint16", RenderSpec(indexes=(3, 2, 1), ranges=((500.0, 8000.0),) * 3)),
        (13, "float32", RenderSpec(indexes=(4, 3, 2), ranges=((0.0, 1.0),) * 3)),
    ],
    ids=["1-band-uint8", "3-band-uint16", "13-band-float32"],
)
def test_web_mercator_tiles_look_as_gdal_drew_them_at_every_zoom(
    tmp_path: Path, count: int, dtype: str, spec: RenderSpec
) -> None:
    storage = cog_in_storage(tmp_path, width=700, height=600, count=count, dtype=dtype)
    cog = storage.raster_path(f"{PREFIX}/cog.tif")
    checked = 0
    with gdal_env(storage):
        reader = Reader(cog)
        bounds = reader.get_geographic_bounds(reader.tms.rasterio_geographic_crs)
        zooms = list(range(reader.minzoom, reader.maxzoom + 2))  # one zoom past the native resolution
        for tile in reader.tms.tiles(*bounds, zooms):
            image = read_tile(cog, TileGrid.MERCATOR, tile.z, tile.x, tile.y, spec)
            for fmt in TileFormat:
                assert_same_look(image, spec, fmt)
            checked += 1
        reader.close()  # type: ignore[no-untyped-call]
    # Every tile that meets the image; each of them reaches past its edge at the lowest zooms.
    assert checked >= 2 * len(zooms)


def test_web_mercator_tiles_with_the_warp_grid_memo_equal_those_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = cog_in_storage(tmp_path, width=700, height=600, count=3, dtype="uint16")
    cog = storage.raster_path(f"{PREFIX}/cog.tif")
    spec = RenderSpec(indexes=(1, 2, 3), ranges=((500.0, 8000.0),) * 3)
    with gdal_env(storage), Reader(cog) as reader:
        bounds = reader.get_geographic_bounds(reader.tms.rasterio_geographic_crs)
        tiles = list(reader.tms.tiles(*bounds, list(range(reader.minzoom, reader.maxzoom + 1))))
    # rio-tiler calls the memo (the name it imported from rasterio.warp is replaced).
    assert vars(rio_tiler.utils)["calculate_default_transform"] is warp_grid.default_transform

    def read_all() -> list[np.ndarray]:
        with gdal_env(storage):
            return [read_tile(cog, TileGrid.MERCATOR, t.z, t.x, t.y, spec).array.filled(0) for t in tiles]

    before = warp_grid.cache_info()
    memoized = read_all()
    after = warp_grid.cache_info()
    # One grid for the image, computed at most once, however many tiles.
    assert after.hits - before.hits >= len(tiles) - 1 and after.misses - before.misses <= 1
    monkeypatch.setattr(rio_tiler.utils, "calculate_default_transform", calculate_default_transform)
    computed = read_all()
    assert warp_grid.cache_info().hits == after.hits  # this time rasterio computed every grid
    assert all(np.array_equal(a, b) for a, b in zip(memoized, computed, strict=True))


def test_pixel_tiles_are_served_from_the_store_not_rendered(tmp_path: Path) -> None:
    storage = cog_in_storage(tmp_path, width=300, height=300, count=3, dtype="uint8")
    spec = RenderSpec(indexes=(1, 2, 3), ranges=None)
    with gdal_env(storage):
        write_pyramid(
            storage,
            storage.raster_path(f"{PREFIX}/cog.tif"),
            PREFIX,
            spec,
            width=300,
            height=300,
            jpeg_quality=QUALITY,
            max_tiles=10,
        )
    folder = pyramid_folder(PREFIX, pyramid_digest(spec, TileFormat.PNG, QUALITY))
    storage.put_bytes(b"stored", tile_key(folder, 1, 0, 0, TileFormat.PNG))
    assert render_tile(storage, source_for(spec), request(1, 0, 0, TileFormat.PNG)) == b"stored"
    # A tile missing from the folder (being replaced) is rendered instead of failing.
    storage.delete_prefix(tile_key(folder, 1, 1, 1, TileFormat.PNG))
    assert render_tile(storage, source_for(spec), request(1, 1, 1, TileFormat.PNG)) == live(
        storage, spec, 1, 1, 1, TileFormat.PNG
    )


def test_a_changed_look_is_never_served_from_the_old_pyramid(tmp_path: Path) -> None:
    storage = cog_in_storage(tmp_path, width=512, height=512, count=3, dtype="uint16")
    old = RenderSpec(indexes=(1, 2, 3), ranges=((500.0, 4000.0),) * 3)
    new = RenderSpec(indexes=(1, 2, 3), ranges=((500.0, 9000.0),) * 3)
    cog = storage.raster_path(f"{PREFIX}/cog.tif")
    with gdal_env(storage):
        write_pyramid(storage, cog, PREFIX, old, width=512, height=512, jpeg_quality=QUALITY, max_tiles=5)
    old_tile = render_tile(storage, source_for(old), request(1, 0, 0, TileFormat.JPEG))

    # A new stretch (or preset) has another digest: until its pyramid exists, its tiles render live.
    assert source_for(new).pyramid_top(storage, TileFormat.JPEG) is None
    new_tile = render_tile(storage, source_for(new), request(1, 0, 0, TileFormat.JPEG))
    assert new_tile == live(storage, new, 1, 0, 0, TileFormat.JPEG)
    assert not np.array_equal(pixels(new_tile), pixels(old_tile))

    # Writing the new look replaces the manifest and removes the old folder; a process still serving the
    # old look (its own render version) renders it live, the same tile as before.
    with gdal_env(storage):
        assert write_pyramid(
            storage, cog, PREFIX, new, width=512, height=512, jpeg_quality=QUALITY, max_tiles=5
        )
        assert not write_pyramid(
            storage, cog, PREFIX, new, width=512, height=512, jpeg_quality=QUALITY, max_tiles=5
        )
    manifest = read_manifest(storage, PREFIX, TileFormat.JPEG)
    assert manifest is not None and manifest.digest == pyramid_digest(new, TileFormat.JPEG, QUALITY)
    assert not storage.exists(pyramid_folder(PREFIX, pyramid_digest(old, TileFormat.JPEG, QUALITY)))
    assert storage.exists(manifest_key(PREFIX, TileFormat.PNG))
    assert render_tile(storage, source_for(old), request(1, 0, 0, TileFormat.JPEG)) == old_tile
    assert render_tile(storage, source_for(new), request(1, 0, 0, TileFormat.JPEG)) == new_tile
    # Another JPEG quality is another look too.
    assert pyramid_digest(new, TileFormat.JPEG, 70) != pyramid_digest(new, TileFormat.JPEG, QUALITY)


def test_the_api_serves_stored_tiles_and_another_preset_renders_live(
    client: TestClient, ingest_here: IngestHere, app: FastAPI, tmp_path: Path
) -> None:
    path = tmp_path / "s2_000.tif"
    write_geotiff(path, width=700, height=600, count=4, dtype="uint16", descriptions=["B2", "B3", "B4", "B8"])
    project = client.post("/api/projects", json={"name": f"pyramid-{uuid.uuid4().hex[:6]}"}).json()
    (observation,) = ingest_here(project, path)
    prefix = f"projects/{project['id']}/observations/{observation['id']}"
    storage = app.state.storage
    manifest = read_manifest(storage, prefix, TileFormat.PNG)
    assert manifest is not None and manifest.top_zoom == 2

    url = observation["tiles"]["pixel"].replace("{z}/{x}/{y}.jpg", "2/2/1.png")  # an edge tile
    true_color = client.get(url)
    assert true_color.status_code == 200
    assert true_color.content == storage.get_bytes(
        tile_key(pyramid_folder(prefix, manifest.digest), 2, 2, 1, TileFormat.PNG)
    )
    # The other preset (near infrared as red) has no stored pyramid: drawn now, with other pixels.
    false_color = client.get(url + "&preset=false_color")
    assert false_color.status_code == 200
    assert not np.array_equal(pixels(false_color.content), pixels(true_color.content))
    # WebP is never stored; it is rendered now (lossy at quality 90): the same picture as the stored PNG.
    webp = client.get(url.replace(".png", ".webp"))
    assert webp.status_code == 200 and webp.headers["content-type"] == "image/webp"
    lossy, exact = pixels(webp.content)[:3].ravel(), pixels(true_color.content)[:3].ravel()
    assert np.corrcoef(lossy, exact)[0, 1] > 0.9
