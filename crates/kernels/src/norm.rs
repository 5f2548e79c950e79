//! BatchNorm's training-mode normalisation with a hand-written backward.
//!
//! Differentiating `(x − mean) / sqrt(var + eps)` through candle's graph costs a transposed copy
//! of the activations, a dozen passes forward and as many backward. With batch statistics the
//! gradient has a closed form, per channel over (N, H, W):
//! `dx = (g − mean(g) − y · mean(g·y)) / sqrt(var + eps)`, so one reduction pass and one
//! writing pass suffice. The affine part (SGD baselines only) stays with candle.

use crate::activation::through_relu;
use crate::cpu::{cpu_slice, fast_path, with_data};
use crate::lanes::multiversion;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;
use std::sync::Arc;

/// Normalised activations and the batch statistics they used (detached, for running stats).
pub struct BatchNormOutput {
    pub y: Tensor,
    /// Per-channel mean, shape (C).
    pub mean: Tensor,
    /// Per-channel biased variance, shape (C).
    pub var: Tensor,
}

/// Normalises `x (B, C, H, W)` per channel with its batch statistics, differentiably.
pub fn batch_norm_train(x: &Tensor, eps: f64) -> Result<BatchNormOutput> {
    normalize(x, eps, false)
}

/// `relu(batch_norm_train(x).y)` as one op (one graph node instead of two), with the same
/// statistics.
pub fn batch_norm_relu_train(x: &Tensor, eps: f64) -> Result<BatchNormOutput> {
    normalize(x, eps, true)
}

fn normalize(x: &Tensor, eps: f64, relu: bool) -> Result<BatchNormOutput> {
    if !fast_path(x) {
        let mut out = batch_norm_train_candle(x, eps)?;
        if relu {
            out.y = out.y.relu()?;
        }
        return Ok(out);
    }
    let x = x.contiguous()?;
    let (b, c, h, w) = x.dims4()?;
    let hw = h * w;
    let (mean, var) = with_data(&x, |xs| Ok(channel_stats(xs, b, c, hw)))?;
    let inv_std: Vec<f32> = var
        .iter()
        .map(|v| (1.0 / (v + eps).sqrt()) as f32)
        .collect();
    let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let var32: Vec<f32> = var.iter().map(|&v| v as f32).collect();
    let y = x.apply_op1(Normalize {
        mean: Arc::new(mean32.clone()),
        inv_std: Arc::new(inv_std),
        channels: c,
        plane: hw,
        relu,
    })?;
    Ok(BatchNormOutput {
        y,
        mean: Tensor::from_vec(mean32, c, x.device())?,
        var: Tensor::from_vec(var32, c, x.device())?,
    })
}

/// The same with candle's ops (other devices and dtypes, and the reference in tests).
pub fn batch_norm_train_candle(x: &Tensor, eps: f64) -> Result<BatchNormOutput> {
    let c = x.dim(1)?;
    let shape = (1, c, 1, 1);
    let xt = x.transpose(0, 1)?.flatten_from(1)?; // (C, N·H·W)
    let mean = xt.mean(D::Minus1)?;
    let centred = xt.broadcast_sub(&mean.unsqueeze(1)?)?;
    let var = centred.sqr()?.mean(D::Minus1)?;
    let inv_std = (&var + eps)?.sqrt()?.recip()?.reshape(shape)?;
    let y = x
        .broadcast_sub(&mean.reshape(shape)?)?
        .broadcast_mul(&inv_std)?;
    Ok(BatchNormOutput {
        y,
        mean: mean.detach().to_dtype(DType::F32)?,
        var: var.detach().to_dtype(DType::F32)?,
    })
}

multiversion! {
    /// Σ (v − k) and Σ (v − k)² over one plane, in eight float64 lanes (a single running sum
    /// kept the loop scalar: float additions may not be reordered unless written so).
    fn plane_moments(p: &[f32], k: f64) -> (f64, f64) {
        let (mut s, mut ss) = ([0f64; 8], [0f64; 8]);
        let chunks = p.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for l in 0..8 {
                let d = c[l] as f64 - k;
                s[l] += d;
                ss[l] += d * d;
            }
        }
        for &v in rest {
            let d = v as f64 - k;
            s[0] += d;
            ss[0] += d * d;
        }
        (s.iter().sum(), ss.iter().sum())
    }
}

multiversion! {
    /// Σ g and Σ g·ŷ over one plane of the output gradient `g` and the normalised values ŷ
    /// (`v` itself, or, through the fused ReLU, `(v − mean)·inv_std` with `g` zeroed where that
    /// is not positive), in eight lanes.
    fn plane_gradient_sums(g: &[f32], v: &[f32], relu: Option<(f32, f32)>) -> (f64, f64) {
        let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
        let term = |g: f32, v: f32| match relu {
            Some((m, s)) => {
                let y = (v - m) * s;
                let g = through_relu(g, y);
                (g, g * y)
            }
            None => (g, g * v),
        };
        let (gc, vc) = (g.chunks_exact(8), v.chunks_exact(8));
        let (gr, vr) = (gc.remainder(), vc.remainder());
        for (g8, v8) in gc.zip(vc) {
            for k in 0..8 {
                let (x, y) = term(g8[k], v8[k]);
                a[k] += x;
                b[k] += y;
            }
        }
        for (g, v) in gr.iter().zip(vr) {
            let (x, y) = term(*g, *v);
            a[0] += x;
            b[0] += y;
        }
        let sum = |l: [f32; 8]| l.iter().map(|&x| x as f64).sum::<f64>();
        (sum(a), sum(b))
    }
}

/// Mean and biased variance per channel in f64, in one pass over the data shifted by the
/// channel's first value (the activations can be large and far from zero: unshifted sums of
/// squares would cancel).
fn channel_stats(x: &[f32], b: usize, c: usize, hw: usize) -> (Vec<f64>, Vec<f64>) {
    let count = (b * hw) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            // One pass, shifted by the channel's first value: with k near the mean,
            // Σ(v − k)² − (Σ(v − k))²/n keeps the precision of the two-pass formula.
            let k = x[ch * hw] as f64;
            let (s, ss) = (0..b)
                .map(|i| plane_moments(&x[(i * c + ch) * hw..][..hw], k))
                .fold((0.0, 0.0), |(a, b), (s, ss)| (a + s, b + ss));
            let shift = s / count;
            (k + shift, (ss / count - shift * shift).max(0.0))
        })
        .unzip()
}

struct Normalize {
    mean: Arc<Vec<f32>>,
    inv_std: Arc<Vec<f32>>,
    channels: usize,
    plane: usize,
    /// Apply ReLU to the output (and differentiate through it).
    relu: bool,
}

impl CustomOp1 for Normalize {
    fn name(&self) -> &'static str {
        if self.relu {
            "iterand-batch-norm-relu"
        } else {
            "iterand-batch-norm"
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = cpu_slice(s, l)?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(self.plane)
            .zip(x.par_chunks(self.plane))
            .enumerate()
            .for_each(|(p, (y, x))| {
                let ch = p % self.channels;
                let (m, s) = (self.mean[ch], self.inv_std[ch]);
                for (y, x) in y.iter_mut().zip(x) {
                    *y = (x - m) * s;
                }
                if self.relu {
                    y.iter_mut().for_each(|v| *v = v.max(0.0));
                }
            });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let (c, hw) = (self.channels, self.plane);
        // With the fused ReLU the output lost the negative normalised values, so they are
        // rebuilt from x on the fly, and the upstream gradient is cut where the output is 0.
        let source = if self.relu { x } else { y };
        let dx = with_data(source, |src| {
            with_data(&grad, |gs| {
                let b = src.len() / (c * hw);
                let count = (b * hw) as f64;
                // (normalised value, gradient reaching the normalisation) of one element.
                let pre = |ch: usize, v: f32, g: f32| -> (f32, f32) {
                    if self.relu {
                        let yhat = (v - self.mean[ch]) * self.inv_std[ch];
                        (yhat, through_relu(g, yhat))
                    } else {
                        (v, g)
                    }
                };
                // mean(g) and mean(g·y) per channel.
                let (mg, mgy): (Vec<f32>, Vec<f32>) = (0..c)
                    .into_par_iter()
                    .map(|ch| {
                        let relu = self.relu.then(|| (self.mean[ch], self.inv_std[ch]));
                        let (sg, sgy) = (0..b)
                            .map(|i| {
                                let off = (i * c + ch) * hw;
                                plane_gradient_sums(&gs[off..off + hw], &src[off..off + hw], relu)
                            })
                            .fold((0.0, 0.0), |(a, b), (s, sy)| (a + s, b + sy));
                        ((sg / count) as f32, (sgy / count) as f32)
                    })
                    .unzip();
                let mut dx = vec![0f32; src.len()];
                dx.par_chunks_mut(hw)
                    .zip(src.par_chunks(hw).zip(gs.par_chunks(hw)))
                    .enumerate()
                    .for_each(|(p, (dx, (v, g)))| {
                        let ch = p % c;
                        let (a, bb, s) = (mg[ch], mgy[ch], self.inv_std[ch]);
                        for ((d, v), g) in dx.iter_mut().zip(v).zip(g) {
                            let (y, g) = pre(ch, *v, *g);
                            *d = (g - a - y * bb) * s;
                        }
                    });
                Ok(dx)
            })
        })?;
        Ok(Some(Tensor::from_vec(dx, y.shape(), y.device())?))
    }
}
