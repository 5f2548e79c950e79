//! SGD with PyTorch's semantics (candle-nn's has no momentum or weight decay).
//!
//! Per variable θ with gradient g: d = g + wd·θ; with momentum μ the buffer is b = d on the
//! first step and b = μ·b + (1 − dampening)·d after; the step uses b (or d + μ·b with Nesterov);
//! θ ← θ − lr·step. Weight decay applies to whatever trains, scores included, as in the
//! official code.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use iterand_kernels::{sgd_update, SgdCoeffs};
use serde::{Deserialize, Serialize};

use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
}

/// The optimizer and its momentum buffers, one per variable, in the variables' order.
pub struct Sgd {
    vars: Vec<Var>,
    buffers: Vec<Option<Tensor>>,
    config: SgdConfig,
}

impl Sgd {
    pub fn new(vars: Vec<Var>, config: SgdConfig) -> Self {
        let buffers = vec![None; vars.len()];
        Self {
            vars,
            buffers,
            config,
        }
    }

    pub fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    /// Momentum buffers (None before a variable's first step).
    pub fn buffers(&self) -> &[Option<Tensor>] {
        &self.buffers
    }

    /// Restore the momentum buffer of the `i`-th variable (from a checkpoint).
    pub fn set_buffer(&mut self, i: usize, buffer: Option<Tensor>) {
        self.buffers[i] = buffer;
    }

    /// One update from `grads`; variables without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let c = self.config;
        for (var, buf) in self.vars.iter().zip(self.buffers.iter_mut()) {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let theta = var.as_detached_tensor();
            let (theta, b) = match update_fused(&c, &theta, g, buf.as_ref())? {
                Some(done) => done,
                None => update_candle(&c, &theta, &g.detach(), buf.clone())?,
            };
            if c.momentum != 0.0 {
                *buf = b;
            }
            var.set(&theta)?;
        }
        Ok(())
    }
}

/// The update in candle's ops (any device): the new θ and momentum buffer.
fn update_candle(
    c: &SgdConfig,
    theta: &Tensor,
    g: &Tensor,
    buf: Option<Tensor>,
) -> Result<(Tensor, Option<Tensor>)> {
    let mut d = g.clone();
    if c.weight_decay != 0.0 {
        d = (d + (theta * c.weight_decay)?)?;
    }
    let mut new_buf = None;
    if c.momentum != 0.0 {
        let b = match buf {
            None => d.clone(),
            Some(b) => ((b * c.momentum)? + (&d * (1.0 - c.dampening))?)?,
        };
        d = if c.nesterov {
            (d + (&b * c.momentum)?)?
        } else {
            b.clone()
        };
        new_buf = Some(b);
    }
    Ok(((theta - (d * c.lr)?)?, new_buf))
}

/// The one-pass update of `iterand-kernels` (CPU f32; bit-identical to [`update_candle`]), or
/// None where it does not apply.
fn update_fused(
    c: &SgdConfig,
    theta: &Tensor,
    g: &Tensor,
    buf: Option<&Tensor>,
) -> Result<Option<(Tensor, Option<Tensor>)>> {
    let k = SgdCoeffs {
        lr: c.lr,
        momentum: c.momentum,
        dampening: c.dampening,
        nesterov: c.nesterov,
        weight_decay: c.weight_decay,
    };
    Ok(sgd_update(&k, theta, g, buf)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Two steps on L = 0.5·θ (constant gradient 0.5) from θ = 1, lr 0.1, μ 0.9, wd 0.01,
    /// computed by hand with PyTorch's update rule.
    fn run(nesterov: bool, dampening: f64, momentum: f64) -> Vec<f32> {
        let v = Var::new(&[1.0f32], &Device::Cpu).unwrap();
        let mut opt = Sgd::new(
            vec![v.clone()],
            SgdConfig {
                lr: 0.1,
                momentum,
                dampening,
                nesterov,
                weight_decay: 0.01,
            },
        );
        let mut out = vec![];
        for _ in 0..2 {
            let loss = (v.as_tensor() * 0.5).unwrap().sum_all().unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
            out.push(v.as_tensor().to_vec1::<f32>().unwrap()[0]);
        }
        out
    }

    fn close(a: &[f32], b: &[f64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((*x as f64 - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn momentum_matches_hand_computation() {
        // d1 = .51, b1 = .51, θ1 = .949; d2 = .50949, b2 = .459 + .50949, θ2 = .949 − .096849
        close(&run(false, 0.0, 0.9), &[0.949, 0.852151]);
    }

    #[test]
    fn nesterov_matches_hand_computation() {
        // step1: .51 + .9·.51 = .969 → .9031; step2: d = .509031, b = .968031,
        // .509031 + .9·.968031 = 1.3802589 → .76507411
        close(&run(true, 0.0, 0.9), &[0.9031, 0.76507411]);
    }

    #[test]
    fn dampening_and_plain_sgd() {
        // b2 = .9·.51 + .9·.50949 = .917541 → .949 − .0917541
        close(&run(false, 0.1, 0.9), &[0.949, 0.8572459]);
        // no momentum: θ1 = 1 − .1·.51 = .949; θ2 = .949 − .1·.50949 = .898051
        close(&run(false, 0.0, 0.0), &[0.949, 0.898051]);
    }

    /// The one-pass update gives candle's formula's bits, for every branch of the rule, over
    /// two steps (the buffer's first and later forms), with values of both signs and zeros.
    #[test]
    fn fused_update_equals_the_candle_formula() {
        let dev = Device::Cpu;
        let n = 40_000; // more than one parallel piece
        let vals = |seed: u32| -> Vec<f32> {
            (0..n as u32)
                .map(|i| match (i.wrapping_mul(2654435761) ^ seed) % 13 {
                    0 => 0.0,
                    1 => -0.0,
                    k => (k as f32 - 6.5) * 0.173 * (1.0 + seed as f32 * 0.01),
                })
                .collect()
        };
        for (momentum, dampening, nesterov, weight_decay) in [
            (0.9, 0.0, false, 5e-4),
            (0.9, 0.1, true, 1e-4),
            (0.0, 0.0, false, 5e-4),
            (0.9, 0.0, false, 0.0),
        ] {
            let c = SgdConfig {
                lr: 0.1,
                momentum,
                dampening,
                nesterov,
                weight_decay,
            };
            let theta = Tensor::from_vec(vals(1), n, &dev).unwrap();
            let (mut t1, mut t2) = (theta.clone(), theta);
            let (mut b1, mut b2): (Option<Tensor>, Option<Tensor>) = (None, None);
            for step in 0..2u32 {
                let g = Tensor::from_vec(vals(7 + step), n, &dev).unwrap();
                let (nt, nb) = update_fused(&c, &t1, &g, b1.as_ref()).unwrap().unwrap();
                let (ct, cb) = update_candle(&c, &t2, &g, b2.clone()).unwrap();
                let bits = |t: &Tensor| -> Vec<u32> {
                    t.to_vec1::<f32>()
                        .unwrap()
                        .iter()
                        .map(|x| x.to_bits())
                        .collect()
                };
                assert_eq!(bits(&nt), bits(&ct), "θ, {c:?}, step {step}");
                assert_eq!(nb.is_some(), cb.is_some());
                if let (Some(x), Some(y)) = (&nb, &cb) {
                    assert_eq!(bits(x), bits(y), "buffer, {c:?}, step {step}");
                }
                (t1, t2, b1, b2) = (nt, ct, nb, cb);
            }
        }
    }
}
