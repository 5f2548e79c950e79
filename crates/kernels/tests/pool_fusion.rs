//! `conv2d_relu_pool2` against the three ops it fuses (`conv2d_relu`, then `max_pool2d(2, 2)`),
//! bit for bit: the value and both gradients, on every convolution path (Winograd F(2×2) and
//! F(4×4), im2col), odd planes, one-image and multi-image chunks. Its own binary, because the
//! path switches are process-wide and a bitwise comparison must not see them flip halfway.

use candle_core::{Device, Tensor, Var};
use iterand_kernels::{conv2d_relu, conv2d_relu_pool2, max_pool2d, Conv2dParams};

mod common;
use common::{bits, on_every_path, rel_err, values};

/// `(b, c, o, h, w, stride)`, all 3×3 with padding 1.
type Shape = (usize, usize, usize, usize, usize, usize);

/// The output and the gradients of Σ y ⊙ r with respect to x and w, as bits, through `f`.
fn run(
    (b, c, o, h, w, stride): Shape,
    f: impl Fn(&Tensor, &Tensor, Conv2dParams) -> Tensor,
) -> [Vec<u32>; 3] {
    let dev = Device::Cpu;
    let x = Var::from_vec(values(b * c * h * w, 31), (b, c, h, w), &dev).unwrap();
    let k = Var::from_vec(values(o * c * 9, 32), (o, c, 3, 3), &dev).unwrap();
    let p = Conv2dParams { stride, padding: 1 };
    let y = f(x.as_tensor(), k.as_tensor(), p);
    let r = Tensor::from_vec(values(y.elem_count(), 33), y.shape(), &dev).unwrap();
    let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let (gx, gw) = (g.get(x.as_tensor()).unwrap(), g.get(k.as_tensor()).unwrap());
    [bits(&y), bits(gx), bits(gw)]
}

fn separate(x: &Tensor, w: &Tensor, p: Conv2dParams) -> Tensor {
    max_pool2d(&conv2d_relu(x, w, p).unwrap(), 2, 2).unwrap()
}

fn fused(x: &Tensor, w: &Tensor, p: Conv2dParams) -> Tensor {
    conv2d_relu_pool2(x, w, p).unwrap()
}

#[test]
fn fused_pooling_equals_the_three_ops_bit_for_bit() {
    // Winograd F(2×2) on even and odd planes (odd: the last row and column belong to no window
    // and get no gradient), one image per chunk and many (4×4 planes); 3 input channels
    // (im2col); stride 2 (im2col); and F(4×4) on planes of 16 and more.
    let shapes: [Shape; 5] = [
        (3, 8, 16, 12, 12, 1),
        (2, 8, 8, 7, 9, 1),
        (40, 8, 16, 4, 4, 1),
        (2, 3, 5, 9, 9, 1),
        (2, 4, 6, 11, 11, 2),
    ];
    let f4: [Shape; 2] = [(2, 16, 16, 16, 16, 1), (2, 12, 20, 19, 23, 1)];
    on_every_path(&shapes, &f4, |shape, path| {
        let (want, got) = (run(shape, separate), run(shape, fused));
        let what = ["value", "input gradient", "weight gradient"];
        for (what, (w, g)) in what.iter().zip(want.iter().zip(&got)) {
            assert!(w == g, "{what}, {shape:?}, {path}");
        }
    });
}

/// Pooled by hand: a 1-channel 4×4 input and a kernel that is 1 at its centre (the convolution
/// is the identity), so each output is the largest positive value of its window, and its
/// gradient goes to that value's position only, ties to the first.
#[test]
fn fused_pooling_by_hand() {
    let dev = Device::Cpu;
    #[rustfmt::skip]
    let input = [
        1.0f32, 3.0, -1.0, -2.0,
        2.0,   -5.0, -3.0, -4.0,
        0.5,    0.5,  7.0,  6.0,
        0.5,    0.0,  7.0,  1.0,
    ];
    let x = Var::from_vec(input.to_vec(), (1, 1, 4, 4), &dev).unwrap();
    let mut centre = [0f32; 9];
    centre[4] = 1.0;
    let w = Var::from_vec(centre.to_vec(), (1, 1, 3, 3), &dev).unwrap();
    let p = Conv2dParams {
        stride: 1,
        padding: 1,
    };
    let y = conv2d_relu_pool2(x.as_tensor(), w.as_tensor(), p).unwrap();
    let y_flat = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(y_flat, [3.0, 0.0, 0.5, 7.0]);
    let r = Tensor::new(&[10f32, 20.0, 30.0, 40.0], &dev)
        .unwrap()
        .reshape((1, 1, 2, 2))
        .unwrap();
    let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let gx = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
    #[rustfmt::skip]
    let want = [
        0.0f32, 10.0, 0.0, 0.0,
        0.0,     0.0, 0.0, 0.0,
        30.0,    0.0, 40.0, 0.0,
        0.0,     0.0, 0.0, 0.0,
    ];
    // The all-negative window (top right) passes nothing: its maximum is ReLU's 0.
    assert_eq!(gx.to_vec1::<f32>().unwrap(), want);
}

/// The fused value against candle's own convolution, ReLU and pooling (the reference of every
/// kernel here; candle's CPU pooling backward is wrong, so only the forward).
#[test]
fn fused_pooling_matches_candle() {
    let dev = Device::Cpu;
    let (b, c, o, h, w) = (2, 8, 12, 14, 11);
    let x = Tensor::from_vec(values(b * c * h * w, 41), (b, c, h, w), &dev).unwrap();
    let k = Tensor::from_vec(values(o * c * 9, 42), (o, c, 3, 3), &dev).unwrap();
    let p = Conv2dParams {
        stride: 1,
        padding: 1,
    };
    let reference = x.conv2d(&k, 1, 1, 1, 1).unwrap().relu().unwrap();
    let reference = reference.max_pool2d_with_stride(2, 2).unwrap();
    let err = rel_err(&conv2d_relu_pool2(&x, &k, p).unwrap(), &reference);
    assert!(err < 1e-5, "{err}");
}

#[test]
fn an_output_smaller_than_the_window_is_an_error() {
    let dev = Device::Cpu;
    let x = Tensor::zeros((1, 2, 1, 5), candle_core::DType::F32, &dev).unwrap();
    let w = Tensor::zeros((3, 2, 3, 3), candle_core::DType::F32, &dev).unwrap();
    let p = Conv2dParams {
        stride: 1,
        padding: 1,
    };
    let err = conv2d_relu_pool2(&x, &w, p).unwrap_err().to_string();
    assert!(err.contains("1×5") && err.contains("does not fit"), "{err}");
}
