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

# Re-pin requirements.lock from requirements.in (needs the package registry).
lock:
	rm -rf /tmp/minelabel-lock && python3 -m venv /tmp/minelabel-lock
	/tmp/minelabel-lock/bin/pip install --quiet -r requirements.in
	{ echo '# Pinned from requirements.in by `make lock`; `make run` and `make test` install exactly this.'; \
	  /tmp/minelabel-lock/bin/pip freeze --exclude-editable; } > requirements.lock

# Tile throughput and latency against titiler (installed only in bench/.venv-titiler).
bench-tiles: setup
	bench/tiles/run.sh
