"""A SAM checkpoint: loaded once per worker process, its architecture read from its weights, checked.

Official checkpoints (vit_b, vit_l, vit_h) are plain state dicts; so are the small models the tests build.
With SAM__MODEL_TYPE=auto the image encoder's width, depth, heads, window size and global-attention blocks
are read from the weights' shapes, and the model is built from segment-anything's own classes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from app.core.config import SamSettings

logger = logging.getLogger(__name__)

SETUP_HINT = "set SAM__CHECKPOINT to a checkpoint file (see README)"
KNOWN_TYPES = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}
PROMPT_DIM = 256
IMAGE_SIZE = 1024


class SamSetupError(RuntimeError):
    """SAM cannot run: no checkpoint, an unreadable or damaged one, or one of another model."""


@dataclass(frozen=True)
class Architecture:
    embed_dim: int
    depth: int
    num_heads: int
    window_size: int
    global_attn_indexes: tuple[int, ...]
    patch_size: int

    @property
    def model_type(self) -> str:
        known = KNOWN_TYPES.get(self.embed_dim)
        return known if known and self.depth in (12, 24, 32) else f"custom-{self.embed_dim}x{self.depth}"


@dataclass(frozen=True)
class LoadedSam:
    model: Sam
    model_type: str
    checkpoint_hash: str
    path: Path


def file_hash(path: Path) -> str:
    """The first 16 hex digits of the file's SHA-256: the checkpoint's id in manifests and model versions."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def read_architecture(state: dict[str, torch.Tensor]) -> Architecture:
    """The image encoder's hyperparameters, from its weights' shapes."""
    try:
        embed_dim, _, patch, _ = state["image_encoder.patch_embed.proj.weight"].shape
        blocks = sorted(
            {int(m[1]) for key in state if (m := re.match(r"image_encoder\.blocks\.(\d+)\.", key))}
        )
        rel_sizes = [state[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape for i in blocks]
    except KeyError as exc:
        raise SamSetupError(f"this is not a Segment Anything checkpoint (no {exc.args[0]})") from exc
    grid = state["image_encoder.pos_embed"].shape[1]  # (1, 64, 64, dim) for a 1024 px input
    head_dim = rel_sizes[0][1]
    windowed = [(size[0] + 1) // 2 for size in rel_sizes if (size[0] + 1) // 2 != grid]
    return Architecture(
        embed_dim=int(embed_dim),
        depth=len(blocks),
        num_heads=int(embed_dim) // int(head_dim),
        window_size=windowed[0] if windowed else 14,
        global_attn_indexes=tuple(
            i for i, size in zip(blocks, rel_sizes, strict=True) if (size[0] + 1) // 2 == grid
        ),
        patch_size=int(patch),
    )


def build(arch: Architecture) -> Sam:
    """SAM with this encoder and the standard prompt encoder and mask decoder (segment-anything's classes)."""
    embedding = IMAGE_SIZE // arch.patch_size
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=arch.depth,
            embed_dim=arch.embed_dim,
            img_size=IMAGE_SIZE,
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=arch.num_heads,
            patch_size=arch.patch_size,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=arch.global_attn_indexes,
            window_size=arch.window_size,
            out_chans=PROMPT_DIM,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=PROMPT_DIM,
            image_embedding_size=(embedding, embedding),
            input_image_size=(IMAGE_SIZE, IMAGE_SIZE),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=PROMPT_DIM, mlp_dim=2048, num_heads=8),
            transformer_dim=PROMPT_DIM,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    ).eval()


def load(settings: SamSettings) -> LoadedSam:
    """Load the configured checkpoint on the CPU; SamSetupError with what to do when it cannot be used."""
    if settings.checkpoint is None:
        raise SamSetupError(f"SAM is not set up: {SETUP_HINT}")
    path = settings.checkpoint
    if not path.is_file():
        raise SamSetupError(f"SAM is not set up: {path} is not a file; {SETUP_HINT}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SamSetupError(
            f"SAM is not set up: {path} cannot be read as a checkpoint ({exc}); {SETUP_HINT}"
        ) from exc
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise SamSetupError(f"SAM is not set up: {path} holds no state dict; {SETUP_HINT}")
    try:
        arch = read_architecture(state)
    except SamSetupError as exc:
        raise SamSetupError(f"SAM is not set up: {path}: {exc}; {SETUP_HINT}") from exc
    if settings.model_type != "auto" and arch.model_type != settings.model_type:
        raise SamSetupError(
            f"SAM is not set up: {path} is a {arch.model_type} checkpoint but SAM__MODEL_TYPE says "
            f"{settings.model_type}; set SAM__MODEL_TYPE=auto or to {arch.model_type}"
        )
    model = build(arch)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise SamSetupError(
            f"SAM is not set up: {path} does not fit SAM's architecture ({exc}); {SETUP_HINT}"
        ) from exc
    loaded = LoadedSam(model, arch.model_type, file_hash(path), path)
    logger.info("loaded SAM %s (%s) from %s", loaded.model_type, loaded.checkpoint_hash, path)
    return loaded


_loaded: LoadedSam | None = None


def get(settings: SamSettings) -> LoadedSam:
    """The process's SAM, loaded on first use (again when the checkpoint file changes)."""
    global _loaded
    if _loaded is None or _loaded.path != settings.checkpoint:
        _loaded = load(settings)
    return _loaded
