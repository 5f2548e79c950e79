"""Replay our Conv6 runs in PyTorch with the official code's rules (issue 19).

The official IteRand code (dchiji-ntt/iterand) draws everything from torch's global generator,
so its runs and ours never see the same numbers. This script takes our draws instead, written by
`cargo run -p experiments --example dump_draws` (initial weights and scores, every augmented
batch in order, R's coins and fresh values), and applies the official rules to them in plain
PyTorch: GetSubnet's k = 1 + round(.01 * float(p * 100) * (n - 1)) and `scores >= kthvalue`,
rerandomize_'s `w*m + w*(1-m)*(1-b) + fresh*(1-m)*b`, torch.optim.SGD (momentum, weight decay
on the scores), CustomCosineLR per epoch, R before the step when (it + 1) % K_per == 0.

  step A B DRAWS N ROUND LR   from our checkpoint folder A (after N steps), apply R as round ROUND
                              (0: none) and step N+1 in float64; compare with our folder B
  train DRAWS R EPOCHS K_PER CIFAR_BIN [DATA SEED]
                              train on our draws from the start in float32, as the official code
                              computes; print the test accuracy on CIFAR_BIN/test_batch.bin.
                              DATA chooses where the training batches come from, the rest of the
                              draws (initial weights and scores, R) staying ours:
                                ours        our batches as dumped (the default)
                                torch       the official pipeline: torch's seed-777 split,
                                            torchvision's augmentation, DataLoader order, all from
                                            torch.manual_seed(SEED)
                                torch-split as torch, on our split's 45,000 images
                                ours-aug    our augmented images, in torch's order
                                ours-order  torchvision's augmentation, in our order
With EVAL_EVERY=K in the environment, train also prints the test accuracy every K steps (as
run_official_curve.py and our --eval-every do). Needs torch, numpy and safetensors. docs/results.md (issue 19) has the commands and results.
"""
import glob, math, os, sys
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

P = 0.5  # the Conv6 recipe's sparsity
MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]


def mask(s):
    k = 1 + round(.01 * float(P * 100) * (s.numel() - 1))
    return (s >= s.flatten().kthvalue(k).values).to(s.dtype)


class Conv6:
    """Our layer names; 3x3 convs (padding 1, zero frozen bias) with a 2x2 max-pool after each
    pair, then fully connected layers, ReLU between."""

    def __init__(self, tensors, dtype):
        names = sorted({k.rsplit('.', 1)[0] for k in tensors
                  if k.endswith('.scores') and not k.startswith('optimizer')},
                       key=lambda n: (not n.startswith('convs'), int(n.split('.')[1])))
        self.names = names
        self.w = {n: tensors[f'{n}.weight'].to(dtype).clone() for n in names}
        self.s = {n: tensors[f'{n}.scores'].to(dtype).clone().requires_grad_() for n in names}

    def forward(self, x):
        convs = [n for n in self.names if n.startswith('convs')]
        for i, n in enumerate(convs):
            x = F.relu(F.conv2d(x, self.effective(n), padding=1))
            if i % 2 == 1:
                x = F.max_pool2d(x, 2)
        x = x.flatten(1)
        fcs = [n for n in self.names if n.startswith('fcs')]
        for i, n in enumerate(fcs):
            x = F.linear(x, self.effective(n))
            if i + 1 < len(fcs):
                x = F.relu(x)
        return x

    def effective(self, n):
        s = self.s[n]
        # the straight-through estimator: value w*m, gradient to the scores w * dL/d(w*m)
        return self.w[n] * (mask(s.detach()) + s - s.detach())

    def rerandomize(self, draws, rnd):
        with torch.no_grad():
            for n in self.names:
                m = mask(self.s[n])
                fresh = draws[f'{n}.fresh{rnd}'].reshape(m.shape).to(m.dtype)
                b = draws[f'{n}.coin{rnd}'].reshape(m.shape).to(m.dtype)
                w = self.w[n]
                self.w[n] = w * m + w * (1 - m) * (1 - b) + fresh * (1 - m) * b


def checkpoint(folder):
    return load_file(sorted(glob.glob(f'{folder}/checkpoints/last-*.safetensors'))[-1])


def batches(draws):
    sizes = [tuple(map(int, l.split())) for l in open(f'{draws}/sizes.txt')]
    xs = np.memmap(f'{draws}/x.f32', dtype=np.float32, mode='r')
    ys = np.fromfile(f'{draws}/y.u8', dtype=np.uint8)
    off = 0
    for epoch, b in sizes:
        x = np.array(xs[off * 3072:(off + b) * 3072]).reshape(b, 3, 32, 32)
        yield epoch, torch.from_numpy(x), torch.from_numpy(ys[off:off + b].astype(np.int64))
        off += b


def sgd(net, lr):
    return torch.optim.SGD([net.s[n] for n in net.names], lr=lr, momentum=0.9, weight_decay=1e-4)


def step(a, b, draws, n, rnd, lr):
    ca, cb = checkpoint(a), checkpoint(b)
    net = Conv6(ca, torch.float64)
    opt = sgd(net, lr)
    for name in net.names:
        opt.state[net.s[name]]['momentum_buffer'] = ca[f'optimizer.momentum.{name}.scores'].double()
    if rnd:
        net.rerandomize(load_file(f'{draws}/init.safetensors'), rnd)
    _, x, y = next(b_ for i, b_ in enumerate(batches(draws)) if i == n)
    opt.zero_grad()
    F.cross_entropy(net.forward(x.double()), y).backward()
    opt.step()
    worst = 0.0
    for name in net.names:
        ws, ss = cb[f'{name}.weight'].double(), cb[f'{name}.scores'].double()
        moved = (ss - ca[f'{name}.scores'].double()).abs().max().item()
        off = (ss - net.s[name]).abs().max().item()
        worst = max(worst, off / moved)
        print(f'{name}: weights that differ {int((ws != net.w[name]).sum())}, '
              f'max |score difference| {off:.2e} (the step moved scores up to {moved:.2e})')
    print(f'worst score difference / step: {worst:.1e}')


def test_set(cifar_bin):
    raw = np.fromfile(f'{cifar_bin}/test_batch.bin', dtype=np.uint8).reshape(-1, 3073)
    x = (raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(x), torch.from_numpy(raw[:, 0].astype(np.int64))


def u32(path):
    return np.fromfile(path, dtype='<u4').astype(np.int64)


def torch_batches(draws, cifar_bin, epochs, data, seed):
    """Training batches from the official code's data pipeline, or with one part of ours swapped
    in. The images are the training files' pixels as PIL images, as torchvision's CIFAR10 gives
    them."""
    import torchvision.transforms as T
    from PIL import Image
    torch.manual_seed(seed)
    raw = np.concatenate([np.fromfile(f'{cifar_bin}/data_batch_{b}.bin', dtype=np.uint8)
                          .reshape(-1, 3073) for b in range(1, 6)])
    labels = torch.from_numpy(raw[:, 0].astype(np.int64))
    pixels = raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    ours = u32(f'{draws}/split.u32')
    if data == 'torch':
        g = torch.Generator()
        g.manual_seed(777)
        keep = torch.randperm(len(raw), generator=g)[:len(ours)].numpy()
    else:
        keep = ours
    aug = T.Compose([T.Pad(4), T.RandomResizedCrop((32, 32)), T.RandomHorizontalFlip(), T.ToTensor(),
                     T.Normalize(mean=MEAN.ravel().tolist(), std=STD.ravel().tolist())])
    n = len(keep)
    order = u32(f'{draws}/order.u32').reshape(epochs, n)
    dumped = np.memmap(f'{draws}/x.f32', dtype=np.float32, mode='r').reshape(epochs, n, 3, 32, 32)
    for epoch in range(epochs):
        pos = order[epoch] if data == 'ours-order' else torch.randperm(n).numpy()
        held_at = np.argsort(order[epoch])  # the dumped epoch holds example order[epoch][j] at j
        for c in np.array_split(pos, range(128, n, 128)):
            if data == 'ours-aug':
                x = torch.from_numpy(np.stack([dumped[epoch, j] for j in held_at[c]]))
            else:
                x = torch.stack([aug(Image.fromarray(pixels[keep[i]])) for i in c])
            yield epoch, x, labels[keep[c]]


def print_score_spread(net, epoch):
    """Each layer's score standard deviation: how far training has moved the scores, a far less
    noisy trace of the dynamics than the test accuracy."""
    spread = ' '.join(f'{net.s[n].std().item():.3f}' for n in net.names)
    print(f'score sd after epoch {epoch + 1}: {spread}', flush=True)


def accuracy(net, xt, yt):
    with torch.no_grad():
        right = sum(int((net.forward(xt[i:i + 500]).argmax(1) == yt[i:i + 500]).sum())
                    for i in range(0, len(yt), 500))
    return 100 * right / len(yt)


def train(draws, r, epochs, k_per, cifar_bin, data='ours', seed=0):
    d = load_file(f'{draws}/init.safetensors')
    net = Conv6(d, torch.float32)
    opt = sgd(net, 0.3)
    it = rnd = 0
    source = batches(draws) if data == 'ours' else torch_batches(draws, cifar_bin, epochs, data, seed)
    xt, yt = test_set(cifar_bin)
    every = int(os.environ.get('EVAL_EVERY', '0'))
    last = 0
    for epoch, x, y in source:
        if epoch != last:
            print_score_spread(net, last)
            last = epoch
        for g in opt.param_groups:
            g['lr'] = 0.5 * (1 + math.cos(math.pi * epoch / epochs)) * 0.3
        if (it + 1) % k_per == 0 and r > 0:
            rnd += 1
            net.rerandomize(d, rnd)
        opt.zero_grad()
        F.cross_entropy(net.forward(x), y).backward()
        opt.step()
        it += 1
        if every and it % every == 0:
            print(f'eval epoch {epoch + 1} iteration {it} test {accuracy(net, xt, yt) / 100:.4f}',
                  flush=True)
    print_score_spread(net, last)
    print(f'test accuracy {accuracy(net, xt, yt):.2f} after {it} steps and {rnd} randomizations')


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'step':
        step(args[0], args[1], args[2], int(args[3]), int(args[4]), float(args[5]))
    elif cmd == 'train':
        train(args[0], float(args[1]), int(args[2]), int(args[3]), args[4],
              *(args[5:6] + [int(a) for a in args[6:7]]))
    else:
        sys.exit(__doc__)
