#!/usr/bin/env bash
# The whole grip_views test suite: lint, types, unit tests, and end-to-end tests
# through a real Pushpin with real clients (HTTP streaming, WebSocket, headless
# Chromium). Installs what is missing: Python packages with pip; Pushpin and
# Chromium with apt-get when run as root, otherwise it prints the command.
#
#   ./runtests.sh                 # everything
#   ./runtests.sh -m "not pushpin"   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

"$PYTHON" -m pip install -q --disable-pip-version-check -r requirements-dev.txt

missing=()
command -v pushpin >/dev/null 2>&1 || missing+=(pushpin)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing ${missing[*]} with apt-get ..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "Missing: ${missing[*]}. Install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        [ "${CI:-}" = "true" ] && exit 1
        echo "(continuing: tests that need them are skipped)" >&2
    fi
fi

"$PYTHON" -m ruff check grip_views tests demo bench
"$PYTHON" -m ruff format --check grip_views tests demo bench
"$PYTHON" -m mypy
# Two workers: each starts its own Pushpin and live server.
exec "$PYTHON" -m pytest -n 2 -p no:cacheprovider -p no:benchmark "$@"
