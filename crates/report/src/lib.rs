//! Reports: statistics over seeds, tables, and every figure: the paper's figures from sweep
//! results, a run's training curves, the theory experiments' figures, and previews of what a
//! network sees.
//!
//! It reads what training and sweeps wrote (`iterand-train`'s run folders, `iterand-runs`'
//! `results.csv`) and never trains; each figure is written through [`plot::write_figure`] as
//! PNG, SVG, CSV and Markdown.

mod error;

pub mod curves;
pub mod figures;
pub mod plot;
pub mod preview;
pub mod stats;
pub mod theory;

pub use error::{Error, Result};
