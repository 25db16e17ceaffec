//! `quill simulate`: outputs, determinism, the committed chart gallery, and
//! bad inputs.

use std::path::PathBuf;

use crate::{quill, repo};

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "quill-test-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gallery_cases() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(repo().join("examples/gallery"))
        .expect("examples/gallery")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    cases
}

#[test]
fn gallery_charts_are_current() {
    let cases = gallery_cases();
    assert!(cases.len() >= 8, "{cases:?}");
    for case in cases {
        let out = TempDir::new("gallery");
        let conf = format!("examples/gallery/{case}/httpd.conf");
        let load = format!("examples/gallery/{case}/load.csv");
        let r = quill(&[
            "simulate",
            &conf,
            "--load",
            &load,
            "--seed",
            "1",
            "--out",
            out.path(),
        ]);
        assert_eq!(r.code, 0, "{case}: {}", r.stderr);
        let made = std::fs::read(out.0.join("chart.svg")).expect("chart.svg");
        let committed =
            std::fs::read(repo().join(format!("docs/gallery/{case}.svg"))).unwrap_or_default();
        assert!(
            made == committed,
            "docs/gallery/{case}.svg is stale; regenerate with ./scripts/gallery"
        );
    }
}

#[test]
fn same_inputs_and_seed_give_identical_files() {
    let args = |dir: &str| {
        vec![
            "simulate".to_string(),
            "examples/gallery/narrow-band-churn/httpd.conf".to_string(),
            "--load".to_string(),
            "examples/gallery/narrow-band-churn/load.csv".to_string(),
            "--seed".to_string(),
            "42".to_string(),
            "--out".to_string(),
            dir.to_string(),
        ]
    };
    let (a, b) = (TempDir::new("det-a"), TempDir::new("det-b"));
    for dir in [&a, &b] {
        let owned = args(dir.path());
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        let r = quill(&refs);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    for file in ["timeline.csv", "events.log", "chart.svg", "report.html"] {
        let x = std::fs::read(a.0.join(file)).expect(file);
        let y = std::fs::read(b.0.join(file)).expect(file);
        assert!(!x.is_empty(), "{file} is empty");
        assert!(x == y, "{file} differs between two runs with the same seed");
    }
    // A different seed gives a different Poisson realisation.
    let c = TempDir::new("det-c");
    let mut owned = args(c.path());
    owned[5] = "43".to_string();
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    assert_eq!(quill(&refs).code, 0);
    let x = std::fs::read(a.0.join("timeline.csv")).expect("a");
    let z = std::fs::read(c.0.join("timeline.csv")).expect("c");
    assert!(x != z, "seed must matter");
}

#[test]
fn timeline_has_the_documented_columns_and_one_row_per_second() {
    let out = TempDir::new("timeline");
    let r = quill(&[
        "simulate",
        "examples/gallery/startservers-killoff/httpd.conf",
        "--load",
        "examples/gallery/startservers-killoff/load.csv",
        "--duration",
        "12",
        "--out",
        out.path(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let csv = std::fs::read_to_string(out.0.join("timeline.csv")).expect("timeline.csv");
    let mut lines = csv.lines();
    let header = lines.next().unwrap_or_default();
    for col in [
        "t_s",
        "processes",
        "stopping",
        "busy",
        "idle",
        "queued",
        "spawned",
        "killed",
        "arrivals",
        "completed",
    ] {
        assert!(
            header.split(',').any(|c| c == col),
            "missing column {col} in {header}"
        );
    }
    let processes: Vec<u32> = lines
        .map(|l| {
            l.split(',')
                .nth(1)
                .and_then(|v| v.parse().ok())
                .expect("processes")
        })
        .collect();
    // StartServers 10, MaxSpareThreads 75: one kill per second down to 3.
    assert_eq!(processes, [10, 9, 8, 7, 6, 5, 4, 3, 3, 3, 3, 3]);
    let events = std::fs::read_to_string(out.0.join("events.log")).expect("events.log");
    assert_eq!(
        events.lines().filter(|l| l.contains(" kill ")).count(),
        7,
        "{events}"
    );
}

#[test]
fn terminal_summary() {
    let r = quill(&[
        "simulate",
        "examples/gallery/mrw-reached/httpd.conf",
        "--load",
        "examples/gallery/mrw-reached/load.csv",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("server reached MaxRequestWorkers setting"),
        "{}",
        r.stdout
    );
    insta::assert_snapshot!(r.transcript());
}

#[test]
fn json_summary() {
    let r = quill(&[
        "simulate",
        "examples/gallery/mrw-reached/httpd.conf",
        "--load",
        "examples/gallery/mrw-reached/load.csv",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["summary"]["peak_processes"], 6);
    // 200 clients arrive at once; 50 threads take the first 50.
    assert_eq!(v["summary"]["longest_queue"], 150);
}

#[test]
fn bad_load_file_names_the_line() {
    let dir = TempDir::new("badload");
    let load = dir.0.join("load.csv");
    std::fs::write(&load, "t_s,concurrency,request_ms\n0,10,100\n5,lots,100\n").expect("write");
    let r = quill(&[
        "simulate",
        "examples/gallery/defaults-worker/httpd.conf",
        "--load",
        dir.0.join("load.csv").to_str().unwrap_or_default(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);
}

#[test]
fn config_errors_stop_the_simulation() {
    let r = quill(&[
        "simulate",
        "tests/data/bad/two-mpms.conf",
        "--load",
        "examples/gallery/mrw-reached/load.csv",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("more than one MPM"), "{}", r.stderr);
}
