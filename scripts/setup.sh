#!/usr/bin/env bash
# Installs what MineLabel needs on a Debian machine, doing only what is missing (safe to run again):
# Debian packages (PostgreSQL + PostGIS, Redis, Node.js, Chromium for the browser tests), the Python
# virtual environment from requirements/*.lock (base, dev and ml groups, one torch through
# requirements/constraints.txt), and the frontend's npm packages and build.
# MINELABEL_SKIP_ML=1 leaves the ml group (torch, about 5 GB) out: the GPU-side tests then skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# --- Debian packages -------------------------------------------------------------------------
# chromium: the browser that tests/e2e drive through Playwright (never `playwright install`). Its fonts are
# only recommended, and recommends are left out below: Liberation (metric-compatible with Arial/Times) for
# readable screenshots; DejaVu already comes with fontconfig.
DEB_PACKAGES=(postgresql-15 postgresql-15-postgis-3 redis-server chromium fonts-liberation)
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python virtual environment --------------------------------------------------------------
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
LOCKS=(requirements/base.lock requirements/dev.lock)
if [ "${MINELABEL_SKIP_ML:-0}" != "1" ]; then LOCKS+=(requirements/ml.lock); fi
want="$(cat "${LOCKS[@]}" requirements/constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat .venv/.installed 2>/dev/null)" != "$want" ]; then
  log "installing Python packages: ${LOCKS[*]}"
  # pip's log goes to a file and is shown only when it fails (this machine's extra indexes are noisy).
  pip_install() {
    .venv/bin/pip install --quiet --disable-pip-version-check "$@" > .venv/pip.log 2>&1 || {
      cat .venv/pip.log >&2; exit 1; }
  }
  pip_install -c requirements/constraints.txt "${LOCKS[@]/#/-r}"
  pip_install --no-deps -e .
  echo "$want" > .venv/.installed
fi

# --- A real consumer of Label Studio JSON, for the export tests ---------------------------------
# label-studio-sdk (its Converter) pins other versions of numpy and friends, so it gets a venv of its own.
LSSDK_VERSION="2.1.2"
if [ "$(cat .venv-lssdk/.installed 2>/dev/null)" != "$LSSDK_VERSION" ]; then
  log "installing label-studio-sdk $LSSDK_VERSION into .venv-lssdk (used by tests only)"
  rm -rf .venv-lssdk
  "$PYTHON" -m venv .venv-lssdk
  .venv-lssdk/bin/pip install --quiet --disable-pip-version-check "label-studio-sdk==$LSSDK_VERSION" \
    > .venv-lssdk/pip.log 2>&1 || { cat .venv-lssdk/pip.log >&2; exit 1; }
  echo "$LSSDK_VERSION" > .venv-lssdk/.installed
fi

# --- A real Label Studio, for the slow compatibility test (tests/interop/test_real_label_studio.py) -----
# About 1 GB; MINELABEL_SKIP_LABEL_STUDIO=1 leaves it out (the test is then skipped, saying why).
LABEL_STUDIO_VERSION="1.23.2"
if [ "${MINELABEL_SKIP_LABEL_STUDIO:-0}" != "1" ] \
   && [ "$(cat .venv-label-studio/.installed 2>/dev/null)" != "$LABEL_STUDIO_VERSION" ]; then
  log "installing label-studio $LABEL_STUDIO_VERSION into .venv-label-studio (used by one slow test only)"
  rm -rf .venv-label-studio
  "$PYTHON" -m venv .venv-label-studio
  .venv-label-studio/bin/pip install --quiet --disable-pip-version-check "label-studio==$LABEL_STUDIO_VERSION" \
    > .venv-label-studio/pip.log 2>&1 || { cat .venv-label-studio/pip.log >&2; exit 1; }
  echo "$LABEL_STUDIO_VERSION" > .venv-label-studio/.installed
fi

# --- Frontend --------------------------------------------------------------------------------
want="$(sha256sum frontend/package-lock.json | cut -d' ' -f1)"
if [ "$(cat frontend/node_modules/.installed 2>/dev/null)" != "$want" ]; then
  log "installing frontend packages (npm ci)"
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > frontend/node_modules/.installed
fi
log "building the frontend"
(cd frontend && npm run --silent build >/dev/null)
log "ready"
