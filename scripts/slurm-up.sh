#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine (as root), for CI to
# submit the staged-run example to: Debian's slurm-wlm and munge, one
# controller and one compute node on localhost, no cgroups (containers
# often have none to give). Does nothing when `sinfo` already answers.
#
#   scripts/slurm-up.sh        # then: sbatch, squeue, sinfo work
#
# Not for production: SlurmUser is root, accounting is off.
set -euo pipefail

if sinfo -h >/dev/null 2>&1 && [ "$(sinfo -h -o %t | head -n1)" = idle ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "slurm-up: run as root (it installs packages and starts daemons)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "slurm-up: installing slurm-wlm and munge" >&2
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

node=$(hostname -s)
cpus=$(nproc)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=dicommanager-ci
SlurmctldHost=${node}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN
PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP
CONF

# munge: a key (the package makes one), then the daemon as its own user.
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged
fi
munge -n | unmunge >/dev/null

pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
for _ in $(seq 60); do
    case $(sinfo -h -o %t 2>/dev/null | head -n1) in
        idle)
            echo "slurm-up: node ${node} idle with ${cpus} CPUs" >&2
            exit 0
            ;;
        # A node left down or drained by an earlier start comes back.
        down* | drain* | drng*) scontrol update nodename="${node}" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 1
done
echo "slurm-up: Slurm did not come up; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1
