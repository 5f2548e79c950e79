//! The randomization operator R of IteRand (official `rerandomize_`).

#[cfg(feature = "tensor")]
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

#[cfg(feature = "tensor")]
use crate::init::{draw, InitMode};
#[cfg(feature = "tensor")]
use crate::stream::{Purpose, Stream};
use crate::{Error, Result};

/// How a pruned weight is replaced (official `rerand_mode`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RerandMode {
    /// Each pruned weight is re-drawn with probability `rerand_lambda` (the paper's r).
    Bernoulli,
    /// Every pruned weight becomes `rerand_lambda·w + rerand_mu·fresh` (not used in the paper).
    Manual,
    /// Iterative Weight Recycling (Gorbett & Whitley 2023, `rerand_type: recycle`): the
    /// ⌊r·n⌋ weights of lowest ranking key take the values of the ⌊r·n⌋ of highest, rank for
    /// rank ([`recycle_moves`], [`moved`]); nothing is drawn.
    Recycle,
    /// The same code's `iterand_recycle`: the `bernoulli` re-draw with probability r/2, then
    /// recycling of ⌊(r/2)·n⌋ weights.
    IterandRecycle,
}

impl RerandMode {
    /// Every variant, in declaration order (derived).
    pub const ALL: &'static [RerandMode] = <RerandMode as strum::VariantArray>::VARIANTS;

    /// The official name, as config files spell it.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// R's parameters: which mode, r (or λ), μ, and the run seed its streams hang off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rerandomizer {
    pub mode: RerandMode,
    /// r for `bernoulli`, λ for `manual` (the official `rerand_lambda`).
    pub lambda: f64,
    /// μ for `manual` (the official `rerand_mu`); ignored by `bernoulli`.
    pub mu: f64,
    pub seed: u64,
}

impl Rerandomizer {
    pub fn new(mode: RerandMode, lambda: f64, mu: f64, seed: u64) -> Result<Self> {
        if mode != RerandMode::Manual && !(0.0..=1.0).contains(&lambda) {
            return Err(Error::InvalidParameter {
                name: "rerand_lambda",
                value: lambda.to_string(),
                why: "a probability must lie in [0, 1]",
            });
        }
        if !lambda.is_finite() || !mu.is_finite() {
            return Err(Error::InvalidParameter {
                name: "rerand_lambda/rerand_mu",
                value: format!("{lambda}/{mu}"),
                why: "must be finite",
            });
        }
        Ok(Self {
            mode,
            lambda,
            mu,
            seed,
        })
    }

    /// Whether R can change anything at all (r = 0 is exactly edge-popup).
    pub fn is_noop(&self) -> bool {
        self.mode != RerandMode::Manual && self.lambda == 0.0
    }

    /// The re-draw of pruned weights R makes, if any: itself in `bernoulli` and `manual`
    /// mode, `bernoulli` with r/2 in `iterand_recycle` (the authors' `rerand_rate/2`).
    pub fn redraw(&self) -> Option<Rerandomizer> {
        match self.mode {
            RerandMode::Bernoulli | RerandMode::Manual => Some(*self),
            RerandMode::Recycle => None,
            RerandMode::IterandRecycle => Some(Rerandomizer {
                mode: RerandMode::Bernoulli,
                lambda: self.lambda / 2.0,
                ..*self
            }),
        }
    }

    /// The fraction of a layer's weights R recycles after its re-draw, if it recycles: r in
    /// `recycle` mode, r/2 in `iterand_recycle`.
    pub fn recycle_rate(&self) -> Option<f64> {
        match self.mode {
            RerandMode::Bernoulli | RerandMode::Manual => None,
            RerandMode::Recycle => Some(self.lambda),
            RerandMode::IterandRecycle => Some(self.lambda / 2.0),
        }
    }
}

/// The number of weights recycling moves in a layer of `n`: the authors'
/// `int(rerand_rate * numel)`, a truncation of the float product.
pub fn recycled_count(n: usize, rate: f64) -> usize {
    ((rate * n as f64) as usize).min(n)
}

/// The moves of one recycling: `(destination, source)` for the `count` lowest ranking keys and
/// the `count` highest, paired rank for rank (the lowest key takes the value at the
/// `count`-th highest, the `count`-th lowest the value at the highest), as the authors'
/// `w[indices[:k]] = w[indices[-k:]]` over keys sorted ascending. Equal keys rank by index,
/// so the moves are a function of the keys alone. `None` if a key is NaN.
pub fn recycle_moves(keys: &[f32], count: usize) -> Option<Vec<(usize, usize)>> {
    if keys.iter().any(|k| k.is_nan()) {
        return None;
    }
    let count = count.min(keys.len());
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_unstable_by(|&a, &b| keys[a].total_cmp(&keys[b]).then(a.cmp(&b)));
    let (low, high) = (&order[..count], &order[keys.len() - count..]);
    Some(low.iter().copied().zip(high.iter().copied()).collect())
}

/// `values` with each move's source value at its destination. Every source is read before
/// any destination is written, as the authors' indexed assignment gathers its right-hand side
/// first: where the two sets overlap (rates above ½), a source that is also a destination
/// gives its value from before the step. Generations move with their weights the same way.
pub fn moved<T: Copy>(values: &[T], moves: &[(usize, usize)]) -> Vec<T> {
    let mut out = values.to_vec();
    for &(dst, src) in moves {
        out[dst] = values[src];
    }
    out
}

#[cfg(feature = "tensor")]
/// The fresh value R's `round`-th application offers each of a layer's `n` weights: element `i`
/// of stream `(seed, Weight, layer, round)` under `init`. Public so that a replay of a run
/// (the `dump_draws` example) writes exactly what R uses.
pub fn fresh_values(
    init: InitMode,
    fan_in: usize,
    seed: u64,
    layer: u32,
    round: u32,
    n: usize,
) -> Result<Vec<f32>> {
    draw(
        init,
        fan_in,
        &Stream::new(seed, Purpose::Weight, layer, round),
        n,
    )
}

#[cfg(feature = "tensor")]
/// The Bernoulli(`p`) coins of R's `round`-th application (1 = re-draw this weight if pruned).
pub fn coins(seed: u64, layer: u32, round: u32, p: f64, n: usize) -> Vec<u8> {
    let coin = Stream::new(seed, Purpose::RerandCoin, layer, round);
    (0..n as u32).map(|i| (coin.uniform(i) < p) as u8).collect()
}

#[cfg(feature = "tensor")]
/// Apply R's re-draw once, as its `round`-th application (`round ≥ 1`; round 0 is the
/// initialisation). In the recycling modes the recycling follows, from the scores
/// ([`recycle_moves`]); `recycle` mode itself draws nothing.
///
/// `kept` is the layer's current mask as `U8` (1 = kept), computed from the unchanged scores,
/// so the network function right after R equals the one before it. Only pruned weights change;
/// the fresh value and the coin of weight `i` are pure functions of
/// `(seed, layer, round, i)`, drawn on the host and moved to the weights' device.
pub fn rerandomize(
    weight: &Tensor,
    kept: &Tensor,
    init: InitMode,
    fan_in: usize,
    layer: u32,
    round: u32,
    r: &Rerandomizer,
) -> Result<Tensor> {
    if weight.dims() != kept.dims() {
        return Err(Error::ShapeMismatch {
            weights: weight.dims().to_vec(),
            mask: kept.dims().to_vec(),
        });
    }
    if round == 0 {
        return Err(Error::InvalidParameter {
            name: "round",
            value: "0".into(),
            why: "round 0 is the initialisation; R starts at round 1",
        });
    }
    // Recycling needs the scores and runs after this (see `recycle`); here only the re-draw.
    let Some(r) = r.redraw().filter(|r| !r.is_noop()) else {
        return Ok(weight.clone());
    };
    let n = weight.elem_count();
    let dev = weight.device();
    let shape = weight.shape();
    let fresh = fresh_values(init, fan_in, r.seed, layer, round, n)?;
    let fresh = Tensor::from_vec(fresh, shape, dev)?.to_dtype(weight.dtype())?;
    let kept = kept.to_dtype(DType::U8)?;
    let replaced = match r.mode {
        RerandMode::Manual => ((weight * r.lambda)? + (fresh * r.mu)?)?,
        // `redraw` gives `bernoulli` for every mode but `manual`.
        _ => {
            let heads = coins(r.seed, layer, round, r.lambda, n);
            Tensor::from_vec(heads, shape, dev)?.where_cond(&fresh, weight)?
        }
    };
    Ok(kept.where_cond(weight, &replaced)?)
}

#[cfg(all(test, feature = "tensor"))]
mod tests {
    use super::*;
    use candle_core::Device;

    fn setup(n: usize) -> (Tensor, Tensor, Vec<f32>, Vec<u8>) {
        let w: Vec<f32> = draw(
            InitMode::KaimingUniform,
            10,
            &Stream::new(9, Purpose::Weight, 1, 0),
            n,
        )
        .unwrap();
        let m: Vec<u8> = (0..n).map(|i| (i % 3 == 0) as u8).collect();
        let wt = Tensor::from_vec(w.clone(), n, &Device::Cpu).unwrap();
        let mt = Tensor::from_vec(m.clone(), n, &Device::Cpu).unwrap();
        (wt, mt, w, m)
    }

    #[test]
    fn bernoulli_redraws_only_pruned_with_binomial_fraction() {
        let n = 300_000;
        let (wt, mt, w, m) = setup(n);
        let rr = Rerandomizer::new(RerandMode::Bernoulli, 0.1, 0.0, 5).unwrap();
        let out = rerandomize(&wt, &mt, InitMode::KaimingUniform, 10, 1, 1, &rr)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut changed = 0usize;
        let pruned = m.iter().filter(|&&k| k == 0).count();
        for i in 0..n {
            if m[i] == 1 {
                assert_eq!(out[i].to_bits(), w[i].to_bits(), "kept weight {i} changed");
            } else if out[i] != w[i] {
                changed += 1;
            }
        }
        // Binomial(pruned, 0.1): ±5 sd
        let mean = pruned as f64 * 0.1;
        let sd = (pruned as f64 * 0.1 * 0.9).sqrt();
        assert!(
            ((changed as f64) - mean).abs() < 5.0 * sd,
            "changed {changed} of {pruned}"
        );
        let b = (6.0f32 / 10.0).sqrt();
        assert!(out.iter().all(|x| x.abs() <= b));
    }

    #[test]
    fn r_one_redraws_every_pruned_weight_and_is_deterministic() {
        let n = 10_000;
        let (wt, mt, w, m) = setup(n);
        let rr = Rerandomizer::new(RerandMode::Bernoulli, 1.0, 0.0, 5).unwrap();
        let a = rerandomize(&wt, &mt, InitMode::SignedConstant, 10, 1, 3, &rr).unwrap();
        let b = rerandomize(&wt, &mt, InitMode::SignedConstant, 10, 1, 3, &rr).unwrap();
        let (a, b) = (a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
        assert_eq!(a, b);
        let fresh = Stream::new(5, Purpose::Weight, 1, 3);
        for i in 0..n {
            if m[i] == 0 {
                assert_eq!(a[i], InitMode::SignedConstant.sample(10, &fresh, i as u32));
            } else {
                assert_eq!(a[i], w[i]);
            }
        }
        // another round draws other values
        let c = rerandomize(&wt, &mt, InitMode::SignedConstant, 10, 1, 4, &rr).unwrap();
        assert_ne!(a, c.to_vec1::<f32>().unwrap());
    }

    #[test]
    fn r_zero_is_the_identity() {
        let (wt, mt, w, _) = setup(1000);
        let rr = Rerandomizer::new(RerandMode::Bernoulli, 0.0, 0.0, 5).unwrap();
        let out = rerandomize(&wt, &mt, InitMode::KaimingUniform, 10, 1, 1, &rr).unwrap();
        assert_eq!(out.to_vec1::<f32>().unwrap(), w);
    }

    #[test]
    fn manual_blends_pruned_weights() {
        let n = 1000;
        let (wt, mt, w, m) = setup(n);
        let rr = Rerandomizer::new(RerandMode::Manual, 0.5, 2.0, 5).unwrap();
        let out = rerandomize(&wt, &mt, InitMode::Uniform, 10, 2, 1, &rr)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let fresh = Stream::new(5, Purpose::Weight, 2, 1);
        for i in 0..n {
            let want = if m[i] == 1 {
                w[i]
            } else {
                0.5 * w[i] + 2.0 * InitMode::Uniform.sample(10, &fresh, i as u32)
            };
            assert!((out[i] - want).abs() < 1e-6, "{i}: {} vs {want}", out[i]);
        }
    }

    #[test]
    fn recycling_modes_redraw_at_half_the_rate_or_not_at_all() {
        let (wt, mt, w, _) = setup(10_000);
        let draw = |mode, lambda| {
            let rr = Rerandomizer::new(mode, lambda, 0.0, 5).unwrap();
            rerandomize(&wt, &mt, InitMode::Uniform, 10, 1, 2, &rr)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let half = draw(RerandMode::Bernoulli, 0.2);
        assert_ne!(half, w);
        assert_eq!(draw(RerandMode::IterandRecycle, 0.4), half);
        assert_eq!(draw(RerandMode::Recycle, 0.4), w);
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(Rerandomizer::new(RerandMode::Bernoulli, 1.5, 0.0, 1).is_err());
        assert!(Rerandomizer::new(RerandMode::Bernoulli, -0.1, 0.0, 1).is_err());
        let (wt, _, _, _) = setup(10);
        let m = Tensor::zeros(9, DType::U8, &Device::Cpu).unwrap();
        let rr = Rerandomizer::new(RerandMode::Bernoulli, 0.1, 0.0, 1).unwrap();
        assert!(rerandomize(&wt, &m, InitMode::Uniform, 1, 0, 1, &rr).is_err());
    }
}

#[cfg(test)]
mod recycle_tests {
    use super::*;

    /// Hand-worked: keys ascending are 0.1 (i 3), 0.2 (i 0), 0.5 (i 1 and i 4: a tie, by
    /// index), 0.7 (i 5), 0.9 (i 2). Two recycled: the two lowest, i 3 and i 0, take the values
    /// of the two highest in rank order, i 5 and i 2.
    #[test]
    fn the_lowest_keys_take_the_highest_keys_values_rank_for_rank() {
        let keys = [0.2, 0.5, 0.9, 0.1, 0.5, 0.7];
        let w = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0];
        let moves = recycle_moves(&keys, 2).unwrap();
        assert_eq!(moves, [(3, 5), (0, 2)]);
        assert_eq!(moved(&w, &moves), [12.0, 11.0, 12.0, 15.0, 14.0, 15.0]);
        // Three: the tie at 0.5 ranks i 1 below i 4, so i 1 is a destination and i 4 a source.
        assert_eq!(recycle_moves(&keys, 3), Some(vec![(3, 4), (0, 5), (1, 2)]));
        assert_eq!(moved(&w, &recycle_moves(&keys, 0).unwrap()), w);
        assert_eq!(recycle_moves(&[0.0, f32::NAN, 0.0, 0.0, 0.0, 0.0], 1), None);
    }

    /// Above a rate of ½ the sets overlap; each source gives its value from before the step.
    #[test]
    fn overlapping_moves_read_every_value_before_writing() {
        let keys = [0.0, 1.0, 2.0, 3.0];
        let w = [1.0, 2.0, 3.0, 4.0];
        // Moves (0, 1), (1, 2), (2, 3): sequential writes would give [4, 4, 4, 4].
        let moves = recycle_moves(&keys, 3).unwrap();
        assert_eq!(moved(&w, &moves), [2.0, 3.0, 4.0, 4.0]);
    }

    #[test]
    fn counts_truncate_as_the_authors_int_does() {
        assert_eq!(recycled_count(1000, 0.1), 100);
        assert_eq!(recycled_count(999, 0.1), 99);
        assert_eq!(recycled_count(7, 0.5), 3);
        assert_eq!(recycled_count(7, 1.0), 7);
        assert_eq!(recycled_count(0, 0.3), 0);
    }

    #[test]
    fn the_modes_split_into_a_redraw_and_a_recycling() {
        let r = |mode| Rerandomizer::new(mode, 0.2, 0.0, 3).unwrap();
        let ir = r(RerandMode::IterandRecycle);
        let half = ir.redraw().unwrap();
        assert_eq!((half.mode, half.lambda), (RerandMode::Bernoulli, 0.1));
        assert_eq!(ir.recycle_rate(), Some(0.1));
        assert_eq!(r(RerandMode::Recycle).redraw(), None);
        assert_eq!(r(RerandMode::Recycle).recycle_rate(), Some(0.2));
        assert_eq!(
            r(RerandMode::Bernoulli).redraw(),
            Some(r(RerandMode::Bernoulli))
        );
        assert_eq!(r(RerandMode::Bernoulli).recycle_rate(), None);
        assert!(Rerandomizer::new(RerandMode::Recycle, 1.5, 0.0, 1).is_err());
        assert!(Rerandomizer::new(RerandMode::Recycle, 0.0, 0.0, 1)
            .unwrap()
            .is_noop());
    }
}
