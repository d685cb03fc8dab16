#!/usr/bin/env bash
# Stop the cluster started by slurm_up.sh STATEDIR: cancel its jobs, stop exactly the daemons
# it started (pids in STATEDIR/pids), and remove or restore exactly the files it created
# (STATEDIR/created). Safe to run twice.
set -uo pipefail
S=${1:?usage: slurm_down.sh STATEDIR}
[ -d "$S" ] || exit 0

# Jobs still queued or running on this throw-away cluster (a test that timed out).
if [ -s "$S/pids" ] && [ -L /etc/slurm/slurm.conf ] && \
   [ "$(readlink /etc/slurm/slurm.conf)" = "$S/etc/slurm.conf" ]; then
  timeout 20 scancel --full --quiet --user=root 2>/dev/null || true
fi

# slurmd, slurmctld, then munged (reverse start order), by pid.
if [ -s "$S/pids" ]; then
  tac "$S/pids" | while read -r pid; do
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done
  : > "$S/pids"
fi

if [ -s "$S/created" ]; then
  tac "$S/created" | while read -r action path; do
    case "$action" in
      remove)
        # only our own symlink / file, never something someone put there meanwhile
        if [ "$path" = /etc/munge/munge.key ] || \
           [ "$(readlink "$path" 2>/dev/null)" = "$S/etc/$(basename "$path")" ]; then
          rm -f "$path"
        fi ;;
      restore)
        rm -f "$path"
        mv "$S/backup/$(basename "$path")" "$path" ;;
    esac
  done
  : > "$S/created"
fi
exit 0
