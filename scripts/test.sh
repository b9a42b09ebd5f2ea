#!/usr/bin/env bash
# Installs what the tests need (scripts/setup.sh), then runs them all:
# unit tests, end-to-end tests, and the whole-corpus tests when the
# developer corpus is at ../shared/corpus (or DICOMMANAGER_CORPUS).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test "$@"
