"""The load run's users: annotators who take tasks, save and edit regions, send stale saves and retries and
submit; reviewers who approve or reject. Every change the server accepted or refused is recorded, so that
bench.load.check can hold the database against it. Started by bench.load.run_load (LOAD_CONFIG names the
run's LoadConfig JSON); locust's own options (users, run time) come from its command line."""

from __future__ import annotations

import itertools
import os
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from locust import FastHttpUser, between, events, task
from locust.contrib.fasthttp import FastResponse, ResponseContextManager
from locust.env import Environment
from pydantic import BaseModel

from bench.load.records import (
    REFUSED_OFFSET,
    AcceptedChange,
    KnownState,
    LoadConfig,
    LoadRecords,
    RefusedChange,
    RegionChange,
)

CONFIG = LoadConfig.model_validate_json(Path(os.environ["LOAD_CONFIG"]).read_text())
RECORDS = LoadRecords()
ANNOTATOR_TOKENS = itertools.cycle(CONFIG.annotator_tokens)
REVIEWER_TOKENS = itertools.cycle(CONFIG.reviewer_tokens)
LABELS = ["Outline", "Pit"]
MAX_REGIONS = 8


# --- the little of the answers the users read (the server's schemas hold much more) ------------------
class FeatureProps(BaseModel):
    version: int


class Feature(BaseModel):
    id: uuid.UUID
    geometry: dict[str, Any]
    properties: FeatureProps


class LabelProps(FeatureProps):
    label: str | None


class LabelledFeature(Feature):
    properties: LabelProps


class AnnotationAnswer(BaseModel):
    """PUT /api/annotations/{id}, PUT /api/regions/{id} and GET /api/annotations/{id}: the whole state."""

    version: int
    regions: list[LabelledFeature]


class SavedRegion(BaseModel):
    id: uuid.UUID
    version: int


class ChangesAnswer(BaseModel):
    """PATCH /api/annotations/{id}: the saved regions' ids and versions (`regions` holds only those the
    server reshaped)."""

    version: int
    saved: list[SavedRegion]
    deleted: list[uuid.UUID]


class TaskAnswer(BaseModel):
    observation_id: uuid.UUID


class NextAnswer(BaseModel):
    task: TaskAnswer | None
    annotation_id: uuid.UUID | None = None


class TaskList(BaseModel):
    items: list[TaskAnswer]


# --- the annotator's picture of their annotation ------------------------------------------------------
@dataclass
class RegionState:
    label: str
    geometry: dict[str, Any]
    version: int

    def body(self, region_id: uuid.UUID) -> dict[str, Any]:
        return {"id": str(region_id), "label": self.label, "geometry": self.geometry}


@dataclass
class Work:
    """The task an annotator is on and the annotation as the server last confirmed it."""

    observation_id: uuid.UUID
    annotation_id: uuid.UUID
    version: int
    regions: dict[uuid.UUID, RegionState]
    target_edits: int
    edits: int = 0
    stale_sent: bool = False  # one stale save per task for sure (more at random)

    def known(self) -> KnownState:
        versions = {i: r.version for i, r in self.regions.items()}
        return KnownState(annotation_id=self.annotation_id, version=self.version, regions=versions)


@dataclass
class Edit:
    """A change to make: the regions after it and what changed."""

    regions: dict[uuid.UUID, RegionState]
    changes: list[RegionChange] = field(default_factory=list)


def square(rng: random.Random, offset: float = 0) -> dict[str, Any]:
    size = rng.randint(4, 20)
    x, y = (rng.randint(0, CONFIG.image_size - size - 1) + offset for _ in range(2))
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def count(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


def count_server_errors(name: str, response: FastResponse | None = None, **_: object) -> None:
    if response is not None and (response.status_code or 0) >= 500:
        count(RECORDS.server_errors, name)


def write_records(environment: Environment, **_: object) -> None:
    Path(CONFIG.records_path).write_text(RECORDS.model_dump_json())


events.request.add_listener(count_server_errors)
events.test_stop.add_listener(write_records)


class Annotator(FastHttpUser):
    fixed_count = len(CONFIG.annotator_tokens)
    wait_time = between(0.5, 2.0)
    network_timeout = 120.0  # a save answered after the client gave up would be stored but not recorded
    connection_timeout = 120.0

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Token {next(ANNOTATOR_TOKENS)}"}
        self.rng = random.Random(f"{CONFIG.seed}-{id(self)}")
        self.work: Work | None = None

    # One step per locust task: a whole logical action (a save and its retry), so a stopping run never cuts
    # one in half (run_load passes --stop-timeout).
    @task
    def step(self) -> None:
        if self.work is None:
            self.take_task()
        elif self.work.edits >= self.work.target_edits:
            self.submit(self.work)
        elif not self.work.stale_sent and self.work.version >= 2:
            self.stale_change(self.work)
        else:
            action = self.rng.choices(
                [self.save_whole, self.save_changes, self.edit_region, self.stale_change, self.reopen],
                weights=[3, 4, 3, 1.5, 0.5],
            )[0]
            action(self.work)

    def call(self, method: str, path: str, name: str, expect: int = 200, **kwargs: Any) -> tuple[int, str]:
        """One request; ``expect`` is the status that counts as success in locust's statistics."""
        headers = {**self.auth, **kwargs.pop("headers", {})}
        cm: ResponseContextManager
        with self.client.request(
            method, path, name=name, headers=headers, catch_response=True, **kwargs
        ) as cm:
            status = cm.status_code or 0
            text = cm.text or ""
            if status == expect:
                cm.success()
            else:
                cm.failure(f"{status}: {text[:200]}")
        return status, text

    def take_task(self) -> None:
        status, text = self.call("POST", f"/api/projects/{CONFIG.project_id}/tasks/next", "POST tasks/next")
        if status != 200:
            return count(RECORDS.unexpected, f"POST tasks/next {status}")
        handout = NextAnswer.model_validate_json(text)
        if handout.task is None or handout.annotation_id is None:
            RECORDS.no_task_left += 1
            return
        state = self.open(handout.annotation_id)
        if state is None:
            return
        known = RECORDS.known.get(handout.annotation_id)
        if known is not None and (known.version, known.regions) != (state.version, state.known().regions):
            RECORDS.state_mismatches += 1  # back for rework, but not as this annotator last saw it
        self.work = Work(
            handout.task.observation_id,
            handout.annotation_id,
            state.version,
            state.regions,
            target_edits=self.rng.randint(*CONFIG.edits_per_task),
        )

    def open(self, annotation_id: uuid.UUID) -> Work | None:
        status, text = self.call("GET", f"/api/annotations/{annotation_id}", "GET /api/annotations/{id}")
        if status != 200:
            count(RECORDS.unexpected, f"GET annotation {status}")
            return None
        answer = AnnotationAnswer.model_validate_json(text)
        regions = {
            f.id: RegionState(f.properties.label or LABELS[0], f.geometry, f.properties.version)
            for f in answer.regions
        }
        return Work(uuid.uuid4(), annotation_id, answer.version, regions, 0)

    def reopen(self, work: Work) -> None:
        """Open the task again (a reload): the server must show what the annotator last had confirmed."""
        state = self.open(work.annotation_id)
        if state is not None and state.known() != work.known():
            RECORDS.state_mismatches += 1
            work.version, work.regions = state.version, state.regions

    def edit(self, work: Work, *, allow_delete: bool = True) -> Edit:
        """Add, move or delete a region (whole coordinates: accepted edits never have half ones)."""
        regions = dict(work.regions)
        kinds: list[Literal["create", "update", "delete"]] = []
        if len(regions) < MAX_REGIONS:
            kinds += ["create"] * (3 if len(regions) < 3 else 1)
        if regions:
            kinds += ["update"] * 3
        if allow_delete and len(regions) > 3:
            kinds.append("delete")
        kind = self.rng.choice(kinds)
        if kind == "create":
            region_id, label = uuid.uuid4(), self.rng.choice(LABELS)
        else:
            region_id = self.rng.choice(list(regions))
            label = regions[region_id].label
        if kind == "delete":
            del regions[region_id]
            return Edit(regions, [RegionChange(region_id=region_id, action="delete")])
        geometry = square(self.rng)
        regions[region_id] = RegionState(label, geometry, 0)  # the version comes from the answer
        return Edit(regions, [RegionChange(region_id=region_id, action=kind, label=label, geometry=geometry)])

    def accepted(
        self, work: Work, route: str, version: int, edit: Edit, versions: dict[uuid.UUID, int]
    ) -> None:
        if version == work.version:
            return count(RECORDS.unexpected, f"{route}: no new version")
        RECORDS.accepted.append(
            AcceptedChange(
                annotation_id=work.annotation_id, version=version, route=route, regions=edit.changes
            )
        )
        work.version, work.regions, work.edits = version, edit.regions, work.edits + 1
        for region_id, region_version in versions.items():
            if region_id in work.regions:
                work.regions[region_id].version = region_version
        RECORDS.known[work.annotation_id] = work.known()

    def resync(self, work: Work, route: str, status: int) -> None:
        count(RECORDS.unexpected, f"{route} {status}")
        if (state := self.open(work.annotation_id)) is not None:
            work.version, work.regions = state.version, state.regions

    def send_twice(self, work: Work, method: str, name: str, body: dict[str, Any]) -> tuple[int, str]:
        """Send a save with an Idempotency-Key, and again as a client would whose connection dropped (a
        task's first save always, later ones now and then): the retry must get the same answer and store
        nothing more."""
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        path = f"/api/annotations/{work.annotation_id}"
        status, text = self.call(method, path, name, json=body, headers=headers)
        if status == 200 and (work.edits == 0 or self.rng.random() < 0.3):
            RECORDS.retries += 1
            again, text_again = self.call(method, path, f"{name} (retry)", json=body, headers=headers)
            if again != status or _version(text_again) != _version(text):
                RECORDS.retries_mismatched += 1
        return status, text

    def save_whole(self, work: Work) -> None:
        edit = self.edit(work)
        body = {"version": work.version, "regions": [r.body(i) for i, r in edit.regions.items()]}
        route = "PUT /api/annotations/{id}"
        status, text = self.send_twice(work, "PUT", route, body)
        if status != 200:
            return self.resync(work, route, status)
        answer = AnnotationAnswer.model_validate_json(text)
        self.accepted(work, route, answer.version, edit, {f.id: f.properties.version for f in answer.regions})

    def save_changes(self, work: Work) -> None:
        edit = self.edit(work)
        changed = [c for c in edit.changes if c.action != "delete"]
        body = {
            "version": work.version,
            "regions": [edit.regions[c.region_id].body(c.region_id) for c in changed],
            "deleted": [str(c.region_id) for c in edit.changes if c.action == "delete"],
        }
        route = "PATCH /api/annotations/{id}"
        status, text = self.send_twice(work, "PATCH", route, body)
        if status != 200:
            return self.resync(work, route, status)
        answer = ChangesAnswer.model_validate_json(text)
        self.accepted(work, route, answer.version, edit, {r.id: r.version for r in answer.saved})

    def edit_region(self, work: Work) -> None:
        if not work.regions:
            return self.save_changes(work)
        region_id = self.rng.choice(list(work.regions))
        region = work.regions[region_id]
        geometry = square(self.rng)
        edit = Edit({**work.regions, region_id: RegionState(region.label, geometry, 0)})
        edit.changes.append(
            RegionChange(region_id=region_id, action="update", label=region.label, geometry=geometry)
        )
        route = "PUT /api/regions/{id}"
        status, text = self.call(
            "PUT",
            f"/api/regions/{region_id}",
            route,
            json={"label": region.label, "geometry": geometry},
            headers={"If-Match": f'"{region.version}"'},
        )
        if status != 200:
            return self.resync(work, route, status)
        answer = AnnotationAnswer.model_validate_json(text)
        self.accepted(work, route, answer.version, edit, {f.id: f.properties.version for f in answer.regions})

    def stale_change(self, work: Work) -> None:
        """A save based on an older version than the current one (another tab's, say): 409, nothing stored.
        Its new region has a fresh id and its geometries half-integer coordinates, to look for later."""
        work.stale_sent = True
        fresh = uuid.uuid4()
        marked = {"id": str(fresh), "label": "Pit", "geometry": square(self.rng, REFUSED_OFFSET)}
        region_ids = [i for i, r in work.regions.items() if r.version > 1]
        choice = self.rng.choice(["PUT", "PATCH", "region"] if region_ids else ["PUT", "PATCH"])
        if work.version < 2 and choice != "region":
            return self.save_whole(work)  # nothing older to be stale with yet
        if choice == "region":
            region_id = self.rng.choice(region_ids)
            route, path = "PUT /api/regions/{id} (stale)", f"/api/regions/{region_id}"
            status, _ = self.call(
                "PUT",
                path,
                route,
                expect=409,
                json={"label": work.regions[region_id].label, "geometry": marked["geometry"]},
                headers={"If-Match": f'"{work.regions[region_id].version - 1}"'},
            )
        else:
            body: dict[str, Any] = {"version": work.version - 1, "regions": [marked]}
            if choice == "PUT":
                body["regions"] += [r.body(i) for i, r in work.regions.items()]
            route = f"{choice} /api/annotations/{{id}} (stale)"
            status, _ = self.call(
                choice,
                f"/api/annotations/{work.annotation_id}",
                route,
                expect=409,
                json=body,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
        if status == 409:
            RECORDS.refused.append(
                RefusedChange(annotation_id=work.annotation_id, route=route, new_region_ids=[fresh])
            )
        else:
            RECORDS.stale_accepted += status == 200
            self.resync(work, route, status)

    def submit(self, work: Work) -> None:
        path = f"/api/observations/{work.observation_id}/task/submit"
        status, _ = self.call("POST", path, "POST task/submit")
        if status == 200:
            RECORDS.tasks_submitted += 1
        else:
            count(RECORDS.unexpected, f"POST task/submit {status}")
        self.work = None


class Versioned(BaseModel):
    version: int


def _version(text: str) -> int | None:
    try:
        return Versioned.model_validate_json(text).version
    except ValueError:
        return None


class Reviewer(FastHttpUser):
    fixed_count = len(CONFIG.reviewer_tokens)
    wait_time = between(1.0, 3.0)
    network_timeout = 120.0
    connection_timeout = 120.0

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Token {next(REVIEWER_TOKENS)}"}
        self.rng = random.Random(f"{CONFIG.seed}-r-{id(self)}")
        self.races: Counter[str] = Counter()

    @task
    def review(self) -> None:
        queue = self.client.get(
            f"/api/projects/{CONFIG.project_id}/review-queue?limit=20",
            headers=self.auth,
            name="GET review-queue",
        )
        if queue.status_code != 200 or not queue.text:
            return
        items = TaskList.model_validate_json(queue.text).items
        if not items:
            return
        task_id = self.rng.choice(items).observation_id
        self.client.get(
            f"/api/observations/{task_id}/annotations",
            headers=self.auth,
            name="GET /api/observations/{id}/annotations",
        )
        approve = self.rng.random() < 0.7
        action = "approve" if approve else "reject"
        body = None if approve else {"comment": "The pit outline misses the north bench; please redraw it."}
        # Another reviewer may have decided on the same task a moment earlier: 409 is the honest answer.
        with self.client.post(
            f"/api/observations/{task_id}/task/{action}",
            json=body,
            headers=self.auth,
            name=f"POST task/{action}",
            catch_response=True,
        ) as cm:
            if cm.status_code == 200:
                RECORDS.approved += approve
                RECORDS.rejected += not approve
                cm.success()
            elif cm.status_code == 409:
                cm.success()
            else:
                count(RECORDS.unexpected, f"POST task/{action} {cm.status_code}")
                cm.failure(f"{cm.status_code}: {(cm.text or '')[:200]}")
