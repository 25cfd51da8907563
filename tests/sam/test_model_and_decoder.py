"""SAM's worker side in this process, with the tiny checkpoint: the architecture read from the weights, a
damaged or wrong file refused with what to do, the encoder on the CPU, and the exported ONNX decoder giving
the same mask as segment-anything's SamPredictor in torch, also at window sizes other than the export's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from app.core.config import SamSettings
from app.imagery.storage import LocalStorage
from app.ml.sam_windows import Window
from app.schemas.sam import DecoderRead, EmbeddingManifest, SamPoint, SamPrompt, SamWindowRead
from app.services.sam_decoder import Decoder, _decoder_inputs
from app.services.sam_embeddings import embedding_bytes
from tests.sam.tiny import TINY

torch = pytest.importorskip("torch", reason="the ml group (torch) is not installed: MINELABEL_SKIP_ML=1")
predictor_module = pytest.importorskip("segment_anything.predictor")

from workers.ml.sam import model as sam_model  # noqa: E402  (after the skip: needs torch)
from workers.ml.sam.encode import encode  # noqa: E402
from workers.ml.sam.onnx_export import export_decoder  # noqa: E402


@pytest.fixture(scope="module")
def loaded(sam_checkpoint: Path | None) -> sam_model.LoadedSam:
    assert sam_checkpoint is not None
    return sam_model.load(SamSettings(checkpoint=sam_checkpoint))


@pytest.fixture(scope="module")
def onnx_bytes(loaded: sam_model.LoadedSam) -> bytes:
    return export_decoder(loaded.model)


def test_the_architecture_is_read_from_the_weights(loaded: sam_model.LoadedSam) -> None:
    arch = sam_model.read_architecture(loaded.model.state_dict())
    assert arch == sam_model.Architecture(**TINY)  # type: ignore[arg-type]
    assert loaded.model_type == "custom-64x2"
    assert len(loaded.checkpoint_hash) == 16


def test_a_wrong_or_damaged_checkpoint_says_what_to_do(sam_checkpoint: Path | None, tmp_path: Path) -> None:
    assert sam_checkpoint is not None
    cases: list[tuple[SamSettings, str]] = [
        (SamSettings(), "SAM is not set up: set SAM__CHECKPOINT to a checkpoint file (see README)"),
        (SamSettings(checkpoint=tmp_path / "none.pth"), "is not a file"),
        (
            SamSettings(checkpoint=sam_checkpoint, model_type="vit_b"),
            "is a custom-64x2 checkpoint but SAM__MODEL_TYPE",
        ),
    ]
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(sam_checkpoint.read_bytes()[:1000])
    cases.append((SamSettings(checkpoint=truncated), "cannot be read as a checkpoint"))
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(4, 3, 3, 3)}, other)
    cases.append((SamSettings(checkpoint=other), "is not a Segment Anything checkpoint"))
    for settings, message in cases:
        with pytest.raises(sam_model.SamSetupError) as raised:
            sam_model.load(settings)
        assert message in str(raised.value), settings
        assert str(raised.value).startswith("SAM is not set up")


def test_the_encoder_runs_on_the_cpu_in_batches(loaded: sam_model.LoadedSam) -> None:
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8),
        rng.integers(0, 255, (600, 1024, 3), dtype=np.uint8),
    ]
    one_by_one = [e for image in images for e in encode(loaded.model, [image], torch.device("cpu"), 1)]
    batched = list(encode(loaded.model, images, torch.device("cpu"), 2))
    assert [e.shape for e in batched] == [(256, 64, 64)] * 2 and batched[0].dtype == np.float16
    np.testing.assert_allclose(batched[1].astype(np.float32), one_by_one[1].astype(np.float32), atol=2e-3)
    with pytest.raises(ValueError, match="longest side of 1024"):
        list(encode(loaded.model, [images[0][:512, :512]], torch.device("cpu"), 1))


def torch_mask(
    loaded: sam_model.LoadedSam, embedding: np.ndarray, window: Window, prompt: SamPrompt
) -> np.ndarray:
    """segment-anything's SamPredictor on the same embedding, prompt in the window's own pixels."""
    predictor = predictor_module.SamPredictor(loaded.model)
    predictor.reset_image()
    predictor.features = torch.as_tensor(embedding)
    predictor.original_size = (window.height, window.width)
    predictor.input_size = predictor.transform.get_preprocess_shape(window.height, window.width, 1024)
    predictor.is_image_set = True
    points = np.array([[p.x - window.x, p.y - window.y] for p in prompt.points]) if prompt.points else None
    labels = np.array([1 if p.positive else 0 for p in prompt.points]) if prompt.points else None
    box = np.array(prompt.box) - [window.x, window.y, window.x, window.y] if prompt.box else None
    masks, _, _ = predictor.predict(point_coords=points, point_labels=labels, box=box, multimask_output=False)
    result: np.ndarray = masks[0]
    return result


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@pytest.mark.parametrize("size", [(512, 512), (300, 700), (1000, 420)])
def test_the_onnx_decoder_gives_samp_predictors_mask_at_any_window_size(
    loaded: sam_model.LoadedSam, onnx_bytes: bytes, size: tuple[int, int]
) -> None:
    height, width = size
    window = Window(0, "tile", 40, 10, width, height)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(height)
    embedding = rng.standard_normal((1, 256, 64, 64)).astype(np.float32)
    prompts = [
        # Three points or more: SAM's single-mask output (what the export returns) for each prompt.
        SamPrompt(
            points=[
                SamPoint(x=40 + width * 0.3, y=10 + height * 0.4),
                SamPoint(x=40 + width * 0.6, y=10 + height * 0.5, positive=False),
            ]
        ),
        SamPrompt(
            points=[SamPoint(x=40 + width / 2, y=10 + height / 2)],
            box=(50, 20, 40 + width * 0.8, 10 + height * 0.7),
        ),
    ]
    for prompt in prompts:
        masks, scores, low_res = session.run(None, _decoder_inputs(prompt, window, embedding))
        assert masks.shape == (1, 1, height, width) and low_res.shape == (1, 1, 256, 256)
        assert 0 <= scores.shape[1] == 1
        ours = masks[0, 0] > 0
        theirs = torch_mask(loaded, embedding, window, prompt)
        assert iou(ours, theirs) >= 0.99, (size, prompt)


def test_the_api_decoder_turns_a_prompt_into_polygons_in_image_pixels(
    loaded: sam_model.LoadedSam, onnx_bytes: bytes, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes(onnx_bytes, "sam/tiny/decoder.onnx")
    decoder = DecoderRead(
        checkpoint_hash="tiny",
        model_type="custom",
        decoder_key="sam/tiny/decoder.onnx",
        size_bytes=len(onnx_bytes),
        exported_at=datetime.now(UTC),
        opset=17,
    )
    embedding = np.random.default_rng(1).standard_normal((256, 64, 64)).astype(np.float32)
    storage.put_bytes(embedding_bytes(embedding), "emb/window-000.npy")
    storage.put_bytes(embedding_bytes(embedding), "emb/window-001.npy")
    windows = [
        SamWindowRead(
            index=0, kind="tile", x=100, y=0, width=512, height=512, scale=2.0, key="emb/window-000.npy"
        ),
        SamWindowRead(
            index=1, kind="full", x=0, y=0, width=800, height=600, scale=1.28, key="emb/window-001.npy"
        ),
    ]
    manifest = EmbeddingManifest(
        observation_id=uuid.uuid4(),
        checkpoint_hash="tiny",
        model_type="custom",
        zoom=2,
        overlap_px=128,
        indexes=[1, 2, 3],
        ranges=None,
        image_width=800,
        image_height=600,
        windows=windows,
        created_at=datetime.now(UTC),
    )
    service = Decoder(storage, cache_windows=4)
    prompt = SamPrompt(points=[SamPoint(x=300, y=200)])
    small = service.decode(decoder, manifest, prompt, SamSettings())
    assert (small.window_index, small.window_kind, small.checkpoint_hash) == (0, "tile", "tiny")
    big = service.decode(decoder, manifest, SamPrompt(box=(10, 10, 700, 500)), SamSettings(min_area_px=0))
    assert (big.window_index, big.window_kind) == (1, "full")
    # The polygons are those of the mask, moved to the window's place in the image.
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    tile = windows[0].window()
    embedding = embedding.astype(np.float16).astype(np.float32)  # as stored
    masks, scores, _ = session.run(
        None, _decoder_inputs(SamPrompt(points=[SamPoint(x=300, y=200)]), tile, embedding[None])
    )
    assert small.score == pytest.approx(float(scores[0, 0]))
    exact = service.decode(decoder, manifest, prompt, SamSettings(min_area_px=0, simplify_px=0))
    assert sum(p.area_px for p in exact.polygons) == float((masks[0, 0] > 0).sum())
    assert len(small.polygons) < len(exact.polygons)  # SAM__MIN_AREA_PX (16) drops the specks
    for polygon in small.polygons:
        xs = [x for x, _ in polygon.geometry["coordinates"][0]]
        assert min(xs) >= 100 and max(xs) <= 612


def test_a_pre_label_takes_the_class_of_the_previous_region_it_matches() -> None:
    from shapely.geometry import box

    from workers.ml.sam.prelabel import class_from_previous

    outline, pit = box(0, 0, 400, 400), box(100, 100, 150, 150)
    references: list[tuple[str | None, Any]] = [("Outline", outline), ("Pit", pit)]
    assert class_from_previous(box(102, 98, 152, 149), references) == "Pit"  # inside the Outline too
    assert class_from_previous(box(0, 0, 390, 410), references) == "Outline"
    assert class_from_previous(box(300, 300, 330, 330), references) is None  # matches nothing well
    assert class_from_previous(pit, []) is None
