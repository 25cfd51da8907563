"""A small project world for access and workflow tests: users in every role, a real (tiny) image, a task
in progress with an annotation, a prediction, a comment, a job and a token; and a second project."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.core.config import LimitSettings, TileSettings
from app.imagery.storage import Storage, observation_prefix
from app.models import (
    ApiToken,
    Dataset,
    DatasetState,
    GeorefSource,
    Job,
    JobKind,
    JobQueue,
    ModelState,
    ModelVersion,
    Observation,
    ObservationStatus,
    Prediction,
    Project,
    ProjectMember,
    ProjectRole,
    Region,
    ReviewComment,
    Site,
    User,
)
from app.services import annotations as annotation_service
from app.services import workflow
from app.services.auth import create_api_token
from app.services.imagery_processing import process_observations
from app.services.predictions import create_prediction
from app.services.users import create_user
from tests.imagery.factories import write_geotiff

PASSWORD = "correct horse battery"
LEASE = timedelta(minutes=30)


def square(x: float, y: float, size: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]],
    }


def ring(points: list[tuple[float, float]]) -> dict[str, Any]:
    """A Polygon through ``points`` (closed here)."""
    return {"type": "Polygon", "coordinates": [[*map(list, points), list(points[0])]]}


def with_hole() -> dict[str, Any]:
    """A 150 px square from the origin with a 20 px hole at (60, 60): 22,100 px."""
    outer = [[0, 0], [150, 0], [150, 150], [0, 150], [0, 0]]
    hole = [[60, 60], [80, 60], [80, 80], [60, 80], [60, 60]]
    return {"type": "Polygon", "coordinates": [outer, hole]}


def two_parts() -> dict[str, Any]:
    """A MultiPolygon of a 20 px square at (160, 160) and a 10 px square at (100, 170)."""
    return {
        "type": "MultiPolygon",
        "coordinates": [square(160, 160, 20)["coordinates"], square(100, 170, 10)["coordinates"]],
    }


def region_input(label: str, geometry: dict[str, Any]) -> annotation_service.RegionInput:
    return annotation_service.RegionInput(label=label, geometry=geometry)


def make_user(session: Session, name: str, *, is_admin: bool = False) -> User:
    return create_user(session, email=f"{name}-{uuid.uuid4().hex[:6]}@test.local", password=PASSWORD,
                       is_admin=is_admin)  # fmt: skip


def add_member(session: Session, project: Project, user: User, role: ProjectRole) -> None:
    session.add(ProjectMember(project_id=project.id, user_id=user.id, role=role))
    session.commit()


def make_project(session: Session, name: str, **fields: Any) -> Project:
    project = Project(name=f"{name}-{uuid.uuid4().hex[:6]}", **fields)
    session.add(project)
    session.commit()
    return project


def make_task(
    session: Session, storage: Storage, project: Project, tmp: Path, *, site: str = "0854", index: int = 0,
    real_image: bool = False,
) -> Observation:  # fmt: skip
    """A ready 200 x 200 px observation; with ``real_image`` it has a real COG and thumbnail (slower)."""
    site_row = session.query(Site).filter_by(project_id=project.id, name=site).one_or_none()
    if site_row is None:
        site_row = Site(project_id=project.id, name=site)
        session.add(site_row)
        session.flush()
    observation = Observation(
        project_id=project.id, site_id=site_row.id, index=index, original_filename=f"{site}_{index:03}.tif",
        content_hash=uuid.uuid4().hex, size_bytes=1, driver="GTiff", width=200, height=200, band_count=3,
        band_names=["red", "green", "blue"], dtype="uint8", has_alpha=False, georef_source=GeorefSource.NONE,
        status=ObservationStatus.PROCESSING if real_image else ObservationStatus.READY, original_key="none",
    )  # fmt: skip
    session.add(observation)
    session.flush()
    if real_image:
        local = tmp / f"{observation.id}.tif"
        write_geotiff(local, width=200, height=200, crs=None)
        observation.original_key = f"{observation_prefix(project.id, observation.id)}/original.tif"
        storage.put_file(local, observation.original_key)
        session.commit()
        process_observations(session, storage, [observation.id], TileSettings(), lambda *_: None, tmp)
    session.commit()
    return observation


@dataclass
class World:
    project: Project
    other_project: Project
    task: Observation
    site_admin: User
    admin: User
    reviewer: User
    annotator: User  # labels the task now: owns its annotation
    other_annotator: User  # a member with no work on the task
    outsider: User  # a member of the other project only
    annotation_id: uuid.UUID
    region: Region
    prediction: Prediction
    comment: ReviewComment  # the reviewer's
    job: Job  # the annotator's
    token: ApiToken  # the annotator's
    dataset: Dataset  # ready, with no chips
    model_version: ModelVersion  # trained, the champion, with no files
    keys: dict[str, str]  # user name -> API key

    def users(self) -> dict[str, User]:
        return {
            "site_admin": self.site_admin, "admin": self.admin, "reviewer": self.reviewer,
            "annotator": self.annotator, "other_annotator": self.other_annotator, "outsider": self.outsider,
        }  # fmt: skip


def build_world(session: Session, storage: Storage, tmp: Path, *, real_image: bool = False) -> World:
    site_admin = make_user(session, "siteadmin", is_admin=True)
    admin, reviewer = make_user(session, "admin"), make_user(session, "reviewer")
    annotator, other_annotator, outsider = (
        make_user(session, "ann"),
        make_user(session, "ann2"),
        make_user(session, "outsider"),
    )
    project = make_project(session, "world")
    other = make_project(session, "elsewhere")
    roles = [(admin, ProjectRole.ADMIN), (reviewer, ProjectRole.REVIEWER), (annotator, ProjectRole.ANNOTATOR),
             (other_annotator, ProjectRole.ANNOTATOR)]  # fmt: skip
    for user, role in roles:
        add_member(session, project, user, role)
    add_member(session, other, outsider, ProjectRole.ADMIN)
    task = make_task(session, storage, project, tmp, real_image=real_image)
    handout = workflow.next_task(session, project, annotator.id, LEASE)
    assert handout is not None and handout.task.id == task.id
    annotation_id = handout.assignment.annotation_id
    assert annotation_id is not None
    result = annotation_service.add_region(
        session,
        annotation_id,
        1,
        region_input("Pit", square(20, 20, 50)),
        LimitSettings(),
        user_id=annotator.id,
    )
    session.commit()
    prediction, _ = create_prediction(
        session, task, "sam-test", 0.9, [region_input("Pit", square(100, 100, 30))], LimitSettings()
    )
    comment = ReviewComment(
        project_id=project.id, observation_id=task.id, author_id=reviewer.id, body="check"
    )
    job = Job(
        kind=JobKind.PROBE, queue=JobQueue.CPU, params={}, created_by=annotator.id, project_id=project.id
    )
    dataset = Dataset(project_id=project.id, state=DatasetState.READY, classes=["Pit"], band_count=3)
    session.add_all([comment, job, dataset])
    session.flush()
    version = ModelVersion(
        project_id=project.id,
        number=1,
        name="unet-v1",
        dataset_id=dataset.id,
        state=ModelState.TRAINED,
        classes=["Pit"],
        in_channels=3,
        is_champion=True,
    )
    session.add(version)
    session.commit()
    token, _ = create_api_token(session, annotator, "annotator's script")
    world = World(
        project=project, other_project=other, task=task, site_admin=site_admin, admin=admin,
        reviewer=reviewer,
        annotator=annotator, other_annotator=other_annotator, outsider=outsider, annotation_id=annotation_id,
        region=result.regions[0], prediction=prediction, comment=comment, job=job, token=token,
        dataset=dataset, model_version=version, keys={},
    )  # fmt: skip
    for name, user in world.users().items():
        world.keys[name] = create_api_token(session, user, "tests")[1]
    return world
