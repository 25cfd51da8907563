"""Where SAM's embeddings of an observation live, and whether they still fit it.

Each observation has one current set of window embeddings (float16 .npy files) and a manifest naming them
(``.../sam/manifest.json``). A new set is written beside the old one and the manifest replaced last, so a
reader sees either set whole; the old set is deleted afterwards. ``sam/current.json`` names the current
checkpoint's exported decoder. A GPU worker writes all of it; the API only reads.
"""

from __future__ import annotations

import io
import uuid

import numpy as np
from pydantic import ValidationError

from app.core.config import SamSettings
from app.imagery.render import RenderSpec
from app.imagery.storage import Storage, observation_prefix
from app.models.observation import Observation
from app.schemas.sam import DecoderRead, EmbeddingManifest

DECODER_POINTER = "sam/current.json"


def sam_prefix(observation: Observation) -> str:
    return f"{observation_prefix(observation.project_id, observation.id)}/sam"


def manifest_key(observation: Observation) -> str:
    return f"{sam_prefix(observation)}/manifest.json"


def new_set_prefix(observation: Observation) -> str:
    return f"{sam_prefix(observation)}/{uuid.uuid4().hex}"


def decoder_key(checkpoint_hash: str) -> str:
    return f"sam/{checkpoint_hash}/decoder.onnx"


def read_manifest(storage: Storage, observation: Observation) -> EmbeddingManifest | None:
    key = manifest_key(observation)
    if not storage.exists(key):
        return None
    try:
        return EmbeddingManifest.model_validate_json(storage.get_bytes(key))
    except ValidationError:
        return None  # written by another version: as good as missing (it is re-encoded)


def read_decoder(storage: Storage) -> DecoderRead | None:
    if not storage.exists(DECODER_POINTER):
        return None
    try:
        return DecoderRead.model_validate_json(storage.get_bytes(DECODER_POINTER))
    except ValidationError:
        return None


def why_stale(
    manifest: EmbeddingManifest | None, checkpoint_hash: str | None, spec: RenderSpec, sam: SamSettings
) -> str | None:
    """Why the observation's embeddings do not fit it any more (None: they do)."""
    if manifest is None:
        return "the observation has no SAM embeddings yet"
    if checkpoint_hash is not None and manifest.checkpoint_hash != checkpoint_hash:
        return f"they were made with another checkpoint ({manifest.checkpoint_hash}, now {checkpoint_hash})"
    if manifest.indexes != list(spec.indexes) or manifest.mode != spec.mode.value:
        return "the display preset changed (other bands, or another way of drawing them)"
    ranges = [list(map(float, r)) for r in spec.ranges] if spec.ranges is not None else None
    if not _same_ranges(manifest.ranges, ranges):
        return "the site's display ranges (stretch) changed"
    if manifest.zoom != sam.zoom or manifest.overlap_px != sam.overlap_px:
        return "SAM__ZOOM or SAM__OVERLAP_PX changed"
    return None


def _same_ranges(a: list[list[float]] | None, b: list[list[float]] | None) -> bool:
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(
        np.allclose(x, y, rtol=1e-6, atol=1e-6) for x, y in zip(a, b, strict=True)
    )


def embedding_bytes(embedding: np.ndarray) -> bytes:
    """One window's (256, 64, 64) embedding as a float16 .npy file (2 MiB)."""
    buffer = io.BytesIO()
    np.save(buffer, embedding.astype(np.float16), allow_pickle=False)
    return buffer.getvalue()


def load_embedding(storage: Storage, key: str) -> np.ndarray:
    """A stored embedding as float32 (1, 256, 64, 64), as the decoder takes it."""
    array = np.load(io.BytesIO(storage.get_bytes(key)), allow_pickle=False)
    return np.ascontiguousarray(array.astype(np.float32)[None])


def raw_float16(npy: bytes) -> bytes:
    """A stored embedding's values as little-endian float16 in C order, without the .npy header (what the
    browser's decoder takes)."""
    array = np.load(io.BytesIO(npy), allow_pickle=False)
    return np.ascontiguousarray(array, dtype="<f2").tobytes()
