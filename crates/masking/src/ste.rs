//! The straight-through estimator of edge-popup.
//!
//! Ranked by |S| (edge-popup's original code), the gradient also carries sign(S)
//! ([`magnitude_masked_weight`]).
//!
//! Forward: `W ⊙ mask`. Backward: the scores receive `W ⊙ ∂L/∂W_eff` as if the hard 0/1 mask
//! were the identity of the scores, and the frozen weights receive nothing. Written with
//! `detach`, as `W.detach() ⊙ (mask + S − S.detach())`: the bracket's value is exactly the mask
//! (S − S is 0 in floating point) and its derivative with respect to S is 1. On the CPU it runs
//! as one op of `iterand-kernels` with the same values and gradient, keeping one tensor in the
//! graph instead of four.

use candle_core::{Result, Tensor};

/// `W ⊙ mask` in value, with the straight-through gradient to `scores`.
///
/// `weight` is used detached; `mask` is a 0/1 tensor of the weights' dtype.
pub fn masked_weight(weight: &Tensor, scores: &Tensor, mask: &Tensor) -> Result<Tensor> {
    iterand_kernels::masked_weight(weight, scores, mask)
}

/// The masked weight of a layer ranked by |S|, as edge-popup's original code has it: the mask
/// comes from `clamped_scores = scores.abs()`, so the scores receive the gradient through the
/// absolute value, `W ⊙ sign(S) ⊙ ∂L/∂W_eff` (sign(0) = 0, torch's derivative of |·| at 0).
pub fn magnitude_masked_weight(weight: &Tensor, scores: &Tensor, mask: &Tensor) -> Result<Tensor> {
    magnitude_straight_through(weight, weight, scores, mask)
}

/// `value ⊙ mask` in value (biprop's α·sign(W)), the scores receiving `W ⊙ ∂L/∂W_eff`, as
/// biprop's `GetQuantnet_binary` sends `|W|` times the gradient of `sign(W) ⊙ quantnet`.
pub fn straight_through(
    value: &Tensor,
    weight: &Tensor,
    scores: &Tensor,
    mask: &Tensor,
) -> Result<Tensor> {
    iterand_kernels::straight_through(value, weight, scores, mask)
}

/// [`straight_through`] ranked by |S|: the factor carries sign(S) as well.
pub fn magnitude_straight_through(
    value: &Tensor,
    weight: &Tensor,
    scores: &Tensor,
    mask: &Tensor,
) -> Result<Tensor> {
    let factor = (weight.detach() * scores.detach().sign()?)?;
    iterand_kernels::straight_through(value, &factor, scores, mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// |S| ranking: the same value, and ∂L/∂S = W ⊙ sign(S) ⊙ c, by hand (S = 0 gets 0).
    #[test]
    fn magnitude_gradient_passes_through_the_absolute_value() {
        let dev = Device::Cpu;
        let w = Var::new(&[0.5f32, -2.0, 3.0, 0.25, 1.5], &dev).unwrap();
        let s = Var::new(&[0.1f32, -0.9, -0.3, 0.4, 0.0], &dev).unwrap();
        let m = Tensor::new(&[0f32, 1.0, 0.0, 1.0, 1.0], &dev).unwrap();
        let c = Tensor::new(&[1f32, 2.0, 3.0, 4.0, 5.0], &dev).unwrap();
        let eff = magnitude_masked_weight(w.as_tensor(), s.as_tensor(), &m).unwrap();
        assert_eq!(
            eff.to_vec1::<f32>().unwrap(),
            vec![0.0, -2.0, 0.0, 0.25, 1.5]
        );
        let g = (eff * &c).unwrap().sum_all().unwrap().backward().unwrap();
        let gs = g.get(s.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(gs, vec![0.5, 4.0, -9.0, 1.0, 0.0]);
        assert!(g.get(w.as_tensor()).is_none());
    }

    /// The analytic reference: for L = Σ c ⊙ (W ⊙ m) · x, ∂L/∂S = W ⊙ c·x, ∂L/∂W = 0.
    #[test]
    fn gradient_is_weight_times_upstream() {
        let dev = Device::Cpu;
        let w = Var::new(&[0.5f32, -2.0, 3.0, 0.25], &dev).unwrap();
        let s = Var::new(&[0.1f32, 0.9, -0.3, 0.4], &dev).unwrap();
        let m = Tensor::new(&[0f32, 1.0, 0.0, 1.0], &dev).unwrap();
        let c = Tensor::new(&[1f32, 2.0, 3.0, 4.0], &dev).unwrap();
        let eff = masked_weight(w.as_tensor(), s.as_tensor(), &m).unwrap();
        assert_eq!(eff.to_vec1::<f32>().unwrap(), vec![0.0, -2.0, 0.0, 0.25]);
        let loss = (eff * &c).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let gs = g.get(s.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(gs, vec![0.5, -4.0, 9.0, 1.0]);
        assert!(
            g.get(w.as_tensor()).is_none(),
            "frozen weights got a gradient"
        );
    }
}
