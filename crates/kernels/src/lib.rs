//! Fast CPU kernels for the training loop.
//!
//! candle 0.11's CPU convolution runs its passes through naive dot-product loops and reaches a
//! fraction of the machine's GEMM rate, and its autograd builds ReLU, pooling and BatchNorm
//! gradients out of many full passes over the activations; on a CPU these dominate a supermask
//! step. This crate is the one place where the project goes below candle's tensor API: each op
//! is a candle custom op (so autograd, the straight-through mask and the optimiser see an
//! ordinary tensor) with a forward and a backward written for the CPU:
//!
//! - [`conv2d`] (and [`conv2d_relu`], [`conv2d_relu_pool2`], fused): Winograd F(2×2, 3×3) for 3×3 stride-1 layers
//!   (F(4×4, 3×3) on planes of 16 and more with [`set_winograd4`]),
//!   im2col for the rest, both on a GEMM (the `gemm` crate candle itself uses), work split over
//!   the cores;
//! - [`relu`], [`max_pool2d`]: one pass each way;
//! - [`batch_norm_train`]: batch statistics and the closed-form BatchNorm gradient, fused with
//!   the ReLU after it ([`batch_norm_relu_train`]; with the convolution before it too,
//!   [`conv2d_batch_norm_relu_train`]) or a residual block's shortcut addition and
//!   ReLU ([`batch_norm_add_relu_train`]);
//! - [`masked_weight`]: edge-popup's straight-through `W ⊙ mask` as one node instead of four
//!   ([`straight_through`] where the forward's weights and the gradient's factor differ);
//! - [`sgd_update`]: SGD's update of a variable in one pass instead of eight tensors.
//!
//! Each takes its fast path for f32 tensors on the CPU and hands everything else (CUDA, Metal,
//! other dtypes) to candle's own ops, which it matches to float rounding (tested), so callers
//! need not care which ran. [`set_fast_kernels`] switches the whole crate off for comparisons.

mod activation;
mod alloc;
mod conv;
mod conv_norm;
mod cpu;
mod lanes;
mod layout;
mod matmul;
mod norm;
mod scratch;
mod sgd;
mod ste;
mod sums;
mod variant;
mod winograd;
mod winograd4;

pub use activation::{max_pool2d, relu};
pub use alloc::retain_freed_memory;
pub use conv::{conv2d, conv2d_fast, conv2d_relu, conv2d_relu_pool2, Conv2dParams};
pub use conv_norm::conv2d_batch_norm_relu_train;
pub use cpu::{fast_kernels_enabled, set_fast_kernels};
pub use norm::{
    batch_norm_add_relu_train, batch_norm_relu_train, batch_norm_train, batch_norm_train_candle,
    BatchNormOutput,
};
pub use sgd::{sgd_update, SgdCoeffs};
pub use ste::{masked_weight, straight_through};
pub use variant::set_winograd4;
pub use winograd::set_winograd;
