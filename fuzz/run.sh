#!/usr/bin/env bash
# Runs a fuzz target seeded with the developer corpus.
#   fuzz/run.sh [SECONDS] [JOBS] [TARGET]   (default 3600 s, 1 job, deidentify;
#                                            the other target is file_path)
# Seeds: every corpus file under 64 KiB and the test fixtures.
# cargo-fuzz needs a nightly compiler; with the stable toolchain of this
# project, RUSTC_BOOTSTRAP=1 unlocks the flags it uses.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-3600}
jobs=${2:-1}
target=${3:-deidentify}
mkdir -p "corpus/$target" artifacts
if [ -d ../../shared/corpus ]; then
    find ../../shared/corpus -type f -size -64k -exec cp -n {} "corpus/$target/" \; 2>/dev/null || true
fi
cp -n ../tests/fixtures/*.dcm "corpus/$target/" 2>/dev/null || true
export RUSTC_BOOTSTRAP=1
parallel=()
if [ "$jobs" -gt 1 ]; then
    parallel=(-jobs="$jobs" -workers="$jobs")
fi
# Safe Rust: the sanitizer finds little that a panic would not, and costs
# most of the speed. Small inputs keep the rate at thousands per second.
exec cargo fuzz run --sanitizer none "$target" "corpus/$target" -- \
    -max_total_time="$seconds" "${parallel[@]}" -max_len=65536 -rss_limit_mb=2048 \
    -print_final_stats=1
