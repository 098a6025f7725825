#!/usr/bin/env bash
# Checks a report folder written by `lrpe report` (CI runs it on the smoke tier): report.md, report.html, and in
# every experiment folder the tables (md, csv, tex; and lengths.md/.csv/.tex with the lengths plot
# where runs were evaluated at eval.lengths) and plots (png, svg: curves and final, or throughput
# and memory for an lrpe bench experiment) exist and are non-empty,
# every PNG has the PNG signature and an IHDR chunk with a positive width and height, every SVG
# has an <svg> element. Usage: scripts/check-report.sh REPORT_DIR [EXPECTED_EXPERIMENTS]
set -u
dir=${1:?usage: scripts/check-report.sh REPORT_DIR [EXPECTED_EXPERIMENTS]}
expected=${2:-1}
bad=0
fail() { echo "check-report: $*" >&2; bad=1; }

# 4-byte big-endian integer at byte offset $2 of file $1
be32() { od -An -tu1 -j "$2" -N4 "$1" | awk '{print (($1 * 256 + $2) * 256 + $3) * 256 + $4}'; }

[ -s "$dir/report.md" ] || fail "$dir/report.md is missing or empty"
grep -q '</html>' "$dir/report.html" 2>/dev/null || fail "$dir/report.html is missing or cut short"
n=0
for exp in "$dir"/*/; do
    exp=${exp%/}
    n=$((n + 1))
    plots="curves final"
    [ -e "$exp/throughput.png" ] && plots="throughput memory" # an lrpe bench experiment
    [ -e "$exp/lengths.md" ] && plots="$plots lengths" # evaluated at eval.lengths
    tables="table.md table.csv table.tex"
    [ -e "$exp/lengths.md" ] && tables="$tables lengths.md lengths.csv lengths.tex"
    for f in $tables $(for p in $plots; do echo "$p.png $p.svg"; done); do
        [ -s "$exp/$f" ] || fail "$exp/$f is missing or empty"
    done
    for png in "$exp"/*.png; do
        [ -s "$png" ] || continue
        sig=$(od -An -tx1 -N8 "$png" | tr -d ' \n')
        [ "$sig" = 89504e470d0a1a0a ] || fail "$png: not a PNG (signature $sig)"
        [ "$(od -An -c -j12 -N4 "$png" | tr -d ' \n')" = IHDR ] || fail "$png: no IHDR chunk"
        w=$(be32 "$png" 16) h=$(be32 "$png" 20)
        [ "$w" -gt 0 ] && [ "$h" -gt 0 ] || fail "$png: size ${w}x${h}"
    done
    for svg in "$exp"/*.svg; do
        [ -s "$svg" ] && grep -q "<svg" "$svg" || fail "$svg: no <svg> element"
    done
    grep -q "$(basename "$exp")" "$dir/report.md" || fail "report.md does not mention $(basename "$exp")"
    grep -qF "<h2>$(basename "$exp")</h2>" "$dir/report.html" 2>/dev/null || fail "report.html has no section for $(basename "$exp")"
done
[ "$n" -ge "$expected" ] || fail "$n experiment folders in $dir, expected $expected"
[ $bad = 0 ] && echo "check-report: $dir: $n experiments, every table and plot present and valid"
exit $bad
