#!/usr/bin/env bash
# The cost of a run in stages (issue 16): one `anomize` run against the
# four stages run one after the other on this machine, with 1 and with 3
# shards (on a cluster the shards of `scan` and `write` run at once, on
# machines of their own; here they share this one, so the comparison
# measures what the stages add: the extra walk per shard, the plans
# written and read, the second open and header read of every file, the
# merge of the audit). On tmpfs (/dev/shm), runs alternating; each DEST is
# checked to be the single run's.
#
#   scripts/bench-stages.sh                    # 2,000 small MR files
#   MODE=ct FILES=500 scripts/bench-stages.sh  # 500 CT slices of 512 KiB
#
# Environment: RUNS (5) timed runs of each; MODE (small, or ct) and FILES
# (2000) of the generated tree; JOBS (2) worker
# threads of anomize, scan and write; PROFILE (basic).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-5}
files=${FILES:-2000}
jobs=${JOBS:-2}
profile=${PROFILE:-basic}
cargo build --release --quiet --bin dicommanager --example make_pacs_tree
bin=$PWD/target/release/dicommanager
work=$(mktemp -d /dev/shm/dicommanager-stages.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DICOMMANAGER_SECRET=bench-stages-secret-0123456789abcdef
target/release/examples/make_pacs_tree --mode "${MODE:-small}" --files "$files" --out "$work/source" >/dev/null

now() { date +%s.%N; }
single() {
    rm -rf "$work/dest"
    "$bin" anomize -q -s "$work/source" -d "$work/dest" -p "$profile" --jobs "$jobs"
}
staged() { # SHARDS
    rm -rf "$work/dest" "$work/work"
    local n=$1 k
    for k in $(seq "$n"); do
        "$bin" stage scan -q -w "$work/work" --shard "$k/$n" -s "$work/source" -d "$work/dest" \
            -p "$profile" --jobs "$jobs"
    done
    "$bin" stage number -q -w "$work/work" -p "$profile"
    for k in $(seq "$n"); do
        "$bin" stage write -q -w "$work/work" --shard "$k/$n" -p "$profile" --jobs "$jobs"
    done
    "$bin" stage merge -q -w "$work/work"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A times
for _ in $(seq "$runs"); do
    for what in single "staged 1" "staged 3"; do
        start=$(now)
        $what
        times[$what]+="$(echo "$(now) - $start" | bc) "
        if [ "$what" = single ]; then
            rm -rf "$work/single" && mv "$work/dest" "$work/single"
        else
            # The same outputs and listing as the single run.
            diff -r -q -x _run.json -x .dicommanager.lock -x _out.xlsx \
                "$work/single" "$work/dest" >/dev/null
        fi
    done
done
base=$(echo "${times[single]}" | tr ' ' '\n' | grep . | median)
printf '%-10s %8s %9s   (%s DICOM files, profile %s, --jobs %s, median of %s)\n' \
    run seconds overhead "$files ${MODE:-small}" "$profile" "$jobs" "$runs"
for what in single "staged 1" "staged 3"; do
    t=$(echo "${times[$what]}" | tr ' ' '\n' | grep . | median)
    printf '%-10s %8.2f %8.1f%%\n' "$what" "$t" "$(echo "($t / $base - 1) * 100" | bc -l)"
done
