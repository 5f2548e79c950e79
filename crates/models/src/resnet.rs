//! ResNet-18/34/50/101 in the official (kuangliu) style, every conv and the classifier masked.
//!
//! Post-activation blocks (conv → BN → ReLU, the residual added before the last ReLU);
//! BasicBlock for 18/34, Bottleneck (expansion 4, stride on the 3×3) for 50/101. The stem stays
//! at 64 channels whatever the width factor, and stage widths are int(64w), int(128w),
//! int(256w), int(512w), so for w ≠ 1 the first block also gets a projection shortcut. A
//! shortcut is a masked 1×1 conv plus BN wherever the stride or the channel count changes.
//! The stem is one of the official three ([`Stem`]), chosen by input size unless the spec names
//! one.

use candle_core::{Tensor, D};
use iterand_kernels::max_pool2d;
use iterand_masking::{Builder, Conv2dSpec, MaskConfig, MaskedConv2d, MaskedLinear, MaskedWeight};

use crate::network::{scaled, Arch, ModelSpec, Network};
use crate::norm::{BatchNorm2d, BnType, EPS};
use crate::stem::Stem;
use crate::Result;

/// What every conv+BN of a ResNet is built with.
#[derive(Clone, Copy)]
struct LayerConfig {
    mask: MaskConfig,
    bn_replicas: usize,
    bn_type: BnType,
}

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
        lc: LayerConfig,
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
            conv: MaskedConv2d::new(&b.pp(conv), spec, lc.mask)?,
            bn: BatchNorm2d::new(&b.pp(bn), cout, lc.bn_type)?.with_replicas(lc.bn_replicas),
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_t(&self.conv.forward(x)?, train)
    }

    /// `relu(forward_t(x))`; in training without BatchNorm's affine part one fused op
    /// (convolution, normalisation, ReLU), with the same values.
    fn forward_relu_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if self.bn.fuses(train) {
            return self.bn.record(self.conv.forward_batch_norm_relu(x, EPS)?);
        }
        self.bn.forward_relu_t(&self.conv.forward(x)?, train)
    }

    /// `relu(forward_t(x) + skip)`, fused as [`BatchNorm2d::forward_add_relu_t`] says.
    fn forward_add_relu_t(&self, x: &Tensor, skip: &Tensor, train: bool) -> Result<Tensor> {
        self.bn
            .forward_add_relu_t(&self.conv.forward(x)?, skip, train)
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
        lc: LayerConfig,
    ) -> Result<Self> {
        let (path, cout) = if bottleneck {
            let out = planes * 4;
            (
                vec![
                    ConvBn::new(b, "conv1", "bn1", cin, planes, 1, 1, lc)?,
                    ConvBn::new(b, "conv2", "bn2", planes, planes, 3, stride, lc)?,
                    ConvBn::new(b, "conv3", "bn3", planes, out, 1, 1, lc)?,
                ],
                out,
            )
        } else {
            (
                vec![
                    ConvBn::new(b, "conv1", "bn1", cin, planes, 3, stride, lc)?,
                    ConvBn::new(b, "conv2", "bn2", planes, planes, 3, 1, lc)?,
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
                lc,
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
        let (last, body) = self.path.split_last().expect("a path");
        let mut h = x.clone();
        for cb in body {
            h = cb.forward_relu_t(&h, train)?;
        }
        let skip = match &self.shortcut {
            Some(s) => s.forward_t(x, train)?,
            None => x.clone(),
        };
        last.forward_add_relu_t(&h, &skip, train)
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
    stem_kind: Stem,
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
        let stem_kind = spec
            .stem
            .unwrap_or_else(|| Stem::for_height(spec.input.height));
        let (k, stride) = stem_kind.conv();
        let lc = LayerConfig {
            mask,
            bn_replicas: spec.bn_replicas,
            bn_type: spec.bn_type.unwrap_or(BnType::default_for(mask.mode)),
        };
        let stem = ConvBn::new(b, "conv1", "bn1", spec.input.channels, 64, k, stride, lc)?;
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
                    lc,
                )?;
                cin = block.out_channels();
                blocks.push(block);
            }
        }
        let fc = MaskedLinear::new(&b.pp("linear"), cin, spec.classes, true, mask)?;
        Ok(Self {
            stem,
            stem_kind,
            blocks,
            fc,
        })
    }

    pub fn stem(&self) -> Stem {
        self.stem_kind
    }

    /// What the stem hands to `layer1` (after its pooling, if any), in evaluation mode.
    pub fn stem_output(&self, x: &Tensor) -> Result<Tensor> {
        self.stem_t(x, false)
    }

    fn stem_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.stem.forward_relu_t(x, train)?;
        if self.stem_kind == Stem::Cifar {
            return Ok(h);
        }
        // max-pool 3×3, stride 2, padding 1; the input is ≥ 0 after the ReLU, so zero padding
        // is the same as −∞ padding
        let h = h.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
        Ok(max_pool2d(&h, 3, 2)?)
    }
}

impl Network for ResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = self.stem_t(x, train)?;
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
