#!/usr/bin/env bash
# The device check of issue 14, for the GPU machine (one H200, no Rust, no network). PREPARED,
# NEVER RUN YET: read it before the first use.
#
# On the CPU machine:
#   benches/gpu/build.sh build                       # target/cuda-carry/{train,bench_step}.xz
#   mkdir -p target/cuda-carry/fm && cp /usr/share/datasets/fashion-mnist/*.gz target/cuda-carry/fm/
# then through the device tool, carrying target/cuda-carry (about 40 MB):
#   benches/gpu/check.sh                             # results under $OUT
#
# It runs, in order: the card and driver; step images/s of ours and PyTorch's peer, alternating,
# for Conv6 x1 and ResNet-18 x1 (CIFAR stem, batch 128), with peak GPU memory; a 1-epoch
# Fashion-MNIST ResNet-18 x0.25 run on the GPU (its CPU twin is the same command with
# --device cpu, run on the CPU machine). Not yet here: the CUDA tests (masks and R bit for bit,
# logits and gradients within 1e-4) and ResNet-50 at 224 pixels.
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=${CARRY:-target/cuda-carry}
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT/bin"
for b in train bench_step; do
    xz -dc "$CARRY/$b.xz" > "$OUT/bin/$b"
    chmod +x "$OUT/bin/$b"
done
# torch's CUDA 13 wheels carry the libraries the executables link (cuBLAS, cuRAND, NVRTC, cudart)
LIB=$(python3 -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))')
export LD_LIBRARY_PATH=$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if ldd "$OUT/bin/train" | grep "not found"; then
    echo "missing libraries (LD_LIBRARY_PATH=$LD_LIBRARY_PATH)" >&2
    exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/card.txt"

step() { # ours then PyTorch's, one model
    echo "== $*" | tee -a "$OUT/steps.txt"
    timeout 120 "$OUT/bin/bench_step" --device cuda "$@" 2>&1 | tail -2 | tee -a "$OUT/steps.txt" || true
    timeout 120 python3 benches/peer/peer.py --device cuda "$@" 2>&1 | tail -2 | tee -a "$OUT/steps.txt" || true
}
step --model conv6 --width 1 --batch 128 --steps 20
step --model resnet18 --width 1 --batch 128 --steps 20

timeout 300 "$OUT/bin/train" --device cuda --dataset fashion-mnist --data "$CARRY/fm" \
    --model resnet18 --width 0.25 --epochs 1 --seed 1 --out "$OUT/fm_gpu" -q 2>&1 | tail -3 \
    | tee "$OUT/fm_gpu.txt" || true
