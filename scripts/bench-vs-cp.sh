#!/usr/bin/env bash
# Times `dicommanager anomize` against `cp -r` of one existing tree (kept
# for the README's command line); the work is done by scripts/bench.sh.
#
#   scripts/bench-vs-cp.sh [TREE] [-- extra anomize arguments]
#   RUNS=11 scripts/bench-vs-cp.sh ../shared/corpus -- --jobs 1
set -euo pipefail
tree=${1:-../shared/corpus}
shift || true
exec "$(dirname "$0")/bench.sh" --tree "$tree" "$@"
