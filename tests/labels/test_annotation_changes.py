"""Saves of what changed (`PATCH /api/annotations/{id}`) on real PostGIS: only the named regions change, one
version per save, replays and retries neither double nor lose anything, a stale save's 409 carries what
changed since, and the topology warnings are checked again exactly where the change reaches."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.api.presenters import region_feature
from app.models import Annotation, Observation, Region, Revision, StoredWarning
from app.services import annotations as service
from tests.labels.test_annotations_api import create, observation, square

__all__ = ["observation"]  # the fixture, shared


def region(label: str, x: float, y: float, size: float, id_: str | None = None) -> dict[str, Any]:
    return {"id": id_ or str(uuid.uuid4()), "label": label, "geometry": square(x, y, size)}


def warned(body: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(w["region_id"], w["code"], w["other_region_id"]) for w in body["warnings"]}


def whole(client: TestClient, annotation_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/annotations/{annotation_id}").json()
    return body


def test_a_save_of_changes_adds_replaces_and_deletes_only_what_it_names(
    client: TestClient, observation: Observation, db_session: Session
) -> None:
    keep, move, drop = region("Pit", 10, 10, 20), region("Pit", 100, 100, 20), region("Pit", 200, 200, 20)
    created = create(client, observation, [keep, move, drop]).json()
    url = f"/api/annotations/{created['id']}"
    added = region("Infrastructure", 600, 600, 30)
    moved = move | {"geometry": square(120, 100, 20)}
    saved = client.patch(url, json={"version": 1, "regions": [added, moved], "deleted": [drop["id"]]})
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["version"] == 2 and saved.headers["etag"] == '"2"'
    # Only these, with their versions; none is sent back whole (the server stored them as they were sent).
    versions = sorted((r["id"], r["version"]) for r in body["saved"])
    assert versions == sorted([(added["id"], 1), (move["id"], 2)])
    assert body["regions"] == [] and body["changes"] == []
    assert body["deleted"] == [drop["id"]]
    current = whole(client, created["id"])
    assert current["version"] == 2
    assert sorted(r["id"] for r in current["regions"]) == sorted([keep["id"], move["id"], added["id"]])
    by_id = {r["id"]: r for r in current["regions"]}
    assert by_id[keep["id"]]["properties"]["version"] == 1  # untouched
    assert by_id[move["id"]]["properties"]["version"] == 2
    assert by_id[move["id"]]["geometry"]["coordinates"][0][0][0][0] == 120
    revisions = db_session.scalars(select(Revision).where(Revision.annotation_version == 2)).all()
    assert sorted(r.action.value for r in revisions) == ["create", "delete", "update"]

    # The same changes again (a retry without its key) are a no-op: no new version, no revision.
    again = client.patch(url, json={"version": 2, "regions": [added, moved], "deleted": [drop["id"]]})
    assert again.status_code == 200 and again.json()["version"] == 2 and again.json()["deleted"] == []
    assert db_session.scalar(select(func.count()).select_from(Revision)) == 1 + 3 + 3

    # A deleted region comes back by its id (an undo).
    undone = client.patch(url, json={"version": 2, "regions": [drop]})
    assert undone.json()["version"] == 3
    assert drop["id"] in {r["id"] for r in whole(client, created["id"])["regions"]}


def test_a_replayed_save_of_changes_is_answered_from_the_record_and_stores_nothing_twice(
    client: TestClient, observation: Observation, db_session: Session
) -> None:
    created = create(client, observation, []).json()
    url = f"/api/annotations/{created['id']}"
    new = region("Pit", 10, 10, 20)
    headers = {"Idempotency-Key": "changes-1"}
    first = client.patch(url, json={"version": 1, "regions": [new]}, headers=headers)
    second = client.patch(url, json={"version": 1, "regions": [new]}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.headers["idempotent-replay"] == "true" and second.json() == first.json()
    assert db_session.scalar(select(func.count()).select_from(Region)) == 1
    reused = client.patch(url, json={"version": 2, "regions": []}, headers=headers)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert whole(client, created["id"])["version"] == 2


def test_a_stale_save_of_changes_gets_409_with_only_what_changed_since(
    client: TestClient, observation: Observation
) -> None:
    a, b, c = region("Pit", 10, 10, 20), region("Pit", 100, 100, 20), region("Pit", 200, 200, 20)
    created = create(client, observation, [a, b, c]).json()
    url = f"/api/annotations/{created['id']}"
    theirs = region("Outline", 0, 0, 500)
    assert (
        client.patch(url, json={"version": 1, "regions": [theirs], "deleted": [b["id"]]}).status_code == 200
    )
    changed_a = a | {"label": "Infrastructure"}
    assert client.patch(url, json={"version": 2, "regions": [changed_a]}).status_code == 200

    stale = client.patch(url, json={"version": 1, "regions": [region("Pit", 300, 300, 5)]})
    assert stale.status_code == 409
    conflict = stale.json()
    assert conflict["code"] == "version_conflict" and "is at version 3, not 1" in conflict["detail"]
    current = conflict["current"]
    assert current["version"] == 3 and current["since"] == 1
    assert sorted((r["id"], r["label"]) for r in current["regions"]) == sorted(
        [(theirs["id"], "Outline"), (a["id"], "Infrastructure")]
    )  # c, unchanged since version 1, is not sent
    assert current["deleted"] == [b["id"]]
    assert whole(client, created["id"])["version"] == 3  # nothing changed

    # Since the version before: only the last change.
    assert (
        client.patch(url, json={"version": 2, "regions": []}).json()["current"]["regions"][0]["id"] == a["id"]
    )
    # A version the annotation never had: the whole state.
    future = client.patch(url, json={"version": 9, "regions": []}).json()["current"]
    assert future["since"] is None and len(future["regions"]) == 3


def test_bad_changes_are_refused_and_nothing_is_stored(client: TestClient, observation: Observation) -> None:
    pit = region("Pit", 10, 10, 20)
    created = create(client, observation, [pit]).json()
    url = f"/api/annotations/{created['id']}"
    other = create(client, observation, [region("Pit", 50, 50, 5)]).json()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"version": 1, "regions": [{"label": "Pit", "geometry": square(1, 1, 5)}]}, 422, "id"),
        ({"version": 1, "regions": [pit, pit]}, 422, "used twice"),
        ({"version": 1, "regions": [pit], "deleted": [pit["id"]]}, 422, "both in `regions` and in `deleted`"),
        ({"version": 1, "deleted": [other["regions"][0]["id"]]}, 422, "is not a region of annotation"),
        ({"version": 1, "regions": [other["regions"][0] | {"label": "Pit"}]}, 422, ""),  # a Feature
        (
            {"version": 1, "regions": [region("Pit", 1, 1, 5, other["regions"][0]["id"])]},
            409,
            "belongs to another annotation",
        ),
        ({"version": 1, "regions": [region("Lake", 1, 1, 5)]}, 422, "'Lake' is not a class"),
        ({"version": 1, "regions": [region("Pit", 990, 990, 50)]}, 422, "outside the 1000 x 1000 image"),
        ({"regions": [region("Pit", 1, 1, 5)]}, 422, "Say which version"),
    ]
    for body, status, words in cases:
        response = client.patch(url, json=body)
        assert response.status_code == status, (body, response.text)
        assert words in str(response.json()), (words, response.text)
    assert whole(client, created["id"])["version"] == 1
    assert [r["id"] for r in whole(client, created["id"])["regions"]] == [pit["id"]]


def test_topology_is_checked_again_for_the_change_and_its_neighbours_only(
    client: TestClient, observation: Observation
) -> None:
    outline = region("Outline", 0, 0, 300)
    inside = region("Pit", 10, 10, 50)
    far = region("Pit", 700, 700, 50)  # outside the Outline: warned, and nowhere near what changes below
    created = create(client, observation, [outline, inside, far]).json()
    assert warned(created) == {(far["id"], "outside_outline", None)}
    url = f"/api/annotations/{created['id']}"

    # Infrastructure over the inside Pit: the Pit is a neighbour, checked again and now warned.
    infra = region("Infrastructure", 40, 40, 50)
    saved = client.patch(url, json={"version": 1, "regions": [infra]}).json()
    assert set(saved["checked"]) == {infra["id"], inside["id"]}
    assert warned(saved) == {(inside["id"], "pit_overlaps_infrastructure", infra["id"])}

    # The Outline shrinks away from the Pit and the Infrastructure: both are checked again (they touched its
    # old box), the far Pit is not (its warning stands with the client).
    smaller = outline | {"geometry": square(200, 200, 50)}
    saved = client.patch(url, json={"version": 2, "regions": [smaller]}).json()
    assert set(saved["checked"]) == {outline["id"], inside["id"], infra["id"]}
    assert warned(saved) == {
        (inside["id"], "outside_outline", None),
        (inside["id"], "pit_overlaps_infrastructure", infra["id"]),
        (infra["id"], "outside_outline", None),
    }

    # A Pit moved (or added) changes only its own warnings (an overlap is the Pit's warning): only it is
    # checked, although the Outline and the Infrastructure touch it.
    nudged = inside | {"geometry": square(12, 12, 50)}
    saved = client.patch(url, json={"version": 3, "regions": [nudged]}).json()
    assert saved["checked"] == [inside["id"]]
    assert warned(saved) == {
        (inside["id"], "outside_outline", None),
        (inside["id"], "pit_overlaps_infrastructure", infra["id"]),
    }
    assert all(set(w) == {"code", "region_id", "other_region_id"} for w in saved["warnings"])  # no text

    # Deleting the Infrastructure clears the overlap warning of the Pit.
    saved = client.patch(url, json={"version": 4, "deleted": [infra["id"]]}).json()
    assert inside["id"] in saved["checked"]
    assert warned(saved) == {(inside["id"], "outside_outline", None)}

    # The last Outline goes: the rule waits for one, so the whole annotation is checked (checked: null).
    saved = client.patch(url, json={"version": 5, "deleted": [outline["id"]]}).json()
    assert saved["checked"] is None and saved["warnings"] == []
    # The union of what the saves said is what a full check says.
    (listed,) = client.get(f"/api/observations/{observation.id}/annotations").json()
    assert listed["warnings"] == []
    # And the first one back: every Pit outside it is warned again.
    saved = client.patch(url, json={"version": 6, "regions": [outline]}).json()
    assert saved["checked"] is None
    assert warned(saved) == {(far["id"], "outside_outline", None)}


def test_opening_a_task_reads_the_warnings_its_saves_stored_and_checks_once_where_none_are(
    client: TestClient, observation: Observation, db_session: Session
) -> None:
    outline = region("Outline", 0, 0, 300)
    inside, far = region("Pit", 10, 10, 50), region("Pit", 700, 700, 50)
    created = create(client, observation, [outline, inside, far]).json()
    annotation_id = uuid.UUID(created["id"])
    url = f"/api/annotations/{annotation_id}"
    listing = f"/api/observations/{observation.id}/annotations"

    def stored() -> tuple[int | None, set[tuple[str, str, str | None]]]:
        db_session.expire_all()
        annotation = db_session.get(Annotation, annotation_id)
        assert annotation is not None
        rows = db_session.scalars(select(StoredWarning).where(StoredWarning.annotation_id == annotation_id))
        kept = {
            (str(w.region_id), w.rule, str(w.other_region_id) if w.other_region_id else None) for w in rows
        }
        return annotation.warnings_version, kept

    def full_check() -> set[tuple[str, str, str | None]]:
        warnings = service.topology_warnings(db_session, annotation_id, ["Pit", "Infrastructure", "Outline"])
        return {
            (str(w.region_id), w.code.value, str(w.other_region_id) if w.other_region_id else None)
            for w in warnings
        }

    assert stored() == (1, {(far["id"], "outside_outline", None)})  # the create stored its warnings
    # A save of changes rewrites the warnings of what it checked; the open reads them and they are the
    # whole check's.
    infra = region("Infrastructure", 40, 40, 50)
    client.patch(url, json={"version": 1, "regions": [infra]})
    client.patch(url, json={"version": 2, "regions": [far | {"geometry": square(100, 200, 20)}]})
    version, kept = stored()
    assert version == 3 and kept == full_check() == {
        (inside["id"], "pit_overlaps_infrastructure", infra["id"])
    }
    (listed,) = client.get(listing).json()
    assert warned(listed) == kept

    # An annotation whose warnings were never stored (an import): a save of changes checks only its part and
    # cannot make them current, so the next open checks the whole annotation once and keeps the result.
    db_session.execute(text("DELETE FROM topology_warnings WHERE annotation_id = :a"), {"a": annotation_id})
    db_session.execute(
        text("UPDATE annotations SET warnings_version = NULL WHERE id = :a"), {"a": annotation_id}
    )
    db_session.commit()
    client.patch(url, json={"version": 3, "regions": [region("Pit", 800, 800, 20)]})
    assert stored() == (None, set())
    (listed,) = client.get(listing).json()
    assert listed["version"] == 4 and warned(listed) == full_check() != set()
    assert stored() == (4, full_check())


def test_opening_a_task_sends_each_region_as_the_saves_do(
    client: TestClient, observation: Observation, db_session: Session
) -> None:
    holed = {
        "type": "Polygon",
        "coordinates": [
            [[100, 100], [300, 100], [300, 300], [100, 300], [100, 100]],
            [[150, 150], [150, 200], [200, 200], [200, 150], [150, 150]],
        ],
    }
    odd = {
        "type": "Polygon",
        "coordinates": [[[10.123, 20.5], [90.25, 21.75], [50.333, 80.125], [10.123, 20.5]]],
    }
    clipped = region("Infrastructure", 980, 400, 40)  # cut at the image's edge
    body: list[dict[str, Any]] = [
        {"id": str(uuid.uuid4()), "label": "Outline", "geometry": holed},
        {"id": str(uuid.uuid4()), "label": "Pit", "geometry": odd, "source": "sam", "score": 0.8125},
        clipped,
    ]
    created = create(client, observation, body, clip=True).json()
    (listed,) = client.get(f"/api/observations/{observation.id}/annotations").json()
    db_session.expire_all()
    expected = [
        region_feature(r).model_dump(mode="json")
        for r in service.live_regions(db_session, uuid.UUID(created["id"]))
    ]
    assert listed["regions"] == expected  # the same objects, in the same order (oldest first)
    assert sorted(expected, key=lambda r: r["id"]) == sorted(created["regions"], key=lambda r: r["id"])
    assert listed["regions"][0]["properties"]["geometry_wgs84"]["type"] == "MultiPolygon"
    # A client that draws in pixels (the labeling view) leaves the EPSG:4326 copies out; nothing else changes.
    (pixels,) = client.get(
        f"/api/observations/{observation.id}/annotations", params={"wgs84": "false"}
    ).json()
    without = [r | {"properties": r["properties"] | {"geometry_wgs84": None}} for r in expected]
    assert pixels["regions"] == without
    assert {k: v for k, v in pixels.items() if k != "regions"} == {
        k: v for k, v in listed.items() if k != "regions"
    }
    refused = client.get(f"/api/observations/{observation.id}/annotations", params={"wgs84": "maybe"})
    assert refused.status_code == 422, refused.text


def test_a_save_of_many_new_regions_stores_each_with_its_revision_and_answers_without_them(
    client: TestClient, observation: Observation, db_session: Session
) -> None:
    """An accept-all: the new regions are inserted together, each with its create revision, and the answer
    (also what the idempotency record keeps) names them with their versions instead of echoing them."""
    created = create(client, observation, []).json()
    url = f"/api/annotations/{created['id']}"
    accepted = [region("Pit", 10 + 30 * (i % 30), 10 + 30 * (i // 30), 20) for i in range(300)]
    accepted[0]["geometry"] = square(990, 500, 30)  # past the image's edge: cut, so sent back whole
    saved = client.patch(
        url, params={"clip": True}, json={"version": 1, "regions": accepted}, headers={"Idempotency-Key": "k"}
    )
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert sorted(r["id"] for r in body["saved"]) == sorted(r["id"] for r in accepted)
    assert {r["version"] for r in body["saved"]} == {1}
    assert [r["id"] for r in body["regions"]] == [accepted[0]["id"]]
    assert [c["region_id"] for c in body["changes"]] == [accepted[0]["id"]]
    # Ids and versions (in `saved` and `checked`), not 300 polygons with their properties.
    assert len(saved.content) < 150 * len(accepted)
    revisions = db_session.scalars(select(Revision).where(Revision.annotation_version == 2)).all()
    assert sorted(str(r.region_id) for r in revisions) == sorted(r["id"] for r in accepted)
    assert {r.action.value for r in revisions} == {"create"}
    by_id = {r["id"]: r for r in whole(client, created["id"])["regions"]}
    assert set(by_id) == {r["id"] for r in accepted}
    clipped = by_id[accepted[0]["id"]]["geometry"]
    assert max(x for x, _ in clipped["coordinates"][0][0]) == observation.width
    assert clipped == body["regions"][0]["geometry"]  # as the answer said
    assert by_id[accepted[1]["id"]]["properties"]["area_px"] == 400
    # A replay is the same small answer, and stores nothing twice.
    again = client.patch(
        url, params={"clip": True}, json={"version": 1, "regions": accepted}, headers={"Idempotency-Key": "k"}
    )
    assert again.json() == body
    assert db_session.scalar(select(func.count()).select_from(Region)) == len(accepted)
