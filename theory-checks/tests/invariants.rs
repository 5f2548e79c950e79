//! The deterministic invariants of theory.md §6 as proptest properties: each can fail only
//! through a bug, whatever the random values.

use proptest::prelude::*;
use theory_checks::draws::Draws;
use theory_checks::gadget::Gadget;
use theory_checks::network::TwoLayer;
use theory_checks::online::online;
use theory_checks::subset::{best, brute, coverage, covers, hitting, sum_of};

fn cands(max_n: usize, max_r: usize) -> impl Strategy<Value = Vec<Vec<f64>>> {
    (1..=max_r).prop_flat_map(move |r| {
        prop::collection::vec(prop::collection::vec(-1.0f64..1.0, r), 0..=max_n)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// 1. Meet in the middle finds the brute-force minimum, and its choice achieves it.
    #[test]
    fn mitm_equals_brute_force(c in cands(8, 3), z in -1.5f64..1.5) {
        let b = best(&c, z);
        let want = brute::min_error(&c, z);
        prop_assert!((b.err - want).abs() < 1e-12, "mitm {} brute {}", b.err, want);
        prop_assert!(((z - sum_of(&c, &b.choice)).abs() - b.err).abs() < 1e-12);
    }

    /// 1'. The same for plain subset sum up to n = 12.
    #[test]
    fn mitm_equals_brute_force_r1(c in prop::collection::vec(prop::collection::vec(-1.0f64..1.0, 1), 0..=12), z in -1.0f64..1.0) {
        prop_assert!((best(&c, z).err - brute::min_error(&c, z)).abs() < 1e-12);
    }

    /// 2. The interval DP decides coverage exactly as enumeration does, and its threshold is
    ///    the first prefix that covers.
    #[test]
    fn interval_dp_equals_brute_force(c in cands(7, 2), eps in 0.02f64..0.4) {
        prop_assert_eq!(covers(&c, eps), brute::covers(&c, eps));
        if let Some(n) = coverage(&c, eps) {
            prop_assert!(brute::covers(&c[..n], eps));
            prop_assert!(n == 0 || !brute::covers(&c[..n - 1], eps));
        }
    }

    /// 3. Nesting: another position or candidate never hurts.
    #[test]
    fn more_candidates_never_hurt(c in cands(6, 2), extra in -1.0f64..1.0, z in -1.0f64..1.0, eps in 0.05f64..0.4) {
        let mut more_pos = c.clone();
        more_pos.push(vec![extra; c.first().map_or(1, |p| p.len())]);
        let mut more_cand = c.clone();
        for p in &mut more_cand { p.push(extra); }
        for bigger in [&more_pos, &more_cand] {
            prop_assert!(best(bigger, z).err <= best(&c, z).err + 1e-12);
            prop_assert!(!covers(&c, eps) || covers(bigger, eps));
        }
    }

    /// 4. R = 1 is plain subset sum; one online round is plain subset sum too.
    #[test]
    fn r1_and_one_round_are_plain_subset_sum(seed in 0u64..1000, n in 1usize..10, z in -1.0f64..1.0) {
        let mut d = Draws::new(seed, 99, 0);
        let trace = online(n, 1, z, &mut d);
        let vals = &trace.values[0];
        let subsets: f64 = (0u32..1 << n)
            .map(|m| (z - (0..n).filter(|i| m >> i & 1 == 1).map(|i| vals[i]).sum::<f64>()).abs())
            .fold(f64::INFINITY, f64::min);
        prop_assert!((trace.errors[0] - subsets).abs() < 1e-12);
        let c: Vec<Vec<f64>> = vals.iter().map(|&v| vec![v]).collect();
        prop_assert!((best(&c, z).err - subsets).abs() < 1e-12);
    }

    /// 5. Coverage needs at least ⌈1/ε⌉ distinct sums in [−1−ε, 1+ε], hence (R+1)^n ≥ 1/ε.
    #[test]
    fn covered_implies_counting_bound(c in cands(7, 3), eps in 0.03f64..0.5) {
        if covers(&c, eps) {
            let distinct = brute::distinct_sums_in(&c, -1.0 - eps, 1.0 + eps);
            prop_assert!(distinct as f64 >= (1.0 / eps).ceil());
            let r = c.first().map_or(0, |p| p.len());
            prop_assert!(((r + 1) as f64).powi(c.len() as i32) >= 1.0 / eps);
        }
    }

    /// 6. Scaling every value and the target by c > 0 scales the error by c.
    #[test]
    fn scale_equivariance(c in cands(8, 2), z in -1.0f64..1.0, k in 0.1f64..10.0) {
        let scaled: Vec<Vec<f64>> = c.iter().map(|p| p.iter().map(|v| v * k).collect()).collect();
        let (e, es) = (best(&c, z).err, best(&scaled, z * k).err);
        prop_assert!((es - k * e).abs() <= 1e-9 * (1.0 + k));
    }

    /// 7a. The gadget's sup error over [−1, 1] is max(|w − P|, |w + N|), attained at ±1.
    #[test]
    fn gadget_sup_error_identity(seed in 0u64..1000, m in 2usize..14, r in 1usize..3, w in -1.0f64..1.0) {
        let mut d = Draws::new(seed, 98, 0);
        let g = Gadget::draw(m, r, &mut d);
        let fit = g.fit(w);
        let sup = (0..=400)
            .map(|i| -1.0 + i as f64 / 200.0)
            .map(|x| (g.eval(&fit, x) - w * x).abs())
            .fold(0.0f64, f64::max);
        prop_assert!((sup - fit.sup_err).abs() < 1e-12, "grid {} formula {}", sup, fit.sup_err);
    }

    /// 7b. The two-layer network never exceeds the deterministic error bound.
    #[test]
    fn network_within_deterministic_bound(seed in 0u64..1000, n in 1usize..7, r in 1usize..3) {
        let (mut dt, mut ds) = (Draws::new(seed, 97, 0), Draws::new(seed, 97, 1));
        let net = TwoLayer::build_with(3, n, r, &mut dt, &mut ds);
        for _ in 0..20 {
            let x: Vec<f64> = (0..3).map(|_| dt.pm1()).collect();
            prop_assert!(net.error(&x) <= net.bound(&x) + 1e-12);
        }
    }

    /// 8. Online rounds: the error never goes up and kept positions keep their values.
    #[test]
    fn online_is_monotone_and_keeps_chosen_values(seed in 0u64..1000, n in 1usize..12, rounds in 1usize..6, z in -1.0f64..1.0) {
        let mut d = Draws::new(seed, 96, 0);
        let t = online(n, rounds, z, &mut d);
        for k in 1..rounds {
            prop_assert!(t.errors[k] <= t.errors[k - 1]);
            for i in 0..n {
                if t.chosen[k - 1][i] {
                    prop_assert_eq!(t.values[k][i].to_bits(), t.values[k - 1][i].to_bits());
                }
            }
        }
    }

    /// 9. Hitting finds a value inside the window whenever one is there.
    #[test]
    fn hitting_finds_a_value_in_the_window(v in prop::collection::vec(-1.0f64..1.0, 1..50), a in -1.0f64..1.0, eps in 0.001f64..0.5) {
        if v.iter().any(|x| (a - x).abs() <= eps) {
            prop_assert!(hitting(&v, a) <= eps);
        }
    }
}
