#!/usr/bin/env python3
"""Loads a ticket's dense export (`ticket dense model.ticket -o model.safetensors`) into a
plain PyTorch model of the same architecture and evaluates it on the same test set (issue 15's
interop check). Not part of CI.

    python3 benches/peer/ticket_eval.py model.safetensors [--data DIR]

The JSON file beside the export names the model, width, dataset and input shape. Supported:
the FC networks (fc1 … fcN, ReLU between) on Fashion-MNIST or MNIST (IDX files, Debian's by
default), the Conv networks (convs.* with a max-pool after every second, then fcs.*) and the
ResNets (either stem, basic or bottleneck blocks) on a CIFAR-10 binary folder. Inputs are normalised as the Rust loader does: grey sets with the set's
mean and standard deviation (crates/data/src/idx.rs, `Kind::stats`), CIFAR-10 with the ImageNet
statistics (crates/data/src/dataset.rs, `Normalization::imagenet`). Prints one JSON line with
the test accuracy, which should equal `ticket eval`'s to within 0.1 points.
"""

import argparse
import gzip
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

# The grey sets' statistics, as crates/data/src/idx.rs states them.
GREY_STATS = {"fashion-mnist": (0.2860, 0.3530), "mnist": (0.1307, 0.3081)}
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
DEFAULT_DIRS = {"fashion-mnist": "/usr/share/datasets/fashion-mnist", "mnist": "data/mnist"}


def idx_test(folder: Path):
    def read(name, offset):
        p = folder / name
        raw = gzip.open(p).read() if p.suffix == ".gz" else p.read_bytes()
        return np.frombuffer(raw, np.uint8, offset=offset)

    def find(stem):
        for n in (stem + ".gz", stem):
            if (folder / n).exists():
                return n
        sys.exit(f"{folder}: no {stem}(.gz)")

    x = read(find("t10k-images-idx3-ubyte"), 16).reshape(-1, 1, 28, 28)
    y = read(find("t10k-labels-idx1-ubyte"), 8)
    return x.astype(np.float32) / 255.0, y


def cifar_test(folder: Path):
    raw = np.fromfile(folder / "test_batch.bin", np.uint8).reshape(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, raw[:, 0]


def fc_forward(sd, x):
    names = sorted({k.split(".")[0] for k in sd if re.fullmatch(r"fc\d+\.weight", k)},
                   key=lambda n: int(n[2:]))
    h = x.flatten(1)
    for i, n in enumerate(names):
        h = F.linear(h, sd[f"{n}.weight"], sd.get(f"{n}.bias"))
        if i + 1 < len(names):
            h = F.relu(h)
    return h


def conv_forward(sd, x):
    convs = sorted({int(k.split(".")[1]) for k in sd if k.startswith("convs.")})
    fcs = sorted({int(k.split(".")[1]) for k in sd if k.startswith("fcs.")})
    h = x
    for j, i in enumerate(convs):
        h = F.relu(F.conv2d(h, sd[f"convs.{i}.weight"], sd.get(f"convs.{i}.bias"), padding=1))
        if j % 2 == 1:
            h = F.max_pool2d(h, 2)
    h = h.flatten(1)
    for j, i in enumerate(fcs):
        w = sd[f"fcs.{i}.weight"]
        h = F.linear(h, w.reshape(w.shape[0], -1), sd.get(f"fcs.{i}.bias"))
        if j + 1 < len(fcs):
            h = F.relu(h)
    return h


def bn(sd, name, h):
    return F.batch_norm(h, sd[f"{name}.running_mean"], sd[f"{name}.running_var"],
                        sd.get(f"{name}.weight"), sd.get(f"{name}.bias"), False, 0.0, 1e-5)


def conv_bn(sd, conv, norm, h, stride):
    w = sd[f"{conv}.weight"]
    return bn(sd, norm, F.conv2d(h, w, None, stride, w.shape[-1] // 2))


def resnet_forward(sd, x):
    """crates/models/src/resnet.rs: the stem (CIFAR 3x3, or ImageNet 7x7/2 and a 3x3/2 max-pool),
    basic or bottleneck blocks `layerS.I` (the first of stages 2-4 strided), average pool, `linear`."""
    imagenet_stem = sd["conv1.weight"].shape[-1] == 7
    h = F.relu(conv_bn(sd, "conv1", "bn1", x, 2 if imagenet_stem else 1))
    if imagenet_stem:
        h = F.max_pool2d(h, 3, 2, 1)
    blocks = sorted({tuple(map(int, re.match(r"layer(\d+)\.(\d+)\.", k).groups()))
                     for k in sd if re.match(r"layer\d+\.\d+\.", k)})
    for s, i in blocks:
        p = f"layer{s}.{i}"
        stride = 2 if s > 1 and i == 0 else 1
        bottleneck = f"{p}.conv3.weight" in sd
        out = h
        convs = [1, 2, 3] if bottleneck else [1, 2]
        for j in convs:
            st = stride if (j == 2 if bottleneck else j == 1) else 1
            out = conv_bn(sd, f"{p}.conv{j}", f"{p}.bn{j}", out, st)
            if j != convs[-1]:
                out = F.relu(out)
        skip = conv_bn(sd, f"{p}.shortcut.0", f"{p}.shortcut.1", h, stride) \
            if f"{p}.shortcut.0.weight" in sd else h
        h = F.relu(out + skip)
    return F.linear(h.mean((2, 3)), sd["linear.weight"], sd.get("linear.bias"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dense", type=Path)
    ap.add_argument("--data", type=Path)
    a = ap.parse_args()
    meta = json.loads(a.dense.with_suffix(".json").read_text())
    sd = load_file(str(a.dense))
    ds, model = meta["dataset"], meta["model"]
    if ds in GREY_STATS:
        x, y = idx_test(a.data or Path(DEFAULT_DIRS[ds]))
        m, s = GREY_STATS[ds]
        x = (x - m) / s
    elif ds == "cifar10":
        x, y = cifar_test(a.data or Path("data/cifar-10-batches-bin"))
        m, s = (np.array(v, np.float32).reshape(1, 3, 1, 1) for v in IMAGENET)
        x = (x - m) / s
    else:
        sys.exit(f"dataset {ds}: not supported by this script")
    forward = {"fc": fc_forward}.get(model, conv_forward if model.startswith("conv") else None)
    if model.startswith("resnet"):
        forward = resnet_forward
    if forward is None:
        sys.exit(f"model {model}: not supported by this script")
    right = 0
    with torch.no_grad():
        for i in range(0, len(y), 500):
            logits = forward(sd, torch.from_numpy(np.ascontiguousarray(x[i:i + 500])))
            right += int((logits.argmax(1).numpy() == y[i:i + 500]).sum())
    print(json.dumps({"dense": str(a.dense), "model": model, "dataset": ds,
                      "test_acc": 100.0 * right / len(y), "test_images": int(len(y))}))


if __name__ == "__main__":
    main()
