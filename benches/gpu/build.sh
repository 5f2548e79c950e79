#!/usr/bin/env bash
# Builds the `cuda` feature on a machine without a GPU or a CUDA toolkit (issue 14): the CUDA
# 13.0 toolkit's parts from PyPI into a virtual environment, then cargo with nvcc on the PATH and
# the H200's compute capability, since there is no nvidia-smi to ask.
#
#   benches/gpu/build.sh toolkit     # only install the toolkit's wheels (CI: fails without PyPI)
#   benches/gpu/build.sh [check]     # cargo check --workspace --features experiments/cuda
#   benches/gpu/build.sh build       # + the executables to carry to a GPU machine, in
#                                    #   target/cuda-carry/ (xz-compressed)
#
# Linking needs the libraries candle's cudarc links dynamically: cuBLAS, cuRAND and NVRTC come
# as wheels too (about 1.2 GB unpacked); the driver's libcuda.so is on no wheel, so a stub that
# defines every `cu…` function cudarc declares stands in at link time (the executable records
# libcuda.so.1, and the GPU machine's real driver library is loaded at run time).
#
# The pins matter: unpinned, pip pulls nvvm and crt 13.5 beside nvcc 13.0, and ptxas then fails
# with "Unsupported .version 9.5" (shared/reference/gpu-and-imagenet.md). The wheels unpack to
# about 300 MB in $CUDA_VENV (default: .cuda, ignored by git); candle-kernels' nvcc compile takes
# about 8 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Absolute: build scripts run in their own folders, where a relative PATH entry finds no nvcc.
VENV=$(realpath -m "${CUDA_VENV:-.cuda}")
toolkit() {
    if [ ! -x "$VENV/bin/pip" ]; then
        python3 -m venv "$VENV"
    fi
    C=$(echo "$VENV"/lib/python3*/site-packages/nvidia/cu13)
    if [ ! -x "$C/bin/nvcc" ]; then
        "$VENV/bin/pip" install -q "nvidia-cuda-nvcc==13.0.88" "nvidia-nvvm==13.0.88" \
            "nvidia-cuda-crt==13.0.88" "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cccl==13.0.*"
        C=$(echo "$VENV"/lib/python3*/site-packages/nvidia/cu13)
    fi
}
toolkit
if [ "${1:-check}" = toolkit ]; then
    "$C/bin/nvcc" --version | tail -1
    exit 0
fi
export PATH=$C/bin:$PATH CUDA_HOME=$C CUDA_PATH=$C CUDA_COMPUTE_CAP=90
link_libraries() {
    if [ ! -e "$C/lib/libcublas.so.13" ]; then
        "$VENV/bin/pip" install -q "nvidia-cublas==13.0.2.14" "nvidia-curand==10.4.0.35" \
            "nvidia-cuda-nvrtc==13.0.88"
    fi
    (cd "$C/lib" && for l in cublas cublasLt cudart nvrtc; do ln -sf "lib$l.so.13" "lib$l.so"; done \
        && ln -sf libcurand.so.10 libcurand.so)
    if [ ! -e "$C/lib/libcuda.so" ]; then
        local sys
        sys=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.10/src/driver/sys/mod.rs | head -1)
        grep -o "fn cu[A-Za-z0-9_]*" "$sys" | sed 's/^fn //' | sort -u \
            | sed 's/.*/void &(void) {}/' > "$C/lib/libcuda_stub.c"
        gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$C/lib/libcuda.so" "$C/lib/libcuda_stub.c"
    fi
    export LIBRARY_PATH=$C/lib${LIBRARY_PATH:+:$LIBRARY_PATH}
}

case "${1:-check}" in
    check) cargo check --workspace --all-targets --features experiments/cuda ;;
    build)
        link_libraries
        cargo build --features experiments/cuda -p experiments --bin train --bin bench_step
        T=${CARGO_TARGET_DIR:-target}
        mkdir -p "$T/cuda-carry"
        for b in train bench_step; do
            strip -o "$T/cuda-carry/$b" "$T/debug/$b"
            xz -6 -f "$T/cuda-carry/$b"
        done
        ls -la "$T/cuda-carry"
        ;;
    *) echo "usage: $0 [check|build]" >&2; exit 2 ;;
esac
