#!/usr/bin/env bash
# Installs the Debian packages lrpe needs to build, test and report. Idempotent: when everything
# is present it only asks dpkg and returns (well under a second).
# The OpenMP build of OpenBLAS is chosen on purpose: see README.md, "Threads".
set -euo pipefail

packages=(gcc make pkg-config libopenblas-openmp-dev libyaml-dev libsqlite3-dev zlib1g-dev gnuplot-nox)
# LRPE_DEPS_PACKAGES replaces the list (the tests use it to check the not-root path)
[[ -n "${LRPE_DEPS_PACKAGES:-}" ]] && read -r -a packages <<<"$LRPE_DEPS_PACKAGES"

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}; run 'sudo make deps' (or apt-get install -y ${missing[*]})" >&2
    exit 2
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
