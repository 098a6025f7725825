#!/usr/bin/env bash
# Starts, stops and reports a single-node Slurm cluster on localhost (munged, slurmctld, slurmd, all
# as root except munged) for CI and tests:  scripts/slurm-local.sh start|stop|status
# start is idempotent (returns at once when the cluster is up) and waits until the node is idle;
# the config comes from scripts/slurm/slurm.conf.in and goes to /etc/slurm/slurm.conf, so sbatch,
# squeue and scontrol work from any process with no special environment. Logs, state and the job
# completion file (jobcomp.txt: there is no sacct) live in $LRPE_SLURM_DIR (/var/tmp/lrpe-slurm).
# Needs root and the Debian packages slurm-wlm munge (and libpmix-dev for srun --mpi=pmix).
set -euo pipefail

dir=${LRPE_SLURM_DIR:-/var/tmp/lrpe-slurm}
conf=/etc/slurm/slurm.conf
template="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/slurm/slurm.conf.in"
marker="# lrpe local Slurm cluster"
munge_pid=/run/munge/munged.pid
timeout_s=30

# prints a message to stderr and exits 1
die() { echo "slurm-local: $*" >&2; exit 1; }

# true when one of the processes with ids $@ runs (a zombie does not count)
running() {
    local pid
    for pid; do [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) =~ ^[^Z]$ ]] && return 0; done
    return 1
}

# true when the process whose id is in file $1 runs
alive() { [[ -s $1 ]] && running "$(cat "$1")"; }

# the node's state as sinfo prints it (idle, mixed, down*, drained...), empty when unreachable
node_state() { timeout 5 sinfo -h -N -o %T 2>/dev/null | head -n1 || true; }

# true when the three daemons run and the node can take jobs
healthy() {
    alive "$munge_pid" && alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid" || return 1
    [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]
}

# creates the munge key if missing and starts munged as the munge user
start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        install -d -o munge -g munge -m 0700 /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
}

# writes the config from the template (refuses to overwrite a slurm.conf that is not ours)
write_conf() {
    if [[ -f $conf ]] && ! head -n1 "$conf" | grep -qF "$marker"; then
        die "$conf exists and is not lrpe's: move it away first"
    fi
    local mem_mb
    mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.95 }' /proc/meminfo)
    mkdir -p "$dir/ctld" "$dir/d" /etc/slurm
    sed -e "s|@HOST@|$(hostname -s)|g" -e "s|@DIR@|$dir|g" -e "s|@CPUS@|$(nproc)|g" \
        -e "s|@MEMORY_MB@|$mem_mb|g" "$template" > "$conf.tmp"
    mv "$conf.tmp" "$conf"
}

# waits until the node is idle (or busy with jobs kept from a previous start), resuming a drained node
wait_ready() {
    local state end=$((SECONDS + timeout_s))
    while ((SECONDS < end)); do
        state=$(node_state)
        [[ $state =~ ^(drained|draining|drain)$ ]] && scontrol update nodename="$(hostname -s)" state=resume
        healthy && return 0
        sleep 0.2
    done
    die "node not ready after ${timeout_s}s (state '${state:-no answer}'): see $dir/slurmctld.log, $dir/slurmd.log and /var/log/munge/munged.log"
}

# starts the cluster unless it is already up (a half-up one is stopped and started afresh)
start() {
    [[ $(id -u) -eq 0 ]] || die "must run as root"
    healthy && return 0
    stop
    start_munge
    write_conf
    slurmctld || die "slurmctld did not start: see $dir/slurmctld.log"
    slurmd || die "slurmd did not start: see $dir/slurmd.log"
    wait_ready
    echo "slurm-local: up (node $(hostname -s), $(nproc) CPUs; logs and jobcomp.txt in $dir)"
}

# sends SIGTERM to the daemons whose ids are in files $@, waits until all are gone (SIGKILL after 10 s)
stop_daemons() {
    local pids=() f i
    for f; do alive "$f" && pids+=("$(cat "$f")"); done
    [[ ${#pids[@]} -gt 0 ]] || return 0
    kill "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do running "${pids[@]}" || return 0; sleep 0.1; done
    kill -9 "${pids[@]}" 2>/dev/null || true
}

# stops slurmd, slurmctld and munged together (running job steps are left to finish on their own)
stop() { stop_daemons "$dir/slurmd.pid" "$dir/slurmctld.pid" "$munge_pid"; }

# prints up or down; exit 0 when up
status() {
    if healthy; then echo "slurm-local: up (node $(node_state); logs in $dir)"; else echo "slurm-local: down"; return 1; fi
}

case "${1:-}" in
    start | stop | status) "$1" ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
