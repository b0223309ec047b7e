#!/usr/bin/env bash
# The main job: set everything up, start the bundled review server (once; it keeps running), run the
# example suite with --visual-review against it, and print where the report and the review page are.
# Run it again after changing examples/site/style.css to see a visual change fail and go to review.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

DATA="$PWD/.visual-review-server"
PORT="${VISUAL_REVIEW_DEMO_PORT:-8765}"
URL="http://127.0.0.1:$PORT"
VR=.venv/bin/visualreview
healthy() { .venv/bin/python -c "import requests,sys; requests.get('$URL/healthz', timeout=1).raise_for_status()" 2>/dev/null; }

if ! healthy; then
    mkdir -p "$DATA"
    nohup "$VR" serve --data-dir "$DATA" --host 127.0.0.1 --port "$PORT" --no-access-log \
        >"$DATA/server.log" 2>&1 &
    echo $! >"$DATA/server.pid"
    for _ in $(seq 1 100); do healthy && break; sleep 0.2; done
    healthy || { echo "demo: the review server did not start; see $DATA/server.log" >&2; exit 2; }
    echo "demo: review server started at $URL (data in $DATA, log in $DATA/server.log)"
fi
if [ ! -f "$DATA/demo.env" ]; then
    # The example's snapshots.yml holds plain (unsigned) hashes, so its repo trusts them.
    token=$("$VR" token create --data-dir "$DATA" --scope visual_review:read --scope visual_review:write --name demo)
    repo=$("$VR" repo create --data-dir "$DATA" --trust-unsigned examples)
    printf 'VISUAL_REVIEW_TOKEN=%s\nREPO=%s\n' "$token" "$repo" >"$DATA/demo.env"
fi
set -a; . "$DATA/demo.env"; set +a

commit=$(git rev-parse HEAD 2>/dev/null || printf '0%.0s' $(seq 1 40))
branch=$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo demo)
[ "$branch" != HEAD ] || branch=demo

cd examples
# Changes approved on the review page since the last run come into the working tree first, as a bot
# commit would bring them in CI; with nothing approved this changes nothing.
if pulled=$("../$VR" pull --url "$URL" --project 1 --repo "$REPO" --branch "$branch" 2>&1); then
    printf '%s\n' "$pulled" | sed 's/^/demo: /'
fi
status=0
../.venv/bin/python -m pytest -p no:cacheprovider --visual-review \
    --visual-review-url "$URL" --visual-review-project 1 --visual-review-repo "$REPO" \
    --visual-review-branch "$branch" --visual-review-commit "$commit" "$@" || status=$?
cat <<MSG

report:        $PWD/.visual-review/report.html
review server: $URL/ui/  (sign in with the token in $DATA/demo.env)
stop it with:  kill \$(cat $DATA/server.pid)
MSG
exit $status
