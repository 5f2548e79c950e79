//! How a run reports while it trains: to an [`Observer`]. The stock ones are a bar on a terminal
//! ([`TerminalBar`]), log lines ([`LogLines`]), the status file a sweep's live view reads
//! ([`StatusFile`]), and nothing; [`Progress`] names them, and takes any other observer too.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::metrics::EpochRecord;

/// Whoever watches a run as it trains. Every method does nothing unless implemented.
pub trait Observer: Send + Sync {
    /// The run begins (or resumes) with `done` of its `total` optimizer steps behind it.
    fn start(&self, _done: u64, _total: u64) {}
    /// Whether [`step`](Self::step) is wanted (its line costs a format per step).
    fn watches_steps(&self) -> bool {
        false
    }
    /// A step is done: `line` says where the run stands, its throughput and its data wait;
    /// `last_of_epoch` for the epoch's last step.
    fn step(&self, _line: &str, _last_of_epoch: bool) {}
    /// An epoch is done: its one-line summary.
    fn epoch(&self, _line: &str) {}
    /// The run ended (finished, interrupted or failed).
    fn finish(&self) {}
}

/// Nothing (for callers that print their own table).
pub struct Quiet;
impl Observer for Quiet {}

/// Each epoch's line through `tracing`.
pub struct LogLines;
impl Observer for LogLines {
    fn epoch(&self, line: &str) {
        tracing::info!("{line}");
    }
}

/// A bar on stderr, with each epoch's line printed above it (and sent to the log file only).
#[derive(Default)]
pub struct TerminalBar {
    bar: OnceLock<ProgressBar>,
}

impl Observer for TerminalBar {
    fn start(&self, done: u64, total: u64) {
        let b = self
            .bar
            .get_or_init(|| run_bar(total, ProgressDrawTarget::stderr()));
        b.set_position(done);
        b.reset_eta();
    }
    fn watches_steps(&self) -> bool {
        true
    }
    fn step(&self, line: &str, _: bool) {
        if let Some(b) = self.bar.get() {
            b.set_message(line.to_string());
            b.inc(1);
        }
    }
    fn epoch(&self, line: &str) {
        if let Some(b) = self.bar.get() {
            b.println(line);
        }
        tracing::info!(target: FILE_ONLY, "{line}");
    }
    fn finish(&self) {
        if let Some(b) = self.bar.get() {
            b.finish_and_clear();
        }
    }
}

/// Log lines, and about once a second the step's line in the run folder's [`STATUS_FILE`],
/// for a sweep to show one line per job.
pub struct StatusFile {
    path: PathBuf,
    last: Mutex<Option<Instant>>,
}

impl StatusFile {
    /// The status file of the run folder `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(STATUS_FILE),
            last: Mutex::new(None),
        }
    }
}

impl Observer for StatusFile {
    fn watches_steps(&self) -> bool {
        true
    }
    fn step(&self, line: &str, last_of_epoch: bool) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|t| t.elapsed().as_secs_f64() >= 1.0);
        if due || last_of_epoch {
            *last = Some(Instant::now());
            write_status(&self.path, line);
        }
    }
    fn epoch(&self, line: &str) {
        tracing::info!("{line}");
    }
}

/// Which observer a run reports to.
#[derive(Clone)]
pub enum Progress {
    /// A bar when stderr is a terminal, plain log lines otherwise.
    Auto,
    /// Log lines only.
    Log,
    /// Nothing.
    Quiet,
    /// Log lines and the run folder's status file ([`StatusFile`]).
    Status,
    /// Any other observer.
    With(Arc<dyn Observer>),
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Progress::Auto => "Auto",
            Progress::Log => "Log",
            Progress::Quiet => "Quiet",
            Progress::Status => "Status",
            Progress::With(_) => "With(..)",
        })
    }
}

impl Progress {
    /// The observer of a run writing into `out` (the status file needs a folder).
    pub fn observer(&self, out: Option<&Path>) -> Arc<dyn Observer> {
        match (self, out) {
            (Progress::Auto, _) if std::io::stderr().is_terminal() => {
                Arc::new(TerminalBar::default())
            }
            (Progress::Auto | Progress::Log, _) => Arc::new(LogLines),
            (Progress::Status, Some(dir)) => Arc::new(StatusFile::new(dir)),
            (Progress::Status, None) => Arc::new(LogLines),
            (Progress::Quiet, _) => Arc::new(Quiet),
            (Progress::With(o), _) => o.clone(),
        }
    }
}

/// Where [`StatusFile`] writes a run's state: one line, replaced as the run goes.
pub const STATUS_FILE: &str = "status.txt";

/// The tracing target of lines meant for a run's log file only (the binaries' terminal output
/// leaves them out: a progress bar already shows them).
pub const FILE_ONLY: &str = "run_log";

/// What the trainer calls: the observer, and the throughput it measures for it.
pub(crate) struct Reporter {
    observer: Arc<dyn Observer>,
    /// Since the run started (or resumed): images trained and seconds spent waiting for them.
    start: Instant,
    images: u64,
    waited: f64,
}

impl Reporter {
    pub(crate) fn new(observer: Arc<dyn Observer>, done: u64, total: u64) -> Self {
        observer.start(done, total);
        Self {
            observer,
            start: Instant::now(),
            images: 0,
            waited: 0.0,
        }
    }

    /// One step done on `images` images, after `waited` seconds waiting for the batch: where
    /// the run is, the epoch's running loss and accuracy, the throughput and the share of time
    /// the step waited for data.
    pub(crate) fn step(&mut self, images: usize, waited: f64, at: &Where) {
        if !self.observer.watches_steps() {
            return;
        }
        self.images += images as u64;
        self.waited += waited;
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = rate_message(self.images, self.waited, secs);
        let line = format!("{} {rate}", at.message());
        self.observer.step(&line, at.step == at.steps);
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
        self.observer.epoch(&line);
    }

    pub(crate) fn finish(&self) {
        self.observer.finish();
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
        let mut r = super::Reporter::new(super::Progress::Status.observer(Some(d.path())), 0, 4);
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
        let log = super::Progress::Log.observer(Some(quiet.path()));
        super::Reporter::new(log, 0, 4).step(8, 0.0, &at(1));
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
