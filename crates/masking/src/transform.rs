//! What a masked layer computes with in place of its random weights' values.

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::Result;

/// The weight transform of a masked layer (score mode).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum WeightTransform {
    /// edge-popup and IteRand: the random weights as drawn.
    #[default]
    None,
    /// biprop / multi-prize tickets (Diffenderfer & Kailkhura 2021, `GetQuantnet_binary` in
    /// `chrundle/biprop`): each kept weight becomes α·sign(w), α the mean |w| of the layer's
    /// kept weights ([`binary_weight`]); the scores' straight-through gradient is edge-popup's.
    Biprop,
}

impl WeightTransform {
    /// Every variant, in declaration order (derived).
    pub const ALL: &'static [WeightTransform] = <WeightTransform as strum::VariantArray>::VARIANTS;

    /// The name config files use.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether this is the default, which configs leave unwritten.
    pub fn is_default(&self) -> bool {
        *self == WeightTransform::None
    }
}

/// biprop's α: the mean |w| over the weights `mask` keeps (0/1, any dtype), summed in f64 in
/// index order. The authors divide their f32 sum by `int(k·n)`, the nominal kept count of
/// their sort-based mask; ours divides by the count the mask keeps, ties included. `None` when
/// the mask keeps nothing.
pub fn alpha(weight: &Tensor, mask: &Tensor) -> Result<Option<f32>> {
    let w = weight
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?;
    let m = mask.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let (sum, kept) = w
        .iter()
        .zip(&m)
        .filter(|(_, &m)| m != 0.0)
        .fold((0f64, 0usize), |(s, k), (&w, _)| {
            (s + w.abs() as f64, k + 1)
        });
    Ok((kept > 0).then(|| (sum / kept as f64) as f32))
}

/// `α·sign(w)` for every weight (the mask is applied by the straight-through product after).
pub fn binary_weight(weight: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let a = alpha(weight, mask)?.unwrap_or(0.0);
    Ok((weight.sign()? * a as f64)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// By hand: kept |w| are 2, 0.5 and 1 (the −1.5 and 3 are pruned), so α = 3.5 / 3.
    #[test]
    fn alpha_is_the_mean_magnitude_of_the_kept_weights() {
        let dev = Device::Cpu;
        let w = Tensor::new(&[-2.0f32, 0.5, -1.5, 1.0, 3.0], &dev).unwrap();
        let m = Tensor::new(&[1u8, 1, 0, 1, 0], &dev).unwrap();
        let a = alpha(&w, &m).unwrap().unwrap();
        assert_eq!(a, (3.5f64 / 3.0) as f32);
        let b = binary_weight(&w, &m).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(b, [-a, a, -a, a, a]);
        let none = Tensor::zeros(5, DType::U8, &dev).unwrap();
        assert_eq!(alpha(&w, &none).unwrap(), None);
    }
}
