"""Which tasks and regions an export takes: the filters every export format shares, and the SQL for them.

Tasks are read in batches in a fixed order (site name, observation index), so that an export streams in
constant memory whatever the project's size, and the same selection always gives the same file.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from app.core.errors import InvalidInputError
from app.models.observation import TaskState
from app.repositories.ground_truth import task_annotations_sql

TASK_BATCH = 250  # tasks per round of queries: peak memory follows it (about 75 MB at 250, 10 polygons each)


# "none": predictions only (with ``model_version``, the mining areas one model found, per site and date).
AnnotationChoice = Literal["ground_truth", "all", "none"]


@dataclass(frozen=True)
class Selection:
    """Empty tuples mean: no filter. By default only approved tasks are exported, each with its ground
    truth (``annotations="ground_truth"``: one annotation per task, see app.repositories.ground_truth);
    ``"all"`` takes every live annotation of each task."""

    states: tuple[TaskState, ...] = (TaskState.APPROVED,)
    site_ids: tuple[uuid.UUID, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    classes: tuple[str, ...] = ()
    annotator_ids: tuple[uuid.UUID, ...] = ()
    include_predictions: bool = True
    annotations: AnnotationChoice = "ground_truth"
    model_version: str | None = None  # only this model version's predictions

    def check(self, known_classes: list[str]) -> None:
        unknown = [c for c in self.classes if c not in known_classes]
        if unknown:
            raise InvalidInputError(f"Unknown classes {unknown}; the project's classes are {known_classes}.")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise InvalidInputError(f"date_from {self.date_from} is after date_to {self.date_to}.")

    def describe(self) -> str:
        """The filters in the words of the export's query string, e.g. ``state=approved, label=Pit``."""
        parts = [f"state={','.join(s.value for s in self.states)}" if self.states else "all_states=true"]
        if self.site_ids:
            parts.append(f"site_id={','.join(str(s) for s in self.site_ids)}")
        if self.date_from:
            parts.append(f"date_from={self.date_from.isoformat()}")
        if self.date_to:
            parts.append(f"date_to={self.date_to.isoformat()}")
        if self.classes:
            parts.append(f"label={','.join(self.classes)}")
        if self.annotator_ids:
            parts.append(f"annotator={','.join(str(a) for a in self.annotator_ids)}")
        if self.annotations == "none":
            parts.append("annotations=none")
        if self.model_version:
            parts.append(f"model_version={self.model_version}")
        return ", ".join(parts)


@dataclass
class TaskBatch:
    tasks: list[Row[Any]]  # observation columns + site_name, site_external_id, footprint (GeoJSON text)
    ids: list[uuid.UUID] = field(default_factory=list)


def _task_filter(selection: Selection) -> tuple[str, dict[str, Any]]:
    where = ["o.project_id = :project", "o.status = 'ready'"]
    params: dict[str, Any] = {}
    if selection.states:
        where.append("o.task_state::text = ANY(:states)")
        params["states"] = [s.value for s in selection.states]
    if selection.site_ids:
        where.append("o.site_id = ANY(:sites)")
        params["sites"] = list(selection.site_ids)
    if selection.date_from:
        where.append("o.acquired_on >= :date_from")
        params["date_from"] = selection.date_from
    if selection.date_to:
        where.append("o.acquired_on <= :date_to")
        params["date_to"] = selection.date_to
    return " AND ".join(where), params


def count_tasks(session: Session, project_id: uuid.UUID, selection: Selection) -> int:
    where, params = _task_filter(selection)
    sql = f"SELECT count(*) FROM observations o WHERE {where}"  # noqa: S608 (fixed fragments, bound values)
    return int(session.scalar(text(sql), {"project": project_id, **params}) or 0)


def task_batches(
    session: Session, project_id: uuid.UUID, selection: Selection, batch: int = TASK_BATCH
) -> Iterator[TaskBatch]:
    """The selected tasks, in batches, ordered by site name and index.

    One query, read through a server-side (named) cursor ``batch`` rows at a time: the sort happens once,
    memory holds one batch, and the session's other queries run between the fetches (paging with LIMIT
    would sort the whole selection again for every batch: quadratic in the project's size).
    """
    where, params = _task_filter(selection)
    # psycopg's own placeholders: the named cursor is psycopg's, below SQLAlchemy.
    where = re.sub(r"(?<!:):(\w+)", r"%(\1)s", where)  # :name, not the ::type of a cast
    sql = f"""
        SELECT o.id, o.site_id, o.index AS observation_index, o.original_filename, o.width, o.height,
               o.acquired_on, o.crs, o.transform, o.task_state::text AS task_state, s.name AS site_name,
               s.external_id AS site_external_id, ST_AsGeoJSON(o.footprint, 7) AS footprint
          FROM observations o JOIN sites s ON s.id = o.site_id
         WHERE {where}
         ORDER BY s.name, o.index
    """  # noqa: S608 (fixed fragments, bound values)
    connection = session.connection().connection.driver_connection
    assert isinstance(connection, psycopg.Connection)
    with connection.cursor(name=f"export_tasks_{uuid.uuid4().hex}", row_factory=namedtuple_row) as cursor:
        cursor.itersize = batch
        cursor.execute(sql, {"project": project_id, **params})
        while rows := cursor.fetchmany(batch):
            tasks: list[Any] = list(rows)  # named tuples, read like SQLAlchemy rows (row.id, row.site_name)
            yield TaskBatch(tasks=tasks, ids=[r.id for r in tasks])


def annotations_of(session: Session, task_ids: list[uuid.UUID], selection: Selection) -> list[Row[Any]]:
    """Live annotations of the tasks (by the selected annotators), with their author's email and whether
    each is its task's ground truth: with ``annotations="ground_truth"`` only the one annotation that stands
    for each task (its ground truth once approved), with ``"all"`` every one."""
    if selection.annotations == "none":
        return []
    where = ["a.observation_id = ANY(:tasks)", "a.deleted_at IS NULL"]
    params: dict[str, Any] = {"tasks": task_ids}
    if selection.annotator_ids:
        where.append("a.created_by = ANY(:annotators)")
        params["annotators"] = list(selection.annotator_ids)
    if selection.annotations == "ground_truth":
        standing = task_annotations_sql(by_project=False, annotators=bool(selection.annotator_ids))
        where.append(f"a.id IN (SELECT annotation_id FROM ({standing}) AS standing)")  # noqa: S608
    sql = text(
        f"""
        SELECT a.id, a.observation_id, a.created_by, u.email, a.created_at, a.updated_at, a.lead_time,
               (a.id = o.ground_truth_annotation_id) IS TRUE AS is_ground_truth
          FROM annotations a LEFT JOIN users u ON u.id = a.created_by
          JOIN observations o ON o.id = a.observation_id
         WHERE {" AND ".join(where)}
         ORDER BY a.observation_id, a.created_at, a.id
        """  # noqa: S608 (fixed fragments, bound values)
    )
    return list(session.execute(sql, params).all())


def predictions_of(session: Session, task_ids: list[uuid.UUID], selection: Selection) -> list[Row[Any]]:
    """The tasks' predictions (only those of ``selection.model_version`` when it is set)."""
    if not selection.include_predictions:
        return []
    sql = text(
        """
        SELECT p.id, p.observation_id, p.model_version, p.score, p.created_at
          FROM predictions p
         WHERE p.observation_id = ANY(:tasks)
           AND (CAST(:model_version AS text) IS NULL OR p.model_version = :model_version)
         ORDER BY p.observation_id, p.created_at, p.id
        """
    )
    return list(session.execute(sql, {"tasks": task_ids, "model_version": selection.model_version}).all())


def class_filter_sql(selection: Selection, column: str = "r.label") -> tuple[str, dict[str, Any]]:
    if not selection.classes:
        return "TRUE", {}
    return f"{column} = ANY(:classes)", {"classes": list(selection.classes)}
