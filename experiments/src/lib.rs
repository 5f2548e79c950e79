//! The thin layer between the library crates and the command line: shared CLI parsing,
//! aggregation of runs into tables, and plots. Each binary in `src/bin` is one user-facing
//! command; the math lives in the crates under `crates/`.

pub mod cli;
pub mod compare;
pub mod curves;
pub mod device;
pub mod figures;
pub mod live;
pub mod lock;
pub mod plot;
pub mod preset_cmd;
pub mod presets;
pub mod preview;
pub mod runs;
pub mod spec;
pub mod stats;
pub mod sweep;
pub mod theory;
