#!/usr/bin/env bash
# Installs what building and testing dicommanager needs besides Rust:
# cmake and a C++ compiler (the JPEG-LS codec CharLS is built from source
# for `export`), DCMTK (the reference reader the tests compare with) and
# dicom3tools (dciodvfy, the IOD validator the tests check outputs with).
# Debian/Ubuntu: uses apt-get as root, or through sudo. Does nothing when
# everything is there already.
set -euo pipefail

need=()
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
command -v cmake >/dev/null || need+=(cmake)
command -v c++ >/dev/null || need+=(g++)
command -v dcmdump >/dev/null || need+=(dcmtk)
command -v dciodvfy >/dev/null || need+=(dicom3tools)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "setup: please install: ${need[*]} (e.g. apt-get install ${need[*]})" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "setup: please install with your package manager: ${need[*]}" >&2
    exit 1
fi
echo "setup: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
