#!/usr/bin/env bash
# The main job: set everything up, then run the example suite with visual review and say where the
# report is. Run it again after changing examples/site/style.css to see a visual change fail.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cd examples
status=0
../.venv/bin/python -m pytest --visual-review -p no:cacheprovider "$@" || status=$?
echo
echo "report: $(pwd)/.visual-review/report.html"
exit $status
