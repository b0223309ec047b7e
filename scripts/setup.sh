#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine, idempotently:
#   - a virtual environment in .venv with the package, the server extra and the dev tools;
#   - a Chromium for Playwright: Playwright's own build if it is installed, else Debian's `chromium`
#     (installed here with apt-get when missing, since Playwright's download is not reachable everywhere);
#   - PostgreSQL's server binaries (Debian's `postgresql`), which the tests of the shared store start
#     in a temporary folder (tests/server/postgres.py); the package's own cluster is not used.
# Sourced by demo.sh and test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
    echo "setup: installing the package and its test tools into .venv (log: .venv/pip.log)" >&2
    if ! .venv/bin/python -m pip install --quiet -e '.[dev]' >.venv/pip.log 2>&1; then
        cat .venv/pip.log >&2
        exit 1
    fi
    rm -f .venv/.installed-*
    touch "$stamp"
fi

# A browser: Playwright's own Chromium wins; otherwise the system one, installed if missing.
if ! .venv/bin/python -m pytest_visualreview.browser --check >/dev/null 2>&1; then
    echo "setup: no Chromium found; installing Debian's chromium package" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
    .venv/bin/python -m pytest_visualreview.browser --check
fi

# PostgreSQL for the shared-store tests: only the binaries (initdb, pg_ctl) are needed.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "setup: no PostgreSQL found; installing Debian's postgresql package" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
