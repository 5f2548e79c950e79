/// Errors from masked layers: bad settings, scores that cannot be ranked, tensor failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {name} = {value}: {why}")]
    InvalidParameter {
        name: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("layer `{layer}`: scores contain NaN, so no threshold exists")]
    NanScores { layer: String },
    #[error("parameter `{0}` is defined twice")]
    Duplicate(String),
    #[error("layers `{a}` and `{b}` hash to the same random-stream key; rename one")]
    KeyCollision { a: String, b: String },
    #[error("layer `{layer}`: R round {round} is past the {max} rounds a weight's generation can record")]
    GenerationOverflow { layer: String, round: u32, max: u32 },
    #[error(transparent)]
    Randomizer(#[from] iterand_randomizer::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
