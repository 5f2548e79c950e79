//! The im2col + GEMM convolution and its registration with candle's autograd.
//!
//! A batch is cut into chunks of whole images, one rayon task each, so the column matrices stay
//! small (a few MiB, never the whole batch's) and the reshuffles run on every core alongside the
//! GEMMs. Per chunk of n images, with N = n·Ho·Wo columns and K = C·kh·kw:
//!
//! - forward: `Y (O × N) = W (O × K) · cols (K × N)`;
//! - weight gradient: `dW (O × K) += dY (O × N) · colsᵀ`, cols rebuilt rather than kept from
//!   the forward (memory stays at one chunk);
//! - input gradient: `dcols (K × N) = Wᵀ · dY`, then col2im.
//!
//! `Y` and `dY` of a one-image chunk are the NCHW tensors themselves; larger chunks (small
//! images, where one image is too few columns for the GEMM) gather them with one copy per
//! (image, channel) plane.

use crate::activation::{max_pool2d, pool2_forward_recorded, relu_gradient, unpool2_through_relu};
use crate::alloc::{filled_by_pieces, zeroed};
use crate::cpu::{cpu_slice, fast_path, with_data};
use crate::layout::{col2im, im2col, transpose, Geometry};
use crate::matmul::{matmul, Dst, View};
use crate::norm::{normalize_gradient_plane, Stats, Upstream};
use crate::scratch::Scratch;
use crate::variant;
use crate::winograd::{self, Chunk, Tiles};
use candle_core::{CpuStorage, CustomOp2, DType, Error, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::sync::Mutex;

/// Stride and zero padding, equal along both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    pub stride: usize,
    pub padding: usize,
}

/// 2-D convolution of `x (B, C, H, W)` with `w (O, C, kh, kw)`, no dilation, one group.
///
/// The fast im2col + GEMM kernel for f32 on the CPU, candle's `conv2d` everywhere else; the two
/// agree to float rounding (tested), so callers need not care which ran.
pub fn conv2d(x: &Tensor, w: &Tensor, p: Conv2dParams) -> Result<Tensor> {
    if fast_path(x) && w.dtype() == DType::F32 {
        conv2d_fast(x, w, p)
    } else {
        x.conv2d(w, p.padding, p.stride, 1, 1)
    }
}

/// `relu(conv2d(x, w))` as one op: the ReLU runs on each chunk's output while it is in cache,
/// and the graph has one node instead of two (candle's autograd spends a zeros tensor and an
/// addition per node on activation-sized gradients).
pub fn conv2d_relu(x: &Tensor, w: &Tensor, p: Conv2dParams) -> Result<Tensor> {
    if fast_path(x) && w.dtype() == DType::F32 {
        apply(x, w, p, Epilogue::Relu)
    } else {
        x.conv2d(w, p.padding, p.stride, 1, 1)?.relu()
    }
}

/// `max_pool2d(relu(conv2d(x, w)), 2, 2)` as one op (Conv2–Conv8 end each pair of layers
/// so). Each chunk's output is pooled while it is in cache; the full-size activation is never
/// kept, only which of each window's four values won (a byte per pooled value); and the graph
/// loses the pooling's node, whose activation-sized gradient candle's autograd would add onto
/// a zeros tensor. The same bits as the three ops (tested).
pub fn conv2d_relu_pool2(x: &Tensor, w: &Tensor, p: Conv2dParams) -> Result<Tensor> {
    if fast_path(x) && w.dtype() == DType::F32 {
        apply(x, w, p, Epilogue::ReluPool2(Mutex::default()))
    } else {
        max_pool2d(&x.conv2d(w, p.padding, p.stride, 1, 1)?.relu()?, 2, 2)
    }
}

/// The fast kernel itself; errors on a non-CPU device or a dtype other than f32.
pub fn conv2d_fast(x: &Tensor, w: &Tensor, p: Conv2dParams) -> Result<Tensor> {
    apply(x, w, p, Epilogue::None)
}

fn apply(x: &Tensor, w: &Tensor, p: Conv2dParams, epilogue: Epilogue) -> Result<Tensor> {
    let g = geometry(x.dims(), w.dims(), p)?;
    if matches!(epilogue, Epilogue::ReluPool2(_)) && (g.ho < 2 || g.wo < 2) {
        return Err(Error::Msg(format!(
            "conv2d_relu_pool2: a 2×2 pooling window does not fit the {}×{} output",
            g.ho, g.wo
        )));
    }
    let x = x.contiguous()?;
    let w = w.contiguous()?;
    x.apply_op2(&w, Conv2dOp { p, epilogue })
}

/// Validates the shapes and derives the output size.
pub(crate) fn geometry(x: &[usize], w: &[usize], p: Conv2dParams) -> Result<Geometry> {
    let (&[_, c, h, wi], &[o, cw, kh, kw]) = (x, w) else {
        return Err(Error::Msg(format!(
            "conv2d: expected input (B, C, H, W) and kernel (O, C, kh, kw), got {x:?} and {w:?}"
        )));
    };
    if c != cw {
        return Err(Error::Msg(format!(
            "conv2d: input has {c} channels but the kernel expects {cw} (input {x:?}, kernel {w:?})"
        )));
    }
    if p.stride == 0 || kh == 0 || kw == 0 || h + 2 * p.padding < kh || wi + 2 * p.padding < kw {
        return Err(Error::Msg(format!(
            "conv2d: kernel {kh}×{kw} with stride {} and padding {} does not fit input {h}×{wi}",
            p.stride, p.padding
        )));
    }
    Ok(Geometry {
        c,
        h,
        w: wi,
        o,
        kh,
        kw,
        stride: p.stride,
        pad: p.padding,
        ho: (h + 2 * p.padding - kh) / p.stride + 1,
        wo: (wi + 2 * p.padding - kw) / p.stride + 1,
    })
}

/// Floats of column matrix a chunk aims for: 2 MiB, about one core's L2. Measured on Conv6's
/// second layer: 93 GFLOP/s with one image (2.4 MiB) per GEMM, 73 with three (7 MiB).
const CHUNK_FLOATS: usize = 1 << 19;

/// The fewest chunks a batch is cut into. A constant, not the thread count: a chunk's images
/// are the unit in which the weight gradient sums (see [`chunked_backward`]), so chunk sizes
/// that followed the threads would make a run's bits follow them too. Eight keeps a
/// workstation's cores busy; with more threads than chunks the GEMMs fan out instead.
const MIN_CHUNKS: usize = 8;

/// Images per chunk (a function of the batch and the layer only) and whether the GEMM itself
/// should fan out (when there are fewer chunks than threads, e.g. evaluating one image).
fn chunking(batch: usize, g: &Geometry) -> (usize, Parallelism) {
    let per_image = (g.ho * g.wo * g.k()).max(1);
    per_chunk_and_fan_out(batch, CHUNK_FLOATS / per_image)
}

/// `by_memory` images per chunk at most, and at least [`MIN_CHUNKS`] chunks when the batch has
/// that many images. The GEMM's own parallelism does not change its sums (the reduction
/// dimension is never split across threads: tested in `matmul`).
fn per_chunk_and_fan_out(batch: usize, by_memory: usize) -> (usize, Parallelism) {
    let per_chunk = by_memory.min(batch.div_ceil(MIN_CHUNKS)).max(1);
    let threads = rayon::current_num_threads().max(1);
    let par = if batch.div_ceil(per_chunk) < threads {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    (per_chunk, par)
}

/// The column matrix of `n` images, or the image itself for a one-image pointwise chunk.
enum Columns<'a> {
    Borrowed(&'a [f32]),
    Owned(Scratch),
}

impl std::ops::Deref for Columns<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            Columns::Borrowed(s) => s,
            Columns::Owned(s) => s,
        }
    }
}

fn columns<'a>(x: &'a [f32], n: usize, g: &Geometry) -> Columns<'a> {
    if n == 1 && g.is_pointwise() {
        return Columns::Borrowed(x);
    }
    let mut cols = Scratch::take(g.k() * n * g.ho * g.wo);
    im2col(x, n, g, &mut cols);
    Columns::Owned(cols)
}

/// Copies the chunk's channel-major (O, n·pix) layout back into NCHW (n, O, pix).
fn channel_major_to_planes(cm: &[f32], n: usize, o: usize, pix: usize, out: &mut [f32]) {
    for i in 0..n {
        for c in 0..o {
            out[(i * o + c) * pix..][..pix].copy_from_slice(&cm[(c * n + i) * pix..][..pix]);
        }
    }
}

/// What lies between the convolution and the op's output, as the backward sees it: how the
/// op's output gradient becomes the convolution's.
#[derive(Clone, Copy)]
pub(crate) enum Through<'a> {
    /// Nothing: the op's output is the convolution's.
    Nothing,
    /// A ReLU, with the op's output.
    Relu(&'a [f32]),
    /// A ReLU then 2×2 pooling, with the op's (pooled) output and each window's recorded first
    /// maximum.
    ReluPool2 { y: &'a [f32], wins: &'a [u8] },
    /// BatchNorm then ReLU ([`crate::conv2d_batch_norm_relu_train`]), with the convolution's
    /// output `x` (BatchNorm's input), the batch statistics and the per-channel means of the
    /// gradient and of the gradient times ŷ.
    NormRelu {
        x: &'a [f32],
        stats: &'a Stats,
        means: (&'a [f32], &'a [f32]),
    },
}

impl Through<'_> {
    /// Values per output plane of the op.
    fn plane_len(&self, g: &Geometry) -> usize {
        match self {
            Through::ReluPool2 { .. } => (g.ho / 2) * (g.wo / 2),
            _ => g.ho * g.wo,
        }
    }
}

/// The convolution's output gradient for the chunk of `n` images from `i0`, as the GEMMs want
/// it: through the op's epilogue, and channel-major (O, n·pix) when `channel_major`, else NCHW.
/// `dy` is the op's whole output gradient.
fn output_gradient<'a>(
    dy: &'a [f32],
    through: Through<'_>,
    (i0, n): (usize, usize),
    g: &Geometry,
    channel_major: bool,
) -> Columns<'a> {
    let (o, pix, q) = (g.o, g.ho * g.wo, through.plane_len(g));
    let channel_major = channel_major && n > 1;
    let dy = &dy[i0 * o * q..][..n * o * q];
    if matches!(through, Through::Nothing) && !channel_major {
        return Columns::Borrowed(dy);
    }
    let mut out = Scratch::take(n * o * pix);
    for i in 0..n {
        for c in 0..o {
            let p = i * o + c;
            let dst = if channel_major {
                (c * n + i) * pix
            } else {
                p * pix
            };
            let (dst, src, at) = (&mut out[dst..][..pix], &dy[p * q..][..q], (i0 * o + p) * q);
            match through {
                Through::Nothing => dst.copy_from_slice(src),
                Through::Relu(y) => relu_gradient(src, &y[at..][..q], dst),
                Through::ReluPool2 { y, wins } => {
                    let (y, wins) = (&y[at..][..q], &wins[at..][..q]);
                    unpool2_through_relu(src, y, wins, g.ho, g.wo, dst)
                }
                Through::NormRelu { x, stats, means } => {
                    let st = (means.0[c], means.1[c], stats.of_plane(i0 * o + p));
                    let planes = (&x[at..][..q], src);
                    normalize_gradient_plane(planes, st, Upstream::InputThroughRelu, dst)
                }
            }
        }
    }
    Columns::Owned(out)
}

/// How a layer's batch is convolved: images per chunk, the GEMMs' fan-out, and the kernel.
struct Plan {
    per_chunk: usize,
    par: Parallelism,
    kernel: Kernel,
}

enum Kernel {
    /// Winograd on these tiles, with the transformed weights.
    Winograd {
        tiles: Tiles,
        u: Vec<f32>,
    },
    Im2col,
}

fn plan(w: &[f32], g: &Geometry, batch: usize) -> Plan {
    if winograd::applies(g) {
        let tiles = variant::tiles_for(g);
        let (per_chunk, par) = winograd_chunking(batch, g, tiles);
        let u = variant::kernel_for(tiles, w, g.o, g.c, false);
        let kernel = Kernel::Winograd { tiles, u };
        Plan {
            per_chunk,
            par,
            kernel,
        }
    } else {
        let (per_chunk, par) = chunking(batch, g);
        Plan {
            per_chunk,
            par,
            kernel: Kernel::Im2col,
        }
    }
}

/// The forward of chunk `i` (`y.len() / out_len` images) into `y`, every element written.
fn forward_chunk(
    plan: &Plan,
    (x, w): (&[f32], &[f32]),
    g: &Geometry,
    i: usize,
    relu: bool,
    y: &mut [f32],
) {
    let n = y.len() / g.out_len();
    let x = &x[i * plan.per_chunk * g.in_len()..][..n * g.in_len()];
    let par = plan.par;
    match &plan.kernel {
        Kernel::Winograd { tiles, u } => {
            let chunk = Chunk {
                n,
                from: g.c,
                to: g.o,
                tiles: *tiles,
                par,
            };
            variant::convolve(x, u, chunk, relu, y);
        }
        Kernel::Im2col => {
            let (pix, k) = (g.ho * g.wo, g.k());
            let cols = columns(x, n, g);
            let (wv, cv) = (View::rows(w, g.o, k), View::rows(&cols, k, n * pix));
            if n == 1 {
                matmul(y, Dst::RowMajor, wv, cv, false, par);
            } else {
                let mut out = Scratch::take(g.o * n * pix);
                matmul(&mut out, Dst::RowMajor, wv, cv, false, par);
                channel_major_to_planes(&out, n, g.o, pix, y);
            }
            if relu {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
    }
}

pub(crate) fn forward(x: &[f32], w: &[f32], g: &Geometry, batch: usize, relu: bool) -> Vec<f32> {
    let plan = plan(w, g, batch);
    filled_by_pieces(batch * g.out_len(), plan.per_chunk * g.out_len(), |i, y| {
        forward_chunk(&plan, (x, w), g, i, relu, y)
    })
}

/// The forward of [`conv2d_relu_pool2`]: the pooled output, and each window's first maximum.
/// Each chunk is convolved into a scratch buffer and pooled from there.
fn forward_pooled(x: &[f32], w: &[f32], g: &Geometry, batch: usize) -> (Vec<f32>, Vec<u8>) {
    let plan = plan(w, g, batch);
    let (pix, q) = (g.ho * g.wo, (g.ho / 2) * (g.wo / 2));
    let piece = plan.per_chunk * g.o * q;
    let mut wins = vec![0u8; batch * g.o * q];
    let mut y: Vec<f32> = Vec::with_capacity(batch * g.o * q);
    y.spare_capacity_mut()[..batch * g.o * q]
        .par_chunks_mut(piece.max(1))
        .zip(wins.par_chunks_mut(piece.max(1)))
        .enumerate()
        .for_each(|(i, (y, wins))| {
            let y = zeroed(y);
            let planes = y.len() / q;
            let mut full = Scratch::take(planes * pix);
            forward_chunk(&plan, (x, w), g, i, true, &mut full);
            for (p, (y, wins)) in y
                .chunks_exact_mut(q)
                .zip(wins.chunks_exact_mut(q))
                .enumerate()
            {
                pool2_forward_recorded(&full[p * pix..][..pix], g.ho, g.wo, y, wins);
            }
        });
    // SAFETY: the pieces cover the first batch · o · q elements, each initialised by `zeroed`.
    unsafe { y.set_len(batch * g.o * q) };
    (y, wins)
}

/// Images per chunk for the Winograd path: its buffers hold 16 (F(2×2)) or 36 (F(4×4))
/// transformed values per tile and channel, input and output side, and a chunk aims at
/// [`CHUNK_FLOATS`] of them.
fn winograd_chunking(batch: usize, g: &Geometry, tiles: Tiles) -> (usize, Parallelism) {
    let per_image = (tiles.xi() * (g.c + g.o) * tiles.per_image()).max(1);
    per_chunk_and_fan_out(batch, CHUNK_FLOATS / per_image)
}

/// Accumulators the weight gradient is summed into: chunks go to them by index, in contiguous
/// runs. A constant for the same reason as [`MIN_CHUNKS`].
const GROUPS: usize = 8;

/// Runs `f(first image, images, dx chunk, dW accumulator)` over the batch's chunks in
/// parallel and returns dX and the summed accumulators.
///
/// The weight gradient is a reduction over the batch, so its order is fixed by the data alone:
/// chunks (a size set by the layer and the batch) go to [`GROUPS`] accumulators by index, each
/// sums its chunks in order, and the accumulators are added in index order. Neither the thread
/// count nor work stealing changes a bit (rayon's fold/reduce would pair partial sums by
/// stealing, and groups per thread would follow the core count).
fn chunked_backward(
    batch: usize,
    per_chunk: usize,
    in_len: usize,
    need_dx: bool,
    acc_len: Option<usize>,
    f: impl Fn(usize, usize, Option<&mut [f32]>, Option<&mut [f32]>) + Sync,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    // dX's chunks are zeroed as each is reached (in cache, for col2im to add into), not in a
    // pass of their own over the whole gradient first.
    let mut dx: Option<Vec<f32>> = need_dx.then(|| Vec::with_capacity(batch * in_len));
    let chunks = batch.div_ceil(per_chunk);
    let dx_chunks: Vec<Option<&mut [MaybeUninit<f32>]>> = match dx.as_mut() {
        Some(dx) => dx.spare_capacity_mut()[..batch * in_len]
            .chunks_mut(per_chunk * in_len)
            .map(Some)
            .collect(),
        None => (0..chunks).map(|_| None).collect(),
    };
    let per_group = chunks.div_ceil(GROUPS).max(1);
    let partials: Vec<Vec<f32>> = dx_chunks
        .into_iter()
        .enumerate()
        .collect::<Vec<_>>()
        .into_par_iter()
        .chunks(per_group)
        .map(|group| {
            let mut acc = acc_len.map(|len| vec![0.0f32; len]);
            for (ci, dx_chunk) in group {
                let i0 = ci * per_chunk;
                let dx_chunk = dx_chunk.map(zeroed);
                f(i0, per_chunk.min(batch - i0), dx_chunk, acc.as_deref_mut());
            }
            acc
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect();
    if let Some(dx) = dx.as_mut() {
        // SAFETY: the chunks cover the first batch · in_len elements, and every chunk, each
        // in exactly one group, was initialised by `zeroed`.
        unsafe { dx.set_len(batch * in_len) };
    }
    (dx, sum_in_order(partials))
}

/// Element-wise sum of `parts`, each element adding the parts in index order (the elements are
/// shared out among threads; the order within one is fixed).
fn sum_in_order(mut parts: Vec<Vec<f32>>) -> Option<Vec<f32>> {
    if parts.is_empty() {
        return None;
    }
    let rest = parts.split_off(1);
    let mut acc = parts.pop()?;
    const SLICE: usize = 1 << 14;
    acc.par_chunks_mut(SLICE).enumerate().for_each(|(i, a)| {
        for part in &rest {
            let p = &part[i * SLICE..][..a.len()];
            a.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
    });
    Some(acc)
}

/// Both gradients in one sweep over the chunks (they share the chunk's output gradient).
pub(crate) fn backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    through: Through,
    g: &Geometry,
    need_dx: bool,
    need_dw: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    if winograd::applies(g) {
        return backward_winograd(x, w, dy, through, g, need_dx, need_dw);
    }
    let batch = x.len() / g.in_len();
    let (per_chunk, par) = chunking(batch, g);
    let (pix, k) = (g.ho * g.wo, g.k());
    let (dx, dw_t) = chunked_backward(
        batch,
        per_chunk,
        g.in_len(),
        need_dx,
        need_dw.then_some(g.o * k),
        |i0, n, dx_chunk, acc| {
            let cols_n = n * pix;
            let dyc = output_gradient(dy, through, (i0, n), g, true);
            let dyv = View::rows(&dyc, g.o, cols_n);
            if let Some(acc) = acc {
                let cols = columns(&x[i0 * g.in_len()..(i0 + n) * g.in_len()], n, g);
                // dW is accumulated column-major (see `Dst`), i.e. as dWᵀ (K × O).
                let cv = View::rows(&cols, k, cols_n).t();
                matmul(acc, Dst::ColMajor, dyv, cv, true, par);
            }
            if let Some(dx) = dx_chunk {
                let wt = View::rows(w, g.o, k).t();
                if n == 1 && g.is_pointwise() {
                    matmul(dx, Dst::RowMajor, wt, dyv, false, par);
                } else {
                    let mut dcols = Scratch::take(k * cols_n);
                    matmul(&mut dcols, Dst::RowMajor, wt, dyv, false, par);
                    col2im(&dcols, n, g, dx);
                }
            }
        },
    );
    let dw = need_dw.then(|| {
        let mut dw = vec![0.0; w.len()];
        if let Some(dw_t) = dw_t {
            transpose(&dw_t, k, g.o, &mut dw);
        }
        dw
    });
    (dx, dw)
}

fn backward_winograd(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    through: Through,
    g: &Geometry,
    need_dx: bool,
    need_dw: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let batch = x.len() / g.in_len();
    let tiles = variant::tiles_for(g);
    let (per_chunk, par) = winograd_chunking(batch, g, tiles);
    let u_flip = need_dx.then(|| variant::kernel_for(tiles, w, g.o, g.c, true));
    let (dx, du) = chunked_backward(
        batch,
        per_chunk,
        g.in_len(),
        need_dx,
        need_dw.then_some(tiles.xi() * g.o * g.c),
        |i0, n, dx_chunk, acc| {
            let dyc = output_gradient(dy, through, (i0, n), g, false);
            let chunk = Chunk {
                n,
                from: g.c,
                to: g.o,
                tiles,
                par,
            };
            if let Some(acc) = acc {
                let x = &x[i0 * g.in_len()..(i0 + n) * g.in_len()];
                variant::accumulate(x, &dyc, chunk, acc);
            }
            if let (Some(dx), Some(u)) = (dx_chunk, &u_flip) {
                // The input gradient is the forward from the output's channels to the input's.
                let back = Chunk {
                    from: g.o,
                    to: g.c,
                    ..chunk
                };
                variant::convolve(&dyc, u, back, false, dx);
            }
        },
    );
    let dw = need_dw.then(|| {
        let mut dw = vec![0.0; w.len()];
        if let Some(du) = du {
            variant::gradient_for(tiles, &du, g.o, g.c, &mut dw);
        }
        dw
    });
    (dx, dw)
}

/// What the op applies after the convolution.
enum Epilogue {
    None,
    Relu,
    /// ReLU, then 2×2 max-pooling; the forward records each window's first maximum here for
    /// the backward.
    ReluPool2(Mutex<Vec<u8>>),
}

/// The candle op: forward on CPU storage, backward producing both gradients at once.
struct Conv2dOp {
    p: Conv2dParams,
    epilogue: Epilogue,
}

fn poisoned<T>(_: T) -> Error {
    Error::Msg("iterand-kernels: conv2d_relu_pool2's record lock poisoned".into())
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        match self.epilogue {
            Epilogue::None => "iterand-conv2d",
            Epilogue::Relu => "iterand-conv2d-relu",
            Epilogue::ReluPool2(_) => "iterand-conv2d-relu-pool2",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = geometry(l1.dims(), l2.dims(), self.p)?;
        let batch = l1.dims()[0];
        let (x, w) = (cpu_slice(s1, l1)?, cpu_slice(s2, l2)?);
        let (y, shape) = match &self.epilogue {
            Epilogue::ReluPool2(record) => {
                let (y, wins) = forward_pooled(x, w, &g, batch);
                *record.lock().map_err(poisoned)? = wins;
                (y, (batch, g.o, g.ho / 2, g.wo / 2))
            }
            e => {
                let relu = matches!(e, Epilogue::Relu);
                (forward(x, w, &g, batch, relu), (batch, g.o, g.ho, g.wo))
            }
        };
        Ok((CpuStorage::F32(y), Shape::from(shape)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = geometry(x.dims(), w.dims(), self.p)?;
        let grad = grad.contiguous()?;
        let (need_dx, need_dw) = (x.track_op(), w.track_op());
        let run = |through: Through| {
            with_data(x, |xs| {
                with_data(w, |ws| {
                    with_data(&grad, |gs| {
                        Ok(backward(xs, ws, gs, through, &g, need_dx, need_dw))
                    })
                })
            })
        };
        let grads = match &self.epilogue {
            Epilogue::None => run(Through::Nothing)?,
            Epilogue::Relu => with_data(res, |y| run(Through::Relu(y)))?,
            Epilogue::ReluPool2(record) => {
                let wins = record.lock().map_err(poisoned)?;
                with_data(res, |y| run(Through::ReluPool2 { y, wins: &wins }))?
            }
        };
        as_tensors(grads, x, w)
    }
}

/// A convolution's two gradients as tensors shaped as its input `x` and kernel `w`.
pub(crate) fn as_tensors(
    (dx, dw): (Option<Vec<f32>>, Option<Vec<f32>>),
    x: &Tensor,
    w: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let dx = dx
        .map(|v| Tensor::from_vec(v, x.shape(), x.device()))
        .transpose()?;
    let dw = dw
        .map(|v| Tensor::from_vec(v, w.shape(), w.device()))
        .transpose()?;
    Ok((dx, dw))
}
