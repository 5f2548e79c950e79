//! The fully connected network: input → 300·w → 100·w → classes.

use candle_core::Tensor;
use iterand_kernels::relu;
use iterand_masking::{Builder, MaskConfig, MaskedLinear, MaskedWeight};

use crate::network::{scaled, ModelSpec, Network};
use crate::Result;

/// LeNet-300-100 with a width factor: three masked linear layers with ReLU between.
pub struct Fc {
    layers: Vec<MaskedLinear>,
}

impl Fc {
    pub fn new(spec: &ModelSpec, mask: MaskConfig, b: &Builder) -> Result<Self> {
        let i = spec.input;
        let dims = [
            i.channels * i.height * i.width,
            scaled(300, spec.width),
            scaled(100, spec.width),
            spec.classes,
        ];
        let layers = (0..3)
            .map(|l| {
                MaskedLinear::new(
                    &b.pp(format!("fc{}", l + 1)),
                    dims[l],
                    dims[l + 1],
                    true,
                    mask,
                )
            })
            .collect::<iterand_masking::Result<Vec<_>>>()?;
        Ok(Self { layers })
    }
}

impl Network for Fc {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Result<Tensor> {
        let mut h = x.flatten_from(1)?;
        for (l, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if l + 1 < self.layers.len() {
                h = relu(&h)?;
            }
        }
        Ok(h)
    }

    fn masked(&self) -> Vec<&MaskedWeight> {
        self.layers.iter().map(|l| l.masked()).collect()
    }
}
