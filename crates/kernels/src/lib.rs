//! Fast CPU kernels for the training loop.
//!
//! candle 0.11's CPU convolution runs its passes through naive dot-product loops and reaches a
//! fraction of the machine's GEMM rate, so on a CPU the convolutions dominate a supermask step.
//! This crate owns the one place where the project goes below candle's tensor API: a 2-D
//! convolution written as im2col + GEMM (the `gemm` crate candle itself uses) with its own
//! backward, registered as a candle [`CustomOp2`](candle_core::CustomOp2) so autograd, the
//! straight-through mask and the optimiser see an ordinary tensor op.
//!
//! [`conv2d`] is the entry point the masked layers call; it takes the fast path for f32 tensors on
//! the CPU and hands everything else (CUDA, Metal, other dtypes) to candle's own convolution.

mod conv;
mod layout;
mod matmul;
mod scratch;

pub use conv::{conv2d, conv2d_fast, fast_conv_enabled, set_fast_conv, Conv2dParams};
