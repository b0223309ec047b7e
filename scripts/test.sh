#!/usr/bin/env bash
# Run the project's checks and whole test suite (what CI runs). Sets up first if needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/ruff check pytest_visualreview tests benchmarks examples
.venv/bin/mypy
# The suite includes tests/test_wheel_install.py: the wheel, built once, in fresh virtualenvs.
# --visual-review: the review pages are checked with our own snapshot fixture (tests/ui/__visual_snapshots__).
exec .venv/bin/python -m pytest -n 2 --dist loadgroup --visual-review "$@"
