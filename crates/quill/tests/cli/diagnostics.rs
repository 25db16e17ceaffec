//! Every malformed input gets file:line:col, the source line, a caret and a
//! help line; `quill config` exits 1 on errors and never panics.
//! One configuration per problem in tests/data/bad/.

use crate::{quill, repo};

#[test]
fn each_bad_config_is_explained() {
    let dir = repo().join("tests/data/bad");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/data/bad")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 15,
        "expected the whole set of bad configs, found {names:?}"
    );
    for name in names {
        let conf = format!("tests/data/bad/{name}");
        let r = quill(&["config", &conf, "--cores", "2"]);
        assert!(
            (0..=3).contains(&r.code) && r.code != 2,
            "{name}: exit {} (a crash?)\n{}",
            r.code,
            r.stderr
        );
        assert!(
            !r.stderr.contains("panicked"),
            "{name} panicked:\n{}",
            r.stderr
        );
        // Every error and warning carries a location and a help line.
        for block in r
            .stderr
            .split("\n\n")
            .filter(|b| b.starts_with("error") || b.starts_with("warning"))
        {
            let located =
                block.contains("┌─ <repo>/tests/data/bad/") || block.contains("no MPM is loaded");
            assert!(located, "{name}: diagnostic without location:\n{block}");
            assert!(
                block.contains("= help:"),
                "{name}: diagnostic without help:\n{block}"
            );
        }
        let stem = name.trim_end_matches(".conf").to_string();
        insta::assert_snapshot!(
            format!("bad__{stem}"),
            format!("exit: {}\n{}", r.code, r.stderr)
        );
    }
}

#[test]
fn unreadable_config_exits_2() {
    let r = quill(&["config", "tests/data/bad/does-not-exist.conf"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
}
