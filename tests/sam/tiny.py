"""A tiny Segment Anything for tests: segment-anything's own classes with a small image encoder (2 blocks,
64 wide) and the real prompt encoder and mask decoder (64 x 64 embedding, 256 x 256 mask input), random
weights saved as a checkpoint file as the official ones are (a plain state dict)."""

from __future__ import annotations

from pathlib import Path

TINY = {
    "embed_dim": 64,
    "depth": 2,
    "num_heads": 2,
    "window_size": 14,
    "global_attn_indexes": (1,),
    "patch_size": 16,
}


def write_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    import torch

    from workers.ml.sam.model import Architecture, build

    torch.manual_seed(seed)
    model = build(Architecture(**TINY))  # type: ignore[arg-type]
    torch.save(model.state_dict(), path)
    return path
