#!/usr/bin/env bash
# Regenerates the study: trains every experiment of experiments/paper/ at one tier, then writes the
# report. Usage: scripts/reproduce.sh [smoke|default|full]   (make reproduce [TIER=...] runs this
# after installing the packages, preparing the data and building ./lrpe).
#   smoke    every table at a few steps and 2 seeds (checks the pipeline; a couple of minutes)
#   default  the tables of results/reference/ (about an hour on 2 cores)
#   full     4x the steps, d_model 128, 4 layers, 5 seeds (days on 2 cores; meant for a bigger machine)
# Environment: DB (default results/results.db, or results/results-TIER.db: each tier its own store),
# OUT (default results/report, or results/report-TIER),
# JOBS (worker processes, default: the number of cores; each gets one thread: the models are small).
# Completed runs are skipped and interrupted ones resume, so rerunning after a stop loses nothing.
# Exit status: 0 when every run completed and the report was written, 1 otherwise.
set -u
tier=${1:-default}
case "$tier" in
smoke) args=(train.steps=12 train.warmup=2 train.eval_every=6 train.eval_batches=2 train.test_batches=2
             train.checkpoint_every=0 seed=1,2) ;;
default) args=() ;;
full) args=(model.d_model=128 model.layers=4 seed=1,2,3,4,5) ;;
*) echo "reproduce: unknown tier '$tier' (smoke, default or full)" >&2; exit 2 ;;
esac
suffix=$([ "$tier" = default ] || echo "-$tier")
db=${DB:-results/results$suffix.db}
out=${OUT:-results/report$suffix}
jobs=${JOBS:-$(nproc)}
lrpe=${LRPE_BIN:-./lrpe}
export LRPE_THREADS=$jobs OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

status=0
start=$SECONDS
for spec in experiments/paper/*.yaml; do
    name=$(basename "$spec" .yaml)
    extra=()
    if [ "$tier" = full ]; then # 4x the steps of the default tier
        steps=$(sed -n 's/.*steps: *\([0-9]*\).*/\1/p' "$spec" | head -1)
        extra=(train.steps=$((steps * 4)))
    fi
    echo "== $name$suffix ($(( (SECONDS - start) / 60 )) min so far)"
    "$lrpe" run "$spec" "${args[@]}" "${extra[@]}" name="$name$suffix" -j "$jobs" --db "$db" || status=1
done
"$lrpe" report --db "$db" --out "$out" || status=1
echo "reproduce ($tier): $(( (SECONDS - start) / 60 )) min; report in $out/report.md$([ $status = 0 ] || echo '; some runs failed: lrpe status')"
exit $status
