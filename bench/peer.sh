#!/usr/bin/env bash
# lrpe against its PyTorch peer (bench/torch_peer.py), `make bench-peer`: training throughput
# (tokens/s) and peak memory of the same model, for two sizes x {linear, softmax} x {none, rope,
# lrpe-unitary}. For each configuration the two run alternately, REPS pairs, lrpe first in odd
# pairs and PyTorch first in even ones (A B, B A, A B ...: a machine that speeds up or slows down
# during a sequence favours neither), each as its own process with the same thread settings; the
# table gives medians over the repetitions. Raw rows go to OUT as TSV.
#
# Knobs (environment or make variables):
#   REPS=3            pairs per configuration
#   THREADS=2         OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = LRPE_THREADS = torch threads
#   OUT=bench/peer-results.tsv
#   STEPS=20 WARMUP=3 timed and untimed steps per process
#   OMP_WAIT_POLICY   passed to both; passive unless set (as `make test`: spinning OpenMP threads
#                     on a shared, busy machine made PyTorch steps up to 8x slower)
#   OPENBLAS_CORETYPE passed to both as set; unset, both get the core lrpe selects (`lrpe version`),
#                     so PyTorch runs the same kernels (OpenBLAS alone picked SSE3's Prescott on a
#                     machine whose hypervisor hides the CPU's model: PyTorch was 4x slower there)
#   TORCH_BLAS=openmp PyTorch's OpenBLAS: openmp (the build lrpe links: same kernels) or pthread puts
#                     that Debian build first on LD_LIBRARY_PATH; system: the libblas.so.3 alternative
#   LRPE_TASK         lrpe's task keys; default the KJV byte LM when data/kjv.txt exists (make
#                     data), else the generated copy task with 256 symbols (no downloads)
#   LRPE=./lrpe PYTHON=/usr/bin/python3
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
THREADS=${THREADS:-2}
OUT=${OUT:-bench/peer-results.tsv}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-3}
TORCH_BLAS=${TORCH_BLAS:-openmp}
LRPE=${LRPE:-./lrpe}
PYTHON=${PYTHON:-/usr/bin/python3}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS LRPE_THREADS=$THREADS
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

if [[ -z "${LRPE_TASK:-}" ]]; then
    if [[ -s data/kjv.txt ]]; then LRPE_TASK="task.kind=lm task.dataset=kjv"
    else LRPE_TASK="task.kind=synthetic task.dataset=copy task.vocab=256"; fi
fi

torch_env=()
case $TORCH_BLAS in
    system) ;;
    openmp | pthread) torch_env=(LD_LIBRARY_PATH="/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/openblas-$TORCH_BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}") ;;
    *) echo "peer.sh: TORCH_BLAS must be system, openmp or pthread (got '$TORCH_BLAS')" >&2; exit 2 ;;
esac

# configurations: "d_model layers heads seq_len batch"
CONFIGS=("256 4 4 256 16" "64 2 4 128 32")
ATTENTIONS=(linear softmax)
ENCODINGS=(none rope lrpe-unitary)
# the columns kept from either side, in the raw TSV's order
COLS=(tokens_per_s tokens_per_s_min tokens_per_s_max step_ms peak_rss_mb threads)

# Prints, tab-separated, the named columns of the first data row of the TSV on stdin ("NA" for a
# column the header lacks); the header is the first line with a tokens_per_s column (lines before
# it are skipped); fails when there is no data row.
pick() {
    awk -F'\t' -v want="$*" '
        !head { for (i = 1; i <= NF; i++) if ($i == "tokens_per_s") head = 1
                if (head) for (i = 1; i <= NF; i++) col[$i] = i
                next }
        { n = split(want, w, " ")
          for (i = 1; i <= n; i++) printf "%s%s", (w[i] in col ? $(col[w[i]]) : "NA"), (i < n ? "\t" : "\n")
          found = 1; exit }
        END { exit !found }'
}

# Runs one side ($1: lrpe | torch) of configuration $2..$8 and prints the picked columns.
run_side() {
    local side=$1 d=$2 L=$3 H=$4 T=$5 B=$6 att=$7 enc=$8 out
    if [[ $side == lrpe ]]; then
        # shellcheck disable=SC2086  # LRPE_TASK is a list of key=value words
        out=$("$LRPE" bench model.d_model="$d" model.layers="$L" model.heads="$H" model.attention="$att" \
                  model.encoding="$enc" task.seq_len="$T" train.batch="$B" $LRPE_TASK \
                  --steps "$STEPS" --warmup "$WARMUP" --tsv --no-db) || {
            echo "peer.sh: '$LRPE bench' failed for d=$d L=$L H=$H T=$T B=$B $att $enc" >&2; return 1; }
        pick "${COLS[@]}" core <<<"$out" | sed "s/\$/\t$lrpe_blas/" || {
            echo "peer.sh: no TSV row with tokens_per_s from '$LRPE bench --tsv'" >&2; return 1; }
    else
        out=$(env "${torch_env[@]}" "$PYTHON" bench/torch_peer.py --d-model "$d" --layers "$L" --heads "$H" \
                  --seq-len "$T" --batch "$B" --attention "$att" --encoding "$enc" --steps "$STEPS" \
                  --warmup "$WARMUP" --threads "$THREADS") || {
            echo "peer.sh: bench/torch_peer.py failed for d=$d L=$L H=$H T=$T B=$B $att $enc" >&2; return 1; }
        pick "${COLS[@]}" blas_core blas <<<"$out" || {
            echo "peer.sh: no TSV row with tokens_per_s from bench/torch_peer.py" >&2; return 1; }
    fi
}

# lrpe's OpenBLAS build, as `lrpe version` names it ("blas: OpenBLAS ... core=Zen parallel=openmp")
lrpe_version=$("$LRPE" version 2>/dev/null || true)
lrpe_blas=openblas-$(grep -o 'parallel=[^ ]*' <<<"$lrpe_version" | head -1 | cut -d= -f2)
lrpe_core=$(grep -o 'core=[^ ]*' <<<"$lrpe_version" | head -1 | cut -d= -f2)
if [[ -z "${OPENBLAS_CORETYPE:-}" && -n "$lrpe_core" ]]; then export OPENBLAS_CORETYPE=$lrpe_core; fi

mkdir -p "$(dirname "$OUT")"
printf 'config\tattention\tencoding\trep\timpl\t%s\tblas_core\tblas\n' "$(IFS=$'\t'; echo "${COLS[*]}")" >"$OUT"
echo "peer.sh: $((${#CONFIGS[@]} * ${#ATTENTIONS[@]} * ${#ENCODINGS[@]})) configurations x $REPS pairs," \
     "$STEPS steps (+$WARMUP warm-up) each, $THREADS threads; raw rows in $OUT" >&2
for c in "${CONFIGS[@]}"; do
    read -r d L H T B <<<"$c"
    name="d${d}_L${L}_H${H}_T${T}_B${B}"
    for att in "${ATTENTIONS[@]}"; do
        for enc in "${ENCODINGS[@]}"; do
            for ((rep = 1; rep <= REPS; rep++)); do
                sides=(lrpe torch)
                ((rep % 2)) || sides=(torch lrpe)
                for side in "${sides[@]}"; do
                    row=$(run_side "$side" "$d" "$L" "$H" "$T" "$B" "$att" "$enc")
                    printf '%s\t%s\t%s\t%d\t%s\t%s\n' "$name" "$att" "$enc" "$rep" "$side" "$row" >>"$OUT"
                    echo "  $name $att $enc rep $rep $side: $(cut -f1 <<<"$row") tokens/s" >&2
                done
            done
        done
    done
done

# the summary table: medians over the repetitions
"$PYTHON" - "$OUT" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def med(config, att, enc, impl, col):
    """Median of a column over the repetitions of one configuration and side (None if none)."""
    v = [float(r[col]) for r in rows if (r["config"], r["attention"], r["encoding"], r["impl"]) == (config, att, enc, impl)
         and r[col] not in ("", "NA")]
    return statistics.median(v) if v else None
fmt = lambda x, f: "NA" if x is None else format(x, f)
ratio = lambda a, b: None if a is None or not b else a / b
head = ["config", "attention", "encoding", "lrpe tok/s", "torch tok/s", "lrpe/torch", "lrpe RSS MB", "torch RSS MB", "RSS ratio"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
seen = []
for r in rows:
    key = (r["config"], r["attention"], r["encoding"])
    if key in seen:
        continue
    seen.append(key)
    lt, tt = med(*key, "lrpe", "tokens_per_s"), med(*key, "torch", "tokens_per_s")
    lm, tm = med(*key, "lrpe", "peak_rss_mb"), med(*key, "torch", "peak_rss_mb")
    print("| " + " | ".join([*key, fmt(lt, ".0f"), fmt(tt, ".0f"), fmt(ratio(lt, tt), ".2f"),
                             fmt(lm, ".0f"), fmt(tm, ".0f"), fmt(ratio(lm, tm), ".2f")]) + " |")
EOF

torch_blas=$(awk -F'\t' '$5 == "torch" { print $(NF) " core=" $(NF - 1); exit }' "$OUT")
echo
echo "BLAS: lrpe $lrpe_blas core=${lrpe_core:-?}; torch ${torch_blas:-?}; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "threads: $THREADS (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, LRPE_THREADS, torch.set_num_threads);" \
     "OMP_WAIT_POLICY=$OMP_WAIT_POLICY; $STEPS steps + $WARMUP warm-up, $REPS pairs; lrpe task: $LRPE_TASK"
