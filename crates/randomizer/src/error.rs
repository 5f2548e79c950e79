/// Errors from drawing or applying R: bad parameters or a tensor the operator cannot use.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {name} = {value}: {why}")]
    InvalidParameter {
        name: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("tensor of {0} elements is larger than a stream can index (2^32)")]
    TooLarge(usize),
    #[cfg(feature = "tensor")]
    #[error("shape mismatch: weights {weights:?}, mask {mask:?}")]
    ShapeMismatch {
        weights: Vec<usize>,
        mask: Vec<usize>,
    },
    #[cfg(feature = "tensor")]
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
