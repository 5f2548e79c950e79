//! The fast convolution against candle's own `conv2d` (the reference), forward and both
//! gradients, on shapes, strides and paddings drawn by proptest.

use candle_core::{Device, Tensor, Var};
use iterand_kernels::{conv2d_fast, conv2d_relu, relu, Conv2dParams};
use proptest::prelude::*;

mod common;
use common::{rel_err, values};

struct Case {
    b: usize,
    c: usize,
    o: usize,
    h: usize,
    w: usize,
    k: usize,
    p: Conv2dParams,
    seed: u64,
}

/// Forward output and gradients of Σ y ⊙ r with respect to x and w, by the given kernel.
fn run(case: &Case, fast: bool) -> (Tensor, Tensor, Tensor) {
    let dev = Device::Cpu;
    let x = Var::from_vec(
        values(case.b * case.c * case.h * case.w, case.seed),
        (case.b, case.c, case.h, case.w),
        &dev,
    )
    .unwrap();
    let w = Var::from_vec(
        values(case.o * case.c * case.k * case.k, case.seed ^ 0xABCD),
        (case.o, case.c, case.k, case.k),
        &dev,
    )
    .unwrap();
    let y = if fast {
        conv2d_fast(x.as_tensor(), w.as_tensor(), case.p).unwrap()
    } else {
        x.as_tensor()
            .conv2d(w.as_tensor(), case.p.padding, case.p.stride, 1, 1)
            .unwrap()
    };
    let r = Tensor::from_vec(values(y.elem_count(), case.seed ^ 0x1234), y.shape(), &dev).unwrap();
    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let gx = grads.get(x.as_tensor()).unwrap().clone();
    let gw = grads.get(w.as_tensor()).unwrap().clone();
    (y, gx, gw)
}

/// Forward output and gradients of Σ y ⊙ r in float64, straight from the definitions:
/// y[b,o,i,j] = Σ x[b,c,i·s−p+u, j·s−p+v] · w[o,c,u,v].
fn reference_f64(case: &Case) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (b, c, o, h, w, k) = (case.b, case.c, case.o, case.h, case.w, case.k);
    let (s, p) = (case.p.stride, case.p.padding);
    let (ho, wo) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
    let x = values(b * c * h * w, case.seed);
    let wt = values(o * c * k * k, case.seed ^ 0xABCD);
    let r = values(b * o * ho * wo, case.seed ^ 0x1234);
    let mut y = vec![0f64; b * o * ho * wo];
    let mut gx = vec![0f64; x.len()];
    let mut gw = vec![0f64; wt.len()];
    for bi in 0..b {
        for oi in 0..o {
            for i in 0..ho {
                for j in 0..wo {
                    let yi = ((bi * o + oi) * ho + i) * wo + j;
                    for ci in 0..c {
                        for u in 0..k {
                            for v in 0..k {
                                let (iy, ix) = (
                                    (i * s + u) as isize - p as isize,
                                    (j * s + v) as isize - p as isize,
                                );
                                if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                                    continue;
                                }
                                let xi = ((bi * c + ci) * h + iy as usize) * w + ix as usize;
                                let wi = ((oi * c + ci) * k + u) * k + v;
                                y[yi] += x[xi] as f64 * wt[wi] as f64;
                                gx[xi] += r[yi] as f64 * wt[wi] as f64;
                                gw[wi] += r[yi] as f64 * x[xi] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    let f = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
    (f(y), f(gx), f(gw))
}

fn check(case: &Case) {
    let describe = format!(
        "b{} c{} o{} {}×{} k{} {:?}",
        case.b, case.c, case.o, case.h, case.w, case.k, case.p
    );
    let (y1, gx1, gw1) = run(case, true);
    // Against the float64 definition, always.
    let (y0, gx0, gw0) = reference_f64(case);
    let dev = Device::Cpu;
    let t = |v: Vec<f32>, like: &Tensor| Tensor::from_vec(v, like.shape(), &dev).unwrap();
    let (ey, ex, ew) = (
        rel_err(&y1, &t(y0, &y1)),
        rel_err(&gx1, &t(gx0, &gx1)),
        rel_err(&gw1, &t(gw0, &gw1)),
    );
    assert!(
        ey < 1e-4 && ex < 1e-4 && ew < 1e-4,
        "{describe} vs f64: forward {ey:e}, dx {ex:e}, dw {ew:e}"
    );
    // Against candle's conv2d, wherever candle's backward gets the input gradient's shape right
    // (its transposed convolution drops the last row/column when a stride does not divide the
    // padded size evenly, so there it has no answer to compare with).
    let (s, p, k) = (case.p.stride, case.p.padding, case.k);
    if (case.h + 2 * p - k) % s == 0 && (case.w + 2 * p - k) % s == 0 {
        let (y0, gx0, gw0) = run(case, false);
        let (ey, ex, ew) = (rel_err(&y1, &y0), rel_err(&gx1, &gx0), rel_err(&gw1, &gw0));
        assert!(
            ey < 1e-4 && ex < 1e-4 && ew < 1e-4,
            "{describe} vs candle: forward {ey:e}, dx {ex:e}, dw {ew:e}"
        );
    }
}

/// The kernel/stride/padding combinations the models use, plus unpadded and odd ones.
fn kernel_strategy() -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![
        Just((3, 1, 1)),
        Just((3, 2, 1)),
        Just((1, 1, 0)),
        Just((1, 2, 0)),
        Just((7, 2, 3)),
        Just((3, 1, 0)),
        Just((5, 3, 2)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_candle_conv2d(
        b in 1usize..5,
        c in 1usize..7,
        o in 1usize..9,
        h in 1usize..14,
        w in 1usize..14,
        (k, stride, padding) in kernel_strategy(),
        seed in any::<u64>(),
    ) {
        prop_assume!(h + 2 * padding >= k && w + 2 * padding >= k);
        check(&Case { b, c, o, h, w, k, p: Conv2dParams { stride, padding }, seed });
    }
}

/// Model-sized layers: many chunks, the GEMM in its blocked regime, non-square images.
#[test]
fn matches_candle_on_model_shapes() {
    for (i, &(b, c, o, h, w, k, stride, padding)) in [
        (16, 64, 64, 16, 16, 3, 1, 1),
        // Winograd: Conv6's second layer, and odd sizes with rows of 6 and 7 tiles.
        (3, 64, 64, 32, 32, 3, 1, 1),
        (5, 12, 20, 11, 13, 3, 1, 1),
        (9, 32, 64, 15, 17, 3, 2, 1),
        (8, 64, 128, 8, 8, 1, 2, 0),
        (4, 3, 64, 32, 32, 7, 2, 3),
        (3, 128, 32, 4, 4, 1, 1, 0),
    ]
    .iter()
    .enumerate()
    {
        check(&Case {
            b,
            c,
            o,
            h,
            w,
            k,
            p: Conv2dParams { stride, padding },
            seed: 100 + i as u64,
        });
    }
}

/// F(4×4, 3×3), switched on, on model-sized layers and odd planes of 16 and more: forward and
/// both gradients against float64 and candle, as every other path. (The switch is process-wide;
/// other tests running meanwhile stay within their tolerances with either variant.)
#[test]
fn winograd4_matches_float64_and_candle_on_model_shapes() {
    iterand_kernels::set_winograd4(true);
    for (i, &(b, c, o, h, w)) in [
        (3, 64, 64, 32, 32),
        (8, 32, 48, 16, 16),
        (2, 12, 20, 19, 23),
    ]
    .iter()
    .enumerate()
    {
        check(&Case {
            b,
            c,
            o,
            h,
            w,
            k: 3,
            p: Conv2dParams {
                stride: 1,
                padding: 1,
            },
            seed: 200 + i as u64,
        });
    }
    iterand_kernels::set_winograd4(false);
}

/// A frozen input (the data batch) gets no gradient and the weight gradient is unchanged.
#[test]
fn input_without_gradient_is_skipped() {
    let dev = Device::Cpu;
    let x = Tensor::from_vec(values(2 * 3 * 6 * 6, 7), (2, 3, 6, 6), &dev).unwrap();
    let w = Var::from_vec(values(4 * 3 * 9, 8), (4, 3, 3, 3), &dev).unwrap();
    let p = Conv2dParams {
        stride: 1,
        padding: 1,
    };
    let y = conv2d_fast(&x, w.as_tensor(), p).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    assert!(g.get(&x).is_none());
    let reference = x.conv2d(w.as_tensor(), 1, 1, 1, 1).unwrap();
    let g0 = reference.sum_all().unwrap().backward().unwrap();
    let err = rel_err(
        g.get(w.as_tensor()).unwrap(),
        g0.get(w.as_tensor()).unwrap(),
    );
    assert!(err < 1e-5, "{err}");
}

/// Non-contiguous inputs (a transposed view) are accepted and give the same result.
#[test]
fn strided_input_is_made_contiguous() {
    let dev = Device::Cpu;
    let x = Tensor::from_vec(values(2 * 3 * 5 * 7, 9), (2, 3, 7, 5), &dev)
        .unwrap()
        .transpose(2, 3)
        .unwrap();
    let w = Tensor::from_vec(values(2 * 3 * 9, 10), (2, 3, 3, 3), &dev).unwrap();
    let p = Conv2dParams {
        stride: 2,
        padding: 1,
    };
    let fast = conv2d_fast(&x, &w, p).unwrap();
    let reference = x.conv2d(&w, 1, 2, 1, 1).unwrap();
    assert!(rel_err(&fast, &reference) < 1e-5);
}

#[test]
fn mismatched_channels_are_a_clear_error() {
    let dev = Device::Cpu;
    let x = Tensor::zeros((1, 3, 8, 8), candle_core::DType::F32, &dev).unwrap();
    let w = Tensor::zeros((4, 2, 3, 3), candle_core::DType::F32, &dev).unwrap();
    let p = Conv2dParams {
        stride: 1,
        padding: 1,
    };
    let err = conv2d_fast(&x, &w, p).unwrap_err().to_string();
    assert!(
        err.contains("3 channels") && err.contains("expects 2"),
        "{err}"
    );
    let w = Tensor::zeros((4, 3, 11, 11), candle_core::DType::F32, &dev).unwrap();
    let err = conv2d_fast(&x, &w, p).unwrap_err().to_string();
    assert!(err.contains("does not fit"), "{err}");
}

/// The fused op equals ReLU after the convolution, values and both gradients, in one-image and
/// multi-image chunks.
#[test]
fn fused_relu_equals_relu_after_conv() {
    let dev = Device::Cpu;
    for (b, c, o, hw, k, stride, padding) in [(2, 3, 5, 9, 3, 1, 1), (40, 8, 16, 4, 3, 2, 1)] {
        let p = Conv2dParams { stride, padding };
        let x = Var::from_vec(values(b * c * hw * hw, 21), (b, c, hw, hw), &dev).unwrap();
        let w = Var::from_vec(values(o * c * k * k, 22), (o, c, k, k), &dev).unwrap();
        let grads = |y: &Tensor| {
            let r = Tensor::from_vec(values(y.elem_count(), 23), y.shape(), &dev).unwrap();
            let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            (
                g.get(x.as_tensor()).unwrap().clone(),
                g.get(w.as_tensor()).unwrap().clone(),
            )
        };
        let separate = relu(&conv2d_fast(x.as_tensor(), w.as_tensor(), p).unwrap()).unwrap();
        let fused = conv2d_relu(x.as_tensor(), w.as_tensor(), p).unwrap();
        assert_eq!(rel_err(&fused, &separate), 0.0);
        let ((gx0, gw0), (gx1, gw1)) = (grads(&separate), grads(&fused));
        assert!(rel_err(&gx1, &gx0) < 1e-6 && rel_err(&gw1, &gw0) < 1e-6);
    }
}
