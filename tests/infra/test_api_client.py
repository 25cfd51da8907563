"""The frontend's typed API client is generated from the backend's OpenAPI schema; it must not go stale."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app.core.config import Settings
from app.main import create_app
from app.openapi_dump import schema_json

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"


def test_the_committed_client_types_match_the_api(settings: Settings, tmp_path: Path) -> None:
    if shutil.which("node") is None or not (FRONTEND / "node_modules" / "openapi-typescript").is_dir():
        pytest.fail("node and frontend/node_modules are needed: run `make setup`")
    schema = tmp_path / "openapi.json"
    schema.write_text(schema_json(create_app(settings)))
    generated = tmp_path / "schema.d.ts"
    subprocess.run(
        ["npx", "--no-install", "openapi-typescript", str(schema), "-o", str(generated), "--root-types"],
        cwd=FRONTEND, check=True, capture_output=True,
    )  # fmt: skip
    committed = (FRONTEND / "src" / "api" / "schema.d.ts").read_text()
    assert generated.read_text() == committed, (
        "frontend/src/api/schema.d.ts is stale: run scripts/api-client.sh and commit the result"
    )
