/// Errors from building or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {name} = {value}: {why}")]
    InvalidParameter {
        name: &'static str,
        value: String,
        why: String,
    },
    #[error(transparent)]
    Masking(#[from] iterand_masking::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
