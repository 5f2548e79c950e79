//! The factory from a spec: the one module that knows every architecture, so that
//! `network` (the interface the architectures implement) depends on none of them.

use std::collections::HashMap;

use iterand_masking::{Builder, MaskConfig};

use crate::conv::ConvNet;
use crate::fc::Fc;
use crate::network::{Arch, ModelSpec, Network};
use crate::resnet::ResNet;
use crate::{Error, Result};

/// Build `spec` under `b` with the masked-layer settings `mask`.
pub fn build(spec: &ModelSpec, mask: MaskConfig, b: &Builder) -> Result<Box<dyn Network>> {
    if !(spec.width > 0.0 && spec.width.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "width",
            value: spec.width.to_string(),
            why: "the width factor must be a positive number".into(),
        });
    }
    if spec.classes < 2 {
        return Err(Error::InvalidParameter {
            name: "classes",
            value: spec.classes.to_string(),
            why: "a classifier needs at least two classes".into(),
        });
    }
    let net: Box<dyn Network> = match spec.arch {
        Arch::Fc => Box::new(Fc::new(spec, mask, b)?),
        Arch::Conv2 | Arch::Conv4 | Arch::Conv6 | Arch::Conv8 => {
            Box::new(ConvNet::new(spec, mask, b)?)
        }
        Arch::Resnet18 | Arch::Resnet34 | Arch::Resnet50 | Arch::Resnet101 => {
            Box::new(ResNet::new(spec, mask, b)?)
        }
    };
    check_keys(net.as_ref())?;
    Ok(net)
}

/// Two layers with one random-stream key would draw identical weights: refuse such a model.
fn check_keys(net: &dyn Network) -> Result<()> {
    let mut seen: HashMap<u32, &str> = HashMap::new();
    for m in net.masked() {
        if let Some(other) = seen.insert(m.key(), m.path()) {
            return Err(iterand_masking::Error::KeyCollision {
                a: other.to_string(),
                b: m.path().to_string(),
            }
            .into());
        }
    }
    Ok(())
}
