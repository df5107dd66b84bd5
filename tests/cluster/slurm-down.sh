#!/usr/bin/env bash
# slurm-down.sh - stop the daemons that tests/cluster/slurm-up.sh started, by the PIDs it recorded in
# $EMBEDLAB_SLURM_DIR/pids (never by process name, so a site's own slurm or MariaDB is left alone).
#   EMBEDLAB_SLURM_DIR    as for slurm-up.sh (default /tmp/embedlab-slurm)
#   --purge               also delete the state dir (job history, MariaDB data) and the /etc/slurm files
#                         slurm-up.sh wrote; packages stay installed.
set -uo pipefail
STATE=${EMBEDLAB_SLURM_DIR:-/tmp/embedlab-slurm}

# signal NAME: SIGTERM the recorded pid if it is still that program (NAME up to an @: slurmd@node2 is the
# slurmd of an extra node, EMBEDLAB_SLURM_NODES > 1); prints the pid it signalled
signal() {
  local name=$1 f=$STATE/pids/$1.pid pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  rm -f "$f"
  [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${name%@*}" ] || return 0
  kill "$pid" 2>/dev/null && echo "$name:$pid"
}
# stop NAME...: SIGTERM them together, wait up to 15 s for each, then SIGKILL
stop() {
  local sent=() entry name pid i
  for name in "$@"; do entry=$(signal "$name") && [ -n "$entry" ] && sent+=("$entry"); done
  for entry in "${sent[@]}"; do
    name=${entry%%:*} pid=${entry#*:}
    for ((i = 0; i < 150; i++)); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    if [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${name%@*}" ]; then
      echo "[slurm-down] $name (pid $pid) ignored SIGTERM: SIGKILL"
      kill -9 "$pid" 2>/dev/null
      sleep 0.2
    fi
    echo "[slurm-down] stopped $name (pid $pid)"
  done
}

# slurm daemons first (slurmctld reports to slurmdbd while it shuts down, both need munged), then storage
extra_slurmd=()
for f in "$STATE"/pids/slurmd@*.pid; do [ -e "$f" ] && extra_slurmd+=("$(basename "$f" .pid)"); done
stop slurmd "${extra_slurmd[@]}" slurmctld
stop slurmdbd mariadbd
stop munged

if [ "${1:-}" = --purge ]; then
  # only the files slurm-up.sh writes, and only if they carry its marker / live in its state dir
  if grep -q 'written by embedlab tests/cluster/slurm-up.sh' /etc/slurm/slurm.conf 2>/dev/null; then
    rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf /etc/slurm/slurmdbd.conf
  fi
  case $STATE in /tmp/?*) rm -rf "$STATE" ;; *) echo "[slurm-down] not purging $STATE (outside /tmp)" ;; esac
  echo "[slurm-down] purged"
fi
exit 0
