"""SQL for a project's progress: tasks by state, work per annotator, areas per class."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from app.repositories.ground_truth import task_annotations_sql


def tasks_by_state(session: Session, project_id: uuid.UUID) -> dict[str, int]:
    rows = session.execute(
        text(
            """
            SELECT task_state::text, count(*) FROM observations
             WHERE project_id = :project AND status = 'ready' GROUP BY task_state
            """
        ),
        {"project": project_id},
    )
    return {state: count for state, count in rows}


def per_annotator(session: Session, project_id: uuid.UUID) -> list[Row[Any]]:
    """Per user with work in the project: assignments in progress / submitted, their tasks' decisions,
    and what their live annotations hold."""
    sql = text(
        """
        WITH work AS (
            SELECT s.user_id,
                   count(*) FILTER (WHERE s.state = 'in_progress' AND o.task_state <> 'rejected')
                       AS in_progress,
                   count(*) FILTER (WHERE s.state = 'submitted'
                                      AND o.task_state IN ('submitted', 'in_progress')) AS submitted,
                   count(*) FILTER (WHERE o.task_state = 'approved') AS approved,
                   count(*) FILTER (WHERE o.task_state = 'rejected') AS rejected
              FROM assignments s JOIN observations o ON o.id = s.observation_id
             WHERE s.project_id = :project
             GROUP BY s.user_id
        ), drawn AS (
            SELECT a.created_by AS user_id, count(r.id) AS regions, coalesce(sum(r.area_ha), 0) AS area_ha
              FROM annotations a JOIN regions r ON r.annotation_id = a.id AND r.deleted_at IS NULL
             WHERE a.project_id = :project AND a.deleted_at IS NULL
             GROUP BY a.created_by
        )
        SELECT u.id AS user_id, u.email,
               coalesce(w.in_progress, 0) AS in_progress, coalesce(w.submitted, 0) AS submitted,
               coalesce(w.approved, 0) AS approved, coalesce(w.rejected, 0) AS rejected,
               coalesce(d.regions, 0) AS regions, coalesce(d.area_ha, 0) AS area_ha
          FROM users u LEFT JOIN work w ON w.user_id = u.id LEFT JOIN drawn d ON d.user_id = u.id
         WHERE w.user_id IS NOT NULL OR d.user_id IS NOT NULL
         ORDER BY u.email
        """
    )
    return list(session.execute(sql, {"project": project_id}))


def areas_per_class(session: Session, project_id: uuid.UUID) -> list[Row[Any]]:
    """Per class: regions and areas in the annotation that stands for each task (its ground truth once
    approved; app.repositories.ground_truth), in all tasks and in approved ones."""
    sql = text(
        f"""
        WITH standing AS ({task_annotations_sql(by_project=True)})
        SELECT r.label, count(*) AS regions, sum(r.area_px) AS area_px, sum(r.area_ha) AS area_ha,
               coalesce(sum(r.area_ha) FILTER (WHERE o.task_state = 'approved'), 0) AS approved_area_ha
          FROM regions r
          JOIN standing s ON s.annotation_id = r.annotation_id
          JOIN observations o ON o.id = r.observation_id
         WHERE r.project_id = :project AND r.deleted_at IS NULL
         GROUP BY r.label ORDER BY r.label
        """  # noqa: S608 (fixed SQL)
    )
    return list(session.execute(sql, {"project": project_id}))
