"""Prints the API's OpenAPI schema as JSON (`python -m app.openapi_dump`), for the frontend's typed client.

Building the app opens no connection, so this needs no database."""

from __future__ import annotations

import json
import sys

from app.main import create_app


def main() -> None:
    json.dump(create_app().openapi(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
