//! The straight-through masked weight against the candle formula it replaces, bit for bit.

use candle_core::{Device, Tensor, Var};
use iterand_kernels::masked_weight;

mod common;
use common::values;

/// `(W_eff, ∂L/∂S, whether W got a gradient)` for L = Σ W_eff ⊙ c, through `f`.
fn run(
    f: impl Fn(&Tensor, &Tensor, &Tensor) -> Tensor,
    w: &[f32],
    s: &[f32],
    m: &[f32],
    c: &[f32],
) -> (Vec<u32>, Vec<u32>, bool) {
    let dev = Device::Cpu;
    let shape = (w.len() / 6, 2, 3);
    let w = Var::from_vec(w.to_vec(), shape, &dev).unwrap();
    let s = Var::from_vec(s.to_vec(), shape, &dev).unwrap();
    let m = Tensor::from_vec(m.to_vec(), shape, &dev).unwrap();
    let c = Tensor::from_vec(c.to_vec(), shape, &dev).unwrap();
    let eff = f(w.as_tensor(), s.as_tensor(), &m);
    let g = (&eff * &c).unwrap().sum_all().unwrap().backward().unwrap();
    let bits = |t: &Tensor| {
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        v.iter().map(|x| x.to_bits()).collect()
    };
    let ds = bits(g.get(s.as_tensor()).expect("scores get a gradient"));
    (bits(&eff), ds, g.get(w.as_tensor()).is_some())
}

/// Negative weights under a 0 mask (W_eff −0), zero upstream gradients of either sign (∂L/∂S
/// −0 before candle's accumulation), and random values.
#[test]
fn masked_weight_equals_the_candle_formula_bit_for_bit() {
    let n = 60;
    let mut w = values(n, 1);
    let s = values(n, 2);
    let mut c = values(n, 3);
    let m: Vec<f32> = (0..n).map(|i| ((i * 7) % 3 != 0) as u8 as f32).collect();
    (w[0], c[0], c[1], c[2]) = (-1.5, -0.0, 0.0, -0.0);
    w[2] = 0.0;
    let candle = |w: &Tensor, s: &Tensor, m: &Tensor| {
        let through = (m + (s - s.detach()).unwrap()).unwrap();
        (w.detach() * through).unwrap()
    };
    let ours = |w: &Tensor, s: &Tensor, m: &Tensor| masked_weight(w, s, m).unwrap();
    let want = run(candle, &w, &s, &m, &c);
    let got = run(ours, &w, &s, &m, &c);
    assert_eq!(got, want);
    assert!(!got.2, "the frozen weights got a gradient");
    assert_eq!(got.0[0], (-0.0f32).to_bits(), "−1.5 · 0 is −0 in both");
}

/// The values by hand: W_eff = W ⊙ m, ∂L/∂S = W ⊙ c.
#[test]
fn masked_weight_by_hand() {
    let w = [0.5f32, -2.0, 3.0, 0.25, 1.0, -1.0];
    let s = [0.1f32, 0.9, -0.3, 0.4, 0.0, 0.2];
    let m = [0f32, 1.0, 0.0, 1.0, 1.0, 0.0];
    let c = [1f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let ours = |w: &Tensor, s: &Tensor, m: &Tensor| masked_weight(w, s, m).unwrap();
    let (eff, ds, _) = run(ours, &w, &s, &m, &c);
    let f = |v: Vec<u32>| v.into_iter().map(f32::from_bits).collect::<Vec<_>>();
    assert_eq!(f(eff), [0.0, -2.0, 0.0, 0.25, 1.0, -0.0]);
    assert_eq!(f(ds), [0.5, -4.0, 9.0, 1.0, 5.0, -6.0]);
}
