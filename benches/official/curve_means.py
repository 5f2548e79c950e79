"""The mean test accuracy over a run's last epoch, from its curve (docs/results.md, issue 19).

A short run's last-step test accuracy is one draw from a swing of about a point; the mean of
the last epoch's evaluations is far steadier. Each RUN is one of our run folders written with
`--eval-every K` (metrics.jsonl) or the log of `run_official_curve.py`.

  python3 curve_means.py RUN...
"""
import json, os, re, statistics as st, sys


def points(run):
    """(epoch, iteration, test accuracy %) of every evaluation of a run."""
    if os.path.isdir(run):
        lines = [json.loads(l) for l in open(os.path.join(run, 'metrics.jsonl'))]
        return [(l['epoch'] + 1, l['iteration'], l['test_acc']) for l in lines if l['kind'] == 'eval']
    text = open(run).read()
    return [(int(e), int(i), 100 * float(a))
            for e, i, a in re.findall(r'eval epoch (\d+) iteration (\d+) test ([\d.]+)', text)]


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    means = []
    for run in sys.argv[1:]:
        pts = points(run)
        last = [a for e, _, a in pts if e == pts[-1][0]]
        means.append(st.mean(last))
        print(f'{run}: last step {pts[-1][2]:.2f}, last-epoch mean {means[-1]:.2f} '
              f'(sd {st.stdev(last):.2f} over {len(last)} points)')
    if len(means) > 1:
        print(f'mean {st.mean(means):.2f} ± {st.stdev(means) / len(means) ** 0.5:.2f} (s.e.), '
              f'sd between runs {st.stdev(means):.2f}')
