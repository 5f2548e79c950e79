//! `conv2d_batch_norm_relu_train` against the two ops it fuses (`conv2d`, then
//! `batch_norm_relu_train`), bit for bit: the output, the reported statistics and both
//! gradients, on every convolution path (Winograd F(2×2) and F(4×4), im2col, pointwise),
//! one-image and multi-image chunks. Its own binary: the path switches are process-wide, and a
//! bitwise comparison must not see them flip halfway.

use candle_core::{Device, Tensor, Var};
use iterand_kernels::{
    batch_norm_relu_train, conv2d, conv2d_batch_norm_relu_train, BatchNormOutput, Conv2dParams,
};

mod common;
use common::{bits, on_every_path, rel_err, values};

/// `(b, c, o, h, w, kernel, stride)`, padding kernel / 2.
type Shape = (usize, usize, usize, usize, usize, usize, usize);

const EPS: f64 = 1e-5;

/// Output, mean, variance, and the gradients of Σ y ⊙ r with respect to x and w, as bits.
fn run(
    (b, c, o, h, w, k, stride): Shape,
    f: impl Fn(&Tensor, &Tensor, Conv2dParams) -> BatchNormOutput,
) -> [Vec<u32>; 5] {
    let dev = Device::Cpu;
    // Shifted inputs: BatchNorm's shift by the channel's first value must matter.
    let xs: Vec<f32> = values(b * c * h * w, 51).iter().map(|v| v + 0.3).collect();
    let x = Var::from_vec(xs, (b, c, h, w), &dev).unwrap();
    let kernel = Var::from_vec(values(o * c * k * k, 52), (o, c, k, k), &dev).unwrap();
    let p = Conv2dParams {
        stride,
        padding: k / 2,
    };
    let out = f(x.as_tensor(), kernel.as_tensor(), p);
    let r = Tensor::from_vec(values(out.y.elem_count(), 53), out.y.shape(), &dev).unwrap();
    let g = (&out.y * &r)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let (gx, gw) = (
        g.get(x.as_tensor()).unwrap(),
        g.get(kernel.as_tensor()).unwrap(),
    );
    [
        bits(&out.y),
        bits(&out.mean),
        bits(&out.var),
        bits(gx),
        bits(gw),
    ]
}

fn separate(x: &Tensor, w: &Tensor, p: Conv2dParams) -> BatchNormOutput {
    batch_norm_relu_train(&conv2d(x, w, p).unwrap(), EPS).unwrap()
}

fn fused(x: &Tensor, w: &Tensor, p: Conv2dParams) -> BatchNormOutput {
    conv2d_batch_norm_relu_train(x, w, p, EPS).unwrap()
}

#[test]
fn fused_normalisation_equals_the_two_ops_bit_for_bit() {
    let shapes: [Shape; 6] = [
        (3, 8, 16, 12, 12, 3, 1),
        (40, 8, 16, 4, 4, 3, 1),
        (2, 3, 5, 9, 9, 3, 1),
        (2, 4, 6, 11, 11, 3, 2),
        (2, 16, 8, 8, 8, 1, 2),
        (3, 6, 10, 7, 5, 1, 1),
    ];
    let f4: [Shape; 2] = [(2, 16, 16, 16, 16, 3, 1), (2, 12, 20, 19, 23, 3, 1)];
    on_every_path(&shapes, &f4, |shape, path| {
        let (want, got) = (run(shape, separate), run(shape, fused));
        let what = [
            "value",
            "mean",
            "variance",
            "input gradient",
            "weight gradient",
        ];
        for (what, (w, g)) in what.iter().zip(want.iter().zip(&got)) {
            assert!(w == g, "{what}, {shape:?}, {path}");
        }
    });
}

/// Against candle's own convolution and BatchNorm formula (the reference of every kernel
/// here), forward: the output and the statistics.
#[test]
fn fused_normalisation_matches_candle() {
    let dev = Device::Cpu;
    let (b, c, o, h, w) = (4, 6, 8, 10, 9);
    let x = Tensor::from_vec(values(b * c * h * w, 61), (b, c, h, w), &dev).unwrap();
    let k = Tensor::from_vec(values(o * c * 9, 62), (o, c, 3, 3), &dev).unwrap();
    let p = Conv2dParams {
        stride: 1,
        padding: 1,
    };
    let conv = x.conv2d(&k, 1, 1, 1, 1).unwrap();
    let reference = iterand_kernels::batch_norm_train_candle(&conv, EPS).unwrap();
    let out = conv2d_batch_norm_relu_train(&x, &k, p, EPS).unwrap();
    assert!(rel_err(&out.y, &reference.y.relu().unwrap()) < 1e-5);
    assert!(rel_err(&out.mean, &reference.mean) < 1e-5);
    assert!(rel_err(&out.var, &reference.var) < 1e-5);
}
