#!/usr/bin/env bash
# The GPU check, one command for a machine with an NVIDIA GPU (the lent H100 / H200 has gcc, nvcc,
# CUDA and PyTorch but not our Debian libraries, and no network): under 8 minutes on an H100 it
#   1. unpacks .debs/ (scripts/fetch-debs.sh, run beforehand where apt works) into a private prefix
#      with dpkg -x and points the compiler (CPATH), the linker (the Makefile's BLASDIR: a folder of
#      links to every library it names) and lrpe's processes (LD_LIBRARY_PATH, theirs only) at it;
#   2. builds with `make CUDA=1` (build/release-cuda/lrpe and lrpe_tests);
#   3. runs the tests whose names contain backend, cuda, gpu or device (as `make test` runs them:
#      LRPE_THREADS=2, OMP_WAIT_POLICY=passive); on a GPU a skipped cuda/gpu test counts as failed;
#   4. times training on the GPU, lrpe bench --device cuda (model.precision=fp32) beside
#      bench/torch_peer.py --device cuda (float32, TF32 off), one process per measurement:
#      d=512, 6 layers, 8 heads, T=1024, batch 32, {softmax, linear} x {none, rope, lrpe-unitary},
#      then causal linear attention without encoding at T = 2k .. 32k with batch x T = 32768;
#   5. prints one table (tokens/s, time per token, peak device memory of both) and writes it to
#      $OUT/gpu-check.txt, with build.log, tests.log, bench.log and the raw bench.tsv beside it.
# Without a GPU it stops at once with one line, exit 2. --dry-run rehearses every step except the
# GPU's on this machine: the same unpacking and build (with CUDA=1 when nvcc is here, so the CUDA code
# compiles; into build/gpu-check-dry-*), the same tests (CUDA ones may skip), and the same bench
# loop and table on the CPU at a tiny size (d=64, 2 layers, T=128, batch 4; T up to 512).
#
# On the device tool (after scripts/fetch-debs.sh and `make data` here):
#   command: bash scripts/gpu-check.sh      carry: [".debs", "data/kjv.txt"]      timeout_s: 600
# Exit status: 0 when the build, every test and every measurement succeeded; 1 otherwise (the table
# says what failed or was skipped for time); 2 when it cannot start (no GPU, no .debs/, no data).
# Knobs (environment): STEPS / WARMUP (timed and untimed steps per process; 5 / 2, dry 2 / 1),
# LENS (the scaling lengths; "2048 4096 8192 16384 32768"), DEADLINE (seconds from the start after
# which no measurement starts, each one cut to what is left; 450), TORCH_SOFTMAX (matmul | sdpa:
# the PyTorch peer's softmax kernel, default matmul: the same composition as its CPU runs), PYTHON
# (default: the first of python3, /usr/bin/python3 that imports torch), LRPE_PREFIX (where the
# packages are unpacked; default $TMPDIR/lrpe-prefix), CUDA_HOME (default /usr/local/cuda, else
# nvcc's).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

dry=0
case "${1:-}" in
    "") ;;
    --dry-run) dry=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (none, --dry-run or --help)" >&2; exit 2 ;;
esac

start=$SECONDS
say() { echo "gpu-check: $*" >&2; }
elapsed() { echo $((SECONDS - start)); }

# where the logs go: $OUT (the device tool brings it back) or a folder of our own
if [[ -n "${OUT:-}" ]]; then logs=$OUT; mkdir -p "$logs"
else logs=$(mktemp -d "${TMPDIR:-/tmp}/lrpe-gpu-check.XXXXXX"); fi
report=$logs/gpu-check.txt
: >"$report"
# a line for the console and the report
note() { echo "$*" | tee -a "$report"; }
# the line that stops the check before it began: console and report, exit 2
cannot() { echo "gpu-check: $*" | tee -a "$report" >&2; exit 2; }

# ---- 0. the GPU, the data, the packages
if [[ $dry = 0 ]]; then
    command -v nvidia-smi >/dev/null ||
        cannot "no NVIDIA GPU here (nvidia-smi is not installed): run this on a GPU machine; scripts/gpu-check.sh --dry-run rehearses the rest on the CPU"
    if ! gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader -i 0 2>&1) || [[ -z "$gpu" ]]; then
        cannot "no usable NVIDIA GPU here (nvidia-smi: $(head -1 <<<"$gpu")): run this on a GPU machine; scripts/gpu-check.sh --dry-run rehearses the rest on the CPU"
    fi
    [[ -s data/kjv.txt ]] ||
        cannot "data/kjv.txt is missing (the GPU tests and the benchmark's task read it): run 'make data' where the network is and carry data/kjv.txt"
else
    gpu="none (dry run: every measurement on the CPU)"
fi

multi=x86_64-linux-gnu # the .debs are amd64
make_vars=()
lrpe_ld=""
debs=(.debs/*.deb)
if [[ -e "${debs[0]}" ]]; then
    prefix=${LRPE_PREFIX:-${TMPDIR:-/tmp}/lrpe-prefix}
    # a folder of ours (marked) is made afresh; anything else of that name is left alone
    if [[ -e "$prefix" && ! -e "$prefix/.lrpe-prefix" ]]; then
        cannot "$prefix exists and is not an lrpe prefix: set LRPE_PREFIX to a new folder"
    fi
    rm -rf "$prefix"
    mkdir -p "$prefix" || cannot "cannot make $prefix"
    touch "$prefix/.lrpe-prefix"
    for d in "${debs[@]}"; do dpkg -x "$d" "$prefix" || cannot "dpkg -x $d failed"; done
    # absolute links (zlib1g-dev's libz.so -> /lib/...) point into the prefix instead
    while IFS= read -r -d '' link; do
        target=$(readlink "$link")
        [[ "$target" == /* && -e "$prefix$target" ]] && ln -sfn "$prefix$target" "$link"
    done < <(find "$prefix" -type l -print0)
    [[ -f "$prefix/usr/include/$multi/openblas-openmp/cblas.h" && -e "$prefix/usr/include/yaml.h" ]] ||
        cannot ".debs/ lacks OpenBLAS or libyaml headers: run scripts/fetch-debs.sh again"
    # headers: CPATH comes after the Makefile's -I folders (absent there) and before the system's
    export CPATH="$prefix/usr/include/$multi/openblas-openmp:$prefix/usr/include${CPATH:+:$CPATH}"
    # libraries: one folder holding every one the link names, passed as the Makefile's BLASDIR, so its
    # -L comes before the system's folders (LIBRARY_PATH would come after gcc's own: a system
    # libsqlite3.so would win) and its rpath finds libopenblas.so.0 at run time
    libs="$prefix/lrpe-libs"
    mkdir -p "$libs"
    for f in usr/lib/$multi/openblas-openmp/libopenblas.so usr/lib/$multi/openblas-openmp/libopenblas.so.0 \
             usr/lib/$multi/libyaml.so usr/lib/$multi/libyaml-0.so.2 usr/lib/$multi/libsqlite3.so \
             usr/lib/$multi/libsqlite3.so.0 usr/lib/$multi/libz.so usr/lib/$multi/libgfortran.so.5 \
             usr/lib/$multi/libquadmath.so.0; do
        [[ -e "$prefix/$f" ]] || cannot ".debs/ lacks /$f: run scripts/fetch-debs.sh again"
        ln -sfn "$(readlink -f "$prefix/$f")" "$libs/${f##*/}"
    done
    make_vars+=("BLASDIR=$libs")
    # what libopenblas.so.0 loads (libgfortran) and libyaml, libsqlite3: through this, for the linker's
    # checks and lrpe's processes (never PyTorch's); zlib's runtime stays the system's
    lrpe_ld=$libs
    say "unpacked ${#debs[@]} packages into $prefix ($(elapsed) s)"
else
    [[ $dry = 1 ]] || cannot "no .debs/ here: run scripts/fetch-debs.sh where apt works and carry .debs"
    say "no .debs/: the dry run builds against this machine's own libraries"
fi
ld_path="$lrpe_ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ld_path=${ld_path#:}

make_bin=$(command -v make || true)
[[ -n "$make_bin" ]] || make_bin=${prefix:-/nonexistent}/usr/bin/make
[[ -x "$make_bin" ]] || cannot "no make here and none in .debs/"

# nvcc: CUDA_HOME, else /usr/local/cuda, else the one on PATH
cuda=1
if [[ -z "${CUDA_HOME:-}" ]]; then
    if [[ -x /usr/local/cuda/bin/nvcc ]]; then CUDA_HOME=/usr/local/cuda
    elif command -v nvcc >/dev/null; then CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
    fi
fi
if [[ -z "${CUDA_HOME:-}" || ! -x "$CUDA_HOME/bin/nvcc" ]]; then
    [[ $dry = 1 ]] || cannot "no nvcc (CUDA_HOME=${CUDA_HOME:-unset}, none on PATH): set CUDA_HOME"
    cuda=0
    say "no nvcc: the dry run builds without CUDA"
fi

if [[ $dry = 0 ]]; then build=build/release-cuda
elif [[ $cuda = 1 ]]; then build=build/gpu-check-dry-cuda; make_vars+=("BUILD=$build")
else build=build/gpu-check-dry-cpu; make_vars+=("BUILD=$build"); fi
[[ $cuda = 1 ]] && make_vars+=(CUDA=1 "CUDA_HOME=$CUDA_HOME")

# ---- 1. build
say "building $build with ${make_vars[*]} ($(elapsed) s)"
if ! LD_LIBRARY_PATH=$ld_path "$make_bin" -j"$(nproc)" "${make_vars[@]}" "$build/lrpe" "$build/lrpe_tests" \
        >"$logs/build.log" 2>&1; then
    tail -30 "$logs/build.log" >&2
    note "gpu-check: the build failed (last lines above; all of it in $logs/build.log)"
    exit 1
fi
lrpe=$build/lrpe
lrpe_version=$(LD_LIBRARY_PATH=$ld_path "$lrpe" version 2>&1)
say "built in $(elapsed) s: $(head -1 <<<"$lrpe_version")"

# ---- 2. tests: each name containing backend, cuda, gpu or device once (the runner takes one substring)
names=$(grep -ho '^TEST([A-Za-z0-9_]*' tests/*.c | sed 's/^TEST(//')
covered=""
test_status=0
tests_summary=()
: >"$logs/tests.log"
for filter in backend cuda gpu device; do
    new=$(grep -F -- "$filter" <<<"$names" | grep -vxF -f <(printf '%s\n' "$covered" | sed '/^$/d') || true)
    [[ -z "$new" ]] && continue
    covered=$(printf '%s\n%s' "$covered" "$(grep -F -- "$filter" <<<"$names")")
    out=$(LD_LIBRARY_PATH=$ld_path LRPE_BIN=$lrpe LRPE_THREADS=${LRPE_THREADS:-2} \
          OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} timeout 180 "$build/lrpe_tests" "$filter" 2>&1)
    rc=$?
    printf '%s\n' "$out" >>"$logs/tests.log"
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -1)
    failed=$(sed -n 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p' <<<"$summary")
    if [[ -z "$summary" ]]; then
        test_status=1
        summary="no summary line (exit $rc: crashed or timed out)"
    elif [[ "$failed" != 0 ]]; then
        test_status=1
        grep -E '^FAIL|^    ' <<<"$out" | head -20 >&2
    fi
    if [[ $dry = 0 ]] && grep -Eq '^skip [^:]*(cuda|gpu)' <<<"$out"; then
        test_status=1
        grep -E '^skip [^:]*(cuda|gpu)' <<<"$out" >&2
        summary="$summary; a CUDA test SKIPPED on a GPU machine"
    fi
    tests_summary+=("tests '$filter': $summary")
    say "tests '$filter': $summary ($(elapsed) s)"
done

# ---- 3. the benchmark
if [[ $dry = 0 ]]; then
    device=cuda D=512 L=6 H=8 T=1024 B=32
    steps=${STEPS:-5} warmup=${WARMUP:-2}
    read -ra lens <<<"${LENS:-2048 4096 8192 16384 32768}"
else
    device=cpu D=64 L=2 H=4 T=128 B=4
    steps=${STEPS:-2} warmup=${WARMUP:-1}
    read -ra lens <<<"${LENS:-256 512}"
fi
deadline=${DEADLINE:-450}
threads=$(nproc)
torch_softmax=${TORCH_SOFTMAX:-matmul}
if [[ -s data/kjv.txt ]]; then task=(task.kind=lm task.dataset=kjv)
else task=(task.kind=synthetic task.dataset=copy task.vocab=256); fi # dry run without data: T <= 4096

python=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$p" -c 'import torch' >/dev/null 2>&1; then python=$p; break; fi
done
[[ -n "$python" ]] || say "no Python with PyTorch here: the torch columns stay empty"
torch_version=$([[ -n "$python" ]] && "$python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null)

tsv=$logs/bench.tsv
printf 'attention\tencoding\tseq_len\tbatch\timpl\tstatus\ttokens_per_s\tstep_ms\tpeak_dev_mb\tsmi_mb\tpeak_rss_mb\n' >"$tsv"
: >"$logs/bench.log"
bench_status=0

# the named columns of the first data row of the TSV on stdin ("NA" for one the header lacks)
pick() {
    awk -F'\t' -v want="$*" '
        !head { for (i = 1; i <= NF; i++) if ($i == "tokens_per_s") head = 1
                if (head) for (i = 1; i <= NF; i++) col[$i] = i
                next }
        { n = split(want, w, " ")
          for (i = 1; i <= n; i++) printf "%s%s", ((w[i] in col) && $(col[w[i]]) != "" ? $(col[w[i]]) : "NA"), (i < n ? "\t" : "\n")
          found = 1; exit }
        END { exit !found }'
}

# the GPU's memory in use now, MiB
smi_used() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 2>/dev/null | head -1 | tr -dc 0-9; }

# measure IMPL ATT ENC T B: one process, one row of bench.tsv
measure() {
    local impl=$1 att=$2 enc=$3 t=$4 b=$5 left status=ok row out smi_mb=NA base="" sampler="" smi_file rc peak
    local tps ms dev rss
    left=$((deadline - $(elapsed)))
    if [[ $impl == torch && -z "$python" ]]; then status=no-torch
    elif ((left < 20)); then status=skipped-time
    fi
    if [[ $status != ok ]]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\n' "$att" "$enc" "$t" "$b" "$impl" "$status" >>"$tsv"
        bench_status=1
        return
    fi
    ((left > 150)) && left=150
    if [[ $dry = 0 ]]; then # the rise of the GPU's memory in use while the process runs, every 0.2 s
        base=$(smi_used)
        smi_file=$(mktemp)
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 200 >"$smi_file" 2>/dev/null &
        sampler=$!
    fi
    echo "== $impl $att $enc T=$t B=$b" >>"$logs/bench.log"
    if [[ $impl == lrpe ]]; then
        out=$(LD_LIBRARY_PATH=$ld_path LRPE_THREADS=$threads OMP_WAIT_POLICY=passive timeout "$left" "$lrpe" bench \
              model.d_model=$D model.layers=$L model.heads=$H model.attention="$att" model.encoding="$enc" \
              model.precision=fp32 "${task[@]}" task.seq_len="$t" train.batch="$b" --device $device \
              --steps "$steps" --warmup "$warmup" --tsv --no-db 2>>"$logs/bench.log")
    else
        out=$(timeout "$left" "$python" bench/torch_peer.py --device $device --d-model $D --layers $L --heads $H \
              --seq-len "$t" --batch "$b" --attention "$att" --encoding "$enc" --steps "$steps" --warmup "$warmup" \
              --threads "$threads" --softmax-kernel "$torch_softmax" 2>>"$logs/bench.log")
    fi
    rc=$?
    if [[ -n "$sampler" ]]; then
        kill "$sampler" 2>/dev/null
        wait "$sampler" 2>/dev/null
        peak=$(tr -dc '0-9\n' <"$smi_file" | sort -n | tail -1)
        [[ -n "$base" && -n "$peak" ]] && smi_mb=$((peak - base))
        rm -f "$smi_file"
    fi
    printf '%s\n' "$out" >>"$logs/bench.log"
    if [[ $rc -ne 0 ]] || ! row=$(pick tokens_per_s step_ms peak_dev_mb peak_rss_mb <<<"$out"); then
        status=$([[ $rc -eq 124 ]] && echo timeout || echo "failed($rc)")
        row=$'NA\tNA\tNA\tNA'
        bench_status=1
        say "$impl $att $enc T=$t: $status; its last lines:"
        tail -5 "$logs/bench.log" >&2
    fi
    IFS=$'\t' read -r tps ms dev rss <<<"$row"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$att" "$enc" "$t" "$b" "$impl" "$status" "$tps" "$ms" "$dev" \
        "$smi_mb" "$rss" >>"$tsv"
    say "$impl $att $enc T=$t B=$b: $status, $tps tokens/s ($(elapsed) s)"
}

say "bench on $device: d=$D, $L layers, $H heads, $steps timed + $warmup warm-up steps per process ($(elapsed) s)"
for att in softmax linear; do
    for enc in none rope lrpe-unitary; do
        measure lrpe "$att" "$enc" "$T" "$B"
        measure torch "$att" "$enc" "$T" "$B"
    done
done
# causal linear attention at growing T, batch x T held: lrpe first (the point of it), then PyTorch
tokens=$((T * B))
for impl in lrpe torch; do
    for t in "${lens[@]}"; do
        bt=$((tokens / t)); ((bt < 1)) && bt=1
        measure "$impl" linear none "$t" "$bt"
    done
done

# ---- 4. the table
table=$("${python:-python3}" - "$tsv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def get(att, enc, t, impl):
    for r in rows:
        if (r["attention"], r["encoding"], r["seq_len"], r["impl"]) == (att, enc, t, impl):
            return r
    return None
def num(r, col):
    try:
        return float(r[col]) if r and r["status"] == "ok" else None
    except ValueError:
        return None
def cell(r, col, f):
    v = num(r, col)
    if v is not None:
        return format(v, f)
    return "NA" if r is None or r["status"] == "ok" else r["status"]
keys = []
for r in rows:
    k = (r["attention"], r["encoding"], r["seq_len"], r["batch"])
    if k not in keys:
        keys.append(k)
# the scaling rows (linear, none: the first length too) last, by length
scaling = sorted((k for k in keys if k[:2] == ("linear", "none")), key=lambda k: int(k[2]))
keys = [k for k in keys if k[:2] != ("linear", "none")] + scaling
head = ["attention", "encoding", "T", "batch", "lrpe tok/s", "torch tok/s", "lrpe/torch", "lrpe us/tok", "torch us/tok",
        "lrpe dev MB", "torch dev MB", "lrpe smi MB", "torch smi MB"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for att, enc, t, b in keys:
    lr, tr = get(att, enc, t, "lrpe"), get(att, enc, t, "torch")
    lt, tt = num(lr, "tokens_per_s"), num(tr, "tokens_per_s")
    us = lambda v: "NA" if not v else format(1e6 / v, ".3f")
    print("| " + " | ".join([att, enc, t, b, cell(lr, "tokens_per_s", ".0f"), cell(tr, "tokens_per_s", ".0f"),
                             "NA" if not (lt and tt) else format(lt / tt, ".2f"), us(lt), us(tt),
                             cell(lr, "peak_dev_mb", ".0f"), cell(tr, "peak_dev_mb", ".0f"),
                             cell(lr, "smi_mb", ".0f"), cell(tr, "smi_mb", ".0f")]) + " |")
EOF
)

{
    echo
    echo "## lrpe GPU check ($([[ $dry = 1 ]] && echo 'DRY RUN on the CPU: not a GPU measurement' || echo "model.device=cuda"))"
    echo
    echo "GPU: $gpu; nvcc: $([[ $cuda = 1 ]] && "$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p' || echo none)"
    echo "lrpe: $(head -1 <<<"$lrpe_version") ($build); PyTorch: ${torch_version:-none}"
    for s in "${tests_summary[@]}"; do echo "$s"; done
    echo
    echo "$table"
    echo
    echo "d_model $D, $L layers, $H heads, vocab 256 (lrpe: ${task[*]}; PyTorch: random bytes), causal LM,"
    echo "float32 (lrpe model.precision=fp32; PyTorch TF32 off, softmax kernel: $torch_softmax); one process per cell,"
    echo "$warmup warm-up + $steps timed steps, tokens/s at the median step; the linear none rows: batch x T = $tokens."
    echo "us/tok = 1e6 / tokens/s. dev MB: the process's own peak device allocation (lrpe: lrpe bench's peak_dev_mb"
    echo "column, NA while it has none; PyTorch: torch.cuda.max_memory_allocated). smi MB: the rise of nvidia-smi's"
    echo "memory.used during the process, sampled every 0.2 s (CUDA context, cuBLAS workspace, caches included)."
    echo "$threads CPU threads (LRPE_THREADS, torch.set_num_threads). $(elapsed) s in all; raw rows: $tsv"
} | tee -a "$report"

status=0
[[ $test_status = 0 && $bench_status = 0 ]] || status=1
note "gpu-check: $([[ $status = 0 ]] && echo ok || echo 'FAILED or incomplete (see above)'); logs in $logs"
exit $status
