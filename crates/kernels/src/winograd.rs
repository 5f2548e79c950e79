//! Winograd's minimal filtering F(2×2, 3×3) for 3×3 convolutions with stride 1 and padding 1,
//! the shape of every Conv6/Conv4/Conv2 layer and most ResNet layers.
//!
//! im2col + GEMM spends 9 multiply-adds per output per input channel; F(2×2, 3×3) computes a
//! 2×2 output tile from a 4×4 input tile with 16, i.e. 4 per output: 2.25× fewer. The
//! multiply-adds are still one GEMM per tile position ξ (16 of them), so they run at the GEMM's
//! rate, and the transforms are additions (and halvings) of small tiles (Lavin & Gray, "Fast
//! Algorithms for Convolutional Neural Networks", 2016):
//!
//! - forward: `V = Bᵀ d B` per input tile and channel, `U = G g Gᵀ` per kernel,
//!   `M_ξ (O × T) = U_ξ (O × C) · V_ξ (C × T)`, output tile `Aᵀ M A`;
//! - input gradient: stride 1 and padding 1 make it the same convolution of dY with the kernel
//!   flipped and its channel axes swapped, so it is the forward again;
//! - weight gradient: the adjoint of the forward, `dU_ξ (O × C) = Σ_t (A dY_t Aᵀ)_ξ · V_ξ,t`,
//!   then `dW = Gᵀ dU G`.
//!
//! Buffers are laid out `[ξ][channel][tile]`, tiles of a chunk of images numbered image by image
//! and row by row, so every transform reads and writes contiguous runs along a row of tiles.
//! Images with an odd side get a last tile that overhangs the output; its extra outputs are
//! computed from zero padding and dropped.

use crate::lanes::{multiversion, sweep_over, whole_lanes, Kernel, Lane};
use crate::layout::Geometry;
use crate::matmul::{matmul, Dst, View};
use crate::scratch::Scratch;
use gemm::Parallelism;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the Winograd path off (or back on) for the whole process, so benchmarks can compare it
/// with im2col + GEMM in the same binary. Both compute the same convolution.
pub fn set_winograd(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Fewer channels than this on either side leave the GEMMs too thin to gain from the transforms
/// (the 3-channel input layer stays with im2col).
const MIN_CHANNELS: usize = 4;

/// Whether a convolution takes the Winograd path.
pub(crate) fn applies(g: &Geometry) -> bool {
    ENABLED.load(Ordering::Relaxed)
        && g.kh == 3
        && g.kw == 3
        && g.stride == 1
        && g.pad == 1
        && g.c >= MIN_CHANNELS
        && g.o >= MIN_CHANNELS
}

/// The tile grid of one image: `th × tw` tiles of `m × m` outputs (output size = input size),
/// m = 2 for F(2×2, 3×3) and 4 for F(4×4, 3×3).
#[derive(Clone, Copy)]
pub(crate) struct Tiles {
    pub h: usize,
    pub w: usize,
    pub th: usize,
    pub tw: usize,
    pub m: usize,
}

impl Tiles {
    pub fn of(m: usize, h: usize, w: usize) -> Tiles {
        Tiles {
            h,
            w,
            th: h.div_ceil(m),
            tw: w.div_ceil(m),
            m,
        }
    }
    /// Transformed values per tile: (m + 2)².
    pub fn xi(&self) -> usize {
        (self.m + 2) * (self.m + 2)
    }
    pub fn per_image(&self) -> usize {
        self.th * self.tw
    }
}

/// `G k Gᵀ` of one 3×3 kernel (row-major), as 16 values in ξ order.
#[inline(always)]
fn kernel_tile(k: &[f32; 9]) -> [f32; 16] {
    // `G v` for a 3-vector: v0, (v0 + v1 + v2)/2, (v0 − v1 + v2)/2, v2.
    #[inline(always)]
    fn g(v0: f32, v1: f32, v2: f32) -> [f32; 4] {
        [v0, 0.5 * (v0 + v1 + v2), 0.5 * (v0 - v1 + v2), v2]
    }
    let (c0, c1, c2) = (
        g(k[0], k[3], k[6]),
        g(k[1], k[4], k[7]),
        g(k[2], k[5], k[8]),
    );
    let mut u = [0f32; 16];
    for a in 0..4 {
        u[a * 4..a * 4 + 4].copy_from_slice(&g(c0[a], c1[a], c2[a]));
    }
    u
}

/// `Gᵀ d G` of one 4×4 tile (ξ order), as a row-major 3×3 kernel.
#[inline(always)]
fn kernel_tile_adjoint(d: &[f32; 16]) -> [f32; 9] {
    // `Gᵀ v` for a 4-vector: v0 + (v1 + v2)/2, (v1 − v2)/2, (v1 + v2)/2 + v3.
    #[inline(always)]
    fn gt(v0: f32, v1: f32, v2: f32, v3: f32) -> [f32; 3] {
        [v0 + 0.5 * (v1 + v2), 0.5 * (v1 - v2), 0.5 * (v1 + v2) + v3]
    }
    let cols = [0, 1, 2, 3].map(|b| gt(d[b], d[4 + b], d[8 + b], d[12 + b]));
    let mut k = [0f32; 9];
    for a in 0..3 {
        k[a * 3..a * 3 + 3].copy_from_slice(&gt(cols[0][a], cols[1][a], cols[2][a], cols[3][a]));
    }
    k
}

/// `U[ξ][o][c] = (G g Gᵀ)_ξ` for a kernel `w (O, C, 3, 3)`; with `flip`, the kernel of the input
/// gradient instead: `U[ξ][c][o]` of `g[o][c]` rotated by 180°.
pub(crate) fn transform_kernel(w: &[f32], o: usize, c: usize, flip: bool, u: &mut [f32]) {
    spread_kernel_tiles(w, o, c, flip, kernel_tile, u);
}

/// Kernels a task of [`spread_kernel_tiles`] and [`gather_kernel_gradient`] takes along the
/// transformed layout's rows: each ξ's block of rows is then one run of memory, and the 3×3
/// side's reads of a column step fall in one line per kernel row.
const KERNEL_BLOCK: usize = 16;

/// `U[ξ][o][c]` (or with `flip`, `U[ξ][c][o]` of the kernels rotated by 180°) of the `XI`
/// values `tile` makes of each 3×3 kernel, for either variant. Tasks take blocks of
/// [`KERNEL_BLOCK`] destination rows and write each ξ's rows of the block while its kernels
/// are in cache: computing all tiles first and spreading them per ξ read the whole tile buffer
/// once per ξ, a strided gather that cost ResNet-18's 512 × 512 layers more than their
/// transforms of the data.
pub(crate) fn spread_kernel_tiles<const XI: usize>(
    w: &[f32],
    o: usize,
    c: usize,
    flip: bool,
    tile: fn(&[f32; 9]) -> [f32; XI],
    u: &mut [f32],
) {
    let oc = o * c;
    // Destination rows and their length: U[ξ][o][c], or U[ξ][c][o] with `flip`.
    let (rows, cols) = if flip { (c, o) } else { (o, c) };
    let mut blocks: Vec<Vec<&mut [f32]>> = (0..rows.div_ceil(KERNEL_BLOCK))
        .map(|_| Vec::with_capacity(XI))
        .collect();
    for plane in u[..XI * oc].chunks_exact_mut(oc) {
        for (block, rows) in blocks.iter_mut().zip(plane.chunks_mut(KERNEL_BLOCK * cols)) {
            block.push(rows);
        }
    }
    blocks
        .into_par_iter()
        .enumerate()
        .for_each(|(b, mut planes)| {
            let (r0, n) = (b * KERNEL_BLOCK, planes[0].len() / cols);
            for col in 0..cols {
                for r in 0..n {
                    let (oi, ci) = if flip { (col, r0 + r) } else { (r0 + r, col) };
                    let mut k: [f32; 9] =
                        w[(oi * c + ci) * 9..][..9].try_into().expect("3×3 kernel");
                    if flip {
                        k.reverse();
                    }
                    for (plane, v) in planes.iter_mut().zip(tile(&k)) {
                        plane[r * cols + col] = v;
                    }
                }
            }
        });
}

/// `dW (O, C, 3, 3) = Gᵀ dU G` from the accumulated `dU`, stored per ξ column-major
/// (`dU_ξ[o][c]` at `ξ·O·C + c·O + o`, the weight-gradient GEMM's destination layout).
pub(crate) fn kernel_gradient(du: &[f32], o: usize, c: usize, dw: &mut [f32]) {
    gather_kernel_gradient(du, o, c, kernel_tile_adjoint, dw);
}

/// `dW` from `dU` (laid out as [`kernel_gradient`] says) through `adjoint`, each kernel's
/// `XI` values to its 3×3 gradient, for either variant. A task takes [`KERNEL_BLOCK`] output
/// channels, so each ξ's values for one input channel are one cache line, not `XI` lines per
/// kernel.
pub(crate) fn gather_kernel_gradient<const XI: usize>(
    du: &[f32],
    o: usize,
    c: usize,
    adjoint: fn(&[f32; XI]) -> [f32; 9],
    dw: &mut [f32],
) {
    let oc = o * c;
    dw[..9 * oc]
        .par_chunks_mut(KERNEL_BLOCK * 9 * c)
        .enumerate()
        .for_each(|(b, dw)| {
            let (o0, n) = (b * KERNEL_BLOCK, dw.len() / (9 * c));
            for ci in 0..c {
                for j in 0..n {
                    let d: [f32; XI] = std::array::from_fn(|xi| du[xi * oc + ci * o + o0 + j]);
                    dw[(j * c + ci) * 9..][..9].copy_from_slice(&adjoint(&d));
                }
            }
        });
}

/// Distance between the 16 tile positions' matrices in a transformed buffer of `ch` channels
/// and `t_len` tiles. A transform writes (or reads) all 16 at once; were they a power-of-two
/// multiple of 4 KiB apart, as with 64 channels of 256 tiles, the 16 streams would share one
/// set of the 8-way L1 cache and evict each other, so each is shifted by one more cache line.
///
/// The extra line is also the slack the transforms' last, overhanging lane writes into (see
/// [`sweep_over`]): tiles are written channel by channel, image by image, row by row, so a lane
/// running past a row of tiles writes into the next row, written properly later, and past the
/// last row of the last channel into this slack.
pub(crate) fn xi_stride(ch: usize, t_len: usize) -> usize {
    (ch * t_len).next_multiple_of(16) + 16
}

/// Splits `row` into its even and odd elements (`even[j] = row[2j]`, `odd[j] = row[2j + 1]`);
/// entries past the row's end are left as they are.
#[inline(always)]
fn deinterleave(row: &[f32], even: &mut [f32], odd: &mut [f32]) {
    let pairs = row.chunks_exact(2);
    if let [last] = pairs.remainder() {
        even[row.len() / 2] = *last;
    }
    for ((e, o), p) in even.iter_mut().zip(odd.iter_mut()).zip(pairs) {
        *e = p[0];
        *o = p[1];
    }
}

/// The inverse of [`deinterleave`] for the first `row.len()` elements.
#[inline(always)]
fn interleave(even: &[f32], odd: &[f32], row: &mut [f32]) {
    let len = row.len();
    let mut pairs = row.chunks_exact_mut(2);
    for ((p, e), o) in (&mut pairs).zip(even).zip(odd) {
        p[0] = *e;
        p[1] = *o;
    }
    if let [last] = pairs.into_remainder() {
        *last = even[len / 2];
    }
}

/// Where one row a of a row of tiles' transformed values goes: position ξ = 4a + b of tile tx
/// at `v[base + b·stride + tx]` (`base` already at ξ = 4a). Four output streams per pass keep
/// the kernels in registers; all sixteen at once spilled their pointers to the stack.
struct Row4<'a> {
    v: &'a mut [f32],
    base: usize,
    stride: usize,
}

impl Row4<'_> {
    #[inline(always)]
    fn put<L: Lane>(&mut self, b: usize, tx: usize, value: L) {
        value.store(self.v, self.base + b * self.stride + tx);
    }
}

/// Row `A` of `Bᵀ d B` for one row of tiles. `even` and `odd` hold the even and odd columns of
/// the padded plane, rows `half` apart, the tile row starting at offset `row0`: tile tx reads
/// columns `even[tx], odd[tx], even[tx + 1], odd[tx + 1]` of four consecutive rows.
struct InputRow<'a, const A: usize> {
    even: &'a [f32],
    odd: &'a [f32],
    row0: usize,
    half: usize,
    dest: Row4<'a>,
}

impl<const A: usize> InputRow<'_, A> {
    /// Row `A` of `Bᵀ d` in tile column `x` of `p`: d0 − d2, d1 + d2, d2 − d1 or d1 − d3.
    #[inline(always)]
    fn row<L: Lane>(&self, p: &[f32], x: usize) -> L {
        let d = |k: usize| L::load(p, self.row0 + k * self.half + x);
        match A {
            0 => d(0) - d(2),
            1 => d(1) + d(2),
            2 => d(2) - d(1),
            _ => d(1) - d(3),
        }
    }
}

impl<const A: usize> Kernel for InputRow<'_, A> {
    #[inline(always)]
    fn run<L: Lane>(&mut self, tx: usize) {
        let x0: L = self.row(self.even, tx);
        let x1: L = self.row(self.odd, tx);
        let x2: L = self.row(self.even, tx + 1);
        let x3: L = self.row(self.odd, tx + 1);
        // (·) B along the columns.
        self.dest.put(0, tx, x0 - x2);
        self.dest.put(1, tx, x1 + x2);
        self.dest.put(2, tx, x2 - x1);
        self.dest.put(3, tx, x1 - x3);
    }
}

/// Runs row `A` of the input transform over one row of `tw` tiles.
#[inline(always)]
fn input_row<const A: usize>(
    (even, odd): (&[f32], &[f32]),
    row0: usize,
    half: usize,
    tw: usize,
    v: &mut [f32],
    base: usize,
    stride: usize,
) {
    let dest = Row4 {
        v,
        base: base + 4 * A * stride,
        stride,
    };
    let mut k = InputRow::<A> {
        even,
        odd,
        row0,
        half,
        dest,
    };
    sweep_over(tw, &mut k);
}

multiversion! {
    /// `V[ξ][c][t] = (Bᵀ d B)_ξ` for every 4×4 input tile `d` (zero padding of 1 around each
    /// plane) of `n` images with `ch` channels; `v` holds `16 · xi_stride` floats.
    pub(crate) fn transform_input(x: &[f32], n: usize, ch: usize, tiles: Tiles, v: &mut [f32]) {
        let Tiles { h, w, th, tw, .. } = tiles;
        let t_len = n * tiles.per_image();
        let stride = xi_stride(ch, t_len);
        // The zero-padded plane (input (y, x) at (y + 1, x + 1)), its columns split into even
        // and odd: tile (ty, tx) reads padded rows 2ty .. 2ty + 3 and, of each, even[tx],
        // odd[tx], even[tx + 1], odd[tx + 1]. Padding entries are never written, so they stay
        // zero; the slack at the end takes the last lane's overhang on the bottom row.
        let half = tw + 1;
        let slack = whole_lanes(tw) - tw;
        let mut even = vec![0f32; (2 * th + 2) * half + slack];
        let mut odd = vec![0f32; (2 * th + 2) * half + slack];
        for c in 0..ch {
            for i in 0..n {
                let plane = &x[(i * ch + c) * h * w..][..h * w];
                for (y, row) in plane.chunks_exact(w).enumerate() {
                    // Padded column x + 1: odd x lands on an even column and vice versa.
                    let py_e = &mut even[(y + 1) * half..][..half];
                    let py_o = &mut odd[(y + 1) * half..][..half];
                    deinterleave(row, py_o, &mut py_e[1..]);
                }
                let p = (&even[..], &odd[..]);
                for ty in 0..th {
                    let (row0, base) = (2 * ty * half, c * t_len + i * tiles.per_image() + ty * tw);
                    input_row::<0>(p, row0, half, tw, v, base, stride);
                    input_row::<1>(p, row0, half, tw, v, base, stride);
                    input_row::<2>(p, row0, half, tw, v, base, stride);
                    input_row::<3>(p, row0, half, tw, v, base, stride);
                }
            }
        }
    }
}

/// Row `A` of `A dY Aᵀ` for one row of 2×2 tiles from the even and odd columns of its two
/// rows: `d` holds even and odd of row 0, then of row 1, `tl` apart.
struct GradientRow<'a, const A: usize> {
    d: &'a [f32],
    tl: usize,
    dest: Row4<'a>,
}

impl<const A: usize> Kernel for GradientRow<'_, A> {
    #[inline(always)]
    fn run<L: Lane>(&mut self, tx: usize) {
        let tl = self.tl;
        let (e0, o0) = (L::load(self.d, tx), L::load(self.d, tl + tx));
        let (e1, o1) = (L::load(self.d, 2 * tl + tx), L::load(self.d, 3 * tl + tx));
        // A dY along the rows: d0, d0 + d1, d0 − d1 or −d1; then the same along the columns.
        let (e, o) = match A {
            0 => (e0, o0),
            1 => (e0 + e1, o0 + o1),
            2 => (e0 - e1, o0 - o1),
            _ => (-e1, -o1),
        };
        self.dest.put(0, tx, e);
        self.dest.put(1, tx, e + o);
        self.dest.put(2, tx, e - o);
        self.dest.put(3, tx, -o);
    }
}

/// Runs row `A` of the output-gradient transform over one row of `tw` tiles.
#[inline(always)]
fn gradient_row<const A: usize>(
    d: &[f32],
    tl: usize,
    tw: usize,
    v: &mut [f32],
    base: usize,
    stride: usize,
) {
    let dest = Row4 {
        v,
        base: base + 4 * A * stride,
        stride,
    };
    sweep_over(tw, &mut GradientRow::<A> { d, tl, dest });
}

multiversion! {
    /// `Ŷ[ξ][c][t] = (A dY Aᵀ)_ξ` for every 2×2 tile of `dy` (`n` images, `ch` channels, the
    /// output size), the weight gradient's transform of the output gradient.
    pub(crate) fn transform_output_gradient(
        dy: &[f32],
        n: usize,
        ch: usize,
        tiles: Tiles,
        out: &mut [f32],
    ) {
        let Tiles { h, w, th, tw, .. } = tiles;
        let t_len = n * tiles.per_image();
        let stride = xi_stride(ch, t_len);
        // Even and odd columns of the tile row's two rows (zero past the output's edge), each
        // padded to whole lanes.
        let tl = whole_lanes(tw);
        let mut d = vec![0f32; 4 * tl];
        for c in 0..ch {
            for i in 0..n {
                let plane = &dy[(i * ch + c) * h * w..][..h * w];
                for ty in 0..th {
                    for k in 0..2 {
                        let (e, o) = d[2 * k * tl..][..2 * tl].split_at_mut(tl);
                        if 2 * ty + k < h {
                            deinterleave(&plane[(2 * ty + k) * w..][..w], e, o);
                        } else {
                            e.fill(0.0);
                            o.fill(0.0);
                        }
                    }
                    let base = c * t_len + i * tiles.per_image() + ty * tw;
                    gradient_row::<0>(&d, tl, tw, out, base, stride);
                    gradient_row::<1>(&d, tl, tw, out, base, stride);
                    gradient_row::<2>(&d, tl, tw, out, base, stride);
                    gradient_row::<3>(&d, tl, tw, out, base, stride);
                }
            }
        }
    }
}

/// `Aᵀ M` down tile column `j` of a row of tiles: reads `m[base + (4i + j)·stride + tx]` and
/// writes output rows 0 and 1 of the tile to `s[(2j + a)·tl + tx]`.
struct OutputColumn<'a> {
    m: &'a [f32],
    base: usize,
    stride: usize,
    j: usize,
    s: &'a mut [f32],
    tl: usize,
}

impl Kernel for OutputColumn<'_> {
    #[inline(always)]
    fn run<L: Lane>(&mut self, tx: usize) {
        let at = self.base + self.j * self.stride + tx;
        let s4 = 4 * self.stride;
        let m0 = L::load(self.m, at);
        let m1 = L::load(self.m, at + s4);
        let m2 = L::load(self.m, at + 2 * s4);
        let m3 = L::load(self.m, at + 3 * s4);
        (m0 + m1 + m2).store(self.s, 2 * self.j * self.tl + tx);
        (m1 - m2 - m3).store(self.s, (2 * self.j + 1) * self.tl + tx);
    }
}

/// `(·) A` along output row `a` of a row of tiles: from `s` (see [`OutputColumn`]) to the even
/// and odd output columns `y[2a·tl + tx]`, `y[(2a + 1)·tl + tx]`.
struct OutputRow<'a> {
    s: &'a [f32],
    y: &'a mut [f32],
    a: usize,
    tl: usize,
    relu: bool,
}

impl Kernel for OutputRow<'_> {
    #[inline(always)]
    fn run<L: Lane>(&mut self, tx: usize) {
        let s = |j: usize| L::load(self.s, (2 * j + self.a) * self.tl + tx);
        let (s0, s1, s2, s3) = (s(0), s(1), s(2), s(3));
        let (mut y0, mut y1) = (s0 + s1 + s2, s1 - s2 - s3);
        if self.relu {
            (y0, y1) = (y0.relu(), y1.relu());
        }
        y0.store(self.y, 2 * self.a * self.tl + tx);
        y1.store(self.y, (2 * self.a + 1) * self.tl + tx);
    }
}

multiversion! {
    /// Output tiles `Aᵀ M A` of `M[ξ][c][t]` written into `n` images of `ch` channels (NCHW,
    /// the output size), with ReLU applied when asked.
    pub(crate) fn transform_output(
        m: &[f32],
        n: usize,
        ch: usize,
        tiles: Tiles,
        relu: bool,
        y: &mut [f32],
    ) {
        let Tiles { h, w, th, tw, .. } = tiles;
        let t_len = n * tiles.per_image();
        let stride = xi_stride(ch, t_len);
        // One row of tiles: `Aᵀ M` (s) and the outputs (rows 2ty and 2ty + 1, even and odd
        // columns), each row padded to whole lanes. The last lane reads past its row of `m`
        // into the next, or the slack.
        let tl = whole_lanes(tw);
        let mut s = vec![0f32; 8 * tl];
        let mut out = vec![0f32; 4 * tl];
        for c in 0..ch {
            for i in 0..n {
                let plane = &mut y[(i * ch + c) * h * w..][..h * w];
                for ty in 0..th {
                    let base = c * t_len + i * tiles.per_image() + ty * tw;
                    for j in 0..4 {
                        let s = &mut s[..];
                        sweep_over(tw, &mut OutputColumn { m, base, stride, j, s, tl });
                    }
                    for a in 0..2 {
                        let y = &mut out[..];
                        sweep_over(tw, &mut OutputRow { s: &s, y, a, tl, relu });
                        if 2 * ty + a < h {
                            let (e, o) = out[2 * a * tl..][..2 * tl].split_at(tl);
                            interleave(e, o, &mut plane[(2 * ty + a) * w..][..w]);
                        }
                    }
                }
            }
        }
    }
}

/// A chunk of `n` images of one tile grid, convolved from `from` channels to `to`, its GEMMs
/// fanned out as `par` says.
#[derive(Clone, Copy)]
pub(crate) struct Chunk {
    pub n: usize,
    pub from: usize,
    pub to: usize,
    pub tiles: Tiles,
    pub par: Parallelism,
}

/// One Winograd variant's tile transforms, through which the chunk functions below serve
/// both F(2×2, 3×3) ([`F2`]) and F(4×4, 3×3) (`winograd4::F4`).
pub(crate) struct Transforms {
    pub input: fn(&[f32], usize, usize, Tiles, &mut [f32]),
    pub output: fn(&[f32], usize, usize, Tiles, bool, &mut [f32]),
    pub output_gradient: fn(&[f32], usize, usize, Tiles, &mut [f32]),
}

/// F(2×2, 3×3)'s transforms.
pub(crate) const F2: Transforms = Transforms {
    input: transform_input,
    output: transform_output,
    output_gradient: transform_output_gradient,
};

/// One chunk's forward: `y (n, to, H, W) = conv(x (n, from, H, W), U)` where `u` is the
/// transformed kernel `[ξ][to][from]`, one GEMM per tile position ξ between `t`'s transforms.
/// Serves the input gradient too, with the channel roles swapped.
pub(crate) fn convolve_chunk(
    x: &[f32],
    u: &[f32],
    chunk: Chunk,
    relu: bool,
    y: &mut [f32],
    t: &Transforms,
) {
    let Chunk {
        n,
        from: ci,
        to: co,
        tiles,
        par,
    } = chunk;
    let (xis, t_len) = (tiles.xi(), n * tiles.per_image());
    let (vs, ms) = (xi_stride(ci, t_len), xi_stride(co, t_len));
    let mut v = Scratch::take(xis * vs);
    (t.input)(x, n, ci, tiles, &mut v);
    let mut m = Scratch::take(xis * ms);
    for xi in 0..xis {
        matmul(
            &mut m[xi * ms..][..co * t_len],
            Dst::RowMajor,
            View::rows(&u[xi * co * ci..][..co * ci], co, ci),
            View::rows(&v[xi * vs..][..ci * t_len], ci, t_len),
            false,
            par,
        );
    }
    (t.output)(&m, n, co, tiles, relu, y);
}

/// One chunk's contribution to `dU` (`[ξ]` column-major `to × from`, see
/// [`kernel_gradient`]): `dU_ξ += Ŷ_ξ · V_ξᵀ` for the forward `x → y` whose output gradient is
/// `dy`.
pub(crate) fn accumulate_kernel_gradient(
    x: &[f32],
    dy: &[f32],
    chunk: Chunk,
    du: &mut [f32],
    t: &Transforms,
) {
    let Chunk {
        n,
        from: c,
        to: o,
        tiles,
        par,
    } = chunk;
    let (xis, t_len) = (tiles.xi(), n * tiles.per_image());
    let (vs, ys) = (xi_stride(c, t_len), xi_stride(o, t_len));
    let mut v = Scratch::take(xis * vs);
    (t.input)(x, n, c, tiles, &mut v);
    let mut yh = Scratch::take(xis * ys);
    (t.output_gradient)(dy, n, o, tiles, &mut yh);
    for xi in 0..xis {
        matmul(
            &mut du[xi * o * c..][..o * c],
            Dst::ColMajor,
            View::rows(&yh[xi * ys..][..o * t_len], o, t_len),
            View::rows(&v[xi * vs..][..c * t_len], c, t_len).t(),
            true,
            par,
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Direct 3×3, stride 1, padding 1 convolution in float64.
    pub(crate) fn direct(
        x: &[f32],
        w: &[f32],
        n: usize,
        c: usize,
        o: usize,
        h: usize,
        wi: usize,
    ) -> Vec<f64> {
        let mut y = vec![0f64; n * o * h * wi];
        for b in 0..n {
            for oi in 0..o {
                for yy in 0..h {
                    for xx in 0..wi {
                        let mut acc = 0f64;
                        for ci in 0..c {
                            for a in 0..3 {
                                for bb in 0..3 {
                                    let (iy, ix) = (yy + a, xx + bb);
                                    if iy < 1 || ix < 1 || iy > h || ix > wi {
                                        continue;
                                    }
                                    acc += x[((b * c + ci) * h + iy - 1) * wi + ix - 1] as f64
                                        * w[((oi * c + ci) * 3 + a) * 3 + bb] as f64;
                                }
                            }
                        }
                        y[((b * o + oi) * h + yy) * wi + xx] = acc;
                    }
                }
            }
        }
        y
    }

    pub(crate) fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2001) as f32 / 1000.0
                    - 1.0
            })
            .collect()
    }

    #[test]
    fn chunk_forward_matches_direct_convolution_on_odd_and_even_sizes() {
        // Rows of 1 to 11 tiles: a lane overhanging, or a full lane and an overhanging one.
        for &(n, c, o, h, w) in &[
            (2, 5, 4, 6, 6),
            (1, 4, 7, 5, 7),
            (3, 6, 5, 1, 3),
            (1, 4, 4, 2, 1),
            (2, 3, 5, 9, 21),
        ] {
            let x = values(n * c * h * w, 1);
            let k = values(o * c * 9, 7);
            let mut u = vec![0f32; 16 * o * c];
            transform_kernel(&k, o, c, false, &mut u);
            let mut y = vec![f32::NAN; n * o * h * w];
            let tiles = Tiles::of(2, h, w);
            let chunk = Chunk {
                n,
                from: c,
                to: o,
                tiles,
                par: Parallelism::None,
            };
            convolve_chunk(&x, &u, chunk, false, &mut y, &F2);
            let want = direct(&x, &k, n, c, o, h, w);
            for (got, want) in y.iter().zip(&want) {
                assert!(
                    (*got as f64 - want).abs() < 1e-5,
                    "{got} vs {want} ({n},{c},{o},{h},{w})"
                );
            }
        }
    }

    /// The transforms are compiled three times (baseline, AVX2, AVX-512); each variant the CPU
    /// can run gives the same bits.
    #[test]
    fn every_instruction_set_variant_gives_the_same_result() {
        use crate::lanes::{level, with_level_cap, Level};
        let (n, c, o, h, w) = (2, 5, 6, 11, 19);
        let x = values(n * c * h * w, 4);
        let k = values(o * c * 9, 6);
        let mut u = vec![0f32; 16 * o * c];
        transform_kernel(&k, o, c, false, &mut u);
        let run = |cap: Level| {
            with_level_cap(cap, || {
                let mut y = vec![0f32; n * o * h * w];
                let chunk = Chunk {
                    n,
                    from: c,
                    to: o,
                    tiles: Tiles::of(2, h, w),
                    par: Parallelism::None,
                };
                convolve_chunk(&x, &u, chunk, true, &mut y, &F2);
                let mut du = vec![0f32; 16 * o * c];
                accumulate_kernel_gradient(&x, &y, chunk, &mut du, &F2);
                (y, du)
            })
        };
        let base = run(Level::Base);
        let want = direct(&x, &k, n, c, o, h, w);
        for (got, want) in base.0.iter().zip(&want) {
            assert!(
                (*got as f64 - want.max(0.0)).abs() < 1e-5,
                "{got} vs {want}"
            );
        }
        for cap in [Level::V3, Level::V4] {
            if level() as u8 >= cap as u8 {
                assert_eq!(run(cap), base, "{cap:?}");
            }
        }
    }

    #[test]
    fn flipped_kernel_gives_the_input_gradient() {
        // Σ y ⊙ r with y = conv(x, k): the gradient wrt x is conv(r, flip(k)ᵀ).
        let (n, c, o, h, w) = (2, 4, 5, 5, 18);
        let r = values(n * o * h * w, 3);
        let k = values(o * c * 9, 9);
        let mut u = vec![0f32; 16 * o * c];
        transform_kernel(&k, o, c, true, &mut u);
        let mut dx = vec![0f32; n * c * h * w];
        let chunk = Chunk {
            n,
            from: o,
            to: c,
            tiles: Tiles::of(2, h, w),
            par: Parallelism::None,
        };
        convolve_chunk(&r, &u, chunk, false, &mut dx, &F2);
        // By the definition: dx[c][p][q] = Σ_{o,a,b} k[o][c][a][b] · r[o][p − a + 1][q − b + 1].
        for b in 0..n {
            for ci in 0..c {
                for p in 0..h {
                    for q in 0..w {
                        let mut want = 0f64;
                        for oi in 0..o {
                            for a in 0..3 {
                                for bb in 0..3 {
                                    let (yy, xx) = (p + 1, q + 1);
                                    if yy < a || xx < bb || yy - a >= h || xx - bb >= w {
                                        continue;
                                    }
                                    want += k[((oi * c + ci) * 3 + a) * 3 + bb] as f64
                                        * r[((b * o + oi) * h + yy - a) * w + xx - bb] as f64;
                                }
                            }
                        }
                        let got = dx[((b * c + ci) * h + p) * w + q] as f64;
                        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn kernel_gradient_matches_definition() {
        let (n, c, o, h, w) = (2, 4, 5, 5, 19);
        let x = values(n * c * h * w, 5);
        let r = values(n * o * h * w, 11);
        let mut du = vec![0f32; 16 * o * c];
        let chunk = Chunk {
            n,
            from: c,
            to: o,
            tiles: Tiles::of(2, h, w),
            par: Parallelism::None,
        };
        accumulate_kernel_gradient(&x, &r, chunk, &mut du, &F2);
        let mut dw = vec![0f32; o * c * 9];
        kernel_gradient(&du, o, c, &mut dw);
        for oi in 0..o {
            for ci in 0..c {
                for a in 0..3 {
                    for bb in 0..3 {
                        let mut want = 0f64;
                        for b in 0..n {
                            for yy in 0..h {
                                for xx in 0..w {
                                    let (iy, ix) = (yy + a, xx + bb);
                                    if iy < 1 || ix < 1 || iy > h || ix > w {
                                        continue;
                                    }
                                    want += r[((b * o + oi) * h + yy) * w + xx] as f64
                                        * x[((b * c + ci) * h + iy - 1) * w + ix - 1] as f64;
                                }
                            }
                        }
                        let got = dw[((oi * c + ci) * 3 + a) * 3 + bb] as f64;
                        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
                    }
                }
            }
        }
    }

    /// The blocked spreading and gathering put every value where the layouts say, exactly,
    /// with channel counts that end blocks part-way (37 and 21 against blocks of 16).
    #[test]
    fn kernel_layouts_match_their_definition() {
        let (o, c) = (37, 21);
        let oc = o * c;
        let w = values(9 * oc, 7);
        for flip in [false, true] {
            let mut u = vec![f32::NAN; 16 * oc];
            transform_kernel(&w, o, c, flip, &mut u);
            for (oi, ci) in (0..o).flat_map(|oi| (0..c).map(move |ci| (oi, ci))) {
                let mut k: [f32; 9] = w[(oi * c + ci) * 9..][..9].try_into().unwrap();
                if flip {
                    k.reverse();
                }
                let at = if flip { ci * o + oi } else { oi * c + ci };
                for (xi, v) in kernel_tile(&k).into_iter().enumerate() {
                    assert_eq!(
                        u[xi * oc + at].to_bits(),
                        v.to_bits(),
                        "flip {flip} ({oi}, {ci}) ξ {xi}"
                    );
                }
            }
        }
        let du = values(16 * oc, 8);
        let mut dw = vec![f32::NAN; 9 * oc];
        kernel_gradient(&du, o, c, &mut dw);
        for (oi, ci) in (0..o).flat_map(|oi| (0..c).map(move |ci| (oi, ci))) {
            let d: [f32; 16] = std::array::from_fn(|xi| du[xi * oc + ci * o + oi]);
            let want = kernel_tile_adjoint(&d);
            assert_eq!(&dw[(oi * c + ci) * 9..][..9], &want[..], "({oi}, {ci})");
        }
    }
}
