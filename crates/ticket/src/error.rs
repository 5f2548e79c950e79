use std::path::PathBuf;

/// Errors of ticket export, reading and rebuilding: each names the file, section or value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a ticket: {why}")]
    NotATicket { path: PathBuf, why: String },
    #[error("{path}: format version {found}; this build reads version {supported}")]
    Version {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "{path}: checksum mismatch (stored {stored}, computed {computed}): the file is damaged"
    )]
    Checksum {
        path: PathBuf,
        stored: String,
        computed: String,
    },
    #[error("ticket {what}: {why}")]
    Format { what: String, why: String },
    #[error("{run}: cannot be a ticket: {why}")]
    NotRegenerable { run: PathBuf, why: String },
    #[error("{run}: {why}")]
    Run { run: PathBuf, why: String },
    #[error(transparent)]
    Train(#[from] iterand_train::Error),
    #[error(transparent)]
    Data(#[from] iterand_data::Error),
    #[error(transparent)]
    Masking(#[from] iterand_masking::Error),
    #[error(transparent)]
    Models(#[from] iterand_models::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
