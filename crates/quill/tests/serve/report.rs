//! `quill report --url` against a live `quill serve`: the status and
//! metrics pages sampled over a window, with a known load on the daemon
//! group.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::status::serve_conf;
use crate::{TempDir, get, quill_bin, unsafe_kill};

/// Two clients, each sending the next 0.5 s request as soon as the last is
/// answered, keep two of the group's 1 × 4 threads busy: `quill report`
/// measures a utilisation of 0.5 over its window. Tolerance ±0.15: the
/// clients' gaps between requests (milliseconds each) and the requests
/// that straddle the window's ends (±2 × 0.5 s of 24 thread-seconds) move
/// it by a few hundredths; more would be a wrong figure.
#[test]
fn report_samples_a_live_server_and_measures_a_known_load() {
    let root = TempDir::new("report-live");
    let app = root.0.join("lifecycle.wsgi");
    std::fs::copy(crate::fixtures().join("lifecycle.wsgi"), &app).expect("copy the app");
    let r = root.0.display().to_string();
    let conf = root.0.join("httpd.conf");
    let body = format!(
        "LoadModule wsgi_module modules/mod_wsgi.so\n\
         LoadModule status_module modules/mod_status.so\n\
         StartServers 2\nServerLimit 4\nThreadLimit 5\nThreadsPerChild 5\n\
         MaxRequestWorkers 20\nMinSpareThreads 5\nMaxSpareThreads 20\n\
         WSGISocketPrefix \"{r}/wsgi\"\n\
         WSGIDaemonProcess app processes=1 threads=4\n\
         WSGIScriptAlias /app \"{}\" process-group=app application-group=%{{GLOBAL}}\n\
         <Location /server-status>\nSetHandler server-status\nRequire local\n</Location>\n\
         <Location /quill-metrics>\nSetHandler quill-metrics\nRequire local\n</Location>\n",
        app.display()
    );
    let s = serve_conf(root, "event", &body);
    assert_eq!(get(&s.url("/app/echo")).0, 200, "log:\n{}", s.log());

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (url, stop) = (s.url("/app/sleep?0.5"), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(get(&url).0, 200);
                }
            })
        })
        .collect();
    // Both clients have a request running before the window opens.
    std::thread::sleep(Duration::from_millis(300));

    let record = s.root.0.join("samples.jsonl");
    let base = s.url("");
    let mut child = Command::new(quill_bin())
        .arg("report")
        .arg(&conf)
        .args([
            "--url",
            base.trim_end_matches('/'),
            "--window",
            "6",
            "--interval",
            "1",
            "--json",
        ])
        .arg("--record")
        .arg(&record)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start quill report");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            unsafe_kill(i32::try_from(child.id()).expect("pid"), 9);
            let _ = child.wait();
            panic!("quill report did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let o = &v["observation"];
    assert_eq!(o["evidence"], "samples");
    assert_eq!(o["count"], 7, "samples at 0, 1, … 6 s");
    let g = &o["groups"][0];
    assert_eq!(g["name"], "app");
    assert_eq!(g["threads"], 4);
    assert_eq!(g["live_threads"], 4);
    let u = g["utilisation"].as_f64().expect("utilisation");
    assert!(
        (u - 0.5).abs() <= 0.15,
        "2 of 4 threads busy, not {u}\n{stdout}"
    );
    assert!(
        g["requests"].as_u64().expect("n") >= 16,
        "2 clients × 6 s / 0.5 s"
    );
    let processes = &o["front"]["processes"];
    assert!(processes["max"].as_f64().expect("sampled") >= 1.0);
    assert_eq!(o["front"]["configured"]["max_processes"], 4);
    assert_eq!(v["proposal"]["check"]["clean"], true, "{}", v["proposal"]);
    let recorded = std::fs::read_to_string(&record).expect("the recording");
    assert_eq!(recorded.lines().count(), 7);
}
