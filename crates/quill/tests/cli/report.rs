//! `quill report` from the command line: its help, the recorded run of
//! tests/data/report, a log without %D, and the HTML page opened in a real
//! browser (Debian's Chromium, headless; scripts/test installs it).

// Chromium's run is bounded by a deadline, polled (clippy.toml bans the
// clock and sleeps in pure crates).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::quill;

#[test]
fn report_help() {
    let r = quill(&["report", "--help"]);
    assert_eq!(r.code, 0);
    insta::assert_snapshot!(r.stdout);
}

/// The recorded samples, read back: the text report (its figures are
/// snapshot-tested in crates/quill-report; here the command's glue).
#[test]
fn the_recorded_samples_report_from_the_command_line() {
    let r = quill(&[
        "report",
        "tests/data/report/httpd.conf",
        "--samples",
        "tests/data/report/samples.jsonl",
    ]);
    insta::assert_snapshot!(r.transcript());
}

/// `--json` is one document with the observation, the proposal and the
/// what-if.
#[test]
fn json_output() {
    let r = quill(&[
        "report",
        "tests/data/report/httpd.conf",
        "--access-log",
        "tests/data/report/access.log",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["observation"]["evidence"], "access_log");
    assert_eq!(v["observation"]["groups"][0]["name"], "app");
    assert_eq!(v["proposal"]["check"]["clean"], true);
    assert!(v["whatif"]["current"]["daemon"]["threads"].is_u64());
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("quill-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A log in the common format without %D is refused, saying what to add.
#[test]
fn a_log_without_d_is_refused_with_the_fix() {
    let dir = TempDir::new("report-no-d");
    let log = dir.0.join("access.log");
    std::fs::write(
        &log,
        "10.0.0.1 - - [07/Dec/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 512\n",
    )
    .expect("write");
    let r = quill(&[
        "report",
        "tests/data/report/httpd.conf",
        "--access-log",
        log.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no request duration"), "{}", r.stderr);
    assert!(r.stderr.contains("append %D"), "{}", r.stderr);
}

/// What headless Chromium did with a page: its screenshot (PNG bytes) and
/// the page's console messages.
struct Rendered {
    png: Vec<u8>,
    console: Vec<String>,
}

/// Opens `page` in headless Chromium, takes a 1300 px wide screenshot and
/// collects the console messages Chromium logs. Bounded: after 90 s its
/// process group (it starts helpers) is killed.
fn chromium(page: &Path, dir: &Path) -> Rendered {
    use std::os::unix::process::CommandExt as _;
    let exe = "/usr/bin/chromium";
    assert!(
        Path::new(exe).exists(),
        "{exe} is missing: apt-get install chromium (scripts/test does)"
    );
    let shot = dir.join("shot.png");
    let mut child = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1300,3000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let pgid = i32::try_from(child.id()).expect("pid");
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{pgid}")])
                .status();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = reader.join().expect("stderr reader");
    Rendered {
        png: std::fs::read(&shot).unwrap_or_default(),
        console: log
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

/// Width and height from a PNG's header.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.get(..8)? != b"\x89PNG\r\n\x1a\n" || png.get(12..16)? != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(png.get(16..20)?), be(png.get(20..24)?)))
}

/// The HTML report (the recorded samples: the observed chart and both
/// replays) renders in Chromium: a full-width screenshot with the charts'
/// pixels in it, and no console message. The same check on a page that
/// logs an error shows that the check can fail.
#[test]
fn the_html_report_renders_in_chromium() {
    let dir = TempDir::new("report-chromium");
    let out = dir.0.join("out");
    let r = quill(&[
        "report",
        "tests/data/report/httpd.conf",
        "--samples",
        "tests/data/report/samples.jsonl",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html");
    assert_eq!(html.matches("<svg ").count(), 3, "observed + 2 replays");
    assert!(
        out.join("proposed").read_dir().expect("proposed/").count() == 1,
        "the proposed httpd.conf"
    );

    let got = chromium(&page, &dir.0);
    assert!(got.console.is_empty(), "console: {:#?}", got.console);
    assert_eq!(png_size(&got.png), Some((1300, 3000)), "a screenshot");
    // A blank page of that size compresses to a few kB; charts do not.
    assert!(got.png.len() > 100_000, "{} bytes", got.png.len());

    let bad = dir.0.join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><script>console.error('broken')</script></body></html>",
    )
    .expect("write");
    let control = chromium(&bad, &dir.0);
    assert!(
        control.console.iter().any(|l| l.contains("broken")),
        "the console check sees errors: {:#?}",
        control.console
    );
    assert!(
        control.png.len() < 100_000,
        "blank: {} bytes",
        control.png.len()
    );
}
