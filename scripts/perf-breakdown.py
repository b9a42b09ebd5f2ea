#!/usr/bin/env python3
# Where the time of an `anomize` (or `cp -r`) run goes, from a `perf record -g`
# profile: every sample is put in one bucket (the system call it is inside,
# a page fault, or the phase of our own code on the stack) and the buckets
# are printed as shares of all samples. Used for docs/performance.md.
#
#   perf record -F 20000 -g -o anomize.data target/release/dicommanager anomize ...
#   scripts/perf-breakdown.py anomize.data [perf script options, e.g. --comms dicommanager]
#
# User-space stacks need `--call-graph dwarf` (release builds have no frame
# pointers); with plain `-g` only the kernel part of each stack is reliable.
import re
import signal
import subprocess
import sys
from collections import Counter

# Kernel entry points (`__x64_sys_read`, `__do_sys_newfstatat`, `ksys_write`
# ...), the outermost on the stack names the system call; some are grouped.
SYSCALL = re.compile(r"^(?:__x64_sys_|__do_sys_|__se_sys_|ksys_)(\w+)$")
GROUPS = {
    "pread64": "read",
    "newfstatat": "stat",
    "statx": "stat",
    "fstat": "stat",
    "mkdirat": "mkdir",
    "munmap": "mmap/munmap/brk",
    "mmap": "mmap/munmap/brk",
    "brk": "mmap/munmap/brk",
    "futex": "futex (thread wake/wait)",
    "readlink": "readlink (canonicalize)",
    "execve": "process start/exit",
    "exit_group": "process start/exit",
}
# Our phases, matched anywhere on the stack (innermost match wins).
PHASES = [
    ("rust_xlsxwriter", "user: XLSX audit"),
    ("zlib_rs", "user: XLSX audit"),
    ("sink::csv", "user: CSV audit"),
    ("CsvSink", "user: CSV audit"),
    ("write_in_order", "user: audit writer thread"),
    ("engine::header", "user: first pass (header facts)"),
    ("sniff", "user: first pass (sniff)"),
    ("engine::scan", "user: first pass (scan)"),
    ("rewrite", "user: second pass (rewrite)"),
    ("engine::plan", "user: numbering (plan)"),
    ("walk::discover", "user: walk"),
    ("walkdir", "user: walk"),
]


def bucket(frames):
    """frames: innermost first, as (symbol, dso)."""
    phase = next(
        (name for symbol, _ in frames for key, name in PHASES if key in symbol), None
    )
    where = f" [{phase[6:]}]" if phase else ""
    for symbol, _ in reversed(frames):
        match = SYSCALL.match(symbol)
        if match:
            name = GROUPS.get(match.group(1), match.group(1))
            return f"kernel: {name}(){where}"
    if any(s in ("asm_exc_page_fault", "exc_page_fault") for s, _ in frames):
        return "kernel: page faults" + where
    if frames and "kernel" in frames[0][1]:
        return "kernel: other" + where
    if phase:
        return phase
    leaf = frames[0][0] if frames else "?"
    if any(k in leaf for k in ("malloc", "free", "realloc", "memmove", "memset", "memcpy")):
        return "user: libc (alloc/copy) elsewhere"
    return "user: other"


def samples(path, extra):
    out = subprocess.run(
        ["perf", "script", "-i", path, "-F", "ip,sym,dso", *extra],
        capture_output=True, text=True, check=True,
    ).stdout
    frames = []
    for line in out.splitlines() + [""]:
        line = line.strip()
        if not line:
            if frames:
                yield frames
            frames = []
            continue
        parts = line.split(None, 1)
        rest = parts[1] if len(parts) > 1 else ""
        symbol, _, dso = rest.rpartition(" (")
        symbol = symbol.split("+0x")[0]
        frames.append((symbol, dso.rstrip(")")))


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    counts = Counter(bucket(f) for f in samples(sys.argv[1], sys.argv[2:]))
    total = sum(counts.values())
    print(f"{total} samples")
    for name, n in counts.most_common():
        print(f"{100 * n / total:6.1f}%  {name}")


if __name__ == "__main__":
    main()
