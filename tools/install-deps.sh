#!/usr/bin/env bash
# Installs the Debian 12 packages hrvq needs that are missing; does nothing when all are
# present. Needs root (or sudo) only when something must be installed.
set -euo pipefail
PACKAGES=(
  cmake ninja-build g++ pkg-config
  libtorch-dev              # LibTorch 1.13 (CPU), with c10d
  libgloo-dev               # headers of c10d's Gloo backend (data-parallel training)
  libopenblas0-pthread      # replaces the reference BLAS behind libtorch (30x faster matrix products)
  libpng-dev libjpeg62-turbo-dev zlib1g-dev libzstd-dev
  libfmt-dev libcli11-dev libgtest-dev
  clang libclang-rt-14-dev  # libFuzzer targets
  python3-torch python3-scipy python3-numpy python3-matplotlib  # FID reference tests, benchmark plots
  libjpeg-turbo-progs       # cjpeg/djpeg for the codec comparison and the setup demo
  webp libavif-bin          # cwebp/dwebp and avifenc/avifdec for the codec comparison
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
