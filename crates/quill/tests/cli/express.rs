//! `quill express --print-config`: the equivalent Apache-style config,
//! which `quill config` (and so `quill serve`) reads back.

use crate::{quill, repo};

#[test]
fn print_config_is_a_config_that_quill_config_reads_back() {
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("print-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("root");
    let r = quill(&[
        "express",
        "crates/quill/tests/serve/apps/faults.wsgi",
        "--print-config",
        "--port",
        "8123",
        "--processes",
        "3",
        "--threads",
        "4",
        "--queue-timeout",
        "7",
        "--server-root",
        root.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Listen 8123"), "{}", r.stdout);
    let v = config_json(&root, &r.stdout);
    let d = &v["wsgi"]["daemons"][0];
    assert_eq!(d["name"], "localhost:8123");
    assert_eq!(d["processes"], 3);
    assert_eq!(d["threads"], 4);
    assert_eq!(d["timeouts"]["queue_timeout_s"], 7);
    // Kept connections are not ended after 100 requests (as
    // mod_wsgi-express 6.0 sets it for the event MPM).
    let keep = &v["main_server"]["keep_alive"];
    assert_eq!(keep["enabled"], true, "{keep}");
    assert_eq!(keep["timeout_ms"], 2000, "{keep}");
    assert_eq!(keep["max_requests"], 0, "{keep}");
    // No errors; the one warning is httpd's own silent raise of
    // MaxSpareThreads, which mod_wsgi-express's sizing (reproduced
    // exactly, reference/mod_wsgi.md §5.4) always gets.
    let findings: Vec<_> = v["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|x| x["severity"] == "error" || x["severity"] == "warning")
        .map(|x| x["code"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(findings, ["mpm/max-spare-raised"], "{v}");
    let _ = std::fs::remove_dir_all(&root);
}

/// A `quill` whose `quill-daemon` is really missing (not started by
/// `cargo run`, nothing next to it) says in one line how to get it.
#[test]
fn a_missing_daemon_program_says_how_to_get_it() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("lonely-quill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lonely = dir.join("quill");
    std::fs::copy(env!("CARGO_BIN_EXE_quill"), &lonely).expect("copy quill alone");
    let out = std::process::Command::new(&lonely)
        .args(["express", "--host", "127.0.0.1", "--port", "0"])
        .env_remove("CARGO")
        .env_remove("CARGO_MANIFEST_DIR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the lone quill");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("quill-daemon is missing"))
        .unwrap_or_else(|| panic!("names the missing program: {stderr}"));
    assert!(
        line.contains(&dir.join("quill-daemon").display().to_string())
            && line.contains("cargo install --path crates/quill"),
        "where it looked and how to get it, in one line: {line}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--embedded-mode` keeps WSGIScriptReloading On (a changed script is
/// imported again in place); with `--disable-reloading` it writes
/// `WSGIScriptReloading Off`, as mod_wsgi-express does in either mode.
#[test]
fn embedded_mode_reloads_the_script_unless_disable_reloading() {
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("print-config-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("root");
    for (extra, reloading) in [(None, true), (Some("--disable-reloading"), false)] {
        let mut args = vec![
            "express",
            "crates/quill/tests/serve/apps/faults.wsgi",
            "--print-config",
            "--embedded-mode",
            "--server-root",
            root.to_str().expect("utf-8 path"),
        ];
        args.extend(extra);
        let r = quill(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v = config_json(&root, &r.stdout);
        let mount = &v["main_server"]["wsgi_mounts"][0];
        assert_eq!(mount["process_group"]["mode"], "embedded", "{mount}");
        assert_eq!(mount["script_reloading"], reloading, "{extra:?}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// `quill config --json` of the configuration `printed` by `express
/// --print-config`, written to ROOT/httpd.conf.
fn config_json(root: &std::path::Path, printed: &str) -> serde_json::Value {
    let conf = root.join("httpd.conf");
    // (quill() shows the repository as <repo>; the file needs real paths.)
    let text = printed.replace("<repo>", &repo().display().to_string());
    std::fs::write(&conf, text).expect("write");
    let c = quill(&["config", conf.to_str().expect("utf-8 path"), "--json"]);
    assert_eq!(c.code, 0, "{}{}", c.stdout, c.stderr);
    serde_json::from_str(&c.stdout).expect("JSON")
}
