//! Memory reshuffles around the GEMMs: im2col and its adjoint col2im, in the channel-major
//! ("Caffe") layout.
//!
//! The column matrix of a chunk of n images is K × (n·Ho·Wo) with K = C·kh·kw in the weights'
//! own (c, ky, kx) order, so the weights are used as stored. Row (c, ky, kx) of it is the input
//! plane c shifted by the tap, so building it, and adding it back in col2im, are runs of
//! contiguous copies along image rows: no transposes anywhere.

/// Shapes of one convolution; kernels are `kh × kw`, stride and zero padding are the same along
/// both axes (as in every model of this project and the official code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub ho: usize,
    pub wo: usize,
}

impl Geometry {
    /// Length of one im2col row: kh·kw·C.
    pub fn k(&self) -> usize {
        self.kh * self.kw * self.c
    }
    pub fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    pub fn out_len(&self) -> usize {
        self.o * self.ho * self.wo
    }
    /// A 1×1, stride-1, unpadded kernel: the column matrix of one image is the image itself.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
}

/// `dst (cols × rows) = srcᵀ` for a row-major `rows × cols` source, in cache-sized tiles. Only
/// weight-sized matrices go through it.
pub(crate) fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    const T: usize = 32;
    for r0 in (0..rows).step_by(T) {
        for c0 in (0..cols).step_by(T) {
            for r in r0..(r0 + T).min(rows) {
                for c in c0..(c0 + T).min(cols) {
                    dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
}

/// The valid output columns of one tap: output column `ox` reads input column
/// `ox·s − p + kx`, which is inside the image exactly for `ox` in the returned range.
#[inline]
fn valid_outputs(kx: usize, stride: usize, pad: usize, size: usize, out: usize) -> (usize, usize) {
    // ox·s + kx ≥ p  and  ox·s + kx < size + p.
    let lo = pad.saturating_sub(kx).div_ceil(stride);
    let hi = if size + pad > kx {
        ((size + pad - kx - 1) / stride + 1).min(out)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// For each output row `oy` of one tap (ky, kx): `f(oy·Wo, start)` where `start` is the input
/// offset (row-major in the plane) read by the first valid output column, or `None` when the
/// tap's input row lies in the padding.
#[inline(always)]
fn for_each_row(
    g: &Geometry,
    ky: usize,
    kx: usize,
    lo: usize,
    mut f: impl FnMut(usize, Option<usize>),
) {
    for oy in 0..g.ho {
        let iy = (oy * g.stride + ky) as isize - g.pad as isize;
        if iy < 0 || iy as usize >= g.h {
            f(oy * g.wo, None);
        } else {
            f(
                oy * g.wo,
                Some(iy as usize * g.w + lo * g.stride + kx - g.pad),
            );
        }
    }
}

/// im2col of `n` NCHW images into `cols` (K × n·Ho·Wo), zeros where the kernel overhangs the
/// padded border.
pub(crate) fn im2col(x: &[f32], n: usize, g: &Geometry, cols: &mut [f32]) {
    let pix = g.ho * g.wo;
    let width = n * pix;
    let plane = g.h * g.w;
    for c in 0..g.c {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = ((c * g.kh + ky) * g.kw + kx) * width;
                let (lo, hi) = valid_outputs(kx, g.stride, g.pad, g.w, g.wo);
                for i in 0..n {
                    let src = &x[(i * g.c + c) * plane..][..plane];
                    let dst = &mut cols[row + i * pix..][..pix];
                    if lo == hi {
                        dst.fill(0.0);
                        continue;
                    }
                    for_each_row(g, ky, kx, lo, |d0, start| {
                        let out = &mut dst[d0..d0 + g.wo];
                        match start {
                            None => out.fill(0.0),
                            Some(s0) => {
                                out[..lo].fill(0.0);
                                if g.stride == 1 {
                                    out[lo..hi].copy_from_slice(&src[s0..s0 + hi - lo]);
                                } else {
                                    for (j, o) in out[lo..hi].iter_mut().enumerate() {
                                        *o = src[s0 + j * g.stride];
                                    }
                                }
                                out[hi..].fill(0.0);
                            }
                        }
                    });
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every column-matrix entry back onto the input pixel it was
/// read from. `x` must be zeroed (or hold what the sums should start from).
pub(crate) fn col2im(cols: &[f32], n: usize, g: &Geometry, x: &mut [f32]) {
    let pix = g.ho * g.wo;
    let width = n * pix;
    let plane = g.h * g.w;
    for i in 0..n {
        for c in 0..g.c {
            let dst = &mut x[(i * g.c + c) * plane..][..plane];
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let row = ((c * g.kh + ky) * g.kw + kx) * width;
                    let src = &cols[row + i * pix..][..pix];
                    let (lo, hi) = valid_outputs(kx, g.stride, g.pad, g.w, g.wo);
                    if lo == hi {
                        continue;
                    }
                    for_each_row(g, ky, kx, lo, |d0, start| {
                        let Some(s0) = start else { return };
                        let run = &src[d0 + lo..d0 + hi];
                        if g.stride == 1 {
                            for (a, b) in dst[s0..s0 + hi - lo].iter_mut().zip(run) {
                                *a += *b;
                            }
                        } else {
                            for (j, b) in run.iter().enumerate() {
                                dst[s0 + j * g.stride] += *b;
                            }
                        }
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(c: usize, h: usize, w: usize, k: usize, stride: usize, pad: usize) -> Geometry {
        Geometry {
            c,
            h,
            w,
            o: 1,
            kh: k,
            kw: k,
            stride,
            pad,
            ho: (h + 2 * pad - k) / stride + 1,
            wo: (w + 2 * pad - k) / stride + 1,
        }
    }

    /// im2col by the definition: entry ((c, ky, kx), (i, oy, ox)) is
    /// x[i, c, oy·s−p+ky, ox·s−p+kx], or 0 outside the image.
    fn im2col_naive(x: &[f32], n: usize, g: &Geometry) -> Vec<f32> {
        let mut out = vec![];
        for ch in 0..g.c {
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    for i in 0..n {
                        for oy in 0..g.ho {
                            for ox in 0..g.wo {
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                                let inside = iy >= 0
                                    && ix >= 0
                                    && (iy as usize) < g.h
                                    && (ix as usize) < g.w;
                                out.push(if inside {
                                    x[((i * g.c + ch) * g.h + iy as usize) * g.w + ix as usize]
                                } else {
                                    0.0
                                });
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn transpose_moves_every_element() {
        let (r, c) = (37, 70);
        let a: Vec<f32> = (0..r * c).map(|i| i as f32).collect();
        let mut t = vec![0.0; r * c];
        transpose(&a, r, c, &mut t);
        for i in 0..r {
            for j in 0..c {
                assert_eq!(t[j * r + i], a[i * c + j]);
            }
        }
    }

    #[test]
    fn im2col_matches_definition_and_col2im_is_its_adjoint() {
        for &(c, h, w, k, s, p) in &[
            (2, 5, 4, 3, 1, 1),
            (3, 7, 7, 3, 2, 1),
            (1, 6, 5, 1, 2, 0),
            (2, 9, 8, 7, 2, 3),
            (1, 2, 2, 3, 1, 1),
            (2, 5, 6, 3, 3, 0),
            (1, 1, 1, 3, 2, 1),
        ] {
            let g = geometry(c, h, w, k, s, p);
            let n = 2;
            let x: Vec<f32> = (0..n * g.in_len())
                .map(|i| (i as f32 * 0.7).sin())
                .collect();
            let mut cols = vec![f32::NAN; n * g.ho * g.wo * g.k()];
            im2col(&x, n, &g, &mut cols);
            assert_eq!(cols, im2col_naive(&x, n, &g), "{g:?}");
            // <im2col(x), y> == <x, col2im(y)> for any y.
            let y: Vec<f32> = (0..cols.len()).map(|i| (i as f32 * 0.3).cos()).collect();
            let mut back = vec![0.0; n * g.in_len()];
            col2im(&y, n, &g, &mut back);
            let lhs: f64 = cols
                .iter()
                .zip(&y)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(&back)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            assert!(
                (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
                "{g:?}: {lhs} vs {rhs}"
            );
        }
    }
}
