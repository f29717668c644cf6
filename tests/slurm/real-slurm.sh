#!/bin/bash
# The batch scripts of scripts/slurm/ under a real Slurm: a private single-node cluster
# (munged, slurmctld and slurmd run as processes of this script, with their own config,
# sockets, ports, spool and state under WORKDIR) runs the shipped scripts on small sweeps,
# and every result is compared count for count with one plain `mirage run`:
#   array   sbatch --array=0-2 + merge (--dependency=afterok)
#   term    scancel -s TERM on a sampling array task, and scancel -b -s TERM (the batch
#           shell alone, which the script passes on) on another: exit 75, requeue, resume
#   requeue scontrol requeue of a sampling array task: checkpoint, exit 75, requeue, resume
#   preempt pre-emption (preempt/partition_prio, PreemptMode=REQUEUE) of two sampling tasks
#   timeout a time limit with the script's --signal=TERM@120: exit 75, requeue, resume
#   rerun   a crashed (SIGKILL) and a cancelled shard re-run the documented way
#           (sbatch --array=K), then merge
#   mpi     srun without PMI refused (exit 2, one line), also through mirage-mpi.sbatch;
#           where srun has the pmix plugin, mirage-mpi.sbatch on 2 ranks stopped by
#           scancel -s TERM: exit 75, requeue, resume
# Usage: real-slurm.sh MIRAGE_BINARY SOURCE_DIR WORKDIR [SCENARIO...]   (default: all)
# Environment: PYTHON (a python3 with h5py and numpy) [python3]; REAL_SLURM_PROCTRACK and
# REAL_SLURM_TASK (Slurm's proctrack and task plugins: pgid/none by default; cgroup/cgroup
# runs them with cgroup v1 where the machine has it); REAL_SLURM_REPLICATES (sweep size) [160];
# REAL_SLURM_REQUIRED=1 fails instead of skipping where Slurm cannot run.
# Exit status 0 when every scenario passes, 1 on a failure (with the job logs), 77 when this
# machine cannot run Slurm at all (the reason is printed). The daemons are stopped by PID on
# exit, failure included. docs/SLURM.md describes what this proves.
set -uo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 MIRAGE_BINARY SOURCE_DIR WORKDIR [SCENARIO...]" >&2
  exit 2
fi
MIRAGE=$(realpath "$1")
SRC=$(realpath "$2")
W=$3
shift 3
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(array term requeue preempt timeout rerun mpi)
T0=$(date +%s)
PY=${PYTHON:-python3}  # with h5py and numpy

# REAL_SLURM_REQUIRED=1 (a CI machine that can run Slurm) turns a skip into a failure.
skip() {
  if [ "${REAL_SLURM_REQUIRED:-0}" = 1 ]; then
    echo "real-slurm: FAIL (REAL_SLURM_REQUIRED=1): $*"
    exit 1
  fi
  echo "real-slurm: SKIPPED: $*"
  exit 77
}
log() { echo "real-slurm: [$(($(date +%s) - T0))s] $*"; }

# ---------------------------------------------------------------------------------------------
# Slurm and munge: installed here, or installed now where this is a Debian machine and we are
# root (scripts/install-deps.sh installs the same packages).
tools=(slurmctld slurmd sbatch srun scontrol squeue sinfo scancel munged)
need_install() {
  local t
  for t in "${tools[@]}"; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || return 0
  done
  return 1
}
export PATH=$PATH:/usr/sbin:/sbin
if need_install; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing slurmctld slurmd slurm-client munge"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge >/dev/null 2>&1; }
  fi
  need_install && skip "Slurm is not installed (${tools[*]}) and could not be installed" \
    "(needs root and apt-get: apt-get install slurmctld slurmd slurm-client munge)"
fi
if ! "$PY" -c 'import h5py' 2>/dev/null; then
  skip "$PY with h5py is needed to compare the counts (pip install -r scripts/requirements.txt)"
fi
[ -x "$MIRAGE" ] || { echo "real-slurm: no mirage binary at $MIRAGE" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# The private cluster. Stopped by PID on every exit.
case $(realpath -m "$W") in / | "$HOME" | "$SRC") echo "real-slurm: refusing WORKDIR $W" >&2; exit 2 ;; esac
rm -rf "$W"
mkdir -p "$W"/{munge,state,spool,run,log,jobs}
W=$(realpath "$W")
chmod 700 "$W/munge"
pids=()
stop_all() {
  local p i alive
  # Jobs first (killed by the controller while it runs), then slurmd, slurmctld, munged.
  if [ -n "${SLURM_CONF:-}" ] && [ ${#pids[@]} -ge 3 ] && kill -0 "${pids[1]}" 2>/dev/null; then
    scancel --user="$(id -un)" 2>/dev/null
    for ((i = 0; i < 50; ++i)); do
      [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; --i)); do
    kill -TERM "${pids[i]}" 2>/dev/null
  done
  for ((i = 0; i < 50; ++i)); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  pids=()
  # What the cluster started and left (slurmstepd, job processes: proctrack/pgid does not
  # follow them all): every process whose environment names this cluster's config.
  [ -n "${SLURM_CONF:-}" ] || return 0
  for p in $(grep -lsF "SLURM_CONF=$SLURM_CONF" /proc/[0-9]*/environ 2>/dev/null |
    cut -d/ -f3); do
    [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] || kill -KILL "$p" 2>/dev/null
  done
}
on_exit() {
  local status=$?
  stop_all
  log "daemons stopped; exit $status"
  exit $status
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Free TCP ports for slurmctld and slurmd.
read -r CTLD_PORT SLURMD_PORT < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
HOST=$(hostname -s)

# munged with its own key and socket.
dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$W/munge/munge.key"
SOCK=$W/munge/munge.socket
munged -F -f --socket="$SOCK" --key-file="$W/munge/munge.key" \
  --pid-file="$W/munge/munged.pid" --log-file="$W/log/munged.log" \
  --seed-file="$W/munge/munged.seed" >"$W/log/munged.out" 2>&1 &
pids+=($!)
for ((i = 0; i < 50; ++i)); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { cat "$W/log/munged.out" "$W/log/munged.log" 2>/dev/null;
  skip "munged did not start on this machine (its log is above)"; }

# The node: this machine's CPUs and memory as slurmd sees them.
read -r CPUS MEM < <(slurmd -C 2>/dev/null | sed -n 's/.*CPUs=\([0-9]*\).*RealMemory=\([0-9]*\).*/\1 \2/p')
[ -n "${CPUS:-}" ] || { CPUS=$(nproc); MEM=1024; }
export SLURM_CONF=$W/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=miragetest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
# Requeued jobs wait cred_expire + 1 seconds before they start again (default 120).
AuthInfo=socket=$SOCK,cred_expire=10
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/run/slurmctld.pid
SlurmdPidFile=$W/run/slurmd.pid
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd.log
SlurmctldDebug=debug2
SlurmdDebug=info
ProctrackType=proctrack/${REAL_SLURM_PROCTRACK:-pgid}
TaskPlugin=task/${REAL_SLURM_TASK:-none}
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobRequeue=1
MinJobAge=300
KillWait=30
OverTimeLimit=0
InactiveLimit=0
Waittime=0
SlurmdTimeout=30
MessageTimeout=10
SchedulerParameters=sched_interval=2
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=urgent Nodes=$HOST MaxTime=INFINITE State=UP PriorityTier=2
CONF
# REAL_SLURM_PROCTRACK=cgroup (and REAL_SLURM_TASK=cgroup) try Slurm's cgroup plugins, v1.
printf 'CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\nIgnoreSystemd=yes\n' >"$W/cgroup.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$W/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$W/log/slurmd.out" 2>&1 &
pids+=($!)
up=
for ((i = 0; i < 300; ++i)); do
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || break 2; done
  state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null)
  [ "$state" = idle ] && { up=1; break; }
  sleep 0.2
done
if [ -z "$up" ]; then
  echo "--- slurmctld.log"; tail -30 "$W/log/slurmctld.log" "$W/log/slurmctld.out" 2>/dev/null
  echo "--- slurmd.log"; tail -30 "$W/log/slurmd.log" "$W/log/slurmd.out" 2>/dev/null
  skip "slurmctld and slurmd did not bring node $HOST up on this machine (logs above)"
fi
log "Slurm $(sinfo -V | cut -d' ' -f2) up: node $HOST, $CPUS CPUs, ports $CTLD_PORT/$SLURMD_PORT, $W"

# ---------------------------------------------------------------------------------------------
# Helpers.
SCRIPTS=$SRC/scripts/slurm
failures=0
pass() { log "PASS $*"; }
fail() {
  log "FAIL $*"
  failures=$((failures + 1))
}
# The sweep: one shard of 3 samples for a few seconds on one core, and checkpoints every 0.5 s.
cat >"$W/sweep.toml" <<TOML
[run]
scales = "1e8:1e12:9"
lengths = [1, 2, 5]
test-sizes = [10, 1000, 3000000]
replicates = ${REAL_SLURM_REPLICATES:-160}
seed = 99
backend = "cpu"
TOML
export MIRAGE CONFIG=$W/sweep.toml SHARDS=3 CHECKPOINT_EVERY=0.5 MIRAGE_ARGS="--backend cpu"
unset KEEP_CHECKPOINTS MAX_REQUEUES SRUN_MPI

# The reference: one plain process.
"$MIRAGE" run --config "$CONFIG" -q -o "$W/plain.h5" || { echo "plain run failed" >&2; exit 1; }
log "plain run written"

# same_counts A B: the count datasets of two result files are identical, bit for bit.
same_counts() {
  "$PY" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
bad = [d for d in ("counts/exact_match", "counts/token_errors", "counts/token_errors_sq")
       if a[d].dtype != b[d].dtype or not np.array_equal(a[d][()], b[d][()])]
if bad:
    print("real-slurm: counts differ:", ", ".join(bad), "in", sys.argv[1], "and", sys.argv[2])
    sys.exit(1)
PY
}
# state JOB: the job's (or array task's) state, as the controller has it.
state() { squeue -h -t all -j "$1" -o %T 2>/dev/null | head -1; }
# field JOB NAME: a field of scontrol show job (Restarts, ExitCode, ...).
field() { scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
# wait_done JOB [SECONDS]: until the job (every task of an array) has ended.
wait_done() {
  local deadline=$(($(date +%s) + ${2:-120}))
  while [ -n "$(squeue -h -j "$1" -o %T 2>/dev/null)" ]; do
    (($(date +%s) < deadline)) || { fail "job $1 still not done after ${2:-120} s"; return 1; }
    sleep 0.5
  done
}
# wait_file PATH [SECONDS]
wait_file() {
  local deadline=$(($(date +%s) + ${2:-60}))
  until [ -e "$1" ]; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.05
  done
}
# wait_state JOB STATE [SECONDS]
wait_state() {
  local deadline=$(($(date +%s) + ${3:-60}))
  until [ "$(state "$1")" = "$2" ]; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.1
  done
}
dump_logs() {
  local f
  for f in "$@"; do
    echo "----- $f"
    cat "$f" 2>/dev/null
  done
}
# expect_completed NAME JOB...: every job (task) ended COMPLETED with exit code 0.
expect_completed() {
  local name=$1 j ok=0
  shift
  for j in "$@"; do
    local s e
    s=$(state "$j")
    e=$(field "$j" ExitCode)
    [ "$s" = COMPLETED ] && [ "$e" = 0:0 ] || { fail "$name: job $j is $s, exit code $e"; ok=1; }
  done
  return $ok
}
# A scenario runs in its own directory (the scripts' logs land there) with its own OUT.
begin() {
  SCEN=$1
  SDIR=$W/jobs/$1
  mkdir -p "$SDIR"
  cd "$SDIR" || exit 1
  export OUT=$SDIR/out
  ST0=$(date +%s)
  log "--- $1: $2"
}
# submit_array [sbatch options...]: the array script, one CPU per task; prints the job id.
submit_array() {
  sbatch --parsable --cpus-per-task=1 "$@" "$SCRIPTS/mirage-array.sbatch"
}
submit_merge() {
  sbatch --parsable --cpus-per-task=1 --dependency="afterok:$1" "$SCRIPTS/mirage-merge.sbatch"
}
# finish NAME MERGEJOB: the merge ran and its result equals the plain run.
finish() {
  local merge=$1
  wait_done "$merge" 180 || return 1
  expect_completed "$SCEN merge" "$merge" || return 1
  same_counts "$OUT/mirage.h5" "$W/plain.h5" || { fail "$SCEN: merged counts differ"; return 1; }
  return 0
}
# interrupted TASK HOW: the task's mirage saved a checkpoint on the TERM and exited 75, the
# task ran again (Restarts >= 1), resumed from its checkpoint and completed. HOW is what the
# batch script said after exit 75: "requeueing" (it requeued itself: the job was RUNNING) or
# "Slurm decides" (the job was ending and Slurm requeued it).
interrupted() {
  local task=$1 how=$2 k=${1#*_} logf restarts
  logf=$SDIR/mirage-shard-${1%_*}_$k.out
  grep -q "^mirage: stopped by a signal; checkpoint saved to $OUT/parts/checkpoint-$k.h5" "$logf" &&
    grep -q "task 0: Exited with exit code 75" "$logf" ||
    { fail "$SCEN: task $task: mirage did not save its checkpoint and exit 75"; return 1; }
  grep -q "^mirage-array: checkpoint saved to .*$how" "$logf" ||
    { fail "$SCEN: task $task: the script did not say '$how' after exit 75"; return 1; }
  restarts=$(field "$task" Restarts)
  ((${restarts:-0} >= 1)) || { fail "$SCEN: task $task was not requeued (Restarts=$restarts)"; return 1; }
  grep -q "run 2 .*resuming $OUT/parts/checkpoint-$k.h5" "$logf" ||
    { fail "$SCEN: task $task did not resume from its checkpoint"; return 1; }
  return 0
}

# ---------------------------------------------------------------------------------------------
# The scenarios.
scenario_array() {
  begin array "sbatch --array=0-2 and merge (afterok) give the counts of one process"
  local jid merge
  jid=$(submit_array --array=0-2) && merge=$(submit_merge "$jid") || { fail "array: sbatch"; return; }
  finish "$merge" && expect_completed array "${jid}_0" "${jid}_1" "${jid}_2" || return
  ls "$OUT"/parts/checkpoint-* >/dev/null 2>&1 && { fail "array: checkpoints left"; return; }
  pass "array: 3 shards merged == plain run"
}

# start_sampling: submits the array (JID) and its merge (MERGE) and returns once tasks 0 and 1
# (running together on the node's 2 CPUs) have each written a checkpoint: they are sampling.
start_sampling() {
  local k
  JID=$(submit_array --array=0-2) && MERGE=$(submit_merge "$JID") || { fail "$SCEN: sbatch"; return 1; }
  for k in 0 1; do
    wait_file "$OUT/parts/checkpoint-$k.h5" 60 ||
      { fail "$SCEN: no checkpoint of task ${JID}_$k appeared"; return 1; }
    [ ! -e "$OUT/parts/part-$k.h5" ] ||
      { fail "$SCEN: task $k had finished at its first checkpoint (sweep too small)"; return 1; }
  done
}
# A signal to the steps (scancel -s TERM: what --signal=TERM@120 does) and one to the batch
# shell alone (scancel -b -s TERM: what --signal=B:TERM@120 does); the script passes the
# latter on to its step. Both tasks are RUNNING, so the script requeues them itself.
scenario_term() {
  begin term "scancel -s TERM and scancel -b -s TERM of sampling array tasks"
  start_sampling || return
  scancel -s TERM "${JID}_1" && scancel -b -s TERM "${JID}_0" || { fail "term: scancel"; return; }
  log "term: scancel -s TERM ${JID}_1, scancel -b -s TERM ${JID}_0"
  finish "$MERGE" && expect_completed term "${JID}_0" "${JID}_1" "${JID}_2" &&
    interrupted "${JID}_1" requeueing && interrupted "${JID}_0" requeueing || return
  # scancel -b reaches the shell alone; mirage got the TERM from the script's own scancel.
  (($(grep -c "REQUEST_KILL_JOB JobId=${JID}_0 " "$W/log/slurmctld.log") >= 2)) ||
    { fail "term: the batch shell did not pass the TERM on"; return; }
  pass "term: tasks ${JID}_1 (steps) and ${JID}_0 (batch shell) exited 75, requeued themselves, resumed; merged == plain run"
}
# Slurm ends the job and requeues it: the job is COMPLETING when mirage exits 75, and the
# script leaves the requeue to Slurm.
scenario_requeue() {
  begin requeue "scontrol requeue of a sampling array task"
  start_sampling || return
  scontrol requeue "${JID}_1" || { fail "requeue: scontrol requeue ${JID}_1"; return; }
  log "requeue: scontrol requeue ${JID}_1"
  finish "$MERGE" && expect_completed requeue "${JID}_0" "${JID}_1" "${JID}_2" &&
    interrupted "${JID}_1" "Slurm decides" || return
  pass "requeue: task ${JID}_1 exited 75, requeued by Slurm, resumed; merged == plain run"
}
# Pre-emption (PreemptType=preempt/partition_prio, PreemptMode=REQUEUE): a job of the higher
# partition "urgent" needs both CPUs and pre-empts the two sampling tasks.
scenario_preempt() {
  begin preempt "pre-emption (PreemptMode=REQUEUE) of two sampling array tasks"
  local urgent
  start_sampling || return
  urgent=$(sbatch --parsable -p urgent -n 2 -o "$SDIR/urgent-%j.out" --wrap true) ||
    { fail "preempt: sbatch -p urgent"; return; }
  log "preempt: job $urgent in partition urgent"
  finish "$MERGE" && expect_completed preempt "$urgent" "${JID}_0" "${JID}_1" "${JID}_2" &&
    interrupted "${JID}_0" "Slurm decides" && interrupted "${JID}_1" "Slurm decides" || return
  grep -q "preempted JobId=${JID}_[01]" "$W/log/slurmctld.log" ||
    { fail "preempt: the controller did not log a pre-emption"; return; }
  pass "preempt: tasks ${JID}_0 and ${JID}_1 pre-empted: exit 75, requeued by Slurm, resumed; merged == plain run"
}

# The time limit itself: one task of the whole sweep (SHARDS=1) with --time=1 and the script's
# own --signal=TERM@120, so the warning comes at the controller's first time-limit check of
# the job (every 30 s; submitted so that it falls early in the sampling). The controller may
# allocate the job in the same pass as a check, just after it (seen: 1 ms after), and the
# whole sweep then ends before the next one; a job that ran to the end without the warning
# is submitted again with more lead before the check (3, 8, then 13 s), at most three times.
scenario_timeout() {
  begin timeout "a 1-minute time limit with the script's --signal=TERM@120 (SHARDS=1)"
  local last now next jid i lead
  for lead in 3 8 13; do
    # The controller's first check comes 30 s after it started.
    for ((i = 0; i < 70; ++i)); do
      grep -q "Testing job time limits" "$W/log/slurmctld.log" && break
      sleep 0.5
    done
    last=$(grep "Testing job time limits" "$W/log/slurmctld.log" | tail -1 | sed 's/^\[\([^].]*\).*/\1/')
    if [ -n "$last" ] && last=$(date -d "$last" +%s 2>/dev/null); then
      now=$(date +%s)
      next=$((last + 30))
      while ((next - now < lead + 1)); do next=$((next + 30)); done
      sleep $((next - now - lead))
    fi
    rm -rf "$OUT"
    jid=$(SHARDS=1 submit_array --array=0 --time=1) || { fail "timeout: sbatch"; return; }
    SHARDS=1 wait_done "$jid" 240 || return
    grep -q "send_job_warn_signal: warning signal 15 to JobId=${jid}_0(" "$W/log/slurmctld.log" &&
      break
    log "timeout: job ${jid}_0 ended before the controller's time-limit check reached it" \
      "(submitted $lead s before the check)"
  done
  expect_completed timeout "${jid}_0" && interrupted "${jid}_0" requeueing || return
  grep -q "send_job_warn_signal: warning signal 15 to JobId=${jid}_0(" "$W/log/slurmctld.log" ||
    { fail "timeout: the TERM did not come from the time-limit warning (--signal)"; return; }
  grep -q "^mirage-array: wrote $OUT/mirage.h5" "$SDIR/mirage-shard-${jid}_0.out" &&
    same_counts "$OUT/mirage.h5" "$W/plain.h5" || { fail "timeout: result differs"; return; }
  pass "timeout: the --signal warning before the time limit: exit 75, requeued, resumed; == plain run"
}

# A crashed shard (its mirage killed by SIGKILL: FAILED) and a cancelled one (plain scancel:
# mirage saves its checkpoint, CANCELLED, not requeued); the merge names them and the command
# that samples them again; `sbatch --array=0,1` with the same CONFIG, OUT and SHARDS resumes
# both from their checkpoints; the merge then equals the plain run.
scenario_rerun() {
  begin rerun "a crashed and a cancelled shard re-run by sbatch --array=K, then merged"
  local jid merge merge2 rerun pid k
  jid=$(submit_array --array=0-2) && merge=$(submit_merge "$jid") || { fail "rerun: sbatch"; return; }
  wait_file "$OUT/parts/checkpoint-0.h5" 60 && wait_file "$OUT/parts/checkpoint-1.h5" 60 ||
    { fail "rerun: no checkpoints of tasks 0 and 1 appeared"; return; }
  pid=$(pgrep -f "^$MIRAGE run .*--checkpoint $OUT/parts/checkpoint-1.h5" | head -1)
  [ -n "$pid" ] && kill -KILL "$pid" || { fail "rerun: task 1's mirage not found"; return; }
  scancel "${jid}_0"
  log "rerun: killed mirage of ${jid}_1 (pid $pid), scancel ${jid}_0"
  wait_done "$jid" 120 || return
  [ "$(state "${jid}_1")" = FAILED ] && [ "$(state "${jid}_0")" = CANCELLED ] ||
    { fail "rerun: tasks 0 and 1 are $(state "${jid}_0") and $(state "${jid}_1")"; return; }
  grep -q "job ${jid}_0 is .*Slurm decides.*sbatch --array=0" "$SDIR/mirage-shard-${jid}_0.out" ||
    { fail "rerun: the cancelled task did not save its checkpoint and say how to resume"; return; }
  [ "$(state "$merge")" = PENDING ] || { fail "rerun: merge $merge is $(state "$merge")"; return; }
  scancel "$merge"
  # The merge names what is missing, and how to sample it.
  merge2=$(sbatch --parsable --cpus-per-task=1 "$SCRIPTS/mirage-merge.sbatch")
  wait_done "$merge2" 60
  grep -q "missing part(s) 0,1 of SHARDS=3 .*sbatch --array=0,1 " "$SDIR/mirage-merge-$merge2.out" ||
    { fail "rerun: the merge did not name the missing parts 0,1"; return; }
  rerun=$(submit_array --array=0,1) && merge=$(submit_merge "$rerun") ||
    { fail "rerun: sbatch"; return; }
  finish "$merge" && expect_completed rerun "${rerun}_0" "${rerun}_1" || return
  for k in 0 1; do
    grep -q "run 1 .*resuming $OUT/parts/checkpoint-$k.h5" "$SDIR/mirage-shard-${rerun}_$k.out" ||
      { fail "rerun: shard $k did not resume from its checkpoint"; return; }
  done
  pass "rerun: FAILED and CANCELLED shards re-run by sbatch --array=0,1 resumed; merged == plain run"
}

# MPI: srun without PMI refused (exit 2, one line); the script with SRUN_MPI=none refused the
# same way; with the pmix plugin, the script on 2 ranks, stopped and requeued, == the plain run.
scenario_mpi() {
  begin mpi "srun without PMI refused; mirage-mpi.sbatch on 2 ranks"
  local status lines jid
  srun -n 2 --mpi=none -o "$SDIR/nopmi.txt" "$MIRAGE" run --config "$CONFIG" -q \
    -o "$SDIR/nopmi.h5" 2>"$SDIR/srun-nopmi.err"
  status=$?
  lines=$(wc -l <"$SDIR/nopmi.txt")
  if [ $status = 2 ] && [ "$lines" = 1 ] && [ ! -e "$SDIR/nopmi.h5" ] &&
    grep -q "^mirage: error: srun started 2 tasks but" "$SDIR/nopmi.txt"; then
    pass "mpi: srun -n 2 --mpi=none refused: exit 2, one line: $(cat "$SDIR/nopmi.txt")"
  else
    fail "mpi: srun -n 2 --mpi=none gave exit $status and $lines lines"
    dump_logs "$SDIR/nopmi.txt" "$SDIR/srun-nopmi.err"
  fi
  export OUT=$SDIR/nopmi
  jid=$(SRUN_MPI=none sbatch --parsable -N 1 --ntasks=2 --ntasks-per-node=2 --cpus-per-task=1 \
    "$SCRIPTS/mirage-mpi.sbatch") || { fail "mpi: sbatch"; return; }
  wait_done "$jid" 60
  if [ "$(state "$jid")" = FAILED ] && [ "$(field "$jid" ExitCode)" = 2:0 ] &&
    grep -q "^mirage: error: srun started 2 tasks but" "$SDIR/mirage-$jid.out"; then
    pass "mpi: mirage-mpi.sbatch with SRUN_MPI=none refused (exit 2)"
  else
    fail "mpi: mirage-mpi.sbatch with SRUN_MPI=none is $(state "$jid"), exit $(field "$jid" ExitCode)"
  fi
  if ! srun --mpi=list 2>&1 | grep -qw pmix; then
    log "mpi: srun has no pmix plugin here (srun --mpi=list): the 2-rank run is not tested"
    return
  fi
  # With pmix: the script on 2 ranks, stopped by scancel -s TERM while sampling: exit 75,
  # requeued by itself, resumed, == the plain run.
  export OUT=$SDIR/out
  jid=$(sbatch --parsable -N 1 --ntasks=2 --ntasks-per-node=2 --cpus-per-task=1 \
    "$SCRIPTS/mirage-mpi.sbatch") || { fail "mpi: sbatch"; return; }
  if wait_file "$OUT/checkpoint.h5" 90 && [ ! -e "$OUT/mirage.h5" ]; then
    scancel -s TERM "$jid"
    log "mpi: scancel -s TERM $jid"
  else
    fail "mpi: no checkpoint appeared while sampling"
  fi
  wait_done "$jid" 180 || return
  expect_completed mpi "$jid" || return
  grep -q "tasks 0-1: Exited with exit code 75" "$SDIR/mirage-$jid.out" &&
    grep -q "^mirage-mpi: checkpoint saved to $OUT/checkpoint.h5; requeueing job $jid" \
      "$SDIR/mirage-$jid.out" &&
    grep -q "run 2 .*resuming $OUT/checkpoint.h5" "$SDIR/mirage-$jid.out" ||
    { fail "mpi: the job did not exit 75, requeue itself and resume"; return; }
  same_counts "$OUT/mirage.h5" "$W/plain.h5" || { fail "mpi: counts differ"; return; }
  "$PY" -c 'import h5py,sys; d=h5py.File(sys.argv[1],"r").attrs["devices"]
sys.exit(0 if "2 MPI ranks" in (d.decode() if isinstance(d, bytes) else str(d)) else 1)' \
    "$OUT/mirage.h5" || { fail "mpi: the result was not written by 2 MPI ranks"; return; }
  [ ! -e "$OUT/checkpoint.h5" ] || { fail "mpi: checkpoint left after success"; return; }
  pass "mpi: mirage-mpi.sbatch, srun --mpi=pmix, 2 ranks: exit 75 on TERM, requeued, resumed; == plain run"
}

for s in "${SCENARIOS[@]}"; do
  case $s in
    none) ;;
    array | term | requeue | preempt | timeout | rerun | mpi)
      before=$failures
      "scenario_$s"
      log "$s took $(($(date +%s) - ST0)) s"
      if ((failures > before)); then
        dump_logs "$SDIR"/*.out
        echo "----- slurmctld.log (the scenario's jobs)"
        tail -n 60 "$W/log/slurmctld.log" | grep -vE "debug2|debug:" | tail -40
      fi
      ;;
    *) fail "no scenario $s" ;;
  esac
done
cd "$W" || true
if ((failures)); then summary="$failures FAILED"; else summary="all passed"; fi
log "$summary in $(($(date +%s) - T0)) s"
((failures == 0))
