"""SQL for projects, sites and observations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.models.observation import Observation, ObservationStatus
from app.models.project import Project, Site


def get_project(session: Session, project_id: uuid.UUID) -> Project | None:
    return session.get(Project, project_id)


def get_project_by_name(session: Session, name: str) -> Project | None:
    return session.scalars(select(Project).where(Project.name == name)).one_or_none()


def list_projects(session: Session) -> Sequence[Project]:
    return session.scalars(select(Project).order_by(Project.name)).all()


def get_site_by_name(
    session: Session, project_id: uuid.UUID, name: str, *, for_update: bool = False
) -> Site | None:
    stmt = select(Site).where(Site.project_id == project_id, Site.name == name)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def list_sites(session: Session, project_id: uuid.UUID) -> Sequence[Site]:
    return session.scalars(select(Site).where(Site.project_id == project_id).order_by(Site.name)).all()


def observations_by_hash(
    session: Session, project_id: uuid.UUID, hashes: list[str]
) -> dict[str, Observation]:
    rows = session.scalars(
        select(Observation).where(Observation.project_id == project_id, Observation.content_hash.in_(hashes))
    )
    return {row.content_hash: row for row in rows}


def used_indexes(session: Session, site_id: uuid.UUID) -> set[int]:
    return set(session.scalars(select(Observation.index).where(Observation.site_id == site_id)))


def list_observations(
    session: Session, project_id: uuid.UUID, *, site_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[Sequence[Observation], int]:
    stmt = select(Observation).where(Observation.project_id == project_id)
    if site_id is not None:
        stmt = stmt.where(Observation.site_id == site_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.join(Site, Site.id == Observation.site_id)
        .order_by(Site.name, Observation.index)
        .limit(limit)
        .offset(offset)
    ).all()
    return rows, total


def ready_observations_of_site(session: Session, site_id: uuid.UUID) -> Sequence[Observation]:
    return session.scalars(
        select(Observation)
        .where(Observation.site_id == site_id, Observation.status == ObservationStatus.READY)
        .order_by(Observation.index)
    ).all()


def observations_of_ingest_job(
    session: Session, job_id: uuid.UUID, status: ObservationStatus
) -> Sequence[Observation]:
    return session.scalars(
        select(Observation).where(Observation.ingest_job_id == job_id, Observation.status == status)
    ).all()


def georeferenced_observations(
    session: Session, project_id: uuid.UUID, site_id: uuid.UUID | None = None
) -> Sequence[Observation]:
    """The ready observations of a project (or of one of its sites) that have a CRS and a transform."""
    stmt = select(Observation).where(
        Observation.project_id == project_id,
        Observation.status == ObservationStatus.READY,
        Observation.crs.is_not(None),
        Observation.transform.is_not(None),
    )
    if site_id is not None:
        stmt = stmt.where(Observation.site_id == site_id)
    return session.scalars(stmt.order_by(Observation.site_id, Observation.index)).all()


def footprint_overlaps(
    session: Session, observation_ids: Sequence[uuid.UUID], geometries_wgs84: Sequence[bytes]
) -> list[tuple[int, uuid.UUID]]:
    """Which of the observations' footprints each geometry (WKB, EPSG:4326) overlaps, through the footprints'
    spatial index: (the geometry's position in ``geometries_wgs84``, the observation's id) pairs."""
    if not observation_ids or not geometries_wgs84:
        return []
    rows = session.execute(
        text(
            "SELECT f.i - 1 AS position, o.id FROM unnest(CAST(:g AS bytea[])) WITH ORDINALITY AS f(g, i) "
            "JOIN observations o ON o.footprint && ST_GeomFromWKB(f.g, 4326) "
            "AND ST_Intersects(o.footprint, ST_GeomFromWKB(f.g, 4326)) "
            "WHERE o.id = ANY(:ids) ORDER BY 1, o.id"
        ),
        {"g": list(geometries_wgs84), "ids": list(observation_ids)},
    )
    return [(int(position), observation_id) for position, observation_id in rows]
