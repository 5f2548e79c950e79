"""The table of issue 37's draw bisection, from the folder bisect_cells.sh wrote (docs/results.md).

For each cell: the last-epoch mean of the test accuracy per seed (the mean of the evaluations at
steps 726, 748, ..., 1056), then over seeds the mean with its standard error, the spread (sd
between seeds) with its standard error (sd / sqrt(2 (n - 1)), normal theory), and the difference
from cell a paired by seed. With scipy: Brown-Forsythe's test of equal spread against cell a.
Only seeds present in every cell asked for are counted, so the cells stay paired.

  python3 bisect_table.py OUT [CELLS]      (CELLS default "a b c d e w")
"""
import os, statistics as st, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from curve_means import points

NAMES = {
    'a': 'official, its own draws',
    'b': 'official, our initial weights and scores',
    'c': 'official, our R coins and fresh values',
    'd': 'official, our training batches',
    'e': 'ours, all of it',
    'w': 'ours, im2col instead of Winograd',
}


def finals(out, cell):
    """{seed: (last-epoch mean, last step)} of the finished runs of a cell."""
    got = {}
    folder = os.path.join(out, cell)
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if not (name.startswith('s') and name.endswith('.log')):
            continue
        seed = int(name[1:-4])
        run = os.path.join(folder, f's{seed}') if cell in 'ew' else os.path.join(folder, name)
        pts = points(run) if os.path.exists(run) else []
        if len(pts) != 16 or pts[-1][1] != 1056:
            continue
        got[seed] = (st.mean(a for _, _, a in pts), pts[-1][2])
    return got


def row(cell, vals, base):
    n = len(vals)
    sd = st.stdev(vals)
    text = (f'| {cell} | {NAMES[cell]} | {n} | {st.mean(vals):.2f} ± {sd / n ** 0.5:.2f} | '
            f'{sd:.2f} ± {sd / (2 * (n - 1)) ** 0.5:.2f} |')
    if base is None:
        return text + ' — | — |'
    diff = [v - b for v, b in zip(vals, base)]
    try:
        from scipy.stats import levene
        p = f'{levene(vals, base, center="median").pvalue:.2f}'
    except ImportError:
        p = 'no scipy'
    return text + f' {st.mean(diff):+.2f} ± {st.stdev(diff) / n ** 0.5:.2f} | {p} |'


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    cells = (sys.argv[2] if len(sys.argv) > 2 else 'a b c d e w').split()
    runs = {c: finals(out, c) for c in cells}
    seeds = sorted(set.intersection(*(set(r) for r in runs.values())))
    if len(seeds) < 2:
        sys.exit(f'{out}: fewer than two seeds finished in every cell of {cells}')
    print(f'seeds {seeds[0]}–{seeds[-1]} ({len(seeds)}): {" ".join(map(str, seeds))}\n')
    for what, k in (('last-epoch mean', 0), ('last step', 1)):
        print(f'{what}:\n')
        print('| cell | draws | seeds | mean ± s.e. | sd between seeds ± s.e. | − a, paired ± s.e. '
              '| Brown–Forsythe p vs a |')
        print('|---|---|---|---|---|---|---|')
        base = [runs['a'][s][k] for s in seeds] if 'a' in runs else None
        for c in cells:
            vals = [runs[c][s][k] for s in seeds]
            print(row(c, vals, None if c == 'a' else base))
        print()
    print('per seed (last-epoch means):\n')
    print('| seed | ' + ' | '.join(cells) + ' |')
    print('|---' * (len(cells) + 1) + '|')
    for s in seeds:
        print(f'| {s} | ' + ' | '.join(f'{runs[c][s][0]:.2f}' for c in cells) + ' |')


if __name__ == '__main__':
    main()
