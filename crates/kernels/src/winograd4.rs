//! Winograd's F(4×4, 3×3): a 4×4 output tile from a 6×6 input tile with 36 multiply-adds per
//! channel pair, 2.25 per output against F(2×2, 3×3)'s 4 and direct convolution's 9.
//!
//! The matrices come from the interpolation points ([`POINTS`], and ∞) by the Toom-Cook
//! construction, computed at compile time in float64 ([`matrices`]), so the points are one
//! line to change. F(4×4)'s weakness is accuracy: its transforms multiply by up to 8 (or by
//! 1/8) where F(2×2)'s add, and the f32 error grows with it. The points chosen are the ones
//! whose error against the float64 convolution was smallest on model-sized layers (tested
//! below, with the bound the models rely on).
//!
//! The buffers are laid out as F(2×2)'s (`[ξ][channel][tile]`, see [`crate::winograd`]), with
//! 36 positions ξ. The transforms do not walk rows of tiles, which are 2–8 tiles here: tiles
//! are first gathered into blocks of [`BLOCK`] (any rows, any images: tiles are consecutive in
//! the buffer), and each block is transformed eight tiles to a lane, so no lane is idle but the
//! last of a channel.

use crate::lanes::{multiversion, sweep_over, Kernel, Lane};
use crate::winograd::{gather_kernel_gradient, spread_kernel_tiles, xi_stride, Tiles, Transforms};

/// The finite interpolation points (the sixth is ∞).
pub(crate) const POINTS: [f64; 5] = [0.0, 1.0, -1.0, 0.5, -2.0];

/// Positions per tile.
pub(crate) const XI: usize = 36;

/// Tiles gathered and transformed together: four lanes of eight, so that a block's last lane
/// overhangs by at most seven tiles, into the slack that [`xi_stride`] leaves.
const BLOCK: usize = 32;

/// The transform matrices of F(4×4, 3×3): `Bᵀ` (6×6, input), `G` (6×3, kernel), `Aᵀ` (4×6,
/// output), and `A` (6×4) for the output gradient's transform.
pub(crate) struct Matrices {
    pub bt: [[f32; 6]; 6],
    pub g: [[f32; 3]; 6],
    pub at: [[f32; 6]; 4],
    pub a: [[f32; 4]; 6],
}

/// Coefficients (constant term first) of Π (x − r) over the roots `r` except `skip`.
const fn poly(roots: &[f64; 5], skip: usize) -> [f64; 6] {
    let mut c = [0f64; 6];
    c[0] = 1.0;
    let mut deg = 0;
    let mut i = 0;
    while i < 5 {
        if i != skip {
            // multiply by (x − r)
            let mut k = deg + 1;
            while k > 0 {
                c[k] = c[k - 1] - roots[i] * c[k];
                k -= 1;
            }
            c[0] = -roots[i] * c[0];
            deg += 1;
        }
        i += 1;
    }
    c
}

/// The Toom-Cook matrices for the points `p` and ∞: `Aᵀ[i][j] = p_jⁱ`, `G[j][k] = p_jᵏ / f_j`
/// with `f_j = Π_{l≠j} (p_j − p_l)`, and row j of `Bᵀ` the coefficients of Π_{l≠j} (x − p_l)
/// (for ∞, of Π_l (x − p_l)).
pub(crate) const fn matrices(p: [f64; 5]) -> Matrices {
    let mut m = Matrices {
        bt: [[0.0; 6]; 6],
        g: [[0.0; 3]; 6],
        at: [[0.0; 6]; 4],
        a: [[0.0; 4]; 6],
    };
    let mut j = 0;
    while j < 5 {
        let c = poly(&p, j);
        let mut f = 1.0;
        let mut l = 0;
        while l < 5 {
            if l != j {
                f *= p[j] - p[l];
            }
            l += 1;
        }
        let mut i = 0;
        let mut pow = 1.0;
        while i < 6 {
            m.bt[j][i] = c[i] as f32;
            if i < 3 {
                m.g[j][i] = (pow / f) as f32;
            }
            if i < 4 {
                m.at[i][j] = pow as f32;
                m.a[j][i] = pow as f32;
            }
            pow *= p[j];
            i += 1;
        }
        j += 1;
    }
    let all = poly(&p, 5);
    let mut i = 0;
    while i < 6 {
        m.bt[5][i] = all[i] as f32;
        i += 1;
    }
    m.g[5][2] = 1.0;
    m.at[3][5] = 1.0;
    m.a[5][3] = 1.0;
    m
}

const M: Matrices = matrices(POINTS);

/// One term of [`combine`]: `acc + c · v`, where a zero `c` adds nothing and ±1 multiplies by
/// nothing.
#[inline(always)]
fn term<L: Lane>(acc: Option<L>, c: f32, v: impl FnOnce() -> L) -> Option<L> {
    if c == 0.0 {
        return acc;
    }
    let v = v();
    Some(match acc {
        None if c == 1.0 => v,
        None if c == -1.0 => -v,
        None => v.scale(c),
        Some(a) if c == 1.0 => a + v,
        Some(a) if c == -1.0 => a - v,
        Some(a) => a + v.scale(c),
    })
}

/// `Σ_i c[i] · x(i)` in the order of `i`, written out term by term (literal indices): inlined
/// with a constant `c`, every test on a coefficient is decided at compile time and only the few
/// additions it needs remain. (A loop over `c` was not unrolled, and compared the
/// coefficients at run time.)
#[inline(always)]
fn combine<L: Lane, const N: usize>(c: &[f32; N], x: impl Fn(usize) -> L) -> L {
    const { assert!(N == 3 || N == 4 || N == 6, "3, 4 or 6 terms") };
    let mut acc = term(None, c[0], || x(0));
    acc = term(acc, c[1], || x(1));
    acc = term(acc, c[2], || x(2));
    if N > 3 {
        acc = term(acc, c[3.min(N - 1)], || x(3));
    }
    if N > 4 {
        acc = term(acc, c[4.min(N - 1)], || x(4));
        acc = term(acc, c[5.min(N - 1)], || x(5));
    }
    acc.unwrap_or_else(L::zero)
}

/// Every row of `m` applied to `x`, the rows named by literal indices so that, inlined, each
/// [`combine`] sees its coefficients as constants (a loop over the rows was not unrolled and
/// left the coefficients, and the branches on them, to run time).
#[inline(always)]
fn apply6<L: Lane, const N: usize>(m: &[[f32; N]; 6], x: impl Fn(usize) -> L) -> [L; 6] {
    [
        combine(&m[0], &x),
        combine(&m[1], &x),
        combine(&m[2], &x),
        combine(&m[3], &x),
        combine(&m[4], &x),
        combine(&m[5], &x),
    ]
}

/// [`apply6`] for four rows.
#[inline(always)]
fn apply4<L: Lane, const N: usize>(m: &[[f32; N]; 4], x: impl Fn(usize) -> L) -> [L; 4] {
    [
        combine(&m[0], &x),
        combine(&m[1], &x),
        combine(&m[2], &x),
        combine(&m[3], &x),
    ]
}

/// `G k Gᵀ` of one 3×3 kernel (row-major), as 36 values in ξ order. Plain sums (the zeros of
/// `G` included): a kernel is transformed once per step, not per tile.
fn kernel_tile(k: &[f32; 9]) -> [f32; 36] {
    let g = &M.g;
    let mut t = [[0f32; 3]; 6]; // G k
    for (j, row) in t.iter_mut().enumerate() {
        for (b, v) in row.iter_mut().enumerate() {
            *v = (0..3).fold(0.0, |s, a| s + g[j][a] * k[a * 3 + b]);
        }
    }
    let mut u = [0f32; 36];
    for j in 0..6 {
        for l in 0..6 {
            u[j * 6 + l] = (0..3).fold(0.0, |s, b| s + t[j][b] * g[l][b]);
        }
    }
    u
}

/// `Gᵀ d G` of one 6×6 tile (ξ order), as a row-major 3×3 kernel.
fn kernel_tile_adjoint(d: &[f32; 36]) -> [f32; 9] {
    let g = &M.g;
    let mut t = [[0f32; 6]; 3]; // Gᵀ d
    for (a, row) in t.iter_mut().enumerate() {
        for (l, v) in row.iter_mut().enumerate() {
            *v = (0..6).fold(0.0, |s, j| s + g[j][a] * d[j * 6 + l]);
        }
    }
    let mut k = [0f32; 9];
    for a in 0..3 {
        for b in 0..3 {
            k[a * 3 + b] = (0..6).fold(0.0, |s, l| s + t[a][l] * g[l][b]);
        }
    }
    k
}

/// `U[ξ][o][c] = (G g Gᵀ)_ξ` for a kernel `w (O, C, 3, 3)`; with `flip`, the input gradient's
/// kernel `U[ξ][c][o]` of `g[o][c]` rotated by 180°.
pub(crate) fn transform_kernel(w: &[f32], o: usize, c: usize, flip: bool, u: &mut [f32]) {
    spread_kernel_tiles(w, o, c, flip, kernel_tile, u);
}

/// `dW (O, C, 3, 3) = Gᵀ dU G` from `dU` stored per ξ column-major (`ξ·O·C + c·O + o`).
pub(crate) fn kernel_gradient(du: &[f32], o: usize, c: usize, dw: &mut [f32]) {
    gather_kernel_gradient(du, o, c, kernel_tile_adjoint, dw);
}

/// F(4×4, 3×3)'s transforms, for [`crate::winograd::convolve_chunk`] and
/// [`crate::winograd::accumulate_kernel_gradient`].
pub(crate) const F4: Transforms = Transforms {
    input: transform_input,
    output: transform_output,
    output_gradient: transform_output_gradient,
};

/// What a transform does as [`walk`] goes through one channel's tiles.
trait Blocks {
    /// Image `i`'s plane is next.
    fn plane(&mut self, i: usize);
    /// A block of `len` tiles starts at tile `t0` of the channel.
    #[inline(always)]
    fn begin(&mut self, _t0: usize, _len: usize) {}
    /// Tiles `tx0 .. tx0 + len` of tile row `ty` are positions `b0 ..` of the block.
    fn run(&mut self, ty: usize, tx0: usize, len: usize, b0: usize);
    /// The block of `len` tiles at `t0` is complete.
    #[inline(always)]
    fn end(&mut self, _t0: usize, _len: usize) {}
}

/// Goes through the tiles of one channel of `n` images in buffer order (image by image, row by
/// row) in blocks of [`BLOCK`], and within a block in runs along one row of tiles.
#[inline(always)]
fn walk(tiles: Tiles, n: usize, blocks: &mut impl Blocks) {
    let total = n * tiles.per_image();
    let mut t = 0;
    for i in 0..n {
        blocks.plane(i);
        for ty in 0..tiles.th {
            let mut tx = 0;
            while tx < tiles.tw {
                let b0 = t % BLOCK;
                let start = t - b0;
                if b0 == 0 {
                    blocks.begin(start, BLOCK.min(total - start));
                }
                let len = (tiles.tw - tx).min(BLOCK - b0);
                blocks.run(ty, tx, len, b0);
                (t, tx) = (t + len, tx + len);
                if t % BLOCK == 0 || t == total {
                    blocks.end(start, t - start);
                }
            }
        }
    }
}

/// Splits a plane's rows by column phase: `ph[(r·4 + φ)·pw + j] = plane[r − pad][4j + φ − pad]`
/// for `r` in `0..rows` (`pad` is 0 or 1), zero outside the plane. Tile (ty, tx) then reads,
/// for its row r and column k, the run `ph[((4ty + r)·4 + k % 4)·pw + k / 4 + tx ..]`: along a
/// row of tiles, consecutive.
#[inline(always)]
fn phases(
    plane: &[f32],
    (h, w): (usize, usize),
    pad: usize,
    (rows, pw): (usize, usize),
    ph: &mut [f32],
) {
    for r in 0..rows {
        let dst = &mut ph[r * 4 * pw..][..4 * pw];
        if r < pad || r - pad >= h {
            dst.fill(0.0);
            continue;
        }
        let row = &plane[(r - pad) * w..][..w];
        let (p0, rest) = dst.split_at_mut(pw);
        let (p1, rest) = rest.split_at_mut(pw);
        let (p2, p3) = rest.split_at_mut(pw);
        // Element x goes to column x + pad: phase (x + pad) % 4, index (x + pad) / 4.
        let chunks = row.chunks_exact(4);
        let tail = chunks.remainder();
        let full = w / 4;
        if pad == 1 {
            p0[0] = 0.0;
            for (j, c) in chunks.enumerate() {
                (p1[j], p2[j], p3[j], p0[j + 1]) = (c[0], c[1], c[2], c[3]);
            }
        } else {
            for (j, c) in chunks.enumerate() {
                (p0[j], p1[j], p2[j], p3[j]) = (c[0], c[1], c[2], c[3]);
            }
        }
        // The last, partial group of four columns and everything after it: the rest of the
        // row, then zeros.
        for col in 4 * full + pad..4 * pw {
            let x = col - pad;
            let v = if x < w { tail[x - 4 * full] } else { 0.0 };
            let (ph_, j) = (col % 4, col / 4);
            [&mut *p0, &mut *p1, &mut *p2, &mut *p3][ph_][j] = v;
        }
    }
}

/// `dst[..len] = src[..len]` as a plain loop: the runs are a few tiles long, where a call to
/// `memmove` cost more than the copy.
#[inline(always)]
fn copy_run(src: &[f32], dst: &mut [f32], len: usize) {
    for (d, s) in dst[..len].iter_mut().zip(&src[..len]) {
        *d = *s;
    }
}

/// A transform into the 6×6 ξ positions of N×N tiles gathered from planes: the input's
/// (N = 6, `Bᵀ d B`, tiles from row and column 4t − 1, zero padding of one) or the output
/// gradient's (N = 4, `A dY Aᵀ`, tiles from 4t, no padding). The matrix is an associated
/// constant, so the coefficients stay compile-time constants in the lanes.
trait Sandwich<const N: usize> {
    /// The left factor (6 × N); the right one is its transpose.
    const MAT: [[f32; N]; 6];
    /// Zero padding before the plane's first row and column.
    const PAD: usize = (N - 4) / 2;
}

/// The input transform's `Bᵀ`.
struct Input;
impl Sandwich<6> for Input {
    const MAT: [[f32; 6]; 6] = M.bt;
}

/// The output gradient's `A`.
struct Gradient;
impl Sandwich<4> for Gradient {
    const MAT: [[f32; 4]; 6] = M.a;
}

/// Gathers N×N tiles of the planes `x` into `d` (`[r·N + k][BLOCK]`) and transforms each full
/// block into `v`.
struct GatherWalk<'a, S, const N: usize> {
    x: &'a [f32],
    tiles: Tiles,
    ch: usize,
    c: usize,
    ph: &'a mut [f32],
    d: &'a mut [f32],
    v: &'a mut [f32],
    stride: usize,
    base: usize,
    side: std::marker::PhantomData<S>,
}

impl<const N: usize, S: Sandwich<N>> Blocks for GatherWalk<'_, S, N> {
    #[inline(always)]
    fn plane(&mut self, i: usize) {
        let Tiles { h, w, th, tw, .. } = self.tiles;
        let plane = &self.x[(i * self.ch + self.c) * h * w..][..h * w];
        phases(
            plane,
            (h, w),
            S::PAD,
            (4 * th + 2 * S::PAD, tw + S::PAD),
            self.ph,
        );
    }
    #[inline(always)]
    fn run(&mut self, ty: usize, tx0: usize, len: usize, b0: usize) {
        let pw = self.tiles.tw + S::PAD;
        for r in 0..N {
            for k in 0..N {
                let src = &self.ph[((4 * ty + r) * 4 + k % 4) * pw + k / 4 + tx0..];
                copy_run(src, &mut self.d[(r * N + k) * BLOCK + b0..], len);
            }
        }
    }
    #[inline(always)]
    fn end(&mut self, t0: usize, len: usize) {
        let at = self.base + t0;
        let (d, v, stride) = (&*self.d, &mut *self.v, self.stride);
        let side = std::marker::PhantomData::<S>;
        sweep_over(
            len,
            &mut SandwichBlock::<S, N> {
                d,
                v,
                at,
                stride,
                side,
            },
        );
    }
}

/// `S d Sᵀ` of the gathered N×N tiles `d` (`[r·N + k][BLOCK]`) into `v[ξ·stride + at + b]`.
struct SandwichBlock<'a, S, const N: usize> {
    d: &'a [f32],
    v: &'a mut [f32],
    at: usize,
    stride: usize,
    side: std::marker::PhantomData<S>,
}

impl<const N: usize, S: Sandwich<N>> Kernel for SandwichBlock<'_, S, N> {
    #[inline(always)]
    fn run<L: Lane>(&mut self, b: usize) {
        // Row j of S d (N lanes), then row j of (S d) Sᵀ: few registers, the loads of d
        // repeated from L1.
        for j in 0..6 {
            let mut t = [L::zero(); N];
            for (k, t) in t.iter_mut().enumerate() {
                let x = |r: usize| L::load(self.d, (r * N + k) * BLOCK + b);
                *t = row_of(&S::MAT, j, x);
            }
            let row = apply6(&S::MAT, |k| t[k]);
            for (l, v) in row.into_iter().enumerate() {
                v.store(self.v, (j * 6 + l) * self.stride + self.at + b);
            }
        }
    }
}

/// `combine(&m[j], x)` with `j` a loop index: a `match` turns it into a literal, so that the
/// coefficients stay constants once the loop is unrolled or not.
#[inline(always)]
fn row_of<L: Lane, const N: usize>(m: &[[f32; N]; 6], j: usize, x: impl Fn(usize) -> L) -> L {
    match j {
        0 => combine(&m[0], x),
        1 => combine(&m[1], x),
        2 => combine(&m[2], x),
        3 => combine(&m[3], x),
        4 => combine(&m[4], x),
        _ => combine(&m[5], x),
    }
}

/// `S d Sᵀ` of every N×N tile of the `n` images of `ch` channels `x` into `v`.
#[inline(always)]
fn gather_transform<const N: usize, S: Sandwich<N>>(
    x: &[f32],
    n: usize,
    ch: usize,
    tiles: Tiles,
    v: &mut [f32],
) {
    let t_len = n * tiles.per_image();
    let stride = xi_stride(ch, t_len);
    let (rows, pw) = (4 * tiles.th + 2 * S::PAD, tiles.tw + S::PAD);
    let mut ph = vec![0f32; rows * 4 * pw];
    let mut d = [0f32; XI * BLOCK];
    for c in 0..ch {
        let (ph, d, v) = (&mut ph[..], &mut d[..], &mut v[..]);
        let (base, side) = (c * t_len, std::marker::PhantomData::<S>);
        let mut walker = GatherWalk::<S, N> {
            x,
            tiles,
            ch,
            c,
            ph,
            d,
            v,
            stride,
            base,
            side,
        };
        walk(tiles, n, &mut walker);
    }
}

multiversion! {
    /// `V[ξ][c][t] = (Bᵀ d B)_ξ` for every 6×6 input tile `d` (tile (ty, tx) starts at input
    /// row 4ty − 1, column 4tx − 1; zero outside) of `n` images with `ch` channels; `v` holds
    /// `36 · xi_stride` floats.
    pub(crate) fn transform_input(x: &[f32], n: usize, ch: usize, tiles: Tiles, v: &mut [f32]) {
        gather_transform::<6, Input>(x, n, ch, tiles, v);
    }
}

multiversion! {
    /// `Ŷ[ξ][c][t] = (A dY Aᵀ)_ξ` for every 4×4 tile of `dy` (zero past the output's edge), the
    /// weight gradient's transform of the output gradient.
    pub(crate) fn transform_output_gradient(
        dy: &[f32],
        n: usize,
        ch: usize,
        tiles: Tiles,
        out: &mut [f32],
    ) {
        gather_transform::<4, Gradient>(dy, n, ch, tiles, out);
    }
}

/// Transforms each block of `m` into `out` (`[i·4 + q][BLOCK]`) and writes its tiles into the
/// output planes, dropping what lies past their edges.
struct OutputWalk<'a> {
    m: &'a [f32],
    tiles: Tiles,
    ch: usize,
    c: usize,
    out: &'a mut [f32],
    y: &'a mut [f32],
    i: usize,
    stride: usize,
    base: usize,
    relu: bool,
}

impl Blocks for OutputWalk<'_> {
    #[inline(always)]
    fn plane(&mut self, i: usize) {
        self.i = i;
    }
    #[inline(always)]
    fn begin(&mut self, t0: usize, len: usize) {
        let (m, at, stride, relu) = (self.m, self.base + t0, self.stride, self.relu);
        sweep_over(
            len,
            &mut OutputBlock {
                m,
                at,
                stride,
                y: self.out,
                relu,
            },
        );
    }
    #[inline(always)]
    fn run(&mut self, ty: usize, tx0: usize, len: usize, b0: usize) {
        let Tiles { h, w, .. } = self.tiles;
        let plane = &mut self.y[(self.i * self.ch + self.c) * h * w..][..h * w];
        for i in 0..4.min(h - 4 * ty) {
            let row = &mut plane[(4 * ty + i) * w..][..w];
            for b in 0..len {
                let x0 = 4 * (tx0 + b);
                for q in 0..4.min(w - x0) {
                    row[x0 + q] = self.out[(i * 4 + q) * BLOCK + b0 + b];
                }
            }
        }
    }
}

/// `Aᵀ M A` of a block of tiles of `m` (`m[ξ·stride + at + b]`) into `y[(i·4 + q)·BLOCK + b]`.
struct OutputBlock<'a> {
    m: &'a [f32],
    at: usize,
    stride: usize,
    y: &'a mut [f32],
    relu: bool,
}

impl Kernel for OutputBlock<'_> {
    #[inline(always)]
    #[allow(clippy::needless_range_loop)]
    fn run<L: Lane>(&mut self, b: usize) {
        // Aᵀ M, column by column: s[l][i].
        let mut s = [[L::zero(); 4]; 6];
        for (l, s) in s.iter_mut().enumerate() {
            let at = l * self.stride + self.at + b;
            *s = apply4(&M.at, |j| L::load(self.m, j * 6 * self.stride + at));
        }
        // (Aᵀ M) A, row by row.
        for i in 0..4 {
            let row = apply4(&M.at, |l| s[l][i]);
            // (`i` indexes the inner arrays of `s`; clippy reads it as indexing `s`.)
            for (q, mut v) in row.into_iter().enumerate() {
                if self.relu {
                    v = v.relu();
                }
                v.store(self.y, (i * 4 + q) * BLOCK + b);
            }
        }
    }
}

multiversion! {
    /// Output tiles `Aᵀ M A` of `M[ξ][c][t]` written into `n` images of `ch` channels (NCHW,
    /// the output size; a tile's part past the edge is dropped), with ReLU when asked.
    pub(crate) fn transform_output(
        m: &[f32],
        n: usize,
        ch: usize,
        tiles: Tiles,
        relu: bool,
        y: &mut [f32],
    ) {
        let t_len = n * tiles.per_image();
        let stride = xi_stride(ch, t_len);
        let mut out = [0f32; 16 * BLOCK];
        for c in 0..ch {
            let (out, y) = (&mut out[..], &mut y[..]);
            let base = c * t_len;
            walk(tiles, n, &mut OutputWalk { m, tiles, ch, c, out, y, i: 0, stride, base, relu });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::winograd::tests::{direct, values};
    use crate::winograd::{accumulate_kernel_gradient, convolve_chunk, Chunk};
    use gemm::Parallelism;

    fn chunk(n: usize, from: usize, to: usize, h: usize, w: usize) -> Chunk {
        Chunk {
            n,
            from,
            to,
            tiles: Tiles::of(4, h, w),
            par: Parallelism::None,
        }
    }

    #[test]
    fn the_construction_gives_lavin_and_gray_s_matrices_for_their_points() {
        // Lavin & Gray 2016, F(4×4, 3×3) with the points 0, ±1, ±2.
        let m = matrices([0.0, 1.0, -1.0, 2.0, -2.0]);
        let bt = [
            [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
            [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
            [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
            [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
            [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
            [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
        ];
        let (s, t, tf) = (1.0 / 6.0, 1.0 / 12.0, 1.0 / 24.0);
        let g = [
            [0.25, 0.0, 0.0],
            [-s, -s, -s],
            [-s, s, -s],
            [tf, t, s],
            [tf, -t, s],
            [0.0, 0.0, 1.0],
        ];
        let at = [
            [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
            [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
            [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
            [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
        ];
        assert_eq!(m.bt, bt);
        assert_eq!(m.at, at);
        for (got, want) in m.g.iter().flatten().zip(g.iter().flatten()) {
            assert!((got - want).abs() < 1e-7, "{got} vs {want}");
        }
    }

    /// |got − want| within `tol` of the reference's largest magnitude.
    fn close(got: &[f32], want: &[f64], tol: f64, what: &str) {
        let scale = want.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= tol * scale,
                "{what}[{i}]: {g} vs {w} (scale {scale})"
            );
        }
    }

    #[test]
    fn chunk_forward_matches_direct_convolution_on_every_edge_case() {
        // Sides 1–13: one tile or several, tiles cut by the edge, blocks of 32 tiles and a
        // remainder, lanes overhanging.
        for &(n, c, o, h, w) in &[
            (2, 5, 4, 8, 8),
            (1, 4, 7, 5, 7),
            (3, 6, 5, 1, 3),
            (1, 4, 4, 2, 1),
            (2, 3, 5, 9, 21),
            (3, 4, 6, 13, 11),
            (5, 4, 4, 16, 16),
        ] {
            let x = values(n * c * h * w, 1);
            let k = values(o * c * 9, 7);
            let mut u = vec![0f32; XI * o * c];
            transform_kernel(&k, o, c, false, &mut u);
            let mut y = vec![f32::NAN; n * o * h * w];
            convolve_chunk(&x, &u, chunk(n, c, o, h, w), false, &mut y, &F4);
            close(&y, &direct(&x, &k, n, c, o, h, w), 1e-5, "y");
        }
    }

    #[test]
    fn flipped_kernel_gives_the_input_gradient_and_the_adjoint_the_kernel_gradient() {
        let (n, c, o, h, w) = (2, 4, 5, 7, 18);
        let x = values(n * c * h * w, 5);
        let r = values(n * o * h * w, 3);
        let k = values(o * c * 9, 9);
        // Input gradient: conv(r, flip(k)ᵀ), checked against the flipped kernel's direct
        // convolution in float64.
        let mut u = vec![0f32; XI * o * c];
        transform_kernel(&k, o, c, true, &mut u);
        let mut dx = vec![0f32; n * c * h * w];
        convolve_chunk(&r, &u, chunk(n, o, c, h, w), false, &mut dx, &F4);
        let mut kf = vec![0f32; c * o * 9];
        for oi in 0..o {
            for ci in 0..c {
                for t in 0..9 {
                    kf[(ci * o + oi) * 9 + t] = k[(oi * c + ci) * 9 + 8 - t];
                }
            }
        }
        close(&dx, &direct(&r, &kf, n, o, c, h, w), 1e-5, "dx");
        // Weight gradient: dW[o][c][a][b] = Σ r[o][y][x] · x[c][y + a − 1][x + b − 1].
        let mut du = vec![0f32; XI * o * c];
        accumulate_kernel_gradient(&x, &r, chunk(n, c, o, h, w), &mut du, &F4);
        let mut dw = vec![0f32; o * c * 9];
        kernel_gradient(&du, o, c, &mut dw);
        let mut want = vec![0f64; o * c * 9];
        for b in 0..n {
            for oi in 0..o {
                for ci in 0..c {
                    for (a, bb) in (0..9).map(|t| (t / 3, t % 3)) {
                        let mut s = 0f64;
                        for yy in 0..h {
                            for xx in 0..w {
                                let (iy, ix) = (yy + a, xx + bb);
                                if iy < 1 || ix < 1 || iy > h || ix > w {
                                    continue;
                                }
                                s += r[((b * o + oi) * h + yy) * w + xx] as f64
                                    * x[((b * c + ci) * h + iy - 1) * w + ix - 1] as f64;
                            }
                        }
                        want[(oi * c + ci) * 9 + a * 3 + bb] += s;
                    }
                }
            }
        }
        close(&dw, &want, 1e-5, "dw");
    }

    #[test]
    fn every_instruction_set_variant_gives_the_same_bits() {
        use crate::lanes::{level, with_level_cap, Level};
        let (n, c, o, h, w) = (3, 5, 6, 11, 19);
        let x = values(n * c * h * w, 4);
        let k = values(o * c * 9, 6);
        let mut u = vec![0f32; XI * o * c];
        transform_kernel(&k, o, c, false, &mut u);
        let run = |cap: Level| {
            with_level_cap(cap, || {
                let mut y = vec![0f32; n * o * h * w];
                convolve_chunk(&x, &u, chunk(n, c, o, h, w), true, &mut y, &F4);
                let mut du = vec![0f32; XI * o * c];
                accumulate_kernel_gradient(&x, &y, chunk(n, c, o, h, w), &mut du, &F4);
                (y, du)
            })
        };
        let base = run(Level::Base);
        for cap in [Level::V3, Level::V4] {
            if level() as u8 >= cap as u8 {
                assert!(run(cap) == base, "{cap:?}");
            }
        }
    }
}

/// The accuracy study behind [`POINTS`]: F(4×4, 3×3) through each candidate set of points and
/// F(2×2, 3×3), against the float64 convolution, on the layer shapes of the models.
#[cfg(test)]
#[allow(clippy::needless_range_loop)] // matrix arithmetic by index, as written on paper
mod accuracy {
    use super::*;
    use crate::winograd::tests::direct;
    use crate::winograd::{convolve_chunk, Chunk, F2};
    use gemm::Parallelism;

    /// Uniform draws in [lo, hi) from a counter-based hash (no RNG crate in this crate).
    fn uniform(len: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
        (0..len as u64)
            .map(|i| {
                let mut z = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                let u = ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32;
                lo + (hi - lo) * u
            })
            .collect()
    }

    type Tile = [[f32; 6]; 6];

    /// `a d aᵀ` in f32, sums in index order.
    fn sandwich(a: &Tile, d: &Tile) -> Tile {
        let mut t = [[0f32; 6]; 6];
        for i in 0..6 {
            for j in 0..6 {
                t[i][j] = (0..6).map(|r| a[i][r] * d[r][j]).sum();
            }
        }
        let mut v = [[0f32; 6]; 6];
        for i in 0..6 {
            for j in 0..6 {
                v[i][j] = (0..6).map(|r| t[i][r] * a[j][r]).sum();
            }
        }
        v
    }

    /// `G g Gᵀ` of each 3×3 kernel of `k`.
    fn kernels(m: &Matrices, k: &[f32]) -> Vec<Tile> {
        k.chunks_exact(9)
            .map(|g| {
                let mut t = [[0f32; 3]; 6];
                for i in 0..6 {
                    for b in 0..3 {
                        t[i][b] = (0..3).map(|a| m.g[i][a] * g[a * 3 + b]).sum();
                    }
                }
                let mut v = [[0f32; 6]; 6];
                for i in 0..6 {
                    for j in 0..6 {
                        v[i][j] = (0..3).map(|b| t[i][b] * m.g[j][b]).sum();
                    }
                }
                v
            })
            .collect()
    }

    /// The 6×6 input tile at (4ty − 1, 4tx − 1) of plane `p` (`h × w`), zero outside.
    fn tile(p: &[f32], (h, w): (usize, usize), (ty, tx): (usize, usize)) -> Tile {
        let mut d = [[0f32; 6]; 6];
        for (r, row) in d.iter_mut().enumerate() {
            for (q, v) in row.iter_mut().enumerate() {
                let (y, x) = ((4 * ty + r).wrapping_sub(1), (4 * tx + q).wrapping_sub(1));
                if y < h && x < w {
                    *v = p[y * w + x];
                }
            }
        }
        d
    }

    /// A shape: images, input and output channels, side.
    struct Layer {
        n: usize,
        c: usize,
        o: usize,
        side: usize,
    }

    /// F(4×4, 3×3) with the matrices `m`, scalar, every sum in f32 in index order.
    fn f4_with(m: &Matrices, x: &[f32], k: &[f32], l: &Layer) -> Vec<f32> {
        let Layer { n, c, o, side } = *l;
        let (plane, tiles) = (side * side, side.div_ceil(4));
        let u = kernels(m, k);
        let mut y = vec![0f32; n * o * plane];
        for b in 0..n {
            for (ty, tx) in (0..tiles * tiles).map(|t| (t / tiles, t % tiles)) {
                let v: Vec<Tile> = (0..c)
                    .map(|ci| {
                        let p = &x[(b * c + ci) * plane..][..plane];
                        sandwich(&m.bt, &tile(p, (side, side), (ty, tx)))
                    })
                    .collect();
                for oi in 0..o {
                    let mut mm = [[0f32; 6]; 6];
                    for ci in 0..c {
                        for i in 0..6 {
                            for j in 0..6 {
                                mm[i][j] += u[oi * c + ci][i][j] * v[ci][i][j];
                            }
                        }
                    }
                    for (i, j) in (0..16).map(|e| (e / 4, e % 4)) {
                        let s = (0..36).fold(0f32, |s, e| {
                            s + m.at[i][e / 6] * mm[e / 6][e % 6] * m.at[j][e % 6]
                        });
                        let (yy, xx) = (4 * ty + i, 4 * tx + j);
                        if yy < side && xx < side {
                            y[((b * o + oi) * side + yy) * side + xx] = s;
                        }
                    }
                }
            }
        }
        y
    }

    /// Largest error relative to the output's root mean square.
    fn rel_error(got: &[f32], want: &[f64]) -> f64 {
        let rms = (want.iter().map(|v| v * v).sum::<f64>() / want.len() as f64).sqrt();
        got.iter()
            .zip(want)
            .map(|(g, w)| (*g as f64 - w).abs())
            .fold(0.0, f64::max)
            / rms
    }

    /// (channels, side) of the models' 3×3 stride-1 layers: Conv6 and the CIFAR ResNets at
    /// 32², 16², 8², 4², ImageNet ResNets down to 7².
    const SHAPES: [(usize, usize); 5] = [(64, 32), (128, 16), (256, 8), (512, 4), (256, 7)];

    #[test]
    fn the_chosen_points_are_the_most_accurate_and_within_the_bound() {
        let candidates: [[f64; 5]; 4] = [
            [0.0, 1.0, -1.0, 2.0, -2.0],
            [0.0, 1.0, -1.0, 0.5, -0.5],
            [0.0, 1.0, -1.0, 0.5, -2.0],
            [0.0, 1.0, -1.0, 2.0, -0.5],
        ];
        let mut worst = vec![0f64; candidates.len()];
        let (mut f2_worst, mut fast_worst) = (0f64, 0f64);
        for (s, &(c, side)) in SHAPES.iter().enumerate() {
            let (n, o) = (1, c.min(64));
            // post-ReLU activations and Kaiming-uniform weights
            let x = uniform(n * c * side * side, 11 + s as u64, 0.0, 1.0);
            let bound = (6.0 / (9.0 * c as f32)).sqrt();
            let k = uniform(o * c * 9, 97 + s as u64, -bound, bound);
            let want = direct(&x, &k, n, c, o, side, side);
            let mut line = format!("{c:>4} ch {side:>2}²:");
            for (i, p) in candidates.iter().enumerate() {
                let layer = Layer { n, c, o, side };
                let e = rel_error(&f4_with(&matrices(*p), &x, &k, &layer), &want);
                worst[i] = worst[i].max(e);
                line += &format!(" {p:?} {e:.2e}");
            }
            let run = |m: usize| {
                let tiles = Tiles::of(m, side, side);
                let chunk = Chunk {
                    n,
                    from: c,
                    to: o,
                    tiles,
                    par: Parallelism::None,
                };
                let mut u = vec![0f32; tiles.xi() * o * c];
                let mut y = vec![0f32; n * o * side * side];
                if m == 4 {
                    transform_kernel(&k, o, c, false, &mut u);
                    convolve_chunk(&x, &u, chunk, false, &mut y, &F4);
                } else {
                    crate::winograd::transform_kernel(&k, o, c, false, &mut u);
                    convolve_chunk(&x, &u, chunk, false, &mut y, &F2);
                }
                rel_error(&y, &want)
            };
            let (f2, fast) = (run(2), run(4));
            f2_worst = f2_worst.max(f2);
            fast_worst = fast_worst.max(fast);
            println!("{line}; F(2×2) {f2:.2e}; F(4×4) as built {fast:.2e}");
        }
        println!("worst: {worst:?}; F(2×2) {f2_worst:.2e}; F(4×4) as built {fast_worst:.2e}");
        let best = (0..candidates.len())
            .min_by(|&a, &b| worst[a].total_cmp(&worst[b]))
            .unwrap();
        assert_eq!(candidates[best], POINTS, "{worst:?}");
        assert!(fast_worst < 2e-5, "{fast_worst}");
        assert!(f2_worst < 5e-6, "{f2_worst}");
    }
}
