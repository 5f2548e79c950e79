use std::path::PathBuf;

/// Errors of a training run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {name} = {value}: {why}")]
    InvalidConfig {
        name: String,
        value: String,
        why: String,
    },
    #[error(
        "the loss became {value} at epoch {epoch}, step {step}: the run diverged \
         (try a smaller lr)"
    )]
    NonFiniteLoss {
        value: f32,
        epoch: usize,
        step: usize,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged: {why}")]
    Corrupt { path: PathBuf, why: String },
    #[error("{path} is not writable ({source}); a run folder has to be")]
    NotWritable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A write that failed somewhere inside a library (a full disk while saving tensors).
    #[error("could not write {path}: {why}")]
    Write { path: PathBuf, why: String },
    #[error(
        "stopped at iteration {iteration}; the checkpoint in {path} continues it \
         (resume = auto)"
    )]
    Interrupted { path: PathBuf, iteration: u64 },
    #[error("asked to stop after {stop} steps, but the run in {path} has already done {done}")]
    StopBehind { path: PathBuf, stop: u64, done: u64 },
    #[error(
        "{path} holds a run with a different config (keys that differ: {keys}); \
         use another folder, or start over (resume = never)"
    )]
    ConfigMismatch { path: PathBuf, keys: String },
    #[error(
        "{path} already holds a run; continue it (resume = auto) or start over \
         (resume = never)"
    )]
    RunExists { path: PathBuf },
    #[error("cannot serialise {what}: {why}")]
    Serialise { what: &'static str, why: String },
    #[error(transparent)]
    Data(#[from] iterand_data::Error),
    #[error(transparent)]
    Model(#[from] iterand_models::Error),
    #[error(transparent)]
    Masking(#[from] iterand_masking::Error),
    #[error(transparent)]
    Randomizer(#[from] iterand_randomizer::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
