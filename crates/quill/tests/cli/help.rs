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
