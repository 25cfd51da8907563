"""SAM's pre-labels take their class from the champion segmentation model's predictions on the same image
when the previous date cannot class them (real PostGIS; the SAM part is its classing rule)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from shapely.geometry import box
from sqlalchemy.orm import Session

from app.core.config import LimitSettings
from app.models import ModelState, ModelVersion
from app.services.predictions import create_prediction
from tests.world import make_project, make_task, region_input, square

pytest.importorskip("torch", reason="the ml group is not installed: MINELABEL_SKIP_ML=1")


def test_a_mask_takes_the_class_of_the_champions_prediction(
    db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    from workers.ml.sam.prelabel import champion_references, class_from_previous

    project = make_project(db_session, "sam-classes")
    task = make_task(db_session, app.state.storage, project, tmp_path)
    assert champion_references(db_session, task) == []  # no champion: nothing to class by
    limits = LimitSettings()
    create_prediction(db_session, task, "unet-v1", 0.9, [region_input("Pit", square(20, 20, 50))], limits)
    create_prediction(
        db_session, task, "unet-v2", 0.9, [region_input("Infrastructure", square(20, 20, 50))], limits
    )
    for number, champion in [(1, True), (2, False)]:
        db_session.add(
            ModelVersion(
                project_id=project.id,
                number=number,
                name=f"unet-v{number}",
                state=ModelState.TRAINED,
                classes=["Pit"],
                is_champion=champion,
            )
        )
    db_session.commit()

    references = champion_references(db_session, task)
    assert [label for label, _ in references] == ["Pit"]  # the champion's, not the candidate's
    assert class_from_previous(box(22, 22, 68, 68), references) == "Pit"
    assert class_from_previous(box(100, 100, 150, 150), references) is None  # overlaps nothing
