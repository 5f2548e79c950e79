//! The per-layer threshold of the official code (`GetSubnet` with `kthvalue`).
//!
//! For n scores and sparsity p (the fraction pruned), k = 1 + round_half_even(0.01·(100p)·(n−1)),
//! in the official code's floating-point order, and a weight is kept when its score is ≥ the k-th
//! smallest score. Ties at the threshold are all
//! kept, as with PyTorch's `>=`. Selection is O(n) (`select_nth_unstable`), never a full sort.

use serde::{Deserialize, Serialize};

/// How scores are ranked.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Ranking {
    /// IteRand: the signed score.
    #[default]
    Signed,
    /// edge-popup's original code: |score|.
    Magnitude,
}

impl Ranking {
    /// Every variant, in declaration order (derived).
    pub const ALL: &'static [Ranking] = <Ranking as strum::VariantArray>::VARIANTS;

    /// The name config files use.
    pub fn name(self) -> &'static str {
        self.into()
    }

    #[inline]
    pub fn key(self, s: f32) -> f32 {
        match self {
            Ranking::Signed => s,
            Ranking::Magnitude => s.abs(),
        }
    }
}

/// Over which weights the threshold ranks.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RankingScope {
    /// IteRand and edge-popup: each layer keeps its own top (1 − p).
    #[default]
    Layer,
    /// Global edge-popup (`global_ep` of `ksreenivasan/pruning_is_enough`): one threshold over
    /// every masked layer's ranking keys together, so layers keep different fractions
    /// ([`crate::GlobalRanking`]).
    Global,
}

impl RankingScope {
    /// Every variant, in declaration order (derived).
    pub const ALL: &'static [RankingScope] = <RankingScope as strum::VariantArray>::VARIANTS;

    /// The name config files use.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether this is the default, which configs leave unwritten.
    pub fn is_default(&self) -> bool {
        *self == RankingScope::Layer
    }
}

/// k (1-based) of the official rule, `1 + round(.01 * float(p * 100) * (n - 1))` in Python
/// (sparse_modules.py's `percentile`), operation for operation: `.01 * 70.0` is
/// 0.7000000000000001, so where 0.7·(n−1) is exactly x.5 the official k rounds up, which the
/// plain `p·(n−1)` would round to even (52 layers of the ImageNet ResNets at p 0.7).
pub fn kth(n: usize, sparsity: f64) -> usize {
    assert!(n > 0, "a layer with no weights has no threshold");
    1 + (0.01 * (sparsity * 100.0) * (n - 1) as f64).round_ties_even() as usize
}

/// The number of weights kept when no scores tie: `n + 1 − kth(n, p)`.
pub fn kept_count(n: usize, sparsity: f64) -> usize {
    n + 1 - kth(n, sparsity)
}

/// The k-th smallest ranking key of `scores`; `None` if any score is NaN.
///
/// Consumes its buffer because selection reorders it.
pub fn threshold(mut keys: Vec<f32>, sparsity: f64, ranking: Ranking) -> Option<f32> {
    if keys.iter().any(|s| s.is_nan()) {
        return None;
    }
    if ranking == Ranking::Magnitude {
        keys.iter_mut().for_each(|s| *s = s.abs());
    }
    let k = kth(keys.len(), sparsity);
    let (_, kth, _) = keys.select_nth_unstable_by(k - 1, |a, b| a.total_cmp(b));
    Some(*kth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(scores: &[f32], p: f64, r: Ranking) -> usize {
        let t = threshold(scores.to_vec(), p, r).unwrap();
        scores.iter().filter(|&&s| r.key(s) >= t).count()
    }

    #[test]
    fn k_rule_by_hand() {
        // n = 10, p = 0.5: p(n−1) = 4.5 rounds to 4 (half to even), k = 5: keep 6.
        assert_eq!(kth(10, 0.5), 5);
        // n = 12, p = 0.5: 5.5 → 6, k = 7: keep 6.
        assert_eq!(kth(12, 0.5), 7);
        // p = 0: k = 1, the minimum, everything kept.
        assert_eq!(kth(7, 0.0), 1);
        assert_eq!(kept_count(7, 0.0), 7);
        // p close to 1: n = 100, p = 0.999: 98.901 → 99, k = 100: keep exactly one.
        assert_eq!(kth(100, 0.999), 100);
        assert_eq!(kept_count(100, 0.999), 1);
        // tiny layers
        assert_eq!(kth(1, 0.9), 1);
        assert_eq!(kth(2, 0.5), 1); // 0.5 → 0
        assert_eq!(kth(4, 0.5), 3); // 1.5 → 2
                                    // n = 3, p = 0.25: 0.5 → 0
        assert_eq!(kth(3, 0.25), 1);
        // the paper's p = 0.6 on a 3×3×3×16 conv: 0.6·431 = 258.6 → 259, keep 173
        assert_eq!(kept_count(432, 0.6), 173);
    }

    #[test]
    fn k_follows_the_official_float_arithmetic_at_p_0_7() {
        // k as Python computes `1 + round(.01 * float(p * 100) * (n - 1))`, for the layer sizes
        // of the ImageNet ResNet-34/50/101 where it differs from 1 + round_half_even(0.7·(n−1)).
        for (n, official) in [
            (4_096, 2_868),
            (65_536, 45_876),
            (147_456, 103_220),
            (1_048_576, 734_004),
            (2_359_296, 1_651_508),
        ] {
            assert_eq!(kth(n, 0.7), official, "n {n}");
            assert_eq!(
                (0.7 * (n - 1) as f64).round_ties_even() as usize + 1,
                official - 1,
                "n {n}: the plain product rounds the other way"
            );
        }
        // and where the two agree, at p 0.5 and 0.6 (Python's values)
        for (n, p, official) in [
            (4_096, 0.5, 2_049),
            (2_359_296, 0.6, 1_415_578),
            (640, 0.7, 448),
        ] {
            assert_eq!(kth(n, p), official, "n {n} p {p}");
        }
    }

    #[test]
    fn threshold_is_kth_smallest_and_ties_are_kept() {
        let s = [0.3, -1.0, 2.0, 0.3, 0.1, 5.0];
        // n = 6, p = 0.5: 2.5 → 2, k = 3: third smallest of sorted [-1, .1, .3, .3, 2, 5] = .3
        assert_eq!(threshold(s.to_vec(), 0.5, Ranking::Signed), Some(0.3));
        assert_eq!(kept(&s, 0.5, Ranking::Signed), 4);
        // magnitude ranks |s|: sorted [.1, .3, .3, 1, 2, 5]: k=3 → .3; kept |s| ≥ .3: 5 values
        assert_eq!(kept(&s, 0.5, Ranking::Magnitude), 5);
        // all tied: everything kept whatever p is
        assert_eq!(kept(&[1.0; 8], 0.9, Ranking::Signed), 8);
        assert_eq!(threshold(vec![1.0, f32::NAN], 0.5, Ranking::Signed), None);
    }

    #[test]
    fn kept_fraction_matches_rule_on_distinct_scores() {
        for n in [1usize, 2, 3, 10, 101, 1000] {
            for p in [0.0, 0.1, 0.5, 0.6, 0.7, 0.99] {
                let s: Vec<f32> = (0..n)
                    .map(|i| ((i * 7919) % n) as f32 - n as f32 / 3.0)
                    .collect();
                assert_eq!(
                    kept(&s, p, Ranking::Signed),
                    kept_count(n, p),
                    "n {n} p {p}"
                );
            }
        }
    }

    proptest::proptest! {
        /// For distinct scores the k rule keeps exactly n − round(p(n−1)) weights, and every
        /// kept score is at least every pruned one: the mask is a top-(1−p) selection.
        #[test]
        fn keeps_the_top_of_distinct_scores(
            raw in proptest::collection::hash_set(-100_000i32..100_000, 1..400),
            p in 0.0f64..0.999,
            magnitude in proptest::bool::ANY,
        ) {
            let r = if magnitude { Ranking::Magnitude } else { Ranking::Signed };
            // distinct keys under both rankings: offset so |s| are distinct too
            let scores: Vec<f32> = raw.iter().map(|&v| (v.abs() * 2 + (v < 0) as i32) as f32
                * if v < 0 { -1.0 } else { 1.0 }).collect();
            let t = threshold(scores.clone(), p, r).unwrap();
            let (kept, pruned): (Vec<f32>, Vec<f32>) =
                scores.iter().map(|&s| r.key(s)).partition(|&k| k >= t);
            proptest::prop_assert_eq!(kept.len(), kept_count(scores.len(), p));
            let min_kept = kept.iter().cloned().fold(f32::INFINITY, f32::min);
            proptest::prop_assert!(pruned.iter().all(|&x| x < min_kept));
        }
    }
}
