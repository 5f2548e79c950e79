//! How a run reports while it trains: a bar on a terminal, log lines otherwise, or nothing.

use std::cell::Cell;
use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    /// Log lines, and about once a second the bar's text in the run folder's [`STATUS_FILE`],
    /// for a sweep to show one line per job.
    Status,
}

/// Where [`Progress::Status`] writes a run's state: one line, replaced as the run goes.
pub const STATUS_FILE: &str = "status.txt";

/// The tracing target of lines meant for a run's log file only (the binaries' terminal output
/// leaves them out: a progress bar already shows them).
pub const FILE_ONLY: &str = "run_log";

pub(crate) struct Reporter {
    bar: Option<ProgressBar>,
    /// The status file and when it was last written.
    status: Option<(std::path::PathBuf, Cell<Option<Instant>>)>,
    log: bool,
    /// Since the bar started (or resumed): images trained and seconds spent waiting for them.
    start: Cell<Instant>,
    images: Cell<u64>,
    waited: Cell<f64>,
}

impl Reporter {
    pub(crate) fn new(mode: Progress, total_steps: u64, out: Option<&std::path::Path>) -> Self {
        let bar = (mode == Progress::Auto && std::io::stderr().is_terminal())
            .then(|| run_bar(total_steps, ProgressDrawTarget::stderr()));
        let log = mode != Progress::Quiet;
        let status = out
            .filter(|_| mode == Progress::Status)
            .map(|d| (d.join(STATUS_FILE), Cell::new(None)));
        Self {
            bar,
            status,
            log,
            start: Cell::new(Instant::now()),
            images: Cell::new(0),
            waited: Cell::new(0.0),
        }
    }

    /// Steps already done by an earlier part of a resumed run.
    pub(crate) fn skip(&self, steps: u64) {
        if let Some(b) = &self.bar {
            b.set_position(steps);
            b.reset_eta();
            self.start.set(Instant::now());
        }
    }

    /// One step done on `images` images, after `waited` seconds waiting for the batch: the bar
    /// shows where the run is, the epoch's running loss and accuracy, the throughput and the
    /// share of time the step waited for data.
    pub(crate) fn step(&self, images: usize, waited: f64, at: &Where) {
        if self.bar.is_none() && self.status.is_none() {
            return;
        }
        self.images.set(self.images.get() + images as u64);
        self.waited.set(self.waited.get() + waited);
        let secs = self.start.get().elapsed().as_secs_f64().max(1e-9);
        let rate = rate_message(self.images.get(), self.waited.get(), secs);
        let text = format!("{} {rate}", at.message());
        if let Some((path, last)) = &self.status {
            let due = last.get().is_none_or(|t| t.elapsed().as_secs_f64() >= 1.0);
            if due || at.step == at.steps {
                last.set(Some(Instant::now()));
                write_status(path, &text);
            }
        }
        if let Some(b) = &self.bar {
            b.set_message(text);
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
                tracing::info!(target: FILE_ONLY, "{line}");
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

/// A run's bar. Its text is cut at the terminal's width: a line that wraps is redrawn one
/// terminal row too low, and the bar would leave a copy of itself on every redraw.
fn run_bar(total_steps: u64, target: ProgressDrawTarget) -> ProgressBar {
    let b = ProgressBar::with_draw_target(Some(total_steps), target);
    b.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:16}] ETA {eta} {wide_msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    b
}

/// The style of a sweep's line per job (its text only, cut at the terminal's width, as a
/// run's bar).
pub fn job_line_style() -> ProgressStyle {
    ProgressStyle::with_template("{wide_msg}").expect("static template")
}

/// Replace the status file (a temporary file and a rename, so a reader sees a whole line; not
/// synced: it is a view, not a record). A failure only loses the view, so it is ignored.
fn write_status(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("txt.tmp");
    if std::fs::write(&tmp, format!("{text}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// A run's status line from its folder, if it is writing one.
pub fn read_status(run: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(run.join(STATUS_FILE)).ok()?;
    Some(text.trim_end().to_string())
}

/// Where a run stands, for the bar.
pub(crate) struct Where {
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub steps: usize,
    /// The epoch's running mean loss and accuracy (percent).
    pub loss: f64,
    pub acc: f64,
}

impl Where {
    fn message(&self) -> String {
        format!(
            "epoch {}/{} step {}/{} loss {:.4} acc {:.2}% |",
            self.epoch + 1,
            self.epochs,
            self.step,
            self.steps,
            self.loss,
            self.acc
        )
    }
}

/// "N images/s, P % waiting for data" over `secs` seconds.
fn rate_message(images: u64, waited: f64, secs: f64) -> String {
    format!(
        "{:.0} img/s, {:.0} % data wait",
        images as f64 / secs,
        100.0 * waited / secs
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_status_run_writes_its_line_at_the_first_and_last_step() {
        let d = tempfile::tempdir().unwrap();
        let r = super::Reporter::new(super::Progress::Status, 4, Some(d.path()));
        let at = |step| super::Where {
            epoch: 0,
            epochs: 1,
            step,
            steps: 4,
            loss: 2.0,
            acc: 10.0,
        };
        r.step(8, 0.0, &at(1));
        let first = super::read_status(d.path()).unwrap();
        assert!(
            first.starts_with("epoch 1/1 step 1/4 loss 2.0000"),
            "{first}"
        );
        r.step(8, 0.0, &at(2)); // within the second: not written
        assert_eq!(super::read_status(d.path()).unwrap(), first);
        r.step(8, 0.0, &at(4)); // the epoch's last step always is
        let last = super::read_status(d.path()).unwrap();
        assert!(last.starts_with("epoch 1/1 step 4/4"), "{last}");
        let quiet = tempfile::tempdir().unwrap();
        super::Reporter::new(super::Progress::Log, 4, Some(quiet.path())).step(8, 0.0, &at(1));
        assert!(super::read_status(quiet.path()).is_none());
    }

    /// A terminal of `width` columns that keeps what is written to it, line by line.
    #[derive(Debug, Clone)]
    struct Screen {
        width: u16,
        lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Screen {
        fn new(width: u16) -> Self {
            let lines = std::sync::Arc::new(std::sync::Mutex::new(vec![String::new()]));
            Self { width, lines }
        }
        fn longest(&self) -> usize {
            let lines = self.lines.lock().unwrap();
            lines.iter().map(|l| l.chars().count()).max().unwrap_or(0)
        }
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            self.width
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)?;
            self.lines.lock().unwrap().push(String::new());
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            let mut lines = self.lines.lock().unwrap();
            lines.last_mut().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.lines.lock().unwrap().push(String::new());
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn long_text() -> String {
        let at = super::Where {
            epoch: 10,
            epochs: 100,
            step: 1234,
            steps: 5004,
            loss: 1.5,
            acc: 45.0,
        };
        format!("{} {}", at.message(), super::rate_message(2560, 9.0, 10.0))
    }

    #[test]
    fn progress_lines_fit_an_80_column_terminal() {
        let text = long_text();
        // The bar's own part (time, bar, ETA) takes 41 columns.
        assert!(41 + text.len() > 80, "{text}");
        let screen = Screen::new(80);
        let target = indicatif::ProgressDrawTarget::term_like(Box::new(screen.clone()));
        let bar = super::run_bar(5004, target);
        bar.set_message(text.clone());
        bar.inc(1234);
        bar.abandon();
        let drawn = screen.lines.lock().unwrap().join("\n");
        assert!(drawn.contains("epoch 11/100 step 1234/5004"), "{drawn}");
        assert_eq!(screen.longest(), 80, "{drawn}");

        let screen = Screen::new(40);
        let line = indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        line.set_style(super::job_line_style());
        line.set_message(format!("conv6/w0.25/s1: {text}"));
        line.abandon();
        let drawn = screen.lines.lock().unwrap().join("\n");
        assert!(drawn.contains("conv6/w0.25/s1: epoch 11"), "{drawn}");
        assert!(screen.longest() <= 40, "{drawn}");
    }

    #[test]
    fn the_bar_says_where_the_run_stands() {
        let at = super::Where {
            epoch: 1,
            epochs: 10,
            step: 7,
            steps: 422,
            loss: 0.51234,
            acc: 81.5,
        };
        assert_eq!(
            at.message(),
            "epoch 2/10 step 7/422 loss 0.5123 acc 81.50% |"
        );
    }

    #[test]
    fn the_bar_reports_throughput_and_the_share_spent_waiting() {
        assert_eq!(
            super::rate_message(1280, 0.5, 10.0),
            "128 img/s, 5 % data wait"
        );
    }
}
