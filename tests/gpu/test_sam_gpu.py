"""SAM at its real size on a GPU (run only where CUDA is present; skipped, saying why, elsewhere): a ViT-B
encoder with random weights encodes a batch under bf16 autocast, and its embeddings decode through the
exported ONNX decoder as they do through segment-anything in torch."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


def test_vit_b_encodes_a_batch_in_bf16_and_decodes_like_torch() -> None:
    import onnxruntime as ort
    import torch

    from app.ml.sam_windows import Window
    from app.schemas.sam import SamPoint, SamPrompt
    from app.services.sam_decoder import _decoder_inputs
    from workers.ml.sam.encode import encode
    from workers.ml.sam.model import Architecture, build
    from workers.ml.sam.onnx_export import export_decoder

    torch.manual_seed(0)
    arch = Architecture(768, 12, 12, 14, (2, 5, 8, 11), 16)
    model = build(arch).to("cuda")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8) for _ in range(8)]
    embeddings = list(encode(model, images, torch.device("cuda"), 8))
    assert len(embeddings) == 8 and embeddings[0].shape == (256, 64, 64)
    assert all(np.isfinite(e.astype(np.float32)).all() for e in embeddings)
    session = ort.InferenceSession(export_decoder(model), providers=["CPUExecutionProvider"])
    window = Window(0, "tile", 0, 0, 512, 512)
    prompt = SamPrompt(points=[SamPoint(x=200, y=200), SamPoint(x=300, y=260)])
    masks, _, _ = session.run(None, _decoder_inputs(prompt, window, embeddings[0].astype(np.float32)[None]))
    assert masks.shape == (1, 1, 512, 512)


def test_a_hover_map_made_on_the_gpu_holds_the_onnx_decoders_masks() -> None:
    import onnxruntime as ort
    import torch

    from app.ml import sam_hover
    from app.ml.sam_windows import Window
    from app.schemas.sam import SamPoint, SamPrompt
    from app.services.sam_decoder import _decoder_inputs
    from workers.ml.sam.hover import hover_map
    from workers.ml.sam.model import Architecture, build
    from workers.ml.sam.onnx_export import export_decoder

    torch.manual_seed(0)
    model = build(Architecture(64, 2, 2, 14, (1,), 16)).to("cuda")  # the decoder has its real size
    window = Window(0, "tile", 0, 0, 512, 512)
    embedding = np.random.default_rng(2).standard_normal((256, 64, 64)).astype(np.float16)
    stored = sam_hover.decode(hover_map(model, embedding, window, 32, torch.device("cuda")))
    session = ort.InferenceSession(export_decoder(model), providers=["CPUExecutionProvider"])
    points = sam_hover.grid_points(512, 512, 32)
    for index in (0, 100, 527, 1023):
        x, y = points[index]
        inputs = _decoder_inputs(
            SamPrompt(points=[SamPoint(x=x, y=y)]), window, embedding.astype(np.float32)[None]
        )
        decoded = session.run(None, inputs)[0][0, 0] > 0
        mask = stored.mask(index)
        union = (mask | decoded).sum()
        assert union == 0 or (mask & decoded).sum() / union >= 0.99, index
