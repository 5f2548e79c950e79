"""PyTorch peer of `bench_step`: score-mode (edge-popup) training steps, timed the same way.

Written for this project from the paper's description (Ramanujan et al. 2020; Chijiwa et al.
2021), not copied from any implementation: frozen random weights, one score per weight, each
layer keeps its top-(1 - p) scores by magnitude (straight-through gradient), non-affine
BatchNorm with running statistics, SGD with momentum 0.9 and weight decay 5e-4 on the scores.

    python peer.py --model conv6 --width 1 --batch 128 --steps 10 --threads 2
    python peer.py --model resnet18 --device cuda        # on a GPU: peak GPU memory too
    python peer.py --model resnet50 --size 224 --batch 32  # ImageNet-sized, ImageNet stem

Prints `images_per_s=…` as its last line, like bench_step. Not part of CI (needs torch).
"""

import argparse
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class TopK(torch.autograd.Function):
    """0/1 mask keeping the (1 - p) fraction of largest |scores|; identity gradient."""

    @staticmethod
    def forward(ctx, scores, sparsity):
        flat = scores.detach().abs().flatten()
        pruned = int(sparsity * flat.numel())
        if pruned == 0:
            return torch.ones_like(scores)
        threshold = flat.kthvalue(pruned).values
        return (scores.detach().abs() > threshold).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class MaskedConv(nn.Conv2d):
    def __init__(self, cin, cout, k, stride, padding, sparsity):
        super().__init__(cin, cout, k, stride=stride, padding=padding, bias=False)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.weight.requires_grad_(False)
        self.scores = nn.Parameter(torch.empty_like(self.weight))
        nn.init.kaiming_uniform_(self.scores, a=math.sqrt(5))
        self.sparsity = sparsity

    def forward(self, x):
        w = self.weight * TopK.apply(self.scores, self.sparsity)
        return F.conv2d(x, w, None, self.stride, self.padding)


class MaskedLinear(nn.Linear):
    def __init__(self, cin, cout, sparsity):
        super().__init__(cin, cout, bias=False)
        self.weight.requires_grad_(False)
        self.scores = nn.Parameter(torch.empty_like(self.weight))
        nn.init.kaiming_uniform_(self.scores, a=math.sqrt(5))
        self.sparsity = sparsity

    def forward(self, x):
        return F.linear(x, self.weight * TopK.apply(self.scores, self.sparsity))


class Conv6(nn.Module):
    def __init__(self, width, p, cin=3, size=32):
        super().__init__()
        layers, c = [], cin
        for stage in range(3):
            cout = int(64 * (2**stage) * width)
            layers += [MaskedConv(c, cout, 3, 1, 1, p), nn.ReLU(),
                       MaskedConv(cout, cout, 3, 1, 1, p), nn.ReLU(), nn.MaxPool2d(2)]
            c = cout
        self.features = nn.Sequential(*layers)
        hidden = int(256 * width)
        flat = c * (size // 8) ** 2
        self.classifier = nn.Sequential(MaskedLinear(flat, hidden, p), nn.ReLU(),
                                        MaskedLinear(hidden, hidden, p), nn.ReLU(),
                                        MaskedLinear(hidden, 10, p))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def bn(c):
    return nn.BatchNorm2d(c, affine=False)


class Block(nn.Module):
    def __init__(self, cin, cout, stride, p):
        super().__init__()
        self.c1, self.b1 = MaskedConv(cin, cout, 3, stride, 1, p), bn(cout)
        self.c2, self.b2 = MaskedConv(cout, cout, 3, 1, 1, p), bn(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(MaskedConv(cin, cout, 1, stride, 0, p), bn(cout))

    def forward(self, x):
        out = F.relu(self.b1(self.c1(x)))
        out = self.b2(self.c2(out))
        return F.relu(out + (x if self.short is None else self.short(x)))


class ResNet18(nn.Module):
    """CIFAR stem (3×3, stride 1), stem fixed at 64 channels, stages int(64w)…int(512w)."""

    def __init__(self, width, p, cin=3):
        super().__init__()
        self.stem, self.bn = MaskedConv(cin, 64, 3, 1, 1, p), bn(64)
        blocks, c = [], 64
        for stage, stride in enumerate([1, 2, 2, 2]):
            cout = int(64 * (2**stage) * width)
            blocks += [Block(c, cout, stride, p), Block(cout, cout, 1, p)]
            c = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = MaskedLinear(c, 10, p)

    def forward(self, x):
        out = self.blocks(F.relu(self.bn(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


class Bottleneck(nn.Module):
    """1×1, 3×3 (carrying the stride), 1×1 to 4× the planes, as bench_step's ResNet-50."""

    def __init__(self, cin, planes, stride, p):
        super().__init__()
        cout = 4 * planes
        self.c1, self.b1 = MaskedConv(cin, planes, 1, 1, 0, p), bn(planes)
        self.c2, self.b2 = MaskedConv(planes, planes, 3, stride, 1, p), bn(planes)
        self.c3, self.b3 = MaskedConv(planes, cout, 1, 1, 0, p), bn(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(MaskedConv(cin, cout, 1, stride, 0, p), bn(cout))

    def forward(self, x):
        out = F.relu(self.b1(self.c1(x)))
        out = F.relu(self.b2(self.c2(out)))
        out = self.b3(self.c3(out))
        return F.relu(out + (x if self.short is None else self.short(x)))


class ResNet50(nn.Module):
    """ImageNet stem (7×7 stride 2, then 3×3 max-pool stride 2) from 224 pixels, CIFAR stem
    below 64 (as bench_step picks), stages of 3, 4, 6, 3 bottlenecks, 10 classes."""

    def __init__(self, width, p, cin=3, size=224):
        super().__init__()
        k, s = (7, 2) if size >= 224 else (3, 1)
        self.stem, self.bn = MaskedConv(cin, 64, k, s, k // 2, p), bn(64)
        self.pool = size >= 64
        blocks, c = [], 64
        for stage, n in enumerate([3, 4, 6, 3]):
            planes = int(64 * (2**stage) * width)
            for i in range(n):
                blocks.append(Bottleneck(c, planes, 2 if stage > 0 and i == 0 else 1, p))
                c = 4 * planes
        self.blocks = nn.Sequential(*blocks)
        self.fc = MaskedLinear(c, 10, p)

    def forward(self, x):
        out = F.relu(self.bn(self.stem(x)))
        if self.pool:
            out = F.max_pool2d(out, 3, 2, 1)
        out = self.blocks(out)
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="conv6", choices=["conv6", "resnet18", "resnet50"])
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    if a.model == "conv6":
        net = Conv6(a.width, a.sparsity, a.channels, a.size)
    elif a.model == "resnet18":
        net = ResNet18(a.width, a.sparsity, a.channels)
    else:
        net = ResNet50(a.width, a.sparsity, a.channels, a.size)
    net.to(dev).train()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, a.channels, a.size, a.size).to(dev)
    y = (torch.arange(a.batch) % 10).to(dev)
    times = []
    for i in range(a.warmup + a.steps):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        sync()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} model={a.model} "
          f"width={a.width} batch={a.batch} median_step_s={med:.4f} peak_rss_mib={rss_mib:.0f}"
          + (f" device={a.device} peak_gpu_mib={torch.cuda.max_memory_allocated(dev) / 2**20:.0f}"
             if cuda else ""))
    print(f"images_per_s={a.batch / med:.2f}")


if __name__ == "__main__":
    main()
