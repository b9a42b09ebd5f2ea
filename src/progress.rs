//! The progress bar of long runs: shown on a terminal, hidden otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use dicommanager::engine::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// An indicatif bar on stderr: files looked at out of those found so far
/// (the count grows while the walk goes on), and how many were DICOM.
pub struct Bar {
    bar: ProgressBar,
    dicom: AtomicU64,
}

impl Bar {
    /// A bar that draws only when stderr is a terminal and `quiet` is off.
    pub fn new(quiet: bool) -> Bar {
        let bar = ProgressBar::hidden();
        if !quiet && std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Bar {
            bar,
            dicom: AtomicU64::new(0),
        }
    }
}

/// `1234 files/s`: whole files, not a dozen decimals.
fn rate(state: &ProgressState, out: &mut dyn std::fmt::Write) {
    let _ = write!(out, "{:.0} files/s", state.per_sec());
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.bar.set_length(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} files, {msg} ({rate}, {eta} left)",
        ) {
            self.bar
                .set_style(style.with_key("rate", rate).progress_chars("=> "));
        }
        self.bar.set_message("0 DICOM");
    }

    fn dicom(&self, files: u64) {
        let total = self.dicom.fetch_add(files, Ordering::Relaxed) + files;
        self.bar.set_message(format!("{total} DICOM"));
    }

    fn wants_total(&self) -> bool {
        !self.bar.is_hidden()
    }

    fn found(&self, files: u64) {
        self.bar.inc_length(files);
    }

    fn advance(&self) {
        self.bar.inc(1);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
