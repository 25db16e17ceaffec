//! Integration tests: run the real `quill` binary and look at what users see.
//!
//! Snapshots live in `snapshots/`; bless changes with
//! `INSTA_UPDATE=always cargo nextest run -p quill --test cli` (or
//! `cargo insta review`) and review the diff before committing.

mod check;
mod config_corpus;
mod diagnostics;
mod docs;
mod express;
mod help;
mod report;
mod serve_tls;
mod simulate;

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// Run `quill` from the repository root with colours off.
pub fn quill(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_quill"))
        .args(args)
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .env_remove("APACHE_LOG_DIR")
        .output()
        .expect("run quill");
    let norm =
        |b: &[u8]| String::from_utf8_lossy(b).replace(&repo().display().to_string(), "<repo>");
    Run {
        stdout: norm(&out.stdout),
        stderr: norm(&out.stderr),
        code: out.status.code().unwrap_or(-1),
    }
}

impl Run {
    /// stdout, stderr and the exit code in one text for a snapshot.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}
