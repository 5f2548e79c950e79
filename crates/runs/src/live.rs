//! A sweep's live view: one line per running job, each the job's own progress text (what the
//! bar of a single run shows), read from the status file its worker writes about once a second
//! (`iterand_train::RunDir::STATUS`). On a terminal the lines redraw in place; otherwise (CI, a
//! log file) every running job's line is printed plainly every [`PLAIN_EVERY`].

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar};

/// How often a non-terminal gets the running jobs' lines.
pub const PLAIN_EVERY: Duration = Duration::from_secs(30);

/// One job's line: its label and where it stands (or that it has not reported yet).
pub fn job_line(label: &str, status: Option<&str>) -> String {
    format!("{label}: {}", status.unwrap_or("starting"))
}

pub struct Live {
    multi: Option<MultiProgress>,
    last_plain: Instant,
}

impl Live {
    /// Lines in place when `jobs` run at once and stderr is a terminal, plain lines otherwise.
    pub fn new(jobs: usize) -> Self {
        let multi = (jobs > 1 && std::io::stderr().is_terminal()).then(MultiProgress::new);
        Self {
            multi,
            last_plain: Instant::now(),
        }
    }

    /// A line for a new job (none when the lines are plain).
    pub fn add(&self, label: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_style(iterand_train::job_line_style());
        bar.set_message(job_line(label, None));
        Some(bar)
    }

    /// Bring every running job's line up to date: `(label, run folder, its line)`.
    pub fn refresh<'a>(
        &mut self,
        jobs: impl Iterator<Item = (&'a str, &'a Path, Option<&'a ProgressBar>)>,
    ) {
        let plain = self.multi.is_none() && self.last_plain.elapsed() >= PLAIN_EVERY;
        for (label, dir, bar) in jobs {
            let status = iterand_train::read_status(dir);
            let line = job_line(label, status.as_deref());
            match bar {
                Some(b) => b.set_message(line),
                None if plain => tracing::info!("{line}"),
                None => {}
            }
        }
        if plain {
            self.last_plain = Instant::now();
        }
    }

    /// Run `f` (which prints) with the lines out of the way.
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.multi {
            Some(m) => m.suspend(f),
            None => f(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_line_is_its_label_and_its_status() {
        assert_eq!(job_line("fc/w0.25/s1", None), "fc/w0.25/s1: starting");
        assert_eq!(
            job_line("fc/w0.25/s1", Some("epoch 2/10 step 7/422 loss 0.5")),
            "fc/w0.25/s1: epoch 2/10 step 7/422 loss 0.5"
        );
    }

    #[test]
    fn plain_lines_come_from_each_jobs_status_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(iterand_train::RunDir::STATUS),
            "epoch 1/3 step 5/9\n",
        )
        .unwrap();
        assert_eq!(
            iterand_train::read_status(d.path()).as_deref(),
            Some("epoch 1/3 step 5/9")
        );
        // not a terminal under the test harness: no lines in place
        let live = Live::new(4);
        assert!(live.add("a").is_none());
    }
}
