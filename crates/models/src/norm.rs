//! BatchNorm as the official code uses it.
//!
//! In score modes it is non-affine (no γ, β at all) with running statistics, and in the SGD
//! baseline affine, as the official code; `bn_type` ([`BnType`]) chooses either for any method
//! (biprop's `*-affine-*` configs learn γ and β beside the scores). Training normalises with the batch statistics (biased variance) and
//! updates the running ones with momentum 0.1, the variance unbiased (×n/(n−1)), as PyTorch does;
//! evaluation uses the running statistics. The running statistics live in the parameter store
//! (role `NormStat`), so they are saved and restored with the model, and nothing else writes them.
//!
//! Figure 3's ResNet-50 and -101 ran under DataParallel on two GPUs, so each BatchNorm saw the
//! batch in two `torch.chunk` pieces. With `replicas` > 1 one device does the same: each chunk
//! is normalised with its own statistics, the gradient is that of the whole batch's loss (the
//! replicas' sum), and the running statistics follow chunk 0 alone, because DataParallel's
//! replica 0 shares its buffers with the module and the other replicas' updates are dropped.

use candle_core::{DType, Tensor, Var};
use iterand_kernels::{
    batch_norm_add_relu_train, batch_norm_relu_train, batch_norm_train, relu, BatchNormOutput,
};
use iterand_masking::{Builder, Mode, Role};
use serde::{Deserialize, Serialize};

use crate::Result;

/// Whether BatchNorm learns a scale and shift (γ, β) per channel. The names are those of
/// biprop's and hidden-networks' `bn_type` (`NonAffineBatchNorm`, `AffineBatchNorm`), in
/// this project's snake case.
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
pub enum BnType {
    /// No γ, β: the score methods' default.
    NonAffine,
    /// Trainable γ (from 1) and β (from 0): the SGD baseline's default.
    Affine,
}

impl BnType {
    /// Every variant, in declaration order (derived).
    pub const ALL: &'static [BnType] = <BnType as strum::VariantArray>::VARIANTS;

    /// The name config files use.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The official code's choice for a method of `mode`: affine only where weights train.
    pub fn default_for(mode: Mode) -> Self {
        match mode {
            Mode::Weights => BnType::Affine,
            Mode::Scores => BnType::NonAffine,
        }
    }
}

impl std::fmt::Display for BnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub const MOMENTUM: f64 = 0.1;
pub const EPS: f64 = 1e-5;

/// 2-D batch normalisation over (N, H, W) per channel.
pub struct BatchNorm2d {
    running_mean: Var,
    running_var: Var,
    affine: Option<(Var, Var)>,
    channels: usize,
    replicas: usize,
}

impl BatchNorm2d {
    /// Trainable γ, β when `bn_type` is affine.
    pub fn new(b: &Builder, channels: usize, bn_type: BnType) -> Result<Self> {
        let running_mean = b.var_const("running_mean", 0.0, channels, Role::NormStat, false)?;
        let running_var = b.var_const("running_var", 1.0, channels, Role::NormStat, false)?;
        let affine = match bn_type {
            BnType::Affine => Some((
                b.var_const("weight", 1.0, channels, Role::NormAffine, true)?,
                b.var_const("bias", 0.0, channels, Role::NormAffine, true)?,
            )),
            BnType::NonAffine => None,
        };
        Ok(Self {
            running_mean,
            running_var,
            affine,
            channels,
            replicas: 1,
        })
    }

    /// Training statistics over `replicas` chunks of each batch, as DataParallel on that many
    /// devices (1: the whole batch).
    pub fn with_replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    pub fn running_mean(&self) -> &Var {
        &self.running_mean
    }

    pub fn running_var(&self) -> &Var {
        &self.running_var
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_inner(x, train, Tail::None)
    }

    /// `relu(forward_t(x))`; in training without the affine part (score modes) one fused op.
    pub fn forward_relu_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if train && self.affine.is_none() {
            self.forward_inner(x, train, Tail::Relu)
        } else {
            Ok(relu(&self.forward_t(x, train)?)?)
        }
    }

    /// `relu(forward_t(x) + skip)`, a residual block's end; in training without the affine
    /// part one fused op, with the same values.
    pub fn forward_add_relu_t(&self, x: &Tensor, skip: &Tensor, train: bool) -> Result<Tensor> {
        if train && self.affine.is_none() {
            self.forward_inner(x, train, Tail::AddRelu(skip))
        } else {
            Ok(relu(&(self.forward_t(x, train)? + skip)?)?)
        }
    }

    /// Whether a training-mode forward can be fused with the convolution before it
    /// ([`Self::record`] then takes the fused op's output): no affine part, one replica.
    pub fn fuses(&self, train: bool) -> bool {
        train && self.affine.is_none() && self.replicas == 1
    }

    /// The output of a normalisation done elsewhere (fused with its convolution), whose
    /// statistics update the running ones as [`Self::forward_t`]'s own would.
    pub fn record(&self, out: BatchNormOutput) -> Result<Tensor> {
        let (n, _, h, w) = out.y.dims4()?;
        self.update_running(&out, n * h * w)?;
        Ok(out.y)
    }

    /// Momentum update of the running statistics from one normalisation of `count` values a
    /// channel, the variance made unbiased (×n/(n−1)), as PyTorch.
    fn update_running(&self, out: &BatchNormOutput, count: usize) -> Result<()> {
        let (count, m) = (count as f64, MOMENTUM);
        let unbiased = if count > 1.0 {
            (&out.var * (count / (count - 1.0)))?
        } else {
            out.var.clone()
        };
        let rm = ((self.running_mean.as_tensor() * (1.0 - m))? + (&out.mean * m)?)?;
        let rv = ((self.running_var.as_tensor() * (1.0 - m))? + (unbiased * m)?)?;
        self.running_mean.set(&rm.to_dtype(DType::F32)?)?;
        self.running_var.set(&rv.to_dtype(DType::F32)?)?;
        Ok(())
    }

    fn forward_inner(&self, x: &Tensor, train: bool, tail: Tail) -> Result<Tensor> {
        let c = self.channels;
        let shape = (1, c, 1, 1);
        let mut y = if train {
            let (n, _, h, w) = x.dims4()?;
            // torch.chunk: pieces of ceil(n / replicas), the last one shorter
            let piece = n.div_ceil(self.replicas);
            let outs = (0..n)
                .step_by(piece)
                .map(|s| normalize(x, s, piece.min(n - s), tail))
                .collect::<Result<Vec<_>>>()?;
            // the running statistics follow chunk 0, as DataParallel's replica 0
            self.update_running(&outs[0], piece.min(n) * h * w)?;
            let ys: Vec<&Tensor> = outs.iter().map(|o| &o.y).collect();
            Tensor::cat(&ys, 0)?
        } else {
            let mean = self.running_mean.as_tensor().reshape(shape)?;
            let inv_std = (self.running_var.as_tensor() + EPS)?
                .sqrt()?
                .recip()?
                .reshape(shape)?;
            x.broadcast_sub(&mean)?.broadcast_mul(&inv_std)?
        };
        if let Some((g, b)) = &self.affine {
            y = y
                .broadcast_mul(&g.as_tensor().reshape(shape)?)?
                .broadcast_add(&b.as_tensor().reshape(shape)?)?;
        }
        Ok(y)
    }
}

/// What a training-mode normalisation is fused with.
#[derive(Clone, Copy)]
enum Tail<'a> {
    None,
    Relu,
    /// The shortcut added before the ReLU.
    AddRelu(&'a Tensor),
}

/// The normalisation with batch statistics and its gradient, of images `start..start + len` of
/// `x` (a replica's piece): iterand-kernels.
fn normalize(x: &Tensor, start: usize, len: usize, tail: Tail) -> Result<BatchNormOutput> {
    let x = x.narrow(0, start, len)?;
    Ok(match tail {
        Tail::None => batch_norm_train(&x, EPS)?,
        Tail::Relu => batch_norm_relu_train(&x, EPS)?,
        Tail::AddRelu(skip) => batch_norm_add_relu_train(&x, &skip.narrow(0, start, len)?, EPS)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use iterand_masking::ParamStore;

    /// One channel, batch of 2 images of 1×2 pixels: values 1, 3, 5, 7 (and 0, 0, 0, 4 in the
    /// second channel). Hand-computed: mean 4, biased var 5, unbiased var 20/3.
    #[test]
    fn train_and_eval_against_hand_computed_values() {
        let store = ParamStore::new(0, Device::Cpu);
        let bn = BatchNorm2d::new(&store.builder().pp("bn"), 2, BnType::NonAffine).unwrap();
        // x[n][c][0][w]
        let x = Tensor::new(
            &[[[[1f32, 3.]], [[0., 0.]]], [[[5., 7.]], [[0., 4.]]]],
            &Device::Cpu,
        )
        .unwrap();
        let y = bn.forward_t(&x, true).unwrap();
        let y0: Vec<f32> = y
            .narrow(1, 0, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let s = (5.0f32 + 1e-5).sqrt();
        let want = [(1. - 4.) / s, (3. - 4.) / s, (5. - 4.) / s, (7. - 4.) / s];
        for (a, b) in y0.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{y0:?}");
        }
        // running: mean 0.9·0 + 0.1·4 = 0.4; var 0.9·1 + 0.1·20/3 = 1.5666…
        let rm = bn.running_mean().as_tensor().to_vec1::<f32>().unwrap();
        let rv = bn.running_var().as_tensor().to_vec1::<f32>().unwrap();
        assert!((rm[0] - 0.4).abs() < 1e-6 && (rv[0] - (0.9 + 2.0 / 3.0)).abs() < 1e-6);
        // channel 2: values 0, 0, 0, 4: mean 1, biased var 3, unbiased 4
        assert!((rm[1] - 0.1).abs() < 1e-6 && (rv[1] - (0.9 + 0.4)).abs() < 1e-6);
        // a second training step compounds: mean 0.9·0.4 + 0.1·4 = 0.76
        bn.forward_t(&x, true).unwrap();
        let rm = bn.running_mean().as_tensor().to_vec1::<f32>().unwrap();
        assert!((rm[0] - 0.76).abs() < 1e-6);
        // evaluation uses the running statistics and changes nothing
        let rv = bn.running_var().as_tensor().to_vec1::<f32>().unwrap();
        let e = bn.forward_t(&x, false).unwrap();
        let e0: Vec<f32> = e
            .narrow(1, 0, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!((e0[0] - (1.0 - 0.76) / (rv[0] + 1e-5).sqrt()).abs() < 1e-5);
        assert_eq!(
            bn.running_mean().as_tensor().to_vec1::<f32>().unwrap()[0],
            rm[0]
        );
        // non-affine: nothing trainable; affine: γ and β
        assert!(store.trainable().is_empty());
        let store = ParamStore::new(0, Device::Cpu);
        BatchNorm2d::new(&store.builder().pp("bn"), 2, BnType::Affine).unwrap();
        let names: Vec<String> = store.trainable().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["bn.weight", "bn.bias"]);
    }

    /// Affine, by hand on the data above (channel 0: 1, 3, 5, 7, so x̂ = (x − 4)/√(5 + ε)):
    /// y = γ·x̂ + β with γ = 2, β = 1 set; the loss Σ y over image 0 of channel 0 (x̂ = −3/s,
    /// −1/s) sends ∂L/∂γ = −4/s and ∂L/∂β = 2 to channel 0 and nothing to channel 1. The fused
    /// ReLU path falls back and gives relu(y).
    #[test]
    fn affine_scale_and_shift_by_hand() {
        let dev = Device::Cpu;
        let store = ParamStore::new(0, dev.clone());
        let bn = BatchNorm2d::new(&store.builder().pp("bn"), 2, BnType::Affine).unwrap();
        let t = store.trainable();
        let (gamma, beta) = (&t[0].1, &t[1].1);
        gamma.set(&Tensor::new(&[2f32, 1.], &dev).unwrap()).unwrap();
        beta.set(&Tensor::new(&[1f32, 0.], &dev).unwrap()).unwrap();
        let x = Tensor::new(
            &[[[[1f32, 3.]], [[0., 0.]]], [[[5., 7.]], [[0., 4.]]]],
            &dev,
        )
        .unwrap();
        let y = bn.forward_t(&x, true).unwrap();
        let s = (5f64 + EPS).sqrt();
        let first = y.narrow(0, 0, 1).unwrap().narrow(1, 0, 1).unwrap();
        let got: Vec<f32> = first.flatten_all().unwrap().to_vec1().unwrap();
        let want = [(1.0 - 6.0 / s) as f32, (1.0 - 2.0 / s) as f32];
        assert!(
            got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{got:?}"
        );
        let g = first.sum_all().unwrap().backward().unwrap();
        let dg: Vec<f32> = g.get(gamma.as_tensor()).unwrap().to_vec1().unwrap();
        let db: Vec<f32> = g.get(beta.as_tensor()).unwrap().to_vec1().unwrap();
        assert!(
            (dg[0] - (-4.0 / s) as f32).abs() < 1e-6 && dg[1] == 0.0,
            "{dg:?}"
        );
        assert_eq!(db, [2.0, 0.0]);
        let r = bn.forward_relu_t(&x, true).unwrap();
        assert!(close(&r, &relu(&y).unwrap()) == 0.0);
    }

    fn assert_same_running_stats(a: &BatchNorm2d, b: &BatchNorm2d) {
        for (x, y) in [
            (a.running_mean(), b.running_mean()),
            (a.running_var(), b.running_var()),
        ] {
            assert_eq!(
                x.as_tensor().to_vec1::<f32>().unwrap(),
                y.as_tensor().to_vec1::<f32>().unwrap()
            );
        }
    }

    /// The fused BatchNorm + ReLU gives relu(forward_t) and the same running statistics, in
    /// training (fused op) and evaluation (fallback).
    #[test]
    fn forward_relu_matches_relu_after_forward() {
        let x = Tensor::new(
            &[[[[1f32, -3.]], [[0., 2.]]], [[[5., 7.]], [[-1., 4.]]]],
            &Device::Cpu,
        )
        .unwrap();
        let make = || {
            let store = ParamStore::new(0, Device::Cpu);
            let bn = BatchNorm2d::new(&store.builder().pp("bn"), 2, BnType::NonAffine).unwrap();
            (store, bn)
        };
        let ((_s1, fused), (_s2, plain)) = (make(), make());
        for train in [true, false] {
            let a = fused.forward_relu_t(&x, train).unwrap();
            let b = relu(&plain.forward_t(&x, train).unwrap()).unwrap();
            let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
            assert!(d.to_scalar::<f32>().unwrap() < 1e-6, "train {train}");
        }
        assert_same_running_stats(&fused, &plain);
    }

    /// The fused residual end gives relu(forward_t + skip) to the bit and the same running
    /// statistics, in training (fused op) and evaluation (fallback); affine, training falls
    /// back too.
    #[test]
    fn forward_add_relu_matches_relu_of_the_sum() {
        let x = Tensor::new(
            &[[[[1f32, -3.]], [[0., 2.]]], [[[5., 7.]], [[-1., 4.]]]],
            &Device::Cpu,
        )
        .unwrap();
        let skip = Tensor::new(
            &[[[[0.5f32, -1.]], [[0.25, -2.]]], [[[1., 0.]], [[3., -0.5]]]],
            &Device::Cpu,
        )
        .unwrap();
        for &bn_type in BnType::ALL {
            let make = || {
                let store = ParamStore::new(0, Device::Cpu);
                let bn = BatchNorm2d::new(&store.builder().pp("bn"), 2, bn_type).unwrap();
                (store, bn)
            };
            let ((_s1, fused), (_s2, plain)) = (make(), make());
            for train in [true, false] {
                let a = fused.forward_add_relu_t(&x, &skip, train).unwrap();
                let b = relu(&(plain.forward_t(&x, train).unwrap() + &skip).unwrap()).unwrap();
                let (a, b) = (a.flatten_all().unwrap(), b.flatten_all().unwrap());
                let a = a.to_vec1::<f32>().unwrap();
                assert_eq!(a, b.to_vec1::<f32>().unwrap(), "{bn_type} train {train}");
                assert!(a.contains(&0.0) && a.iter().any(|&v| v > 0.0));
            }
            assert_same_running_stats(&fused, &plain);
        }
    }

    /// Training forward of `b` with tail 0 (none), 1 (ReLU) or 2 (shortcut + ReLU), the
    /// shortcut's rows those of x: images 3 and 4 when x is the second half of five.
    fn run_tail(b: &BatchNorm2d, x: &Tensor, tail: usize, skip: &Tensor) -> Tensor {
        let n = x.dim(0).unwrap();
        let start = if n == 2 { 3 } else { 0 };
        match tail {
            0 => b.forward_t(x, true).unwrap(),
            1 => b.forward_relu_t(x, true).unwrap(),
            _ => b
                .forward_add_relu_t(x, &skip.narrow(0, start, n).unwrap(), true)
                .unwrap(),
        }
    }

    fn close(a: &Tensor, b: &Tensor) -> f32 {
        let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        d.to_scalar::<f32>().unwrap()
    }

    /// Two replicas equal two separate BatchNorms on the two torch.chunk halves: forward,
    /// gradient of the whole batch's loss, and running statistics (those of the first half),
    /// with and without the fused ReLU or shortcut + ReLU (whose shortcut is cut into the same
    /// halves). An odd batch splits 3 + 2, as torch.chunk does.
    #[test]
    fn replicas_equal_separate_passes_over_the_chunks() {
        let dev = Device::Cpu;
        let vals: Vec<f32> = (0..5 * 2 * 2 * 3)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 4.0)
            .collect();
        let x = Var::from_vec(vals, (5, 2, 2, 3), &dev).unwrap();
        let weights = Tensor::arange(0f32, 60.0, &dev)
            .unwrap()
            .reshape((5, 2, 2, 3))
            .unwrap()
            .cos()
            .unwrap();
        let bn = |replicas| {
            let store = ParamStore::new(0, dev.clone());
            let bn = BatchNorm2d::new(&store.builder().pp("bn"), 2, BnType::NonAffine)
                .unwrap()
                .with_replicas(replicas);
            (store, bn)
        };
        let skip = weights.sin().unwrap();
        // 0: BatchNorm alone, 1: fused ReLU, 2: fused shortcut addition and ReLU.
        for fused in [0, 1, 2] {
            let run = |b: &BatchNorm2d, x: &Tensor| run_tail(b, x, fused, &skip);
            let ((_g, ghost), (_a, first), (_b, second), (_w, whole)) =
                (bn(2), bn(1), bn(1), bn(1));
            let y = run(&ghost, x.as_tensor());
            let halves = Tensor::cat(
                &[
                    run(&first, &x.narrow(0, 0, 3).unwrap()),
                    run(&second, &x.narrow(0, 3, 2).unwrap()),
                ],
                0,
            )
            .unwrap();
            assert!(close(&y, &halves) < 1e-6, "fused {fused}");
            let plain = run(&whole, x.as_tensor());
            assert!(close(&y, &plain) > 1e-2, "the chunks' statistics differ");
            let grad = |t: &Tensor| {
                let g = (t * &weights)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                g.get(x.as_tensor()).unwrap().clone()
            };
            assert!(close(&grad(&y), &grad(&halves)) < 1e-5, "fused {fused}");
            assert_same_running_stats(&ghost, &first);
        }
    }
}
