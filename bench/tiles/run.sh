#!/usr/bin/env bash
# Tile benchmark: MineLabel against titiler on the same COG, through uvicorn, on this machine.
# titiler lives only in bench/.venv-titiler (never in the project's environment).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ ! -x bench/.venv-titiler/bin/uvicorn ]; then
  python3 -m venv bench/.venv-titiler
  bench/.venv-titiler/bin/pip install --quiet titiler.core uvicorn > bench/.venv-titiler/pip.log 2>&1 \
    || { cat bench/.venv-titiler/pip.log; exit 1; }
fi
exec .venv/bin/python -m bench.tiles.bench_tiles "$@"
