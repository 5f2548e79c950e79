# ../shared/reference/official-comparison/run_official.py (the four patches for today's torch,
# torchvision and pandas), plus each layer's score standard deviation after every epoch. It draws
# nothing, so a run is the same as run_official.py's. Copy it next to the official main.py and
# call it as run_official.py is called (docs/results.md, issue 19).
import os, sys, itertools, runpy, torch, torch._utils, torchvision
torch._utils._accumulate = itertools.accumulate
torchvision.datasets.CIFAR10._check_integrity = lambda self: True
import torchvision.datasets.cifar as _c; _c.check_integrity = lambda *a, **k: True
import pandas as pd; pd.DataFrame.append = lambda self, other: pd.concat([self, other])
_load = torch.load; torch.load = lambda *a, **k: _load(*a, **{**k, "weights_only": False})
sys.path.insert(0, os.getcwd())
import models.supervised_learning as sl
_train = sl.SupervisedLearning.train
def train(self, epoch, total_iters, before_callback=None, after_callback=None):
    out = _train(self, epoch, total_iters, before_callback, after_callback)
    sd = ' '.join(f'{p.std().item():.3f}' for n, p in self.model.named_parameters() if n.endswith('weight_score'))
    print(f'score sd after epoch {epoch + 1}: {sd}', flush=True)
    return out
sl.SupervisedLearning.train = train
sys.argv = ["main.py"] + sys.argv[1:]
runpy.run_path("main.py", run_name="__main__")
