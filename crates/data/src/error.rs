use std::path::PathBuf;

/// Errors that name the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Format { path: PathBuf, what: String },
    #[error("{0}")]
    NotFound(String),
    #[error("invalid {name} = {value}: {why}")]
    InvalidParameter {
        name: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("data loader: {0}")]
    Loader(String),
    #[error("{source_name}: {count} unreadable files, more than the {limit} tolerated:\n{files}")]
    BadFiles {
        source_name: String,
        count: usize,
        limit: usize,
        files: String,
    },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl Error {
    pub(crate) fn format(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            what: what.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
