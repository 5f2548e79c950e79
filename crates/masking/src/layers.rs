//! `MaskedLinear` and `MaskedConv2d`: a masked weight plus the op that uses it.

use candle_core::{Module, Tensor, Var};
use iterand_kernels::{
    batch_norm_relu_train, conv2d, conv2d_batch_norm_relu_train, conv2d_relu, conv2d_relu_pool2,
    max_pool2d, relu, BatchNormOutput, Conv2dParams,
};

use crate::masked::{MaskConfig, MaskedWeight, Mode};
use crate::store::{Builder, Role};
use crate::Result;

/// A bias that is zero and frozen in score mode (so it is not even added) and trained in
/// weight mode, as in the official sparse layers.
fn make_bias(b: &Builder, n: usize, config: &MaskConfig) -> Result<Var> {
    b.var_const("bias", 0.0, n, Role::Bias, config.mode == Mode::Weights)
}

/// y = x·(W ⊙ mask)ᵀ + b, for x of shape (batch, in).
pub struct MaskedLinear {
    weight: MaskedWeight,
    bias: Option<Var>,
}

impl MaskedLinear {
    pub fn new(
        b: &Builder,
        in_features: usize,
        out_features: usize,
        bias: bool,
        config: MaskConfig,
    ) -> Result<Self> {
        let weight = MaskedWeight::new(b, &[out_features, in_features], config)?;
        let bias = if bias {
            Some(make_bias(b, out_features, &config)?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    pub fn masked(&self) -> &MaskedWeight {
        &self.weight
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.weight.effective()?;
        let y = x.matmul(&w.t()?)?;
        match (&self.bias, self.weight.config().mode) {
            (Some(b), Mode::Weights) => Ok(y.broadcast_add(b.as_tensor())?),
            _ => Ok(y),
        }
    }
}

impl Module for MaskedLinear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        MaskedLinear::forward(self, x).map_err(candle_core::Error::wrap)
    }
}

/// Square-kernel 2-D convolution with a masked weight, NCHW.
pub struct MaskedConv2d {
    weight: MaskedWeight,
    bias: Option<Var>,
    stride: usize,
    padding: usize,
}

/// Shape and stepping of a convolution.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub bias: bool,
}

impl MaskedConv2d {
    pub fn new(b: &Builder, spec: Conv2dSpec, config: MaskConfig) -> Result<Self> {
        let dims = [
            spec.out_channels,
            spec.in_channels,
            spec.kernel,
            spec.kernel,
        ];
        let weight = MaskedWeight::new(b, &dims, config)?;
        let bias = if spec.bias {
            Some(make_bias(b, spec.out_channels, &config)?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            stride: spec.stride,
            padding: spec.padding,
        })
    }

    pub fn masked(&self) -> &MaskedWeight {
        &self.weight
    }

    fn params(&self) -> Conv2dParams {
        Conv2dParams {
            stride: self.stride,
            padding: self.padding,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.weight.effective()?;
        let y = conv2d(x, &w, self.params())?;
        match (&self.bias, self.weight.config().mode) {
            (Some(b), Mode::Weights) => {
                let c = b.dim(0)?;
                Ok(y.broadcast_add(&b.as_tensor().reshape((1, c, 1, 1))?)?)
            }
            _ => Ok(y),
        }
    }

    /// `relu(forward(x))`, fused into the convolution where the kernels allow (score modes,
    /// which add no bias).
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        if self.bias.is_some() && self.weight.config().mode == Mode::Weights {
            return Ok(relu(&self.forward(x)?)?);
        }
        let w = self.weight.effective()?;
        Ok(conv2d_relu(x, &w, self.params())?)
    }

    /// Training-mode BatchNorm (batch statistics, no affine part) and ReLU after the layer,
    /// fused into one op with the convolution where the kernels allow (no bias added between).
    pub fn forward_batch_norm_relu(&self, x: &Tensor, eps: f64) -> Result<BatchNormOutput> {
        if self.bias.is_some() && self.weight.config().mode == Mode::Weights {
            return Ok(batch_norm_relu_train(&self.forward(x)?, eps)?);
        }
        let w = self.weight.effective()?;
        Ok(conv2d_batch_norm_relu_train(x, &w, self.params(), eps)?)
    }

    /// `max_pool2d(forward_relu(x), 2, 2)`, fused into one op where [`forward_relu`] is.
    ///
    /// [`forward_relu`]: MaskedConv2d::forward_relu
    pub fn forward_relu_pool2(&self, x: &Tensor) -> Result<Tensor> {
        if self.bias.is_some() && self.weight.config().mode == Mode::Weights {
            return Ok(max_pool2d(&self.forward_relu(x)?, 2, 2)?);
        }
        let w = self.weight.effective()?;
        Ok(conv2d_relu_pool2(x, &w, self.params())?)
    }
}

impl Module for MaskedConv2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        MaskedConv2d::forward(self, x).map_err(candle_core::Error::wrap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ParamStore;
    use candle_core::{DType, Device};
    use iterand_randomizer::{InitMode, RerandMode, Rerandomizer};

    fn host(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// A linear layer `(inputs, outputs)` of config `c` with seed 8.
    fn linear_of(c: MaskConfig, inputs: usize, outputs: usize, bias: bool) -> MaskedLinear {
        let store = ParamStore::new(8, Device::Cpu);
        MaskedLinear::new(&store.builder().pp("l"), inputs, outputs, bias, c).unwrap()
    }

    /// The scores' straight-through factor by hand: W, times sign(S) when ranked by |S|.
    fn score_factor(ranking: crate::Ranking, w: &[f32], s: &[f32]) -> Vec<f32> {
        w.iter()
            .zip(s)
            .map(|(&w, &s)| match ranking {
                crate::Ranking::Signed => w,
                crate::Ranking::Magnitude => w * s.signum(),
            })
            .collect()
    }

    fn cfg(mode: Mode, p: f64) -> MaskConfig {
        MaskConfig::new(mode, p, InitMode::KaimingUniform).unwrap()
    }

    fn input(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// The fused path (score mode) and the fallback (weight mode, bias added before the ReLU)
    /// both equal ReLU after the layer.
    #[test]
    fn forward_relu_is_relu_after_forward() {
        for mode in [Mode::Scores, Mode::Weights] {
            let store = ParamStore::new(5, Device::Cpu);
            let conv = MaskedConv2d::new(
                &store.builder().pp("c"),
                Conv2dSpec {
                    in_channels: 3,
                    out_channels: 4,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    bias: true,
                },
                cfg(mode, 0.5),
            )
            .unwrap();
            if mode == Mode::Weights {
                let b = store.by_role(Role::Bias)[0].1.clone();
                b.set(&Tensor::new(&[0.5f32, -0.5, 1.0, -1.0], &Device::Cpu).unwrap())
                    .unwrap();
            }
            let x = input(&[2, 3, 6, 6]);
            let fused = conv.forward_relu(&x).unwrap();
            let separate = relu(&conv.forward(&x).unwrap()).unwrap();
            let diff = (fused - separate)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap();
            assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0, "{mode:?}");
        }
    }

    #[test]
    fn masked_forward_equals_dense_forward_with_zeroed_weights() {
        let store = ParamStore::new(3, Device::Cpu);
        let conv = MaskedConv2d::new(
            &store.builder().pp("c"),
            Conv2dSpec {
                in_channels: 3,
                out_channels: 5,
                kernel: 3,
                stride: 2,
                padding: 1,
                bias: true,
            },
            cfg(Mode::Scores, 0.6),
        )
        .unwrap();
        let x = input(&[2, 3, 9, 9]);
        let y = conv.forward(&x).unwrap();
        let mask = conv.masked().mask().unwrap();
        assert_eq!(
            conv.masked().kept().unwrap(),
            crate::threshold::kept_count(135, 0.6)
        );
        let zeroed =
            (conv.masked().weight().as_tensor() * mask.to_dtype(DType::F32).unwrap()).unwrap();
        let dense = x.conv2d(&zeroed, 1, 2, 1, 1).unwrap();
        // The fast kernel sums in another order than candle's: equal to float rounding.
        let diff = (y - dense).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);

        let store = ParamStore::new(3, Device::Cpu);
        let lin = MaskedLinear::new(&store.builder().pp("l"), 7, 4, true, cfg(Mode::Scores, 0.5))
            .unwrap();
        let x = input(&[3, 7]);
        let mask = lin.masked().mask().unwrap();
        let zeroed =
            (lin.masked().weight().as_tensor() * mask.to_dtype(DType::F32).unwrap()).unwrap();
        let dense = x.matmul(&zeroed.t().unwrap()).unwrap();
        let diff = (lin.forward(&x).unwrap() - dense).unwrap().abs().unwrap();
        assert_eq!(diff.max_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
    }

    #[test]
    fn score_mode_trains_scores_only_and_weight_mode_is_dense() {
        let store = ParamStore::new(4, Device::Cpu);
        let lin = MaskedLinear::new(&store.builder().pp("l"), 6, 3, true, cfg(Mode::Scores, 0.5))
            .unwrap();
        let names: Vec<String> = store.trainable().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["l.scores"]);
        let x = input(&[4, 6]);
        let loss = lin.forward(&x).unwrap().sqr().unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let gs = g.get(lin.masked().scores().unwrap().as_tensor()).unwrap();
        assert!(
            gs.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        );
        assert!(g.get(lin.masked().weight().as_tensor()).is_none());

        let store = ParamStore::new(4, Device::Cpu);
        let lin = MaskedLinear::new(
            &store.builder().pp("l"),
            6,
            3,
            true,
            cfg(Mode::Weights, 0.5),
        )
        .unwrap();
        let names: Vec<String> = store.trainable().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["l.weight", "l.bias"]);
        assert_eq!(lin.masked().kept().unwrap(), 18);
        let y = lin.forward(&x).unwrap();
        let dense = x
            .matmul(&lin.masked().weight().as_tensor().t().unwrap())
            .unwrap();
        // The fast kernel sums in another order than candle's: equal to float rounding.
        let diff = (y - dense).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
    }

    #[test]
    fn straight_through_gradient_matches_analytic_reference() {
        // L = Σ_j y_j with y = x Wᵀ: ∂L/∂W_eff[o,i] = Σ_b x[b,i], so ∂L/∂S = W ⊙ that.
        let store = ParamStore::new(5, Device::Cpu);
        let lin = MaskedLinear::new(
            &store.builder().pp("l"),
            4,
            3,
            false,
            cfg(Mode::Scores, 0.5),
        )
        .unwrap();
        let x = input(&[2, 4]);
        let loss = lin.forward(&x).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let gs = g
            .get(lin.masked().scores().unwrap().as_tensor())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let w = lin.masked().weight().as_tensor().to_vec2::<f32>().unwrap();
        let xs = x.sum(0).unwrap().to_vec1::<f32>().unwrap();
        for o in 0..3 {
            for i in 0..4 {
                assert!((gs[o][i] - w[o][i] * xs[i]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn rerandomize_keeps_output_and_kept_weights() {
        let store = ParamStore::new(6, Device::Cpu);
        let conv = MaskedConv2d::new(
            &store.builder().pp("c"),
            Conv2dSpec {
                in_channels: 4,
                out_channels: 8,
                kernel: 3,
                stride: 1,
                padding: 1,
                bias: false,
            },
            cfg(Mode::Scores, 0.5),
        )
        .unwrap();
        let x = input(&[2, 4, 6, 6]);
        let before = conv.forward(&x).unwrap().flatten_all().unwrap();
        // Copied to the host now: `Var::set` writes into the storage that views share.
        let w0 = conv
            .masked()
            .weight()
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mask = conv.masked().mask().unwrap();
        let r = Rerandomizer::new(RerandMode::Bernoulli, 1.0, 0.0, 6).unwrap();
        conv.masked().rerandomize(1, &r).unwrap();
        let after = conv.forward(&x).unwrap().flatten_all().unwrap();
        assert_eq!(
            before.to_vec1::<f32>().unwrap(),
            after.to_vec1::<f32>().unwrap()
        );
        let w1 = conv
            .masked()
            .weight()
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let m = mask.flatten_all().unwrap().to_vec1::<u8>().unwrap();
        let changed = (0..m.len()).filter(|&i| w0[i] != w1[i]).count();
        for i in 0..m.len() {
            if m[i] == 1 {
                assert_eq!(w0[i].to_bits(), w1[i].to_bits());
            }
        }
        // r = 1: every pruned weight was re-drawn (a continuous draw repeats with prob 0)
        assert_eq!(changed, m.iter().filter(|&&k| k == 0).count());
    }

    /// After any sequence of R rounds (with the scores moving between them), each weight's
    /// value is element i of the stream of its recorded generation: the fact a ticket relies on.
    #[test]
    fn generations_name_the_stream_of_every_weight() {
        use iterand_randomizer::{draw, Purpose, Stream};
        let store = ParamStore::new(8, Device::Cpu);
        let lin = MaskedLinear::new(
            &store.builder().pp("l"),
            40,
            30,
            true,
            cfg(Mode::Scores, 0.5),
        )
        .unwrap();
        let m = lin.masked();
        assert_eq!(m.generation_values().unwrap().unwrap(), vec![0u16; 1200]);
        let r = Rerandomizer::new(RerandMode::Bernoulli, 0.3, 0.0, 8).unwrap();
        for round in 1..=6u32 {
            // move the scores so that different weights are pruned each round
            let s = m.scores().unwrap();
            let shift = input(&[30, 40]).affine(0.2 * round as f64, 0.0).unwrap();
            s.set(&(s.as_tensor() + shift).unwrap()).unwrap();
            m.rerandomize(round, &r).unwrap();
        }
        let gens = m.generation_values().unwrap().unwrap();
        let w = m
            .weight()
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for (i, (&g, &v)) in gens.iter().zip(&w).enumerate() {
            let s = Stream::new(8, Purpose::Weight, m.key(), g as u32);
            let want = draw(InitMode::KaimingUniform, 40, &s, 1200).unwrap()[i];
            assert_eq!(v.to_bits(), want.to_bits(), "weight {i}, generation {g}");
            seen.insert(g);
        }
        assert!(seen.len() >= 5, "rounds seen: {seen:?}");
        // Weight mode has none; the SGD baseline's weights are not regenerable.
        let store = ParamStore::new(8, Device::Cpu);
        let dense = MaskedLinear::new(
            &store.builder().pp("l"),
            4,
            3,
            true,
            cfg(Mode::Weights, 0.0),
        )
        .unwrap();
        assert!(dense.masked().generation_values().unwrap().is_none());
    }

    /// `recycle`: after a `bernoulli` round has made the generations differ, the positions of
    /// the lowest ranking keys take the values (and generations) of the highest, rank for rank;
    /// scores stay. `iterand_recycle` at r is the `bernoulli` re-draw at r/2, then recycling at
    /// r/2.
    #[test]
    fn recycling_moves_the_top_ranks_values_onto_the_bottom_ranks() {
        use iterand_randomizer::{moved, recycle_moves, recycled_count};
        let rr = |mode, r| Rerandomizer::new(mode, r, 0.0, 8).unwrap();
        for ranking in [crate::Ranking::Signed, crate::Ranking::Magnitude] {
            let c = MaskConfig {
                ranking,
                ..cfg(Mode::Scores, 0.5)
            };
            let layer = || linear_of(c, 40, 30, true);
            let lin = layer();
            let m = lin.masked();
            m.rerandomize(1, &rr(RerandMode::Bernoulli, 0.5)).unwrap();
            let (w1, gens1) = (host(m.weight()), m.generation_values().unwrap().unwrap());
            let scores = host(m.scores().unwrap());
            m.rerandomize(2, &rr(RerandMode::Recycle, 0.25)).unwrap();
            let keys: Vec<f32> = scores.iter().map(|&s| ranking.key(s)).collect();
            let moves = recycle_moves(&keys, recycled_count(1200, 0.25)).unwrap();
            assert_eq!(moves.len(), 300);
            let lowest_source = moves.iter().map(|&(_, s)| keys[s]).fold(f32::MAX, f32::min);
            let highest_dest = moves.iter().map(|&(d, _)| keys[d]).fold(f32::MIN, f32::max);
            assert!(highest_dest <= lowest_source, "{ranking:?}");
            assert_eq!(host(m.weight()), moved(&w1, &moves), "{ranking:?}");
            assert_eq!(
                m.generation_values().unwrap().unwrap(),
                moved(&gens1, &moves)
            );
            assert_ne!(gens1, moved(&gens1, &moves), "the generations moved");
            assert_eq!(host(m.scores().unwrap()), scores);

            let (a, b) = (layer(), layer());
            a.masked()
                .rerandomize(1, &rr(RerandMode::IterandRecycle, 0.25))
                .unwrap();
            b.masked()
                .rerandomize(1, &rr(RerandMode::Bernoulli, 0.125))
                .unwrap();
            let moves = recycle_moves(&keys, recycled_count(1200, 0.125)).unwrap();
            let want = moved(&host(b.masked().weight()), &moves);
            assert_eq!(host(a.masked().weight()), want, "{ranking:?}");
        }
    }

    /// A layer ranked by |S| sends its scores `W ⊙ sign(S) ⊙ ∂L/∂W_eff`, one ranked by S
    /// `W ⊙ ∂L/∂W_eff`.
    #[test]
    fn the_scores_gradient_follows_the_ranking() {
        for ranking in [crate::Ranking::Signed, crate::Ranking::Magnitude] {
            let c = MaskConfig {
                ranking,
                ..cfg(Mode::Scores, 0.5)
            };
            let lin = linear_of(c, 6, 5, false);
            let m = lin.masked();
            let g = m
                .effective()
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let got = host(g.get(m.scores().unwrap().as_tensor()).unwrap());
            let (w, s) = (host(m.weight()), host(m.scores().unwrap()));
            assert_eq!(got, score_factor(ranking, &w, &s), "{ranking:?}");
            assert!(s.iter().any(|&s| s < 0.0), "some scores are negative");
        }
    }

    /// biprop: the kept weights compute as α·sign(w) with α the mean |w| kept (by hand on the
    /// host), the pruned as 0, and the scores' gradient is edge-popup's for either ranking.
    #[test]
    fn biprop_layers_compute_with_alpha_times_the_sign() {
        for ranking in [crate::Ranking::Signed, crate::Ranking::Magnitude] {
            let c = MaskConfig {
                ranking,
                weight_transform: crate::WeightTransform::Biprop,
                ..cfg(Mode::Scores, 0.6)
            };
            let lin = linear_of(c, 10, 7, false);
            let m = lin.masked();
            let (w, s) = (host(m.weight()), host(m.scores().unwrap()));
            let kept: Vec<bool> = m
                .mask()
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<u8>()
                .unwrap()
                .iter()
                .map(|&k| k == 1)
                .collect();
            let n = kept.iter().filter(|&&k| k).count();
            assert_eq!(
                n, 29,
                "the official rule keeps 70 + 1 − (1 + round(0.6 · 69))"
            );
            let sum: f64 = w
                .iter()
                .zip(&kept)
                .filter(|(_, &k)| k)
                .map(|(w, _)| w.abs() as f64)
                .sum();
            let a = (sum / n as f64) as f32;
            assert_eq!(m.alpha().unwrap(), Some(a));
            let eff = m.effective().unwrap();
            let want: Vec<f32> = w
                .iter()
                .zip(&kept)
                .map(|(&w, &k)| if k { a * w.signum() } else { 0.0 })
                .collect();
            assert_eq!(host(&eff), want, "{ranking:?}");
            let g = eff.sum_all().unwrap().backward().unwrap();
            let got = host(g.get(m.scores().unwrap().as_tensor()).unwrap());
            assert_eq!(got, score_factor(ranking, &w, &s), "{ranking:?}");
        }
    }

    #[test]
    fn generations_refuse_rounds_past_u16() {
        let store = ParamStore::new(8, Device::Cpu);
        let lin = MaskedLinear::new(&store.builder().pp("l"), 4, 3, true, cfg(Mode::Scores, 0.5))
            .unwrap();
        let r = Rerandomizer::new(RerandMode::Bernoulli, 0.3, 0.0, 8).unwrap();
        lin.masked().rerandomize(65_535, &r).unwrap();
        let e = lin.masked().rerandomize(65_536, &r).unwrap_err();
        assert!(
            matches!(e, crate::Error::GenerationOverflow { round: 65_536, .. }),
            "{e}"
        );
    }

    #[test]
    fn sparsity_out_of_range_is_rejected() {
        for p in [-0.1, 1.0, 1.5] {
            let e = MaskConfig::new(Mode::Scores, p, InitMode::KaimingUniform).unwrap_err();
            assert!(e.to_string().contains("sparsity"), "{e}");
        }
    }
}
