"""The test accuracy at steps 1,034 and 1,055 and at the end of a 3-epoch run (docs/results.md,
issue 19), and how it moves over the last 22 steps and over the last step alone.

A run's last step is one draw from a swing of points; these two earlier points say whether the
end of the run differs between two sets of runs on average (every run moves a little) or only in
its tail (a few runs fall a lot). Each RUN is one of our run folders written with
`--eval-at 1034,1055` (metrics.jsonl and summary.json) or the log of `run_official_curve.py`
with `EVAL_AT=1034,1055`.

  python3 late_steps.py RUN... [vs RUN...]
"""
import os, statistics as st, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from curve_means import points  # noqa: E402
from last_steps import compare, final_accuracy, sides  # noqa: E402

STEPS = (1034, 1055)


def late(run):
    """(accuracy at 1,034, at 1,055, at the end) of one run, in %."""
    at = {i: a for _, i, a in points(run)}
    missing = [s for s in STEPS if s not in at]
    if missing:
        sys.exit(f'{run}: no evaluation at step {missing[0]}')
    return at[STEPS[0]], at[STEPS[1]], final_accuracy(run)


def describe(name, xs):
    print(f'  {name}: mean {st.mean(xs):+.2f} ± {st.stdev(xs) / len(xs) ** 0.5:.2f}, '
          f'median {st.median(xs):+.2f}, sd {st.stdev(xs):.2f}, min {min(xs):+.2f}')


def summary(runs):
    """Prints each run's three points and the set's statistics; returns the columns."""
    rows = [late(run) for run in runs]
    for run, (a, b, c) in zip(runs, rows):
        print(f'{run}: {a:.2f} {b:.2f} {c:.2f}')
    cols = {
        'at 1034': [r[0] for r in rows],
        'at 1055': [r[1] for r in rows],
        'at the end': [r[2] for r in rows],
        'last 22 steps': [r[2] - r[0] for r in rows],
        'last step': [r[2] - r[1] for r in rows],
    }
    if len(rows) > 1:
        print(f'n {len(rows)}')
        for name, xs in cols.items():
            describe(name, xs)
    return cols


if __name__ == '__main__':
    first, second = sides(sys.argv[1:], __doc__)
    a = summary(first)
    if second is not None:
        b = summary(second)
        for name in a:
            print(f'{name}:')
            compare(a[name], b[name])
