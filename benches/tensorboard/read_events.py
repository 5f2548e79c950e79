"""Read a run folder's TensorBoard events with TensorBoard's own EventAccumulator.

    pip install tensorboard
    python3 benches/tensorboard/read_events.py RUN_FOLDER

Prints every scalar tag with its steps and values, and every histogram tag with its steps,
counts and bucket totals: the cross-check of iterand-rs's event writer (issue 17).
"""
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(run):
    acc = EventAccumulator(run + '/tb', size_guidance={'scalars': 0, 'histograms': 0})
    acc.Reload()
    tags = acc.Tags()
    print('scalars:', len(tags['scalars']), 'histograms:', len(tags['histograms']))
    for tag in tags['scalars']:
        ev = acc.Scalars(tag)
        pts = ', '.join(f'{e.step}:{e.value:.6g}' for e in ev[:4])
        more = f' … ({len(ev)} points, last {ev[-1].step}:{ev[-1].value:.6g})' if len(ev) > 4 else ''
        print(f'  {tag}: {pts}{more}')
    for tag in tags['histograms']:
        ev = acc.Histograms(tag)
        h = ev[-1].histogram_value
        print(f'  {tag}: steps {[e.step for e in ev]}, last: num {h.num:.0f} min {h.min:.4f} '
              f'max {h.max:.4f} buckets {len(h.bucket)} (sum {sum(h.bucket):.0f})')


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
