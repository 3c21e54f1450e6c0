//! Progress bars (indicatif) on a terminal only; nothing for `--json`, `--quiet` or a pipe.

use super::output::Mode;
use crate::progress::{Progress, Silent};
use std::io::IsTerminal;

struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&self, what: &str, total: Option<u64>) {
        if let Some(t) = total {
            self.0.set_length(t);
        }
        self.0.set_message(what.to_string());
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A bar on a terminal in human mode, else silence.
pub fn bar_for(mode: Mode, prefix: &str) -> Box<dyn Progress> {
    if mode != Mode::Human || !std::io::stderr().is_terminal() {
        return Box::new(Silent);
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(prefix.to_string());
    Box::new(Bar(bar))
}
