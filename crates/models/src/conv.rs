//! Conv2/4/6/8 (Frankle et al.'s VGG-like networks, as the official Conv6).
//!
//! Pairs of 3×3 convolutions (padding 1, bias, ReLU) with a 2×2 max-pool after each pair, at
//! 64·w, 128·w, 256·w, 512·w channels; then 256·w → 256·w → classes fully connected layers
//! (the official code writes them as 1×1 convolutions, which is the same map and the same
//! parameters). Any input channel count and size works, so the same models run on 28×28 grey
//! and 32×32 RGB.

use candle_core::Tensor;
use iterand_kernels::relu;
use iterand_masking::{Builder, Conv2dSpec, MaskConfig, MaskedConv2d, MaskedLinear, MaskedWeight};

use crate::network::{scaled, Arch, ModelSpec, Network};
use crate::{Error, Result};

pub struct ConvNet {
    convs: Vec<MaskedConv2d>,
    fcs: Vec<MaskedLinear>,
}

impl ConvNet {
    pub fn new(spec: &ModelSpec, mask: MaskConfig, b: &Builder) -> Result<Self> {
        let pairs = match spec.arch {
            Arch::Conv2 => 1,
            Arch::Conv4 => 2,
            Arch::Conv6 => 3,
            Arch::Conv8 => 4,
            other => unreachable!("{other} is not a ConvNet"),
        };
        let (mut h, mut w) = (spec.input.height, spec.input.width);
        let mut c_in = spec.input.channels;
        let mut convs = Vec::new();
        for pair in 0..pairs {
            let c_out = scaled(64 << pair, spec.width);
            for j in 0..2 {
                let conv = MaskedConv2d::new(
                    &b.pp(format!("convs.{}", 2 * pair + j)),
                    Conv2dSpec {
                        in_channels: c_in,
                        out_channels: c_out,
                        kernel: 3,
                        stride: 1,
                        padding: 1,
                        bias: true,
                    },
                    mask,
                )?;
                convs.push(conv);
                c_in = c_out;
            }
            h /= 2;
            w /= 2;
            if h == 0 || w == 0 {
                return Err(Error::InvalidParameter {
                    name: "input",
                    value: format!("{}×{}", spec.input.height, spec.input.width),
                    why: format!(
                        "{} max-pools {pairs} times; the image must be at least {} pixels a side",
                        spec.arch,
                        1 << pairs
                    ),
                });
            }
        }
        let hidden = scaled(256, spec.width);
        let dims = [c_in * h * w, hidden, hidden, spec.classes];
        let fcs = (0..3)
            .map(|l| MaskedLinear::new(&b.pp(format!("fcs.{l}")), dims[l], dims[l + 1], true, mask))
            .collect::<iterand_masking::Result<Vec<_>>>()?;
        Ok(Self { convs, fcs })
    }
}

impl Network for ConvNet {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, conv) in self.convs.iter().enumerate() {
            // Each pair of layers ends in a 2×2 max-pool, fused into its second convolution.
            h = if i % 2 == 1 {
                conv.forward_relu_pool2(&h)?
            } else {
                conv.forward_relu(&h)?
            };
        }
        h = h.flatten_from(1)?;
        for (l, fc) in self.fcs.iter().enumerate() {
            h = fc.forward(&h)?;
            if l + 1 < self.fcs.len() {
                h = relu(&h)?;
            }
        }
        Ok(h)
    }

    fn masked(&self) -> Vec<&MaskedWeight> {
        self.convs
            .iter()
            .map(|c| c.masked())
            .chain(self.fcs.iter().map(|f| f.masked()))
            .collect()
    }
}
