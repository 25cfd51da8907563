# The two commands of the README: `make run` and `make test`. Both install what is missing first.
.PHONY: run test setup lint format lock frontend bench-tiles

run: setup
	@exec .venv/bin/minelabel dev

test: setup
	@scripts/test.sh

setup:
	@scripts/setup.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

frontend:
	cd frontend && npm run build

# Re-pin requirements/{base,dev,ml}.lock from their .in files (needs the package registry).
lock:
	scripts/lock.sh

# Tile throughput and latency against titiler (installed only in bench/.venv-titiler).
bench-tiles: setup
	bench/tiles/run.sh
