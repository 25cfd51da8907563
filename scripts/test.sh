#!/usr/bin/env bash
# The whole test suite: lint, types (Python and TypeScript) and pytest against real PostGIS, Redis,
# Celery workers. pytest starts throw-away PostgreSQL and Redis servers of its own (tests/services.py).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

step() { printf '\n\033[1m[test] %s\033[0m\n' "$*"; }
step "ruff"
ruff check .
ruff format --check .
step "mypy (strict)"
mypy
step "TypeScript (strict)"
(cd frontend && npm run --silent typecheck)
step "pytest"
pytest "$@"
