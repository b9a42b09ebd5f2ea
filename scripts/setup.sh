#!/usr/bin/env bash
# Installs what building and testing dicommanager needs besides Rust:
# cmake and a C++ compiler (the JPEG-LS codec CharLS is built from source
# for `export`), DCMTK (the reference reader the tests compare with),
# dicom3tools (dciodvfy, the IOD validator the tests check outputs with, and
# dcdirdmp) and pydicom (whose FileSet reads the DICOMDIRs the tests rebuild).
# Debian/Ubuntu: uses apt-get as root, or through sudo. Does nothing when
# everything is there already.
set -euo pipefail

need=()
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
command -v cmake >/dev/null || need+=(cmake)
command -v c++ >/dev/null || need+=(g++)
command -v dcmdump >/dev/null || need+=(dcmtk)
command -v dciodvfy >/dev/null && command -v dcdirdmp >/dev/null || need+=(dicom3tools)
command -v python3 >/dev/null || need+=(python3 python3-pip)
# pydicom's FileSet (pydicom >= 2.1) loads the rebuilt DICOMDIRs.
need_pydicom=0
python3 -c 'import pydicom.fileset' 2>/dev/null || need_pydicom=1
[ ${#need[@]} -eq 0 ] && [ "$need_pydicom" -eq 0 ] && exit 0
missing="${need[*]}"
[ "$need_pydicom" -eq 1 ] && missing="$missing pydicom (pip)"

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "setup: please install: $missing" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "setup: please install with your package manager: $missing" >&2
    exit 1
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! python3 -c 'import pydicom.fileset' 2>/dev/null; then
    echo "setup: installing pydicom" >&2
    # Debian's system Python refuses pip without this (PEP 668).
    "${as_root[@]}" python3 -m pip install -q pydicom \
        || "${as_root[@]}" python3 -m pip install -q --break-system-packages pydicom
fi
