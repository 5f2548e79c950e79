//! The official `config.yaml` experiments on CIFAR-10 by name, read from `configs/` (see
//! [`crate::spec`]): `figure1_conv6_ku_iterand`, `figure2_resnet18_sc_iterand`,
//! `cifar10_resnet18_sc_iterand`, …. The grid values a preset leaves open (width, seed, and r
//! for Figure 1) come from the command line; without them the preset's own values hold.

use iterand_train::{DatasetName, TrainConfig};

use crate::spec::{embedded, show_grid};

/// A named experiment and the grid it belongs to.
#[derive(Clone, Debug)]
pub struct Preset {
    pub name: String,
    /// The experiment's keys (base and its own), the first layer of a run's config.
    pub keys: toml::Table,
    /// Those keys resolved.
    pub config: TrainConfig,
    /// What the official grid sweeps for this experiment.
    pub grid: String,
}

/// Every CIFAR-10 experiment of `configs/`, in file order.
pub fn all() -> Vec<Preset> {
    of(DatasetName::Cifar10)
}

/// Every experiment of `configs/` on `dataset`, in file order.
pub fn of(dataset: DatasetName) -> Vec<Preset> {
    embedded()
        .into_iter()
        .flat_map(|f| f.experiments)
        .filter_map(|e| {
            let config = e
                .config(&toml::Table::new())
                .expect("embedded configs resolve (tested)");
            (config.dataset == dataset).then(|| Preset {
                name: e.name.clone(),
                keys: e.keys.clone(),
                config,
                grid: show_grid(&e.grid),
            })
        })
        .collect()
}

/// The CIFAR-10 preset called `name`.
pub fn find(name: &str) -> Option<Preset> {
    find_in(DatasetName::Cifar10, name)
}

/// The preset of `dataset` called `name`.
pub fn find_in(dataset: DatasetName, name: &str) -> Option<Preset> {
    of(dataset).into_iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_official_cifar10_experiment_is_a_preset() {
        let names: Vec<String> = all().into_iter().map(|p| p.name).collect();
        assert_eq!(names.len(), 3 + 15 + 3, "{names:?}");
        for m in ["conv6", "resnet18", "resnet34"] {
            assert!(names.contains(&format!("figure1_{m}_ku_iterand")));
            for s in [
                "ku_sgd",
                "ku_edgepopup",
                "sc_edgepopup",
                "ku_iterand",
                "sc_iterand",
            ] {
                assert!(names.contains(&format!("figure2_{m}_{s}")), "{m} {s}");
            }
        }
        let p = find("figure1_resnet18_ku_iterand").unwrap();
        assert_eq!(
            p.grid,
            "rerand_lambda ∈ {0, 0.01, 0.1, 1} × seed ∈ {1, 2, 3}"
        );
        assert!(find("figure3_resnet50_sc_iterand").is_none());
    }
}
