"""The OpenAPI contract, fuzzed: schemathesis generates requests for every operation from the document
the app publishes and sends them to the real app (real PostGIS), as a site admin and as an annotator.
Every answer must be no 5xx, a documented status, and a body that matches the documented schema.

Bounded and seeded (hypothesis derandomized, a few examples per operation and mode), so a run takes a few
minutes and a failure comes back the same. Path ids point at one world of tests.world, and every request
runs in a savepoint that is rolled back, so what a request deletes or changes is this test's own fixture.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from tests.world import World, build_world

AnyCase = schemathesis.Case[Any]
Operation = schemathesis.APIOperation[Any, Any, Any, Any]

log = logging.getLogger(__name__)

# Examples per operation, per generation mode, per caller: the bound that keeps the run to minutes.
EXAMPLES = 8
# Server errors are checked by the test itself (SAM's documented 503 where it is not set up is no bug).
CHECKS = [status_code_conformance, response_schema_conformance, content_type_conformance]
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


def world_ids(world: World) -> dict[str, Any]:
    """Path parameters that name the world's own resources (the rest are generated)."""
    return {
        "project_id": str(world.project.id),
        "observation_id": str(world.task.id),
        "annotation_id": str(world.annotation_id),
        "region_id": str(world.region.id),
        "prediction_id": str(world.prediction.id),
        "comment_id": str(world.comment.id),
        "job_id": str(world.job.id),
        "token_id": str(world.token.id),
        "user_id": str(world.other_annotator.id),
        "model_version_id": str(world.model_version.id),
        "dataset_id": str(world.dataset.id),
    }


def sam_not_set_up(response: schemathesis.Response) -> bool:
    """SAM's documented 503 in a world without a SAM checkpoint: the answer it should give there."""
    return response.status_code == 503 and b'"code":"sam_not_set_up"' in response.content


def run_operation(operation: Operation, send: Callable[[AnyCase], None], ids: dict[str, Any]) -> None:
    names = set(re.findall(r"\{(\w+)\}", operation.path))
    fixed = {name: value for name, value in ids.items() if name in names}
    strategy = st.one_of(
        [operation.as_strategy(generation_mode=mode, path_parameters=fixed) for mode in MODES]
    )

    @hypothesis_settings(
        max_examples=EXAMPLES * len(MODES),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: AnyCase) -> None:
        send(case)

    run()


@pytest.mark.parametrize("caller", ["site_admin", "annotator"])
def test_every_operation_keeps_the_contract(
    caller: str, app: FastAPI, db_session: Session, connection: Connection, tmp_path: Path
) -> None:
    world = build_world(db_session, app.state.storage, tmp_path, real_image=True)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Token {world.keys[caller]}"}
    failures: list[str] = []
    statuses: Counter[int] = Counter()

    def send(case: AnyCase) -> None:
        savepoint = connection.begin_nested()  # every request sees the same world
        try:
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            if response.status_code >= 500 and not sam_not_set_up(response):
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
                )
            case.validate_response(response, checks=CHECKS)
        except (Failure, FailureGroup) as exc:  # the checks' findings; anything else is a bug of the test
            found = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            for failure in found:
                failures.append(
                    f"{case.method} {case.formatted_path}: {str(failure)[:3000]}".replace("\n", " ")
                )
        except Exception as exc:  # an exception out of the app is a 500 the test client re-raises
            failures.append(f"{case.method} {case.formatted_path}: raised {type(exc).__name__}: {exc}"[:500])
        finally:
            savepoint.rollback()

    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "schemathesis could not read some operations"
    assert len(operations) > 80
    # Deletes last: a deleted image's files are gone for good (only the database rolls back).
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")
    for operation in operations:
        run_operation(operation, send, world_ids(world))
    # What the run did, for the log (`pytest -rA` shows it).
    log.info(
        "%d operations, %d requests, %d violations: %s",
        len(operations),
        statuses.total(),
        len(failures),
        statuses,
    )
    # Every operation was tried, and not only refused: some calls got through to the handlers.
    assert statuses.total() >= 2 * len(operations), statuses
    assert sum(n for status, n in statuses.items() if status < 300) >= len(operations) // 4, statuses
    assert not failures, (
        f"{len(failures)} contract violations in {statuses.total()} requests:\n" + "\n\n".join(failures[:40])
    )
