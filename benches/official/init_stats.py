# Our initial weights and scores against the official code's (torch's), over many seeds (issue 19).
# Our draws come from a numpy transcription of our Philox streams (checked bit for bit against
# the init.safetensors that `dump_draws` writes for seed 1); torch's from the official Conv6
# built under torch.manual_seed(seed), as the official code builds it. Run from the official
# checkout (it imports models.networks.convs):
#   cd OFFICIAL && python3 MAIN/benches/official/init_stats.py SEEDS [DRAWS/init.safetensors]
import sys, os
import numpy as np, torch, yaml
sys.path.insert(0, os.getcwd())
from models.networks.convs import Conv6

M0, M1, W0, W1, MASK = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57), 0x9E3779B9, 0xBB67AE85, np.uint64(0xFFFFFFFF)

def philox(c, k0, k1):  # Philox4x32-10 on arrays of counters
    c = [np.asarray(x, dtype=np.uint64) for x in c]
    k0, k1 = np.uint64(k0), np.uint64(k1)
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + np.uint64(W0)) & MASK, (k1 + np.uint64(W1)) & MASK
        p0, p1 = M0 * c[0], M1 * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & MASK, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & MASK]
    return c

def fnv(s):  # the layer key: FNV-1a of the layer's path
    h = 0x811C9DC5
    for b in s.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h

def ours(seed, purpose, path, shape):  # purpose 1: weights, 2: scores; round 0
    n, fan = int(np.prod(shape)), int(np.prod(shape[1:]))
    i = np.arange(n, dtype=np.uint64)
    b = philox([i, np.zeros(n, np.uint64), np.full(n, fnv(path), np.uint64), np.full(n, purpose, np.uint64)],
               seed & 0xFFFFFFFF, seed >> 32)
    u = (((b[0] << np.uint64(32)) | b[1]) >> np.uint64(11)).astype(np.float64) / 2.0**53
    return (np.sqrt(6 / fan) * (2 * u - 1)).astype(np.float32)

def ks(a, c):  # two-sample Kolmogorov-Smirnov statistic and its asymptotic p-value
    a, c = np.sort(a), np.sort(c)
    v = np.concatenate([a, c])
    d = np.max(np.abs(np.searchsorted(a, v, 'right') / a.size - np.searchsorted(c, v, 'right') / c.size))
    en = np.sqrt(a.size * c.size / (a.size + c.size))
    lam = (en + 0.12 + 0.11 / en) * d
    return d, min(1.0, max(0.0, 2 * sum((-1) ** (j - 1) * np.exp(-2 * j * j * lam * lam) for j in range(1, 101))))

LAYERS = [('convs.0', (16, 3, 3, 3)), ('convs.1', (16, 16, 3, 3)), ('convs.2', (32, 16, 3, 3)),
          ('convs.3', (32, 32, 3, 3)), ('convs.4', (64, 32, 3, 3)), ('convs.5', (64, 64, 3, 3)),
          ('fcs.0', (64, 1024)), ('fcs.1', (64, 64)), ('fcs.2', (10, 64))]

def main():
    seeds = int(sys.argv[1])
    if len(sys.argv) > 2:
        from safetensors.numpy import load_file
        d = load_file(sys.argv[2])
        for p, sh in LAYERS:
            assert np.array_equal(ours(1, 1, p, sh), d[p + '.weight'].ravel()), p
            assert np.array_equal(ours(1, 2, p, sh), d[p + '.scores'].ravel()), p
        print('the transcription reproduces', sys.argv[2], 'bit for bit')
    cfg = dict(yaml.safe_load(open('config.yaml'))['__default__'])
    cfg.update(conv_sparsity=0.5, linear_sparsity=None, init_mode='kaiming_uniform')
    pooled = {k: ([], []) for k in ('weights', 'scores')}
    sds = {p: ([], []) for p, _ in LAYERS}
    for seed in range(1, seeds + 1):
        torch.manual_seed(seed)
        net = Conv6({'image_size': 32, 'num_channels': 3, 'num_classes': 10}, {'factor': 0.25}, cfg)
        theirs = [m for m in net.modules() if hasattr(m, 'weight_score')]
        for (p, sh), m in zip(LAYERS, theirs):
            bound = np.sqrt(6 / np.prod(sh[1:]))
            for k, purpose, t in (('weights', 1, m.weight), ('scores', 2, m.weight_score)):
                o, th = ours(seed, purpose, p, sh), t.detach().numpy().ravel()
                pooled[k][0].append(o / bound); pooled[k][1].append(th / bound)
                if k == 'scores':
                    sds[p][0].append(o.std()); sds[p][1].append(th.std())
    for k, (o, th) in pooled.items():
        o, th = np.concatenate(o), np.concatenate(th)
        d, pv = ks(o, th)
        print(f'{k} / bound, {seeds} seeds, {o.size} values a side: mean {o.mean():+.5f} / {th.mean():+.5f}, '
              f'sd {o.std():.5f} / {th.std():.5f} (1/sqrt 3 = {3 ** -0.5:.5f}), KS D {d:.5f} p {pv:.2f}')
    for p, (o, th) in sds.items():
        o, th, se = np.array(o), np.array(th), lambda x: x.std(ddof=1) / np.sqrt(len(x))
        print(f'{p:8s} score sd: ours {o.mean():.4f} ± {se(o):.4f}, torch {th.mean():.4f} ± {se(th):.4f}')

main()
