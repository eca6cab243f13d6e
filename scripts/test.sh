#!/usr/bin/env bash
# The test command: install everything the suite needs on a fresh machine, then run it all.
# Extra arguments go to pytest (e.g. `scripts/test.sh tests/services -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh requirements-dev.txt

# System packages the tests drive for real: a browser for the UI tests, PostgreSQL for the
# database tests, Dovecot (and openssl for its certificates) for the mail tests. Installed only when missing, so a second run costs nothing.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The suite must prove PostgreSQL and IMAP support, not skip them quietly.
export FINAPP_TEST_REQUIRE_POSTGRES=1
export FINAPP_TEST_REQUIRE_DOVECOT=1

ruff check .
status=0
pytest "$@" || status=$?
# Exit 5 means "no tests collected"; that is not a failure of the code under test.
if [ "$status" -eq 5 ]; then status=0; fi
exit "$status"
