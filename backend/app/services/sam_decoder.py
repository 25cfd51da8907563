"""Prompts to polygons on the API's CPU: SAM's exported decoder (onnxruntime) on a stored embedding.

The API never imports torch: a GPU worker encoded the observation's windows and exported the decoder
(app.services.sam_embeddings). One Decoder per API process keeps the onnxruntime sessions (one per
checkpoint) and an LRU of embeddings, so that every click after the first on a window costs one decoder run.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import onnxruntime as ort
from rasterio import features
from shapely import affinity
from shapely.geometry import mapping, shape

from app.core.config import SamSettings
from app.core.errors import InvalidInputError
from app.imagery.storage import Storage
from app.ml.sam_windows import ENCODER_SIZE, LOW_RES_MASK_SIZE, Window, window_for
from app.ml.vectorize import vectorize
from app.schemas.sam import DecoderRead, EmbeddingManifest, SamAnswer, SamPolygon, SamPrompt
from app.services.sam_embeddings import load_embedding

# A previous result fed back as SAM's mask_input: logits this far from the threshold, inside and outside.
_MASK_LOGIT = 10.0


class PromptOutsideImageError(InvalidInputError):
    code = "sam_prompt_outside_image"


class Decoder:
    """onnxruntime sessions by checkpoint, and recently used embeddings; safe to share between threads."""

    def __init__(self, storage: Storage, cache_windows: int) -> None:
        self.storage = storage
        self.cache_windows = cache_windows
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._embeddings: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def session(self, decoder: DecoderRead) -> ort.InferenceSession:
        with self._lock:
            found = self._sessions.get(decoder.checkpoint_hash)
        if found is not None:
            return found
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        made = ort.InferenceSession(
            self.storage.get_bytes(decoder.decoder_key), options, providers=["CPUExecutionProvider"]
        )
        with self._lock:
            return self._sessions.setdefault(decoder.checkpoint_hash, made)

    def embedding(self, key: str) -> np.ndarray:
        with self._lock:
            found = self._embeddings.get(key)
            if found is not None:
                self._embeddings.move_to_end(key)
                return found
        loaded = load_embedding(self.storage, key)
        with self._lock:
            self._embeddings[key] = loaded
            while len(self._embeddings) > self.cache_windows:
                self._embeddings.popitem(last=False)
        return loaded

    def decode(
        self, decoder: DecoderRead, manifest: EmbeddingManifest, prompt: SamPrompt, sam: SamSettings
    ) -> SamAnswer:
        """The polygons of the object the prompt points at, in the image's pixel coordinates."""
        started = time.perf_counter()
        box = _prompt_box(prompt, manifest.image_width, manifest.image_height)
        windows = {w.index: w for w in manifest.windows}
        window = window_for([w.window() for w in manifest.windows], box)
        inputs = _decoder_inputs(prompt, window, self.embedding(windows[window.index].key))
        masks, scores, _ = self.session(decoder).run(None, inputs)
        polygons = vectorize(
            masks[0, 0] > 0.0,
            min_area_px=sam.min_area_px if prompt.min_area_px is None else prompt.min_area_px,
            simplify_px=sam.simplify_px if prompt.simplify_px is None else prompt.simplify_px,
            offset=(window.x, window.y),
        )
        if prompt.largest_only and polygons:
            polygons = [max(polygons, key=lambda p: p.area_px)]
        return SamAnswer(
            polygons=[SamPolygon(geometry=dict(mapping(p.geometry)), area_px=p.area_px) for p in polygons],
            score=float(scores[0, 0]),
            window_index=window.index,
            window_kind=window.kind,
            checkpoint_hash=decoder.checkpoint_hash,
            decode_ms=round((time.perf_counter() - started) * 1000, 2),
        )


def _prompt_box(prompt: SamPrompt, width: int, height: int) -> tuple[float, float, float, float]:
    """The extent of the prompt's points and box; every part must lie on the image."""
    xs = [p.x for p in prompt.points] + ([prompt.box[0], prompt.box[2]] if prompt.box else [])
    ys = [p.y for p in prompt.points] + ([prompt.box[1], prompt.box[3]] if prompt.box else [])
    if min(xs) < 0 or min(ys) < 0 or max(xs) > width or max(ys) > height:
        raise PromptOutsideImageError(
            f"The prompt reaches outside the image ({width} x {height} px): points and box must lie within "
            f"x 0..{width} and y 0..{height} (pixels, x = column, y = row)."
        )
    return min(xs), min(ys), max(xs), max(ys)


def _decoder_inputs(prompt: SamPrompt, window: Window, embedding: np.ndarray) -> dict[str, np.ndarray]:
    """SAM's ONNX inputs: points and box corners in the window's input frame (labels 1, 0, then 2 and 3 for
    the box; a padding point labelled -1 when there is no box, as SAM's own ONNX example does)."""
    coords = [window.to_input(p.x, p.y) for p in prompt.points]
    labels = [1.0 if p.positive else 0.0 for p in prompt.points]
    if prompt.box is not None:
        coords += [
            window.to_input(prompt.box[0], prompt.box[1]),
            window.to_input(prompt.box[2], prompt.box[3]),
        ]
        labels += [2.0, 3.0]
    else:
        coords.append((0.0, 0.0))
        labels.append(-1.0)
    mask_input = np.zeros((1, 1, LOW_RES_MASK_SIZE, LOW_RES_MASK_SIZE), dtype=np.float32)
    has_mask = np.zeros(1, dtype=np.float32)
    if prompt.mask_input is not None:
        mask_input[0, 0] = _low_res_logits(prompt.mask_input, window)
        has_mask[0] = 1.0
    return {
        "image_embeddings": embedding,
        "point_coords": np.asarray([coords], dtype=np.float32),
        "point_labels": np.asarray([labels], dtype=np.float32),
        "mask_input": mask_input,
        "has_mask_input": has_mask,
        "orig_im_size": np.asarray([window.height, window.width], dtype=np.float32),
    }


def _low_res_logits(geometry: dict[str, Any], window: Window) -> np.ndarray:
    """A previous polygon (image pixels) in the decoder's 256 x 256 mask frame, as logits."""
    try:
        polygon = shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise InvalidInputError(f"mask_input must be a GeoJSON polygon in image pixels: {exc}") from exc
    factor = window.scale * LOW_RES_MASK_SIZE / ENCODER_SIZE
    moved = affinity.affine_transform(polygon, [factor, 0, 0, factor, -window.x * factor, -window.y * factor])
    inside = features.rasterize(
        [(moved, 1)], out_shape=(LOW_RES_MASK_SIZE, LOW_RES_MASK_SIZE), fill=0, dtype="uint8"
    )
    return np.where(inside > 0, _MASK_LOGIT, -_MASK_LOGIT).astype(np.float32)
