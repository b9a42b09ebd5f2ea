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

single() {
    "$bin" anomize -q -s "$work/source" -d "$work/dest" -p "$profile" --jobs "$jobs"
}
staged() { # SHARDS
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

declare -A times cpu
for _ in $(seq "$runs"); do
    for what in single "staged 1" "staged 3"; do
        # Not timed: the previous run's DEST and work folder go.
        rm -rf "$work/dest" "$work/work"
        # Wall time, and CPU time (user + system, of every process): on a
        # machine shared with other work the CPU time is the steadier.
        TIMEFORMAT='%R %U %S'
        measured=$({ time $what; } 2>&1 >/dev/null | tail -n1)
        read -r real user sys <<<"$measured"
        times[$what]+="$real "
        cpu[$what]+="$(echo "$user + $sys" | bc) "
        if [ "$what" = single ]; then
            rm -rf "$work/single" && mv "$work/dest" "$work/single"
        else
            # The same outputs and listing as the single run.
            diff -r -q -x _run.json -x .dicommanager.lock -x _out.xlsx \
                "$work/single" "$work/dest" >/dev/null
        fi
    done
done
med() { echo "$1" | tr ' ' '\n' | grep . | median; }
base=$(med "${times[single]}")
base_cpu=$(med "${cpu[single]}")
printf '%-10s %8s %9s %8s %9s   (%s DICOM files, profile %s, --jobs %s, median of %s)\n' \
    run wall overhead cpu overhead "$files ${MODE:-small}" "$profile" "$jobs" "$runs"
for what in single "staged 1" "staged 3"; do
    t=$(med "${times[$what]}")
    c=$(med "${cpu[$what]}")
    printf '%-10s %7.2fs %8.1f%% %7.2fs %8.1f%%\n' "$what" "$t" \
        "$(echo "($t / $base - 1) * 100" | bc -l)" "$c" "$(echo "($c / $base_cpu - 1) * 100" | bc -l)"
done
