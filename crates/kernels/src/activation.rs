//! ReLU and max-pooling with one-pass backwards.
//!
//! candle differentiates `relu` as `grad · (x ≥ 0)` built from four tensor ops (a zeros tensor,
//! a comparison, a cast, a product) and max-pooling from about eight (upsampling, equality
//! masks, average pooling); on Conv6's first activations each op is a pass over 32 MiB. These
//! ops do the same in one pass each, with PyTorch's conventions: ReLU's derivative at 0 is 0, and
//! a pooling window sends its gradient to its first maximum only.

use crate::alloc::filled_by_pieces;
use crate::cpu::{cpu_slice, fast_path, with_data};
use crate::lanes::multiversion;
use candle_core::{CpuStorage, CustomOp1, Error, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Elements per rayon task for elementwise passes.
const GRAIN: usize = 1 << 15;

/// max(x, 0); gradient `grad` where the output is positive, else 0.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if fast_path(x) {
        x.contiguous()?.apply_op1(Relu)
    } else {
        x.relu()
    }
}

struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "iterand-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = cpu_slice(s, l)?;
        let y = filled_by_pieces(x.len(), GRAIN, |i, y| {
            for (y, x) in y.iter_mut().zip(&x[i * GRAIN..]) {
                *y = x.max(0.0);
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let dx = with_data(y, |y| {
            with_data(&grad, |g| {
                Ok(filled_by_pieces(y.len(), GRAIN, |i, dx| {
                    relu_gradient(&g[i * GRAIN..], &y[i * GRAIN..], dx)
                }))
            })
        })?;
        Ok(Some(Tensor::from_vec(dx, y.shape(), y.device())?))
    }
}

/// `g` where the ReLU output `y` is positive, else 0 (also 0 at exactly 0, as PyTorch). A bit
/// mask rather than a `select`, which became a branch per element in the loops using it.
#[inline(always)]
pub(crate) fn through_relu(g: f32, y: f32) -> f32 {
    let keep = ((y > 0.0) as u32).wrapping_neg();
    f32::from_bits(g.to_bits() & keep)
}

multiversion! {
    /// [`through_relu`] over slices: `out = g` where `y > 0`, else 0 (compiled for AVX2 and
    /// AVX-512 too: at the crate's SSE2 baseline it was 2 % of a Conv6 step).
    pub(crate) fn relu_gradient(g: &[f32], y: &[f32], out: &mut [f32]) {
        let (g, y) = (&g[..out.len()], &y[..out.len()]);
        for ((o, g), y) in out.iter_mut().zip(g).zip(y) {
            *o = through_relu(*g, *y);
        }
    }
}

/// Max-pooling of `x (B, C, H, W)` with a square `kernel` and `stride`, no padding, floor
/// rounding (PyTorch's `max_pool2d(x, kernel, stride)`).
pub fn max_pool2d(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if kernel == 0 || stride == 0 || h < kernel || w < kernel {
        return Err(Error::Msg(format!(
            "max_pool2d: kernel {kernel} with stride {stride} does not fit input {h}×{w}"
        )));
    }
    if fast_path(x) {
        x.contiguous()?.apply_op1(MaxPool { kernel, stride })
    } else {
        x.max_pool2d_with_stride(kernel, stride)
    }
}

struct MaxPool {
    kernel: usize,
    stride: usize,
}

impl MaxPool {
    fn out(&self, size: usize) -> usize {
        (size - self.kernel) / self.stride + 1
    }

    /// Calls `f(output index, input index of the window's first maximum)` for one plane.
    #[inline(always)]
    fn argmax(&self, plane: &[f32], h: usize, w: usize, mut f: impl FnMut(usize, usize)) {
        let (ho, wo) = (self.out(h), self.out(w));
        for oy in 0..ho {
            for ox in 0..wo {
                let mut best = (oy * self.stride) * w + ox * self.stride;
                for ky in 0..self.kernel {
                    let row = (oy * self.stride + ky) * w + ox * self.stride;
                    for i in row..row + self.kernel {
                        // `>` keeps the first maximum; a NaN wins, as in PyTorch.
                        if plane[i] > plane[best] || plane[i].is_nan() && !plane[best].is_nan() {
                            best = i;
                        }
                    }
                }
                f(oy * wo + ox, best);
            }
        }
    }
}

/// Which of a 2×2 window's values `(a, b, c, d)` (row-major) is its first maximum, NaN winning
/// as in PyTorch, and that value. Written as selects, not branches, so loops over windows
/// vectorize.
#[inline(always)]
fn first_max4(a: f32, b: f32, c: f32, d: f32) -> (u32, f32) {
    let (mut k, mut m) = (0u32, a);
    for (i, v) in [(1u32, b), (2, c), (3, d)] {
        let take = v > m || (v.is_nan() & !m.is_nan());
        k = if take { i } else { k };
        m = if take { v } else { m };
    }
    (k, m)
}

multiversion! {
    /// 2×2, stride-2 max-pooling of one plane (the common case; Conv2–Conv8 pool this way).
    fn pool2_forward(plane: &[f32], h: usize, w: usize, y: &mut [f32]) {
        let wo = w / 2;
        for (oy, out) in y.chunks_exact_mut(wo).enumerate().take(h / 2) {
            let r0 = &plane[2 * oy * w..][..2 * wo];
            let r1 = &plane[(2 * oy + 1) * w..][..2 * wo];
            for ((o, p0), p1) in out.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
                *o = first_max4(p0[0], p0[1], p1[0], p1[1]).1;
            }
        }
    }
}

multiversion! {
    /// [`pool2_forward`] that also records which of each window's four values (row-major, 0–3)
    /// was its first maximum, in `wins`: the fused convolution's backward
    /// ([`unpool2_through_relu`]) then needs neither the window's values nor the full-size
    /// activation they were in.
    pub(crate) fn pool2_forward_recorded(
        plane: &[f32],
        h: usize,
        w: usize,
        y: &mut [f32],
        wins: &mut [u8],
    ) {
        let wo = w / 2;
        let rows = y.chunks_exact_mut(wo).zip(wins.chunks_exact_mut(wo));
        for (oy, (out, k)) in rows.enumerate().take(h / 2) {
            let r0 = &plane[2 * oy * w..][..2 * wo];
            let r1 = &plane[(2 * oy + 1) * w..][..2 * wo];
            let windows = r0.chunks_exact(2).zip(r1.chunks_exact(2));
            for ((o, k), (p0, p1)) in out.iter_mut().zip(k.iter_mut()).zip(windows) {
                let (first, max) = first_max4(p0[0], p0[1], p1[0], p1[1]);
                (*o, *k) = (max, first as u8);
            }
        }
    }
}

multiversion! {
    /// The gradient of ReLU then [`pool2_forward_recorded`], for one `h × w` plane of the
    /// convolution's output: each window's gradient `g`, through the ReLU at the window's
    /// maximum (the pooled output `y`), goes to the recorded position, 0 to the other three and
    /// to a last odd row or column. The same values as [`pool2_backward`] followed by
    /// [`relu_gradient`] on the full plane (the ReLU output at the maximum is the pooled value).
    pub(crate) fn unpool2_through_relu(
        g: &[f32],
        y: &[f32],
        wins: &[u8],
        h: usize,
        w: usize,
        dx: &mut [f32],
    ) {
        let wo = w / 2;
        for oy in 0..h / 2 {
            let (d0, d1) = dx[2 * oy * w..][..2 * w].split_at_mut(w);
            let (g, y, wins) = (&g[oy * wo..][..wo], &y[oy * wo..][..wo], &wins[oy * wo..][..wo]);
            // Blocks of WINDOWS windows as arrays (window by window, the stores stayed scalar).
            let blocks = wo / WINDOWS * WINDOWS;
            for ox in (0..blocks).step_by(WINDOWS) {
                let (mut v, mut k) = ([0f32; WINDOWS], [0u32; WINDOWS]);
                for i in 0..WINDOWS {
                    (v[i], k[i]) = (through_relu(g[ox + i], y[ox + i]), wins[ox + i] as u32);
                }
                let (q0, q1) = (&mut d0[2 * ox..][..2 * WINDOWS], &mut d1[2 * ox..][..2 * WINDOWS]);
                for i in 0..WINDOWS {
                    q0[2 * i] = to_first_max(v[i], k[i], 0);
                    q0[2 * i + 1] = to_first_max(v[i], k[i], 1);
                    q1[2 * i] = to_first_max(v[i], k[i], 2);
                    q1[2 * i + 1] = to_first_max(v[i], k[i], 3);
                }
            }
            for ox in blocks..wo {
                let (v, k) = (through_relu(g[ox], y[ox]), wins[ox] as u32);
                d0[2 * ox] = to_first_max(v, k, 0);
                d0[2 * ox + 1] = to_first_max(v, k, 1);
                d1[2 * ox] = to_first_max(v, k, 2);
                d1[2 * ox + 1] = to_first_max(v, k, 3);
            }
            if w % 2 == 1 {
                (d0[w - 1], d1[w - 1]) = (0.0, 0.0);
            }
        }
        if h % 2 == 1 {
            dx[(h - 1) * w..][..w].fill(0.0);
        }
    }
}

/// Windows [`pool2_backward`] handles as one block: eight, one vector of first-maximum indices.
const WINDOWS: usize = 8;

multiversion! {
    /// The gradient of [`pool2_forward`] for one plane: each window's gradient to its first
    /// maximum, 0 to the rest of it. Every entry of `dx` is written (a last odd row or column,
    /// which no window reaches, gets 0), so `dx` needs no zeroing pass. Rows of windows go in
    /// blocks of [`WINDOWS`], written without branches so that a block is a few vector
    /// instructions (window by window it was 5 % of a Conv6 step).
    fn pool2_backward(plane: &[f32], g: &[f32], h: usize, w: usize, dx: &mut [MaybeUninit<f32>]) {
        let wo = w / 2;
        for (oy, g) in g.chunks_exact(wo).enumerate().take(h / 2) {
            let (r0, r1) = plane[2 * oy * w..][..2 * w].split_at(w);
            let (d0, d1) = dx[2 * oy * w..][..2 * w].split_at_mut(w);
            let blocks = wo / WINDOWS * 2 * WINDOWS;
            let (b0, b1) = (r0[..blocks].chunks_exact(2 * WINDOWS), r1.chunks_exact(2 * WINDOWS));
            let (q0, q1) = (d0[..blocks].chunks_exact_mut(2 * WINDOWS), d1.chunks_exact_mut(2 * WINDOWS));
            for ((((r0, r1), g), q0), q1) in b0.zip(b1).zip(g.chunks_exact(WINDOWS)).zip(q0).zip(q1) {
                window_block(r0, r1, g, q0, q1);
            }
            for ox in blocks / 2..wo {
                let (p0, p1) = (&r0[2 * ox..][..2], &r1[2 * ox..][..2]);
                let k = first_max4(p0[0], p0[1], p1[0], p1[1]).0;
                d0[2 * ox].write(to_first_max(g[ox], k, 0));
                d0[2 * ox + 1].write(to_first_max(g[ox], k, 1));
                d1[2 * ox].write(to_first_max(g[ox], k, 2));
                d1[2 * ox + 1].write(to_first_max(g[ox], k, 3));
            }
            if w % 2 == 1 {
                d0[w - 1].write(0.0);
                d1[w - 1].write(0.0);
            }
        }
        if h % 2 == 1 {
            dx[(h - 1) * w..].iter_mut().for_each(|d| {
                d.write(0.0);
            });
        }
    }
}

/// `g` if window position `j` (row-major in its 2×2 window) is the window's first maximum `k`,
/// else 0: a bit mask rather than a select, so blocks of windows stay branch-free.
#[inline(always)]
fn to_first_max(g: f32, k: u32, j: u32) -> f32 {
    f32::from_bits(g.to_bits() & ((k == j) as u32).wrapping_neg())
}

/// [`pool2_backward`] for [`WINDOWS`] windows side by side: rows `r0`, `r1` of their inputs,
/// their gradients `g`, and the two rows of `dx` they cover (each exactly a block long).
#[inline(always)]
fn window_block(
    r0: &[f32],
    r1: &[f32],
    g: &[f32],
    q0: &mut [MaybeUninit<f32>],
    q1: &mut [MaybeUninit<f32>],
) {
    let (r0, r1, g) = (&r0[..2 * WINDOWS], &r1[..2 * WINDOWS], &g[..WINDOWS]);
    let (q0, q1) = (&mut q0[..2 * WINDOWS], &mut q1[..2 * WINDOWS]);
    // The windows' four values as four vectors, then first_max4's steps on whole vectors
    // (window by window, the comparisons stayed scalar).
    let mut v = [[0f32; WINDOWS]; 4];
    for i in 0..WINDOWS {
        [v[0][i], v[1][i], v[2][i], v[3][i]] = [r0[2 * i], r0[2 * i + 1], r1[2 * i], r1[2 * i + 1]];
    }
    let (mut k, mut m) = ([0u32; WINDOWS], v[0]);
    for (j, v) in v.iter().enumerate().skip(1) {
        for i in 0..WINDOWS {
            let take = (v[i] > m[i]) | (v[i].is_nan() & !m[i].is_nan());
            k[i] = if take { j as u32 } else { k[i] };
            m[i] = if take { v[i] } else { m[i] };
        }
    }
    for i in 0..WINDOWS {
        q0[2 * i].write(to_first_max(g[i], k[i], 0));
        q0[2 * i + 1].write(to_first_max(g[i], k[i], 1));
        q1[2 * i].write(to_first_max(g[i], k[i], 2));
        q1[2 * i + 1].write(to_first_max(g[i], k[i], 3));
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "iterand-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = cpu_slice(s, l)?;
        let (b, c, h, w) = l.shape().dims4()?;
        let (ho, wo) = (self.out(h), self.out(w));
        let pool2 = self.kernel == 2 && self.stride == 2;
        let y = filled_by_pieces(b * c * ho * wo, ho * wo, |p, y| {
            let plane = &x[p * h * w..][..h * w];
            if pool2 {
                pool2_forward(plane, h, w, y);
            } else {
                self.argmax(plane, h, w, |o, i| y[o] = plane[i]);
            }
        });
        Ok((CpuStorage::F32(y), Shape::from((b, c, ho, wo))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, h, w) = x.dims4()?;
        let grad = grad.contiguous()?;
        let dx = with_data(x, |x| {
            with_data(&grad, |g| {
                Ok(if self.kernel == 2 && self.stride == 2 {
                    pool2_gradient(x, g, h, w)
                } else {
                    self.gradient(x, g, h, w)
                })
            })
        })?;
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

impl MaxPool {
    /// The general gradient: windows may overlap, so `dx` starts at zero and accumulates.
    fn gradient(&self, x: &[f32], g: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (ho, wo) = (self.out(h), self.out(w));
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(h * w)
            .zip(x.par_chunks(h * w).zip(g.par_chunks(ho * wo)))
            .for_each(|(dx, (plane, g))| self.argmax(plane, h, w, |o, i| dx[i] += g[o]));
        dx
    }
}

/// The 2×2, stride-2 gradient of planes `x` with output gradient `g`, into a buffer that is
/// never zeroed: [`pool2_backward`] writes each of its elements once.
fn pool2_gradient(x: &[f32], g: &[f32], h: usize, w: usize) -> Vec<f32> {
    let (ho, wo) = (h / 2, w / 2);
    let mut dx = Vec::with_capacity(x.len());
    dx.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(h * w)
        .zip(x.par_chunks(h * w).zip(g.par_chunks(ho * wo)))
        .for_each(|(dx, (plane, g))| pool2_backward(plane, g, h, w, dx));
    // SAFETY: the planes cover the first x.len() elements, and pool2_backward initialises
    // every element of its plane (each window's four, then any last odd row and column).
    unsafe { dx.set_len(x.len()) };
    dx
}
