//! The command line itself: help for every command, completions and the man page, --quiet,
//! usage errors.

use crate::harness::*;

const COMMANDS: &[&[&str]] = &[
    &["db", "start"],
    &["db", "stop"],
    &["db", "status"],
    &["db", "migrate"],
    &["db", "lint"],
    &["keygen"],
    &["trust", "add"],
    &["trust", "list"],
    &["trust", "remove"],
    &["bundle", "create"],
    &["bundle", "inspect"],
    &["verify"],
    &["import"],
    &["scan"],
    &["findings"],
    &["status"],
    &["replay"],
    &["backup"],
    &["wal", "push"],
    &["wal", "fetch"],
    &["restore"],
    &["worker"],
    &["jobs", "list"],
    &["events"],
    &["completions"],
    &["man"],
];

#[test]
fn every_command_has_help() {
    for c in COMMANDS {
        let mut args: Vec<&str> = c.to_vec();
        args.push("--help");
        let out = stella(&args);
        assert_exit(&out, 0);
        let text = stdout(&out);
        assert!(text.contains("Usage: stella-bundle"), "{c:?}: {text}");
        assert!(
            text.contains("--json"),
            "{c:?} lists the global flags: {text}"
        );
    }
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = stella(&["completions", shell]);
        assert_exit(&out, 0);
        assert!(stdout(&out).contains("stella-bundle"), "{shell}");
        assert!(
            stdout(&out).contains("replay"),
            "{shell} completes subcommands"
        );
    }
    let man = stella(&["man"]);
    assert_exit(&man, 0);
    assert!(stdout(&man).starts_with(".ie") || stdout(&man).contains(".TH stella-bundle"));
    assert_exit(&stella(&["completions", "tcsh"]), 2);
}

#[test]
fn quiet_prints_nothing_on_success() {
    let db = fresh_db();
    for args in [
        &["db", "lint", "-q"][..],
        &["findings", "--quiet"],
        &["status", "-q"],
        &["jobs", "list", "-q"],
    ] {
        let out = stella_db(&db, args);
        assert_exit(&out, 0);
        assert!(
            stdout(&out).is_empty() && stderr(&out).is_empty(),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn json_is_one_object_even_on_errors() {
    let out = stella(&[
        "--json",
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/x",
        "findings",
    ]);
    assert_exit(&out, 1);
    let j = json(&out);
    assert_eq!(j["error"]["exit_code"], 1);
    assert!(j["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot connect"));
}

#[test]
fn closed_stdout_is_not_a_panic() {
    use std::io::Read;
    let mut child = std::process::Command::new(bin())
        .args(["man"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader went away (like `| head`)
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
}

/// `--help` of every command is pinned in `tests/it/help/`; rewrite them after an intended change
/// with `STELLA_UPDATE_SNAPSHOTS=1 cargo test --test it cli::help_is_snapshotted`.
#[test]
fn help_is_snapshotted() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/help");
    let update = std::env::var("STELLA_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    let mut all: Vec<Vec<&str>> = vec![vec![]];
    all.extend(COMMANDS.iter().map(|c| c.to_vec()));
    for c in all {
        let mut args = c.clone();
        args.push("--help");
        let out = stella_env(&args, &[("COLUMNS", "100")]);
        assert_exit(&out, 0);
        let name = if c.is_empty() {
            "stella-bundle".to_string()
        } else {
            c.join("-")
        };
        let file = dir.join(format!("{name}.txt"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&file, &out.stdout).unwrap();
        } else if std::fs::read(&file).ok().as_deref() != Some(&out.stdout[..]) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "help changed for {stale:?}: review, then rerun with STELLA_UPDATE_SNAPSHOTS=1"
    );
}
