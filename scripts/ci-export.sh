#!/usr/bin/env bash
# CI steps of the metadata / splitby / export commands, for a fresh Debian
# machine running as root.
#
#   bash scripts/ci-export.sh deps    install the system packages the build
#                                     needs (cmake: CharLS, the JPEG-LS codec,
#                                     is built from bundled C++ sources) and
#                                     DCMTK, the reference for `export`
#   bash scripts/ci-export.sh         deps, then the corpus-wide tests: every
#                                     image of ../shared/corpus exports, and
#                                     our PNGs match dcmj2pnm within one gray
#                                     level on >= 99% of samples
#
# Run `deps` before the first `cargo build` on a new machine.
set -euo pipefail
cd "$(dirname "$0")/.."

install_deps() {
    local need=()
    command -v cmake >/dev/null || need+=(cmake)
    command -v c++ >/dev/null || need+=(g++)
    command -v dcmj2pnm >/dev/null || need+=(dcmtk)
    if ((${#need[@]})); then
        echo "ci-export: installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
}

install_deps
if [[ "${1:-}" == "deps" ]]; then
    exit 0
fi

corpus="${DICOMMANAGER_CORPUS:-$(pwd)/../shared/corpus}"
if [[ ! -f "$corpus/MANIFEST.csv" ]]; then
    echo "ci-export: no corpus at $corpus (set DICOMMANAGER_CORPUS)" >&2
    exit 1
fi
export DICOMMANAGER_CORPUS="$corpus"
# Without DCMTK the comparison must fail, not skip.
export DICOMMANAGER_REQUIRE_DCMTK=1
cargo test --test commands corpus:: -- --nocapture
