#!/usr/bin/env bash
# Benchmark of issue 5: `dicommanager anomize` against `cp -r` of the same
# tree, in alternation, on tmpfs (/dev/shm) where disk noise does not drown
# the difference; plus peak RSS and how it grows with the number of files.
#
#   scripts/bench.sh                        # generated trees: 2,000 small + 500 CT files,
#                                           # then RSS on 2,000 vs 10,000 small files
#   scripts/bench.sh --tree DIR             # one existing tree (copied to tmpfs first)
#   scripts/bench.sh [--no-flat] [-- extra anomize arguments, e.g. --jobs 1]
#
# Environment: BIN (the dicommanager to time; default: built here, release)
# compares another build, e.g. the code before a change, in the same
# session; REGISTRY (unset) non-empty gives every anomize run a new
# --registry; RUNS (7) timed runs of each command; PROFILE (basic) given
# to --profile; SMALL_FILES (2000), CT_FILES (500), BIG_FILES (10000) and
# SEED (1) for the generated trees; TREES=DIR keeps generated trees in DIR
# and reuses them on the next run (default: generated in the temporary
# work folder and removed at exit with everything else).
#
# Every row says which profile it used. The ratio is median(anomize) /
# median(cp -r); "pairs" is the range of the per-run ratios (anomize run i
# against the cp -r run just before it), a measure of the noise.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-7}
profile=${PROFILE:-basic}
small_files=${SMALL_FILES:-2000}
ct_files=${CT_FILES:-500}
big_files=${BIG_FILES:-10000}
seed=${SEED:-1}
tree=
flat=1
while [ $# -gt 0 ]; do
    case $1 in
        --tree) tree=${2:?--tree needs a folder}; shift 2 ;;
        --no-flat) flat=0; shift ;;
        --) shift; break ;;
        *) echo "usage: $0 [--tree DIR] [--no-flat] [-- anomize arguments]" >&2; exit 2 ;;
    esac
done
extra=("$@")
label=$profile${extra[*]:+ ${extra[*]}}

cargo build --release --quiet --bin dicommanager --example make_pacs_tree
bin=${BIN:-$PWD/target/release/dicommanager}
gen=$PWD/target/release/examples/make_pacs_tree
work=$(mktemp -d /dev/shm/dicommanager-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
trees=${TREES:-$work/trees}
mkdir -p "$trees"

# Generates a tree once; a stamp beside it (not inside: it would be
# copied and walked) says it is complete and can be reused.
generated() { # MODE FILES -> path of the tree
    local dir=$trees/$1-$2-seed$seed
    if [ ! -e "$dir.done" ]; then
        rm -rf "$dir"
        "$gen" --mode "$1" --files "$2" --seed "$seed" --out "$dir" >&2
        touch "$dir.done"
    fi
    echo "$dir"
}

now() { date +%s%N; }
# Runs a command under /usr/bin/time (both commands pay the same wrapper);
# sets wall_us and rss_kib.
measure() {
    local t0 t1 status=0
    t0=$(now)
    /usr/bin/time -f %M -o "$work/rss" "$@" || status=$?
    t1=$(now)
    # anomize exits 1 when some files are ERROR rows (broken inputs): expected.
    [ "$status" -le 1 ] || { echo "$* failed with exit code $status" >&2; exit 1; }
    wall_us=$(( (t1 - t0) / 1000 ))
    rss_kib=$(tail -n 1 "$work/rss")
}
anomize() { # SRC DEST
    local registry=()
    if [ -n "${REGISTRY:-}" ]; then
        # A new registry every run: a second run on the same one would find
        # every file exported already and write nothing.
        rm -f "$work"/registry.sqlite*
        registry=(--registry "$work/registry.sqlite")
    fi
    measure "$bin" anomize -s "$1" -d "$2" --quiet --profile "$profile" "${registry[@]}" "${extra[@]}"
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

header() {
    printf 'machine: %s cores, load average %s; tmpfs; release build; %s runs each\n' \
        "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$runs"
    echo "anomize arguments: --quiet --profile $profile${REGISTRY:+ --registry NEW}${extra[*]:+ ${extra[*]}}"
    printf '%-8s %-34s %9s %10s %11s %6s %11s %10s %10s %9s\n' \
        profile tree MiB "cp -r ms" "anomize ms" ratio pairs "cp files/s" "files/s" "RSS MiB"
}

# Times cp -r and anomize of SRC in alternation and prints one table row.
compare() { # NAME SRC
    local name=$1 src=$2 files mib cp_t=() tool_t=() pairs=() rss=()
    files=$(find "$src" -type f | wc -l)
    mib=$(du -sb "$src" | awk '{printf "%.1f", $1 / 1048576}')
    for _ in $(seq "$runs"); do
        measure cp -r "$src" "$work/copy"
        cp_t+=("$wall_us")
        rm -rf "$work/copy"
        anomize "$src" "$work/out"
        tool_t+=("$wall_us")
        rss+=("$rss_kib")
        pairs+=("$(awk -v t="$wall_us" -v c="${cp_t[-1]}" 'BEGIN {printf "%.3f", t / c}')")
        rm -rf "$work/out"
    done
    awk -v p="$profile" -v n="$name ($files files)" -v mib="$mib" -v f="$files" \
        -v c="$(median "${cp_t[@]}")" -v t="$(median "${tool_t[@]}")" \
        -v lo="$(printf '%s\n' "${pairs[@]}" | sort -n | head -n 1)" \
        -v hi="$(printf '%s\n' "${pairs[@]}" | sort -n | tail -n 1)" \
        -v rss="$(median "${rss[@]}")" 'BEGIN {
        printf "%-8s %-34s %9s %10.1f %11.1f %6.2f %5.2f-%-5.2f %10.0f %10.0f %9.1f\n",
            p, n, mib, c / 1000, t / 1000, t / c, lo, hi, f / (c / 1e6), f / (t / 1e6), rss / 1024
    }'
}

# Median peak RSS (KiB) and median time (µs) of 3 anomize runs of SRC;
# sets rss_med and t_med.
rss_of() { # SRC
    local rss=() t=()
    for _ in 1 2 3; do
        anomize "$1" "$work/out"
        t+=("$wall_us")
        rss+=("$rss_kib")
        rm -rf "$work/out"
    done
    rss_med=$(median "${rss[@]}")
    t_med=$(median "${t[@]}")
}

if [ -n "$tree" ]; then
    cp -r "$tree" "$work/src"
    header
    compare "$(basename "$tree")" "$work/src"
    exit 0
fi

small=$(generated small "$small_files")
ct=$(generated ct "$ct_files")
[ "$flat" = 0 ] || big=$(generated small "$big_files")
header
compare "small" "$small"
compare "CT" "$ct"

if [ "$flat" = 1 ]; then
    rss_of "$small"
    rss_small=$rss_med t_small=$t_med
    rss_of "$big"
    rss_big=$rss_med t_big=$t_med
    awk -v p="$label" -v a="$small_files" -v b="$big_files" -v ra="$rss_small" -v rb="$rss_big" \
        -v ta="$t_small" -v tb="$t_big" 'BEGIN {
        printf "\nmemory (%s, median of 3 runs): peak RSS %.1f MiB on %d small files (%.0f ms), %.1f MiB on %d (%.0f ms); ratio %.2f (target <= 1.5)\n",
            p, ra / 1024, a, ta / 1000, rb / 1024, b, tb / 1000, rb / ra
    }'
fi
