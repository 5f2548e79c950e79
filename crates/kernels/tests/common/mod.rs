//! Helpers shared by the kernel tests.

use candle_core::Tensor;

/// Deterministic values in [-1, 1) from a seed (SplitMix64), so failures replay exactly.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Largest |a − b| relative to the reference's largest magnitude.
pub fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// The values' bit patterns (−0 included), for bitwise comparisons.
#[allow(dead_code)] // not every test binary compares bitwise
pub fn bits(t: &Tensor) -> Vec<u32> {
    let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    v.iter().map(|v| v.to_bits()).collect()
}

/// Runs `check(shape, path)` for every convolution path: each of `shapes` with Winograd on
/// and off (im2col), each of `f4_shapes` with F(4×4) on; `path` names the switches for
/// messages. The switches are process-wide, so a binary calling this compares nothing else
/// meanwhile; they are restored to the defaults afterwards.
#[allow(dead_code)] // only the fusion tests sweep the paths
pub fn on_every_path<S: Copy>(shapes: &[S], f4_shapes: &[S], mut check: impl FnMut(S, &str)) {
    let f2 = shapes
        .iter()
        .flat_map(|&s| [(s, true, false), (s, false, false)]);
    for (shape, winograd, winograd4) in f2.chain(f4_shapes.iter().map(|&s| (s, true, true))) {
        iterand_kernels::set_winograd(winograd);
        iterand_kernels::set_winograd4(winograd4);
        check(shape, &format!("winograd {winograd}, F(4×4) {winograd4}"));
    }
    iterand_kernels::set_winograd(true);
    iterand_kernels::set_winograd4(false);
}
