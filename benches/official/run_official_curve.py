# run_official_sd.py, plus the test accuracy every EVAL_EVERY optimizer steps (default 22), the
# official code's counterpart of our `--eval-every`; EVAL_AT=1034,1055 evaluates at those steps
# only (our `--eval-at 1034,1055`). The evaluation saves and restores torch's
# generator, so the run draws exactly what run_official.py's would and ends on the same model.
# Copy it (with run_official_sd.py and run_official_ours.py) next to the official main.py and call
# it as run_official.py is called; DRAWS=folder (and OURS) as for run_official_ours.py runs the
# official code on our draws (docs/results.md, issue 19).
import os, sys, runpy
sys.path.insert(0, os.getcwd())
here = os.path.dirname(os.path.abspath(__file__))
import torch
# With DRAWS set, the official code runs on our draws (run_official_ours.py, which includes
# run_official_sd.py); otherwise on its own (run_official_sd.py).
wrapper = 'run_official_ours.py' if os.environ.get('DRAWS') else 'run_official_sd.py'
exec(open(os.path.join(here, wrapper)).read().rsplit('sys.argv = ', 1)[0])
every = int(os.environ.get('EVAL_EVERY', '22'))
at = {int(x) for x in os.environ.get('EVAL_AT', '').split(',') if x}
_train_sd = sl.SupervisedLearning.train
_test = {}


def test_accuracy(learner):
    if 'x' not in _test:
        pairs = [learner.test_dataset[i] for i in range(len(learner.test_dataset))]
        _test['x'] = torch.stack([p[0] for p in pairs])
        _test['y'] = torch.tensor([p[1] for p in pairs])
    state = torch.get_rng_state()
    right = 0
    with torch.no_grad():
        for i in range(0, len(_test['y']), 1000):
            out = learner.model(_test['x'][i:i + 1000])
            right += int((out.argmax(1) == _test['y'][i:i + 1000]).sum())
    torch.set_rng_state(state)
    return right / len(_test['y'])


def train_curve(self, epoch, total_iters, before_callback=None, after_callback=None):
    def after(model, ep, it, per_epoch):
        if after_callback is not None:
            after_callback(model, ep, it, per_epoch)
        if (it in at) if at else (it % every == 0):
            print(f'eval epoch {ep + 1} iteration {it} test {test_accuracy(self):.4f}', flush=True)
    return _train_sd(self, epoch, total_iters, before_callback, after)
sl.SupervisedLearning.train = train_curve
sys.argv = ["main.py"] + sys.argv[1:]
runpy.run_path("main.py", run_name="__main__")
