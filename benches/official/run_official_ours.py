# run_official_sd.py, but the official code runs on OUR draws of one or more kinds, read from
# DRAWS, which `cargo run -p experiments --example dump_draws` writes for the same seed, K_per
# and r. OURS names the kinds (comma-separated; default init,r):
# - init: our initial weights and scores. The official initialisation still runs first and is
#   overwritten, so every later torch draw is the official run's own.
# - r: our R draws (coins and fresh values, DRAWS/init.safetensors). R's formula is
#   rerandomize_'s, restated with our draws in place of torch.bernoulli and init_param_. The
#   official rerandomize still runs first and its result is discarded, so torch's generator
#   draws what the official run's does and the data draws stay that run's own (before session
#   35 they did not: torch's R draws were skipped, and the data draws after the first round
#   differed from the official run's).
# - data: our training batches (split, order, crop boxes and flips, DRAWS/x.f32 and y.u8) in
#   place of the official loader's, batch for batch. The official loader still runs and its
#   batches are discarded, so torch's generator again draws what the official run's does.
# Everything else (step, optimizer, schedule, test) stays the official code's.
# Needs replay.py beside it (copy it into the official checkout too).
# DRAWS=folder [OURS=init|r|data,...] python run_official_ours.py train config.yaml EXPERIMENT ...
# (docs/results.md, issues 19 and 37)
import os, sys, runpy
sys.path.insert(0, os.getcwd())
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import replay  # its batches(): our training batches from DRAWS, in order
import torch
from safetensors.torch import load_file
exec(open(os.path.join(here, 'run_official_sd.py')).read().split('sys.argv = ')[0])
import models.networks.convs as convs
from models.networks.sparse_modules import SparseConv2d, GetSubnet

draws = load_file(os.path.join(os.environ['DRAWS'], 'init.safetensors'))
parts = os.environ.get('OURS', 'init,r').split(',')
ours = sorted({k.rsplit('.', 1)[0] for k in draws if k.endswith('.scores')},
              key=lambda n: (not n.startswith('convs'), int(n.split('.')[1])))


def sparse(model):
    return [m for m in model.modules() if type(m) is SparseConv2d]


_init = convs.Conv6.__init__
def init(self, *a, **k):
    _init(self, *a, **k)
    self.rounds = 0
    for m, n in zip(sparse(self), ours, strict=True):
        m.ours = n
        if 'init' not in parts:
            continue
        m.weight.data = draws[f'{n}.weight'].reshape(m.weight.shape).clone()
        m.weight_score.data = draws[f'{n}.scores'].reshape(m.weight.shape).clone()
convs.Conv6.__init__ = init


_rerandomize = convs.Conv6.rerandomize
def rerandomize(self, mode, la, mu):
    assert mode == 'bernoulli'
    self.rounds += 1
    before = [m.weight.data.clone() for m in sparse(self)]
    _rerandomize(self, mode, la, mu)  # torch's draws, as in the official run; result discarded
    with torch.no_grad():
        for m, w in zip(sparse(self), before):
            mask = GetSubnet.apply(m.weight_score, m.sparsity * m.rerand_rate,
                                   m.weight_zeros, m.weight_ones)
            b = draws[f'{m.ours}.coin{self.rounds}'].reshape(mask.shape)
            rnd = draws[f'{m.ours}.fresh{self.rounds}'].reshape(mask.shape)
            m.weight.data = w * mask + w * (1 - mask) * (1 - b) + rnd * (1 - mask) * b
if 'r' in parts:
    convs.Conv6.rerandomize = rerandomize


_train_set = []
_learner_init = sl.SupervisedLearning.__init__
def learner_init(self, *a, **k):
    _learner_init(self, *a, **k)
    _train_set.append(self.train_dataset)


class OurLoader:
    """The official DataLoader, iterated as the official code does (so torch draws the same),
    with each training batch replaced by ours of the same size."""
    _ours = None

    def __init__(self, dataset, **kw):
        self.inner = _DataLoader(dataset, **kw)
        self.swap = any(dataset is t for t in _train_set)

    def __len__(self):
        return len(self.inner)

    def __iter__(self):
        if OurLoader._ours is None:
            OurLoader._ours = replay.batches(os.environ['DRAWS'])
        for x, y in self.inner:
            if not self.swap:
                yield x, y
                continue
            _, xo, yo = next(OurLoader._ours)
            assert xo.shape == x.shape, (xo.shape, x.shape)
            yield xo, yo
if 'data' in parts:
    _DataLoader = sl.DataLoader
    sl.SupervisedLearning.__init__ = learner_init
    sl.DataLoader = OurLoader

sys.argv = ["main.py"] + sys.argv[1:]
runpy.run_path("main.py", run_name="__main__")
