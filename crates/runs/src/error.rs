use std::path::PathBuf;

/// Errors of experiment files, sweeps and run listings: each names the file, key or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An experiment file, a grid, an override or a run that is not what it must be; the text
    /// names the key and the value.
    #[error("{0}")]
    Invalid(String),
    /// Where an error happened (a file, an experiment, a grid point), around it.
    #[error("{at}: {inner}")]
    At { at: String, inner: Box<Error> },
    /// A device that cannot be opened, or that this build cannot use.
    #[error("device {device}: {why}")]
    Device { device: String, why: String },
    #[error("{0}")]
    System(#[from] std::io::Error),
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Train(#[from] iterand_train::Error),
    #[error(transparent)]
    Data(#[from] iterand_data::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Put where it happened around an error, as its message's first part.
pub trait Context<T> {
    fn context(self, at: impl std::fmt::Display) -> Result<T>;
    fn with_context<S: std::fmt::Display>(self, at: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, at: impl std::fmt::Display) -> Result<T> {
        self.with_context(|| at)
    }

    fn with_context<S: std::fmt::Display>(self, at: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::At {
            at: at().to_string(),
            inner: Box::new(e.into()),
        })
    }
}

/// `return Err(Error::Invalid(format!(…)))`.
macro_rules! bail {
    ($($t:tt)*) => {
        return Err($crate::Error::Invalid(format!($($t)*)))
    };
}

/// `Error::Invalid(format!(…))`.
macro_rules! invalid {
    ($($t:tt)*) => {
        $crate::Error::Invalid(format!($($t)*))
    };
}

pub(crate) use {bail, invalid};
