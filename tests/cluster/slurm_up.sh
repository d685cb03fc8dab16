#!/usr/bin/env bash
# Bring up a throw-away single-node SLURM cluster (munge + slurmctld + slurmd) on loopback,
# for the cluster tests (tests/test_profiles.py). Run as root. Debian 12: slurm-wlm 22.05.
#
# Usage: tests/cluster/slurm_up.sh STATEDIR
#   STATEDIR/pids     one pid per line of every daemon THIS script started (slurm_down.sh
#                     stops exactly these, nothing else)
#   STATEDIR/created  files this script created or replaced outside STATEDIR, so that
#                     slurm_down.sh can remove or restore exactly those
#   STATEDIR/env      SLURM_CLUSTER_CPUS=..., SLURM_PARTITION=... for the caller
# Environment: SLURM_CLUSTER_CPUS (default 16), SLURM_CLUSTER_MEM_MB (default 64000).
#
# Why it looks like this (see README "Running elsewhere: profiles"):
# - no slurmdbd: accounting is off, so snakemake must poll squeue; MinJobAge=600 keeps
#   finished jobs visible to `squeue --states=all` (the test checks COMPLETED there);
# - the slurm-jobstep plugin strips SLURM_CONF before its inner srun, so the config has to
#   be at the compiled-in default /etc/slurm/slurm.conf (backed up and restored here);
# - SlurmdParameters=config_overrides lets the node advertise more CPUs/memory than the CI
#   machine has, so that rules sized for a real cluster (threads, mem_mb) still schedule;
# - a fake GPU (gres on /dev/null) makes `--gpus=1` requests of the training rules schedulable.
set -euo pipefail
S=${1:?usage: slurm_up.sh STATEDIR}
S=$(mkdir -p "$S" && cd "$S" && pwd)
CPUS=${SLURM_CLUSTER_CPUS:-16}
MEM=${SLURM_CLUSTER_MEM_MB:-64000}
mkdir -p "$S"/{etc,state/ctld,state/d,log,run,backup}
: > "$S/pids"
: > "$S/created"

[ "$(id -u)" = 0 ] || { echo "slurm_up.sh: must run as root" >&2; exit 2; }
for b in munged slurmctld slurmd sinfo squeue srun sbatch; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || { echo "slurm_up.sh: $b not installed" >&2; exit 2; }
done

# One test cluster at a time: /etc/slurm/slurm.conf can only point to one of them.
if [ -L /etc/slurm/slurm.conf ]; then
  other=$(readlink /etc/slurm/slurm.conf)
  other_state=${other%/etc/slurm.conf}
  if [ "$other" != "$other_state" ] && [ -s "$other_state/pids" ]; then
    while read -r pid; do
      if kill -0 "$pid" 2>/dev/null; then
        echo "slurm_up.sh: another test cluster is running ($other_state, pid $pid)" >&2
        exit 3
      fi
    done < "$other_state/pids"
  fi
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- munge: reuse a running munged, otherwise start our own ---------------------
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    mungekey --create --force
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    echo "remove /etc/munge/munge.key" >> "$S/created"
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  # leftovers of a munged that is no longer running (the check above failed)
  rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 100); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  cat /run/munge/munged.pid >> "$S/pids"
fi
munge -n | unmunge >/dev/null

# --- slurm.conf ---------------------------------------------------------------
NODE=$(hostname -s)
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
while [ "$SLURMD_PORT" = "$CTLD_PORT" ]; do SLURMD_PORT=$(free_port); done
cat > "$S/etc/slurm.conf" <<CONF
# Written by tests/cluster/slurm_up.sh for the cluster tests; removed by slurm_down.sh.
ClusterName=asteroidmlci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
MpiDefault=none
GresTypes=gpu
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
DefMemPerCPU=500
ReturnToService=2
MinJobAge=600
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$S/state/ctld
SlurmdSpoolDir=$S/state/d
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM Gres=gpu:fake:1 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
echo "NodeName=$NODE Name=gpu Type=fake File=/dev/null" > "$S/etc/gres.conf"

mkdir -p /etc/slurm
for f in slurm.conf gres.conf; do
  if [ -e "/etc/slurm/$f" ] || [ -L "/etc/slurm/$f" ]; then
    mv "/etc/slurm/$f" "$S/backup/$f"
    echo "restore /etc/slurm/$f" >> "$S/created"
  else
    echo "remove /etc/slurm/$f" >> "$S/created"
  fi
  ln -s "$S/etc/$f" "/etc/slurm/$f"
done
export SLURM_CONF=/etc/slurm/slurm.conf

/usr/sbin/slurmctld -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$S/run/slurmctld.pid" ] && break; sleep 0.1; done
cat "$S/run/slurmctld.pid" >> "$S/pids"
/usr/sbin/slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$S/run/slurmd.pid" ] && break; sleep 0.1; done
cat "$S/run/slurmd.pid" >> "$S/pids"
for _ in $(seq 150); do
  sinfo -h -o %T 2>/dev/null | grep -qx idle && break
  sleep 0.2
done
if ! sinfo -h -o %T | grep -qx idle; then
  echo "slurm_up.sh: node did not become idle" >&2
  sinfo -R >&2 || true
  tail -n 20 "$S"/log/*.log >&2 || true
  exit 1
fi
timeout 60 srun -t 1 hostname >/dev/null
cat > "$S/env" <<ENV
SLURM_CLUSTER_CPUS=$CPUS
SLURM_CLUSTER_MEM_MB=$MEM
SLURM_PARTITION=debug
ENV
echo "slurm up: $(sinfo -h -o '%P %D %T %c cpus %m MB %G')"
