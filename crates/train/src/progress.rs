//! How a run reports while it trains: a bar on a terminal, log lines otherwise, or nothing.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::metrics::EpochRecord;

/// The reporter a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A bar when stderr is a terminal, plain log lines otherwise.
    Auto,
    /// Log lines only.
    Log,
    /// Nothing (for sweeps that print their own table).
    Quiet,
}

pub(crate) struct Reporter {
    bar: Option<ProgressBar>,
    log: bool,
}

impl Reporter {
    pub(crate) fn new(mode: Progress, total_steps: u64) -> Self {
        let bar = (mode == Progress::Auto && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(total_steps);
            b.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} steps, ETA {eta} {msg}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            b
        });
        let log = mode != Progress::Quiet;
        Self { bar, log }
    }

    /// Steps already done by an earlier part of a resumed run.
    pub(crate) fn skip(&self, steps: u64) {
        if let Some(b) = &self.bar {
            b.set_position(steps);
            b.reset_eta();
        }
    }

    pub(crate) fn step(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    pub(crate) fn epoch(&self, r: &EpochRecord, epochs: usize) {
        let line = format!(
            "epoch {}/{epochs}: lr {:.4} loss {:.4} train {:.2}% val {:.2}% kept {:.3} R×{} ({:.1}s)",
            r.epoch + 1,
            r.lr,
            r.train_loss,
            r.train_acc,
            r.val_acc,
            r.kept_fraction,
            r.randomizations,
            r.seconds
        );
        match &self.bar {
            Some(b) => {
                b.println(&line);
                // For the run's log file only (see experiments::cli::FILE_ONLY).
                tracing::info!(target: "run_log", "{line}");
            }
            None if self.log => tracing::info!("{line}"),
            None => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
