//! BatchNorm's training-mode normalisation with a hand-written backward.
//!
//! Differentiating `(x − mean) / sqrt(var + eps)` through candle's graph costs a transposed copy
//! of the activations, a dozen passes forward and as many backward. With batch statistics the
//! gradient has a closed form, per channel over (N, H, W):
//! `dx = (g − mean(g) − y · mean(g·y)) / sqrt(var + eps)`, so one reduction pass and one
//! writing pass suffice. The affine part (SGD baselines only) stays with candle.

use crate::activation::through_relu;
use crate::alloc::filled_by_pieces;
use crate::cpu::{cpu_slice, fast_path, with_data};
use crate::lanes::multiversion;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Error, Layout, Result, Shape, Tensor, D,
};
use rayon::prelude::*;
use std::ops::Range;
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

/// `relu(batch_norm_train(x).y + skip)` as one op: a residual block's last BatchNorm, its
/// shortcut addition and the ReLU after it. Three graph nodes become one, and with them two
/// activation-sized gradient accumulations (candle adds every node's input gradient onto a fresh
/// zeros tensor) and three passes over the activations. The values are those of the three ops:
/// the same f32 expressions in the same order.
pub fn batch_norm_add_relu_train(x: &Tensor, skip: &Tensor, eps: f64) -> Result<BatchNormOutput> {
    if x.dims() != skip.dims() {
        return Err(Error::Msg(format!(
            "iterand-kernels: the shortcut {:?} does not match the BatchNorm input {:?}",
            skip.dims(),
            x.dims()
        )));
    }
    if !fast_path(x) || !fast_path(skip) {
        let mut out = batch_norm_train_candle(x, eps)?;
        out.y = (out.y + skip)?.relu()?;
        return Ok(out);
    }
    let x = x.contiguous()?;
    let (stats, out) = Stats::of(&x, eps)?;
    let y = x.apply_op2(&skip.contiguous()?, NormalizeAddRelu(stats))?;
    Ok(BatchNormOutput { y, ..out })
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
    let (stats, out) = Stats::of(&x, eps)?;
    let y = x.apply_op1(Normalize { stats, relu })?;
    Ok(BatchNormOutput { y, ..out })
}

/// A batch's per-channel statistics as the ops use them.
struct Stats {
    mean: Arc<Vec<f32>>,
    inv_std: Arc<Vec<f32>>,
    channels: usize,
    plane: usize,
}

impl Stats {
    /// The statistics of a contiguous `x (B, C, H, W)`, and the output that reports them (its
    /// `y` still `x`, for the caller to replace).
    fn of(x: &Tensor, eps: f64) -> Result<(Stats, BatchNormOutput)> {
        let (b, c, h, w) = x.dims4()?;
        let hw = h * w;
        let (mean, var) = with_data(x, |xs| Ok(channel_stats(xs, b, c, hw)))?;
        let inv_std: Vec<f32> = var
            .iter()
            .map(|v| (1.0 / (v + eps).sqrt()) as f32)
            .collect();
        let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        let var32: Vec<f32> = var.iter().map(|&v| v as f32).collect();
        let out = BatchNormOutput {
            y: x.clone(),
            mean: Tensor::from_vec(mean32.clone(), c, x.device())?,
            var: Tensor::from_vec(var32, c, x.device())?,
        };
        let stats = Stats {
            mean: Arc::new(mean32),
            inv_std: Arc::new(inv_std),
            channels: c,
            plane: hw,
        };
        Ok((stats, out))
    }

    /// (mean, 1/std) of plane `p` of the batch (planes run image by image, channel by channel).
    fn of_plane(&self, p: usize) -> (f32, f32) {
        let ch = p % self.channels;
        (self.mean[ch], self.inv_std[ch])
    }
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
        (lane_total(a), lane_total(b))
    }
}

multiversion! {
    /// Σ g' and Σ g'·ŷ over one plane, where g' is `g` cut where the fused ReLU's output `y` is
    /// 0 and ŷ = `(x − m)·s` (the shortcut added after ŷ does not enter BatchNorm's gradient);
    /// the lanes and their order are [`plane_gradient_sums`]'s.
    fn plane_gated_sums(g: &[f32], x: &[f32], y: &[f32], m: f32, s: f32) -> (f64, f64) {
        let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
        let term = |g: f32, x: f32, y: f32| {
            let g = through_relu(g, y);
            (g, g * ((x - m) * s))
        };
        let (gc, xc, yc) = (g.chunks_exact(8), x.chunks_exact(8), y.chunks_exact(8));
        let (gr, xr, yr) = (gc.remainder(), xc.remainder(), yc.remainder());
        for ((g8, x8), y8) in gc.zip(xc).zip(yc) {
            for k in 0..8 {
                let (p, q) = term(g8[k], x8[k], y8[k]);
                a[k] += p;
                b[k] += q;
            }
        }
        for ((g, x), y) in gr.iter().zip(xr).zip(yr) {
            let (p, q) = term(*g, *x, *y);
            a[0] += p;
            b[0] += q;
        }
        (lane_total(a), lane_total(b))
    }
}

/// The f64 total of eight f32 lane sums, in lane order.
#[inline(always)]
fn lane_total(l: [f32; 8]) -> f64 {
    l.iter().map(|&x| x as f64).sum()
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
    stats: Stats,
    /// Apply ReLU to the output (and differentiate through it).
    relu: bool,
}

impl Stats {
    /// mean(g) and mean(g·ŷ) per channel, from `sums(plane, its range)` = (Σ g, Σ g·ŷ) of each
    /// plane, added image by image in f64.
    fn gradient_means(
        &self,
        len: usize,
        sums: impl Fn(usize, Range<usize>) -> (f64, f64) + Sync,
    ) -> (Vec<f32>, Vec<f32>) {
        let (c, hw) = (self.channels, self.plane);
        let b = len / (c * hw);
        let count = (b * hw) as f64;
        (0..c)
            .into_par_iter()
            .map(|ch| {
                let (sg, sgy) = (0..b)
                    .map(|i| {
                        let p = i * c + ch;
                        sums(p, p * hw..(p + 1) * hw)
                    })
                    .fold((0.0, 0.0), |(a, b), (s, sy)| (a + s, b + sy));
                ((sg / count) as f32, (sgy / count) as f32)
            })
            .unzip()
    }
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
        let st = &self.stats;
        let y = filled_by_pieces(x.len(), st.plane, |p, y| {
            let (m, s) = st.of_plane(p);
            for (y, x) in y.iter_mut().zip(&x[p * st.plane..]) {
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
        let st = &self.stats;
        // With the fused ReLU the output lost the negative normalised values, so they are
        // rebuilt from x on the fly, and the upstream gradient is cut where the output is 0.
        let source = if self.relu { x } else { y };
        let dx = with_data(source, |src| {
            with_data(&grad, |gs| {
                let relu = |p: usize| self.relu.then(|| st.of_plane(p));
                let (mg, mgy) = st.gradient_means(src.len(), |p, r| {
                    plane_gradient_sums(&gs[r.clone()], &src[r], relu(p))
                });
                Ok(filled_by_pieces(src.len(), st.plane, |p, dx| {
                    let ch = p % st.channels;
                    let (a, bb, (m, s)) = (mg[ch], mgy[ch], st.of_plane(p));
                    let at = p * st.plane;
                    for ((d, v), g) in dx.iter_mut().zip(&src[at..]).zip(&gs[at..]) {
                        // (normalised value, gradient reaching the normalisation)
                        let (y, g) = if self.relu {
                            let yhat = (v - m) * s;
                            (yhat, through_relu(*g, yhat))
                        } else {
                            (*v, *g)
                        };
                        *d = (g - a - y * bb) * s;
                    }
                }))
            })
        })?;
        Ok(Some(Tensor::from_vec(dx, y.shape(), y.device())?))
    }
}

/// `relu(BatchNorm(x) + skip)` with the batch statistics in [`Stats`]; see
/// [`batch_norm_add_relu_train`].
struct NormalizeAddRelu(Stats);

impl CustomOp2 for NormalizeAddRelu {
    fn name(&self) -> &'static str {
        "iterand-batch-norm-add-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, skip) = (cpu_slice(s1, l1)?, cpu_slice(s2, l2)?);
        let st = &self.0;
        let y = filled_by_pieces(x.len(), st.plane, |p, y| {
            let (m, s) = st.of_plane(p);
            let at = p * st.plane;
            for ((y, x), k) in y.iter_mut().zip(&x[at..]).zip(&skip[at..]) {
                *y = ((x - m) * s + k).max(0.0);
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    /// The gradient through the ReLU (cut where the output is 0) is the shortcut's gradient as
    /// it is, and BatchNorm's upstream gradient.
    fn bwd(
        &self,
        x: &Tensor,
        _skip: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let st = &self.0;
        let (dx, dskip) = with_data(x, |xs| {
            with_data(y, |ys| {
                with_data(&grad, |gs| Ok(add_relu_gradients(st, xs, ys, gs)))
            })
        })?;
        let dx = Tensor::from_vec(dx, y.shape(), y.device())?;
        let dskip = Tensor::from_vec(dskip, y.shape(), y.device())?;
        Ok((Some(dx), Some(dskip)))
    }
}

/// (dx, dskip) of [`NormalizeAddRelu`] for the input `xs`, its output `ys` and the output
/// gradient `gs`.
fn add_relu_gradients(st: &Stats, xs: &[f32], ys: &[f32], gs: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (mg, mgy) = st.gradient_means(xs.len(), |p, r| {
        let (m, s) = st.of_plane(p);
        plane_gated_sums(&gs[r.clone()], &xs[r.clone()], &ys[r], m, s)
    });
    let hw = st.plane;
    // The gradient through the ReLU is the shortcut's; BatchNorm's backward starts from it.
    let dskip = filled_by_pieces(xs.len(), hw, |p, dk| {
        let at = p * hw;
        for ((k, g), y) in dk.iter_mut().zip(&gs[at..]).zip(&ys[at..]) {
            *k = through_relu(*g, *y);
        }
    });
    let dx = filled_by_pieces(xs.len(), hw, |p, dx| {
        let ch = p % st.channels;
        let (a, bb, (m, s)) = (mg[ch], mgy[ch], st.of_plane(p));
        let at = p * hw;
        for ((d, g), x) in dx.iter_mut().zip(&dskip[at..]).zip(&xs[at..]) {
            let yhat = (x - m) * s;
            *d = (g - a - yhat * bb) * s;
        }
    });
    (dx, dskip)
}
