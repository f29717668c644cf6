#!/usr/bin/env bash
# Installs what Mirage needs on a Debian machine: the system libraries (apt-get, only those
# missing) and the Python packages of the scripts (pip). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ make pkg-config git libcli11-dev libhdf5-dev librandom123-dev
          libboost-math-dev libgtest-dev libbenchmark-dev libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import numpy, h5py, matplotlib' 2>/dev/null; then
  echo "install-deps: installing Python packages from scripts/requirements.txt"
  "$python" -m pip install -q --disable-pip-version-check -r scripts/requirements.txt
fi
