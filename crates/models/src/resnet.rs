//! ResNet-18/34/50/101 in the official (kuangliu) style, every conv and the classifier masked.
//!
//! Post-activation blocks (conv → BN → ReLU, the residual added before the last ReLU);
//! BasicBlock for 18/34, Bottleneck (expansion 4, stride on the 3×3) for 50/101. The stem stays
//! at 64 channels whatever the width factor, and stage widths are int(64w), int(128w),
//! int(256w), int(512w), so for w ≠ 1 the first block also gets a projection shortcut. A
//! shortcut is a masked 1×1 conv plus BN wherever the stride or the channel count changes.
//! Inputs under 64 pixels get the CIFAR stem (3×3 conv, stride 1), larger ones the ImageNet
//! stem (7×7 conv, stride 2, then 3×3 max-pool, stride 2, padding 1).

use candle_core::{Tensor, D};
use iterand_kernels::{max_pool2d, relu};
use iterand_masking::{Builder, Conv2dSpec, MaskConfig, MaskedConv2d, MaskedLinear, MaskedWeight};

use crate::network::{scaled, Arch, ModelSpec, Network};
use crate::norm::BatchNorm2d;
use crate::Result;

/// Inputs at least this many pixels high use the ImageNet stem.
pub const IMAGENET_STEM_MIN: usize = 64;

struct ConvBn {
    conv: MaskedConv2d,
    bn: BatchNorm2d,
}

impl ConvBn {
    #[allow(clippy::too_many_arguments)]
    fn new(
        b: &Builder,
        conv: &str,
        bn: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        mask: MaskConfig,
    ) -> Result<Self> {
        let spec = Conv2dSpec {
            in_channels: cin,
            out_channels: cout,
            kernel: k,
            stride,
            padding: k / 2,
            bias: false,
        };
        Ok(Self {
            conv: MaskedConv2d::new(&b.pp(conv), spec, mask)?,
            bn: BatchNorm2d::new(&b.pp(bn), cout, mask.mode)?,
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_t(&self.conv.forward(x)?, train)
    }

    fn forward_relu_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_relu_t(&self.conv.forward(x)?, train)
    }
}

/// A residual block: its main path (2 or 3 conv+BN) and an optional projection shortcut.
struct Block {
    path: Vec<ConvBn>,
    shortcut: Option<ConvBn>,
}

impl Block {
    fn new(
        b: &Builder,
        cin: usize,
        planes: usize,
        stride: usize,
        bottleneck: bool,
        mask: MaskConfig,
    ) -> Result<Self> {
        let (path, cout) = if bottleneck {
            let out = planes * 4;
            (
                vec![
                    ConvBn::new(b, "conv1", "bn1", cin, planes, 1, 1, mask)?,
                    ConvBn::new(b, "conv2", "bn2", planes, planes, 3, stride, mask)?,
                    ConvBn::new(b, "conv3", "bn3", planes, out, 1, 1, mask)?,
                ],
                out,
            )
        } else {
            (
                vec![
                    ConvBn::new(b, "conv1", "bn1", cin, planes, 3, stride, mask)?,
                    ConvBn::new(b, "conv2", "bn2", planes, planes, 3, 1, mask)?,
                ],
                planes,
            )
        };
        let shortcut = if stride != 1 || cin != cout {
            Some(ConvBn::new(
                &b.pp("shortcut"),
                "0",
                "1",
                cin,
                cout,
                1,
                stride,
                mask,
            )?)
        } else {
            None
        };
        Ok(Self { path, shortcut })
    }

    fn out_channels(&self) -> usize {
        self.path
            .last()
            .expect("a path")
            .conv
            .masked()
            .weight()
            .dims()[0]
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, cb) in self.path.iter().enumerate() {
            h = if i + 1 < self.path.len() {
                cb.forward_relu_t(&h, train)?
            } else {
                cb.forward_t(&h, train)?
            };
        }
        let skip = match &self.shortcut {
            Some(s) => s.forward_t(x, train)?,
            None => x.clone(),
        };
        Ok(relu(&(h + skip)?)?)
    }

    fn masked(&self) -> impl Iterator<Item = &MaskedWeight> {
        self.path
            .iter()
            .chain(self.shortcut.iter())
            .map(|cb| cb.conv.masked())
    }
}

pub struct ResNet {
    stem: ConvBn,
    imagenet_stem: bool,
    blocks: Vec<Block>,
    fc: MaskedLinear,
}

impl ResNet {
    pub fn new(spec: &ModelSpec, mask: MaskConfig, b: &Builder) -> Result<Self> {
        let (counts, bottleneck) = match spec.arch {
            Arch::Resnet18 => ([2, 2, 2, 2], false),
            Arch::Resnet34 => ([3, 4, 6, 3], false),
            Arch::Resnet50 => ([3, 4, 6, 3], true),
            Arch::Resnet101 => ([3, 4, 23, 3], true),
            other => unreachable!("{other} is not a ResNet"),
        };
        let imagenet_stem = spec.input.height >= IMAGENET_STEM_MIN;
        let (k, stride) = if imagenet_stem { (7, 2) } else { (3, 1) };
        let stem = ConvBn::new(b, "conv1", "bn1", spec.input.channels, 64, k, stride, mask)?;
        let mut cin = 64;
        let mut blocks = Vec::new();
        for (stage, &n) in counts.iter().enumerate() {
            let planes = scaled(64 << stage, spec.width);
            for i in 0..n {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let block = Block::new(
                    &b.pp(format!("layer{}", stage + 1)).pp(i.to_string()),
                    cin,
                    planes,
                    stride,
                    bottleneck,
                    mask,
                )?;
                cin = block.out_channels();
                blocks.push(block);
            }
        }
        let fc = MaskedLinear::new(&b.pp("linear"), cin, spec.classes, true, mask)?;
        Ok(Self {
            stem,
            imagenet_stem,
            blocks,
            fc,
        })
    }
}

impl Network for ResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = self.stem.forward_relu_t(x, train)?;
        if self.imagenet_stem {
            // max-pool 3×3, stride 2, padding 1; the input is ≥ 0 after the ReLU, so zero
            // padding is the same as −∞ padding
            h = h.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
            h = max_pool2d(&h, 3, 2)?;
        }
        for block in &self.blocks {
            h = block.forward_t(&h, train)?;
        }
        let pooled = h.mean(D::Minus1)?.mean(D::Minus1)?; // global average pool
        Ok(self.fc.forward(&pooled)?)
    }

    fn masked(&self) -> Vec<&MaskedWeight> {
        std::iter::once(self.stem.conv.masked())
            .chain(self.blocks.iter().flat_map(|b| b.masked()))
            .chain(std::iter::once(self.fc.masked()))
            .collect()
    }
}
