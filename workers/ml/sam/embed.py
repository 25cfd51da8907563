"""The ``sam_embed`` job: each observation's windows rendered as the map shows them, encoded by SAM, stored
with a manifest; and the checkpoint's decoder exported to ONNX for the API and the browser (once)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.imagery.storage import Storage, gdal_env, make_storage
from app.imagery.windows import render_window
from app.jobs.runner import JobContext
from app.ml.sam_windows import plan_windows
from app.models.observation import Observation, ObservationStatus
from app.models.project import Project, Site
from app.schemas.sam import DecoderRead, EmbeddingManifest, SamEmbedParams, SamEmbedResult, SamWindowRead
from app.services import sam_embeddings as store
from app.services.imagery_processing import render_spec
from workers.ml.sam import model as sam_model
from workers.ml.sam.encode import encode, pick_device
from workers.ml.sam.hover import hover_map
from workers.ml.sam.onnx_export import OPSET, export_decoder

logger = logging.getLogger(__name__)


def publish_decoder(storage: Storage, loaded: sam_model.LoadedSam) -> DecoderRead:
    """Export the checkpoint's decoder unless it is stored already, and name it the current one."""
    current = store.read_decoder(storage)
    if current is not None and current.checkpoint_hash == loaded.checkpoint_hash:
        return current
    key = store.decoder_key(loaded.checkpoint_hash)
    if storage.exists(key):
        size = len(storage.get_bytes(key))
    else:
        onnx = export_decoder(loaded.model)
        storage.put_bytes(onnx, key)
        size = len(onnx)
        logger.info("exported SAM's decoder for %s (%d bytes)", loaded.checkpoint_hash, size)
    decoder = DecoderRead(
        checkpoint_hash=loaded.checkpoint_hash,
        model_type=loaded.model_type,
        decoder_key=key,
        size_bytes=size,
        exported_at=datetime.now(UTC),
        opset=OPSET,
    )
    storage.put_bytes(decoder.model_dump_json().encode(), store.DECODER_POINTER)
    return decoder


def embed_observation(
    session: Session,
    storage: Storage,
    settings: Settings,
    loaded: sam_model.LoadedSam,
    observation: Observation,
    *,
    force: bool,
) -> int | None:
    """Encode one observation's windows; the number written, or None when its embeddings are current."""
    site = session.get(Site, observation.site_id)
    project = session.get(Project, observation.project_id)
    assert site is not None and project is not None and observation.cog_key is not None
    spec = render_spec(observation, site, project.display_preset)
    old = store.read_manifest(storage, observation)
    if not force and store.why_stale(old, loaded.checkpoint_hash, spec, settings.sam) is None:
        return None
    windows = plan_windows(
        observation.width, observation.height, zoom=settings.sam.zoom, overlap_px=settings.sam.overlap_px
    )
    with gdal_env(storage):
        path = storage.raster_path(observation.cog_key)
        images = [render_window(path, spec, w.x, w.y, w.width, w.height, w.input_size) for w in windows]
    device = pick_device(settings.sam)
    sam = loaded.model.to(device)
    prefix = store.new_set_prefix(observation)
    written: list[SamWindowRead] = []
    per_side = settings.sam.hover_points_per_side
    for window, embedding in zip(windows, encode(sam, images, device, settings.sam.batch_size), strict=True):
        key = f"{prefix}/window-{window.index:03d}.npy"
        storage.put_bytes(store.embedding_bytes(embedding), key)
        hover_key = f"{prefix}/hover-{window.index:03d}.bin" if per_side else None
        if hover_key is not None:
            storage.put_bytes(hover_map(sam, embedding, window, per_side, device), hover_key)
        written.append(
            SamWindowRead(
                index=window.index,
                kind=window.kind,
                x=window.x,
                y=window.y,
                width=window.width,
                height=window.height,
                scale=window.scale,
                key=key,
                hover_key=hover_key,
            )
        )
    manifest = EmbeddingManifest(
        observation_id=observation.id,
        checkpoint_hash=loaded.checkpoint_hash,
        model_type=loaded.model_type,
        zoom=settings.sam.zoom,
        overlap_px=settings.sam.overlap_px,
        indexes=list(spec.indexes),
        ranges=[list(map(float, r)) for r in spec.ranges] if spec.ranges is not None else None,
        mode=spec.mode.value,
        image_width=observation.width,
        image_height=observation.height,
        windows=written,
        hover_points_per_side=per_side,
        created_at=datetime.now(UTC),
    )
    # The manifest last: until it is replaced, readers use the old set whole; then the old set goes.
    storage.put_bytes(manifest.model_dump_json().encode(), store.manifest_key(observation))
    if old is not None and old.windows:
        storage.delete_prefix(old.windows[0].key.rsplit("/", 1)[0])
    return len(written)


def embed(ctx: JobContext[SamEmbedParams]) -> SamEmbedResult:
    settings = get_settings()
    storage = make_storage(settings.storage)
    loaded = sam_model.get(settings.sam)
    publish_decoder(storage, loaded)
    encoded = skipped = windows = 0
    ids = ctx.params.observation_ids
    for number, observation_id in enumerate(ids, start=1):
        ctx.progress((number - 1) / len(ids), f"encoding image {number} of {len(ids)}")
        observation = ctx.session.get(Observation, observation_id)
        if observation is None or observation.status is not ObservationStatus.READY:
            skipped += 1
            continue
        written = embed_observation(
            ctx.session, storage, settings, loaded, observation, force=ctx.params.force
        )
        if written is None:
            skipped += 1
        else:
            encoded += 1
            windows += written
    ctx.progress(1.0, f"{encoded} image(s) encoded, {skipped} skipped")
    return SamEmbedResult(
        encoded=encoded, skipped=skipped, windows=windows, checkpoint_hash=loaded.checkpoint_hash
    )
