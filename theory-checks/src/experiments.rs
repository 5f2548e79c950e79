//! Experiments E0–E8 of `shared/reference/theory.md` §5, as functions that return their tables.
//! The tests call them at CI sizes and check the pass criteria; the `theory` binary calls them
//! at figure sizes and plots them. Each experiment draws from its own stream
//! `(seed, Theory, experiment id, trial)`.

use iterand_randomizer::{Purpose, RerandSchedule, RerandUnit, Stream};
use rayon::prelude::*;

use crate::draws::{truncate, Draws};
use crate::gadget::Gadget;
use crate::network::TwoLayer;
use crate::online::online;
use crate::stats::{clopper_pearson, integer_quantile, interpolated_quantile, linfit, mean};
use crate::subset::{best, coverage, greedy, hitting};

const E0: u32 = 0;
const E1: u32 = 1;
const E3: u32 = 3;
const E4: u32 = 4;
const E5: u32 = 5;
const E6: u32 = 6;
const E7: u32 = 7;

// ---------------------------------------------------------------------------------------------
// E0: the hitting lemma

/// One (α, ε, δ, R) cell of E0.
#[derive(Clone, Debug)]
pub struct HittingRow {
    pub alpha: f64,
    pub eps: f64,
    pub delta: f64,
    pub r: usize,
    /// ⌈(2/ε)·ln(1/δ)⌉ positions, each drawn R times.
    pub n: usize,
    pub trials: usize,
    pub misses: usize,
    /// (1 − ℓ/2)^{nR} with ℓ = |[α−ε, α+ε] ∩ [−1, 1]|.
    pub exact: f64,
    /// Clopper–Pearson 99.9 % interval of the miss rate.
    pub ci: (f64, f64),
}

/// Length of [α − ε, α + ε] ∩ [−1, 1].
pub fn window(alpha: f64, eps: f64) -> f64 {
    ((alpha + eps).min(1.0) - (alpha - eps).max(-1.0)).max(0.0)
}

pub fn e0_hitting(seed: u64, trials: usize, rs: &[usize]) -> Vec<HittingRow> {
    let mut rows = vec![];
    let mut cell = 0u32;
    for &eps in &[0.1, 0.01] {
        for &delta in &[0.1, 0.01] {
            for &alpha in &[0.0, 0.5, 1.0 - eps / 2.0, 1.0] {
                for &r in rs {
                    let n = ((2.0 / eps) * (1.0f64 / delta).ln()).ceil() as usize;
                    let misses = (0..trials)
                        .filter(|&t| {
                            let mut d = Draws::new(seed, E0 * 1000 + cell, t as u32);
                            (0..n * r).all(|_| (alpha - d.pm1()).abs() > eps)
                        })
                        .count();
                    let exact = (1.0 - window(alpha, eps) / 2.0).powi((n * r) as i32);
                    rows.push(HittingRow {
                        alpha,
                        eps,
                        delta,
                        r,
                        n,
                        trials,
                        misses,
                        exact,
                        ci: clopper_pearson(misses as u64, trials as u64, 0.999),
                    });
                    cell += 1;
                }
            }
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// E1 / E2: coverage of [−1, 1] vs n, with R candidates (oracle R-model)

/// Coverage thresholds for one (R, ε).
#[derive(Clone, Debug)]
pub struct CoverageRow {
    pub r: usize,
    pub eps: f64,
    /// Per trial: the least n whose positions cover [−1, 1] (None: not within n_max).
    pub thresholds: Vec<Option<usize>>,
    /// Interpolated median threshold.
    pub n50: Option<f64>,
    pub n50_int: Option<usize>,
    pub n90_int: Option<usize>,
    /// The counting bound ⌈log(1/ε)/log(R+1)⌉.
    pub lower_bound: usize,
}

impl CoverageRow {
    /// Fraction of trials covered with n positions.
    pub fn p(&self, n: usize) -> f64 {
        self.thresholds
            .iter()
            .filter(|t| t.is_some_and(|v| v <= n))
            .count() as f64
            / self.thresholds.len() as f64
    }
}

/// The counting bound of P1: (R + 1)^n ≥ 1/ε.
pub fn counting_bound(eps: f64, r: usize) -> usize {
    ((1.0 / eps).ln() / ((r + 1) as f64).ln() - 1e-9).ceil() as usize
}

/// Thresholds for every R in `rs` and ε in `epss`, with candidate lists nested across R
/// (the first R of `max(rs)` candidates) and across n, so coverage is monotone sample by sample.
pub fn e2_coverage(
    seed: u64,
    rs: &[usize],
    epss: &[f64],
    trials: usize,
    n_max: usize,
) -> Vec<CoverageRow> {
    let r_max = *rs.iter().max().expect("at least one R");
    let draws: Vec<Vec<Vec<f64>>> = (0..trials)
        .map(|t| Draws::new(seed, E1, t as u32).candidates(n_max, r_max))
        .collect();
    let mut rows = vec![];
    for &r in rs {
        for &eps in epss {
            // trials are independent: parallel, with results in trial order
            let thresholds: Vec<Option<usize>> = draws
                .par_iter()
                .map(|c| coverage(&truncate(c, n_max, r), eps))
                .collect();
            rows.push(CoverageRow {
                r,
                eps,
                n50: interpolated_quantile(&thresholds, 0.5),
                n50_int: integer_quantile(&thresholds, 0.5),
                n90_int: integer_quantile(&thresholds, 0.9),
                lower_bound: counting_bound(eps, r),
                thresholds,
            });
        }
    }
    rows
}

/// The fitted `n50 = a_R·log2(1/ε) + b_R` per R, from rows of one R.
pub fn coverage_slope(rows: &[CoverageRow], r: usize) -> Option<(f64, f64)> {
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .filter(|row| row.r == r)
        .filter_map(|row| row.n50.map(|n| ((1.0 / row.eps).log2(), n)))
        .collect();
    if pts.len() < 2 {
        return None;
    }
    let (xs, ys): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
    Some(linfit(&xs, &ys))
}

// ---------------------------------------------------------------------------------------------
// E3 / E4: single-target error, oracle and online

/// E[log2 err] and the median error at one n.
#[derive(Clone, Debug)]
pub struct ErrorPoint {
    pub n: usize,
    pub mean_log2: f64,
    pub median: f64,
}

/// The prediction P2 for E[log2 min err] with n positions and R candidates.
pub fn p2(n: usize, r: usize) -> f64 {
    let s2 = r as f64 / (3.0 * (r as f64 + 1.0));
    -(n as f64) * ((r + 1) as f64).log2() - 1.0
        + 0.5 * (2.0 * std::f64::consts::PI * n as f64 * s2).log2()
        - 0.833
}

fn summarise(n: usize, mut errs: Vec<f64>) -> ErrorPoint {
    let mean_log2 = mean(
        &errs
            .iter()
            .map(|e| e.max(1e-300).log2())
            .collect::<Vec<_>>(),
    );
    errs.sort_by(f64::total_cmp);
    ErrorPoint {
        n,
        mean_log2,
        median: errs[errs.len() / 2],
    }
}

/// Oracle model: exact best configuration of n positions × R candidates for z ~ U[−1, 1].
pub fn e3_single_target(seed: u64, r: usize, ns: &[usize], trials: usize) -> Vec<ErrorPoint> {
    ns.iter()
        .map(|&n| {
            let errs = (0..trials)
                .into_par_iter()
                .map(|t| {
                    let mut d = Draws::new(seed, E3 * 1000 + r as u32, (n * 100_000 + t) as u32);
                    let z = d.pm1();
                    best(&d.candidates(n, r), z).err
                })
                .collect();
            summarise(n, errs)
        })
        .collect()
}

/// Online model with `rounds` rounds (the practical algorithm's R).
pub fn e4_online(seed: u64, rounds: usize, ns: &[usize], trials: usize) -> Vec<ErrorPoint> {
    ns.iter()
        .map(|&n| {
            let errs = (0..trials)
                .map(|t| {
                    let mut d =
                        Draws::new(seed, E4 * 1000 + rounds as u32, (n * 100_000 + t) as u32);
                    let z = d.pm1();
                    *online(n, rounds, z, &mut d)
                        .errors
                        .last()
                        .expect("rounds ≥ 1")
                })
                .collect();
            summarise(n, errs)
        })
        .collect()
}

/// Slope of E[log2 err] against n over the upper half of the points.
pub fn upper_half_slope(points: &[ErrorPoint]) -> f64 {
    let half = &points[points.len() / 2..];
    let xs: Vec<f64> = half.iter().map(|p| p.n as f64).collect();
    let ys: Vec<f64> = half.iter().map(|p| p.mean_log2).collect();
    linfit(&xs, &ys).0
}

// ---------------------------------------------------------------------------------------------
// E5: hitting (Malach) vs subset sum (Pensia) at the same candidate budget

#[derive(Clone, Debug)]
pub struct BudgetRow {
    pub n: usize,
    pub r: usize,
    /// N = n·R values.
    pub budget: usize,
    pub hitting: f64,
    pub greedy: f64,
    pub subset: f64,
}

/// Mean errors for z ~ U[−0.9, 0.9] (away from the ends, so hitting's E[err] = 1/(N + 1)).
pub fn e5_budget(seed: u64, ns: &[usize], rs: &[usize], trials: usize) -> Vec<BudgetRow> {
    let mut rows = vec![];
    for &r in rs {
        for &n in ns {
            let (mut h, mut g, mut s) = (vec![], vec![], vec![]);
            for t in 0..trials {
                let mut d = Draws::new(seed, E5 * 1000 + r as u32, (n * 100_000 + t) as u32);
                let z = 0.9 * d.pm1();
                let c = d.candidates(n, r);
                let flat: Vec<f64> = c.iter().flatten().copied().collect();
                h.push(hitting(&flat, z));
                g.push(greedy(&flat, z));
                s.push(best(&c, z).err);
            }
            rows.push(BudgetRow {
                n,
                r,
                budget: n * r,
                hitting: mean(&h),
                greedy: mean(&g),
                subset: mean(&s),
            });
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// E6: the neuron gadget

/// E[log2 sup err] of the gadget with m hidden units, per m.
pub fn e6_gadget(seed: u64, r: usize, ms: &[usize], trials: usize) -> Vec<ErrorPoint> {
    ms.iter()
        .map(|&m| {
            let errs = (0..trials)
                .into_par_iter()
                .map(|t| {
                    let mut d = Draws::new(seed, E6 * 1000 + r as u32, (m * 100_000 + t) as u32);
                    let w = d.pm1();
                    Gadget::draw(m, r, &mut d).fit(w).sup_err
                })
                .collect();
            summarise(m, errs)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// E7: the two-layer network

/// Per n: E[log2 err] over targets (err = max over inputs of ‖f(x) − g(x)‖), and the raw errors.
#[derive(Clone, Debug)]
pub struct NetworkPoint {
    pub n: usize,
    /// Source hidden width per target layer, 2·d·n.
    pub width: usize,
    pub mean_log2: f64,
    pub errors: Vec<f64>,
    /// max over targets and inputs of err / bound (≤ 1 unless there is a bug).
    pub worst_bound_ratio: f64,
}

/// `inputs` points of [−1, 1]^d for one target, from its own stream.
pub fn inputs(d: usize, count: usize, draws: &mut Draws) -> Vec<Vec<f64>> {
    (0..count)
        .map(|_| (0..d).map(|_| draws.pm1()).collect())
        .collect()
}

pub fn e7_network(
    seed: u64,
    d: usize,
    r: usize,
    ns: &[usize],
    targets: usize,
    n_inputs: usize,
) -> Vec<NetworkPoint> {
    ns.iter()
        .map(|&n| {
            let mut errors = vec![];
            let mut worst = 0.0f64;
            for t in 0..targets {
                // the target depends on the trial only, so every (n, R) sees the same targets
                let mut dt = Draws::new(seed, E7 * 1000, t as u32);
                let mut ds = Draws::new(seed, E7 * 1000 + 1 + r as u32, (n * 100_000 + t) as u32);
                let net = TwoLayer::build_with(d, n, r, &mut dt, &mut ds);
                let xs = inputs(d, n_inputs, &mut dt);
                let mut err = 0.0f64;
                for x in &xs {
                    let e = net.error(x);
                    err = err.max(e);
                    let b = net.bound(x);
                    if b > 0.0 {
                        worst = worst.max(e / b);
                    }
                }
                errors.push(err);
            }
            NetworkPoint {
                n,
                width: 2 * d * n,
                mean_log2: mean(
                    &errors
                        .iter()
                        .map(|e| e.max(1e-300).log2())
                        .collect::<Vec<_>>(),
                ),
                errors,
                worst_bound_ratio: worst,
            }
        })
        .collect()
}

/// The width at which E[log2 err] first reaches `log2_target`, interpolated between points.
pub fn width_to_reach(points: &[NetworkPoint], log2_target: f64) -> Option<f64> {
    points.windows(2).find_map(|w| {
        let (a, b) = (&w[0], &w[1]);
        if a.mean_log2 > log2_target && b.mean_log2 <= log2_target {
            let f = (a.mean_log2 - log2_target) / (a.mean_log2 - b.mean_log2);
            Some(a.width as f64 + f * (b.width as f64 - a.width as f64))
        } else if a.mean_log2 <= log2_target {
            Some(a.width as f64)
        } else {
            None
        }
    })
}

/// The smallest n at which at least 90 % of targets have error ≤ eps.
pub fn n90(points: &[NetworkPoint], eps: f64) -> Option<usize> {
    points.iter().find_map(|p| {
        let ok = p.errors.iter().filter(|&&e| e <= eps).count() as f64 / p.errors.len() as f64;
        (ok >= 0.9).then_some(p.n)
    })
}

// ---------------------------------------------------------------------------------------------
// E8: the R that the real schedule reaches

/// Re-samples of one always-pruned weight over a run, counted with the project's real schedule
/// and the real Bernoulli coin stream.
#[derive(Clone, Debug)]
pub struct ScheduleRow {
    pub steps: u64,
    pub k_per: u64,
    pub r: f64,
    pub fires: u64,
    pub weights: usize,
    pub mean: f64,
    pub var: f64,
    /// R_eff = 1 + mean.
    pub r_eff: f64,
}

pub fn e8_schedule(seed: u64, steps: u64, k_per: u64, r: f64, weights: usize) -> ScheduleRow {
    let sched = RerandSchedule::new(k_per, RerandUnit::Iteration).expect("k_per ≥ 1");
    let mut counts = vec![0u64; weights];
    let mut round = 0u32;
    for it in 0..steps {
        if sched.fires(it, steps) {
            round += 1;
            let coin = Stream::new(seed, Purpose::RerandCoin, 0, round);
            for (i, c) in counts.iter_mut().enumerate() {
                if coin.uniform(i as u32) < r {
                    *c += 1;
                }
            }
        }
    }
    let xs: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    let m = mean(&xs);
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() as f64 - 1.0);
    ScheduleRow {
        steps,
        k_per,
        r,
        fires: round as u64,
        weights,
        mean: m,
        var,
        r_eff: 1.0 + m,
    }
}
