//! `quill config` over the corpus of realistic configurations in
//! examples/configs/: each resolves without errors; snapshots of the text
//! and of the JSON output.

use crate::quill;

fn text(name: &str, main: &str) -> String {
    let conf = format!("examples/configs/{name}/{main}");
    let root = format!("examples/configs/{name}");
    let r = quill(&["config", &conf, "--server-root", &root, "--cores", "2"]);
    assert_eq!(
        r.code, 0,
        "{name} must resolve without errors:\n{}",
        r.stderr
    );
    r.transcript()
}

#[test]
fn debian_split_tree() {
    // envvars beside apache2.conf is read like apache2ctl does.
    insta::assert_snapshot!(text("debian", "apache2.conf"));
}

#[test]
fn rhel_single_file() {
    insta::assert_snapshot!(text("rhel", "httpd.conf"));
}

#[test]
fn mod_wsgi_express_generated() {
    insta::assert_snapshot!(text("express", "httpd.conf"));
}

#[test]
fn django_80_and_443_share_one_daemon_group() {
    insta::assert_snapshot!(text("django", "httpd.conf"));
}

#[test]
fn several_daemon_groups_delegated_by_url() {
    insta::assert_snapshot!(text("multi-group", "httpd.conf"));
}

#[test]
fn json_output_is_the_documented_schema() {
    let r = quill(&[
        "config",
        "examples/configs/django/httpd.conf",
        "--server-root",
        "examples/configs/django",
        "--json",
        "--cores",
        "2",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("valid JSON");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["mpm"]["mpm"], "worker");
    assert_eq!(v["mpm"]["max_children"], 8);
    assert_eq!(v["vhosts"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["routing"][1]["listener"], "*:443");
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn mpm_override_changes_the_mpm_and_demotes_foreign_directives() {
    let r = quill(&[
        "config",
        "examples/configs/rhel/httpd.conf",
        "--server-root",
        "examples/configs/rhel",
        "--mpm",
        "event",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("valid JSON");
    assert_eq!(v["mpm"]["mpm"], "event");
    assert_eq!(v["mpm"]["selected_by"], "command-line");
    // MinSpareServers is prefork's: a warning (ignored), not an error, under --mpm.
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert!(
        codes.contains(&"config/directive-of-other-mpm"),
        "{codes:?}"
    );
    assert_eq!(v["summary"]["errors"], 0);
}
