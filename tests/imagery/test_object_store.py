"""The S3 storage path against a real S3 endpoint on loopback (moto in server mode): originals, COGs
and thumbnails go to the bucket, and tiles are read from it through GDAL's /vsis3/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr
from rasterio.io import MemoryFile
from sqlalchemy.orm import Session

from app.core.config import Settings, StorageSettings, TileSettings
from app.imagery.pyramid import PYRAMID_FORMATS, read_manifest
from app.imagery.render import TileFormat, TileGrid, encode, read_tile
from app.imagery.storage import S3Storage, gdal_env, make_storage, observation_prefix
from app.models import DisplayPreset, ObservationStatus, Site
from app.schemas.job import IngestResult
from app.services.imagery_processing import process_observations
from app.services.ingest import StagedFile, register_images
from app.services.projects import create_project
from app.services.tiles import TileRequest, render_tile, tile_source
from tests.imagery.factories import write_geotiff
from tests.services import free_port

BUCKET = "minelabel-test"


@pytest.fixture(scope="module")
def s3_settings() -> Iterator[StorageSettings]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        settings = StorageSettings(
            backend="s3",
            s3_bucket=BUCKET,
            s3_prefix="deployment-a",
            s3_endpoint_url=f"http://127.0.0.1:{port}",
            s3_access_key=SecretStr("testing"),
            s3_secret_key=SecretStr("testing"),
        )
        boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ).create_bucket(Bucket=BUCKET)  # fmt: skip
        yield settings
    finally:
        server.stop()


def test_prepare_creates_the_bucket_once(s3_settings: StorageSettings) -> None:
    storage = make_storage(s3_settings.model_copy(update={"s3_bucket": "fresh-bucket"}))
    assert storage.prepare() == "created bucket s3://fresh-bucket"
    assert storage.prepare() == "files in s3://fresh-bucket/deployment-a"


def test_ingest_and_tiles_through_an_s3_endpoint(
    s3_settings: StorageSettings, db_session: Session, tmp_path: Path
) -> None:
    storage = make_storage(s3_settings)
    assert isinstance(storage, S3Storage)
    source = tmp_path / "pit_000.tif"
    pixels = write_geotiff(source, width=400, height=300)
    staged = StagedFile(source.name, source, source.stat().st_size, "f" * 64)
    project = create_project(db_session, name="s3")
    batch = register_images(db_session, storage, project, [staged], {}, Settings())
    (observation,) = batch.observations
    assert storage.exists(observation.original_key)
    assert storage.raster_path(observation.original_key).startswith(f"/vsis3/{BUCKET}/deployment-a/projects/")

    progress: list[str] = []
    result = process_observations(
        db_session,
        storage,
        [observation.id],
        TileSettings(),
        lambda _f, message: progress.append(message),
        tmp_path / "scratch",
    )
    assert result == IngestResult(ready=1, failed=[])
    assert progress[0].startswith("converting pit_000.tif")
    assert observation.status is ObservationStatus.READY
    assert observation.cog_key and storage.exists(observation.cog_key)
    assert observation.thumbnail_key and storage.get_bytes(observation.thumbnail_key)[:3] == b"\xff\xd8\xff"

    site = db_session.get(Site, observation.site_id)
    assert site is not None
    request = TileRequest(
        str(observation.id), site.render_version, None, TileGrid.PIXEL, 1, 1, 0, TileFormat.PNG
    )
    tile_src = tile_source(TileSettings(), observation, site, DisplayPreset.TRUE_COLOR, request)
    data = render_tile(storage, tile_src, request)
    with MemoryFile(data) as memfile, memfile.open() as img:
        tile = img.read()[:3, :, :144]
    assert np.array_equal(tile, pixels[:, 0:256, 256:400])

    # The stored pyramid lies in the bucket too, and serves the bytes a live render makes.
    prefix = observation_prefix(project.id, observation.id)
    assert all(read_manifest(storage, prefix, fmt) is not None for fmt in PYRAMID_FORMATS)
    assert tile_src.pyramid_top(storage, TileFormat.PNG) == 1
    with gdal_env(storage):
        live = read_tile(storage.raster_path(tile_src.cog_key), TileGrid.PIXEL, 1, 1, 0, tile_src.spec)
    assert data == encode(live, tile_src.spec, TileFormat.PNG, tile_src.jpeg_quality)
    # The API's default format too: the JPEG stored in the bucket is the bytes Pillow makes now.
    jpeg = TileRequest(
        str(observation.id), site.render_version, None, TileGrid.PIXEL, 1, 1, 0, TileFormat.JPEG
    )
    jpeg_src = tile_source(TileSettings(), observation, site, DisplayPreset.TRUE_COLOR, jpeg)
    assert jpeg_src.pyramid_top(storage, TileFormat.JPEG) == 1
    assert render_tile(storage, jpeg_src, jpeg) == encode(
        live, tile_src.spec, TileFormat.JPEG, tile_src.jpeg_quality
    )

    storage.delete_prefix(f"projects/{project.id}")
    assert not storage.exists(observation.original_key)
