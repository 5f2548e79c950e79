use std::path::PathBuf;

/// Errors of tables and figures: each names the file or the chart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A chart plotters could not draw.
    #[error("drawing {path}: {why}")]
    Draw { path: PathBuf, why: String },
    /// Nothing to draw, or an input that is not what it must be.
    #[error("{0}")]
    Invalid(String),
    /// An error, and the file or folder it concerns.
    #[error("{path}: {inner}")]
    At { path: PathBuf, inner: Box<Error> },
    #[error(transparent)]
    Train(#[from] iterand_train::Error),
    #[error(transparent)]
    Data(#[from] iterand_data::Error),
    #[error(transparent)]
    Runs(#[from] iterand_runs::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `Io` error of `path`, for `map_err`.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
