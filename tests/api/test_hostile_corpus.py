"""The hostile-input corpus (hostile_corpus.yaml, over 200 cases: uploads, saves, imports, sign-in,
cross-project ids): each is a 4xx whose body says what is wrong, and nothing is stored, in the database or
in the files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from app.core.db import Base
from tests.world import World, build_world, square

CORPUS = Path(__file__).with_name("hostile_corpus.yaml")
# Whole rows compared before and after (the tables a case could write into); every other table by count.
COMPARED_ROWS = [
    "projects",
    "users",
    "annotations",
    "regions",
    "review_comments",
    "predictions",
    "observations",
]
# Stand-ins for values too big or too deep to write in the YAML.
SPECIAL: dict[str, Any] = {
    "SQUARE": square(10, 10, 20),
    "NESTED": {"type": "Polygon", "coordinates": json.loads("[" * 900 + "1" + "]" * 900)},
    "DEEP": "[" * 100_000 + "]" * 100_000,
}


@dataclass
class Case:
    name: str
    caller: str
    method: str
    url: str
    status: int | None  # None: any 4xx
    message: str
    json_body: Any = None
    files: dict[str, tuple[str, bytes]] | None = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _special(value: Any) -> Any:
    if isinstance(value, str) and value in SPECIAL:
        return SPECIAL[value]
    if isinstance(value, dict):
        return {key: _special(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_special(item) for item in value]
    return value


def _put(template: Any, payload: Any) -> Any:
    if template == "$":
        return payload
    if isinstance(template, dict):
        return {key: _put(item, payload) for key, item in template.items()}
    if isinstance(template, list):
        return [_put(item, payload) for item in template]
    return template


def load_corpus() -> list[Case]:
    corpus = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    cases = [
        Case(
            name=f"{target['name']}: {payload['name']}",
            caller=target["caller"],
            method=target["method"],
            url=target["url"],
            status=422,
            message=payload["message"],
            json_body=_special(_put(target["body"], payload["value"])),
        )
        for target in corpus["fields"]
        for payload in corpus["payloads"]
    ]
    for item in corpus["cases"]:
        files = {
            name: (filename, str(_special(content)).encode("utf-8"))
            for name, (filename, content) in item.get("files", {}).items()
        }
        cases.append(
            Case(
                name=item["name"],
                caller=item["caller"],
                method=item["method"],
                url=item["url"],
                status=item.get("status"),
                message=item["message"],
                json_body=_special(item.get("json")),
                files=files or None,
                data=item.get("data"),
                headers=item.get("headers", {}),
            )
        )
    return cases


def fill(url: str, world: World) -> str:
    values = {
        "project_id": world.project.id,
        "other_project_id": world.other_project.id,
        "observation_id": world.task.id,
        "annotation_id": world.annotation_id,
        "region_id": world.region.id,
        "user_id": world.other_annotator.id,
    }
    return url.format(**values)


def snapshot(connection: Connection, files: Path) -> dict[str, Any]:
    """What a refused request must not change: whole rows of the tables it aims at, the number of rows of
    every table, and the files in storage."""
    state: dict[str, Any] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in COMPARED_ROWS:
            # Geometries as their WKB hex (a WKBElement's repr names its address, not its value).
            rows = connection.execute(table.select())
            state[table.name] = sorted(repr(tuple(getattr(v, "desc", v) for v in row)) for row in rows)
        else:
            state[table.name] = connection.execute(select(func.count()).select_from(table)).scalar()
    state["files"] = sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file())
    return state


def _body_text(response: Any) -> str:
    return json.dumps(response.json())


def test_the_corpus_has_over_200_cases() -> None:
    assert len(load_corpus()) >= 200


def test_every_hostile_input_is_a_4xx_that_says_why_and_stores_nothing(
    app: FastAPI, db_session: Session, connection: Connection, tmp_path: Path, files_dir: Path
) -> None:
    world = build_world(db_session, app.state.storage, tmp_path)
    failures: list[str] = []
    with TestClient(app) as client:
        before = snapshot(connection, files_dir)
        for case in load_corpus():
            headers = dict(case.headers)
            if case.caller != "anonymous":
                headers["Authorization"] = f"Token {world.keys[case.caller]}"
            savepoint = connection.begin_nested()
            try:
                kwargs: dict[str, Any] = {"headers": headers}
                if case.files is not None or case.data is not None:
                    kwargs |= {"files": case.files, "data": case.data}
                elif case.json_body is not None:
                    # json.dumps writes NaN as NaN, which is what a hostile client sends.
                    kwargs["content"] = json.dumps(case.json_body).encode()
                    headers["Content-Type"] = "application/json"
                response = client.request(case.method, fill(case.url, world), **kwargs)
                after = snapshot(connection, files_dir)
            finally:
                savepoint.rollback()
            problems = []
            if not 400 <= response.status_code < 500 or case.status not in (None, response.status_code):
                problems.append(f"status {response.status_code}, expected {case.status or '4xx'}")
            elif "json" not in response.headers.get("content-type", ""):
                problems.append("not a JSON error body")
            elif case.message.lower() not in _body_text(response).lower():
                problems.append(f"the message does not say {case.message!r}")
            elif str(files_dir) in response.text or "staging" in response.text:
                problems.append("the message names the server's own files")
            if after != before:
                changed = [key for key in before if before[key] != after.get(key)]
                problems.append(f"stored something: {changed}")
            if problems:
                failures.append(f"{case.name}: {'; '.join(problems)}: {response.text[:300]}")
    assert not failures, f"{len(failures)} of {len(load_corpus())} cases failed:\n" + "\n".join(failures)
