#!/usr/bin/env bash
# Downloads into .debs/ (git-ignored) the Debian 12 packages that `make CUDA=1` needs and the lent GPU
# machine lacks (it has gcc, nvcc, CUDA and PyTorch, but not our Debian libraries, and no network), so
# scripts/gpu-check.sh can unpack them there with `dpkg -x` into a private prefix:
#   libopenblas0-openmp libopenblas-openmp-dev   cblas.h and libopenblas.so (Makefile BLASDIR)
#   libgfortran5 libquadmath0                    what libopenblas.so.0 loads
#   libyaml-0-2 libyaml-dev                      yaml.h, -lyaml
#   libsqlite3-0 libsqlite3-dev                  sqlite3.h, -lsqlite3
#   zlib1g zlib1g-dev                            zlib.h, -lz (libz.so points at zlib1g's file)
#   make                                         used only where the machine has no make
# Not fetched: libgomp1 (it comes with gcc, which nvcc needs; a Debian 12 copy first on the library path
# could shadow the newer one gcc links against), libopenblas-dev (only update-alternatives links; the
# Makefile names the openmp build's folders itself), gnuplot (reports are not part of the check).
# Run as any user (apt-get download needs no root; apt's package lists must be there: apt-get update).
# Idempotent: a file already there with the SHA-256 apt lists is kept (a second run only hashes);
# another version of a listed package, or a .deb of no listed package, is removed. The packages are
# taken from apt's cache (/var/cache/apt/archives) when it holds them, else downloaded. Ends with the
# total size (scripts/gpu-check.sh carries them: the device tool takes at most 64 MiB of carried paths
# and working tree together). Usage: scripts/fetch-debs.sh [DIR]   (default .debs)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-.debs}
arch=amd64 # the GPU machine is x86-64 whatever this machine is
packages=(libopenblas0-openmp libopenblas-openmp-dev libgfortran5 libquadmath0 libyaml-0-2 libyaml-dev
          libsqlite3-0 libsqlite3-dev zlib1g zlib1g-dev make)
limit_mib=40 # the working tree travels beside them within the 64 MiB

mkdir -p "$dir"
apt_opts=()
[[ $(id -u) -eq 0 ]] && apt_opts=(-o APT::Sandbox::User=root) # no "unsandboxed as root" warning

# one apt-cache call for all (each call reads apt's lists: seconds): "package version sha256" lines
info=$({ apt-cache show --no-all-versions "${packages[@]/%/:$arch}" 2>/dev/null || true; } |
       awk '/^Package:/ { p = $2 } /^Version:/ { v = $2 } /^SHA256:/ { print p, v, $2 }')

keep=()
for p in "${packages[@]}"; do
    version="" sha=""
    read -r _ version sha < <(awk -v p="$p" '$1 == p' <<<"$info" | head -1) || true
    if [[ -z "$version" || -z "$sha" ]]; then
        echo "fetch-debs: apt knows no $p:$arch (run 'apt-get update' first; on a non-amd64 machine add the amd64 architecture)" >&2
        exit 1
    fi
    file="$dir/${p}_${version//:/%3a}_$arch.deb" # apt-get download's name for it (epoch ':' as %3a)
    keep+=("$file")
    if [[ -f "$file" ]] && [[ "$(sha256sum "$file" | cut -d' ' -f1)" == "$sha" ]]; then
        continue
    fi
    cached="/var/cache/apt/archives/$(basename "$file")"
    if [[ -f "$cached" ]] && [[ "$(sha256sum "$cached" | cut -d' ' -f1)" == "$sha" ]]; then
        cp "$cached" "$file.tmp" && mv "$file.tmp" "$file"
        echo "fetch-debs: $p $version (from apt's cache)" >&2
    else
        rm -f "$file"
        (cd "$dir" && apt-get "${apt_opts[@]}" -q download "$p:$arch=$version" >/dev/null) ||
            { echo "fetch-debs: apt-get download $p:$arch=$version failed" >&2; exit 1; }
        [[ -f "$file" ]] || { echo "fetch-debs: apt-get download left no $file" >&2; exit 1; }
        echo "fetch-debs: $p $version (downloaded)" >&2
    fi
    [[ "$(sha256sum "$file" | cut -d' ' -f1)" == "$sha" ]] ||
        { echo "fetch-debs: $file does not match the SHA-256 apt lists for it" >&2; rm -f "$file"; exit 1; }
done

# anything else in the folder is stale: another version, or a package no longer listed
for f in "$dir"/*.deb; do
    [[ -e "$f" ]] || continue
    stale=1
    for k in "${keep[@]}"; do [[ "$f" == "$k" ]] && stale=0; done
    if [[ $stale = 1 ]]; then rm -f "$f"; echo "fetch-debs: removed stale $f" >&2; fi
done
rm -f "$dir"/*.tmp

total=0
for f in "${keep[@]}"; do
    size=$(stat -c %s "$f")
    total=$((total + size))
    printf '%8.2f MiB  %s\n' "$(awk -v s="$size" 'BEGIN { print s / 1048576 }')" "$(basename "$f")"
done
total_mib=$(awk -v s="$total" 'BEGIN { printf "%.2f", s / 1048576 }')
echo "fetch-debs: ${#keep[@]} packages, $total_mib MiB in $dir/ (carry it: scripts/gpu-check.sh unpacks it with dpkg -x)"
if awk -v t="$total_mib" -v l="$limit_mib" 'BEGIN { exit !(t > l) }'; then
    echo "fetch-debs: $total_mib MiB is more than $limit_mib MiB: too much beside the working tree in the device tool's 64 MiB" >&2
    exit 1
fi
