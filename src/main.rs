//! The `stella-bundle` binary: everything lives in the library; only the exit code is decided here.

fn main() {
    std::process::exit(stella_bundle::cli::run());
}
