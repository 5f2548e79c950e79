"""The final test accuracy of a set of runs, as both codes report it (docs/results.md, issue 19).

Each RUN is one of our run folders (its summary.json) or a log of the official code (its last
`Test Accuracy:` line). Prints each run's accuracy, then the mean with its standard error, the
spread between runs and the median: a last step swings by points, so the median is the number
one run cannot move.

  python3 last_steps.py RUN...
"""
import json, os, re, statistics as st, sys


def final_accuracy(run):
    """The test accuracy (%) a run reported at its end."""
    if os.path.isdir(run):
        return json.load(open(os.path.join(run, 'summary.json')))['test_acc']
    found = re.findall(r'Test Accuracy: ([\d.]+)', open(run).read())
    if not found:
        sys.exit(f'{run}: no "Test Accuracy:" line (did the run finish?)')
    return round(100 * float(found[-1]), 2)


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    accs = [final_accuracy(run) for run in sys.argv[1:]]
    for run, acc in zip(sys.argv[1:], accs):
        print(f'{run}: {acc:.2f}')
    if len(accs) > 1:
        print(f'n {len(accs)}: mean {st.mean(accs):.2f} ± {st.stdev(accs) / len(accs) ** 0.5:.2f} '
              f'(s.e.), sd {st.stdev(accs):.2f}, median {st.median(accs):.2f}')
