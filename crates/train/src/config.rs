//! The resolved settings of one run. Knob names follow the official `config.yaml` where one
//! exists (`rerand_freq`, `rerand_lambda`, `init_mode`, …), so its configs translate one to one;
//! `sparsity` is the fraction pruned, the official `conv_sparsity`.

use std::path::PathBuf;

use candle_core::Device;
use iterand_data::{Augment, Splits, Transforms};
use iterand_masking::{MaskConfig, Mode, ParamStore, Ranking, RankingScope, WeightTransform};
use iterand_models::{build, Arch, BnType, InputShape, ModelSpec, Network, Stem};
use iterand_randomizer::{InitMode, RerandMode, RerandSchedule, RerandUnit, Rerandomizer};
use serde::{Deserialize, Serialize};

use crate::lr::CosineSchedule;
use crate::sgd::SgdConfig;
use crate::{Error, Result};

/// The three methods the paper compares.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Method {
    /// Ordinary weight training (official `train_mode: normal`): dense, p = 0.
    Sgd,
    /// Score training on fixed random weights (IteRand with r = 0).
    EdgePopup,
    /// Score training with R every `rerand_freq` steps.
    Iterand,
}

impl Method {
    /// Every variant, in declaration order (derived).
    pub const ALL: &'static [Method] = <Method as strum::VariantArray>::VARIANTS;

    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn mode(self) -> Mode {
        match self {
            Method::Sgd => Mode::Weights,
            Method::EdgePopup | Method::Iterand => Mode::Scores,
        }
    }

    /// The learning rate of a config none of whose layers names one: scores take far larger
    /// steps than weights (the official CIFAR configs: 0.1 for scores, 0.01 for Conv6's SGD).
    pub fn default_lr(self) -> f64 {
        match self {
            Method::Sgd => 0.01,
            Method::EdgePopup | Method::Iterand => 0.1,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub use iterand_data::{AugmentCrop, DatasetName, SplitDraw};

/// Everything that determines a run. With the same config (seed included) a run is the same.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub dataset: DatasetName,
    /// Data folder; `None` means the dataset's default place.
    pub data: Option<PathBuf>,
    pub model: Arch,
    /// The ResNets' stem (`cifar`, `small`, `imagenet`); unset, chosen by input size as the
    /// official code does. A smoke run of an ImageNet preset at 64 pixels names `imagenet`.
    pub stem: Option<Stem>,
    /// BatchNorm statistics over this many chunks of each batch, as the official DataParallel
    /// runs on `num_gpus` devices (Figure 3's ResNet-50 and -101: 2); unset, the whole batch.
    pub bn_replicas: Option<usize>,
    /// ImageFolder datasets: the training crop and evaluation crop in pixels (the evaluation
    /// resize scales with it by 256/224); unset, the official 224. For small runs such as 64.
    pub image_size: Option<usize>,
    pub method: Method,
    /// Width factor w.
    pub width: f64,
    /// p, the fraction of every layer pruned (score methods; SGD is dense).
    pub sparsity: f64,
    pub init_mode: InitMode,
    pub init_mode_mask: InitMode,
    /// Signed scores (IteRand) or |scores| (edge-popup's original code).
    pub ranking: Ranking,
    pub rerand_mode: RerandMode,
    /// K_per (unit `iteration`), or R's firings per epoch (unit `epoch`, as the official code).
    pub rerand_freq: u64,
    pub rerand_freq_unit: RerandUnit,
    /// r: the probability a pruned weight is re-drawn (λ in `manual` mode; the fraction
    /// recycled in `recycle`, twice it in `iterand_recycle`).
    pub rerand_lambda: f64,
    pub rerand_mu: f64,
    pub epochs: usize,
    pub warmup_epochs: usize,
    pub finetune_epochs: usize,
    pub finetune_lr: f64,
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub seed: u64,
    /// Stop each epoch after this many batches (smoke tests); `None` is the whole epoch.
    pub limit_batches: Option<usize>,
    /// Black pixels added on each side of every image (2 turns 28×28 into CIFAR's 32×32).
    pub pad: usize,
    /// The official CIFAR-10 training augmentation (pad 4, random resized crop, flip).
    pub augment: bool,
    /// Which generator draws the validation split from seed 777: ours (`philox`) or the
    /// official code's `torch.randperm` (`torch`), which holds out exactly its images.
    /// Written only when not the default, so configs (and the hashes that run folders and
    /// checkpoints record) from before the key existed stay what they were.
    #[serde(skip_serializing_if = "SplitDraw::is_default")]
    pub split: SplitDraw,
    /// What the kept weights compute as: themselves (`none`) or biprop's α·sign(w)
    /// (`biprop`; docs/methods.md). Written only when not the default, as `split`.
    #[serde(skip_serializing_if = "WeightTransform::is_default")]
    pub weight_transform: WeightTransform,
    /// Where the threshold ranks: in each layer (`layer`, IteRand) or over all masked layers
    /// at once (`global`, global edge-popup; docs/methods.md). Written only when not the
    /// default, as `split`.
    #[serde(skip_serializing_if = "RankingScope::is_default")]
    pub ranking_scope: RankingScope,
    /// Whether the ResNets' BatchNorm learns γ and β (`affine`) or has none (`non_affine`);
    /// unset, the official choice: affine for sgd, non-affine for the score methods. biprop's
    /// and hidden-networks' `bn_type` (docs/methods.md). Written only when set, as `split`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bn_type: Option<BnType>,
    /// CIFAR-10's training crop: the official `random_resized` (Pad 4 + RandomResizedCrop) or
    /// hidden-networks' `random` (RandomCrop(32, padding = 4)), which the later methods' codes
    /// train with (docs/methods.md). Written only when not the default, as `split`.
    #[serde(skip_serializing_if = "AugmentCrop::is_default")]
    pub augment_crop: AugmentCrop,
}

impl Default for TrainConfig {
    /// The paper's CIFAR-10 Conv6 IteRand recipe, except the dataset (digits runs anywhere).
    fn default() -> Self {
        Self {
            dataset: DatasetName::Digits,
            data: None,
            model: Arch::Fc,
            stem: None,
            bn_replicas: None,
            image_size: None,
            method: Method::Iterand,
            width: 1.0,
            sparsity: 0.5,
            init_mode: InitMode::KaimingUniform,
            init_mode_mask: InitMode::KaimingUniform,
            ranking: Ranking::Signed,
            rerand_mode: RerandMode::Bernoulli,
            rerand_freq: 300,
            rerand_freq_unit: RerandUnit::Iteration,
            rerand_lambda: 0.1,
            rerand_mu: 0.0,
            epochs: 100,
            warmup_epochs: 0,
            finetune_epochs: 0,
            finetune_lr: 0.0,
            lr: Method::Iterand.default_lr(),
            momentum: 0.9,
            nesterov: false,
            weight_decay: 1e-4,
            batch_size: 128,
            eval_batch_size: 512,
            seed: 1,
            limit_batches: None,
            pad: 0,
            augment: false,
            split: SplitDraw::Philox,
            weight_transform: WeightTransform::None,
            ranking_scope: RankingScope::Layer,
            bn_type: None,
            augment_crop: AugmentCrop::RandomResized,
        }
    }
}

fn bad(name: impl Into<String>, value: impl ToString, why: impl Into<String>) -> Error {
    Error::InvalidConfig {
        name: name.into(),
        value: value.to_string(),
        why: why.into(),
    }
}

/// The range of every bounded key, written once: [`TrainConfig::validate`] and the command-line
/// parsers both call these, so a flag and its config key are refused alike.
pub mod check {
    use super::{bad, Result};

    /// p, the pruned fraction: in [0, 1).
    pub fn sparsity(v: f64) -> Result<f64> {
        if (0.0..1.0).contains(&v) {
            Ok(v)
        } else {
            Err(bad("sparsity", v, "the pruned fraction must lie in [0, 1)"))
        }
    }

    /// A probability such as r: in [0, 1].
    pub fn probability(name: &str, v: f64) -> Result<f64> {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(bad(name, v, "a probability lies in [0, 1]"))
        }
    }

    /// Widths and learning rates: finite and above 0.
    pub fn positive(name: &str, v: f64) -> Result<f64> {
        if v > 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(bad(name, v, "must be a positive number"))
        }
    }

    /// Momentum, weight decay: finite and at least 0.
    pub fn non_negative(name: &str, v: f64) -> Result<f64> {
        if v >= 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(bad(name, v, "must be a finite number ≥ 0"))
        }
    }

    /// Counts such as epochs, batch sizes and K_per.
    pub fn at_least_one(name: &str, v: u64) -> Result<u64> {
        if v >= 1 {
            Ok(v)
        } else {
            Err(bad(name, v, "must be at least 1"))
        }
    }
}

impl TrainConfig {
    /// Reject values no run can use, naming the key.
    pub fn validate(&self) -> Result<()> {
        check::sparsity(self.sparsity)?;
        check::positive("width", self.width)?;
        check::at_least_one("rerand_freq", self.rerand_freq)?;
        self.validate_score_keys()?;
        if self.rerand_mode != RerandMode::Manual {
            check::probability("rerand_lambda", self.rerand_lambda)?;
        }
        check::at_least_one("epochs", self.epochs as u64)?;
        if self.warmup_epochs + self.finetune_epochs >= self.epochs {
            return Err(bad(
                "warmup_epochs",
                self.warmup_epochs,
                format!(
                    "warm-up + fine-tune ({} + {}) must leave cosine epochs out of {}",
                    self.warmup_epochs, self.finetune_epochs, self.epochs
                ),
            ));
        }
        check::positive("lr", self.lr)?;
        check::non_negative("momentum", self.momentum)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        check::non_negative("finetune_lr", self.finetune_lr)?;
        check::at_least_one("batch_size", self.batch_size as u64)?;
        check::at_least_one("eval_batch_size", self.eval_batch_size as u64)?;
        if self.limit_batches == Some(0) {
            return Err(bad("limit_batches", 0, "must be at least 1 when given"));
        }
        self.validate_images()?;
        if self.bn_replicas == Some(0) {
            return Err(bad("bn_replicas", 0, "must be at least 1 when given"));
        }
        if let Some(r) = self
            .bn_replicas
            .filter(|&r| r > 1 && !self.model.is_resnet())
        {
            return Err(bad(
                "bn_replicas",
                r,
                format!("only the ResNets have BatchNorm, not {}", self.model),
            ));
        }
        if let Some(t) = self.bn_type.filter(|_| !self.model.is_resnet()) {
            return Err(bad(
                "bn_type",
                t,
                format!("only the ResNets have BatchNorm, not {}", self.model),
            ));
        }
        if let Some(stem) = self.stem.filter(|_| !self.model.is_resnet()) {
            return Err(bad(
                "stem",
                stem,
                format!("only the ResNets have a stem, not {}", self.model),
            ));
        }
        Ok(())
    }

    /// The keys of the later score methods (docs/methods.md), which SGD's dense run refuses.
    fn validate_score_keys(&self) -> Result<()> {
        if self.method != Method::Sgd {
            return Ok(());
        }
        if !self.weight_transform.is_default() {
            return Err(bad(
                "weight_transform",
                self.weight_transform.name(),
                "transforms the kept random weights of a score method; sgd trains its weights",
            ));
        }
        if !self.ranking_scope.is_default() {
            return Err(bad(
                "ranking_scope",
                self.ranking_scope.name(),
                "ranks the scores of a score method; sgd is dense",
            ));
        }
        Ok(())
    }

    /// The image size and augmentation keys against the dataset.
    fn validate_images(&self) -> Result<()> {
        if let Some(size) = self.image_size {
            check::at_least_one("image_size", size as u64)?;
            if self.dataset != DatasetName::Imagenet {
                return Err(bad(
                    "image_size",
                    size,
                    format!(
                        "only ImageFolder datasets (imagenet) are resized, not {}",
                        self.dataset
                    ),
                ));
            }
        }
        if !self.augment_crop.is_default()
            && (self.dataset != DatasetName::Cifar10 || !self.augment)
        {
            return Err(bad(
                "augment_crop",
                self.augment_crop.name(),
                format!(
                    "chooses the crop of CIFAR-10's training augmentation; this run has dataset \
                     {} and augment = {}",
                    self.dataset, self.augment
                ),
            ));
        }
        if self.dataset == DatasetName::Imagenet && !self.augment {
            return Err(bad(
                "augment",
                false,
                "imagenet's files differ in size, and its training transform (RandomResizedCrop \
                 and flip) is what crops them for the network: set augment = true",
            ));
        }
        Ok(())
    }

    /// The run's pipelines on `splits`: [`Splits::transforms`], with CIFAR-10's random crop in
    /// place of its resized crop when `augment_crop = "random"`.
    pub fn transforms(&self, splits: &Splits) -> Result<Transforms> {
        Ok(match self.augment_crop {
            AugmentCrop::RandomResized => splits.transforms(self.pad, self.augment)?,
            AugmentCrop::Random => Splits {
                augmentation: Some(std::sync::Arc::new(Augment::cifar10_random_crop())),
                ..splits.clone()
            }
            .transforms(self.pad, self.augment)?,
        })
    }

    pub fn mask_config(&self) -> Result<MaskConfig> {
        let mut m = MaskConfig::new(self.method.mode(), self.sparsity, self.init_mode)?;
        m.ranking = self.ranking;
        m.init_mode_mask = self.init_mode_mask;
        m.weight_transform = self.weight_transform;
        m.ranking_scope = self.ranking_scope;
        Ok(m)
    }

    /// The network this config trains on `input`-shaped images with `classes` outputs, its
    /// weights and scores drawn into a fresh store from the config's seed. The one place a
    /// config becomes a model, so the trainer, dry runs and draw dumps build the same network.
    pub fn build_network(
        &self,
        input: InputShape,
        classes: usize,
        device: &Device,
    ) -> Result<(ParamStore, Box<dyn Network>)> {
        let spec = ModelSpec {
            arch: self.model,
            width: self.width,
            input,
            classes,
            stem: self.stem,
            bn_replicas: self.bn_replicas.unwrap_or(1),
            bn_type: self.bn_type,
        };
        let store = ParamStore::new(self.seed, device.clone());
        let net = build(&spec, self.mask_config()?, &store.builder())?;
        Ok((store, net))
    }

    /// R and its schedule, or `None` when the method never randomizes.
    pub fn rerandomization(&self) -> Result<Option<(Rerandomizer, RerandSchedule)>> {
        if self.method != Method::Iterand {
            return Ok(None);
        }
        let r = Rerandomizer::new(
            self.rerand_mode,
            self.rerand_lambda,
            self.rerand_mu,
            self.seed,
        )?;
        if r.is_noop() {
            return Ok(None);
        }
        Ok(Some((
            r,
            RerandSchedule::new(self.rerand_freq, self.rerand_freq_unit)?,
        )))
    }

    pub fn sgd(&self) -> SgdConfig {
        SgdConfig {
            lr: self.lr,
            momentum: self.momentum,
            dampening: 0.0,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
        }
    }

    pub fn schedule(&self) -> CosineSchedule {
        CosineSchedule {
            lr: self.lr,
            epochs: self.epochs,
            warmup_epochs: self.warmup_epochs,
            finetune_epochs: self.finetune_epochs,
            finetune_lr: self.finetune_lr,
        }
    }

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Serialise {
            what: "config",
            why: e.to_string(),
        })
    }

    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| bad("config", "<toml>", e.to_string()))
    }

    /// The defaults, then each layer of keys in turn (an experiment file's base, its
    /// experiment, a grid point, `--set` overrides): the resolution every binary uses. Unknown
    /// keys and out-of-range values are refused, naming the key. When no layer names `lr`, the
    /// method's own ([`Method::default_lr`]) applies, whichever layer chose the method.
    pub fn resolve<'a>(layers: impl IntoIterator<Item = &'a toml::Table>) -> Result<Self> {
        let layers: Vec<&toml::Table> = layers.into_iter().collect();
        let named_lr = layers.iter().any(|l| l.contains_key("lr"));
        let defaults =
            toml::Table::try_from(TrainConfig::default()).map_err(|e| Error::Serialise {
                what: "config",
                why: e.to_string(),
            })?;
        let mut table = defaults.clone();
        for layer in layers {
            for (k, v) in layer {
                table.insert(k.clone(), v.clone());
            }
        }
        let parse = |t: toml::Table| -> std::result::Result<TrainConfig, String> {
            t.try_into()
                .map_err(|e: toml::de::Error| e.message().to_string())
        };
        let mut config = parse(table.clone()).map_err(|why| {
            // serde names unknown keys but not a value of the wrong type: find the key.
            let culprit = table.iter().find(|(k, v)| {
                defaults.get(*k) != Some(*v) && {
                    let mut one = defaults.clone();
                    one.insert((*k).clone(), (*v).clone());
                    parse(one).is_err()
                }
            });
            match culprit {
                Some((k, v)) => bad(k.as_str(), v, why),
                None => bad("config", "<keys>", why),
            }
        })?;
        if !named_lr {
            config.lr = config.method.default_lr();
        }
        config.validate()?;
        Ok(config)
    }

    /// `sha256:<hex>` of the resolved TOML: the run's identity. Two configs with the same hash
    /// run the same computation.
    pub fn hash(&self) -> Result<String> {
        Ok(crate::files::sha256_hex(self.to_toml()?.as_bytes()))
    }

    /// The keys whose values differ between `self` and `other`, as `key: a → b`, sorted.
    pub fn diff(&self, other: &TrainConfig) -> Result<Vec<String>> {
        let table = |c: &TrainConfig| -> Result<toml::Table> {
            toml::Table::try_from(c).map_err(|e| Error::Serialise {
                what: "config",
                why: e.to_string(),
            })
        };
        let (a, b) = (table(self)?, table(other)?);
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        let show = |v: Option<&toml::Value>| v.map_or("(unset)".to_string(), |v| v.to_string());
        Ok(keys
            .into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| format!("{k}: {} → {}", show(a.get(k)), show(b.get(k))))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_and_unknown_keys() {
        let c = TrainConfig {
            method: Method::EdgePopup,
            data: Some("/tmp/x".into()),
            ..Default::default()
        };
        let t = c.to_toml().unwrap();
        assert!(
            t.contains("method = \"edge-popup\"") && t.contains("rerand_freq = 300"),
            "{t}"
        );
        assert_eq!(TrainConfig::from_toml(&t).unwrap(), c);
        let e = TrainConfig::from_toml("prune_rate = 0.5")
            .unwrap_err()
            .to_string();
        assert!(e.contains("prune_rate"), "{e}");
    }

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn layers_resolve_in_order_and_bad_keys_are_named() {
        let base = table("model = \"conv6\"\nlr = 0.3\nsparsity = 0.5");
        let exp = table("method = \"sgd\"\nlr = 0.01");
        let set = table("seed = 3");
        let c = TrainConfig::resolve([&base, &exp, &set]).unwrap();
        assert_eq!(
            (c.model, c.method, c.lr, c.seed),
            (Arch::Conv6, Method::Sgd, 0.01, 3)
        );
        assert_eq!(c.sparsity, 0.5);
        assert_eq!(TrainConfig::resolve([]).unwrap(), TrainConfig::default());
        // no layer names lr: the method's own, whichever layer chose the method
        let sgd = table("method = \"sgd\"");
        assert_eq!(TrainConfig::resolve([&sgd]).unwrap().lr, 0.01);
        assert_eq!(TrainConfig::resolve([&base, &sgd]).unwrap().lr, 0.3);
        assert_eq!(TrainConfig::resolve([&sgd, &set]).unwrap().lr, 0.01);
        let e = TrainConfig::resolve([&table("prune_rate = 0.5")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("prune_rate"), "{e}");
        let e = TrainConfig::resolve([&table("sparsity = 1.5")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sparsity = 1.5"), "{e}");
        let e = TrainConfig::resolve([&table("epochs = \"ten\"")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("epochs = \"ten\""), "{e}");
        let torch = TrainConfig::resolve([&table("split = \"torch\"")]).unwrap();
        assert_eq!(torch.split, SplitDraw::Torch);
        assert!(torch.to_toml().unwrap().contains("split = \"torch\""));
        assert_eq!(
            TrainConfig::from_toml(&torch.to_toml().unwrap()).unwrap(),
            torch
        );
        // a config from before the key existed keeps its text, so its hash
        assert!(!TrainConfig::default().to_toml().unwrap().contains("split"));
        let e = TrainConfig::resolve([&table("split = \"numpy\"")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("split = \"numpy\""), "{e}");
    }

    /// Like `split`: written when set, absent (old configs keep their hashes) when not, and
    /// refused with the SGD baseline.
    #[test]
    fn later_method_keys_are_written_only_when_set_and_need_a_score_method() {
        for (key, value) in [("weight_transform", "biprop"), ("ranking_scope", "global")] {
            let set = TrainConfig::resolve([&table(&format!("{key} = \"{value}\""))]).unwrap();
            let m = set.mask_config().unwrap();
            let reached = [
                ("weight_transform", m.weight_transform.name()),
                ("ranking_scope", m.ranking_scope.name()),
            ];
            assert!(reached.contains(&(key, value)), "{key}: {reached:?}");
            let text = set.to_toml().unwrap();
            assert!(text.contains(&format!("{key} = \"{value}\"")), "{text}");
            assert_eq!(TrainConfig::from_toml(&text).unwrap(), set);
            assert!(!TrainConfig::default().to_toml().unwrap().contains(key));
            let sgd = TrainConfig {
                method: Method::Sgd,
                ..set
            };
            let e = sgd.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("{key} = {value}")), "{e}");
        }
    }

    /// `bn_type`: written only when set, reaches the model spec, and only the ResNets take it.
    #[test]
    fn bn_type_is_written_only_when_set_and_needs_batch_norm() {
        let set =
            TrainConfig::resolve([&table("model = \"resnet18\"\nbn_type = \"affine\"")]).unwrap();
        assert_eq!(set.bn_type, Some(BnType::Affine));
        let text = set.to_toml().unwrap();
        assert!(text.contains("bn_type = \"affine\""), "{text}");
        assert!(!TrainConfig::default()
            .to_toml()
            .unwrap()
            .contains("bn_type"));
        let conv = TrainConfig {
            model: Arch::Conv6,
            ..set
        };
        let e = conv.validate().unwrap_err().to_string();
        assert!(e.contains("bn_type = affine") && e.contains("conv6"), "{e}");
        let e = TrainConfig::resolve([&table("bn_type = \"learned\"")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("bn_type"), "{e}");
    }

    /// `augment_crop`: written only when set, and only CIFAR-10 runs that augment take it.
    #[test]
    fn augment_crop_is_written_only_when_set_and_needs_augmented_cifar10() {
        let set = TrainConfig::resolve([&table(
            "dataset = \"cifar10\"\naugment = true\naugment_crop = \"random\"",
        )])
        .unwrap();
        assert_eq!(set.augment_crop, AugmentCrop::Random);
        assert!(set.to_toml().unwrap().contains("augment_crop = \"random\""));
        assert!(!TrainConfig::default()
            .to_toml()
            .unwrap()
            .contains("augment_crop"));
        for bad_run in [
            TrainConfig {
                augment: false,
                ..set.clone()
            },
            TrainConfig {
                dataset: DatasetName::FashionMnist,
                ..set.clone()
            },
        ] {
            let e = bad_run.validate().unwrap_err().to_string();
            assert!(e.contains("augment_crop = random"), "{e}");
        }
    }

    #[test]
    fn hash_follows_every_key_and_diff_names_them() {
        let a = TrainConfig::default();
        let b = TrainConfig {
            rerand_lambda: 0.01,
            seed: 2,
            ..Default::default()
        };
        assert_eq!(a.hash().unwrap(), TrainConfig::default().hash().unwrap());
        assert_ne!(a.hash().unwrap(), b.hash().unwrap());
        assert!(a.hash().unwrap().starts_with("sha256:") && a.hash().unwrap().len() == 71);
        assert_eq!(
            a.diff(&b).unwrap(),
            ["rerand_lambda: 0.1 → 0.01", "seed: 1 → 2"]
        );
        let c = TrainConfig {
            data: Some("/d".into()),
            ..Default::default()
        };
        assert_eq!(a.diff(&c).unwrap(), ["data: (unset) → \"/d\""]);
        assert!(a.diff(&a).unwrap().is_empty());
    }

    #[test]
    fn invalid_values_name_the_key() {
        let with = |f: &dyn Fn(&mut TrainConfig)| {
            let mut c = TrainConfig::default();
            f(&mut c);
            c
        };
        let cases: [(TrainConfig, &str); 11] = [
            (with(&|c| c.sparsity = 1.0), "sparsity"),
            (with(&|c| c.sparsity = -0.1), "sparsity"),
            (with(&|c| c.width = 0.0), "width"),
            (with(&|c| c.rerand_freq = 0), "rerand_freq"),
            (with(&|c| c.rerand_lambda = 1.5), "rerand_lambda"),
            (with(&|c| c.epochs = 0), "epochs"),
            (with(&|c| c.batch_size = 0), "batch_size"),
            (with(&|c| c.stem = Some(Stem::Imagenet)), "stem"),
            (with(&|c| c.bn_replicas = Some(2)), "bn_replicas"),
            (with(&|c| c.lr = f64::NAN), "lr"),
            (
                with(&|c| {
                    (c.epochs, c.warmup_epochs, c.finetune_epochs) = (10, 5, 5);
                }),
                "warmup_epochs",
            ),
        ];
        for (c, key) in cases {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
        TrainConfig::default().validate().unwrap();
    }

    #[test]
    fn methods_map_to_modes_and_rerandomization() {
        let c = |m| TrainConfig {
            method: m,
            ..Default::default()
        };
        assert!(c(Method::Sgd).rerandomization().unwrap().is_none());
        assert!(c(Method::EdgePopup).rerandomization().unwrap().is_none());
        assert!(c(Method::Iterand).rerandomization().unwrap().is_some());
        assert_eq!(
            c(Method::Sgd).mask_config().unwrap().effective_sparsity(),
            0.0
        );
        let zero = TrainConfig {
            rerand_lambda: 0.0,
            ..Default::default()
        };
        assert!(zero.rerandomization().unwrap().is_none());
    }
}
