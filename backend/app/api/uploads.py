"""Streaming multipart uploads: each file goes straight to a staging folder, hashed on the way, and
the request is cut off as soon as a file passes the size limit (nothing is held in memory)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from app.core.errors import InvalidInputError, PayloadTooLargeError
from app.core.input_rules import excerpt, text_problem
from app.services.ingest import StagedFile


class UploadTooLargeError(PayloadTooLargeError):
    code = "upload_too_large"


class BadUploadError(InvalidInputError):
    code = "bad_upload"


@dataclass
class ReceivedUpload:
    files: dict[str, list[StagedFile]] = field(default_factory=dict)  # by form field name
    fields: dict[str, str] = field(default_factory=dict)


class _Receiver:
    def __init__(self, staging: Path, max_file_bytes: int, max_files: int, size_setting: str) -> None:
        self.staging = staging
        self.max_file_bytes = max_file_bytes
        self.size_setting = size_setting
        self.max_files = max_files
        self.result = ReceivedUpload()
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._name = ""
        self._filename: str | None = None
        self._handle: IO[bytes] | None = None
        self._path: Path | None = None
        self._hash = hashlib.sha256()
        self._size = 0
        self._text = bytearray()
        self._count = 0

    def on_part_begin(self) -> None:
        self._headers = {}
        self._size = 0
        self._text = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = b""
        self._value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self._filename = filename.decode("utf-8", "replace") if filename is not None else None
        if self._filename is not None:
            self._count += 1
            if self._count > self.max_files:
                raise UploadTooLargeError(
                    f"More than {self.max_files} files in one upload (LIMITS__MAX_FILES_PER_UPLOAD); "
                    "send them in several requests or use `minelabel import-images`.",
                    setting="LIMITS__MAX_FILES_PER_UPLOAD",
                )
            # Staged under a number, never under the sender's name.
            self._path = self.staging / f"{self._count:06d}.upload"
            self._handle = self._path.open("wb")
            self._hash = hashlib.sha256()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        self._size += len(chunk)
        if self._handle is None:
            if self._size > 64 * 1024:
                raise BadUploadError(f"Form field {self._name!r} is too long (64 KiB at most).")
            self._text += chunk
            return
        if self._size > self.max_file_bytes:
            raise UploadTooLargeError(
                f"{self._filename} is larger than the limit of {self.max_file_bytes:,} bytes per file "
                f"({self.size_setting}).",
                setting=self.size_setting,
            )
        self._hash.update(chunk)
        self._handle.write(chunk)

    def on_part_end(self) -> None:
        if self._handle is not None and self._path is not None and self._filename is not None:
            self._handle.close()
            self._handle = None
            staged = StagedFile(self._filename, self._path, self._size, self._hash.hexdigest())
            self.result.files.setdefault(self._name, []).append(staged)
        else:
            text = self._text.decode("utf-8", "replace")
            reason = text_problem(self._name) or text_problem(text)
            if reason is not None:
                name = excerpt(self._name)
                raise BadUploadError(f"Form field {name!r} {reason}", field=name)
            self.result.fields[self._name] = text

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


async def receive_multipart(
    request: Request,
    staging: Path,
    max_file_bytes: int,
    max_files: int,
    size_setting: str = "LIMITS__MAX_UPLOAD_BYTES",
    how: str = "the images as multipart/form-data (e.g. curl -F files=@scene.tif ...)",
) -> ReceivedUpload:
    """Parse a multipart/form-data body into ``staging``; the caller removes ``staging`` afterwards."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise BadUploadError(f"Send {how}.")
    receiver = _Receiver(staging, max_file_bytes, max_files, size_setting)
    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": receiver.on_part_begin,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise BadUploadError(f"The multipart body is malformed: {exc}") from exc
    finally:
        receiver.close()
    return receiver.result
