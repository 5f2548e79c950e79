//! Experiments as files and sweeps: the one crate that knows the experiment-file schema, the
//! presets, how a sweep schedules its worker processes, `results.csv`, and the listing of run
//! folders.
//!
//! It drives `iterand-train` (a worker trains one run) and knows nothing of the command line:
//! how a worker process is started is the binary's ([`sweep::Launch`]), and errors speak of
//! keys and values.

mod error;

pub mod device;
pub mod endings;
pub mod listing;
pub mod live;
pub mod presets;
pub mod results;
pub mod slurm;
pub mod spec;
pub mod status;
pub mod sweep;
pub mod worker;

pub(crate) use error::{bail, invalid};
pub use error::{Context, Error, Result};
