//! BatchNorm's per-plane sums, in eight lanes whose order fixes the result.
//!
//! A running sum in one accumulator is a chain of dependent additions, and the compiler may not
//! reorder float additions to vectorise it; so each sum keeps eight lane sums, element `i` of a
//! plane going to lane `i mod 8`, and the lanes are added in order at the end. Written element
//! by element that was still scalar code: the compiler paired each lane's two sums (Σ g and
//! Σ g·ŷ) into one register rather than eight lanes of one sum, and these three loops took 8 %
//! of a ResNet-18 step. On x86-64 with AVX2 the blocks of eight are therefore summed with
//! explicit vector instructions ([`avx2`]): the same additions and multiplications per lane,
//! in the same order, so every instruction set gives the same bits (tested).

use crate::activation::through_relu;
#[cfg(target_arch = "x86_64")]
use crate::lanes::{level, Level};

/// Lanes per sum.
const LANES: usize = 8;

/// Σ (v − k) and Σ (v − k)² over one plane, in eight float64 lanes (`k` shifts the values near
/// their mean, so the sum of squares keeps its precision).
pub(crate) fn plane_moments(p: &[f32], k: f64) -> (f64, f64) {
    let whole = p.len() / LANES * LANES;
    let (mut s, mut ss) = moments_blocks(&p[..whole], k);
    for &v in &p[whole..] {
        let (d, dd) = moment_terms(v, k);
        s[0] += d;
        ss[0] += dd;
    }
    (s.iter().sum(), ss.iter().sum())
}

/// Σ g and Σ g·ŷ over one plane of the output gradient `g` and the normalised values ŷ: `v`
/// itself, or with `relu = Some((mean, inv_std))`, `(v − mean)·inv_std` with `g` zeroed where
/// that is not positive (BatchNorm's fused ReLU).
pub(crate) fn plane_gradient_sums(g: &[f32], v: &[f32], relu: Option<(f32, f32)>) -> (f64, f64) {
    let whole = g.len() / LANES * LANES;
    let (mut a, mut b) = gradient_blocks(&g[..whole], &v[..whole], relu);
    for (g, v) in g[whole..].iter().zip(&v[whole..]) {
        let (g, gy) = gradient_terms(*g, *v, relu);
        a[0] += g;
        b[0] += gy;
    }
    (lane_total(a), lane_total(b))
}

/// Σ g' and Σ g'·ŷ over one plane, where g' is `g` cut where the fused ReLU's output `y` is 0
/// and ŷ = `(x − m)·s` (the shortcut added after ŷ does not enter BatchNorm's gradient).
pub(crate) fn plane_gated_sums(g: &[f32], x: &[f32], y: &[f32], m: f32, s: f32) -> (f64, f64) {
    let whole = g.len() / LANES * LANES;
    let (mut a, mut b) = gated_blocks((&g[..whole], &x[..whole], &y[..whole]), m, s);
    for ((g, x), y) in g[whole..].iter().zip(&x[whole..]).zip(&y[whole..]) {
        let (g, gy) = gated_terms(*g, *x, *y, (m, s));
        a[0] += g;
        b[0] += gy;
    }
    (lane_total(a), lane_total(b))
}

/// One value's (v − k, (v − k)²).
#[inline(always)]
fn moment_terms(v: f32, k: f64) -> (f64, f64) {
    let d = v as f64 - k;
    (d, d * d)
}

/// One element's (g, g·ŷ) of [`plane_gradient_sums`].
#[inline(always)]
fn gradient_terms(g: f32, v: f32, relu: Option<(f32, f32)>) -> (f32, f32) {
    let (g, y) = match relu {
        Some((m, s)) => {
            let y = (v - m) * s;
            (through_relu(g, y), y)
        }
        None => (g, v),
    };
    (g, g * y)
}

/// One element's (g', g'·ŷ) of [`plane_gated_sums`].
#[inline(always)]
fn gated_terms(g: f32, x: f32, y: f32, (m, s): (f32, f32)) -> (f32, f32) {
    let g = through_relu(g, y);
    (g, g * ((x - m) * s))
}

/// The f64 total of eight f32 lane sums, in lane order.
fn lane_total(l: [f32; LANES]) -> f64 {
    l.iter().map(|&x| x as f64).sum()
}

/// Whether the explicit vector forms can run here (and are not capped off in a test).
#[cfg(target_arch = "x86_64")]
fn vectors() -> bool {
    level() != Level::Base
}

/// [`plane_moments`]'s lane sums over whole blocks of eight.
fn moments_blocks(p: &[f32], k: f64) -> ([f64; LANES], [f64; LANES]) {
    #[cfg(target_arch = "x86_64")]
    if vectors() {
        // SAFETY: the CPU has AVX2 (`vectors`).
        return unsafe { avx2::moments(p, k) };
    }
    let (mut s, mut ss) = ([0f64; LANES], [0f64; LANES]);
    for c in p.chunks_exact(LANES) {
        for l in 0..LANES {
            let (d, dd) = moment_terms(c[l], k);
            s[l] += d;
            ss[l] += dd;
        }
    }
    (s, ss)
}

/// [`plane_gradient_sums`]'s lane sums over whole blocks of eight.
fn gradient_blocks(g: &[f32], v: &[f32], relu: Option<(f32, f32)>) -> ([f32; 8], [f32; 8]) {
    #[cfg(target_arch = "x86_64")]
    if vectors() {
        // SAFETY: the CPU has AVX2 (`vectors`).
        return unsafe { avx2::gradient(g, v, relu) };
    }
    let (mut a, mut b) = ([0f32; LANES], [0f32; LANES]);
    for (g8, v8) in g.chunks_exact(LANES).zip(v.chunks_exact(LANES)) {
        for l in 0..LANES {
            let (g, gy) = gradient_terms(g8[l], v8[l], relu);
            a[l] += g;
            b[l] += gy;
        }
    }
    (a, b)
}

/// [`plane_gated_sums`]'s lane sums over whole blocks of eight of `(g, x, y)`.
fn gated_blocks(gxy: (&[f32], &[f32], &[f32]), m: f32, s: f32) -> ([f32; 8], [f32; 8]) {
    #[cfg(target_arch = "x86_64")]
    if vectors() {
        // SAFETY: the CPU has AVX2 (`vectors`).
        return unsafe { avx2::gated(gxy, m, s) };
    }
    let (g, x, y) = gxy;
    let (mut a, mut b) = ([0f32; LANES], [0f32; LANES]);
    let blocks = g.chunks_exact(LANES).zip(x.chunks_exact(LANES));
    for ((g8, x8), y8) in blocks.zip(y.chunks_exact(LANES)) {
        for l in 0..LANES {
            let (g, gy) = gated_terms(g8[l], x8[l], y8[l], (m, s));
            a[l] += g;
            b[l] += gy;
        }
    }
    (a, b)
}

/// The block sums in AVX2 registers: one `__m256` is the eight f32 lanes, two `__m256d` the
/// eight f64 ones. Only additions, subtractions, multiplications and compares, each the IEEE
/// operation of the portable form (no fused multiply-add), lane for lane.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// The eight f32 values at `s[i..i + 8]`.
    #[inline(always)]
    unsafe fn load(s: &[f32], i: usize) -> __m256 {
        let lane = &s[i..i + LANES];
        // SAFETY: `lane` holds eight f32; unaligned loads are allowed.
        unsafe { _mm256_loadu_ps(lane.as_ptr()) }
    }

    #[inline(always)]
    unsafe fn store(v: __m256) -> [f32; LANES] {
        let mut out = [0f32; LANES];
        // SAFETY: `out` holds eight f32.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
        out
    }

    /// `g` where `y > 0` (ordered: NaN cuts), else +0: the bit mask of `through_relu`.
    #[inline(always)]
    unsafe fn gate(g: __m256, y: __m256) -> __m256 {
        _mm256_and_ps(g, _mm256_cmp_ps::<_CMP_GT_OQ>(y, _mm256_setzero_ps()))
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn moments(p: &[f32], k: f64) -> ([f64; LANES], [f64; LANES]) {
        let kk = _mm256_set1_pd(k);
        let (mut s0, mut s1) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        let (mut q0, mut q1) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        for i in (0..p.len() / LANES * LANES).step_by(LANES) {
            let v = unsafe { load(p, i) };
            let d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), kk);
            let d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)), kk);
            (s0, s1) = (_mm256_add_pd(s0, d0), _mm256_add_pd(s1, d1));
            q0 = _mm256_add_pd(q0, _mm256_mul_pd(d0, d0));
            q1 = _mm256_add_pd(q1, _mm256_mul_pd(d1, d1));
        }
        let (mut s, mut ss) = ([0f64; LANES], [0f64; LANES]);
        // SAFETY: each half of `s` and `ss` holds four f64.
        unsafe {
            _mm256_storeu_pd(s.as_mut_ptr(), s0);
            _mm256_storeu_pd(s[4..].as_mut_ptr(), s1);
            _mm256_storeu_pd(ss.as_mut_ptr(), q0);
            _mm256_storeu_pd(ss[4..].as_mut_ptr(), q1);
        }
        (s, ss)
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn gradient(
        g: &[f32],
        v: &[f32],
        relu: Option<(f32, f32)>,
    ) -> ([f32; LANES], [f32; LANES]) {
        let (mut a, mut b) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let blocks = (0..g.len() / LANES * LANES).step_by(LANES);
        match relu {
            Some((m, s)) => {
                let (mm, ss) = (_mm256_set1_ps(m), _mm256_set1_ps(s));
                for i in blocks {
                    let y = _mm256_mul_ps(_mm256_sub_ps(unsafe { load(v, i) }, mm), ss);
                    let g = unsafe { gate(load(g, i), y) };
                    (a, b) = (_mm256_add_ps(a, g), _mm256_add_ps(b, _mm256_mul_ps(g, y)));
                }
            }
            None => {
                for i in blocks {
                    let (g, y) = unsafe { (load(g, i), load(v, i)) };
                    (a, b) = (_mm256_add_ps(a, g), _mm256_add_ps(b, _mm256_mul_ps(g, y)));
                }
            }
        }
        unsafe { (store(a), store(b)) }
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn gated(
        (g, x, y): (&[f32], &[f32], &[f32]),
        m: f32,
        s: f32,
    ) -> ([f32; LANES], [f32; LANES]) {
        let (mm, ss) = (_mm256_set1_ps(m), _mm256_set1_ps(s));
        let (mut a, mut b) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for i in (0..g.len() / LANES * LANES).step_by(LANES) {
            let g = unsafe { gate(load(g, i), load(y, i)) };
            let yhat = _mm256_mul_ps(_mm256_sub_ps(unsafe { load(x, i) }, mm), ss);
            (a, b) = (
                _mm256_add_ps(a, g),
                _mm256_add_ps(b, _mm256_mul_ps(g, yhat)),
            );
        }
        unsafe { (store(a), store(b)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::{with_level_cap, Level};

    /// Values of both signs, zeros, a NaN and lengths on and off the lanes: the vector forms
    /// give the portable forms' bits.
    #[test]
    fn vector_sums_equal_the_portable_sums() {
        let data = |len: usize, seed: u32| -> Vec<f32> {
            (0..len as u32)
                .map(|i| match (i * 13 + seed * 5) % 17 {
                    0 => 0.0,
                    1 if seed == 3 => f32::NAN,
                    k => (k as f32 - 8.3) * 0.731 + seed as f32 * 1e-3,
                })
                .collect()
        };
        for len in [0, 5, 8, 16, 45, 1024] {
            let (g, x, y) = (data(len, 1), data(len, 2), data(len, 3));
            let all = || {
                [
                    plane_moments(&x, 0.37),
                    plane_gradient_sums(&g, &x, None),
                    plane_gradient_sums(&g, &x, Some((0.25, 1.7))),
                    plane_gated_sums(&g, &x, &y, 0.25, 1.7),
                ]
                .map(|(a, b)| (a.to_bits(), b.to_bits()))
            };
            let want = with_level_cap(Level::Base, all);
            assert_eq!(all(), want, "len {len}");
            assert_eq!(with_level_cap(Level::V3, all), want, "len {len}");
        }
    }

    /// A plane of sixteen by hand: lanes 0–7 each get two values, the lane sums add in order.
    #[test]
    fn sums_by_hand() {
        let g: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let v = vec![2.0f32; 16];
        assert_eq!(plane_gradient_sums(&g, &v, None), (120.0, 240.0));
        // ŷ = (2 − 1)·0.5 = 0.5 > 0 keeps every g.
        assert_eq!(plane_gradient_sums(&g, &v, Some((1.0, 0.5))), (120.0, 60.0));
        // ŷ = (2 − 3)·0.5 < 0 cuts them all.
        assert_eq!(plane_gradient_sums(&g, &v, Some((3.0, 0.5))), (0.0, 0.0));
        let y: Vec<f32> = (0..16)
            .map(|i| if i % 2 == 0 { 1.0 } else { 0.0 })
            .collect();
        // Even g kept: 0 + 2 + … + 14 = 56, times ŷ = (2 − 1)·2 = 2.
        assert_eq!(plane_gated_sums(&g, &v, &y, 1.0, 2.0), (56.0, 112.0));
        let (s, ss) = plane_moments(&[1.0, 2.0, 3.0, 4.0, 5.0], 3.0);
        assert_eq!((s, ss), (0.0, 10.0));
    }
}
