"""Hover maps (docs/adr/2026-12-03-sam-hover-previews-from-a-point-grid.md): the format keeps every mask as
it was, edges, empty and speckled masks included, and refuses what is not one; the worker's map of a window
holds, for each grid point, the mask that the exported ONNX decoder gives for that single point (what the
browser's decode of a hover there answers)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from app.core.config import SamSettings
from app.ml import sam_hover
from app.ml.sam_windows import Window
from app.schemas.sam import SamPoint, SamPrompt
from app.services.sam_decoder import _decoder_inputs


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def test_masks_come_back_as_they_were_stored() -> None:
    rng = np.random.default_rng(3)
    per_side, height, width = 3, 300, 170
    masks = np.zeros((per_side**2, height, width), dtype=bool)
    masks[0, 40:90, 10:60] = True  # a block
    masks[1] = rng.random((height, width)) > 0.5  # speckle: runs of 1 px, many of them
    masks[2, 0, 0] = True  # one pixel in a corner
    masks[3] = True  # the whole window
    # masks[4] stays empty
    masks[5, :, width - 1] = True  # the last column, whole
    masks[6, 200:, 100:] = True  # the far corner
    masks[7, 10:20, 10:20] = masks[7, 50:60, 80:90] = True  # two parts
    masks[8, 5:295, 5:165] = True
    masks[8, 100:150, 50:80] = False  # a hole
    scores = rng.random(per_side**2).astype(np.float32)

    data = sam_hover.encode(masks, scores, per_side)
    stored = sam_hover.decode(data)
    assert (stored.per_side, stored.width, stored.height) == (per_side, width, height)
    for index, mask in enumerate(masks):
        assert np.array_equal(stored.mask(index), mask), index
        entry = stored.entries[index]
        assert entry.area == mask.sum() and entry.score == pytest.approx(scores[index])
    assert stored.entries[4].box == (0, 0, 0, 0) and stored.entries[4].length == 0
    assert stored.entries[2].box == (0, 0, 1, 1) and stored.entries[3].box == (0, 0, width, height)
    assert stored.entries[5].box == (width - 1, 0, width, height)
    # A 50 x 50 block: 50 row offsets (4 bytes) and a span a row (a gap of 0, a length of 50: a byte each).
    assert stored.entries[0].length == 50 * (4 + 2)

    points = sam_hover.grid_points(width, height, per_side)
    assert points.shape == (9, 2)
    assert points[0].tolist() == pytest.approx([width / 6, height / 6])
    assert points[5].tolist() == pytest.approx([width * 5 / 6, height / 2])  # row by row


def test_what_is_not_a_hover_map_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        sam_hover.decode(b"MLHM")
    with pytest.raises(ValueError, match="not a hover map of format 1"):
        sam_hover.decode(struct.pack("<4sBBHIII", b"NPY!", 1, 0, 1, 1, 1, 0))
    with pytest.raises(ValueError, match="make 4 masks, not 3"):
        sam_hover.encode(np.zeros((3, 4, 4), dtype=bool), np.zeros(3), 2)


def test_a_windows_map_holds_the_onnx_decoders_mask_of_each_grid_point(sam_checkpoint: Path | None) -> None:
    pytest.importorskip("torch", reason="the ml group (torch) is not installed: MINELABEL_SKIP_ML=1")
    import torch

    from workers.ml.sam import model as sam_model
    from workers.ml.sam.hover import hover_map
    from workers.ml.sam.onnx_export import export_decoder

    assert sam_checkpoint is not None
    loaded = sam_model.load(SamSettings(checkpoint=sam_checkpoint))
    window = Window(2, "tile", 300, 40, 384, 256)  # not square: points scale by the longest side
    embedding = np.random.default_rng(5).standard_normal((256, 64, 64)).astype(np.float16)
    per_side = 3
    stored = sam_hover.decode(hover_map(loaded.model, embedding, window, per_side, torch.device("cpu")))
    assert (stored.per_side, stored.width, stored.height) == (per_side, 384, 256)

    session = ort.InferenceSession(export_decoder(loaded.model), providers=["CPUExecutionProvider"])
    as_decoded = embedding.astype(np.float32)[None]  # as the browser and the API take it
    points = sam_hover.grid_points(window.width, window.height, per_side)
    areas = set()
    for index, (x, y) in enumerate(points):
        prompt = SamPrompt(points=[SamPoint(x=window.x + x, y=window.y + y)])
        masks, scores, _ = session.run(None, _decoder_inputs(prompt, window, as_decoded))
        decoded = masks[0, 0] > 0
        assert iou(stored.mask(index), decoded) >= 0.99, index
        assert stored.entries[index].score == pytest.approx(float(scores[0, 0]), abs=1e-3)
        areas.add(stored.entries[index].area)
    assert len(areas) > 1  # the points got masks of their own, not one mask nine times
