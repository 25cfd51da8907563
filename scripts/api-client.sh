#!/usr/bin/env bash
# Regenerates the frontend's typed API client (frontend/src/api/schema.d.ts) from the backend's OpenAPI
# schema. Run it after changing a route or a schema; tests/infra/test_api_client.py fails when it is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m app.openapi_dump > frontend/openapi.json
(cd frontend && npx --no-install openapi-typescript openapi.json -o src/api/schema.d.ts --root-types >/dev/null)
rm frontend/openapi.json
echo "frontend/src/api/schema.d.ts regenerated"
