//! SGD's update of one variable in one pass over its elements.
//!
//! The tensor formula (`iterand-train`'s `Sgd`) makes eight parameter-sized tensors a variable,
//! three passes of ResNet-50's 100 MiB of scores per operation. This computes each element with
//! the same f32 operations in the same order, so the bits are the same (tested in
//! `iterand-train` against the formula): `x * k` on a tensor is candle's affine
//! `x * (k as f32) + 0`, written out here.

use crate::cpu::{fast_path, with_data};
use candle_core::{Result, Tensor};
use rayon::prelude::*;

/// PyTorch's SGD constants for one update, as the caller's configuration holds them.
#[derive(Clone, Copy, Debug)]
pub struct SgdCoeffs {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
}

/// The constants as candle applies them (f32), `None` where a term is off.
struct Coeffs {
    wd: Option<f32>,
    mu: Option<f32>,
    damp1: f32,
    nesterov: bool,
    lr: f32,
}

/// The new θ and momentum buffer (None without momentum) for gradient `g` and the previous
/// buffer `buf` (None on the first step), or None where the fast path does not apply (not
/// CPU f32, or sizes that differ): the caller then runs the tensor formula.
pub fn sgd_update(
    c: &SgdCoeffs,
    theta: &Tensor,
    g: &Tensor,
    buf: Option<&Tensor>,
) -> Result<Option<(Tensor, Option<Tensor>)>> {
    let k = Coeffs {
        wd: (c.weight_decay != 0.0).then_some(c.weight_decay as f32),
        mu: (c.momentum != 0.0).then_some(c.momentum as f32),
        damp1: (1.0 - c.dampening) as f32,
        nesterov: c.nesterov,
        lr: c.lr as f32,
    };
    let buf = buf.filter(|_| k.mu.is_some());
    let n = theta.elem_count();
    let same = g.elem_count() == n && buf.is_none_or(|b| b.elem_count() == n);
    if !same || !fast_path(theta) || !fast_path(g) || !buf.is_none_or(fast_path) {
        return Ok(None);
    }
    let (theta_c, g_c) = (theta.contiguous()?, g.contiguous()?);
    let buf_c = buf.map(Tensor::contiguous).transpose()?;
    let (theta_new, b_new) = with_data(&theta_c, |t| {
        with_data(&g_c, |g| match &buf_c {
            Some(b) => with_data(b, |b| Ok(run(&k, t, g, Some(b)))),
            None => Ok(run(&k, t, g, None)),
        })
    })?;
    let dev = theta.device();
    let b_new = match k.mu {
        Some(_) => Some(Tensor::from_vec(b_new, theta.shape(), dev)?),
        None => None,
    };
    Ok(Some((
        Tensor::from_vec(theta_new, theta.shape(), dev)?,
        b_new,
    )))
}

/// One element: (new θ, new buffer).
#[inline(always)]
fn element(k: &Coeffs, theta: f32, g: f32, b: Option<f32>) -> (f32, f32) {
    let mut d = g;
    if let Some(wd) = k.wd {
        d += theta * wd + 0.0;
    }
    let mut nb = 0.0;
    if let Some(mu) = k.mu {
        nb = match b {
            None => d,
            Some(b) => (b * mu + 0.0) + (d * k.damp1 + 0.0),
        };
        d = if k.nesterov { d + (nb * mu + 0.0) } else { nb };
    }
    (theta - (d * k.lr + 0.0), nb)
}

/// Every element, in parallel pieces (each element's value depends on its inputs only); the
/// buffer comes back empty without momentum.
fn run(k: &Coeffs, t: &[f32], g: &[f32], b: Option<&[f32]>) -> (Vec<f32>, Vec<f32>) {
    const PIECE: usize = 1 << 14;
    let mut theta = vec![0f32; t.len()];
    let mut nb = vec![0f32; t.len()];
    theta
        .par_chunks_mut(PIECE)
        .zip(nb.par_chunks_mut(PIECE))
        .enumerate()
        .for_each(|(i, (tp, bp))| {
            let at = i * PIECE;
            for (j, (nt, nbv)) in tp.iter_mut().zip(bp).enumerate() {
                (*nt, *nbv) = element(k, t[at + j], g[at + j], b.map(|b| b[at + j]));
            }
        });
    if k.mu.is_none() {
        nb = Vec::new();
    }
    (theta, nb)
}
