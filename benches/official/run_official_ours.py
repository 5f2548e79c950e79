# run_official_sd.py, but the official code runs on OUR initial weights and scores and OUR R draws
# (coins and fresh values) from DRAWS/init.safetensors, written by
# `cargo run -p experiments --example dump_draws` for the same seed, K_per and r. Its data
# pipeline, optimizer, schedule, step and test stay the official code's own. R's formula is
# rerandomize_'s, restated with our draws in place of torch.bernoulli and init_param_.
# DRAWS=folder python run_official_ours.py train config.yaml EXPERIMENT ... (docs/results.md, issue 19)
# OURS=init takes only our initial weights and scores (R draws torch's, as the official code
# does); OURS=r only our R draws; the default, both.
import os, sys, runpy
sys.path.insert(0, os.getcwd())
here = os.path.dirname(os.path.abspath(__file__))
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


def rerandomize(self, mode, la, mu):
    assert mode == 'bernoulli'
    self.rounds += 1
    with torch.no_grad():
        for m in sparse(self):
            mask = GetSubnet.apply(m.weight_score, m.sparsity * m.rerand_rate,
                                   m.weight_zeros, m.weight_ones)
            b = draws[f'{m.ours}.coin{self.rounds}'].reshape(mask.shape)
            rnd = draws[f'{m.ours}.fresh{self.rounds}'].reshape(mask.shape)
            w = m.weight.data
            m.weight.data = w * mask + w * (1 - mask) * (1 - b) + rnd * (1 - mask) * b
if 'r' in parts:
    convs.Conv6.rerandomize = rerandomize

sys.argv = ["main.py"] + sys.argv[1:]
runpy.run_path("main.py", run_name="__main__")
