//! ReLU, max-pooling, BatchNorm and the straight-through masked weight against candle's own
//! ops (forward and gradient), plus the PyTorch conventions candle does not share
//! (hand-computed).

use candle_core::{DType, Device, Tensor, Var};
use iterand_kernels::{
    batch_norm_add_relu_train, batch_norm_relu_train, batch_norm_train, batch_norm_train_candle,
    masked_weight, max_pool2d, relu, straight_through,
};

mod common;
use common::{rel_err, values};

/// Value and input gradient of Σ f(x) ⊙ r.
fn value_and_grad(
    shape: (usize, usize, usize, usize),
    seed: u64,
    f: impl Fn(&Tensor) -> Tensor,
) -> (Tensor, Tensor) {
    let dev = Device::Cpu;
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let x = Var::from_vec(values(n, seed), shape, &dev).unwrap();
    let y = f(x.as_tensor());
    let r = Tensor::from_vec(values(y.elem_count(), seed + 1), y.shape(), &dev).unwrap();
    let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    (y, g.get(x.as_tensor()).unwrap().clone())
}

#[test]
fn relu_matches_candle() {
    let shape = (3, 4, 9, 7);
    let (y0, g0) = value_and_grad(shape, 1, |x| x.relu().unwrap());
    let (y1, g1) = value_and_grad(shape, 1, |x| relu(x).unwrap());
    assert_eq!(rel_err(&y1, &y0), 0.0);
    assert_eq!(rel_err(&g1, &g0), 0.0);
}

/// PyTorch's convention: the derivative at exactly 0 is 0 (candle's `x ≥ 0` would give 1).
#[test]
fn relu_gradient_at_zero_is_zero() {
    let x = Var::new(&[-1f32, 0.0, 2.0], &Device::Cpu).unwrap();
    let g = relu(x.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gx = g.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(gx, vec![0.0, 0.0, 1.0]);
}

/// Forward against candle; the gradient against the definition (each window's upstream
/// gradient lands on its maximum), computed here by loops. candle 0.11's own max-pool gradient
/// is not a reference: it multiplies by the window's share of maxima instead of dividing (a
/// unique maximum of a 2×2 window gets a quarter of the gradient), and it refuses kernel ≠ stride.
#[test]
fn max_pool_matches_definition() {
    for (shape, k, s) in [
        ((2, 3, 8, 8), 2, 2),
        ((2, 2, 9, 7), 2, 2),
        ((2, 4, 32, 30), 2, 2),
        ((1, 3, 9, 9), 3, 2),
    ] {
        let (b, c, h, w) = shape;
        let (y1, g1) = value_and_grad(shape, 2, |x| max_pool2d(x, k, s).unwrap());
        let x = values(b * c * h * w, 2);
        let (ho, wo) = ((h - k) / s + 1, (w - k) / s + 1);
        let r = values(b * c * ho * wo, 3);
        let (mut y0, mut g0) = (vec![], vec![0f32; x.len()]);
        for p in 0..b * c {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut best = p * h * w + oy * s * w + ox * s;
                    for ky in 0..k {
                        for kx in 0..k {
                            let i = p * h * w + (oy * s + ky) * w + ox * s + kx;
                            if x[i] > x[best] {
                                best = i;
                            }
                        }
                    }
                    y0.push(x[best]);
                    g0[best] += r[(p * ho + oy) * wo + ox];
                }
            }
        }
        let dev = Device::Cpu;
        let y0 = Tensor::from_vec(y0, y1.shape(), &dev).unwrap();
        let g0 = Tensor::from_vec(g0, g1.shape(), &dev).unwrap();
        assert_eq!(rel_err(&y1, &y0), 0.0, "{shape:?} k{k} s{s}");
        assert!(rel_err(&g1, &g0) < 1e-6, "{shape:?} k{k} s{s}");
        if k == s {
            let y2 = Tensor::from_vec(x.clone(), shape, &dev)
                .unwrap()
                .max_pool2d_with_stride(k, s)
                .unwrap();
            assert_eq!(rel_err(&y1, &y2), 0.0, "forward differs from candle's");
        }
    }
}

/// Ties: the whole gradient goes to the window's first maximum (row-major), as in PyTorch.
#[test]
fn max_pool_sends_ties_to_the_first_maximum() {
    let x = Var::from_vec(vec![1f32, 5.0, 5.0, 5.0], (1, 1, 2, 2), &Device::Cpu).unwrap();
    let y = max_pool2d(x.as_tensor(), 2, 2).unwrap();
    assert_eq!(
        y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        vec![5.0]
    );
    let g = (y * 3.0).unwrap().sum_all().unwrap().backward().unwrap();
    let gx = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
    assert_eq!(gx.to_vec1::<f32>().unwrap(), vec![0.0, 3.0, 0.0, 0.0]);
}

/// A NaN in a window wins (PyTorch propagates it) and receives the window's gradient, on the
/// 2×2 fast path and the general one; of two NaNs the first (row-major, index 1) takes it.
#[test]
fn max_pool_propagates_nan_and_sends_its_gradient_there() {
    let nan = f32::NAN;
    for (k, s, v) in [
        (2, 2, vec![1.0, nan, 7.0, nan]),
        (3, 2, vec![1.0, nan, 0.0, 7.0, nan, 0.0, 0.0, 0.0, 0.0]),
    ] {
        let x = Var::from_vec(v, (1, 1, k, k), &Device::Cpu).unwrap();
        let y = max_pool2d(x.as_tensor(), k, s).unwrap();
        assert!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0].is_nan());
        let g = (y * 3.0).unwrap().sum_all().unwrap().backward().unwrap();
        let gx = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        let gx = gx.to_vec1::<f32>().unwrap();
        assert_eq!(gx[1], 3.0, "k{k}: {gx:?}");
        assert_eq!(gx.iter().filter(|v| **v != 0.0).count(), 1, "k{k}: {gx:?}");
    }
}

/// The 2×2 gradient on rows of many windows (blocks of eight and a remainder, odd sizes) with
/// ties and NaNs in every block: each window's gradient goes to its first maximum, a NaN
/// winning, and every other entry is exactly 0 (the buffer is never zeroed beforehand).
#[test]
fn max_pool_blocks_send_ties_and_nans_to_the_first_maximum() {
    let levels = [0.0f32, 1.0, 1.0, 2.0, f32::NAN];
    for (h, w) in [(2, 32), (5, 41), (4, 18)] {
        let n = 3 * h * w;
        let x: Vec<f32> = (0..n)
            .map(|i| levels[(i * 7 + i / 5) % levels.len()])
            .collect();
        let xv = Var::from_vec(x.clone(), (1, 3, h, w), &Device::Cpu).unwrap();
        let y = max_pool2d(xv.as_tensor(), 2, 2).unwrap();
        let (ho, wo) = (h / 2, w / 2);
        let r: Vec<f32> = (0..3 * ho * wo).map(|i| 1.0 + i as f32).collect();
        let rt = Tensor::from_vec(r.clone(), y.shape(), &Device::Cpu).unwrap();
        let g = (&y * &rt).unwrap().sum_all().unwrap().backward().unwrap();
        let got = g.get(xv.as_tensor()).unwrap().flatten_all().unwrap();
        let got = got.to_vec1::<f32>().unwrap();
        let mut want = vec![0f32; n];
        for p in 0..3 {
            for oy in 0..ho {
                for ox in 0..wo {
                    let at = |ky: usize, kx: usize| p * h * w + (2 * oy + ky) * w + 2 * ox + kx;
                    let mut best = at(0, 0);
                    for i in [at(0, 1), at(1, 0), at(1, 1)] {
                        let nan_wins = x[i].is_nan() && !x[best].is_nan();
                        if x[i] > x[best] || nan_wins {
                            best = i;
                        }
                    }
                    want[best] = r[(p * ho + oy) * wo + ox];
                }
            }
        }
        assert_eq!(got, want, "{h}×{w}");
    }
}

#[test]
fn max_pool_rejects_a_kernel_larger_than_the_input() {
    let x = Tensor::zeros((1, 1, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
    let err = max_pool2d(&x, 3, 1).unwrap_err().to_string();
    assert!(err.contains("does not fit"), "{err}");
}

#[test]
fn batch_norm_matches_candle_graph() {
    for shape in [(4, 3, 5, 5), (2, 8, 1, 1), (16, 2, 3, 2)] {
        let (y0, g0) = value_and_grad(shape, 3, |x| batch_norm_train_candle(x, 1e-5).unwrap().y);
        let (y1, g1) = value_and_grad(shape, 3, |x| batch_norm_train(x, 1e-5).unwrap().y);
        assert!(rel_err(&y1, &y0) < 1e-5, "{shape:?}");
        assert!(rel_err(&g1, &g0) < 1e-4, "{shape:?}: {}", rel_err(&g1, &g0));
    }
}

/// Statistics by hand: channel 0 holds 1, 3, 5, 7 → mean 4, biased variance 5.
#[test]
fn batch_norm_statistics_by_hand() {
    let x = Tensor::new(
        &[[[[1f32, 3.]], [[0., 0.]]], [[[5., 7.]], [[0., 4.]]]],
        &Device::Cpu,
    )
    .unwrap();
    let out = batch_norm_train(&x, 0.0).unwrap();
    assert_eq!(out.mean.to_vec1::<f32>().unwrap(), vec![4.0, 1.0]);
    assert_eq!(out.var.to_vec1::<f32>().unwrap(), vec![5.0, 3.0]);
    let y = out.y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let s = 5f32.sqrt();
    assert!((y[0] + 3.0 / s).abs() < 1e-6 && (y[5] - 3.0 / s).abs() < 1e-6);
}

#[test]
fn batch_norm_relu_equals_relu_after_batch_norm() {
    for shape in [(4, 3, 5, 5), (16, 2, 3, 2)] {
        let (y0, g0) = value_and_grad(shape, 5, |x| {
            batch_norm_train_candle(x, 1e-5).unwrap().y.relu().unwrap()
        });
        let (y1, g1) = value_and_grad(shape, 5, |x| batch_norm_relu_train(x, 1e-5).unwrap().y);
        assert!(rel_err(&y1, &y0) < 1e-5, "{shape:?}");
        assert!(rel_err(&g1, &g0) < 1e-4, "{shape:?}: {}", rel_err(&g1, &g0));
    }
}

/// Output and the gradients of x and of the shortcut of Σ f(x, skip) ⊙ r.
fn value_and_grads2(
    shape: (usize, usize, usize, usize),
    f: impl Fn(&Tensor, &Tensor) -> Tensor,
) -> Vec<Vec<f32>> {
    let dev = Device::Cpu;
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let x = Var::from_vec(values(n, 11), shape, &dev).unwrap();
    // The shortcut straddles zero after the addition often enough to exercise the ReLU's cut.
    let skip = Var::from_vec(values(n, 12), shape, &dev).unwrap();
    let y = f(x.as_tensor(), skip.as_tensor());
    let r = Tensor::from_vec(values(n, 13), shape, &dev).unwrap();
    let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    vec![
        flat(&y),
        flat(g.get(x.as_tensor()).unwrap()),
        flat(g.get(skip.as_tensor()).unwrap()),
    ]
}

/// The fused residual tail gives the values of its three ops, BatchNorm, + and ReLU, to the
/// bit (same f32 expressions): swapping it into the ResNets moves no run. Also close to
/// candle's own graph, and a shortcut of another shape is an error naming both.
#[test]
fn batch_norm_add_relu_equals_the_three_ops() {
    for shape in [(4, 3, 5, 5), (16, 2, 3, 2), (2, 4, 11, 13)] {
        let fused = value_and_grads2(shape, |x, k| {
            batch_norm_add_relu_train(x, k, 1e-5).unwrap().y
        });
        let ours = value_and_grads2(shape, |x, k| {
            relu(&(batch_norm_train(x, 1e-5).unwrap().y + k).unwrap()).unwrap()
        });
        let cut = fused[0].iter().filter(|&&v| v == 0.0).count();
        assert!(cut > 0 && cut < fused[0].len(), "{shape:?}: {cut} zeros");
        assert_eq!(fused, ours, "{shape:?}");
        let candle = value_and_grads2(shape, |x, k| {
            (batch_norm_train_candle(x, 1e-5).unwrap().y + k)
                .unwrap()
                .relu()
                .unwrap()
        });
        for (a, b) in fused.iter().zip(&candle) {
            let err = a
                .iter()
                .zip(b)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let scale = b.iter().map(|b| b.abs()).fold(0f32, f32::max);
            assert!(err <= 1e-4 * scale, "{shape:?}: {err} of {scale}");
        }
    }
    let x = Tensor::zeros((2, 3, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
    let k = Tensor::zeros((2, 3, 4, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
    let err = batch_norm_add_relu_train(&x, &k, 1e-5)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("[2, 3, 4, 5]") && err.contains("[2, 3, 4, 4]"),
        "{err}"
    );
}

/// A resumed run must equal an uninterrupted one bit for bit, so the weight gradient, summed
/// over chunks of the batch on several threads, must not depend on which thread took which
/// chunk: the same inputs give the same bits every time.
#[test]
fn conv_weight_gradient_is_bitwise_repeatable_across_threads() {
    use iterand_kernels::{conv2d, Conv2dParams};
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let dev = Device::Cpu;
    // im2col: 16·9·32² floats of columns per image, a few images per chunk, about 20 chunks;
    // Winograd: 16·24·256 transformed floats per image, five images per chunk, 13 chunks.
    let (b, c, o, s) = (64, 16, 8, 32);
    let x = Tensor::from_vec(values(b * c * s * s, 7), (b, c, s, s), &dev).unwrap();
    let grad = || {
        let w = Var::from_vec(values(o * c * 9, 8), (o, c, 3, 3), &dev).unwrap();
        let p = Conv2dParams {
            stride: 1,
            padding: 1,
        };
        let y = conv2d(&x, w.as_tensor(), p).unwrap();
        let r = Tensor::from_vec(values(y.elem_count(), 9), y.shape(), &dev).unwrap();
        let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let dw = g.get(w.as_tensor()).unwrap().flatten_all().unwrap();
        dw.to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    // Both paths of a 3×3 stride-1 layer: Winograd (the default) and im2col. Switching the
    // process-wide flag only changes which correct path other tests of this binary take.
    for winograd in [true, false] {
        iterand_kernels::set_winograd(winograd);
        let first = pool.install(grad);
        for _ in 0..30 {
            assert_eq!(pool.install(grad), first, "winograd: {winograd}");
        }
    }
    iterand_kernels::set_winograd(true);
}

// The straight-through masked weight against the candle formula it replaces, bit for bit.

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

/// `straight_through` by hand, with the forward's weights and the gradient's factor apart:
/// W_eff = V ⊙ m, ∂L/∂S = F ⊙ c, on the fast path (f32) and through candle's ops (f64).
#[test]
fn straight_through_by_hand_on_both_paths() {
    let v = [2f64, -2.0, 2.0, 2.0, -2.0, 2.0];
    let fac = [0.5f64, 2.0, -3.0, 0.25, 0.0, -1.0];
    let s = [0.1f64, 0.9, -0.3, 0.4, 0.0, 0.2];
    let m = [0f64, 1.0, 0.0, 1.0, 1.0, 0.0];
    let c = [1f64, 2.0, 3.0, 4.0, 5.0, 6.0];
    for dtype in [DType::F32, DType::F64] {
        let dev = Device::Cpu;
        let t = |x: &[f64]| Tensor::new(x, &dev).unwrap().to_dtype(dtype).unwrap();
        let sv = Var::from_tensor(&t(&s)).unwrap();
        let eff = straight_through(&t(&v), &t(&fac), sv.as_tensor(), &t(&m)).unwrap();
        let g = (&eff * t(&c))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let host = |x: &Tensor| x.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(host(&eff), [0.0, -2.0, 0.0, 2.0, -2.0, 0.0], "{dtype:?}");
        let ds = host(g.get(sv.as_tensor()).unwrap());
        assert_eq!(ds, [0.5, 4.0, -9.0, 1.0, 0.0, -6.0], "{dtype:?}");
    }
}
