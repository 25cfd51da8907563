"""ORM rows -> response schemas, where a response needs more than the row (URLs, GeoJSON)."""

from __future__ import annotations

import json
import uuid
import warnings
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypedDict

from geoalchemy2 import WKBElement
from geoalchemy2.shape import to_shape
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import mapping
from sqlalchemy import Row

from app.imagery.bands import default_preset, supported_presets
from app.imagery.render import TILE_SIZE, pixel_grid_maxzoom
from app.interop.labeling_config import parse_labeling_config
from app.jobs.kinds import KINDS
from app.models.annotation import Annotation, Region
from app.models.job import Job, JobState
from app.models.observation import Observation, ObservationStatus
from app.models.project import DisplayPreset, Project, Site
from app.schemas.annotation import RegionFeature, RegionProperties
from app.schemas.imagery import (
    LabelClassRead,
    LabelingConfigRead,
    ObservationRead,
    PresetFallbackRead,
    ProjectRead,
    SiteRead,
    TileInfo,
)
from app.schemas.job import AttemptRead, JobRead


def geojson(geometry: WKBElement | None) -> dict[str, Any] | None:
    return None if geometry is None else dict(mapping(to_shape(geometry)))


def region_feature(region: Region, model_version: str | None = None) -> RegionFeature:
    """A stored region as GeoJSON in pixel space; ``model_version`` is its prediction's, if it has one."""
    return RegionFeature(
        id=region.id,
        geometry=dict(mapping(to_shape(region.geom))),
        properties=RegionProperties(
            label=region.label,
            source=region.source,
            score=region.score,
            version=region.version,
            area_px=region.area_px,
            area_ha=region.area_ha,
            annotation_id=region.annotation_id,
            prediction_id=region.prediction_id,
            model_version=model_version,
            accepted_from=region.accepted_from,
            carried_from=region.carried_from,
            ancestor_id=region.ancestor_id,
            change_score=region.change_score,
            geometry_wgs84=geojson(region.geom_wgs84),
        ),
    )


def viewport_feature(row: Row[Any]) -> RegionFeature:
    """A row of ``repositories.labels.regions_in_viewport`` (geometry as GeoJSON text) as a feature."""
    return RegionFeature(
        id=row.id,
        geometry=json.loads(row.geometry),
        properties=RegionProperties(
            label=row.label,
            source=row.source,
            score=row.score,
            version=row.version,
            area_px=row.area_px,
            area_ha=row.area_ha,
            annotation_id=row.annotation_id,
            prediction_id=row.prediction_id,
            model_version=row.model_version,
            accepted_from=row.accepted_from,
            carried_from=row.carried_from,
            ancestor_id=row.ancestor_id,
            change_score=row.change_score,
        ),
    )


def observation_read(observation: Observation, site: Site, project_preset: DisplayPreset) -> ObservationRead:
    """The observation with its tile URLs and what it shows under the project's display preset."""
    base = f"/api/observations/{observation.id}"
    shown, fallback = default_preset(project_preset, observation.band_names, observation.dtype)
    ready = observation.status is ObservationStatus.READY
    version = f"?v={site.render_version}"
    tiles = None
    if ready:
        tiles = TileInfo(
            pixel=f"{base}/tiles/pixel/{{z}}/{{x}}/{{y}}.jpg{version}",
            mercator=f"{base}/tiles/mercator/{{z}}/{{x}}/{{y}}.jpg{version}"
            if observation.is_georeferenced
            else None,
            minzoom=0,
            maxzoom=pixel_grid_maxzoom(observation.width, observation.height),
            tile_size=TILE_SIZE,
        )
    return ObservationRead(
        id=observation.id,
        project_id=observation.project_id,
        site_id=observation.site_id,
        site_name=site.name,
        index=observation.index,
        acquired_on=observation.acquired_on,
        acquired_source=observation.acquired_source,
        original_filename=observation.original_filename,
        content_hash=observation.content_hash,
        size_bytes=observation.size_bytes,
        driver=observation.driver,
        width=observation.width,
        height=observation.height,
        band_count=observation.band_count,
        band_names=observation.band_names,
        dtype=observation.dtype,
        nodata=observation.nodata,
        georef_source=observation.georef_source,
        crs=observation.crs,
        crs_proj4=proj4_of(observation.crs),
        transform=observation.transform,
        footprint=geojson(observation.footprint),
        georeference_job_id=observation.georeference_job_id,
        presets=supported_presets(observation.band_names, observation.dtype),
        display_preset=shown,
        preset_fallback=PresetFallbackRead(
            requested=fallback.requested, shown=fallback.shown, message=fallback.message
        )
        if fallback
        else None,
        status=observation.status,
        error=observation.error,
        ingest_job_id=observation.ingest_job_id,
        thumbnail_url=f"{base}/thumbnail{version}" if ready and observation.thumbnail_key else None,
        tiles=tiles,
        created_at=observation.created_at,
    )


@lru_cache(maxsize=64)
def proj4_of(crs: str | None) -> str | None:
    """The PROJ string of a CRS (browsers have no EPSG database); None when there is none or PROJ cannot."""
    if not crs:
        return None
    try:
        with warnings.catch_warnings():
            # PROJ warns that a PROJ string drops datum details; a basemap under the image does not need them.
            warnings.simplefilter("ignore", UserWarning)
            return str(CRS.from_user_input(crs).to_proj4())
    except CRSError:
        return None


def site_read(site: Site, observation_count: int) -> SiteRead:
    return SiteRead(
        id=site.id,
        project_id=site.project_id,
        name=site.name,
        external_id=site.external_id,
        location=geojson(site.location),
        stretch=site.stretch,
        render_version=site.render_version,
        observation_count=observation_count,
    )


def labeling_config_read(project: Project) -> LabelingConfigRead:
    parsed = parse_labeling_config(project.labeling_config)
    return LabelingConfigRead(
        config=project.labeling_config,
        from_name=parsed.from_name,
        to_name=parsed.to_name,
        image_variable=parsed.image_variable,
        classes=[LabelClassRead(name=c.name, color=c.color) for c in parsed.classes],
    )


def project_read(project: Project, my_role: str | None = None) -> ProjectRead:
    return ProjectRead(
        annotators_per_task=project.annotators_per_task,
        annotators_see_others=project.annotators_see_others,
        binary_mining=project.binary_mining,
        auto_train_every=project.auto_train_every,
        next_task_order="uncertainty" if project.next_task_order == "uncertainty" else "series",
        promotion_margin=project.promotion_margin,
        promotion_max_drop=project.promotion_max_drop,
        my_role=my_role,
        id=project.id,
        name=project.name,
        description=project.description,
        display_preset=project.display_preset,
        label_classes=labeling_config_read(project).classes,
        created_at=project.created_at,
    )


def job_read(job: Job) -> JobRead:
    """A job with its kind's typed parameters and result, and an ETA from the current attempt's pace."""
    spec = KINDS[job.kind]
    eta_s = None
    if job.state == JobState.RUNNING and job.started_at is not None and 0.01 <= job.progress < 1:
        elapsed = (datetime.now(UTC) - job.started_at).total_seconds()
        eta_s = round(max(elapsed, 0.0) * (1 - job.progress) / job.progress, 1)
    return JobRead(
        id=job.id,
        kind=job.kind,
        queue=job.queue,
        project_id=job.project_id,
        state=job.state,
        progress=job.progress,
        message=job.message,
        eta_s=eta_s,
        error=job.error,
        params=spec.params.model_validate(job.params),
        result=spec.result.model_validate(job.result) if job.result is not None else None,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        attempt_log=[AttemptRead.model_validate(entry) for entry in job.attempt_log],
        cancel_requested=job.cancel_requested_at is not None,
        created_by=job.created_by,
        created_at=job.created_at,
        started_at=job.started_at,
        heartbeat_at=job.heartbeat_at,
        finished_at=job.finished_at,
    )


class AnnotationHead(TypedDict):
    """The fields every read of an annotation has besides its regions, changes and warnings."""

    id: uuid.UUID
    project_id: uuid.UUID
    observation_id: uuid.UUID
    created_by: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


def annotation_head(annotation: Annotation) -> AnnotationHead:
    return AnnotationHead(
        id=annotation.id,
        project_id=annotation.project_id,
        observation_id=annotation.observation_id,
        created_by=annotation.created_by,
        version=annotation.version,
        created_at=annotation.created_at,
        updated_at=annotation.updated_at,
    )
