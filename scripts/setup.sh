#!/usr/bin/env bash
# Installs what cctune needs on Debian 12, and nothing that is already there. Uses sudo when not root.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config git python3 bsdutils
  libopenmpi-dev openmpi-bin libhwloc-dev
  libcli11-dev nlohmann-json3-dev libpugixml-dev libfmt-dev libboost-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libyaml-cpp-dev
  chromium fonts-dejavu-core  # the report test renders cctune's HTML in headless Chromium
  shellcheck slurm-wlm munge  # the Slurm scripts' tests, with a real local Slurm
  iproute2 util-linux  # the simulated cluster (tests/cluster): ip, tc, unshare, nsenter
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "setup: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
