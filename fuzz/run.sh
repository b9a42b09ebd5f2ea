#!/usr/bin/env bash
# Runs the fuzz target seeded with the developer corpus.
#   fuzz/run.sh [SECONDS] [JOBS]      (default 3600 s, 1 job)
# cargo-fuzz needs a nightly compiler; with the stable toolchain of this
# project, RUSTC_BOOTSTRAP=1 unlocks the flags it uses.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-3600}
jobs=${2:-1}
mkdir -p corpus/deidentify artifacts
if [ -d ../../shared/corpus ]; then
    find ../../shared/corpus -type f -size -2M -exec cp -n {} corpus/deidentify/ \; 2>/dev/null || true
fi
cp -n ../tests/fixtures/*.dcm corpus/deidentify/ 2>/dev/null || true
export RUSTC_BOOTSTRAP=1
exec cargo fuzz run deidentify corpus/deidentify -- \
    -max_total_time="$seconds" -jobs="$jobs" -workers="$jobs" -max_len=2097152 -rss_limit_mb=2048
