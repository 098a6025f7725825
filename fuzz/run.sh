#!/usr/bin/env bash
# Runs the fuzz targets built by `make fuzz-build` (build/fuzz/fuzz_<target>), each for SECONDS:
#   bash fuzz/run.sh SECONDS TARGET...
# Each target reads fuzz/corpus/<target>/ (never written: new inputs go to a scratch folder that is
# deleted afterwards) with fuzz/<target>.dict, under per-input time, memory and length limits.
# Prints one line per target (executions, seconds, result); exits 1 when any target found a
# crash, leak, timeout or OOM, naming the target, the saved input (build/fuzz/artifacts/<target>/)
# and the command that reproduces it. Full logs: build/fuzz/logs/<target>.log.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:?usage: fuzz/run.sh SECONDS TARGET...}
shift
[[ $# -gt 0 ]] || { echo "fuzz/run.sh: no targets" >&2; exit 2; }

# -max_len per target: a little above the largest seed; inputs longer than this are never tried
declare -A MAX_LEN=([spec]=16384 [safetensors]=16384 [checkpoint]=4096 [lm]=8192 [imgcls]=16384
                    [wordnet]=8192 [mail]=4096 [merge]=65536)
# -timeout per input: 10 s, but 30 s for spec: a legal spec may expand into 100,000 runs, which
# takes about 6 s under the sanitizers on the 2-core machine the budget was measured on
declare -A TIMEOUT_S=([spec]=30)
RSS_LIMIT_MB=2048

# leaks, UB and every sanitizer report are fatal; libFuzzer saves the input that caused them
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:print_stacktrace=1:abort_on_error=0:allocator_may_return_null=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LRPE_THREADS=1 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

# scratch space in memory when there is some (the targets write every input to a file there)
base=${TMPDIR:-/tmp}
[[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]] && base=/dev/shm
scratch=$(mktemp -d "$base/lrpe-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p build/fuzz/logs

failed=()
for t in "$@"; do
    bin=build/fuzz/fuzz_$t
    if [[ ! -x $bin || ! -d fuzz/corpus/$t || -z ${MAX_LEN[$t]:-} ]]; then
        echo "fuzz $t: unknown target or not built (targets: ${!MAX_LEN[*]}; make fuzz-build)" >&2
        failed+=("$t")
        continue
    fi
    art=build/fuzz/artifacts/$t
    log=build/fuzz/logs/$t.log
    rm -rf "$art"
    mkdir -p "$art" "$scratch/$t/new" "$scratch/$t/tmp"
    start=$(date +%s)
    # TMPDIR: the target's own temporary files (fuzz_util.c) land in the scratch folder too
    TMPDIR="$scratch/$t/tmp" timeout -k 10 $((seconds + 300)) "$bin" -max_total_time="$seconds" \
        -timeout="${TIMEOUT_S[$t]:-10}" -rss_limit_mb="$RSS_LIMIT_MB" -max_len="${MAX_LEN[$t]}" -dict="fuzz/$t.dict" \
        -artifact_prefix="$art/" -print_final_stats=1 "$scratch/$t/new" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [[ -n $execs ]] || execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
    added=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    input=$(ls "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-* 2>/dev/null | head -n 1)
    if [[ $rc -eq 0 && -z $input ]]; then
        printf 'fuzz %-12s %9s executions in %3d s, %s new inputs, peak RSS %s MB: ok\n' "$t" "${execs:-?}" "$took" \
            "${added:-?}" "${rss:-?}"
        continue
    fi
    failed+=("$t")
    kind=$(basename "${input:-failure}" | cut -d- -f1)
    printf 'fuzz %-12s %9s executions in %3d s: FAILED (%s, exit code %d)\n' "$t" "${execs:-?}" "$took" "$kind" "$rc"
    grep -m 1 -E 'ERROR|runtime error:' "$log" | sed 's/^/    /'
    if [[ -n $input ]]; then
        echo "    input: $input"
        echo "    reproduce: $bin $input"
    else
        echo "    no input was saved: see the log"
    fi
    echo "    log: $log"
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs under build/fuzz/artifacts/, logs under build/fuzz/logs/)" >&2
    exit 1
fi
echo "fuzz: all $# targets ran ${seconds} s each without a crash, leak, timeout or OOM"
