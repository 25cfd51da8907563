"""Prints the API's OpenAPI schema as JSON (`python -m app.openapi_dump`), for the frontend's typed client.

Building the app opens no connection, so this needs no database."""

from __future__ import annotations

import json
import sys

from fastapi import FastAPI

from app.main import create_app


def schema_json(app: FastAPI) -> str:
    """The schema as scripts/api-client.sh feeds it to openapi-typescript (stable key order)."""
    return json.dumps(app.openapi(), indent=1, sort_keys=True) + "\n"


def main() -> None:
    sys.stdout.write(schema_json(create_app()))


if __name__ == "__main__":
    main()
