//! The pass criteria of experiments E0–E8 (theory.md §5), at CI sizes with fixed seeds and the
//! margins given there. Each test fails if the measured scaling leaves its band.

use theory_checks::experiments::*;

const SEED: u64 = 2021;

fn log2r1(r: usize) -> f64 {
    ((r + 1) as f64).log2()
}

/// E0. The miss rate matches the exact (1 − ℓ/2)^{nR} (inside its 99.9 % Clopper–Pearson
/// interval) and does not exceed δ. At α = ±1 the lemma is tight (the exact rate is just below
/// δ), so "does not exceed" is tested as: the exact rate is ≤ δ and the interval's lower end is
/// ≤ δ; an upper end ≤ δ there would need millions of trials.
#[test]
fn e0_hitting_lemma() {
    let rows = e0_hitting(SEED, 20_000, &[1]);
    assert_eq!(rows.len(), 16);
    for r in &rows {
        assert!(r.exact <= r.delta, "{r:?}");
        assert!(
            r.ci.0 <= r.exact && r.exact <= r.ci.1,
            "exact outside the interval: {r:?}"
        );
        assert!(r.ci.0 <= r.delta, "{r:?}");
    }
    // with R draws per position the miss rate is (1 − ℓ/2)^{nR}
    for r in e0_hitting(SEED + 1, 4_000, &[2])
        .iter()
        .filter(|r| r.eps == 0.1)
    {
        assert!(r.ci.0 <= r.exact && r.exact <= r.ci.1, "{r:?}");
    }
}

/// E1 and E2. Coverage thresholds: the counting bound holds for every covered trial, more
/// candidates never uncover a trial, n50 grows like log2(1/ε)/log2(R+1).
#[test]
fn e1_e2_coverage_scaling() {
    let rs = [1, 2, 4, 8];
    let epss = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3];
    let rows = e2_coverage(SEED, &rs, &epss, 200, 32);
    let row = |r: usize, eps: f64| rows.iter().find(|x| x.r == r && x.eps == eps).unwrap();
    for x in &rows {
        // P1, hard: no trial covers with fewer positions than the counting bound
        for t in x.thresholds.iter().flatten() {
            assert!(
                *t >= x.lower_bound,
                "R {} ε {}: covered at n = {t} < {}",
                x.r,
                x.eps,
                x.lower_bound
            );
        }
        assert!(
            x.thresholds.iter().all(Option::is_some),
            "R {} ε {}: n_max too small",
            x.r,
            x.eps
        );
    }
    // nesting, hard: a trial covered with R candidates is covered by the same n with more
    for w in rs.windows(2) {
        for &eps in &epss {
            let (a, b) = (row(w[0], eps), row(w[1], eps));
            for (ta, tb) in a.thresholds.iter().zip(&b.thresholds) {
                assert!(tb.unwrap() <= ta.unwrap());
            }
        }
    }
    // E1 (R = 1): Lueker's scaling
    let (a1, _) = coverage_slope(&rows, 1).unwrap();
    assert!((0.95..=1.45).contains(&a1), "a_1 = {a1}");
    for &eps in &epss {
        let n50 = row(1, eps).n50.unwrap();
        let l = (1.0 / eps).log2();
        assert!(n50 >= l + 1.0 && n50 <= 1.5 * l + 5.0, "ε {eps}: n50 {n50}");
        assert!(row(1, eps).p(row(1, eps).lower_bound) < 0.05);
    }
    assert!(row(1, 1e-2).n90_int.unwrap() <= 17);
    // E2: a_R·log2(R+1) is one constant
    let products: Vec<f64> = rs
        .iter()
        .map(|&r| coverage_slope(&rows, r).unwrap().0 * log2r1(r))
        .collect();
    for (r, p) in rs.iter().zip(&products) {
        assert!((0.85..=1.45).contains(p), "R {r}: a_R·log2(R+1) = {p}");
    }
    let (lo, hi) = products
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &p| (a.min(p), b.max(p)));
    assert!(hi / lo <= 1.25, "products {products:?}");
}

/// E3. The oracle model's E[log2 err] falls by log2(R+1) per position (±12 %) and matches P2
/// within a bit at the largest n.
#[test]
fn e3_single_target_rate() {
    for (r, ns) in [
        (1usize, vec![12, 16, 20, 24, 28]),
        (2, vec![6, 8, 10, 12, 14, 16]),
        (4, vec![4, 6, 8, 10, 12]),
        (8, vec![3, 4, 5, 6, 7, 8]),
    ] {
        let pts = e3_single_target(SEED, r, &ns, 200);
        let slope = upper_half_slope(&pts);
        let want = -log2r1(r);
        assert!(
            (slope - want).abs() <= 0.12 * want.abs(),
            "R {r}: slope {slope} vs {want}"
        );
        let last = pts.last().unwrap();
        assert!(
            (last.mean_log2 - p2(last.n, r)).abs() <= 1.0,
            "R {r}: {} vs P2 {}",
            last.mean_log2,
            p2(last.n, r)
        );
    }
}

/// E4. The online model (the practical algorithm) keeps a slope of about −1 per position for
/// every R and gains only about log2 R bits; the oracle model does better for R ≥ 2.
#[test]
fn e4_online_gains_additively() {
    let ns = [12, 16, 20];
    let base = e4_online(SEED, 1, &ns, 100);
    for rounds in [2usize, 4, 8] {
        let pts = e4_online(SEED, rounds, &ns, 100);
        let slope = upper_half_slope(&pts);
        assert!(
            (-1.2..=-0.8).contains(&slope),
            "rounds {rounds}: slope {slope}"
        );
        let gain = base.last().unwrap().mean_log2 - pts.last().unwrap().mean_log2;
        let want = (rounds as f64).log2();
        assert!(
            (gain - want).abs() <= 1.0,
            "rounds {rounds}: gain {gain} vs {want}"
        );
        let oracle = e3_single_target(SEED, rounds, &[8], 100);
        let online8 = e4_online(SEED, rounds, &[8], 100);
        assert!(
            oracle[0].mean_log2 < online8[0].mean_log2,
            "rounds {rounds}"
        );
    }
}

/// E5. With the same number of random values, hitting's error is 1/(N+1) (Malach's regime),
/// exact subset sum is exponentially better, and greedy sits between.
#[test]
fn e5_hitting_vs_subset_sum() {
    let mut rows = e5_budget(SEED, &[6, 8, 12, 16], &[1], 400);
    rows.extend(e5_budget(SEED, &[6, 8, 10], &[4], 400));
    for r in &rows {
        if r.budget >= 40 {
            let want = 1.0 / (r.budget as f64 + 1.0);
            assert!((r.hitting / want - 1.0).abs() <= 0.10, "{r:?}");
        }
        assert!(r.subset < r.hitting, "{r:?}");
        assert!(r.subset <= r.greedy && r.greedy <= r.hitting, "{r:?}");
    }
}

/// E6. Pensia's neuron gadget: past the knee the sup error falls by 0.5·log2(R+1) bits per
/// hidden unit (±20 %).
#[test]
fn e6_gadget_rate() {
    for (r, ms) in [
        (1usize, vec![32, 36, 40, 44, 48]),
        (2, vec![16, 20, 24, 28]),
        (4, vec![12, 14, 16, 18, 20]),
    ] {
        let pts = e6_gadget(SEED, r, &ms, 150);
        let xs: Vec<f64> = pts.iter().map(|p| p.n as f64).collect();
        let ys: Vec<f64> = pts.iter().map(|p| p.mean_log2).collect();
        let slope = theory_checks::stats::linfit(&xs, &ys).0;
        let want = -0.5 * log2r1(r);
        assert!(
            (slope - want).abs() <= 0.2 * want.abs(),
            "R {r}: slope {slope} vs {want}"
        );
    }
}

/// E7. The two-layer network: the deterministic bound holds, the error falls by log2(R+1) per
/// unit (±25 %), the width needed for 2^-10 shrinks like 1/log2(R+1) (±25 %), and the constant
/// Ĉ_R = n90(ε)·log2(R+1)/log2(d²l/ε) does not depend on R (max/min ≤ 1.6).
#[test]
fn e7_two_layer_network() {
    let grids = [
        (1usize, vec![12, 13, 14, 15, 16, 17, 18, 19, 20, 22]),
        (2, vec![6, 7, 8, 9, 10, 11, 12, 13, 14]),
        (4, vec![4, 5, 6, 7, 8, 9, 10]),
    ];
    let mut widths = vec![];
    let mut c_hat = vec![vec![]; 2];
    for (r, ns) in &grids {
        let pts = e7_network(SEED, 3, *r, ns, 30, 200);
        for p in &pts {
            assert!(
                p.worst_bound_ratio <= 1.0 + 1e-12,
                "R {r} n {}: error above the bound",
                p.n
            );
        }
        let slope = upper_half_slope(
            &pts.iter()
                .map(|p| ErrorPoint {
                    n: p.n,
                    mean_log2: p.mean_log2,
                    median: 0.0,
                })
                .collect::<Vec<_>>(),
        );
        let want = -log2r1(*r);
        assert!(
            (slope - want).abs() <= 0.25 * want.abs(),
            "R {r}: slope {slope} vs {want}"
        );
        widths.push(
            width_to_reach(&pts, -10.0).unwrap_or_else(|| panic!("R {r} never reaches 2^-10")),
        );
        for (i, eps) in [1e-2, 1e-3].into_iter().enumerate() {
            let n = n90(&pts, eps).unwrap_or_else(|| panic!("R {r}: no n90 at {eps}"));
            c_hat[i].push(n as f64 * log2r1(*r) / (9.0 * 2.0 / eps).log2());
        }
    }
    for (i, r) in [2usize, 4].iter().enumerate() {
        let ratio = widths[i + 1] / widths[0];
        let want = 1.0 / log2r1(*r);
        assert!(
            (ratio / want - 1.0).abs() <= 0.25,
            "R {r}: width ratio {ratio} vs {want}"
        );
    }
    for c in &c_hat {
        let (lo, hi) = c
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(hi / lo <= 1.6, "Ĉ_R = {c:?}");
    }
}

/// E8. With the trainer's own schedule and coin stream, an always-pruned weight is re-drawn
/// Binomial(⌊T/K_per⌋, r) times: the paper's CIFAR-10 setting gives R_eff ≈ 12.7.
#[test]
fn e8_schedule_reaches_binomial_r_eff() {
    let row = e8_schedule(SEED, 35_200, 300, 0.1, 20_000);
    assert_eq!(row.fires, 117);
    let (m, v) = (117.0 * 0.1, 117.0 * 0.1 * 0.9);
    let se = (v / row.weights as f64).sqrt();
    assert!((row.mean - m).abs() < 4.0 * se, "{row:?}");
    // sample variance of 20k draws: relative sd ≈ sqrt(2/n) ≈ 1 %
    assert!((row.var / v - 1.0).abs() < 0.05, "{row:?}");
    assert!((row.r_eff - 12.7).abs() < 0.1);
}
