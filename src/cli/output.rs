//! How results reach the user: human text on stdout, exactly one JSON object with `--json`,
//! nothing on success with `--quiet`. Messages and progress go to stderr.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Human,
    Json,
    Quiet,
}

/// What a command hands back to the edge: its JSON object, its human text, and its exit code
/// (non-zero for reports such as lint violations or failed verifications).
pub struct Report {
    pub json: serde_json::Value,
    pub human: String,
    pub exit_code: i32,
}

impl Report {
    pub fn ok(json: impl Serialize, human: impl Into<String>) -> Self {
        Report {
            json: to_value(json),
            human: human.into(),
            exit_code: 0,
        }
    }
    pub fn with_code(mut self, code: i32) -> Self {
        self.exit_code = code;
        self
    }
}

pub fn to_value(v: impl Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Write a line to stdout; a closed pipe (`stella-bundle findings | head`) is not an error.
pub fn out_line(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|_| out.flush());
}

/// Print a finished report as the mode asks. Quiet still prints a failing report on stderr.
pub fn emit(mode: Mode, report: &Report) {
    match mode {
        Mode::Json => out_line(&report.json.to_string()),
        Mode::Human => {
            if !report.human.is_empty() {
                out_line(report.human.trim_end());
            }
        }
        Mode::Quiet => {
            if report.exit_code != 0 && !report.human.is_empty() {
                eprintln!("{}", report.human.trim_end());
            }
        }
    }
}
