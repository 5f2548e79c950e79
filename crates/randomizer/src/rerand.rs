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
        if mode == RerandMode::Bernoulli && !(0.0..=1.0).contains(&lambda) {
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
        self.mode == RerandMode::Bernoulli && self.lambda == 0.0
    }
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
/// Apply R once, as its `round`-th application (`round ≥ 1`; round 0 is the initialisation).
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
    if r.is_noop() {
        return Ok(weight.clone());
    }
    let n = weight.elem_count();
    let dev = weight.device();
    let shape = weight.shape();
    let fresh = fresh_values(init, fan_in, r.seed, layer, round, n)?;
    let fresh = Tensor::from_vec(fresh, shape, dev)?.to_dtype(weight.dtype())?;
    let kept = kept.to_dtype(DType::U8)?;
    let replaced = match r.mode {
        RerandMode::Bernoulli => {
            let heads = coins(r.seed, layer, round, r.lambda, n);
            Tensor::from_vec(heads, shape, dev)?.where_cond(&fresh, weight)?
        }
        RerandMode::Manual => ((weight * r.lambda)? + (fresh * r.mu)?)?,
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
    fn bad_parameters_are_rejected() {
        assert!(Rerandomizer::new(RerandMode::Bernoulli, 1.5, 0.0, 1).is_err());
        assert!(Rerandomizer::new(RerandMode::Bernoulli, -0.1, 0.0, 1).is_err());
        let (wt, _, _, _) = setup(10);
        let m = Tensor::zeros(9, DType::U8, &Device::Cpu).unwrap();
        let rr = Rerandomizer::new(RerandMode::Bernoulli, 0.1, 0.0, 1).unwrap();
        assert!(rerandomize(&wt, &m, InitMode::Uniform, 1, 0, 1, &rr).is_err());
    }
}
