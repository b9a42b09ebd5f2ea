#!/bin/bash
# Submits one staged dicommanager run to Slurm: scan as a job array of N
# tasks, number once, write as a job array of N tasks, merge once, each
# started when the one before has succeeded (--dependency=afterok).
#
#   WORK=/shared/work DICOMMANAGER_SECRET_FILE=~/secret \
#       examples/slurm/submit.sh -n 8 -s /pacs/export -d /shared/dest [-p PROFILE]... [--wait]
#
# Prints the job ids. With --wait it returns when merge ends, with merge's
# exit code (0: every file OK; 1: some files failed, see the audit); a
# stage that fails cancels the ones after it. Extra sbatch options (a
# partition, an account, --cpus-per-task) go in SBATCH_OPTIONS.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
shards="" source="" dest="" wait=""
profile=()
while [ $# -gt 0 ]; do
    case $1 in
        -n) shards=$2; shift 2 ;;
        -s) source=$2; shift 2 ;;
        -d) dest=$2; shift 2 ;;
        -p) profile+=(-p "$2"); shift 2 ;;
        --wait) wait=--wait; shift ;;
        *) echo "submit.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
: "${shards:?-n SHARDS}" "${source:?-s SOURCE}" "${dest:?-d DEST}" "${WORK:?set WORK}"
mkdir -p "$WORK"
chmod 700 "$WORK"

# shellcheck disable=SC2086 # SBATCH_OPTIONS holds several options
submit() { sbatch --parsable --kill-on-invalid-dep=yes --export=ALL ${SBATCH_OPTIONS:-} "$@"; }
logs="$WORK/slurm-%x-%A_%a.out"
scan=$(submit --job-name=dm-scan --array="1-$shards" --output="$logs" \
    "$here/stage.sbatch" scan -s "$source" -d "$dest" "${profile[@]}")
number=$(submit --job-name=dm-number --dependency="afterok:$scan" --output="$logs" \
    "$here/stage.sbatch" number "${profile[@]}")
write=$(submit --job-name=dm-write --array="1-$shards" --dependency="afterok:$number" \
    --output="$logs" "$here/stage.sbatch" write "${profile[@]}")
echo "scan $scan, number $number, write $write" >&2
submit --job-name=dm-merge --dependency="afterok:$write" --output="$logs" $wait \
    "$here/stage.sbatch" merge
