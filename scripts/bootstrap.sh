#!/usr/bin/env bash
# Idempotent set-up for `make run` and `make test` on Debian 12 (bookworm).
#   1. system packages (apt, only when root and only the missing ones);
#   2. .venv with Python >= 3.11;
#   3. AMUSE community codes (compiled from PyPI sdists), then the exact lock file,
#      then this package in editable mode.
# A stamp (hash of every input of steps 2-3) makes a second call take about a second.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
STAMP=$VENV/.bootstrap-stamp
log() { printf '[bootstrap] %s\n' "$*" >&2; }

# --- 1. system packages ---------------------------------------------------------
# AMUSE codes: gfortran, g++, make, Open MPI, GSL, FFTW, HDF5.
# Cluster-profile tests: a single-node SLURM (slurmctld, slurmd, client) and munge.
APT_PACKAGES=(gfortran g++ make libopenmpi-dev openmpi-bin libgsl-dev libfftw3-dev libhdf5-dev
              slurmctld slurmd slurm-client munge curl)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    log "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "missing system packages (install them as root): ${missing[*]}"
    log "continuing: the AMUSE build or the cluster tests may fail without them"
  fi
fi

# --- 2. virtual environment -------------------------------------------------------
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON=$candidate; break
    fi
  done
fi
[ -n "$PYTHON" ] || { log "need Python >= 3.11"; exit 1; }

want=$(cat "$REPO/requirements/amuse.txt" "$REPO/requirements/lock.txt" "$REPO/pyproject.toml" \
           "$REPO/scripts/bootstrap.sh" | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  log "environment up to date ($VENV)"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PIP_PROGRESS_BAR=off
"${PIP[@]}" install -q --upgrade "pip>=24" "setuptools>=68" wheel

# --- 3. AMUSE, then the lock file, then this package ---------------------------------
# FC must be set: without it (and with a failing `mpif90 -show`) AMUSE's build falls
# back to numpy.distutils and breaks. Build isolation stays on (the sdists need
# setuptools_scm in their build environment). The framework goes first: the codes
# need it in their build environment.
export FC=${FC:-gfortran}
if ! "$VENV/bin/python" -c 'import amuse.community.huayno.interface, amuse.community.mercury.interface' 2>/dev/null; then
  log "compiling the AMUSE framework and codes (about 2 minutes)"
  # setuptools-scm and packaging at the locked versions: a newer setuptools-scm would pull
  # in vcs-versioning, which needs a packaging that snakemake 9 does not accept.
  build_pins=("numpy==1.26.4" $(grep -E '^(setuptools-scm|packaging)==' "$REPO/requirements/lock.txt"))
  "${PIP[@]}" install -q "${build_pins[@]}" "$(grep '^amuse-framework' "$REPO/requirements/amuse.txt")"
  "${PIP[@]}" install -q "${build_pins[@]}" $(grep '^amuse-' "$REPO/requirements/amuse.txt" | grep -v framework)
fi
log "installing pinned packages from requirements/lock.txt"
"${PIP[@]}" install -q -r "$REPO/requirements/lock.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$REPO"
"${PIP[@]}" check >&2 || { log "pip check found conflicting requirements"; exit 1; }
"$VENV/bin/python" -c 'import asteroid_ml, amuse.community.mercury.interface, torch, snakemake' \
  >/dev/null 2>&1 || { log "environment check failed"; exit 1; }
echo "$want" > "$STAMP"
log "environment ready: $VENV ($(du -sh "$VENV" | cut -f1))"
