"""SAM's prompt encoder + mask decoder (with the mask post-processing) exported to ONNX, once per checkpoint,
for the API's onnxruntime and the browser's onnxruntime-web (docs/adr/2026-12-01-sam-encoder-on-gpu-workers-
decoder-in-onnx.md: the TorchScript exporter, opset 17, the number of points a dynamic axis)."""

from __future__ import annotations

import io
import warnings

import torch
from segment_anything.modeling import Sam
from segment_anything.utils.onnx import SamOnnxModel
from torch.nn import functional as F  # noqa: N812 (the usual name)

OPSET = 17
INPUTS = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"]
OUTPUTS = ["masks", "iou_predictions", "low_res_masks"]


class DecoderForOnnx(SamOnnxModel):  # type: ignore[misc]  # segment-anything has no type hints
    """segment-anything 1.0's export model, with post-processing that follows ``orig_im_size`` at run time.

    The PyPI wheel's ``mask_postprocessing`` casts the pre-padding size to Python ints, which tracing turns
    into constants: an export then crops correctly only at the image size it was exported with. Slicing
    with tensors keeps the size an input (segment-anything's main branch does the same)."""

    def mask_postprocessing(self, masks: torch.Tensor, orig_im_size: torch.Tensor) -> torch.Tensor:
        masks = F.interpolate(
            masks, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False
        )
        prepadded_size = self.resize_longest_image_size(orig_im_size, self.img_size).to(torch.int64)
        masks = masks[..., : prepadded_size[0], : prepadded_size[1]]
        orig_im_size = orig_im_size.to(torch.int64)
        size = (orig_im_size[0], orig_im_size[1])  # tensors, so that the export keeps them inputs
        return F.interpolate(masks, size=size, mode="bilinear", align_corners=False)  # type: ignore[arg-type]


def export_decoder(sam: Sam) -> bytes:
    """The decoder as ONNX bytes (single-mask output: SAM picks the best of its masks, as its demo does)."""
    model = DecoderForOnnx(sam.cpu().eval(), return_single_mask=True)
    embed_dim = sam.prompt_encoder.embed_dim
    size = sam.prompt_encoder.image_embedding_size
    mask_size = [4 * size[0], 4 * size[1]]
    dummy = (
        torch.randn(1, embed_dim, *size, dtype=torch.float),
        torch.randint(0, 1024, (1, 5, 2), dtype=torch.float),
        torch.randint(0, 4, (1, 5), dtype=torch.float),
        torch.randn(1, 1, *mask_size, dtype=torch.float),
        torch.tensor([1.0]),
        torch.tensor([1500.0, 2250.0]),  # any size: post-processing follows it at run time
    )
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The tracer warns about tensors turned into Python values in code paths the export does not take,
        # and the exporter about its own deprecation; neither concerns this model.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            dummy,
            buffer,  # type: ignore[arg-type]  # a file object works (and avoids a temporary file)
            export_params=True,
            verbose=False,
            opset_version=OPSET,
            do_constant_folding=True,
            input_names=INPUTS,
            output_names=OUTPUTS,
            dynamic_axes={"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}},
            dynamo=False,
        )
    return buffer.getvalue()
