"""Which annotation stands for each task, in SQL: for an approved task its ground truth (recorded when it
was approved), for a task still being worked on its most recently saved live annotation (also for an
approved task that has no ground truth recorded: one whose state was set by other means than approving).

Every consumer asks this one rule (exports, masks and chips, label statistics and the dashboard,
agreement, copy-forward, training datasets), so that no two of them read a task differently, and areas
are never summed over several people's annotations of the same scene.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# One row per task that has one: (observation_id, annotation_id). {scope} and {annotators} are filled in
# by task_annotations_sql; an approved task whose ground truth the annotator filter leaves out has none.
_TASK_ANNOTATION = """
SELECT DISTINCT ON (o.id) o.id AS observation_id, a.id AS annotation_id
  FROM observations o
  JOIN annotations a ON a.observation_id = o.id AND a.deleted_at IS NULL
 WHERE {scope}
   AND (o.task_state <> 'approved' OR o.ground_truth_annotation_id IS NULL
        OR a.id = o.ground_truth_annotation_id)
   {annotators}
 ORDER BY o.id, a.updated_at DESC, a.created_at DESC, a.id DESC
"""


def task_annotations_sql(*, by_project: bool, annotators: bool = False) -> str:
    """The rule as a SELECT to use in a CTE. Parameters: ``:project`` (by_project) or ``:tasks`` (a list of
    observation ids), and ``:annotators`` (a list of user ids) when ``annotators``."""
    return _TASK_ANNOTATION.format(
        scope="o.project_id = :project" if by_project else "o.id = ANY(:tasks)",
        annotators="AND a.created_by = ANY(:annotators)" if annotators else "",
    )


def task_annotations(
    session: Session, task_ids: Sequence[uuid.UUID], annotator_ids: Sequence[uuid.UUID] = ()
) -> dict[uuid.UUID, uuid.UUID]:
    """Per task (of those given), the annotation that stands for it; tasks without one are left out."""
    if not task_ids:
        return {}
    params: dict[str, Any] = {"tasks": list(task_ids)}
    if annotator_ids:
        params["annotators"] = list(annotator_ids)
    sql = text(task_annotations_sql(by_project=False, annotators=bool(annotator_ids)))
    return {row.observation_id: row.annotation_id for row in session.execute(sql, params)}
