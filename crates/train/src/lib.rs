//! Training: the optimizer, the learning-rate schedule, the loop, metrics and run folders.
//!
//! This is the crate that drives. It builds a model from a [`TrainConfig`], feeds it batches in
//! the seeded order, steps SGD with PyTorch's semantics on the trainable variables (the scores
//! in edge-popup and IteRand, weights and biases in the SGD baseline), asks the randomizer's
//! schedule whether R fires before each step, and records one line of metrics per epoch in the
//! run folder. The same loop serves every method: they differ only in their [`Method`].

mod checkpoint;
mod config;
mod data_source;
pub mod dynamics;
mod error;
mod files;
mod lock;
mod lr;
mod metrics;
mod progress;
mod run_dir;
mod sgd;
pub mod tensorboard;
mod trainer;

pub use checkpoint::{CheckpointInfo, Checkpointer, Position, Streams, BEST, LAST, PREVIOUS};
pub use config::{check, DatasetName, Method, SplitDraw, TrainConfig};
pub use data_source::load_splits;
pub use error::{Error, Result};
pub use files::{sha256_hex, write_atomic};
pub use lock::{is_held, RunLock};
pub use lr::CosineSchedule;
pub use metrics::{
    EpochRecord, EvalRecord, Histogram, HistogramsRecord, LayerStats, MaskRecord, MetricsLine,
    StepRecord, Summary,
};
pub use progress::{
    job_line_style, read_status, LogLines, Observer, Progress, Quiet, StatusFile, TerminalBar,
    FILE_ONLY,
};
pub use run_dir::{device_name, NetworkIo, Resume, RunDir, RunState, Session};
pub use sgd::{Sgd, SgdConfig};
pub use trainer::{evaluate, load_variables, train, train_with, RunOptions};
