"""Agreement between annotators, computed in PostGIS: per class, the IoU of two annotations' regions."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

# For every pair of live annotations of the same task and every class that either of them drew: the
# union of each one's regions of that class, then intersection over union of the two. A class that only
# one of them drew has IoU 0. Areas are in pixels (the annotations share the image's pixel grid).
_PAIRWISE_IOU = """
WITH ann AS (
    SELECT id, observation_id, created_by FROM annotations
     WHERE project_id = :project AND deleted_at IS NULL {task_filter}
), per_class AS (
    SELECT r.annotation_id, r.label, ST_UnaryUnion(ST_Collect(r.geom)) AS g
      FROM regions r JOIN ann ON ann.id = r.annotation_id
     WHERE r.deleted_at IS NULL
     GROUP BY r.annotation_id, r.label
), pairs AS (
    SELECT a.observation_id, a.id AS a_id, a.created_by AS a_user, b.id AS b_id, b.created_by AS b_user
      FROM ann a JOIN ann b ON a.observation_id = b.observation_id AND a.id < b.id
), labels AS (
    SELECT DISTINCT p.*, pc.label
      FROM pairs p JOIN per_class pc ON pc.annotation_id IN (p.a_id, p.b_id)
)
SELECT l.observation_id, l.a_id, l.a_user, l.b_id, l.b_user, l.label,
       COALESCE(ST_Area(ST_Intersection(pa.g, pb.g)), 0) AS intersection_px,
       COALESCE(ST_Area(ST_Union(pa.g, pb.g)), ST_Area(pa.g), ST_Area(pb.g)) AS union_px,
       COALESCE(o.ground_truth_annotation_id IN (l.a_id, l.b_id), FALSE) AS with_ground_truth
  FROM labels l
  JOIN observations o ON o.id = l.observation_id
  LEFT JOIN per_class pa ON pa.annotation_id = l.a_id AND pa.label = l.label
  LEFT JOIN per_class pb ON pb.annotation_id = l.b_id AND pb.label = l.label
 ORDER BY l.observation_id, l.a_id, l.b_id, l.label
"""


def pairwise_iou(session: Session, project_id: uuid.UUID, task_id: uuid.UUID | None = None) -> list[Row[Any]]:
    """Rows (observation_id, a_id, a_user, b_id, b_user, label, intersection_px, union_px,
    with_ground_truth: one of the two is its approved task's ground truth)."""
    task_filter = "AND observation_id = :task" if task_id is not None else ""
    params: dict[str, Any] = {"project": project_id}
    if task_id is not None:
        params["task"] = task_id
    return list(session.execute(text(_PAIRWISE_IOU.format(task_filter=task_filter)), params))
