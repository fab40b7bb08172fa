#!/bin/sh
# Install the Debian packages mlopt needs to build, test and train, if any
# are missing.  Run as root (or with sudo available).
set -eu

PACKAGES="build-essential cmake pkg-config zlib1g-dev check
  ocl-icd-opencl-dev opencl-headers libclblast-dev pocl-opencl-icd
  libvulkan-dev mesa-vulkan-drivers glslc spirv-tools vulkan-validationlayers
  dataset-fashion-mnist libopenblas-dev libonnx-testdata"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO=sudo
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
