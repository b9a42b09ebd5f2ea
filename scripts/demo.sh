#!/usr/bin/env bash
# The main job on the embedded defaults: de-identify the sample folder of
# the repository with the built-in profile into target/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --release -- anomize -s samples/pacs -d target/demo --overwrite
