#!/usr/bin/env bash
# Sourced by run.sh and test.sh: make the virtualenv and bun exist, cheaply when they already do.
# Usage: source scripts/bootstrap.sh <requirements file>
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="${1:-requirements.txt}"
BUN_VERSION="1.4.5"
VENV="$ROOT/.venv"
TOOLS="$ROOT/.tools"

log() { printf '\033[1;34m[finapp]\033[0m %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv in .venv"
  python3 -m venv "$VENV"
fi

# Reinstall only when the requirement files changed since the last install.
stamp="$VENV/.installed-$(basename "$REQUIREMENTS")"
digest="$(cat "$ROOT/requirements.txt" "$ROOT/$REQUIREMENTS" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  log "installing Python packages from $REQUIREMENTS"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/$REQUIREMENTS"
  echo "$digest" > "$stamp"
fi

# Reflex downloads bun from the internet by default, which this network blocks: take the
# same binary from the npm registry instead.
if [ ! -x "$TOOLS/node_modules/.bin/bun" ] || [ "$("$TOOLS/node_modules/.bin/bun" --version)" != "$BUN_VERSION" ]; then
  log "installing bun $BUN_VERSION from the npm registry"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "bun@$BUN_VERSION" >/dev/null
fi

export PATH="$TOOLS/node_modules/.bin:$VENV/bin:$PATH"
export REFLEX_TELEMETRY_ENABLED=false
export REFLEX_CHECK_LATEST_VERSION=false
export BUN_INSTALL_CACHE_DIR="$TOOLS/bun-cache"
export PYTHONUNBUFFERED=1
