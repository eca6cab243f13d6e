#!/usr/bin/env bash
# The run command: install what is missing, migrate, ensure the admin, start finapp on one port.
# `scripts/run.sh --dev` starts the hot-reloading development server instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh requirements.txt

python -m finapp.manage prepare

if [ "${1:-}" = "--dev" ]; then
  log "starting in development mode (hot reload): UI on :${PORT:-3000}, API on :8000"
  exec reflex run --env dev --frontend-port "${PORT:-3000}"
fi
log "starting finapp on port ${PORT:-3000} (production build)"
exec reflex run --env prod --single-port --frontend-port "${PORT:-3000}" \
  --backend-host "${FINAPP_HOST:-0.0.0.0}"
