#!/usr/bin/env bash
# Times `dicommanager anomize` against `cp -r` of the same tree, in
# alternation, on tmpfs (/dev/shm) where disk noise does not drown the
# difference. Prints the median of each and their ratio.
#
#   scripts/bench-vs-cp.sh [TREE] [-- extra anomize arguments]
#   RUNS=11 scripts/bench-vs-cp.sh ../shared/corpus -- --profile basic
set -euo pipefail
cd "$(dirname "$0")/.."

tree=${1:-../shared/corpus}
shift || true
[ "${1:-}" = "--" ] && shift
runs=${RUNS:-7}

cargo build --release --quiet
bin=$PWD/target/release/dicommanager
work=$(mktemp -d /dev/shm/dicommanager-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$tree" "$work/src"
files=$(find "$work/src" -type f | wc -l)
bytes=$(du -sb "$work/src" | cut -f1)

now() { date +%s%N; }
cp_times=()
tool_times=()
for _ in $(seq "$runs"); do
    t0=$(now); cp -r "$work/src" "$work/copy"; t1=$(now)
    cp_times+=($(( (t1 - t0) / 1000 )))
    rm -rf "$work/copy"
    t0=$(now)
    status=0
    "$bin" anomize -s "$work/src" -d "$work/out" --quiet "$@" || status=$?
    t1=$(now)
    # 1 means some files were ERROR rows (broken inputs), which is expected.
    [ "$status" -le 1 ] || { echo "anomize failed with exit code $status" >&2; exit 1; }
    tool_times+=($(( (t1 - t0) / 1000 )))
    rm -rf "$work/out"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
cp_us=$(median "${cp_times[@]}")
tool_us=$(median "${tool_times[@]}")
awk -v f="$files" -v b="$bytes" -v c="$cp_us" -v t="$tool_us" -v r="$runs" 'BEGIN {
    printf "tree: %d files, %.1f MiB, %d runs each, tmpfs\n", f, b / 1048576, r
    printf "cp -r:    median %8.1f ms  (%6.0f files/s)\n", c / 1000, f / (c / 1e6)
    printf "anomize:  median %8.1f ms  (%6.0f files/s)\n", t / 1000, f / (t / 1e6)
    printf "ratio anomize / cp -r: %.2f\n", t / c
}'
