#!/usr/bin/env bash
# The whole grip_views test suite: lint, types, unit tests, and end-to-end tests
# through a real Pushpin with real clients (HTTP streaming, WebSocket, headless
# Chromium), on the newest and the oldest supported Python/Django pairs:
#
#   Python 3.13 + Django 6.1: ruff check, ruff format --check, mypy, every test
#   Python 3.10 + Django 5.2: the unit tests (-m "not pushpin")
#
# Each pair runs in its own virtualenv, made here with the exact versions of
# requirements/constraints.txt and requirements/django*.txt (regenerate them with
# `python3 requirements/lock.py`), and reused while those pins are unchanged. They
# live outside the work tree, so nothing that scans the tree meets them: in
# ~/.cache/grip-views/venvs/<checkout>/ (XDG_CACHE_HOME is honoured), or in
# $GRIP_VIEWS_VENVS; the ones of checkouts that no longer exist are removed. Pythons are found with pyenv, as python3.X on PATH,
# or from PYTHON313=/path/to/python3.13 and PYTHON310=... . Pushpin and Chromium
# are installed with apt-get when run as root, otherwise it prints the command.
#
#   ./runtests.sh                     # everything
#   ./runtests.sh -k sse -x           # extra arguments go to pytest (the Python 3.13 run)
#
# Exits non-zero if any step fails (pytest collecting no test counts as a failure).
set -euo pipefail
cd "$(dirname "$0")"

VENV_CACHE="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/grip-views/venvs"
if [ -n "${GRIP_VIEWS_VENVS:-}" ]; then
    VENVS=$(mkdir -p "$GRIP_VIEWS_VENVS" && cd "$GRIP_VIEWS_VENVS" && pwd)
else
    # One folder per checkout (the editable install points at it).
    VENVS="$VENV_CACHE/$(basename "$PWD")-$(printf %s "$PWD" | sha256sum | cut -c1-12)"
    # Forget the virtualenvs of checkouts that are gone (only folders made here:
    # those with a .checkout file naming a checkout without its runtests.sh).
    for old in "$VENV_CACHE"/*/; do
        [ -f "$old.checkout" ] || continue
        [ "${old%/}" = "$VENVS" ] && continue
        if [ ! -f "$(cat "$old.checkout")/runtests.sh" ]; then
            echo "Removing ${old%/} (its checkout $(cat "$old.checkout") is gone)"
            rm -rf -- "${old%/}"
        fi
    done
    mkdir -p "$VENVS"
    echo "$PWD" >"$VENVS/.checkout"
fi
CONSTRAINTS=requirements/constraints.txt
NEW_PY=3.13 NEW_DJANGO=61   # the full suite, lint and mypy
OLD_PY=3.10 OLD_DJANGO=52   # the unit tests
# Bump when the way the virtualenvs are made changes: they are then remade.
RECIPE=2
PYTEST_ARGS=(-n 2 -p no:cacheprovider -p no:benchmark)

# --- system packages: Pushpin, Chromium and its driver, Node.js (grip-socket.js tests)
missing=()
command -v pushpin >/dev/null 2>&1 || missing+=(pushpin)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
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

# --- the Pythons ------------------------------------------------------------------
find_python() { # 3.13 -> path of a python3.13
    local version=$1 var="PYTHON${1/./}" cand prefix
    local candidates=()
    [ -n "${!var:-}" ] && candidates+=("${!var}")
    if command -v pyenv >/dev/null 2>&1 && prefix=$(pyenv prefix "$version" 2>/dev/null); then
        candidates+=("${prefix%%$'\n'*}/bin/python$version")
    fi
    candidates+=("python$version" "/usr/bin/python$version" "/usr/local/bin/python$version")
    for cand in "${candidates[@]}"; do
        if "$cand" -c "import sys, venv; sys.exit(sys.version_info[:2] != tuple(map(int, '$version'.split('.'))))" \
            >/dev/null 2>&1; then
            command -v "$cand"
            return 0
        fi
    done
    echo "runtests.sh: Python $version not found (pyenv install $version, or set $var=/path/to/python$version)" >&2
    return 1
}

# --- the virtualenvs --------------------------------------------------------------
# pip_run PIP_COMMAND...: pip, less its notes on configured local index folders that
# do not exist on this machine.
pip_run() {
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    grep -v -E "^WARNING: Location 'file:[^']*' is ignored: it is neither a file nor a directory\.$" <<<"$out" || true
    return "$rc"
}

# make_venv NAME PYTHON DJANGO_FILE PIP_ARGS... : $VENVS/NAME with exactly these pins.
make_venv() {
    local name=$1 python=$2 django_file=$3
    shift 3
    local dir="$VENVS/$name" stamp want
    stamp="$dir/.grip-views-pins"
    want=$(
        {
            echo "recipe $RECIPE $PWD"
            "$python" -c 'import sys; print(sys.version)'
            echo "$*"
            cat "$CONSTRAINTS" "$django_file" setup.py requirements-dev.txt bench/requirements.txt
        } | sha256sum | cut -d' ' -f1
    )
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$dir/bin/python" -c '' 2>/dev/null; then
        echo "Reusing $dir (pins unchanged)"
        return 0
    fi
    echo "Making $dir with $("$python" -V 2>&1) and the pins of $CONSTRAINTS, $django_file ..."
    rm -rf "$dir"
    "$python" -m venv "$dir"
    local pip=("$dir/bin/python" -m pip --disable-pip-version-check)
    # pip, setuptools and wheel first, pinned; then the rest built with those
    # (no isolated build environment with unpinned setuptools).
    pip_run "${pip[@]}" install -q -c "$CONSTRAINTS" pip setuptools wheel
    pip_run "${pip[@]}" install -q -c "$CONSTRAINTS" --no-build-isolation -r "$django_file" "$@"
    pip_run "${pip[@]}" check
    echo "$want" >"$stamp"
}

NEW_PYTHON=$(find_python $NEW_PY)
OLD_PYTHON=$(find_python $OLD_PY)
NEW_VENV="$VENVS/py${NEW_PY/./}-django$NEW_DJANGO"
OLD_VENV="$VENVS/py${OLD_PY/./}-django$OLD_DJANGO"
make_venv "${NEW_VENV##*/}" "$NEW_PYTHON" "requirements/django$NEW_DJANGO.txt" -r requirements-dev.txt
make_venv "${OLD_VENV##*/}" "$OLD_PYTHON" "requirements/django$OLD_DJANGO.txt" -e ".[test]"

# --- what runs ----------------------------------------------------------------------
versions() { # VENV
    "$1/bin/python" - <<'EOF'
import platform
from importlib.metadata import PackageNotFoundError, version

def v(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"

print(
    f"  Python {platform.python_version()}, Django {v('Django')}, DRF {v('djangorestframework')}, "
    f"pytest {v('pytest')}, mypy {v('mypy')}, ruff {v('ruff')}, grip-views {v('grip-views')}"
)
EOF
}
echo "Versions:"
echo "  $NEW_VENV (lint, mypy, full suite):"
versions "$NEW_VENV"
echo "  $OLD_VENV (unit tests):"
versions "$OLD_VENV"
echo "  $( (pushpin --version 2>/dev/null || echo 'pushpin: not installed') | head -1)"

# --- the steps: each runs, the failures are listed at the end -----------------------
failed=()
step() { # NAME VENV COMMAND... (run with the virtualenv first on PATH)
    local name=$1 venv=$2 rc=0
    shift 2
    echo
    echo "=== $name"
    PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" "$@" || rc=$?
    if [ "$rc" = 5 ] && [ "${3:-}" = pytest ]; then
        echo "runtests.sh: $name collected no test (pytest exit 5): a failure" >&2
    fi
    if [ "$rc" != 0 ]; then
        failed+=("$name (exit $rc)")
    fi
}
LINT_PATHS=(grip_views tests demo bench requirements setup.py)
step "ruff check" "$NEW_VENV" "$NEW_VENV/bin/ruff" check "${LINT_PATHS[@]}"
step "ruff format --check" "$NEW_VENV" "$NEW_VENV/bin/ruff" format --check "${LINT_PATHS[@]}"
step "mypy" "$NEW_VENV" "$NEW_VENV/bin/python" -m mypy
# Two workers each: each starts its own Pushpin and live server.
step "unit tests, Python $OLD_PY + Django ${OLD_DJANGO:0:1}.${OLD_DJANGO:1}" "$OLD_VENV" \
    "$OLD_VENV/bin/python" -m pytest "${PYTEST_ARGS[@]}" -m "not pushpin"
step "full suite, Python $NEW_PY + Django ${NEW_DJANGO:0:1}.${NEW_DJANGO:1}" "$NEW_VENV" \
    "$NEW_VENV/bin/python" -m pytest "${PYTEST_ARGS[@]}" "$@"

echo
if [ ${#failed[@]} -gt 0 ]; then
    echo "runtests.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "runtests.sh: lint, mypy and both test runs passed"
