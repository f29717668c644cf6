#!/usr/bin/env bash
# Installs what Mirage needs on a Debian machine: the system libraries (apt-get, only those
# missing) and the Python packages of the scripts (pip). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# slurmctld, slurmd, slurm-client, munge (and libpmix2 for srun --mpi=pmix): the private
# Slurm of the test slurm_real (tests/slurm/real-slurm.sh); no daemon is started here.
packages=(cmake g++ make pkg-config git libcli11-dev libhdf5-dev librandom123-dev
          libboost-math-dev libgtest-dev libbenchmark-dev libopenmpi-dev openmpi-bin
          python3-dev python3-venv slurmctld slurmd slurm-client munge libpmix2)
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
# pip installs what is missing or older than required (and fetches nothing otherwise).
PIP_ROOT_USER_ACTION=ignore "$python" -m pip install -q --disable-pip-version-check \
  -r scripts/requirements.txt
