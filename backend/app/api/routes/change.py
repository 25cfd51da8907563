"""Change over time on a site: its timeline (area per class per date) and the change between two dates,
as JSON and as CSV, GeoJSON or GeoPackage downloads."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from app.api.access import AccessDep, sees_only_own
from app.api.deps import SessionDep
from app.interop.change_files import change_geojson, change_geopackage, overview_csv, timeline_csv
from app.schemas.change import Change, ChangeCrs, ChangeOverview, Include, Lineage, OverviewOrder, Timeline
from app.services import change as service
from app.services import projects as projects_service

# What the file routes answer, for the OpenAPI document (their body is not JSON).
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "CSV with a header row."}
}
_CHANGE_FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/geo+json": {}, "application/geopackage+sqlite3": {}},
        "description": "GeoJSON (fmt=geojson) or GeoPackage (fmt=gpkg).",
    }
}

router = APIRouter(prefix="/api/projects/{project_id}/sites/{site_id}", tags=["change"])
overview_router = APIRouter(prefix="/api/projects/{project_id}", tags=["change"])

IncludeQuery = Annotated[
    Include,
    Query(description="approved: only approved tasks' ground truth; all: drafts too (not annotators)."),
]
BeforeQuery = Annotated[
    uuid.UUID | None, Query(description="The earlier date's observation; default: the one before `after`.")
]
AfterQuery = Annotated[
    uuid.UUID | None, Query(description="The later date's observation; default: the last.")
]


def _timeline(
    project_id: uuid.UUID, site_id: uuid.UUID, session: SessionDep, access: AccessDep, include: Include
) -> Timeline:
    project = projects_service.get_project_or_raise(session, project_id)
    site = service.site_of(session, project_id, site_id)
    return service.timeline(session, project, site, include, drafts_private=sees_only_own(access))


@router.get("/timeline", response_model=Timeline, summary="A site's dates with area per class per date")
def site_timeline(
    project_id: uuid.UUID,
    site_id: uuid.UUID,
    session: SessionDep,
    access: AccessDep,
    include: IncludeQuery = "approved",
) -> Timeline:
    """Areas are each task's standing annotation's (its ground truth once approved), in hectares when every
    counted date is georeferenced, else in pixels (`reason` says which image); `predicted` is the champion
    model's."""
    return _timeline(project_id, site_id, session, access, include)


@router.get(
    "/timeline.csv",
    response_class=Response,
    responses=_CSV,
    summary="A site's timeline as CSV (one row per date, series and class)",
)
def site_timeline_csv(
    project_id: uuid.UUID,
    site_id: uuid.UUID,
    session: SessionDep,
    access: AccessDep,
    include: IncludeQuery = "approved",
) -> Response:
    timeline = _timeline(project_id, site_id, session, access, include)
    return Response(
        timeline_csv(timeline),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="timeline-{timeline.site_name}.csv"'},
    )


def _change(
    project_id: uuid.UUID,
    site_id: uuid.UUID,
    session: SessionDep,
    access: AccessDep,
    include: Include,
    before: uuid.UUID | None,
    after: uuid.UUID | None,
    crs: ChangeCrs,
) -> Change:
    projects_service.get_project_or_raise(session, project_id)
    site = service.site_of(session, project_id, site_id)
    return service.change(
        session,
        site,
        include,
        before_id=before,
        after_id=after,
        crs=crs,
        drafts_private=sees_only_own(access),
    )


@router.get("/change", response_model=Change, summary="What each class gained and lost between two dates")
def site_change(
    project_id: uuid.UUID,
    site_id: uuid.UUID,
    session: SessionDep,
    access: AccessDep,
    include: IncludeQuery = "approved",
    before: BeforeQuery = None,
    after: AfterQuery = None,
    crs: Annotated[
        ChangeCrs,
        Query(
            description="metric: as compared (UTM, or pixels); pixel: the later image's pixels; EPSG:4326."
        ),
    ] = "metric",
) -> Change:
    """Compared on the ground in the site's UTM zone when both images are georeferenced (hectares on the
    ellipsoid), else in their shared pixel grid (pixels, with the `reason`)."""
    return _change(project_id, site_id, session, access, include, before, after, crs)


@router.get(
    "/change.{fmt}",
    response_class=Response,
    responses=_CHANGE_FILES,
    summary="The change polygons between two dates as GeoJSON or GeoPackage",
)
def site_change_file(
    project_id: uuid.UUID,
    site_id: uuid.UUID,
    fmt: Literal["geojson", "gpkg"],
    session: SessionDep,
    access: AccessDep,
    include: IncludeQuery = "approved",
    before: BeforeQuery = None,
    after: AfterQuery = None,
    crs: Annotated[
        ChangeCrs | None,
        Query(description="Default: EPSG:4326 for GeoJSON where georeferenced, else metric."),
    ] = None,
) -> Response:
    chosen: ChangeCrs = crs or "metric"
    if crs is None and fmt == "geojson":
        probe = _change(project_id, site_id, session, access, include, before, after, "metric")
        chosen = "EPSG:4326" if probe.space == "utm" else "metric"
    result = _change(project_id, site_id, session, access, include, before, after, chosen)
    stem = f"change-{result.before.acquired_on or result.before.observation_id}-" + str(
        result.after.acquired_on or result.after.observation_id
    )
    if fmt == "geojson":
        return Response(
            change_geojson(result),
            media_type="application/geo+json",
            headers={"Content-Disposition": f'attachment; filename="{stem}.geojson"'},
        )
    return Response(
        change_geopackage(result),
        media_type="application/geopackage+sqlite3",
        headers={"Content-Disposition": f'attachment; filename="{stem}.gpkg"'},
    )


@router.get(
    "/regions/{region_id}/lineage",
    response_model=Lineage,
    summary="One region through time: its ancestors and descendants with their area per date",
)
def region_lineage(
    project_id: uuid.UUID,
    site_id: uuid.UUID,
    region_id: uuid.UUID,
    session: SessionDep,
    access: AccessDep,
    include: IncludeQuery = "approved",
) -> Lineage:
    """Follows `ancestor_id` (set by copy-forward, or by accepting a carried-forward prediction) back and
    forward; counted dates' standing annotations only, as the timeline counts them."""
    projects_service.get_project_or_raise(session, project_id)
    site = service.site_of(session, project_id, site_id)
    return service.lineage(session, site, region_id, include, drafts_private=sees_only_own(access))


LabelQuery = Annotated[str | None, Query(description="Count one class; default: all classes together.")]
FromQuery = Annotated[date | None, Query(alias="from", description="Only dates on or after this one.")]
ToQuery = Annotated[date | None, Query(alias="to", description="Only dates on or before this one.")]
OrderQuery = Annotated[
    OverviewOrder, Query(description="change: by area gained in the last interval; growth: by percent.")
]


def _overview(
    project_id: uuid.UUID,
    session: SessionDep,
    access: AccessDep,
    include: Include,
    label: str | None,
    date_from: date | None,
    date_to: date | None,
    order: OverviewOrder,
) -> ChangeOverview:
    project = projects_service.get_project_or_raise(session, project_id)
    return service.overview(
        session,
        project,
        include,
        label=label,
        date_from=date_from,
        date_to=date_to,
        order=order,
        drafts_private=sees_only_own(access),
    )


@overview_router.get(
    "/change-overview",
    response_model=ChangeOverview,
    summary="Sites ranked by the change in their last interval, with each one's areas per date",
)
def change_overview(
    project_id: uuid.UUID,
    session: SessionDep,
    access: AccessDep,
    include: IncludeQuery = "approved",
    label: LabelQuery = None,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    order: OrderQuery = "change",
) -> ChangeOverview:
    """The last interval is a site's last two dates that count within the range; its change is the net
    difference of the stored areas (as the timeline counts them), not a union per date."""
    return _overview(project_id, session, access, include, label, date_from, date_to, order)


@overview_router.get(
    "/change-overview.csv",
    response_class=Response,
    responses=_CSV,
    summary="The change overview as CSV (one row per site, ranked)",
)
def change_overview_csv(
    project_id: uuid.UUID,
    session: SessionDep,
    access: AccessDep,
    include: IncludeQuery = "approved",
    label: LabelQuery = None,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    order: OrderQuery = "change",
) -> Response:
    overview = _overview(project_id, session, access, include, label, date_from, date_to, order)
    return Response(
        overview_csv(overview),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="change-overview.csv"'},
    )
