"""Where image files live: a local folder, or an S3-compatible object store read through GDAL's /vsis3/.

Keys are relative paths such as ``projects/<id>/observations/<id>/cog.tif``. Rasterio opens what
``raster_path(key)`` returns inside ``gdal_env()``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import rasterio
from rasterio.session import AWSSession

from app.core.config import StorageSettings

# GDAL must never look for sidecar files (.aux.xml, .ovr, world files) next to what we open.
_GDAL_BASE = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_PAM_ENABLED": "NO",
    "CPL_VSIL_CURL_USE_HEAD": "NO",
}


class Storage(Protocol):
    def put_file(self, local_path: Path, key: str) -> None: ...
    def put_bytes(self, data: bytes, key: str) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def try_get_bytes(self, key: str) -> bytes | None: ...
    def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def raster_path(self, key: str) -> str: ...
    def gdal_env(self) -> rasterio.Env: ...
    def prepare(self) -> str: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key escapes the data folder: {key}")
        return path

    def put_file(self, local_path: Path, key: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        shutil.copyfile(local_path, tmp)
        tmp.replace(target)  # atomic: a reader never sees half a file

    def put_bytes(self, data: bytes, key: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def try_get_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None where there is none (one read, no separate existence check)."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        with self._path(key).open("rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def raster_path(self, key: str) -> str:
        return str(self._path(key))

    def prepare(self) -> str:
        """Make sure the store can be written to; returns what to tell the operator."""
        self.root.mkdir(parents=True, exist_ok=True)
        return f"files in {self.root}"

    def gdal_env(self) -> rasterio.Env:
        return rasterio.Env(**_GDAL_BASE)


class S3Storage:
    def __init__(self, settings: StorageSettings) -> None:
        import boto3

        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix.strip("/")
        self.settings = settings
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
            aws_secret_access_key=settings.s3_secret_key.get_secret_value()
            if settings.s3_secret_key
            else None,
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(self, local_path: Path, key: str) -> None:
        self.client.upload_file(str(local_path), self.bucket, self._key(key))

    def put_bytes(self, data: bytes, key: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get_bytes(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        return body

    def try_get_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None where there is none (one GET, no separate HEAD)."""
        from botocore.exceptions import ClientError

        try:
            return self.get_bytes(key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise

    def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        yield from body.iter_chunks(chunk_size)

    def delete_prefix(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})

    def exists(self, key: str) -> bool:
        response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(key), MaxKeys=1)
        return bool(response.get("KeyCount"))

    def raster_path(self, key: str) -> str:
        return f"/vsis3/{self.bucket}/{self._key(key)}"

    def prepare(self) -> str:
        """Create the bucket if it does not exist yet; returns what to tell the operator."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return f"files in s3://{self.bucket}/{self.prefix}"
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise
        self.client.create_bucket(Bucket=self.bucket)
        return f"created bucket s3://{self.bucket}"

    def gdal_env(self) -> rasterio.Env:
        # rasterio takes credentials only through an AWSSession, never as raw GDAL options.
        settings = self.settings
        endpoint = urlparse(settings.s3_endpoint_url) if settings.s3_endpoint_url else None
        session = AWSSession(
            aws_access_key_id=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
            aws_secret_access_key=settings.s3_secret_key.get_secret_value()
            if settings.s3_secret_key
            else None,
            region_name=settings.s3_region,
            endpoint_url=endpoint.netloc if endpoint else None,
        )
        options: dict[str, Any] = dict(_GDAL_BASE)
        if endpoint is not None:
            options["AWS_HTTPS"] = "YES" if endpoint.scheme == "https" else "NO"
            options["AWS_VIRTUAL_HOSTING"] = "FALSE"
        return rasterio.Env(session=session, **options)


def make_storage(settings: StorageSettings) -> Storage:
    if settings.backend == "s3":
        return S3Storage(settings)
    return LocalStorage(settings.data_dir)


@contextmanager
def gdal_env(storage: Storage) -> Iterator[None]:
    """GDAL set up for reading rasters from ``storage`` (credentials for /vsis3/, no sidecar lookups)."""
    with storage.gdal_env():
        yield


def observation_prefix(project_id: object, observation_id: object) -> str:
    return f"projects/{project_id}/observations/{observation_id}"
