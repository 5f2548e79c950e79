#!/usr/bin/env bash
# Builds the `cuda` feature on a machine without a GPU or a CUDA toolkit (issue 14): the CUDA
# 13.0 toolkit's parts from PyPI into a virtual environment, then cargo with nvcc on the PATH and
# the H200's compute capability, since there is no nvidia-smi to ask.
#
#   benches/gpu/build.sh [check]     # cargo check --workspace --features experiments/cuda
#
# The pins matter: unpinned, pip pulls nvvm and crt 13.5 beside nvcc 13.0, and ptxas then fails
# with "Unsupported .version 9.5" (shared/reference/gpu-and-imagenet.md). The wheels unpack to
# about 300 MB in $CUDA_VENV (default: .cuda, ignored by git); candle-kernels' nvcc compile takes
# about 8 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${CUDA_VENV:-.cuda}
if [ ! -x "$VENV/bin/nvcc" ] && [ ! -d "$VENV/lib" ]; then
    python3 -m venv "$VENV"
fi
C=$(echo "$VENV"/lib/python3*/site-packages/nvidia/cu13)
if [ ! -x "$C/bin/nvcc" ]; then
    "$VENV/bin/pip" install -q "nvidia-cuda-nvcc==13.0.88" "nvidia-nvvm==13.0.88" \
        "nvidia-cuda-crt==13.0.88" "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cccl==13.0.*"
    C=$(echo "$VENV"/lib/python3*/site-packages/nvidia/cu13)
fi
export PATH=$C/bin:$PATH CUDA_HOME=$C CUDA_PATH=$C CUDA_COMPUTE_CAP=90
case "${1:-check}" in
    check) cargo check --workspace --all-targets --features experiments/cuda ;;
    *) echo "usage: $0 [check]" >&2; exit 2 ;;
esac
