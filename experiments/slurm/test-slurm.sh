#!/bin/bash
# test-slurm.sh — `make test-slurm`: starts a real one-node Slurm (slurmctld + slurmd, munge auth) on this
# machine in a private directory, submits experiments/slurm/sweep.sbatch as a 2-task job array over a config,
# merges the shards, and checks that the merged summary equals a single-process run of the same config
# (timings and RSS aside). Stops everything it started. Needs root (Slurm daemons, munge key).
#   usage: test-slurm.sh QINSBENCH [CONFIG]
set -euo pipefail
QB=$(readlink -f "${1:?usage: test-slurm.sh QINSBENCH [CONFIG]}")
CONFIG=${2:-configs/fixtures.json}
TMP=$(mktemp -d /tmp/qb-slurm.XXXXXX)
HOST=$(hostname -s)
STARTED_MUNGE=0
export SLURM_CONF=$TMP/slurm.conf

cleanup() {
    set +e
    [ -f "$TMP/slurmd.pid" ] && kill "$(cat "$TMP/slurmd.pid")" 2>/dev/null
    [ -f "$TMP/slurmctld.pid" ] && kill "$(cat "$TMP/slurmctld.pid")" 2>/dev/null
    [ "$STARTED_MUNGE" = 1 ] && [ -f "$TMP/munged.pid" ] && kill "$(cat "$TMP/munged.pid")" 2>/dev/null
    sleep 1
    if [ "${KEEP:-0}" = 1 ]; then echo "test-slurm: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# munge: a key, and a daemon on the default socket (Slurm's auth/munge talks to it)
if ! munge -n >/dev/null 2>&1; then
    mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
    [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
    chmod 0400 /etc/munge/munge.key
    chown -R root:root /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
    munged --force --pid-file="$TMP/munged.pid" --log-file="$TMP/munged.log"
    STARTED_MUNGE=1
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n >/dev/null

CPUS=$(nproc)
mkdir -p "$TMP/state" "$TMP/spool" "$TMP/out"
cat > "$SLURM_CONF" <<CONF
ClusterName=qbtest
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
SlurmctldPort=${QB_SLURMCTLD_PORT:-16817}
SlurmdPort=${QB_SLURMD_PORT:-16818}
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/slurmctld.log
SlurmdLogFile=$TMP/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$HOST CPUs=$CPUS State=UNKNOWN
PartitionName=qb Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do
    sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)' && break
    sleep 0.2
done
sinfo -h -o '%P %D %T' || { echo "test-slurm: slurm did not start"; tail -20 "$TMP/slurmctld.log" "$TMP/slurmd.log"; exit 1; }

echo "test-slurm: submitting a 2-task array over $CONFIG"
sbatch --wait --array=0-1 --output="$TMP/out/task-%a.out" experiments/slurm/sweep.sbatch "$CONFIG" "$TMP/shards" "$QB" \
    || { echo "test-slurm: the array failed"; cat "$TMP"/out/*.out; exit 1; }
cat "$TMP"/out/*.out
"$QB" merge "$TMP"/shards/shard-*.h5 -o "$TMP/merged.h5"
"$QB" run "$CONFIG" --out "$TMP/single.h5" --fresh

# the summaries, without the columns that are timings or one process's memory
strip() {
    "$QB" show "$1" --format csv | awk -F, 'NR==1 { for (i = 1; i <= NF; i++) drop[i] = ($i ~ /^(seconds|peak_rss_bytes|prefill_tps|decode_tps)/) }
        { s = ""; for (i = 1; i <= NF; i++) if (!drop[i]) s = s (s == "" ? "" : ",") $i; print s }'
}
strip "$TMP/merged.h5" > "$TMP/merged.csv"
strip "$TMP/single.h5" > "$TMP/single.csv"
if ! cmp -s "$TMP/merged.csv" "$TMP/single.csv"; then
    echo "test-slurm: FAILED: merged shards differ from a single-process run"
    diff "$TMP/merged.csv" "$TMP/single.csv" | head -20
    exit 1
fi
echo "test-slurm: ok: $(($(wc -l < "$TMP/merged.csv") - 1)) cells, merged shards = single-process run"
