//! The progress bar of long runs: shown on a terminal, hidden otherwise.

use std::io::IsTerminal;

use dicommanager::engine::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// An indicatif bar on stderr.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar that draws only when stderr is a terminal and `quiet` is off.
    pub fn new(quiet: bool) -> Bar {
        let bar = ProgressBar::hidden();
        if !quiet && std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} files ({per_sec}, {eta} left)",
        ) {
            self.0.set_style(style.progress_chars("=> "));
        }
    }

    fn wants_total(&self) -> bool {
        !self.0.is_hidden()
    }

    fn found(&self, files: u64) {
        self.0.inc_length(files);
    }

    fn advance(&self) {
        self.0.inc(1);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
