#!/usr/bin/env bash
# slurm-up.sh - a real one-node SLURM cluster on this machine, for CI and for trying the slurm profile.
#
# Debian 12, as root, no systemd needed. Installs munge + slurm (+ slurmdbd and MariaDB so that `sacct`, which
# the Snakemake SLURM executor uses for status checks, works), writes /etc/slurm/{slurm,gres}.conf for one
# node `localhost` with one FAKE gpu GRES (File=/dev/null), starts every daemon in the background on loopback,
# records their PIDs under $EMBEDLAB_SLURM_DIR/pids, waits until the node is idle and smoke-tests
# `srun --gres=gpu:1` and `sbatch --gpus=1` (+ `sacct`). Re-running it stops what it started and starts again.
# Stop everything with tests/cluster/slurm-down.sh. Takes ~7 s with the packages installed, ~37 s without.
#
# Environment:
#   EMBEDLAB_SLURM_DIR         state, logs, pid files, MariaDB data   (default /tmp/embedlab-slurm)
#   EMBEDLAB_SLURM_ACCOUNTING  dbd | none   (default dbd; `none` skips slurmdbd+MariaDB: faster, but then
#                              there is no sacct: run snakemake with `--slurm-status-command squeue`)
#   EMBEDLAB_SLURM_GPUS        number of fake GPUs on the node (default 1)
#   EMBEDLAB_SLURM_NODES       nodes (default 1: `localhost`). N > 1 (opt-in, for multi-node jobs): nodes
#                              node1..nodeN, each its own slurmd on this machine (NodeHostname=localhost,
#                              Port=6830+i, `slurmd -N nodeI`, spool/log/pid file per node via %n) with
#                              EMBEDLAB_SLURM_GPUS fake GPUs each. None may be called localhost (slurm 22.05
#                              resolves any name to a lone `localhost` node: "Duplicated NodeHostName node2"),
#                              and node1.. do not resolve: jobs that connect nodes need MASTER_ADDR=127.0.0.1.
#   EMBEDLAB_SLURM_CPUS        CPUs the node claims   (default max(nproc, 8))
#   EMBEDLAB_SLURM_MEM_MB      memory the node claims (default max(80% of RAM, 32768))
#   EMBEDLAB_SLURM_NO_APT      1 = never call apt-get (fail if a package is missing)
#   EMBEDLAB_SLURM_FORCE       1 = overwrite an /etc/slurm/slurm.conf that this script did not write
# Ports used on 127.0.0.1: 6817 slurmctld, 6818 slurmd, 6819 slurmdbd, 13306 MariaDB (+ 6831.. node1..).
# Exit status: 0 ready, 3 packages missing and not installable (no apt / no mirror), 4 this machine already
# has another SLURM (its config or its ports), anything else: a real failure (see $EMBEDLAB_SLURM_DIR/log).
set -euo pipefail

STATE=${EMBEDLAB_SLURM_DIR:-/tmp/embedlab-slurm}
ACCOUNTING=${EMBEDLAB_SLURM_ACCOUNTING:-dbd}
NGPU=${EMBEDLAB_SLURM_GPUS:-1}
NNODES=${EMBEDLAB_SLURM_NODES:-1}
NODE=localhost
DB_PORT=13306
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T0=$(date +%s%N)

say() {
  local ds=$((($(date +%s%N) - T0) / 100000000))
  printf '[slurm-up %3d.%ds] %s\n' $((ds / 10)) $((ds % 10)) "$*"
}
die() { echo "slurm-up: $1" >&2; exit "${2:-1}"; }
started=()
# all_alive: every daemon started so far is still running (so a crash fails fast, with its log)
all_alive() {
  local name pid
  for name in "${started[@]}"; do
    pid=$(cat "$STATE/pids/$name.pid")
    if [ ! -d "/proc/$pid" ]; then
      tail -n 5 "$STATE/log/${name/@/-}".* >&2 || true
      die "$name (pid $pid) exited; logs in $STATE/log"
    fi
  done
}
# wait_until SECONDS COMMAND...: poll every 0.25 s
wait_until() {
  local secs=$1 i; shift
  for ((i = 0; i < secs * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    all_alive
    sleep 0.25
  done
  die "gave up after ${secs}s waiting for: $* (logs in $STATE/log)"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# record NAME PIDFILE: copy the daemon's own pid file into $STATE/pids (the one place slurm-down reads)
record() {
  wait_until 30 test -s "$2"
  cp "$2" "$STATE/pids/$1.pid"
  started+=("$1")
  say "$1 up (pid $(cat "$STATE/pids/$1.pid"))"
}

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and writes /etc/slurm)"
case $ACCOUNTING in
  dbd | none) ;;
  *) die "EMBEDLAB_SLURM_ACCOUNTING must be dbd or none, not '$ACCOUNTING'" ;;
esac
[[ $NNODES =~ ^[1-9][0-9]*$ ]] || die "EMBEDLAB_SLURM_NODES must be a positive integer, not '$NNODES'"
# the nodes' names: localhost alone, or node1..nodeN, slurmd daemons on this machine with a port each
NODES=("$NODE")
((NNODES == 1)) || NODES=($(seq -f 'node%g' 1 "$NNODES"))
port_of() { echo $((6830 + ${1#node})); }

# ---- 1. packages -------------------------------------------------------------------------------------
pkgs=(munge slurmctld slurmd slurm-client)
[ "$ACCOUNTING" = dbd ] && pkgs+=(slurmdbd mariadb-server)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [ "${EMBEDLAB_SLURM_NO_APT:-0}" = 1 ] && die "missing packages: ${missing[*]} (EMBEDLAB_SLURM_NO_APT=1)" 3
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get" 3
  echo "[slurm-up] apt-get update + install: ${missing[*]}"
  apt-get update -qq || die "apt-get update failed (no package mirror?)" 3
  # policy-rc.d 101: Debian's postinst must not start the daemons itself (we start them below, on our paths)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed" 3
fi
say "packages: slurm $(dpkg-query -W -f='${Version}' slurmctld), munge $(dpkg-query -W -f='${Version}' munge)"

# ---- 2. stop what an earlier run started (idempotent restart) ------------------------------------------
MARK="written by embedlab tests/cluster/slurm-up.sh"
if [ -e /etc/slurm/slurm.conf ] && ! grep -q "$MARK" /etc/slurm/slurm.conf; then
  [ "${EMBEDLAB_SLURM_FORCE:-0}" = 1 ] ||
    die "/etc/slurm/slurm.conf is another SLURM setup's; not touching it (EMBEDLAB_SLURM_FORCE=1 overrides)" 4
fi
bash "$HERE/slurm-down.sh" >/dev/null
ports=(6817 6818)
((NNODES == 1)) || for n in "${NODES[@]}"; do ports+=("$(port_of "$n")"); done
[ "$ACCOUNTING" = dbd ] && ports+=(6819 $DB_PORT)
for p in "${ports[@]}"; do
  ! port_open "$p" || die "port $p on 127.0.0.1 is taken by a process this script did not start" 4
done

# ---- 3. config ---------------------------------------------------------------------------------------
mkdir -p "$STATE"/{pids,log,run,ctld,spool,munge} /etc/slurm
chown munge:munge "$STATE/munge"
MUNGE_SOCK=$STATE/munge/munge.socket
# The node may claim more than the machine has (config_overrides): the rules ask for up to 8 CPUs and 24 GB
# per job, and CI jobs are tiny. CPUs are not enforced (no cgroups); memory is, per job (OverMemoryKill).
real_mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
CPUS=${EMBEDLAB_SLURM_CPUS:-$(($(nproc) > 8 ? $(nproc) : 8))}
MEM_MB=${EMBEDLAB_SLURM_MEM_MB:-$((real_mem > 32768 ? real_mem : 32768))}
if [ "$ACCOUNTING" = dbd ]; then
  acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
# for the munge auth plugin this is the munge socket, not a password
AccountingStoragePass=$MUNGE_SOCK
AccountingStorageTRES=gres/gpu
# keep sbatch --comment (the Snakemake plugin puts the rule name there) visible to sacct
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
# enforce --mem as a site's cgroups would (there are none here): sample every second, kill a step above it
# (state OUT_OF_MEMORY), so the workflow's memory requests and retries are tested for real
JobAcctGatherParams=OverMemoryKill
JobAcctGatherFrequency=task=1"
else
  acct="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
# one node: spool, pid and log file as they are; several: one slurmd per node, so one of each per node (%n)
slurmd_spool=$STATE/spool slurmd_pid=$STATE/run/slurmd.pid slurmd_log=$STATE/log/slurmd.log
node_lines="NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:$NGPU State=UNKNOWN"
if ((NNODES > 1)); then
  slurmd_spool=$STATE/spool/%n slurmd_pid=$STATE/run/slurmd-%n.pid slurmd_log=$STATE/log/slurmd-%n.log
  node_lines=""
  for n in "${NODES[@]}"; do
    mkdir -p "$STATE/spool/$n"
    node_lines+="${node_lines:+$'\n'}NodeName=$n NodeHostname=$NODE NodeAddr=127.0.0.1 Port=$(port_of "$n")"
    node_lines+=" CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:$NGPU State=UNKNOWN"
  done
fi
# /etc/slurm is required: the slurm-jobstep plugin clears every SLURM_* variable (SLURM_CONF too) before
# its inner srun, which then only finds the compiled-in path.
cat >/etc/slurm/slurm.conf <<EOF
# $MARK: $( ((NNODES == 1)) && echo one node || echo "$NNODES nodes"), fake GPUs, loopback only
ClusterName=embedlab
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$slurmd_spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$slurmd_pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$slurmd_log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
$acct
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
ReturnToService=2
SlurmdParameters=config_overrides
# keep finished jobs visible to squeue for 5 min (needed by --slurm-status-command squeue)
MinJobAge=300
# small ticks so a CI workflow is not paced by scheduler defaults
SchedulerParameters=sched_interval=2,bf_interval=2
GresTypes=gpu
$node_lines
PartitionName=debug Nodes=$(IFS=,; echo "${NODES[*]}") Default=YES MaxTime=INFINITE State=UP
EOF
# Without File= slurmd reports 0 GPUs and the node drains ("gres/gpu count reported lower than configured");
# each GPU needs a file of its own (a duplicate is fatal): character devices like /dev/null (1,3), numbered
# as nvidia devices are, so SLURM gives each job its index in CUDA_VISIBLE_DEVICES.
# A node's fake GPUs: $STATE/dev/nvidia* for localhost, $STATE/dev/<node>/nvidia* for the others.
dev_of() { if [ "$1" = "$NODE" ]; then echo "$STATE/dev"; else echo "$STATE/dev/$1"; fi; }
for n in "${NODES[@]}"; do
  mkdir -p "$(dev_of "$n")"
  for ((i = 0; i < NGPU; i++)); do
    [ -c "$(dev_of "$n")/nvidia$i" ] || mknod "$(dev_of "$n")/nvidia$i" c 1 3
  done
done
{
  echo "AutoDetect=off"
  for n in "${NODES[@]}"; do
    for ((i = 0; i < NGPU; i++)); do echo "NodeName=$n Name=gpu File=$(dev_of "$n")/nvidia$i"; done
  done
} >/etc/slurm/gres.conf
cp /etc/slurm/slurm.conf /etc/slurm/gres.conf "$STATE/"

# ---- 4. munge ----------------------------------------------------------------------------------------
[ -s /etc/munge/munge.key ] || mungekey --create 2>/dev/null || create-munge-key -f
rm -f "$STATE/munge/munged.pid"
setsid runuser -u munge -- munged --foreground --socket="$MUNGE_SOCK" --pid-file="$STATE/munge/munged.pid" \
  --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed" \
  </dev/null >>"$STATE/log/munged.out" 2>&1 &
record munged "$STATE/munge/munged.pid"
wait_until 20 bash -c "munge -S '$MUNGE_SOCK' -n | unmunge -S '$MUNGE_SOCK'"

# ---- 5. MariaDB + slurmdbd ---------------------------------------------------------------------------
if [ "$ACCOUNTING" = dbd ]; then
  DB=$STATE/mysql
  mkdir -p "$DB/data" "$DB/run"
  chown -R mysql:mysql "$DB"
  if [ ! -d "$DB/data/mysql" ]; then
    mariadb-install-db --user=mysql --datadir="$DB/data" --auth-root-authentication-method=socket \
      --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1
  fi
  SOCK=$DB/run/mysqld.sock
  rm -f "$DB/run/mysqld.pid"
  setsid mariadbd --no-defaults --user=mysql --datadir="$DB/data" --socket="$SOCK" \
    --pid-file="$DB/run/mysqld.pid" --bind-address=127.0.0.1 --port=$DB_PORT \
    --log-error="$STATE/log/mariadb.err" --innodb-buffer-pool-size=32M --skip-name-resolve \
    </dev/null >>"$STATE/log/mariadb.out" 2>&1 &
  record mariadbd "$DB/run/mysqld.pid"
  wait_until 60 mariadb-admin --socket="$SOCK" ping
  mariadb --socket="$SOCK" <<'EOF'
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm-ci';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
  umask 077
  cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=localhost
DbdPort=6819
SlurmUser=root
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm-ci
StorageLoc=slurm_acct_db
EOF
  umask 022
  rm -f "$STATE/run/slurmdbd.pid"
  setsid slurmdbd -D </dev/null >>"$STATE/log/slurmdbd.out" 2>&1 &
  record slurmdbd "$STATE/run/slurmdbd.pid"
  wait_until 60 port_open 6819
fi

# ---- 6. slurmctld + slurmd ---------------------------------------------------------------------------
rm -f "$STATE/run/slurmctld.pid" "$STATE/run/slurmd"*.pid
setsid slurmctld -D </dev/null >>"$STATE/log/slurmctld.out" 2>&1 &
record slurmctld "$STATE/run/slurmctld.pid"
wait_until 60 scontrol ping
for n in "${NODES[@]}"; do
  # recorded as slurmd (localhost) or slurmd@<node> (node1..): slurm-down.sh stops them all
  name=slurmd pidfile=$STATE/run/slurmd.pid
  [ "$n" = "$NODE" ] || name=slurmd@$n
  ((NNODES == 1)) || pidfile=$STATE/run/slurmd-$n.pid
  setsid slurmd -D -N "$n" </dev/null >>"$STATE/log/${name/@/-}.out" 2>&1 &
  record "$name" "$pidfile"
done
for n in "${NODES[@]}"; do
  wait_until 60 bash -c "sinfo -h -n $n -o %T | grep -Eq '^(idle|mixed|allocated|drain)'"
  # a node drained by an earlier broken config stays drained across restarts: resume it
  if sinfo -h -n "$n" -o %T | grep -q drain; then scontrol update NodeName="$n" State=RESUME; fi
  wait_until 30 bash -c "sinfo -h -n $n -o %T | grep -qx idle"
  say "node $n idle: $(sinfo -h -n "$n" -o '%C cpus (A/I/O/T), %m MB, gres %G')"
done

# ---- 7. smoke tests ----------------------------------------------------------------------------------
out=$(srun -t 1 --gres=gpu:1 bash -c 'echo "$SLURM_JOB_ID ${CUDA_VISIBLE_DEVICES:-unset}"')
say "srun --gres=gpu:1 ok: job ${out% *}, CUDA_VISIBLE_DEVICES=${out#* }"
if ((NNODES > 1)); then
  out=$(srun -t 1 -N "$NNODES" -n "$NNODES" --ntasks-per-node=1 --gres=gpu:1 bash -c 'echo $SLURMD_NODENAME')
  [ "$(sort <<<"$out")" = "$(printf '%s\n' "${NODES[@]}" | sort)" ] || die "srun -N $NNODES ran on: $out"
  say "srun -N $NNODES ok: one task on each of $(echo $out)"
fi
job=$(sbatch --parsable --gpus=1 -t 1 -o /dev/null --wrap true)
if [ "$ACCOUNTING" = dbd ]; then
  # the COMPLETED record can reach slurmdbd a moment before the job's TRES: wait for both
  wait_until 60 bash -c "sacct -X -n -P -j $job -o State,ReqTRES | grep -q '^COMPLETED|.'"
  tres=$(sacct -X -n -P -j "$job" -o ReqTRES)
  case $tres in *gres/gpu=1*) ;; *) die "sacct shows no GPU request for sbatch --gpus=1: '$tres'" ;; esac
  say "sbatch --gpus=1 ok: job $job COMPLETED, sacct ReqTRES=$tres"
else
  wait_until 60 bash -c "squeue -h -j $job -t all -o %T | grep -q COMPLETED"
  say "sbatch --gpus=1 ok: job $job COMPLETED (squeue; accounting off)"
fi
say "SLURM ready (state in $STATE; stop with $HERE/slurm-down.sh)"
