#!/usr/bin/env bash
# Re-pins the three dependency groups from requirements/*.in into requirements/*.lock, each lock holding
# only what its group adds to the ones before it (base, then dev, then ml), all under constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=/tmp/minelabel-lock
rm -rf "$venv" && python3 -m venv "$venv"
pip=("$venv/bin/pip" install --quiet --disable-pip-version-check -c requirements/constraints.txt)
freeze() { "$venv/bin/pip" freeze --exclude-editable | LC_ALL=C sort; }
"${pip[@]}" -r requirements/base.in && freeze > "$venv/base"
"${pip[@]}" -r requirements/dev.in -c "$venv/base" && freeze > "$venv/dev"
"${pip[@]}" -r requirements/ml.in -c "$venv/dev" && freeze > "$venv/ml"
{ echo '# Pinned from requirements/base.in by `make lock`: the API and the CPU workers.'; cat "$venv/base"; } \
  > requirements/base.lock
{ echo '# Pinned from requirements/dev.in by `make lock`, on top of base.lock: tests and checks.'
  LC_ALL=C comm -13 "$venv/base" "$venv/dev"; } > requirements/dev.lock
{ echo '# Pinned from requirements/ml.in by `make lock`, on top of base.lock (and with constraints.txt):'
  echo '# torch and the models built on it, for the GPU workers. CUDA builds of torch on Linux x86_64.'
  LC_ALL=C comm -13 "$venv/dev" "$venv/ml"; } > requirements/ml.lock
echo "requirements/{base,dev,ml}.lock re-pinned"
