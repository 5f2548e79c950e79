//! Initial distributions for weights and scores (the official `init_mode` values).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::stream::Stream;
use crate::{Error, Result};

/// The distribution a weight is drawn from, at initialisation and at every re-sample.
///
/// `fan_in` is in_channels·kh·kw (linear: in_features); the gain is √2 (ReLU), as in the
/// official code. No scaling by sparsity is applied (`init_scale` is 1.0 in every paper run).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum InitMode {
    /// U(−√(6/fan_in), +√(6/fan_in)); also the score distribution.
    KaimingUniform,
    /// N(0, 2/fan_in).
    KaimingNormal,
    /// ±√(2/fan_in) with probability ½ each.
    SignedConstant,
    /// U(−1, 1), the theory's distribution. The official config spells it `uniform(-1,1)`,
    /// which is accepted too, so its configs translate verbatim.
    #[serde(alias = "uniform(-1,1)")]
    Uniform,
    /// U(−1/√fan_in, +1/√fan_in): torch's `kaiming_uniform_(a=√5)`, with which hidden-networks
    /// and the codes after it (biprop, Iterative Weight Recycling, global edge-popup) draw
    /// their scores; √6 times narrower than IteRand's `kaiming_uniform` (docs/methods.md).
    #[serde(rename = "kaiming_uniform_a_sqrt5")]
    #[strum(serialize = "kaiming_uniform_a_sqrt5")]
    KaimingUniformASqrt5,
}

impl InitMode {
    /// Every variant, in declaration order (derived).
    pub const ALL: &'static [InitMode] = <InitMode as strum::VariantArray>::VARIANTS;

    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The short name in the official experiment names and the figures' legends
    /// (`figure2_conv6_ku_sgd`, `iterand (sc)`).
    pub fn short(self) -> &'static str {
        match self {
            InitMode::KaimingUniform => "ku",
            InitMode::KaimingNormal => "kn",
            InitMode::SignedConstant => "sc",
            InitMode::Uniform => "uniform",
            InitMode::KaimingUniformASqrt5 => "ku5",
        }
    }

    /// The value of element `i` of `stream` under this distribution.
    #[inline]
    pub fn sample(self, fan_in: usize, stream: &Stream, i: u32) -> f32 {
        let fan = fan_in as f64;
        let v = match self {
            InitMode::KaimingUniform => (6.0 / fan).sqrt() * (2.0 * stream.uniform(i) - 1.0),
            InitMode::KaimingNormal => (2.0 / fan).sqrt() * stream.normal(i),
            InitMode::SignedConstant => {
                let sign = if stream.block(i)[0] >> 31 == 1 {
                    1.0
                } else {
                    -1.0
                };
                sign * (2.0 / fan).sqrt()
            }
            InitMode::Uniform => 2.0 * stream.uniform(i) - 1.0,
            InitMode::KaimingUniformASqrt5 => (1.0 / fan).sqrt() * (2.0 * stream.uniform(i) - 1.0),
        };
        v as f32
    }
}

impl std::fmt::Display for InitMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The official code's name of [`InitMode::Uniform`].
const OFFICIAL_UNIFORM: &str = "uniform(-1,1)";

impl std::str::FromStr for InitMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = if s == OFFICIAL_UNIFORM { "uniform" } else { s };
        InitMode::ALL
            .iter().copied()
            .find(|m| m.name() == s)
            .ok_or_else(|| Error::InvalidParameter {
                name: "init_mode",
                value: s.to_string(),
                why: "expected kaiming_uniform, kaiming_normal, signed_constant, uniform (also uniform(-1,1)) or kaiming_uniform_a_sqrt5",
            })
    }
}

/// Chunk size for parallel draws. Each element's value depends only on its index, so the
/// chunking (and the thread count) cannot change the result.
const CHUNK: usize = 1 << 14;

/// Fill `out` with elements `0..out.len()` of `stream` drawn from `mode`.
pub fn draw_into(mode: InitMode, fan_in: usize, stream: &Stream, out: &mut [f32]) -> Result<()> {
    if fan_in == 0 {
        return Err(Error::InvalidParameter {
            name: "fan_in",
            value: "0".into(),
            why: "a layer needs at least one input",
        });
    }
    if out.len() > u32::MAX as usize {
        return Err(Error::TooLarge(out.len()));
    }
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let base = (c * CHUNK) as u32;
            for (j, v) in chunk.iter_mut().enumerate() {
                *v = mode.sample(fan_in, stream, base + j as u32);
            }
        });
    Ok(())
}

/// `n` draws from `mode`, element `i` being a pure function of the stream and `i`.
pub fn draw(mode: InitMode, fan_in: usize, stream: &Stream, n: usize) -> Result<Vec<f32>> {
    let mut v = vec![0f32; n];
    draw_into(mode, fan_in, stream, &mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::Purpose;

    const N: usize = 1_000_000;

    fn moments(v: &[f32]) -> (f64, f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let m4 = v.iter().map(|&x| (x as f64 - mean).powi(4)).sum::<f64>() / n;
        (mean, var, m4 / (var * var))
    }

    fn stream() -> Stream {
        Stream::new(42, Purpose::Weight, 3, 0)
    }

    #[test]
    fn kaiming_uniform_moments_and_bounds() {
        let fan = 27;
        let v = draw(InitMode::KaimingUniform, fan, &stream(), N).unwrap();
        let b = (6.0f64 / 27.0).sqrt();
        assert!(v.iter().all(|&x| (x as f64).abs() <= b + 1e-6));
        let (mean, var, kurt) = moments(&v);
        // var of U(-b,b) = b²/3 = 2/fan; kurtosis 1.8
        let sd_mean = (b * b / 3.0 / N as f64).sqrt();
        assert!(mean.abs() < 5.0 * sd_mean, "mean {mean}");
        assert!((var / (2.0 / 27.0) - 1.0).abs() < 0.01, "var {var}");
        assert!((kurt - 1.8).abs() < 0.02, "kurtosis {kurt}");
    }

    /// torch's `kaiming_uniform_(a=√5)`: gain √(2/(1 + 5)), bound gain·√(3/fan) = 1/√fan.
    #[test]
    fn kaiming_uniform_a_sqrt5_bounds_and_variance() {
        let fan = 144;
        let v = draw(InitMode::KaimingUniformASqrt5, fan, &stream(), N).unwrap();
        let b = 1.0 / 12.0;
        assert!(v.iter().all(|&x| (x as f64).abs() <= b + 1e-7));
        assert!(v.iter().any(|&x| (x as f64).abs() > 0.99 * b));
        let (_, var, _) = moments(&v);
        assert!((var / (b * b / 3.0) - 1.0).abs() < 0.01, "var {var}");
        // the same uniform draw as kaiming_uniform, √6 narrower
        let ku = draw(InitMode::KaimingUniform, fan, &stream(), 10).unwrap();
        for (a, k) in v.iter().zip(&ku) {
            assert!((*a as f64 * 6f64.sqrt() - *k as f64).abs() < 1e-6);
        }
    }

    #[test]
    fn kaiming_normal_moments() {
        let fan = 576;
        let v = draw(InitMode::KaimingNormal, fan, &stream(), N).unwrap();
        let (mean, var, kurt) = moments(&v);
        let target = 2.0 / 576.0;
        assert!(mean.abs() < 5.0 * (target / N as f64).sqrt(), "mean {mean}");
        assert!((var / target - 1.0).abs() < 0.01, "var {var}");
        assert!((kurt - 3.0).abs() < 0.05, "kurtosis {kurt}");
    }

    #[test]
    fn signed_constant_takes_exactly_two_values() {
        let fan = 64;
        let v = draw(InitMode::SignedConstant, fan, &stream(), N).unwrap();
        let c = (2.0f64 / 64.0).sqrt() as f32;
        let plus = v.iter().filter(|&&x| x == c).count();
        let minus = v.iter().filter(|&&x| x == -c).count();
        assert_eq!(plus + minus, N);
        // Binomial(N, ½): sd = 500
        assert!((plus as i64 - (N as i64) / 2).abs() < 2500, "plus {plus}");
    }

    #[test]
    fn uniform_moments() {
        let v = draw(InitMode::Uniform, 1, &stream(), N).unwrap();
        assert!(v.iter().all(|&x| (-1.0..=1.0).contains(&x)));
        let (mean, var, _) = moments(&v);
        assert!(mean.abs() < 5.0 * (1.0 / 3.0 / N as f64).sqrt());
        assert!((var * 3.0 - 1.0).abs() < 0.01);
    }

    #[test]
    fn draws_do_not_depend_on_thread_count() {
        let s = stream();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let four = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        for &mode in InitMode::ALL {
            let a = one.install(|| draw(mode, 9, &s, 100_000).unwrap());
            let b = four.install(|| draw(mode, 9, &s, 100_000).unwrap());
            assert_eq!(a, b, "{mode}");
            // and a single element regenerates alone
            assert_eq!(a[77_777], mode.sample(9, &s, 77_777));
        }
    }

    #[test]
    fn names_round_trip_and_bad_names_are_rejected() {
        for &m in InitMode::ALL {
            assert_eq!(m.name().parse::<InitMode>().unwrap(), m);
        }
        assert_eq!(
            OFFICIAL_UNIFORM.parse::<InitMode>().unwrap(),
            InitMode::Uniform
        );
        #[derive(serde::Deserialize)]
        struct Cfg {
            init_mode: InitMode,
        }
        let c: Cfg = toml::from_str("init_mode = \"uniform(-1,1)\"").unwrap();
        assert_eq!(c.init_mode, InitMode::Uniform);
        let e = "kaiming".parse::<InitMode>().unwrap_err().to_string();
        assert!(e.contains("init_mode") && e.contains("kaiming"), "{e}");
        assert!(draw(InitMode::Uniform, 0, &stream(), 3).is_err());
    }
}
