//! Compact tickets (issue 15): a trained supermask network stored as what regenerates it.
//!
//! Every weight of a run is a pure function of (seed, layer, round, index), and each masked
//! layer records the round of its weights' current values (their generations). So a network
//! is its resolved config (with the seed), a mask and the generations of kept weights, plus
//! what cannot be drawn again: BatchNorm statistics. Masks and generations are entropy-coded
//! ([`codec`]); the file layout is in docs/ticket-format.md ([`format`]).

pub mod codec;
mod error;
mod export;
pub mod format;
mod inspect;
mod rebuild;

pub use error::{Error, Result};
pub use export::export;
pub use format::{Header, LayerHeader, Ticket};
pub use inspect::{dense, info, Info, LayerInfo};
pub use rebuild::{layer_values, rebuild, Rebuilt};
