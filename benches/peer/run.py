#!/usr/bin/env python3
"""Times this project's `bench_step` and the PyTorch peer (`peer.py`) on the same shapes and
thread count, in one run, alternating, each after its own warm-up; reports median images/s,
their ratio and each side's peak resident memory. Not part of CI.

    python3 benches/peer/run.py                 # Conv6 and ResNet-18 (width 1), 2 threads
    python3 benches/peer/run.py --rounds 5 --threads 2 --models conv6
    python3 benches/peer/run.py --models resnet50 --size 224 --batch 32   # ImageNet on a CPU node
    # a change's cost: another build of bench_step timed in the same rounds, alternating
    python3 benches/peer/run.py --bin /tmp/bench_new --baseline /tmp/bench_old

First use creates benches/peer/.venv and installs torch from PyPI into it (a few GiB).
Prints a Markdown table (also written to benches/peer/results.md).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / "benches" / "peer" / ".venv"


def ensure_torch() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import torch"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "torch", "numpy"], check=True)
    return python


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """images/s from the command's last line, and its peak RSS in MiB (GNU time)."""
    with tempfile.NamedTemporaryFile("r") as t:
        out = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", t.name, *cmd],
            capture_output=True, text=True, env=env, check=True,
        )
        rss_kib = int(t.read().strip().splitlines()[-1])
    m = re.search(r"images_per_s=([0-9.]+)", out.stdout)
    if not m:
        raise SystemExit(f"no images_per_s in output of {cmd}:\n{out.stdout}\n{out.stderr}")
    return float(m.group(1)), rss_kib / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="conv6,resnet18")
    ap.add_argument("--width", default="1")
    ap.add_argument("--batch", default="128")
    ap.add_argument("--size", default="32", help="input side (224: ImageNet, with its stem)")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--steps", default="8")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bin", help="bench_step to time (default: build target/release's)")
    ap.add_argument("--baseline", help="another bench_step, timed in the same rounds")
    a = ap.parse_args()
    python = ensure_torch()
    ours_bin = a.bin or str(ROOT / "target/release/bench_step")
    if not a.bin:
        subprocess.run(["cargo", "build", "--release", "-p", "experiments", "--bin",
                        "bench_step"], cwd=ROOT, check=True)
    env = dict(os.environ, RAYON_NUM_THREADS=a.threads, OMP_NUM_THREADS=a.threads,
               MKL_NUM_THREADS=a.threads)
    common = ["--width", a.width, "--batch", a.batch, "--steps", a.steps,
              "--threads", a.threads, "--size", a.size]
    rows = []
    for model in a.models.split(","):
        ours, peer, base = [], [], []
        for _ in range(a.rounds):
            ours.append(timed([ours_bin, "--model", model, *common], env))
            peer.append(timed([str(python), str(ROOT / "benches/peer/peer.py"), "--model",
                               model, *common], env))
            if a.baseline:
                base.append(timed([a.baseline, "--model", model, *common], env))
        o = statistics.median(x for x, _ in ours)
        p = statistics.median(x for x, _ in peer)
        rows.append((model, o, p, o / p, max(m for _, m in ours), max(m for _, m in peer)))
        print(f"{model}: ours {[round(x, 1) for x, _ in ours]}  torch {[round(x, 1) for x, _ in peer]}",
              file=sys.stderr)
        if base:
            b = statistics.median(x for x, _ in base)
            print(f"{model}: baseline {[round(x, 1) for x, _ in base]}; ours/baseline "
                  f"{o / b:.3f} (cost {100 * (b / o - 1):+.1f} % time a step)", file=sys.stderr)
    torch_version = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    lines = [
        f"Score-mode training step, batch {a.batch}, {a.size}² inputs, width {a.width}, "
        f"{a.threads} threads, "
        f"median of {a.rounds} alternating rounds × {a.steps} steps; torch {torch_version}.",
        "",
        "| model | iterand-rs images/s | PyTorch images/s | ratio | iterand-rs peak RSS MiB | PyTorch peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    for model, o, p, r, mo, mp in rows:
        lines.append(f"| {model} | {o:.1f} | {p:.1f} | {r:.2f} | {mo:.0f} | {mp:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "benches/peer/results.md").write_text(text)


if __name__ == "__main__":
    main()
