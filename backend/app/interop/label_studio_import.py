"""Label Studio JSON import: a Label Studio export becomes annotations and predictions of the project.

Tasks are matched to observations by file name: ``data.minelabel.filename`` when the file came from
MineLabel, else the base name of the image reference (``/data/local-files/?d=dir/name.png``,
``/data/upload/<project>/<8 hex>-name.png`` as Label Studio renames uploads, or a URL). Everything is checked
first; one bad item rejects the whole file with a list of every problem (task, annotation and result by
index) and nothing is stored. Annotations and predictions remember a key made from the observation, the
item's id and its results, so importing the same file again adds nothing.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import orjson
from sqlalchemy import select

from app.core.errors import InvalidInputError
from app.core.security import hash_password
from app.interop.imports import (
    ImportContext,
    ImportFormat,
    ImportProblem,
    ImportReport,
    imported_before,
    load_json_document,
    register,
    reject,
)
from app.interop.label_studio_lint import image_reference_problem, points_problem
from app.interop.sniff import looks_like, sniff_json
from app.labels.geometry import check_region_geometry
from app.models.access import ProjectMember
from app.models.annotation import Annotation, Prediction, RegionSource
from app.models.observation import Observation, ObservationStatus, TaskState
from app.models.user import User
from app.repositories import users as users_repo
from app.services import annotations as annotation_service
from app.services import predictions as prediction_service
from app.services import workflow

IMPORTED_USER_EMAIL = "imported@minelabel.local"
_LISTED_TASKS = 20  # tasks named one by one in a note
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


@dataclass
class _Item:
    """One annotation or prediction to store."""

    key: str
    regions: list[annotation_service.RegionInput]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    lead_time: float | None = None
    email: str | None = None  # completed_by, when it names one
    model_version: str = ""
    score: float | None = None


@dataclass
class _Task:
    observation: Observation
    state: TaskState | None
    annotations: list[_Item] = field(default_factory=list)
    predictions: list[_Item] = field(default_factory=list)


def filename_of(reference: str) -> str:
    """The image's file name in a Label Studio image reference."""
    parsed = urlparse(reference)
    path = parsed.path
    if path.endswith("/data/local-files/") or path.endswith("/data/local-files"):
        path = parse_qs(parsed.query).get("d", [""])[0]
    name = posixpath.basename(unquote(path))
    if "/data/upload/" in parsed.path:
        name = _UPLOAD_PREFIX.sub("", name)
    return name


def _time(value: object, where: str, problems: list[ImportProblem], **at: int) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    problems.append(ImportProblem(f"{where} is not an ISO date and time: {value!r}", **at))
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Reader:
    def __init__(self, ctx: ImportContext) -> None:
        self.ctx = ctx
        self.problems: list[ImportProblem] = []
        rows = ctx.session.scalars(
            select(Observation).where(
                Observation.project_id == ctx.project.id, Observation.status == ObservationStatus.READY
            )
        )
        self.by_name = {o.original_filename: o for o in rows}
        self.by_lower = {name.lower(): o for name, o in self.by_name.items()}
        self.classes = ctx.config.class_names
        self.ids_only: list[tuple[int, int]] = []  # (task index, predictions given by id only)

    def problem(self, message: str, **at: int) -> None:
        self.problems.append(ImportProblem(message, **at))

    def read(self, tasks: list[Any]) -> list[_Task]:
        planned: list[_Task] = []
        task_ids: set[int] = set()
        annotation_ids: set[int] = set()
        for ti, task in enumerate(tasks):
            if not isinstance(task, dict):
                self.problem("a task must be a JSON object", task=ti)
                continue
            if "id" in task:
                if not _is_int(task["id"]):
                    self.problem(f"task id {task['id']!r} is not an integer", task=ti)
                elif task["id"] in task_ids:
                    self.problem(f"task id {task['id']} appears twice in the file", task=ti)
                else:
                    task_ids.add(task["id"])
            observation, state = self.match(task, ti)
            if observation is None:
                continue
            item = _Task(observation, state)
            annotations = task.get("annotations", task.get("completions", []))
            if not isinstance(annotations, list):
                self.problem("annotations must be a list", task=ti)
                annotations = []
            for ai, annotation in enumerate(annotations):
                read = self.annotation(annotation, observation, ti, ai, annotation_ids)
                if read is not None:
                    item.annotations.append(read)
            predictions = task.get("predictions", [])
            if not isinstance(predictions, list):
                self.problem("predictions must be a list", task=ti)
                predictions = []
            ids_only = 0
            for pi, prediction in enumerate(predictions):
                if _is_int(prediction):
                    ids_only += 1  # Label Studio's Export button lists a task's predictions by id
                    continue
                read = self.prediction(prediction, observation, ti, pi)
                if read is not None:
                    item.predictions.append(read)
            if ids_only:
                self.ids_only.append((ti, ids_only))
            planned.append(item)
        return planned

    def match(self, task: dict[str, Any], ti: int) -> tuple[Observation | None, TaskState | None]:
        data = task.get("data")
        if not isinstance(data, dict):
            self.problem("the task has no 'data' object", task=ti)
            return None, None
        variable = self.ctx.config.image_variable
        reference = data.get(variable)
        found_meta = data.get("minelabel")
        meta: dict[str, Any] = found_meta if isinstance(found_meta, dict) else {}
        if reference is None:
            self.problem(f"data.{variable} is missing (the labeling config's image is ${variable})", task=ti)
            return None, None
        if (problem := image_reference_problem(reference)) is not None and not meta.get("filename"):
            self.problem(problem, task=ti)
            return None, None
        name = meta.get("filename") or filename_of(str(reference))
        observation = self.by_name.get(name) or self.by_lower.get(str(name).lower())
        if observation is None:
            known = ", ".join(sorted(self.by_name)[:5]) or "none: upload the images first"
            self.problem(f"image {name!r} matches no observation of the project (e.g. {known})", task=ti)
            return None, None
        state = meta.get("state")
        states = {s.value for s in TaskState}
        return observation, TaskState(state) if isinstance(state, str) and state in states else None

    def _common(self, item: object, kind: str, ti: int, index: int) -> dict[str, Any] | None:
        if not isinstance(item, dict):
            also = " (or, as Label Studio's export writes it, an integer id)" if kind == "prediction" else ""
            self.problem(
                f"the {kind} must be a JSON object{also}, not {orjson.dumps(item).decode()[:40]}",
                task=ti,
                **{kind: index},
            )
            return None
        return item

    def annotation(
        self, annotation: object, observation: Observation, ti: int, ai: int, seen: set[int]
    ) -> _Item | None:
        found = self._common(annotation, "annotation", ti, ai)
        if found is None:
            return None
        at = {"task": ti, "annotation": ai}
        ident = found.get("id")
        if ident is not None:
            if not _is_int(ident):
                self.problem(f"annotation id {ident!r} is not an integer", **at)
            elif ident in seen:
                self.problem(f"annotation id {ident} appears twice in the file", **at)
            else:
                seen.add(ident)
        for flag in ("ground_truth", "was_cancelled"):
            if flag in found and not isinstance(found[flag], bool):
                self.problem(f"{flag} must be true or false, not {found[flag]!r}", **at)
        email = None
        completed_by = found.get("completed_by")
        if isinstance(completed_by, dict) and isinstance(completed_by.get("email"), str):
            email = completed_by["email"]
        elif isinstance(completed_by, str) and "@" in completed_by:
            email = completed_by
        elif completed_by is not None and not _is_int(completed_by) and not isinstance(completed_by, dict):
            self.problem(f"completed_by {completed_by!r} is neither a user id nor {{'email': ...}}", **at)
        lead_time = found.get("lead_time")
        if lead_time is not None and not isinstance(lead_time, int | float):
            self.problem(f"lead_time {lead_time!r} is not a number", **at)
            lead_time = None
        regions = self.results(found.get("result"), observation, at)
        if found.get("was_cancelled") is True:
            return None  # a skipped task in Label Studio: nothing to import
        return _Item(
            key=_key(observation, "annotation", ident, found.get("result")), regions=regions,
            created_at=_time(found.get("created_at"), "created_at", self.problems, **at),
            updated_at=_time(found.get("updated_at"), "updated_at", self.problems, **at),
            lead_time=float(lead_time) if lead_time is not None else None, email=email,
        )  # fmt: skip

    def prediction(self, prediction: object, observation: Observation, ti: int, pi: int) -> _Item | None:
        found = self._common(prediction, "prediction", ti, pi)
        if found is None:
            return None
        at = {"task": ti, "prediction": pi}
        score = found.get("score")
        if score is not None and (not isinstance(score, int | float) or not 0 <= score <= 1):
            self.problem(f"prediction score {score!r} must be a number from 0 to 1", **at)
            score = None
        version = found.get("model_version", "") or "label-studio"
        regions = self.results(found.get("result"), observation, at)
        return _Item(
            key=_key(observation, "prediction", found.get("id"), found.get("result")), regions=regions,
            model_version=str(version)[:200], score=score,
        )  # fmt: skip

    def results(self, results: object, observation: Observation, at: dict[str, int]) -> list[
        annotation_service.RegionInput
    ]:  # fmt: skip
        config = self.ctx.config
        if not isinstance(results, list):
            self.problem("result must be a list", **at)
            return []
        regions = []
        for ri, result in enumerate(results):
            where = {**at, "result": ri}
            if not isinstance(result, dict):
                self.problem("a result must be a JSON object", **where)
                continue
            if result.get("type") != "polygonlabels":
                self.problem(
                    f"result type {result.get('type')!r}: MineLabel imports polygonlabels only", **where
                )
                continue
            if (result.get("from_name"), result.get("to_name")) != (config.from_name, config.to_name):
                self.problem(
                    f"from_name/to_name {result.get('from_name')!r}/{result.get('to_name')!r} do not match "
                    f"the project's labeling config ({config.from_name!r}/{config.to_name!r})",
                    **where,
                )
                continue
            size = (result.get("original_width"), result.get("original_height"))
            if size != (None, None) and size != (observation.width, observation.height):
                self.problem(
                    f"original_width x original_height {size[0]} x {size[1]} is not the image's size "
                    f"{observation.width} x {observation.height}",
                    **where,
                )
                continue
            if result.get("image_rotation", 0) not in (0, None):
                self.problem("rotated images (image_rotation) are not supported", **where)
                continue
            value = result.get("value")
            if not isinstance(value, dict):
                self.problem("result.value must be an object", **where)
                continue
            labels = value.get("polygonlabels")
            if not isinstance(labels, list) or len(labels) != 1 or labels[0] not in self.classes:
                self.problem(f"polygonlabels {labels!r} must be one of {self.classes}", **where)
                continue
            if (problem := points_problem(value.get("points"))) is not None:
                self.problem(problem, **where)
                continue
            ring = [[x * observation.width / 100, y * observation.height / 100] for x, y in value["points"]]
            if ring[0] != ring[-1]:
                ring.append(ring[0])
            geometry = {"type": "Polygon", "coordinates": [ring]}
            try:
                check_region_geometry(
                    geometry, region=str(ri), width=observation.width, height=observation.height,
                    max_vertices=self.ctx.limits.max_polygon_vertices,
                )  # fmt: skip
            except InvalidInputError as exc:
                self.problem(str(exc), **where)
                continue
            score = result.get("score")
            regions.append(
                annotation_service.RegionInput(
                    label=labels[0],
                    geometry=geometry,
                    source=RegionSource.IMPORT,
                    score=float(score) if isinstance(score, int | float) and 0 <= score <= 1 else None,
                )
            )
        return regions


def _key(observation: Observation, kind: str, ident: object, results: object) -> str:
    canonical = orjson.dumps([str(observation.id), kind, ident, results], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _imported_user(ctx: ImportContext) -> User:
    user = users_repo.get_user_by_email(ctx.session, IMPORTED_USER_EMAIL)
    if user is None:
        # Inactive, with a random password: it only owns imported work; nobody signs in as it.
        user = User(
            email=IMPORTED_USER_EMAIL, password_hash=hash_password(secrets.token_urlsafe(24)), is_active=False
        )
        ctx.session.add(user)
        ctx.session.flush()
    return user


def import_label_studio(ctx: ImportContext, path: Path) -> ImportReport:
    report = ImportReport(format="label-studio")
    tasks = load_json_document(path, "Label Studio file")
    if (wrong := looks_like(sniff_json(tasks), "label-studio")) is not None:
        raise reject([ImportProblem(wrong)], "Label Studio file")
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise reject([ImportProblem("a Label Studio export is a JSON list of tasks")], "Label Studio file")
    reader = _Reader(ctx)
    planned = reader.read(tasks)
    if reader.problems:
        raise reject(reader.problems, "Label Studio file")
    report.items_read = len(tasks)
    for ti, count in reader.ids_only[:_LISTED_TASKS]:
        what = "prediction is an id" if count == 1 else "predictions are ids"
        report.notes.append(
            f"task {ti}: {count} {what} only (Label Studio's export lists predictions by id); skipped"
        )
    if len(reader.ids_only) > _LISTED_TASKS:
        rest = reader.ids_only[_LISTED_TASKS:]
        report.notes.append(
            f"{len(rest)} more task(s) with {sum(c for _, c in rest)} prediction(s) given by id only; skipped"
        )
    if reader.ids_only:
        report.skip("prediction_ids_only", sum(c for _, c in reader.ids_only))
    members = set(
        ctx.session.scalars(select(ProjectMember.user_id).where(ProjectMember.project_id == ctx.project.id))
    )
    imported_user: User | None = None
    unknown_emails: set[str] = set()
    session = ctx.session
    for task in planned:
        observation = task.observation
        added = 0
        for item in task.annotations:
            if imported_before(session, Annotation, observation.id, item.key):
                report.skipped_as_imported_before += 1
                continue
            user = users_repo.get_user_by_email(session, item.email) if item.email else None
            if user is None or user.id not in members:
                if item.email:
                    unknown_emails.add(item.email)
                imported_user = imported_user or _imported_user(ctx)
                user = imported_user
            fields: dict[str, Any] = {"lead_time": item.lead_time, "import_key": item.key}
            if item.created_at:
                fields["created_at"] = item.created_at
            if item.updated_at or item.created_at:
                fields["updated_at"] = item.updated_at or item.created_at
            annotation_service.create_annotation(
                session, observation, item.regions, ctx.limits, user_id=user.id, commit=False, **fields
            )
            report.annotations_created += 1
            report.regions_created += len(item.regions)
            added += 1
        for item in task.predictions:
            if imported_before(session, Prediction, observation.id, item.key):
                report.skipped_as_imported_before += 1
                continue
            prediction_service.create_prediction(
                session, observation, item.model_version, item.score, item.regions, ctx.limits,
                commit=False, import_key=item.key,
            )  # fmt: skip
            report.predictions_created += 1
            report.regions_created += len(item.regions)
        new_state = task.state or (TaskState.SUBMITTED if added else None)
        if new_state is not None and new_state != observation.task_state:
            workflow.audit(
                session, observation, observation.project_id, ctx.importer_id, "import",
                observation.task_state, new_state,
            )  # fmt: skip
            observation.task_state = new_state
    if unknown_emails:
        report.notes.append(
            f"{len(unknown_emails)} completed_by email(s) are not members of the project; their annotations "
            f"belong to {IMPORTED_USER_EMAIL}: {sorted(unknown_emails)[:10]}"
        )
    session.flush()
    return report


register(
    ImportFormat(
        name="label-studio", importer=import_label_studio,
        description="A Label Studio JSON export (tasks with annotations and/or predictions)",
        reads_as=False,
    )
)  # fmt: skip
