"""The load benchmark, run small (4 users, 20 s), so that it keeps working: no 5xx, nothing lost or
duplicated, and a check that finds a lost, duplicated or refused change when there is one."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine

from bench.load.check import CheckResult, check
from bench.load.records import LoadRecords, RefusedChange
from bench.load.run_load import main

pytestmark = pytest.mark.slow


def test_a_short_load_run_loses_and_duplicates_nothing() -> None:
    tampered: list[CheckResult] = []

    def tamper(engine: Engine, records: LoadRecords) -> None:
        """The same check on records that lie: one accepted change moved to a version never stored, and one
        region that was created claimed as refused."""
        lying = records.model_copy(deep=True)
        moved = lying.accepted[0]
        moved.version += 1000
        created = next(r for c in records.accepted for r in c.regions if r.action == "create")
        lying.refused.append(
            RefusedChange(annotation_id=uuid.uuid4(), route="test", new_region_ids=[created.region_id])
        )
        tampered.append(check(engine, lying))

    summary = main(
        [
            "--annotators",
            "3",
            "--reviewers",
            "1",
            "--run-time",
            "20",
            "--images",
            "8",
            "--min-edits",
            "2",
            "--max-edits",
            "4",
            "--spawn-rate",
            "10",
        ],
        probe=tamper,
    )
    records, result = summary.records, summary.check
    assert summary.server_errors == 0
    assert (result.lost, result.final_state_mismatches, result.duplicated, result.refused_stored) == (
        0,
        0,
        0,
        0,
    )
    assert (
        result.duplicated_versions == 0 and records.retries_mismatched == 0 and records.state_mismatches == 0
    )
    # It did what it says: saves of each kind, stale saves refused, retries, submits and reviews.
    routes = {c.route for c in records.accepted}
    assert routes == {"PUT /api/annotations/{id}", "PATCH /api/annotations/{id}", "PUT /api/regions/{id}"}
    assert result.refused_changes > 0 and records.retries > 0
    assert records.tasks_submitted > 0 and records.approved + records.rejected > 0
    assert records.unexpected == {}
    (lying,) = tampered
    assert lying.lost >= 1 and lying.duplicated >= 1 and lying.refused_stored >= 1
