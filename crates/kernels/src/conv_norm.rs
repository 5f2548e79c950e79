//! A convolution with the training-mode BatchNorm and ReLU after it as one op: the ResNets'
//! conv–BN–ReLU.
//!
//! As two ops, BatchNorm's backward wrote the convolution's output gradient in full, and
//! candle's autograd added it onto a fresh zeros tensor before the convolution's backward read
//! it again: three activation-sized buffers and four passes over them. Here the convolution's
//! backward builds each chunk's output gradient from BatchNorm's closed form while the chunk is
//! in cache (`Through::NormRelu`), and the graph has one node where it had two. The values are
//! those of the two ops, the same f32 expressions in the same order (tested bit for bit).

use crate::alloc::filled_by_pieces;
use crate::conv::{as_tensors, backward, forward, geometry, Conv2dParams, Through};
use crate::cpu::{cpu_slice, fast_path, with_data};
use crate::norm::{normalize_plane, Stats};
use crate::sums::plane_gradient_sums;
use crate::{batch_norm_relu_train, conv2d, BatchNormOutput};
use candle_core::{CpuStorage, CustomOp2, DType, Error, Layout, Result, Shape, Tensor};
use std::sync::{Arc, Mutex};

/// `batch_norm_relu_train(conv2d(x, w), eps)` as one op, with the same statistics reported.
pub fn conv2d_batch_norm_relu_train(
    x: &Tensor,
    w: &Tensor,
    p: Conv2dParams,
    eps: f64,
) -> Result<BatchNormOutput> {
    if !fast_path(x) || w.dtype() != DType::F32 {
        return batch_norm_relu_train(&conv2d(x, w, p)?, eps);
    }
    geometry(x.dims(), w.dims(), p)?;
    let saved = Arc::new(Mutex::new(None));
    let op = ConvNormRelu {
        p,
        eps,
        saved: saved.clone(),
    };
    let y = x.contiguous()?.apply_op2(&w.contiguous()?, op)?;
    let saved = saved.lock().map_err(poisoned)?;
    let s = saved.as_ref().ok_or_else(|| Error::Msg(NOT_RUN.into()))?;
    Ok(BatchNormOutput {
        mean: s.stats.mean_tensor(y.device())?,
        var: Tensor::from_vec(s.var.clone(), s.var.len(), y.device())?,
        y,
    })
}

const NOT_RUN: &str = "iterand-kernels: conv2d_batch_norm_relu_train's forward did not run";

fn poisoned<T>(_: T) -> Error {
    Error::Msg("iterand-kernels: conv2d_batch_norm_relu_train's saved state lock poisoned".into())
}

/// What the forward leaves for the backward and for the running statistics.
struct Saved {
    /// The convolution's output, BatchNorm's input.
    conv: Vec<f32>,
    stats: Stats,
    /// The biased variance per channel.
    var: Vec<f32>,
}

struct ConvNormRelu {
    p: Conv2dParams,
    eps: f64,
    saved: Arc<Mutex<Option<Saved>>>,
}

impl CustomOp2 for ConvNormRelu {
    fn name(&self) -> &'static str {
        "iterand-conv2d-batch-norm-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = geometry(l1.dims(), l2.dims(), self.p)?;
        let (batch, hw) = (l1.dims()[0], g.ho * g.wo);
        let conv = forward(cpu_slice(s1, l1)?, cpu_slice(s2, l2)?, &g, batch, false);
        let (stats, var) = Stats::of_slice(&conv, (batch, g.o, hw), self.eps);
        let y = filled_by_pieces(conv.len(), hw, |p, y| {
            normalize_plane(&conv[p * hw..], stats.of_plane(p), true, y);
        });
        *self.saved.lock().map_err(poisoned)? = Some(Saved { conv, stats, var });
        Ok((CpuStorage::F32(y), Shape::from((batch, g.o, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = geometry(x.dims(), w.dims(), self.p)?;
        let grad = grad.contiguous()?;
        let saved = self.saved.lock().map_err(poisoned)?;
        let s = saved.as_ref().ok_or_else(|| Error::Msg(NOT_RUN.into()))?;
        let (need_dx, need_dw) = (x.track_op(), w.track_op());
        let grads = with_data(x, |xs| {
            with_data(w, |ws| {
                with_data(&grad, |gs| {
                    let st = &s.stats;
                    // BatchNorm's gradient sums, as its own backward takes them (the ReLU's
                    // cut rebuilt from the convolution's output).
                    let (mg, mgy) = st.gradient_means(gs.len(), |p, r| {
                        plane_gradient_sums(&gs[r.clone()], &s.conv[r], Some(st.of_plane(p)))
                    });
                    let means = (&mg[..], &mgy[..]);
                    let through = Through::NormRelu {
                        x: &s.conv,
                        stats: st,
                        means,
                    };
                    Ok(backward(xs, ws, gs, through, &g, need_dx, need_dw))
                })
            })
        })?;
        as_tensors(grads, x, w)
    }
}
