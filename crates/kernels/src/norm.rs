//! BatchNorm's training-mode normalisation with a hand-written backward.
//!
//! Differentiating `(x − mean) / sqrt(var + eps)` through candle's graph costs a transposed copy
//! of the activations, a dozen passes forward and as many backward. With batch statistics the
//! gradient has a closed form, per channel over (N, H, W):
//! `dx = (g − mean(g) − y · mean(g·y)) / sqrt(var + eps)`, so one reduction pass and one
//! writing pass suffice. The affine part (SGD baselines only) stays with candle.

use crate::activation::{relu_gradient, through_relu};
use crate::alloc::filled_by_pieces;
use crate::cpu::{cpu_slice, fast_path, with_data};
use crate::lanes::multiversion;
use crate::sums::{plane_gated_sums, plane_gradient_sums, plane_moments};
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
pub(crate) struct Stats {
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
        let (stats, var32) = with_data(x, |xs| Ok(Stats::of_slice(xs, (b, c, h * w), eps)))?;
        let out = BatchNormOutput {
            y: x.clone(),
            mean: stats.mean_tensor(x.device())?,
            var: Tensor::from_vec(var32, c, x.device())?,
        };
        Ok((stats, out))
    }

    /// The statistics of `xs`, `b` images of `c` planes of `hw` values, and the biased
    /// variance per channel (for the running statistics).
    pub(crate) fn of_slice(
        xs: &[f32],
        (b, c, hw): (usize, usize, usize),
        eps: f64,
    ) -> (Stats, Vec<f32>) {
        let (mean, var) = channel_stats(xs, b, c, hw);
        let inv_std: Vec<f32> = var
            .iter()
            .map(|v| (1.0 / (v + eps).sqrt()) as f32)
            .collect();
        let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        let var32: Vec<f32> = var.iter().map(|&v| v as f32).collect();
        let stats = Stats {
            mean: Arc::new(mean32),
            inv_std: Arc::new(inv_std),
            channels: c,
            plane: hw,
        };
        (stats, var32)
    }

    /// Per-channel means, shape (C), on `dev` (for the running statistics).
    pub(crate) fn mean_tensor(&self, dev: &candle_core::Device) -> Result<Tensor> {
        Tensor::from_vec(self.mean.to_vec(), self.channels, dev)
    }

    /// (mean, 1/std) of plane `p` of the batch (planes run image by image, channel by channel).
    pub(crate) fn of_plane(&self, p: usize) -> (f32, f32) {
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
    pub(crate) fn gradient_means(
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
            normalize_plane(&x[p * st.plane..], st.of_plane(p), self.relu, y);
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
                    let at = p * st.plane;
                    let planes = (&src[at..], &gs[at..]);
                    let stats = (mg[ch], mgy[ch], st.of_plane(p));
                    let upstream = match self.relu {
                        true => Upstream::InputThroughRelu,
                        false => Upstream::Normalised,
                    };
                    normalize_gradient_plane(planes, stats, upstream, dx);
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
            let at = p * st.plane;
            add_relu_plane(&x[at..], &skip[at..], st.of_plane(p), y);
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
        relu_gradient(&gs[at..], &ys[at..], dk);
    });
    let dx = filled_by_pieces(xs.len(), hw, |p, dx| {
        let ch = p % st.channels;
        let at = p * hw;
        let stats = (mg[ch], mgy[ch], st.of_plane(p));
        normalize_gradient_plane((&xs[at..], &dskip[at..]), stats, Upstream::Input, dx);
    });
    (dx, dskip)
}

// The element passes below are plain loops the compiler vectorises; `multiversion!` compiles them
// for AVX2 and AVX-512 too (the crate's baseline is SSE2, four lanes). Each writes `out`'s
// length, reading the same offsets of its inputs.

multiversion! {
    /// `out = (x − m)·s`, then `max(·, 0)` when `relu`, over one plane.
    pub(crate) fn normalize_plane(x: &[f32], stats: (f32, f32), relu: bool, out: &mut [f32]) {
        let ((m, s), x) = (stats, &x[..out.len()]);
        if relu {
            for (o, x) in out.iter_mut().zip(x) {
                *o = ((x - m) * s).max(0.0);
            }
        } else {
            for (o, x) in out.iter_mut().zip(x) {
                *o = (x - m) * s;
            }
        }
    }
}

multiversion! {
    /// `out = relu((x − m)·s + skip)` over one plane.
    fn add_relu_plane(x: &[f32], skip: &[f32], stats: (f32, f32), out: &mut [f32]) {
        let ((m, s), x, skip) = (stats, &x[..out.len()], &skip[..out.len()]);
        for ((o, x), k) in out.iter_mut().zip(x).zip(skip) {
            *o = ((x - m) * s + k).max(0.0);
        }
    }
}

/// What [`normalize_gradient_plane`]'s `v` holds and what gradient reaches the normalisation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Upstream {
    /// `v` is ŷ itself, `g` reaches it as it is (BatchNorm alone).
    Normalised,
    /// `v` is the input x, ŷ = `(x − m)·s`, and `g` reaches it as it is (the shortcut's
    /// gradient of the fused residual end, already cut by its ReLU).
    Input,
    /// `v` is the input x, and `g` is cut where ŷ is not positive (BatchNorm with its ReLU).
    InputThroughRelu,
}

multiversion! {
    /// BatchNorm's input gradient over one plane, `out = (g − mean(g) − ŷ·mean(g·ŷ))·s`, from
    /// `(v, g)` as `upstream` says.
    pub(crate) fn normalize_gradient_plane(
        planes: (&[f32], &[f32]),
        stats: (f32, f32, (f32, f32)),
        upstream: Upstream,
        out: &mut [f32],
    ) {
        let ((v, g), (a, bb, (m, s))) = (planes, stats);
        let (v, g) = (&v[..out.len()], &g[..out.len()]);
        let cells = out.iter_mut().zip(v).zip(g);
        match upstream {
            Upstream::Normalised => cells.for_each(|((d, v), g)| *d = (g - a - v * bb) * s),
            Upstream::Input => cells.for_each(|((d, v), g)| {
                let yhat = (v - m) * s;
                *d = (g - a - yhat * bb) * s;
            }),
            Upstream::InputThroughRelu => cells.for_each(|((d, v), g)| {
                let yhat = (v - m) * s;
                *d = (through_relu(*g, yhat) - a - yhat * bb) * s;
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::{with_level_cap, Level};

    /// Values with negatives, zeros and a length that is no multiple of any lane width.
    fn plane(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| match (i * 7 + seed) % 11 {
                0 => 0.0,
                k => (k as f32 - 5.5) * 0.37 + seed as f32 * 0.01,
            })
            .collect()
    }

    /// Every element pass gives, at every instruction set, the bits of its formula written out
    /// one element at a time here.
    #[test]
    fn element_passes_match_their_scalar_formulas_at_every_level() {
        let len = 45;
        let (x, k, g) = (plane(len, 1), plane(len, 2), plane(len, 3));
        let (m, s, a, bb) = (0.25f32, 1.7f32, -0.03f32, 0.41f32);
        let yhat: Vec<f32> = x.iter().map(|x| (x - m) * s).collect();
        let want_fwd: Vec<f32> = yhat.iter().map(|y| y.max(0.0)).collect();
        let want_add: Vec<f32> = yhat.iter().zip(&k).map(|(y, k)| (y + k).max(0.0)).collect();
        let want_gate: Vec<f32> = g
            .iter()
            .zip(&k)
            .map(|(g, y)| through_relu(*g, *y))
            .collect();
        let want_dx: Vec<f32> = (0..len)
            .map(|i| (through_relu(g[i], yhat[i]) - a - yhat[i] * bb) * s)
            .collect();
        let want_plain: Vec<f32> = (0..len).map(|i| (g[i] - a - x[i] * bb) * s).collect();
        let want_ungated: Vec<f32> = (0..len).map(|i| (g[i] - a - yhat[i] * bb) * s).collect();
        for cap in [Level::Base, Level::V3, Level::V4] {
            let out = with_level_cap(cap, || {
                let mut o = vec![vec![f32::NAN; len]; 7];
                let planes = (&x[..], &g[..]);
                let stats = (a, bb, (m, s));
                normalize_plane(&x, (m, s), false, &mut o[0]);
                normalize_plane(&x, (m, s), true, &mut o[1]);
                add_relu_plane(&x, &k, (m, s), &mut o[2]);
                relu_gradient(&g, &k, &mut o[3]);
                normalize_gradient_plane(planes, stats, Upstream::InputThroughRelu, &mut o[4]);
                normalize_gradient_plane(planes, stats, Upstream::Normalised, &mut o[5]);
                normalize_gradient_plane(planes, stats, Upstream::Input, &mut o[6]);
                o
            });
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            let wants = [
                &yhat,
                &want_fwd,
                &want_add,
                &want_gate,
                &want_dx,
                &want_plain,
                &want_ungated,
            ];
            for (i, want) in wants.into_iter().enumerate() {
                assert_eq!(bits(&out[i]), bits(want), "pass {i} at {cap:?}");
            }
        }
    }
}
