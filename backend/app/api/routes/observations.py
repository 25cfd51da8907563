"""Observations: metadata, deletion, thumbnails and map tiles."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.api.access import AccessDep
from app.api.deps import CeleryDep, SessionDep, SettingsDep, StorageDep, TileCacheDep, TileSourcesDep
from app.api.presenters import job_read, observation_read
from app.core.config import TileSettings
from app.core.errors import NotFoundError
from app.imagery.render import TileFormat, TileGrid
from app.imagery.storage import Storage, observation_prefix
from app.models.observation import Observation
from app.models.project import DisplayPreset, Project, Site
from app.schemas.imagery import ObservationPatchResult, ObservationRead, ObservationUpdate
from app.services import georeference as georeference_service
from app.services import jobs as jobs_service
from app.services.tiles import TileRequest, TileSource, TileSourceCache, render_tile, tile_source

router = APIRouter(prefix="/api/observations", tags=["observations"])


class ObservationNotFoundError(NotFoundError):
    code = "observation_not_found"


def _load(session: Session, observation_id: uuid.UUID) -> tuple[Observation, Site]:
    observation = session.get(Observation, observation_id)
    if observation is None:
        raise ObservationNotFoundError(f"No observation with id {observation_id}.")
    site = session.get(Site, observation.site_id)
    assert site is not None
    return observation, site


def _read(session: Session, observation: Observation, site: Site) -> ObservationRead:
    project = session.get(Project, observation.project_id)
    assert project is not None
    return observation_read(observation, site, project.display_preset)


@router.get("/{observation_id}", response_model=ObservationRead, summary="An observation")
def read_observation(observation_id: uuid.UUID, session: SessionDep) -> ObservationRead:
    return _read(session, *_load(session, observation_id))


@router.patch(
    "/{observation_id}",
    response_model=ObservationPatchResult,
    summary="Correct an observation's georeferencing or acquisition date (audited)",
    responses={
        409: {"description": "The image is still being converted."},
        422: {"description": "A bad georeferencing or date; `field` names the input at fault."},
        503: {"description": "The correction is stored but its job could not be queued (Redis)."},
    },
)
def update_observation(
    observation_id: uuid.UUID,
    body: ObservationUpdate,
    session: SessionDep,
    settings: SettingsDep,
    celery: CeleryDep,
    access: AccessDep,
) -> ObservationPatchResult:
    """Regions keep their pixel geometry; their EPSG:4326 copies and hectares, and the footprint, follow at
    once. The image is written again with the new georeferencing in the returned `georeference` job; its
    Web Mercator tiles answer 409 until then, and then come under a new render version."""
    correction = georeference_service.correct_observation(
        session,
        observation_id,
        georeference=body.georeference,
        redate="acquired_on" in body.model_fields_set,
        acquired_on=body.acquired_on,
        actor_id=access.user_id,
        jobs=settings.jobs,
    )
    session.commit()
    if correction.job is not None:
        jobs_service.enqueue_job(session, celery, correction.job)
    observation, site = _load(session, observation_id)
    return ObservationPatchResult(
        observation=_read(session, observation, site),
        job=job_read(correction.job) if correction.job is not None else None,
        regions_updated=correction.regions_updated,
    )


@router.delete(
    "/{observation_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an observation and its files"
)
def delete_observation(observation_id: uuid.UUID, session: SessionDep, storage: StorageDep) -> None:
    observation, _ = _load(session, observation_id)
    prefix = observation_prefix(observation.project_id, observation.id)
    session.delete(observation)
    session.commit()
    storage.delete_prefix(prefix)


@router.get(
    "/{observation_id}/thumbnail",
    summary="A small JPEG of the whole image",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def thumbnail(
    observation_id: uuid.UUID, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    observation, _ = _load(session, observation_id)
    if observation.thumbnail_key is None:
        raise NotFoundError(
            f"Observation {observation_id} has no thumbnail yet ({observation.status.value})."
        )
    return Response(
        storage.get_bytes(observation.thumbnail_key),
        media_type="image/jpeg",
        headers={"Cache-Control": "public, max-age=3600"},
    )


def _render(
    factory: sessionmaker[Session],
    storage: Storage,
    tiles: TileSettings,
    sources: TileSourceCache,
    key: TileRequest,
) -> bytes:
    source = sources.get(key)
    if source is None:
        source = _load_source(factory, tiles, key)
        sources.put(key, source)
    return render_tile(storage, source, key)


def _load_source(factory: sessionmaker[Session], tiles: TileSettings, key: TileRequest) -> TileSource:
    with factory() as session:
        row = session.execute(
            select(Observation, Site, Project.display_preset)
            .join(Site, Site.id == Observation.site_id)
            .join(Project, Project.id == Observation.project_id)
            .where(Observation.id == uuid.UUID(key.observation_id))
        ).one_or_none()
    if row is None:
        raise ObservationNotFoundError(f"No observation with id {key.observation_id}.")
    observation, site, project_preset = row
    return tile_source(tiles, observation, site, project_preset, key)


@router.get(
    "/{observation_id}/tiles/{grid}/{z}/{x}/{y}.{fmt}",
    summary="A 256 x 256 map tile",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
        304: {"description": "Not modified (If-None-Match matched the ETag)."},
        404: {"description": "The tile lies outside the image."},
        409: {
            "description": "The observation is not ready yet, or (Web Mercator) its corrected "
            "georeferencing is still being written."
        },
        422: {"description": "A preset the image does not support (`supported` lists those it does)."},
    },
)
async def tile(
    observation_id: uuid.UUID,
    grid: TileGrid,
    z: Annotated[int, Path(ge=0, le=30)],
    x: Annotated[int, Path(ge=0, le=2**30)],
    y: Annotated[int, Path(ge=0, le=2**30)],
    fmt: TileFormat,
    request: Request,
    storage: StorageDep,
    cache: TileCacheDep,
    sources: TileSourcesDep,
    settings: SettingsDep,
    v: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="The site's render version (from the tile URL template).")
    ] = 0,
    preset: Annotated[
        DisplayPreset | None,
        Query(
            description="One of the observation's `presets`; defaults to the project's preset where the "
            "image supports it (else what `preset_fallback` says)."
        ),
    ] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """``pixel``: the image's own grid, the highest zoom is full resolution and tile x, y count from the top
    left; at zoom 0 a tile covers 256 * 2**maxzoom pixels, the whole image when it is square, a row or
    column of tiles along the long side otherwise. ``mercator``: Web Mercator XYZ (georeferenced images).
    JPEG by default; PNG and WebP carry transparency where the image has no data."""
    headers = {"Cache-Control": f"public, max-age={settings.tiles.max_age_s}"}
    # No preset means the project's; changing that bumps `v`, so the key stays unambiguous.
    key = TileRequest(str(observation_id), v, preset, grid, z, x, y, fmt)
    data = cache.get(key)
    if data is None:
        # A cache hit is answered on the event loop; only a miss goes to the thread pool (database + GDAL).
        factory = request.app.state.session_factory
        data = await run_in_threadpool(_render, factory, storage, settings.tiles, sources, key)
        cache.put(key, data)
    headers["ETag"] = key.etag
    if if_none_match is not None and key.etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(data, media_type=fmt.media_type, headers=headers)
