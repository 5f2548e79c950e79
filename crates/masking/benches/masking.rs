//! Threshold selection (the per-layer k-th smallest score) at 1M and 25M scores, against a
//! full sort for scale.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use iterand_masking::threshold::{threshold, Ranking};
use iterand_randomizer::{draw, InitMode, Purpose, Stream};

fn bench_threshold(c: &mut Criterion) {
    let mut g = c.benchmark_group("threshold");
    g.sample_size(10);
    for n in [1_000_000usize, 25_000_000] {
        let scores = draw(
            InitMode::KaimingUniform,
            576,
            &Stream::new(1, Purpose::Score, 0, 0),
            n,
        )
        .unwrap();
        g.bench_with_input(BenchmarkId::new("select_nth", n), &scores, |b, s| {
            b.iter(|| threshold(s.clone(), 0.5, Ranking::Signed))
        });
        g.bench_with_input(BenchmarkId::new("clone_only", n), &scores, |b, s| {
            b.iter(|| s.clone())
        });
    }
    g.finish();
}

criterion_group!(benches, bench_threshold);
criterion_main!(benches);
