#!/usr/bin/env bash
# Set up ofa-mcu on a fresh Debian machine: system packages (cross-compiler, QEMU, Fashion-MNIST)
# and a virtual environment in .venv with the package and its pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm \
dataset-fashion-mnist openocd cmake make g++"

missing=""
for p in $APT_PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "[setup] installing system packages:$missing"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "[setup] installing ofa-mcu and its pinned dependencies into .venv"
.venv/bin/python -m pip install -q -e '.[test]'
# Only TFLite-Micro's headers are used from this wheel (to compile generated projects in the
# tests); --no-deps because it pins numpy<2, which would break tensorflow and torch.
.venv/bin/python -m pip install -q --no-deps xmos-ai-tools==1.4.2
echo "[setup] done: .venv/bin/ofa-mcu --help"
