//! Randomness for IteRand, and the re-randomization operator R.
//!
//! Every random number the project draws (weights, scores, re-sampling coins, data order,
//! splits) comes from here, as a pure function of `(seed, purpose, layer, round, index)`
//! evaluated with the Philox4x32-10 counter-based generator. Nothing is sequential, so a value
//! never depends on thread count, device, or the order in which work is done, and any single
//! weight can be regenerated alone. That is what makes an IteRand run resumable bit for bit and
//! what lets the theory crate count re-samples with the same schedule the trainer uses.
//!
//! The crate knows nothing of models or training: the masking crate asks it for initial values,
//! the trainer asks it whether R fires, and R itself is a function from (weights, kept mask,
//! round) to new weights. Iterative Weight Recycling's modes add a second step that draws
//! nothing, a function from (weights, ranking keys) to weights moved between positions
//! ([`recycle_moves`]).

mod error;
mod init;
mod philox;
mod rerand;
mod schedule;
mod stream;
mod torch;

pub use error::{Error, Result};
pub use init::{draw, draw_into, InitMode};
pub use philox::philox4x32_10;
#[cfg(feature = "tensor")]
pub use rerand::{coins, fresh_values, rerandomize};
pub use rerand::{moved, recycle_moves, recycled_count};
pub use rerand::{RerandMode, Rerandomizer};
pub use schedule::{RerandSchedule, RerandUnit};
pub use stream::{layer_key, permutation, Purpose, Stream};
pub use torch::{torch_randperm, Mt19937, TORCH_RANDPERM_LIMIT};
