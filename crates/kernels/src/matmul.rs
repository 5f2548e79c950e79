//! A safe face on `gemm::gemm` for the three products a convolution needs.
//!
//! Matrices are described by a slice and their row and column strides, so a transposed operand
//! is a view, never a copy: the GEMM packs its panels anyway.

use gemm::Parallelism;

/// A read-only matrix view: element (i, j) lives at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose, as a view of the same memory.
    pub fn t(self) -> Self {
        View {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// Where the product goes: the GEMM's speed depends on it (measured on the weight gradient,
/// whose operands both run along the reduction: 34 GFLOP/s into a row-major destination, 100
/// into a column-major one), so each call site picks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dst {
    /// Element (i, j) at `i·n + j`.
    RowMajor,
    /// Element (i, j) at `i + j·m`.
    ColMajor,
}

/// `dst (m × n) = [dst +] a · b`, accumulating when `accumulate` is set.
///
/// Panics if the shapes disagree or a view reaches past its slice: both are programming errors
/// inside this crate, never a consequence of user input (shapes are checked before).
pub(crate) fn matmul(
    dst: &mut [f32],
    layout: Dst,
    a: View,
    b: View,
    accumulate: bool,
    par: Parallelism,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions");
    assert!(dst.len() >= m * n, "destination too small");
    assert!(a.fits() && b.fits(), "view out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    let (dst_cs, dst_rs) = match layout {
        Dst::RowMajor => (1, n as isize),
        Dst::ColMajor => (m as isize, 1),
    };
    // SAFETY: every index the GEMM touches is inside the slices (checked by `fits` and the
    // destination length above), the destination does not alias the sources (it is `&mut`), and
    // the strides are those of the views.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs,
            dst_rs,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: View, b: View) -> Vec<f64> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for l in 0..a.cols {
                    out[i * b.cols + j] +=
                        a.data[i * a.rs + l * a.cs] as f64 * b.data[l * b.rs + j * b.cs] as f64;
                }
            }
        }
        out
    }

    #[test]
    fn matches_naive_product_with_transposed_views_and_accumulation() {
        let a: Vec<f32> = (0..12).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..20).map(|i| (i as f32 * 0.91).cos()).collect();
        // a as 4×3, b stored as 5×4 and used transposed (4×5).
        let av = View::rows(&a, 4, 3).t(); // 3×4
        let bv = View::rows(&b, 5, 4).t(); // 4×5
        let want = naive(av, bv);
        let mut dst = vec![1.0f32; 15];
        matmul(&mut dst, Dst::RowMajor, av, bv, false, Parallelism::None);
        for (d, w) in dst.iter().zip(&want) {
            assert!((*d as f64 - w).abs() < 1e-5, "{d} vs {w}");
        }
        matmul(&mut dst, Dst::RowMajor, av, bv, true, Parallelism::None);
        for (d, w) in dst.iter().zip(&want) {
            assert!((*d as f64 - 2.0 * w).abs() < 1e-5, "{d} vs {}", 2.0 * w);
        }
        // Column-major: element (i, j) of the 3×5 product at i + 3j.
        matmul(&mut dst, Dst::ColMajor, av, bv, false, Parallelism::None);
        for i in 0..3 {
            for j in 0..5 {
                let (d, w) = (dst[i + 3 * j] as f64, want[i * 5 + j]);
                assert!((d - w).abs() < 1e-5, "{d} vs {w}");
            }
        }
    }

    /// The GEMM's own fan-out must not change a bit: the convolution relies on it to keep a
    /// run's numbers independent of the thread count.
    #[test]
    fn fanning_out_over_threads_does_not_change_the_sums() {
        let (m, k, n) = (67, 4099, 301);
        let a: Vec<f32> = (0..m * k).map(|i| ((i as f32) * 0.013).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i as f32) * 0.007).cos()).collect();
        let (av, bv) = (View::rows(&a, m, k), View::rows(&b, k, n));
        let product = |layout, par| {
            let mut dst = vec![0.5f32; m * n];
            matmul(&mut dst, layout, av, bv, true, par);
            dst
        };
        for layout in [Dst::RowMajor, Dst::ColMajor] {
            let alone = product(layout, Parallelism::None);
            for threads in [2, 3, 8] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let fanned = pool.install(|| product(layout, Parallelism::Rayon(threads)));
                assert!(
                    alone
                        .iter()
                        .zip(&fanned)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{threads} threads changed the product"
                );
            }
        }
    }
}
