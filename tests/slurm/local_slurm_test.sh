#!/usr/bin/env bash
# A real Slurm on this one machine: munged, slurmctld and slurmd on localhost with a generated
# slurm.conf (one node, its CPUs, oversubscription allowed), then slurm/accept.sbatch submitted with
# the MPI backend and 4 tasks. Passes when the job's verdict files say accepted, and when a second job,
# whose spec wants 8 GPUs of this GPU-less node, drains the node with DRAIN=1: sinfo shows it drained,
# with accept's fault code as the reason. Stops what it started.
#
#   tests/slurm/local_slurm_test.sh CCTUNE_BINARY SOURCE_DIR
set -euo pipefail

cctune=$(realpath "$1")
source_dir=$(realpath "$2")
work=$(mktemp -d /tmp/cctune-slurm.XXXXXX)
host=$(hostname -s)
cpus=$(nproc)
started=()

stop() {
  for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop EXIT

fail() {
  echo "local-slurm: $*" >&2
  for log in "$work"/*.log; do
    [ -f "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

# munge: its key comes with Debian's package; its run folder must belong to the munge user.
if ! munge -n >/dev/null 2>&1; then
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged --foreground > "$work/munged.log" 2>&1 &
  started+=($!)
  for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || fail "munged did not start"
fi

mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" <<CONF
ClusterName=cctune-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF="$work/slurm.conf"

/usr/sbin/slurmctld -D -f "$SLURM_CONF" > "$work/slurmctld.out.log" 2>&1 &
started+=($!)
/usr/sbin/slurmd -D -f "$SLURM_CONF" > "$work/slurmd.out.log" 2>&1 &
started+=($!)
for _ in $(seq 100); do
  sinfo -h -o %t 2>/dev/null | grep -q idle && break
  sleep 0.2
done
sinfo -h -o %t | grep -q idle || fail "the node did not come up idle: $(sinfo 2>&1)"

# The acceptance script as a cluster engineer submits it: 4 tasks on the one node, overcommitted.
cd "$source_dir"
out="$work/accept"
SPEC=examples/accept-cpu.yaml GPUS_PER_NODE=4 OUT="$out" CCTUNE="$cctune" \
  sbatch --wait -N1 -n4 --overcommit --time=5 --output="$work/job.log" slurm/accept.sbatch > "$work/sbatch.log" 2>&1 \
  || fail "the acceptance job failed: $(cat "$work/sbatch.log")"
grep -q '"passed": true' "$out/verdicts.json" || fail "verdicts.json does not say passed"
grep -q 'failures="0"' "$out/verdicts.xml" || fail "verdicts.xml has failures"
grep -q "ACCEPTED" "$work/job.log" || fail "the job's output has no verdict line"
echo "local-slurm: accepted under Slurm ($(grep -c '"status"' "$out/verdicts.json") verdicts)"

# The same node against a spec it cannot meet (8 GPUs), with DRAIN=1: the job fails, and the node is
# drained with the fault as its reason, as sinfo shows it to whoever looks next.
sed 's/gpus: {count: 0}/gpus: {count: 8}/' examples/accept-cpu.yaml > "$work/accept-8-gpus.yaml"
grep -q 'count: 8' "$work/accept-8-gpus.yaml" || fail "the failing spec was not made"
bad="$work/accept-bad"
if DRAIN=1 SPEC="$work/accept-8-gpus.yaml" GPUS_PER_NODE=4 OUT="$bad" CCTUNE="$cctune" \
  sbatch --wait -N1 -n4 --overcommit --time=5 --output="$work/job-bad.log" slurm/accept.sbatch \
  > "$work/sbatch-bad.log" 2>&1; then
  fail "a node without the spec's 8 GPUs was accepted: $(cat "$work/job-bad.log")"
fi
grep -q "^$host	GPU_COUNT	" "$bad/drain-list.txt" || fail "the drain list does not name $host with GPU_COUNT: $(cat "$bad/drain-list.txt" 2>&1)"
grep -q "drained $host" "$work/job-bad.log" || fail "the job did not drain $host: $(cat "$work/job-bad.log")"
state=$(sinfo -h -n "$host" -o '%T|%E')
case "$state" in
  drain*"|cctune accept GPU_COUNT"*) ;;
  *) fail "sinfo shows '$state' for $host, not drained by cctune accept" ;;
esac
echo "local-slurm: a failing node drained under Slurm (sinfo: $state)"
scontrol update NodeName="$host" State=RESUME
