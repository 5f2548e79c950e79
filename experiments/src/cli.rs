//! Command-line pieces every binary shares: validated value parsers that name the flag on bad
//! input, the training flags, and logging setup.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;
use iterand_data::Loader;
use iterand_masking::{Ranking, RankingScope, WeightTransform};
use iterand_models::{Arch, BnType};
use iterand_randomizer::{InitMode, RerandMode};
use iterand_train::check;
use iterand_train::{DatasetName, Method, Progress, Resume, RunOptions, TrainConfig};

/// A number, then the library's range rule for it (`iterand_train::check`), so a flag is
/// refused exactly as its config key would be, in the same words.
fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not a {}", std::any::type_name::<T>()))
}

pub fn parse_sparsity(s: &str) -> Result<f64, String> {
    check::sparsity(number(s)?).map_err(|e| e.to_string())
}

pub fn parse_probability(s: &str) -> Result<f64, String> {
    check::probability("rerand_lambda", number(s)?).map_err(|e| e.to_string())
}

pub fn parse_width(s: &str) -> Result<f64, String> {
    check::positive("width", number(s)?).map_err(|e| e.to_string())
}

/// A parser of `key`'s values: above 0, or refused in `key`'s words.
pub fn positive(key: &'static str) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync {
    move |s| check::positive(key, number(s)?).map_err(|e| e.to_string())
}

/// A parser of `key`'s values: 0 or more.
pub fn non_negative(
    key: &'static str,
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync {
    move |s| check::non_negative(key, number(s)?).map_err(|e| e.to_string())
}

/// A parser of `key`'s counts: 1 or more.
pub fn at_least_one(
    key: &'static str,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync {
    move |s| check::at_least_one(key, number(s)?).map_err(|e| e.to_string())
}

/// A flag for one of the library's enums. It offers exactly the variants' own names (`name()`,
/// which is also how config files spell them: a test checks), lists them in `--help` and in the
/// error for any other name, and maps a name back to its variant with no fallback arm. No name
/// is written here.
pub fn enum_flag<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    let names: Vec<&'static str> = all.iter().map(|&v| name(v)).collect();
    PossibleValuesParser::new(names).try_map(move |s| {
        all.iter()
            .copied()
            .find(|&v| name(v) == s)
            .ok_or_else(|| format!("no variant is named {s}"))
    })
}

pub fn arch_parser() -> impl TypedValueParser<Value = Arch> {
    enum_flag(Arch::ALL, Arch::name)
}

pub fn dataset_parser() -> impl TypedValueParser<Value = DatasetName> {
    enum_flag(DatasetName::ALL, DatasetName::name)
}

fn method_parser() -> impl TypedValueParser<Value = Method> {
    enum_flag(Method::ALL, Method::name)
}

fn init_parser() -> impl TypedValueParser<Value = InitMode> {
    enum_flag(InitMode::ALL, InitMode::name)
}

fn rerand_mode_parser() -> impl TypedValueParser<Value = RerandMode> {
    enum_flag(RerandMode::ALL, RerandMode::name)
}

fn ranking_parser() -> impl TypedValueParser<Value = Ranking> {
    enum_flag(Ranking::ALL, Ranking::name)
}

fn weight_transform_parser() -> impl TypedValueParser<Value = WeightTransform> {
    enum_flag(WeightTransform::ALL, WeightTransform::name)
}

fn ranking_scope_parser() -> impl TypedValueParser<Value = RankingScope> {
    enum_flag(RankingScope::ALL, RankingScope::name)
}

fn bn_type_parser() -> impl TypedValueParser<Value = BnType> {
    enum_flag(BnType::ALL, BnType::name)
}

/// The flags of one training run. Each is a config key; a flag not typed is not set here, so
/// the library's default (`TrainConfig::default`, and its per-method learning rate) or an
/// earlier layer decides it. `train --help` lists those defaults (see [`defaults_help`]).
#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct TrainArgs {
    /// Dataset: the embedded scikit-learn digits, Fashion-MNIST, MNIST, CIFAR-10 (binary), or
    /// ImageNet (an ImageFolder: train/ and val/ class folders of JPEGs).
    #[arg(long, value_parser = dataset_parser())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetName>,
    /// Data folder. Default: Debian's dataset-fashion-mnist folder for fashion-mnist,
    /// data/mnist and data/cifar-10-batches-bin otherwise; digits are embedded. For mnist,
    /// fashion-mnist and cifar10, `hub` downloads the set from the Hugging Face hub into the hub
    /// cache, or reads it from there (offline with HF_HUB_OFFLINE=1); a folder named hub is `./hub`.
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// Network: LeNet-300-100-style fc, the VGG-like conv2/4/6/8, or resnet18/34/50/101
    /// (CIFAR stem below 64 pixels, ImageNet stem above).
    #[arg(long, value_parser = arch_parser())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<Arch>,
    /// sgd trains the weights (dense); edge-popup trains scores on fixed random weights;
    /// iterand also re-draws pruned weights every --rerand-freq steps.
    #[arg(long, value_parser = method_parser())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// Width factor w: hidden layer sizes and channel counts are int(c·w).
    #[arg(long, value_parser = parse_width, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// p, the fraction of each layer's weights that is PRUNED (0.5 keeps half). Ignored by sgd.
    #[arg(long, value_parser = parse_sparsity, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<f64>,
    /// Weight distribution, at initialisation and at every re-draw (official `init_mode`).
    #[arg(long = "init", value_parser = init_parser())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_mode: Option<InitMode>,
    /// K_per: R fires before every K-th optimizer step (official `rerand_freq`).
    #[arg(long, value_parser = at_least_one("rerand_freq"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerand_freq: Option<u64>,
    /// r: probability that a pruned weight is re-drawn when R fires (official `rerand_lambda`;
    /// the fraction recycled in the recycling modes, their `rerand_rate`).
    #[arg(long, value_parser = parse_probability, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerand_lambda: Option<f64>,
    /// R's mode: bernoulli (the paper), manual (λ·w + μ·fresh, official extra), recycle or
    /// iterand_recycle (Iterative Weight Recycling; docs/methods.md).
    #[arg(long, value_parser = rerand_mode_parser())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerand_mode: Option<RerandMode>,
    /// μ of the manual mode.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerand_mu: Option<f64>,
    /// Rank signed scores (IteRand) or their magnitude (edge-popup's original code).
    #[arg(long, value_parser = ranking_parser())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking: Option<Ranking>,
    /// What the kept weights compute as: none, or biprop (α·sign(w), docs/methods.md).
    #[arg(long, value_parser = weight_transform_parser())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_transform: Option<WeightTransform>,
    /// Threshold per layer (IteRand), or one over all masked layers (global edge-popup).
    #[arg(long, value_parser = ranking_scope_parser())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking_scope: Option<RankingScope>,
    /// The ResNets' BatchNorm: affine (learned γ, β) or non_affine. Default: affine for sgd,
    /// non_affine for the score methods, as the official code.
    #[arg(long, value_parser = bn_type_parser())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bn_type: Option<BnType>,
    /// Training epochs (the paper's CIFAR-10 runs use 100).
    #[arg(long, value_parser = at_least_one("epochs"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u64>,
    /// Base learning rate of the cosine schedule (by default the method's: sgd differs).
    #[arg(long, value_parser = positive("lr"), allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// SGD momentum (PyTorch semantics).
    #[arg(long, value_parser = non_negative("momentum"), allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// Use Nesterov momentum.
    #[arg(long)]
    #[serde(skip_serializing_if = "is_false")]
    pub nesterov: bool,
    /// Weight decay, added to the gradient of whatever trains (scores included).
    #[arg(long, value_parser = non_negative("weight_decay"), allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Linear warm-up epochs before the cosine.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_epochs: Option<usize>,
    /// Constant-rate epochs at the end.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finetune_epochs: Option<usize>,
    /// Learning rate of the fine-tune epochs.
    #[arg(long, value_parser = non_negative("finetune_lr"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finetune_lr: Option<f64>,
    /// Mini-batch size.
    #[arg(long, value_parser = at_least_one("batch_size"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u64>,
    /// The one seed a run depends on: weights, scores, data order and every re-draw.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Stop every epoch after this many batches (smoke tests).
    #[arg(long, value_parser = at_least_one("limit_batches"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_batches: Option<u64>,
    /// Black pixels added on each side of every image (2: Fashion-MNIST 28×28 → 32×32).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pad: Option<usize>,
    /// ImageFolder (imagenet) crops in pixels instead of 224, for small runs; the evaluation
    /// resize scales by 256/224.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size: Option<usize>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl TrainArgs {
    /// The typed flags as one layer of config keys (and nothing else).
    pub fn to_layer(&self) -> anyhow::Result<toml::Table> {
        Ok(toml::Table::try_from(self)?)
    }
}

/// The library's defaults, for the end of `train --help`: written from `TrainConfig::default()`
/// so the help cannot drift from what a run uses.
pub fn defaults_help() -> String {
    let d = TrainConfig::default();
    let table = toml::Table::try_from(&d).unwrap_or_default();
    let keys: Vec<String> = table
        .iter()
        .filter(|(k, _)| *k != "lr")
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    let lrs: Vec<String> = Method::ALL
        .iter()
        .map(|m| format!("{m} {}", m.default_lr()))
        .collect();
    format!(
        "Defaults of the flags not typed (the library's TrainConfig):\n  {}\n  lr by method: {}",
        keys.join(", "),
        lrs.join(", ")
    )
}

fn resume_parser() -> impl TypedValueParser<Value = Resume> {
    // `refuse` is what no flag means, so the flag offers the other two
    PossibleValuesParser::new(["auto", "never"]).try_map(|s| match s.as_str() {
        "auto" => Ok(Resume::Auto),
        "never" => Ok(Resume::Never),
        other => Err(format!("`{other}`: expected auto or never")),
    })
}

/// How a run is driven and reported: the flags every training binary shares.
#[derive(Args, Debug, Clone)]
pub struct RunFlags {
    /// Override any config key after everything else, e.g. --set epochs=2 --set lr=0.05
    /// (repeatable; values are TOML: numbers, true/false, or text).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = iterand_runs::spec::parse_set)]
    pub set: Vec<(String, toml::Value)>,
    /// When the run folder already holds a run: `auto` continues it from its last checkpoint
    /// (refused if its config differs; a finished run is left as it is), `never` starts over.
    /// Without the flag such a folder is refused, so nothing is overwritten by accident.
    #[arg(long, value_name = "auto|never", value_parser = resume_parser())]
    pub resume: Option<Resume>,
    /// Also write the training loss to metrics.jsonl every K optimizer steps.
    #[arg(long, value_name = "K", value_parser = at_least_one("log_every"))]
    pub log_every: Option<u64>,
    /// Also write the validation and test accuracy to metrics.jsonl every K optimizer steps
    /// (a curve; the summary's test accuracy stays the last model's).
    #[arg(long, value_name = "K", value_parser = at_least_one("eval_every"))]
    pub eval_every: Option<u64>,
    /// Also evaluate after each of these optimizer steps (e.g. 1034,1055: 22 steps and one step
    /// before a 3-epoch CIFAR run ends), alone or with --eval-every.
    #[arg(long, value_name = "N,...", value_delimiter = ',', value_parser = at_least_one("eval_at"))]
    pub eval_at: Vec<u64>,
    /// Stop with a checkpoint once N optimizer steps are done in all, as Ctrl-C would, and exit
    /// 0; `--resume auto` continues the run exactly. For looking at a run's state mid-way (the
    /// replay against the official code in benches/official does).
    #[arg(long, value_name = "N", value_parser = at_least_one("stop_at_step"))]
    pub stop_at_step: Option<u64>,
    /// Threads that build training and evaluation batches ahead of the step (0: build each on
    /// the training thread). Any number gives the same batches and so the same run.
    #[arg(long, value_name = "N", visible_alias = "workers", default_value_t = Loader::default().workers)]
    pub loader_workers: usize,
    /// Where to train: cpu, cuda (GPU 0) or cuda:N. CUDA needs a build with --features cuda;
    /// checkpoints are device-free, so a run resumes on any device.
    #[arg(long, default_value = "cpu")]
    pub device: iterand_runs::device::DeviceSpec,
    /// Convolve by im2col + GEMM instead of Winograd: the same arithmetic up to float32
    /// rounding, for measuring what rounding alone does to runs (docs/results.md, issue 37). A
    /// run resumed must keep the same choice to stay bit-identical.
    #[arg(long)]
    pub no_winograd: bool,
    /// Convolve 3×3 stride-1 layers on planes of 16 and more by Winograd F(4×4, 3×3) instead
    /// of F(2×2, 3×3): the same convolution up to float32 rounding, 5–12 % faster a step, but
    /// off by default because runs end differently enough to move the tables (issue 40,
    /// docs/results.md). A resumed run must keep the same choice to stay bit-identical.
    #[arg(long, conflicts_with = "no_winograd")]
    pub winograd4: bool,
    /// Debug output (per-layer shapes, R's rounds).
    #[arg(long, short)]
    pub verbose: bool,
    /// Only warnings and the final summary line; no progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

impl RunFlags {
    /// `layers` (an experiment's keys, the other flags' keys) then the `--set` overrides,
    /// resolved and checked once.
    pub fn resolve(&self, layers: &[&toml::Table]) -> anyhow::Result<TrainConfig> {
        let set = iterand_runs::spec::overrides(&self.set);
        let cfg = TrainConfig::resolve(layers.iter().copied().chain([&set]))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn options(&self, out: &Path) -> RunOptions {
        RunOptions {
            out: Some(out.to_path_buf()),
            progress: if self.quiet {
                Progress::Quiet
            } else {
                Progress::Auto
            },
            resume: self.resume.unwrap_or(Resume::Refuse),
            interrupt: Some(interrupt_flag()),
            stop_at_iteration: self.stop_at_step,
            log_every: self.log_every,
            eval_every: self.eval_every,
            eval_at: self.eval_at.clone(),
            loader: Loader {
                workers: self.loader_workers,
                ..Loader::default()
            },
        }
    }
}

/// Set on the first Ctrl-C (or SIGTERM): the run saves a checkpoint after the current step and
/// stops. A second one quits at once. Installing it also makes a file-size limit an error
/// rather than a signal.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        // A file outgrowing RLIMIT_FSIZE raises SIGXFSZ, which would kill the run mid-write;
        // ignored, the write fails (EFBIG) and the run stops with an error naming the file.
        // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let installed = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("stopping after this step with a checkpoint (again to quit at once)");
        });
        if let Err(e) = installed {
            tracing::warn!(
                "no Ctrl-C handler ({e}); an interrupted run resumes from its last epoch"
            );
        }
        flag
    })
    .clone()
}

/// What to type for an error the libraries state in keys: the one place that maps them to this
/// command line's flags.
pub fn flag_hint(e: &anyhow::Error) -> Option<&'static str> {
    use iterand_train::Error as T;
    e.chain().find_map(|cause| {
        let Some(t) = cause.downcast_ref::<T>() else {
            return cause
                .downcast_ref::<iterand_data::Error>()
                .and_then(data_hint);
        };
        match t {
            T::NonFiniteLoss { .. } => Some("try a smaller --lr"),
            T::Interrupted { .. } => Some("run the same command with --resume auto"),
            T::ConfigMismatch { .. } => {
                Some("use another --out, or start over with --resume never")
            }
            T::RunExists { .. } => {
                Some("continue it with --resume auto, or start over with --resume never")
            }
            T::Data(d) => data_hint(d),
            _ => None,
        }
    })
}

fn data_hint(e: &iterand_data::Error) -> Option<&'static str> {
    match e {
        iterand_data::Error::NotFound(_) => Some(
            "pass the dataset's folder with --data DIR (mnist, fashion-mnist and cifar10 also \
             --data hub)",
        ),
        _ => None,
    }
}

/// `e` with the flags that mend it, as the context a user reads first.
pub fn with_flags(e: anyhow::Error) -> anyhow::Error {
    match flag_hint(&e) {
        Some(hint) => e.context(hint),
        None => e,
    }
}

/// Load the data of `cfg`, train one run into the folder `out`, and print its summary as one
/// JSON line: the tail every training binary shares. An interrupted run exits with status 130
/// after saying how to continue it.
pub fn run_and_print(cfg: &TrainConfig, out: &Path, flags: &RunFlags) -> anyhow::Result<()> {
    train_and_print(cfg, out, flags).map_err(with_flags)
}

fn train_and_print(cfg: &TrainConfig, out: &Path, flags: &RunFlags) -> anyhow::Result<()> {
    // the data first: a run refused for its data leaves no folder behind
    let splits = cfg
        .open_data()
        .with_context(|| format!("loading {}", cfg.dataset.name()))?;
    iterand_train::RunDir::ensure_writable(out)?;
    let lock = iterand_train::RunLock::acquire(out)?;
    let _lock = lock.with_context(|| {
        format!(
            "{}: another process is training this run (it holds .lock)",
            out.display()
        )
    })?;
    // what the network sees: the stored images through the training pipeline (an ImageFolder's
    // files have no one size)
    let input = iterand_data::Transform::output_shape(
        &cfg.transforms(&splits)?.train,
        splits.train.shape(),
    );
    tracing::info!(
        "{}: {} train / {} val / {} test images, network input {:?}; run folder {}",
        cfg.dataset.name(),
        splits.train.len(),
        splits.val.len(),
        splits.test.len(),
        input,
        out.display()
    );
    let device = flags.device.open()?;
    tracing::info!("device {}", flags.device);
    if flags.no_winograd {
        iterand_kernels::set_winograd(false);
        tracing::info!("convolutions by im2col + GEMM (no Winograd)");
    }
    if flags.winograd4 {
        iterand_kernels::set_winograd4(true);
        tracing::info!("Winograd F(4×4, 3×3) on planes of 16 and more");
    }
    match iterand_train::train_with(cfg, &splits, &device, &flags.options(out)) {
        Ok(summary) => {
            println!("{}", serde_json::to_string(&summary)?);
            Ok(())
        }
        Err(e @ iterand_train::Error::Interrupted { iteration, .. }) => {
            eprintln!("{:#}", with_flags(e.into()));
            if flags.stop_at_step == Some(iteration) {
                return Ok(());
            }
            std::process::exit(130);
        }
        Err(e) => Err(e).with_context(|| format!("training into {}", out.display())),
    }
}

/// Log lines with this target go to the log file only (a progress bar already shows them).
pub use iterand_train::FILE_ONLY;

/// Log to stderr (warnings only with `quiet`, debug with `verbose`, info otherwise; `RUST_LOG`
/// overrides) and, when given, append to a log file at info level (debug with `verbose`).
pub fn init_logging(verbose: bool, quiet: bool, log_file: Option<&Path>) {
    use tracing_subscriber::filter::{filter_fn, LevelFilter};
    use tracing_subscriber::prelude::*;
    let level = if quiet {
        "warn"
    } else if verbose {
        "debug"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter)
        .with_filter(filter_fn(|m| m.target() != FILE_ONLY));
    let file = log_file.map(|p| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::sync::Mutex::new(LazyLog::new(p)))
            .with_ansi(false)
            .with_target(false)
            .with_filter(if verbose {
                LevelFilter::DEBUG
            } else {
                LevelFilter::INFO
            })
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
}

/// A log file opened (folder and all) at its first line, so that a run refused before it
/// logs anything (bad data, a held lock) leaves no folder behind.
struct LazyLog {
    path: PathBuf,
    file: Option<std::fs::File>,
    failed: bool,
}

impl LazyLog {
    fn new(path: &Path) -> Self {
        LazyLog {
            path: path.to_path_buf(),
            file: None,
            failed: false,
        }
    }

    /// The open file; warns once and drops the lines if it cannot be opened.
    fn file(&mut self) -> Option<&mut std::fs::File> {
        if self.file.is_none() && !self.failed {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let opened = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path);
            match opened {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    eprintln!("warning: no log file {}: {e}", self.path.display());
                    self.failed = true;
                }
            }
        }
        self.file.as_mut()
    }
}

impl std::io::Write for LazyLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.file() {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log file and its folder appear with the first line, not before.
    /// The libraries speak of keys; the binaries say which flag to type, through any context.
    #[test]
    fn library_errors_in_keys_get_their_flags() {
        use iterand_train::Error as T;
        let path = std::path::PathBuf::from("/r");
        let cases: [(anyhow::Error, &str); 4] = [
            (T::RunExists { path: path.clone() }.into(), "--resume auto"),
            (
                T::Interrupted { path, iteration: 3 }.into(),
                "--resume auto",
            ),
            (
                T::NonFiniteLoss {
                    value: f32::NAN,
                    epoch: 0,
                    step: 1,
                }
                .into(),
                "--lr",
            ),
            (
                T::Data(iterand_data::Error::NotFound("x".into())).into(),
                "--data DIR",
            ),
        ];
        for (e, flag) in cases {
            assert!(!e.to_string().contains("--"), "{e}");
            let e = with_flags(e.context("training into /r"));
            assert!(e.to_string().contains(flag), "{e:#}");
        }
        let plain = with_flags(anyhow::anyhow!("other"));
        assert_eq!(plain.to_string(), "other");
    }

    #[test]
    fn lazy_log_creates_nothing_until_written() {
        use std::io::Write as _;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("run").join("train.log");
        let mut log = LazyLog::new(&path);
        log.flush().unwrap();
        assert!(!d.path().join("run").exists());
        log.write_all(b"line\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "line\n");
    }

    #[test]
    fn parsers_accept_and_reject() {
        assert_eq!(parse_sparsity("0.5"), Ok(0.5));
        assert!(parse_sparsity("1").is_err());
        assert!(parse_sparsity("-0.1").is_err());
        assert!(parse_sparsity("abc").is_err());
        assert_eq!(parse_probability("1"), Ok(1.0));
        assert!(parse_probability("1.01").is_err());
        assert!(parse_width("0").is_err());
        assert!(parse_width("nan").is_err());
        let e = at_least_one("rerand_freq")("0").unwrap_err();
        assert!(e.contains("rerand_freq"), "{e}");
        assert_eq!(at_least_one("epochs")("300"), Ok(300));
        let e = positive("momentum")("-1").unwrap_err();
        assert!(e.contains("momentum") && !e.contains("lr"), "{e}");
        let e = non_negative("weight_decay")("-1").unwrap_err();
        assert!(e.contains("weight_decay"), "{e}");
    }

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        train: TrainArgs,
        #[command(flatten)]
        run: RunFlags,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        use clap::Parser;
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
    }

    #[test]
    fn eval_at_takes_a_comma_list_of_steps_and_refuses_zero() {
        let c = parse(&["--eval-at", "1034,1055"]).unwrap();
        assert_eq!(c.run.options(Path::new("o")).eval_at, [1034, 1055]);
        assert!(parse(&[]).unwrap().run.eval_at.is_empty());
        let e = parse(&["--eval-at", "5,0"]).unwrap_err().to_string();
        assert!(e.contains("--eval-at") && e.contains('0'), "{e}");
    }

    #[test]
    fn no_winograd_is_off_unless_typed() {
        assert!(!parse(&[]).unwrap().run.no_winograd);
        assert!(parse(&["--no-winograd"]).unwrap().run.no_winograd);
        assert!(!parse(&[]).unwrap().run.winograd4);
        assert!(parse(&["--winograd4"]).unwrap().run.winograd4);
    }

    /// Every variant is offered under its `name()`, that name means it on the command line,
    /// and it is the name config files use (serde's).
    fn check_names<T>(flag: &str, all: &[T], name: fn(T) -> &'static str, get: impl Fn(&Cli) -> T)
    where
        T: serde::Serialize + PartialEq + std::fmt::Debug + Copy,
    {
        for &v in all {
            let serde_name = serde_json::to_value(v).unwrap();
            assert_eq!(serde_name.as_str(), Some(name(v)), "{flag}: {v:?}");
            assert_eq!(
                get(&parse(&[flag, name(v)]).unwrap()),
                v,
                "{flag} {}",
                name(v)
            );
        }
    }

    #[test]
    fn enum_flags_offer_every_variant_by_its_config_name() {
        check_names("--dataset", DatasetName::ALL, DatasetName::name, |c| {
            c.train.dataset.unwrap()
        });
        check_names("--model", Arch::ALL, Arch::name, |c| c.train.model.unwrap());
        check_names("--method", Method::ALL, Method::name, |c| {
            c.train.method.unwrap()
        });
        check_names("--init", InitMode::ALL, InitMode::name, |c| {
            c.train.init_mode.unwrap()
        });
        check_names("--rerand-mode", RerandMode::ALL, RerandMode::name, |c| {
            c.train.rerand_mode.unwrap()
        });
        check_names("--ranking", Ranking::ALL, Ranking::name, |c| {
            c.train.ranking.unwrap()
        });
        check_names(
            "--weight-transform",
            WeightTransform::ALL,
            WeightTransform::name,
            |c| c.train.weight_transform.unwrap(),
        );
        check_names(
            "--ranking-scope",
            RankingScope::ALL,
            RankingScope::name,
            |c| c.train.ranking_scope.unwrap(),
        );
        check_names("--bn-type", BnType::ALL, BnType::name, |c| {
            c.train.bn_type.unwrap()
        });
    }

    #[test]
    fn untyped_flags_set_nothing_and_a_flag_is_refused_in_its_keys_words() {
        let c = parse(&[]).unwrap();
        assert!(c.train.to_layer().unwrap().is_empty());
        assert_eq!(resolved(&[]), TrainConfig::default());
        for (flag, value, cfg) in [
            (
                "--sparsity",
                "1",
                TrainConfig {
                    sparsity: 1.0,
                    ..Default::default()
                },
            ),
            (
                "--width",
                "0",
                TrainConfig {
                    width: 0.0,
                    ..Default::default()
                },
            ),
            (
                "--rerand-lambda",
                "1.5",
                TrainConfig {
                    rerand_lambda: 1.5,
                    ..Default::default()
                },
            ),
        ] {
            let by_flag = parse(&[flag, value]).unwrap_err().to_string();
            let by_key = cfg.validate().unwrap_err().to_string();
            assert!(by_flag.contains(&by_key), "{by_flag} / {by_key}");
        }
    }

    fn resolved(args: &[&str]) -> TrainConfig {
        let c = parse(args).unwrap();
        c.run.resolve(&[&c.train.to_layer().unwrap()]).unwrap()
    }

    #[test]
    fn a_method_typed_as_a_flag_or_set_resolves_to_the_same_config() {
        // the per-method learning rate lives in the library, so both ways reach it
        let flag = resolved(&["--method", "sgd"]);
        assert_eq!(flag, resolved(&["--set", "method=\"sgd\""]));
        assert_eq!(flag.lr, Method::Sgd.default_lr());
        assert_eq!(resolved(&[]).lr, Method::Iterand.default_lr());
        // a typed or set learning rate wins over the rule, either way round
        for args in [
            &["--method", "sgd", "--lr", "0.2"][..],
            &["--lr", "0.2", "--set", "method=\"sgd\""],
            &["--method", "sgd", "--set", "lr=0.2"],
        ] {
            let c = resolved(args);
            assert_eq!((c.method, c.lr), (Method::Sgd, 0.2), "{args:?}");
        }
    }

    #[test]
    fn an_unknown_name_for_any_enum_flag_is_refused_with_the_valid_ones() {
        fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
            all.iter().map(|&v| name(v)).collect()
        }
        let flags: [(&str, Vec<&str>); 11] = [
            ("--dataset", names(DatasetName::ALL, DatasetName::name)),
            ("--method", names(Method::ALL, Method::name)),
            ("--rerand-mode", names(RerandMode::ALL, RerandMode::name)),
            ("--ranking", names(Ranking::ALL, Ranking::name)),
            (
                "--weight-transform",
                names(WeightTransform::ALL, WeightTransform::name),
            ),
            (
                "--ranking-scope",
                names(RankingScope::ALL, RankingScope::name),
            ),
            ("--bn-type", names(BnType::ALL, BnType::name)),
            ("--model", names(Arch::ALL, Arch::name)),
            ("--init", names(InitMode::ALL, InitMode::name)),
            ("--resume", vec!["auto", "never"]),
            // a near miss of a real name is refused too, not mapped to the closest variant
            ("--method", vec!["sgd", "iterand"]),
        ];
        for (flag, valid) in flags {
            for bad in ["bogus", "Iterand", "edge_popup"] {
                let e = parse(&[flag, bad]).expect_err(flag).to_string();
                assert!(e.contains(bad), "{flag} {bad}: {e}");
                for v in &valid {
                    assert!(
                        e.contains(v),
                        "{flag} {bad}: the error does not list {v}: {e}"
                    );
                }
            }
        }
    }
}
