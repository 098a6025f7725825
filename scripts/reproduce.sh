#!/usr/bin/env bash
# Regenerates the study: trains every experiment of experiments/paper/ at one tier, then writes the
# report. Usage: scripts/reproduce.sh [smoke|default|full|gpu]   (make reproduce [TIER=...] runs this
# after installing the packages, preparing the data and building ./lrpe).
#   smoke    every table at a few steps and 2 seeds, eval.lengths cut to 256 (checks the pipeline; a few minutes)
#   default  the tables of results/reference/ (about an hour on 2 cores)
#   full     4x the steps, d_model 128, 4 layers, 5 seeds (days on 2 cores; meant for a bigger machine)
#   gpu      on one NVIDIA GPU (model.device=cuda; lrpe built with `make CUDA=1`: make reproduce TIER=gpu
#            CUDA=1): d_model 256, 4 layers, 10x the steps and warm-up of the default tier, evaluations
#            every 5x as many steps, a checkpoint every fifth of the run, 5 seeds, JOBS=4 worker processes
#            sharing the GPU. Meant to take about an hour; NOT YET MEASURED on a GPU.
#            Stops with one line when this lrpe cannot use a GPU. DEVICE=cpu runs the same scale on the CPU
#            (a testing aid); DRY_RUN=1 lists the runs (lrpe run --dry-run) and writes no report.
# Environment: DB (default results/results.db, or results/results-TIER.db: each tier its own store),
# OUT (default results/report, or results/report-TIER),
# JOBS (worker processes, default: the number of cores, 4 for gpu; the cores are shared among them).
# Completed runs are skipped and interrupted ones resume, so rerunning after a stop loses nothing.
# Exit status: 0 when every run completed and the report was written, 1 otherwise; 2 for an unknown tier,
# or a gpu tier this lrpe cannot run (refused before anything trained).
set -u
tier=${1:-default}
# shellcheck disable=SC2054 # seed=1,2,3: lrpe's comma lists are one word each
case "$tier" in
smoke) args=(train.steps=12 train.warmup=2 train.eval_every=6 train.eval_batches=2 train.test_batches=2
             train.checkpoint_every=0 seed=1,2) ;;
default) args=() ;;
full) args=(model.d_model=128 model.layers=4 seed=1,2,3,4,5) ;;
gpu) device=${DEVICE:-cuda}
     args=(model.device="$device" model.d_model=256 model.layers=4 seed=1,2,3,4,5) ;;
*) echo "reproduce: unknown tier '$tier' (smoke, default, full or gpu)" >&2; exit 2 ;;
esac
suffix=$([ "$tier" = default ] || echo "-$tier")
db=${DB:-results/results$suffix.db}
out=${OUT:-results/report$suffix}
lrpe=${LRPE_BIN:-./lrpe}
if [ "$tier" = gpu ]; then
    jobs=${JOBS:-4}
    LRPE_THREADS=$(nproc) # divided among the workers: they only draw batches and score on the host
    export LRPE_THREADS
else
    jobs=${JOBS:-$(nproc)}
    export LRPE_THREADS=$jobs
fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
dry=()
[ "${DRY_RUN:-0}" = 1 ] && dry=(--dry-run)

# the gpu tier needs an lrpe that can use a GPU: say so in one line before anything runs
if [ "$tier" = gpu ] && [ "$device" = cuda ]; then
    gpus=$("$lrpe" version 2>&1) || { echo "reproduce: '$lrpe version' failed: $gpus" >&2; exit 2; }
    case "$gpus" in
    *"built without CUDA"*)
        echo "reproduce: TIER=gpu needs lrpe built with CUDA: build with \`make CUDA=1\` (make reproduce TIER=gpu CUDA=1); $lrpe has none" >&2
        exit 2 ;;
    *"GPUs: none"*)
        echo "reproduce: TIER=gpu: $lrpe sees no GPU it can use ($(sed -n 's/^GPUs: none (\(.*\))$/\1/p' <<<"$gpus"))" >&2
        exit 2 ;;
    esac
fi

# the number after "KEY:" in the train: line of spec $2 (default-tier values)
train_key() { grep -E '^train:' "$2" | grep -oE "[{ ,]$1: *[0-9]+" | grep -oE '[0-9]+$' | head -1; }

status=0
start=$SECONDS
for spec in experiments/paper/*.yaml; do
    name=$(basename "$spec" .yaml)
    extra=()
    # smoke: one extrapolation length (each length scores the whole test split)
    [ "$tier" = smoke ] && grep -q '^eval:' "$spec" && extra=(eval.lengths=256)
    if [ "$tier" = full ]; then # 4x the steps of the default tier
        steps=$(sed -n 's/.*steps: *\([0-9]*\).*/\1/p' "$spec" | head -1)
        extra=(train.steps=$((steps * 4)))
    fi
    if [ "$tier" = gpu ]; then # the default tier's schedule stretched 10x, evaluations every 5x the steps
        steps=$(train_key steps "$spec") warmup=$(train_key warmup "$spec") every=$(train_key eval_every "$spec")
        extra=(train.steps=$((steps * 10)) train.warmup=$((warmup * 10)) train.eval_every=$((every * 5))
               train.checkpoint_every=$((steps * 2)))
    fi
    echo "== $name$suffix ($(( (SECONDS - start) / 60 )) min so far)"
    "$lrpe" run "$spec" "${args[@]}" "${extra[@]}" name="$name$suffix" -j "$jobs" --db "$db" "${dry[@]}"
    rc=$?
    [ $rc = 0 ] || status=1
    if [ "$tier" = gpu ] && [ $rc = 2 ]; then # refused up front (a CPU-only lrpe, no GPU, ...): no use going on
        echo "reproduce: lrpe refused the gpu tier (exit 2; its reason is the line above)" >&2
        exit 2
    fi
done
[ ${#dry[@]} = 0 ] || { echo "reproduce ($tier): dry run, nothing trained"; exit $status; }
"$lrpe" report --db "$db" --out "$out" || status=1
echo "reproduce ($tier): $(( (SECONDS - start) / 60 )) min; report in $out/report.md$([ $status = 0 ] || echo '; some runs failed: lrpe status')"
exit $status
