#!/usr/bin/env bash
# Installs Debian packages lrpe needs: with no arguments the ones to build, test and report; with
# arguments those packages (scripts/prepare-data.sh asks for the datasets' packages this way).
# Idempotent: when everything is present it only asks dpkg and returns (well under a second).
# The OpenMP build of OpenBLAS is chosen on purpose: see README.md, "Threads".
# LRPE_DEPS_FIX names the command that fixes a missing package in the message (default make deps).
set -euo pipefail

packages=(gcc make pkg-config libopenblas-openmp-dev libyaml-dev libsqlite3-dev zlib1g-dev gnuplot-nox)
[[ $# -gt 0 ]] && packages=("$@")

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}; run 'sudo ${LRPE_DEPS_FIX:-make deps}' (or apt-get install -y ${missing[*]})" >&2
    exit 2
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# the package lists may be fresh already: update only when the first attempt fails
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || {
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}
