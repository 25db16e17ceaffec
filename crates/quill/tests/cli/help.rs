//! `--help` is part of the interface: snapshot it.

use crate::quill;

#[test]
fn top_level_help() {
    let r = quill(&["--help"]);
    assert_eq!(r.code, 0);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn config_help() {
    let r = quill(&["config", "--help"]);
    assert_eq!(r.code, 0);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn simulate_help() {
    let r = quill(&["simulate", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("--load <FILE>"), "{}", r.stdout);
    insta::assert_snapshot!(r.stdout);
}
