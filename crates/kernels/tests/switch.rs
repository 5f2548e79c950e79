//! The process-wide switch back to candle's ops. In a test binary of its own: flipping it while
//! other tests run would route them to candle mid-test.

use candle_core::{Device, Tensor};
use iterand_kernels::{conv2d, set_fast_kernels, Conv2dParams};

mod common;
use common::{rel_err, values};

/// The switch routes to candle's kernel; both paths agree.
#[test]
fn switch_falls_back_to_candle() {
    let dev = Device::Cpu;
    let x = Tensor::from_vec(values(3 * 8 * 8, 11), (1, 3, 8, 8), &dev).unwrap();
    let w = Tensor::from_vec(values(5 * 27, 12), (5, 3, 3, 3), &dev).unwrap();
    let p = Conv2dParams {
        stride: 1,
        padding: 1,
    };
    let fast = conv2d(&x, &w, p).unwrap();
    set_fast_kernels(false);
    let slow = conv2d(&x, &w, p).unwrap();
    set_fast_kernels(true);
    assert!(rel_err(&fast, &slow) < 1e-5);
}
