//! The official `config.yaml` experiments on CIFAR-10, by name (iterand-algorithm.md §2.1).
//!
//! Every preset is 100 epochs of cosine-scheduled SGD (momentum 0.9, no warm-up, batch 128) on
//! the 45k/5k split. Figure 1 sweeps r at width 1; Figure 2 sweeps the width for SGD, edge-popup
//! and IteRand with kaiming_uniform (ku) and signed_constant (sc) weights. The grid values a
//! preset leaves open (width, seed, and r for Figure 1) come from the command line.

use iterand_models::Arch;
use iterand_randomizer::InitMode;
use iterand_train::{DatasetName, Method, TrainConfig};

/// A named experiment and the grid it belongs to.
#[derive(Clone, Debug)]
pub struct Preset {
    pub name: String,
    pub config: TrainConfig,
    /// What the official grid sweeps for this experiment.
    pub grid: &'static str,
}

fn base(model: Arch, method: Method, init: InitMode) -> TrainConfig {
    let conv6 = model == Arch::Conv6;
    let (lr, wd, p) = match (conv6, method) {
        (true, Method::Sgd) => (0.01, 1e-4, 0.0),
        (true, _) => (0.3, 1e-4, 0.5),
        (false, Method::Sgd) => (0.1, 5e-4, 0.0),
        (false, _) => (0.1, 5e-4, 0.6),
    };
    TrainConfig {
        dataset: DatasetName::Cifar10,
        model,
        method,
        width: 1.0,
        sparsity: p,
        init_mode: init,
        rerand_freq: 300,
        rerand_lambda: 0.1,
        epochs: 100,
        lr,
        momentum: 0.9,
        weight_decay: wd,
        batch_size: 128,
        seed: 1,
        augment: true,
        ..TrainConfig::default()
    }
}

/// Every preset, in the order of the official config.
pub fn all() -> Vec<Preset> {
    let models = [
        (Arch::Conv6, "conv6"),
        (Arch::Resnet18, "resnet18"),
        (Arch::Resnet34, "resnet34"),
    ];
    let mut out = vec![];
    for (model, m) in models {
        out.push(Preset {
            name: format!("figure1_{m}_ku_iterand"),
            config: base(model, Method::Iterand, InitMode::KaimingUniform),
            grid: "rerand_lambda ∈ {0, 0.01, 0.1, 1.0} × seed ∈ {1, 2, 3}, width 1",
        });
    }
    for (model, m) in models {
        for (suffix, method, init) in [
            ("ku_sgd", Method::Sgd, InitMode::KaimingUniform),
            ("ku_edgepopup", Method::EdgePopup, InitMode::KaimingUniform),
            ("sc_edgepopup", Method::EdgePopup, InitMode::SignedConstant),
            ("ku_iterand", Method::Iterand, InitMode::KaimingUniform),
            ("sc_iterand", Method::Iterand, InitMode::SignedConstant),
        ] {
            out.push(Preset {
                name: format!("figure2_{m}_{suffix}"),
                config: base(model, method, init),
                grid: "width ∈ {0.25, 0.5, 1, 2} × seed ∈ {1, 2, 3}",
            });
        }
    }
    for (suffix, method, init) in [
        ("ku_sgd", Method::Sgd, InitMode::KaimingUniform),
        ("sc_edgepopup", Method::EdgePopup, InitMode::SignedConstant),
        ("sc_iterand", Method::Iterand, InitMode::SignedConstant),
    ] {
        out.push(Preset {
            name: format!("cifar10_resnet18_{suffix}"),
            config: base(Arch::Resnet18, method, init),
            grid: "single run, seed 1",
        });
    }
    out
}

/// The preset called `name`.
pub fn find(name: &str) -> Option<Preset> {
    all().into_iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_official_table() {
        let all = all();
        assert_eq!(all.len(), 3 + 15 + 3);
        let p = find("figure2_conv6_ku_sgd").unwrap().config;
        assert_eq!(
            (p.lr, p.weight_decay, p.sparsity, p.method),
            (0.01, 1e-4, 0.0, Method::Sgd)
        );
        let p = find("figure2_conv6_sc_iterand").unwrap().config;
        assert_eq!(
            (p.lr, p.sparsity, p.rerand_freq, p.rerand_lambda),
            (0.3, 0.5, 300, 0.1)
        );
        assert_eq!(p.init_mode, InitMode::SignedConstant);
        let p = find("figure1_resnet34_ku_iterand").unwrap().config;
        assert_eq!(
            (p.lr, p.weight_decay, p.sparsity, p.model),
            (0.1, 5e-4, 0.6, Arch::Resnet34)
        );
        let p = find("figure2_resnet18_ku_edgepopup").unwrap().config;
        assert_eq!(
            (p.method, p.init_mode),
            (Method::EdgePopup, InitMode::KaimingUniform)
        );
        for p in &all {
            assert_eq!(
                (p.config.epochs, p.config.batch_size, p.config.momentum),
                (100, 128, 0.9)
            );
            assert_eq!(p.config.dataset, DatasetName::Cifar10);
            p.config.validate().unwrap();
        }
        assert!(find("figure3_resnet50").is_none());
    }
}
