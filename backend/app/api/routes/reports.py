"""Reports for reviewers and admins: agreement between annotators, and a project's progress."""

from __future__ import annotations

import uuid
from collections import defaultdict

from fastapi import APIRouter

from app.api.access import AccessDep
from app.api.deps import SessionDep
from app.repositories import progress as progress_repo
from app.repositories.agreement import pairwise_iou
from app.schemas.review import (
    AgreementReport,
    AnnotatorProgress,
    ClassAgreement,
    ClassArea,
    PairAgreement,
    ProgressReport,
)

router = APIRouter(tags=["reports"])


def agreement_report(
    session: SessionDep, project_id: uuid.UUID, task_id: uuid.UUID | None
) -> AgreementReport:
    pairs = [
        PairAgreement(
            observation_id=row.observation_id,
            annotation_a=row.a_id,
            user_a=row.a_user,
            annotation_b=row.b_id,
            user_b=row.b_user,
            label=row.label,
            intersection_px=row.intersection_px,
            union_px=row.union_px,
            iou=row.intersection_px / row.union_px if row.union_px else 0.0,
            with_ground_truth=row.with_ground_truth,
        )
        for row in pairwise_iou(session, project_id, task_id)
    ]
    by_class: dict[str, list[PairAgreement]] = defaultdict(list)
    for pair in pairs:
        by_class[pair.label].append(pair)
    per_class = []
    for label, of_class in sorted(by_class.items()):
        ious = [p.iou for p in of_class]
        truth = [p.iou for p in of_class if p.with_ground_truth]
        per_class.append(
            ClassAgreement(
                label=label,
                pairs=len(ious),
                mean_iou=sum(ious) / len(ious),
                min_iou=min(ious),
                ground_truth_pairs=len(truth),
                ground_truth_mean_iou=sum(truth) / len(truth) if truth else None,
            )
        )
    return AgreementReport(pairs=pairs, per_class=per_class)


@router.get(
    "/api/observations/{observation_id}/agreement",
    response_model=AgreementReport,
    summary="Per-class IoU between each pair of the task's annotations",
)
def task_agreement(observation_id: uuid.UUID, session: SessionDep, access: AccessDep) -> AgreementReport:
    assert access.target is not None and access.target.project_id is not None
    return agreement_report(session, access.target.project_id, observation_id)


@router.get(
    "/api/projects/{project_id}/agreement",
    response_model=AgreementReport,
    summary="Agreement over every task with several annotations, per pair and per class",
)
def project_agreement(project_id: uuid.UUID, session: SessionDep) -> AgreementReport:
    return agreement_report(session, project_id, None)


@router.get(
    "/api/projects/{project_id}/progress",
    response_model=ProgressReport,
    summary="Tasks by state, work per annotator, and areas per class",
)
def project_progress(project_id: uuid.UUID, session: SessionDep) -> ProgressReport:
    states = progress_repo.tasks_by_state(session, project_id)
    return ProgressReport(
        tasks_by_state=states,
        tasks_total=sum(states.values()),
        per_annotator=[
            AnnotatorProgress(**row._mapping) for row in progress_repo.per_annotator(session, project_id)
        ],
        per_class=[ClassArea(**row._mapping) for row in progress_repo.areas_per_class(session, project_id)],
    )
