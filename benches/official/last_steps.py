"""The final test accuracy of a set of runs, as both codes report it (docs/results.md, issue 19).

Each RUN is one of our run folders (its summary.json) or a log of the official code (its last
`Test Accuracy:` line). Prints each run's accuracy, then the mean with its standard error, the
spread between runs and the median: a last step swings by points, so the median is the number
one run cannot move. With `vs` between two sets, also the difference of their means with its
standard error (unpooled: the two codes need not spread alike) and of their medians, and, where
scipy is installed, a rank test (Mann–Whitney) and a test of equal spread (Brown–Forsythe):
the last steps have a long left tail, which a mean weighs heavily and ranks do not.

  python3 last_steps.py RUN...
  python3 last_steps.py OURS_RUN... vs OFFICIAL_RUN...
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


def summary(runs):
    """Prints each run's accuracy and the set's statistics; returns the accuracies."""
    accs = [final_accuracy(run) for run in runs]
    for run, acc in zip(runs, accs):
        print(f'{run}: {acc:.2f}')
    if len(accs) > 1:
        print(f'n {len(accs)}: mean {st.mean(accs):.2f} ± {st.stdev(accs) / len(accs) ** 0.5:.2f} '
              f'(s.e.), sd {st.stdev(accs):.2f}, median {st.median(accs):.2f}')
    return accs


def compare(a, b):
    """Prints how two sets of accuracies differ: means, medians, ranks and spread."""
    se = (st.variance(a) / len(a) + st.variance(b) / len(b)) ** 0.5
    print(f'difference of means {st.mean(a) - st.mean(b):+.2f} ± {se:.2f} (s.e.), '
          f'of medians {st.median(a) - st.median(b):+.2f}')
    try:
        from scipy import stats
    except ImportError:
        print('(no scipy: the rank and spread tests are skipped)')
        return
    mw = stats.mannwhitneyu(a, b, alternative='two-sided')
    bf = stats.levene(a, b, center='median')
    print(f'Mann–Whitney p {mw.pvalue:.3f}; Brown–Forsythe (equal spread) p {bf.pvalue:.3f}')


def sides(args, usage):
    """`RUN... [vs RUN...]` as (first runs, second runs or None); exits with `usage` if malformed."""
    if not args or args.count('vs') > 1 or args[0] == 'vs' or args[-1] == 'vs':
        sys.exit(usage)
    if 'vs' not in args:
        return args, None
    k = args.index('vs')
    if min(k, len(args) - k - 1) < 2:
        sys.exit('each side of `vs` needs at least two runs')
    return args[:k], args[k + 1:]


if __name__ == '__main__':
    first, second = sides(sys.argv[1:], __doc__)
    a = summary(first)
    if second is not None:
        compare(a, summary(second))
