"""Every write of the annotation and region API names the version it is based on, checked the same way: a
stale version is a 409 with the current state (`current`), a missing one a 422 saying how to name it, and
neither changes anything."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Observation, Region, Revision
from tests.labels.test_annotations_api import create, observation, square

__all__ = ["observation"]  # the fixture, shared

PIT = {"label": "Pit", "geometry": square(300, 300, 20)}


def write(
    kind: str, annotation: str, region: str, version: str | None
) -> tuple[str, str, Any, dict[str, str]]:
    """(method, url, body, headers) of one kind of write, based on ``version`` (None: not named)."""
    named = {"If-Match": f'"{version}"'} if version is not None else {}
    return {
        "save annotation": ("PUT", f"/api/annotations/{annotation}", {"regions": [PIT]}, named),
        "delete annotation": ("DELETE", f"/api/annotations/{annotation}", None, named),
        "restore annotation": ("POST", f"/api/annotations/{annotation}/restore", {"version": 1}, named),
        "add region": ("POST", f"/api/annotations/{annotation}/regions", PIT, named),
        "replace region": ("PUT", f"/api/regions/{region}", PIT, named),
        "delete region": ("DELETE", f"/api/regions/{region}", None, named),
    }[kind]


KINDS = [
    "save annotation",
    "delete annotation",
    "restore annotation",
    "add region",
    "replace region",
    "delete region",
]


def state(db_session: Session, observation: Observation) -> tuple[list[tuple[Any, ...]], int]:
    db_session.expire_all()
    regions = db_session.scalars(select(Region).where(Region.observation_id == observation.id)).all()
    revisions = db_session.scalars(select(Revision)).all()
    return sorted((r.id, r.version, r.deleted_at) for r in regions), len(revisions)


@pytest.mark.parametrize("kind", KINDS)
def test_a_stale_or_unnamed_version_changes_nothing(
    kind: str, client: TestClient, observation: Observation, db_session: Session
) -> None:
    region = str(uuid.uuid4())
    body = create(
        client, observation, [{"id": region, "label": "Pit", "geometry": square(10, 10, 10)}]
    ).json()
    annotation = body["id"]
    # Version 2 of the annotation (and of its region), so that "1" is stale for both.
    moved = client.put(
        f"/api/regions/{region}",
        json={"label": "Pit", "geometry": square(20, 20, 10)},
        headers={"If-Match": "1"},
    )
    assert moved.status_code == 200, moved.text
    before = state(db_session, observation)

    method, url, payload, headers = write(kind, annotation, region, "1")
    stale = client.request(method, url, json=payload, headers=headers)
    assert stale.status_code == 409, stale.text
    assert stale.json()["code"] == "version_conflict"
    assert stale.json()["current"]["version"] == 2
    assert "is at version 2, not 1" in stale.json()["detail"]

    method, url, payload, headers = write(kind, annotation, region, None)
    unnamed = client.request(method, url, json=payload, headers=headers)
    assert unnamed.status_code == 422, unnamed.text
    assert 'If-Match header ("3") or "version" in the body' in unnamed.json()["detail"]
    assert state(db_session, observation) == before

    method, url, payload, headers = write(kind, annotation, region, "2")
    current = client.request(method, url, json=payload, headers=headers)
    assert current.status_code < 300, current.text  # the same write, based on the current version, is done
