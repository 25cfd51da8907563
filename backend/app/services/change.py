"""Change over time on one site: which dates count, the timeline of areas per class, and the change
between two dates (docs/adr/2026-12-02-change-between-dates-in-the-sites-utm-zone.md)."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from rasterio.warp import transform as transform_points
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import ForbiddenError, InvalidInputError, NotFoundError
from app.imagery.georef import utm_crs
from app.interop.labeling_config import parse_labeling_config
from app.models.annotation import Region
from app.models.observation import Observation, ObservationStatus, TaskState
from app.models.project import Project, Site
from app.repositories import change as repo
from app.repositories.ground_truth import task_annotations
from app.schemas.change import (
    AreaOnDate,
    AreaUnit,
    Change,
    ChangeCrs,
    ChangeEnd,
    ChangeFeature,
    ChangeOverview,
    ChangeProperties,
    ClassChange,
    Include,
    Lineage,
    LineageStep,
    OverviewOrder,
    OverviewPoint,
    SiteChangeSummary,
    Timeline,
    TimelineEntry,
    UnitReason,
)
from app.services.models import champion


class SiteNotFoundError(NotFoundError):
    code = "site_not_found"


class NotInSeriesError(InvalidInputError):
    code = "observation_not_in_series"


class RegionNotFoundError(NotFoundError):
    code = "region_not_found"


class RegionNotCountedError(InvalidInputError):
    code = "region_not_counted"


class DraftsPrivateError(ForbiddenError):
    """Stays a plain 403 (``forbidden``) on the wire, as every permission refusal does."""


def site_of(session: Session, project_id: uuid.UUID, site_id: uuid.UUID) -> Site:
    site = session.get(Site, site_id)
    if site is None or site.project_id != project_id:
        raise SiteNotFoundError(f"No site with id {site_id} in this project.")
    return site


def series(session: Session, site: Site) -> list[Observation]:
    """The site's ready observations in time order (undated ones last, by their place in the series)."""
    return list(
        session.scalars(
            select(Observation)
            .where(Observation.site_id == site.id, Observation.status == ObservationStatus.READY)
            .order_by(Observation.acquired_on.asc().nulls_last(), Observation.index, Observation.id)
        )
    )


def check_include(include: Include, *, drafts_private: bool) -> None:
    """Annotators of a project that keeps drafts private see approved labels only (the ground truth)."""
    if include == "all" and drafts_private:
        raise DraftsPrivateError(
            "This project keeps annotators' drafts private, so annotators see approved labels only: "
            "leave out include=all."
        )


@dataclass(frozen=True)
class _Counted:
    observations: list[Observation]
    standing: dict[uuid.UUID, uuid.UUID]  # observation id -> its standing annotation
    counted: set[uuid.UUID]


def _counted(session: Session, observations: Sequence[Observation], include: Include) -> _Counted:
    standing = task_annotations(session, [o.id for o in observations])
    if include == "approved":
        counted = {o.id for o in observations if o.task_state is TaskState.APPROVED}
    else:  # every task with an annotation, and approved ones (an approved task without one is empty)
        counted = {o.id for o in observations if o.id in standing or o.task_state is TaskState.APPROVED}
    return _Counted(list(observations), standing, counted)


def _georeferenced(observation: Observation) -> bool:
    return bool(observation.is_georeferenced and observation.crs and observation.transform)


def _unit(observations: Sequence[Observation]) -> tuple[AreaUnit, UnitReason | None]:
    for observation in observations:
        if not _georeferenced(observation):
            return "px", UnitReason(
                code="not_georeferenced",
                observation_id=observation.id,
                message=f"{observation.original_filename} has no georeferencing, so areas are in pixels "
                "of the images' shared pixel grid; georeference it (PATCH /api/observations/{id}) for "
                "hectares.",
            )
    return "ha", None


def timeline(
    session: Session, project: Project, site: Site, include: Include, *, drafts_private: bool
) -> Timeline:
    """Every ready observation of the site with its area per class (standing annotation, counted dates
    only) and the champion model's predicted area per class."""
    check_include(include, drafts_private=drafts_private)
    found = _counted(session, series(session, site), include)
    counted = [o for o in found.observations if o.id in found.counted]
    unit, reason = _unit(counted)
    labels = _areas(
        repo.annotation_areas(session, [found.standing[o.id] for o in counted if o.id in found.standing]),
        unit,
    )
    best = champion(session, project.id)
    predicted = (
        _areas(repo.prediction_areas(session, [o.id for o in found.observations], best.name), unit)
        if best is not None
        else {}
    )
    entries = [
        TimelineEntry(
            observation_id=o.id,
            index=o.index,
            acquired_on=o.acquired_on,
            task_state=o.task_state,
            georeferenced=_georeferenced(o),
            thumbnail_url=f"/api/observations/{o.id}/thumbnail?v={site.render_version}"
            if o.thumbnail_key
            else None,
            counted=o.id in found.counted,
            labels=labels.get(o.id, []),
            predicted=predicted.get(o.id, []),
        )
        for o in found.observations
    ]
    return Timeline(
        site_id=site.id,
        site_name=site.name,
        include=include,
        unit=unit,
        reason=reason,
        classes=parse_labeling_config(project.labeling_config).class_names,
        champion=best.name if best is not None else None,
        observations=entries,
    )


def _areas(rows: Sequence[repo.AreaRow], unit: AreaUnit) -> dict[uuid.UUID, list[AreaOnDate]]:
    by_observation: dict[uuid.UUID, list[AreaOnDate]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.label):
        area = row.area_ha if unit == "ha" else row.area_px
        by_observation[row.observation_id].append(
            AreaOnDate(label=row.label, regions=row.regions, area=float(area or 0.0))
        )
    return by_observation


def change(
    session: Session,
    site: Site,
    include: Include,
    *,
    before_id: uuid.UUID | None,
    after_id: uuid.UUID | None,
    crs: ChangeCrs,
    drafts_private: bool,
) -> Change:
    """Per class what was gained, lost and unchanged between two counted dates of the site, with the gained
    and lost polygons.

    Args:
        before_id, after_id: the two dates; by default the last two counted ones (``after_id`` alone: it and
            the counted date before it).
        crs: the polygons' coordinates (``metric``: as compared; ``pixel``: the later image's pixels).
    """
    check_include(include, drafts_private=drafts_private)
    found = _counted(session, series(session, site), include)
    before, after = _pair(found, include, before_id, after_id)
    space_ground = _georeferenced(before) and _georeferenced(after)
    unit, reason = _unit([before, after])
    if crs == "EPSG:4326" and not space_ground:
        raise InvalidInputError(
            "crs=EPSG:4326 needs both images georeferenced; ask for crs=metric or crs=pixel (pixels).",
            field="crs",
        )
    srid = _site_srid(session, site, after) if space_ground else None
    output = repo.Output(
        kind="wgs84" if crs == "EPSG:4326" else crs, crs=after.crs, transform=after.transform
    )
    annotations = [found.standing[o.id] for o in (before, after) if o.id in found.standing]
    rows = repo.class_change(
        session,
        after_observation=after.id,
        annotations=annotations,
        space="utm" if space_ground else "pixel",
        srid=srid,
        output=output,
    )
    features = [
        ChangeFeature(
            geometry=json.loads(geometry),
            properties=ChangeProperties(label=row.label, change=kind, area=area),
        )
        for row in rows
        for kind, geometry, area in (
            ("gained", row.gained_geojson, row.gained),
            ("lost", row.lost_geojson, row.lost),
        )
        if geometry is not None
    ]
    return Change(
        site_id=site.id,
        before=_end(before),
        after=_end(after),
        include=include,
        space="utm" if space_ground else "pixel",
        metric_crs=f"EPSG:{srid}" if srid else None,
        unit=unit,
        reason=reason,
        classes=[
            ClassChange(
                label=r.label,
                before=r.before,
                after=r.after,
                gained=r.gained,
                lost=r.lost,
                unchanged=r.unchanged,
            )
            for r in rows
        ],
        crs=crs,
        features=features,
    )


def _end(observation: Observation) -> ChangeEnd:
    return ChangeEnd(
        observation_id=observation.id, acquired_on=observation.acquired_on, task_state=observation.task_state
    )


def _pair(
    found: _Counted, include: Include, before_id: uuid.UUID | None, after_id: uuid.UUID | None
) -> tuple[Observation, Observation]:
    by_id = {o.id: o for o in found.observations}
    counted = [o for o in found.observations if o.id in found.counted]
    for name, given in (("before", before_id), ("after", after_id)):
        if given is None:
            continue
        if given not in by_id:
            raise NotInSeriesError(
                f"{name}: observation {given} is no ready observation of this site.", field=name
            )
        if given not in found.counted:
            state = by_id[given].task_state.value
            hint = "approve it first, or ask with include=all" if include == "approved" else "label it first"
            raise NotInSeriesError(
                f"{name}: observation {given} ({state}) does not count: {hint}.", field=name
            )
    if after_id is None and before_id is None:
        if len(counted) < 2:
            raise NotInSeriesError(
                f"The site has {len(counted)} date(s) that count ({include}); change needs two."
                + (" Ask with include=all to count tasks not approved yet." if include == "approved" else "")
            )
        return counted[-2], counted[-1]
    if before_id is None:
        assert after_id is not None
        place = counted.index(by_id[after_id])
        if place == 0:
            raise NotInSeriesError(
                "after: it is the site's first date that counts; nothing is before it.", field="after"
            )
        return counted[place - 1], by_id[after_id]
    if after_id is None:
        place = counted.index(by_id[before_id])
        if place == len(counted) - 1:
            raise NotInSeriesError(
                "before: it is the site's last date that counts; nothing is after it.", field="before"
            )
        return by_id[before_id], counted[place + 1]
    if before_id == after_id:
        raise NotInSeriesError("before and after are the same observation; choose two dates.", field="after")
    first, second = by_id[before_id], by_id[after_id]
    if counted.index(first) > counted.index(second):
        first, second = second, first  # compared in time order, whichever way they were named
    return first, second


def _site_srid(session: Session, site: Site, fallback: Observation) -> int:
    """The site's UTM zone from its footprints; without any, from the centre of the later image."""
    srid = repo.site_utm_srid(session, site.id)
    if srid is not None:
        return srid
    assert fallback.transform is not None and fallback.crs is not None
    a, b, c, d, e, f = fallback.transform[:6]
    col, row = fallback.width / 2, fallback.height / 2
    xs, ys = transform_points(fallback.crs, "EPSG:4326", [a * col + b * row + c], [d * col + e * row + f])
    return int(utm_crs(ys[0], xs[0]).split(":")[1])


def lineage(
    session: Session, site: Site, region_id: uuid.UUID, include: Include, *, drafts_private: bool
) -> Lineage:
    """One region followed through time: per date that counts, its ancestor or descendants there and
    their area (the standing annotation's regions only, as on the timeline)."""
    check_include(include, drafts_private=drafts_private)
    found = _counted(session, series(session, site), include)
    counted = [o for o in found.observations if o.id in found.counted]
    rows = repo.lineage(session, region_id, [found.standing[o.id] for o in counted if o.id in found.standing])
    if region_id not in {r.region_id for r in rows}:
        region = session.get(Region, region_id)
        observation = session.get(Observation, region.observation_id) if region is not None else None
        if observation is None or observation.site_id != site.id:
            raise RegionNotFoundError(f"No region with id {region_id} on this site.")
        hint = ", or ask with include=all" if include == "approved" else ""
        raise RegionNotCountedError(
            f"Region {region_id} is not among the labels that count on this site ({include}): choose a "
            f"live region of a date's standing annotation (its ground truth once approved){hint}.",
            field="region_id",
        )
    by_observation: dict[uuid.UUID, list[repo.LineageRow]] = defaultdict(list)
    for row in rows:
        by_observation[row.observation_id].append(row)
    dates = [o for o in counted if o.id in by_observation]
    unit, reason = _unit(dates)
    steps = [
        LineageStep(
            observation_id=o.id,
            index=o.index,
            acquired_on=o.acquired_on,
            task_state=o.task_state,
            region_ids=sorted(r.region_id for r in by_observation[o.id]),
            labels=sorted({r.label for r in by_observation[o.id]}),
            area=sum(float((r.area_ha if unit == "ha" else r.area_px) or 0.0) for r in by_observation[o.id]),
        )
        for o in dates
    ]
    return Lineage(
        site_id=site.id, region_id=region_id, include=include, unit=unit, reason=reason, steps=steps
    )


def overview(
    session: Session,
    project: Project,
    include: Include,
    *,
    label: str | None,
    date_from: date | None,
    date_to: date | None,
    order: OverviewOrder,
    drafts_private: bool,
) -> ChangeOverview:
    """Every site's areas per date that counts (of one class, or all) and its last interval's change,
    ranked by that change (or growth); from stored region areas, as the timeline counts them."""
    check_include(include, drafts_private=drafts_private)
    classes = parse_labeling_config(project.labeling_config).class_names
    if label is not None and label not in classes:
        raise InvalidInputError(
            f"label: {label!r} is no class of this project; choose one of {', '.join(classes)}, or "
            "leave it out for all classes.",
            field="label",
        )
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidInputError(
            f"from ({date_from}) is after to ({date_to}): give the earlier date as from.", field="from"
        )
    rows = repo.overview_rows(
        session, project.id, all_tasks=include == "all", label=label, date_from=date_from, date_to=date_to
    )
    dated = [r for r in rows if r.observation_id is not None]
    plain = next((r for r in dated if not r.georeferenced), None)
    unit: AreaUnit = "px" if plain is not None else "ha"
    reason = None
    if plain is not None:
        assert plain.observation_id is not None
        reason = UnitReason(
            code="not_georeferenced",
            observation_id=plain.observation_id,
            message=f"{plain.original_filename} has no georeferencing, so areas are in pixels; georeference "
            "it (PATCH /api/observations/{id}) for hectares.",
        )
    by_site: dict[uuid.UUID, list[repo.OverviewRow]] = defaultdict(list)
    names: dict[uuid.UUID, str] = {}
    for row in rows:
        names[row.site_id] = row.site_name
        if row.observation_id is not None:
            by_site[row.site_id].append(row)
    sites = [_summary(site_id, names[site_id], by_site.get(site_id, []), unit) for site_id in names]

    def rank(summary: SiteChangeSummary) -> tuple[bool, float, str]:
        value = summary.change if order == "change" else summary.growth_pct
        # Ranked largest first; a site that appeared (no growth in percent) leads the growth order.
        if order == "growth" and value is None and summary.change is not None and summary.change > 0:
            value = float("inf")
        return (value is None, -(value or 0.0), summary.site_name)

    return ChangeOverview(
        project_id=project.id,
        include=include,
        label=label,
        date_from=date_from,
        date_to=date_to,
        order=order,
        unit=unit,
        reason=reason,
        sites=sorted(sites, key=rank),
    )


def _summary(
    site_id: uuid.UUID, name: str, rows: Sequence[repo.OverviewRow], unit: AreaUnit
) -> SiteChangeSummary:
    points = [
        OverviewPoint(
            observation_id=r.observation_id,
            acquired_on=r.acquired_on,
            index=r.index,
            area=(r.area_ha or 0.0) if unit == "ha" else r.area_px,
        )
        for r in rows
        if r.observation_id is not None
    ]
    before, after = (points[-2], points[-1]) if len(points) >= 2 else (None, None)
    change = after.area - before.area if before is not None and after is not None else None
    growth = (
        100.0 * change / before.area
        if change is not None and before is not None and before.area > 0
        else None
    )
    return SiteChangeSummary(
        site_id=site_id,
        site_name=name,
        dates=len(points),
        series=points,
        before=before,
        after=after,
        change=change,
        growth_pct=growth,
    )
