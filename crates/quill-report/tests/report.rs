//! `quill report`'s analysis on recorded and generated evidence: the
//! recording of a real `quill serve` run (tests/data/report, made by
//! record.sh), a known load that must give a known utilisation, and the
//! seed's configuration, whose proposal must replay better and pass
//! `quill check` clean.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use quill_config::fs::MemFs;
use quill_config::syntax::{ParseOptions, ParsedConfig, parse_file};
use quill_config::{ResolveOptions, Resolved, resolve};
use quill_report::observe::ObserveError;
use quill_report::{AdviceOptions, ConfigReader, Observed, RawSample, Report, analyse};

/// A configuration in memory at `/srv/quill-report/httpd.conf`, read again
/// with the proposal's files in place.
struct Mem {
    main: PathBuf,
    text: String,
}

impl Mem {
    fn new(text: &str) -> Mem {
        Mem {
            main: PathBuf::from("/srv/quill-report/httpd.conf"),
            text: text.to_string(),
        }
    }

    fn data(name: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/data/report")
                .join(name),
        )
        .expect("test data")
    }
}

impl ConfigReader for Mem {
    fn read(&self, overrides: &BTreeMap<PathBuf, String>) -> (ParsedConfig, Resolved) {
        let text = overrides.get(&self.main).unwrap_or(&self.text);
        let fs = MemFs::new().with(self.main.clone(), text.clone());
        let parsed = parse_file(&self.main, &fs, &ParseOptions::default());
        let resolved = resolve(&parsed, &ResolveOptions::default());
        (parsed, resolved)
    }
}

fn run(mem: &Mem, observe: impl Fn(&Resolved) -> Observed) -> Report {
    let (parsed, resolved) = mem.read(&BTreeMap::new());
    assert!(
        !resolved.diagnostics.has_errors(),
        "the configuration reads"
    );
    let observed = observe(&resolved);
    analyse(
        (&parsed, &resolved),
        &observed,
        mem,
        &AdviceOptions::default(),
    )
    .expect("analyses")
}

fn recorded_samples() -> Vec<RawSample> {
    Mem::data("samples.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a recorded sample"))
        .collect()
}

fn recorded(observe_samples: bool) -> Report {
    let mem = Mem::new(&Mem::data("httpd.conf"));
    run(&mem, |r| {
        if observe_samples {
            quill_report::from_samples(&r.config, "samples.jsonl", &recorded_samples())
                .expect("the samples read")
        } else {
            quill_report::from_access_log(&r.config, "access.log", &Mem::data("access.log"), None)
                .expect("the log reads")
        }
    })
}

/// What users see for the recorded samples: the text report and the JSON.
#[test]
fn the_recorded_samples_report() {
    let report = recorded(true);
    insta::assert_snapshot!("samples_text", quill_report::render::text(&report));
    insta::assert_json_snapshot!("samples_json", report);
}

/// The same run, from the access log the server wrote.
#[test]
fn the_recorded_access_log_report() {
    let report = recorded(false);
    insta::assert_snapshot!("access_log_text", quill_report::render::text(&report));
}

/// The recording's figures agree with what its traffic was (load.py): two
/// clients on 0.3 s requests all along and four more for a third of the
/// time keep about 2 + 4/3 ≈ 3.3 requests in the 4-thread group, so it is
/// busy about 3.3 / 4 of the time, and requests waited while six competed.
#[test]
fn the_recorded_figures_follow_the_recorded_traffic() {
    for samples in [true, false] {
        let r = recorded(samples);
        let g = &r.observation.groups[0];
        assert_eq!(g.name, "app");
        assert!(
            (0.55..=0.95).contains(&g.utilisation),
            "samples {samples}: utilisation {}",
            g.utilisation
        );
        assert!((2.6..=4.0).contains(&g.demand), "demand {}", g.demand);
        assert!(g.waiting.requests > 0, "six clients on four threads wait");
        assert!(r.proposal.check.clean, "{:?}", r.proposal.check);
        // The proposal gives the group more threads, and the replay queues less.
        let (a, b) = (&r.whatif.current, &r.whatif.proposed);
        let (da, db) = (a.daemon.as_ref().unwrap(), b.daemon.as_ref().unwrap());
        assert!(db.processes * db.threads > da.processes * da.threads);
        assert!(db.seconds_queued < da.seconds_queued, "{da:?} → {db:?}");
    }
}

fn httpd() -> (Mem, Resolved, ParsedConfig) {
    let mem = Mem {
        main: PathBuf::from("/srv/quill-report-httpd/httpd.conf"),
        text: Mem::data("httpd/httpd.conf"),
    };
    let (parsed, resolved) = mem.read(&BTreeMap::new());
    (mem, resolved, parsed)
}

/// The same traffic on Debian's real httpd and mod_wsgi
/// (tests/data/report/httpd, made by record-httpd.sh): its access log gives
/// the same answers as Quill's, and a clean proposal.
#[test]
fn real_httpds_access_log() {
    let (mem, resolved, parsed) = httpd();
    let observed = quill_report::from_access_log(
        &resolved.config,
        "httpd/access.log",
        &Mem::data("httpd/access.log"),
        None,
    )
    .expect("httpd's log reads");
    let r = analyse(
        (&parsed, &resolved),
        &observed,
        &mem,
        &AdviceOptions::default(),
    )
    .expect("analyses");
    let g = &r.observation.groups[0];
    assert_eq!(g.name, "app");
    assert!((0.55..=0.95).contains(&g.utilisation), "{}", g.utilisation);
    assert!(g.waiting.requests > 0);
    assert!(r.proposal.check.clean, "{:?}", r.proposal.check);
    insta::assert_snapshot!("httpd_access_log_text", quill_report::render::text(&r));
}

/// httpd's status page, sampled: the front end's figures, and no daemon
/// group (httpd has no metrics page) — said, not guessed.
#[test]
fn real_httpds_status_page() {
    let (_, resolved, _) = httpd();
    let samples: Vec<RawSample> = Mem::data("httpd/samples.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a recorded sample"))
        .collect();
    let o = quill_report::from_samples(&resolved.config, "httpd", &samples)
        .expect("reads")
        .observation;
    let processes = o.front.processes.expect("from the scoreboard");
    assert!((2.0..=4.0).contains(&processes.max), "{processes:?}");
    assert!(o.front.busy.max >= 1.0);
    assert!(o.front.requests > 300, "{}", o.front.requests);
    assert!(o.groups.is_empty());
    assert_eq!(o.front.front_only_requests, None);
    let answers = quill_report::render::answers(&o).join("\n");
    assert!(answers.contains("no metrics page"), "{answers}");
}

/// An access log of `rate` requests a second, each lasting `ms`, for
/// `seconds` seconds, to `path`.
fn steady_log(rate: u32, ms: u64, seconds: u32, path: &str) -> String {
    let mut log = String::new();
    for s in 0..seconds {
        for _ in 0..rate {
            let _ = writeln!(
                log,
                "10.0.0.1 - - [07/Dec/2026:10:{:02}:{:02} +0000] \"GET {path} HTTP/1.1\" 200 \
                 512 \"-\" \"test\" {}",
                s / 60,
                s % 60,
                ms * 1000
            );
        }
    }
    log
}

const SMALL: &str = "LoadModule mpm_event_module m.so\nLoadModule wsgi_module w.so\n\
    Listen 80\nServerName a.example\n\
    WSGIDaemonProcess app processes=2 threads=5\n\
    WSGIScriptAlias / /srv/app.wsgi process-group=app application-group=%{GLOBAL}\n";

/// A known load gives its utilisation: 20 requests a second of 250 ms keep
/// 5 requests running on average, half of a group of 2 × 5 threads. The
/// tolerance (±0.02) covers the last requests running past the last
/// second of arrivals (the window ends with them).
#[test]
fn a_known_load_gives_its_utilisation() {
    let mem = Mem::new(SMALL);
    let (_, resolved) = mem.read(&BTreeMap::new());
    let log = steady_log(20, 250, 120, "/app");
    let o = quill_report::from_access_log(&resolved.config, "steady.log", &log, None)
        .expect("reads")
        .observation;
    let g = &o.groups[0];
    assert!(
        (g.utilisation - 0.5).abs() <= 0.02,
        "utilisation {}",
        g.utilisation
    );
    assert!((g.demand - 5.0).abs() <= 0.1, "demand {}", g.demand);
    assert_eq!(g.requests, 2400);
    assert_eq!(g.waiting.requests, 0, "never more than 5 at once");
    // At 50 % the group is right as it is.
    assert_eq!(quill_report::advice::needed_threads(g, 0.5), 10);
    // The same load on a group of one thread per process: 5 on 2 threads.
    let narrow = SMALL.replace("threads=5", "threads=1");
    let (_, resolved) = Mem::new(&narrow).read(&BTreeMap::new());
    let o = quill_report::from_access_log(&resolved.config, "steady.log", &log, None)
        .expect("reads")
        .observation;
    let g = &o.groups[0];
    assert!(
        g.utilisation > 2.4,
        "5 running on 2 threads: {}",
        g.utilisation
    );
    assert!(
        g.waiting.share > 0.5,
        "most arrive to a full group: {}",
        g.waiting.share
    );
}

/// The seed's traffic: Django requests of 200–600 ms, the rate stepping
/// through 120, 260, 160 and 80 a second (× `scale`) every 15 s, for
/// `seconds` (deterministic).
fn seed_log(scale: f64, seconds: u32) -> String {
    let mut log = String::new();
    let mut x: u64 = 7;
    for s in 0..seconds {
        let rate = ([120.0, 260.0, 160.0, 80.0][(s / 15 % 4) as usize] * scale) as u32;
        for _ in 0..rate {
            // A cheap deterministic spread of 200–600 ms.
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let ms = 200 + (x >> 33) % 400;
            let _ = writeln!(
                log,
                "10.0.0.1 - - [07/Dec/2026:10:{:02}:{:02} +0000] \"GET /page HTTP/1.1\" 200 \
                 512 \"-\" \"test\" {}",
                s / 60,
                s % 60,
                ms * 1000
            );
        }
    }
    log
}

fn seed(scale: f64) -> Report {
    let mem = Mem::new(&Mem::data("seed.conf"));
    run(&mem, |r| {
        quill_report::from_access_log(&r.config, "seed.log", &seed_log(scale, 120), None)
            .expect("reads")
    })
}

/// On the seed's configuration under a fluctuating load, the proposal's
/// replay forks and kills fewer children (the spare band no longer chases
/// the load, StartServers sits in the band) and passes `quill check`.
#[test]
fn on_the_seed_the_proposal_stops_the_churn() {
    let r = seed(1.0);
    let (a, b) = (&r.whatif.current, &r.whatif.proposed);
    assert!(a.killed > 0, "the seed kills children: {a:?}");
    assert!(
        b.spawned + b.killed < a.spawned + a.killed,
        "churn {} + {} → {} + {}",
        a.spawned,
        a.killed,
        b.spawned,
        b.killed
    );
    assert!(b.killed < a.killed);
    assert!(b.max_spare > a.max_spare, "MaxSpareThreads raised");
    assert!(
        b.start_servers * 25 <= b.max_spare,
        "StartServers in the band"
    );
    assert!(r.proposal.check.clean, "{:?}", r.proposal.check);
}

/// On the seed's configuration under twice the load, the daemon group is
/// too small: requests wait. The proposal adds daemon processes; replayed,
/// fewer seconds have a daemon queue and fewer requests fail.
#[test]
fn on_the_seed_at_twice_the_load_the_proposal_stops_the_queueing() {
    let r = seed(2.0);
    let g = &r.observation.groups[0];
    assert_eq!(g.name, "app1");
    assert!(g.waiting.requests > 0, "requests waited: {:?}", g.waiting);
    let sizing = &r.proposal.sizing[0];
    assert!(sizing.processes.1 > sizing.processes.0, "{sizing:?}");
    let (a, b) = (&r.whatif.current, &r.whatif.proposed);
    let (da, db) = (a.daemon.as_ref().unwrap(), b.daemon.as_ref().unwrap());
    assert!(da.seconds_queued > 0, "the seed's group queues: {da:?}");
    assert!(db.seconds_queued < da.seconds_queued, "{da:?} → {db:?}");
    assert!(db.queued_peak < da.queued_peak);
    assert!(b.status_503 + b.status_504 <= a.status_503 + a.status_504);
    assert!(r.proposal.check.clean, "{:?}", r.proposal.check);
}

/// Every proposal passes `quill check` clean: the seed (also as prefork and
/// event), the recorded server, and a small group, under a light load
/// sized for 50 % and a heavy one sized for 70 %.
#[test]
fn every_proposal_passes_quill_check() {
    let seed = Mem::data("seed.conf");
    let configs = [
        seed.clone(),
        seed.replace(
            "mpm_worker_module modules/mod_mpm_worker.so",
            "mpm_event_module modules/mod_mpm_event.so",
        ),
        seed.replace(
            "mpm_worker_module modules/mod_mpm_worker.so",
            "mpm_prefork_module modules/mod_mpm_prefork.so",
        )
        .replace("MinSpareThreads       25", "MinSpareServers 5")
        .replace("MaxSpareThreads       75", "MaxSpareServers 10")
        .replace("ThreadsPerChild       25\n", "")
        .replace("MaxClients           400", "MaxClients 150"),
        Mem::data("httpd.conf"),
        SMALL.to_string(),
    ];
    for (i, conf) in configs.iter().enumerate() {
        let mem = Mem::new(conf);
        for (scale, target) in [(0.3, 0.5), (2.0, 0.7)] {
            let (parsed, resolved) = mem.read(&BTreeMap::new());
            let observed = quill_report::from_access_log(
                &resolved.config,
                "seed.log",
                &seed_log(scale, 60),
                None,
            )
            .expect("reads");
            let options = AdviceOptions {
                target_utilisation: target,
                ..AdviceOptions::default()
            };
            let r = analyse((&parsed, &resolved), &observed, &mem, &options).expect("analyses");
            assert!(
                r.proposal.check.clean,
                "config #{i}, load ×{scale}, target {target}: {:?}\nsteps: {:#?}",
                r.proposal.check, r.proposal.steps
            );
        }
    }
}

/// An access log without the duration says what is missing and how to add
/// it; one with %T (seconds) says that the report needs %D.
#[test]
fn a_log_without_d_says_what_is_missing() {
    let (_, resolved) = Mem::new(SMALL).read(&BTreeMap::new());
    let common = "10.0.0.1 - - [07/Dec/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 512\n";
    let e = quill_report::from_access_log(&resolved.config, "access.log", common, None)
        .expect_err("no duration");
    insta::assert_snapshot!("no_duration", e.to_string());
    let seconds = "10.0.0.1 - - [07/Dec/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 512 2\n";
    let e = quill_report::from_access_log(&resolved.config, "access.log", seconds, None)
        .expect_err("seconds");
    assert!(matches!(e, ObserveError::SecondsLog { .. }), "{e}");
    insta::assert_snapshot!("seconds_log", e.to_string());
}

/// The common format with %D, and Debian's vhost_combined (`%v:%p` before
/// `%h`) with %D, read the same as the combined format.
#[test]
fn common_and_vhost_combined_logs_with_d_read() {
    let (_, resolved) = Mem::new(SMALL).read(&BTreeMap::new());
    let common = "10.0.0.1 - - [07/Dec/2026:10:00:00 +0000] \"GET /a HTTP/1.1\" 200 512 250000\n\
                  10.0.0.1 - - [07/Dec/2026:10:00:01 +0000] \"GET /b HTTP/1.1\" 200 512 250000\n";
    let vhost = "www.example.com:80 10.0.0.1 - - [07/Dec/2026:10:00:00 +0000] \"GET /a HTTP/1.1\" \
                 200 512 \"-\" \"ua\" 250000\n\
                 www.example.com:80 10.0.0.1 - - [07/Dec/2026:10:00:01 +0000] \"GET /b HTTP/1.1\" \
                 200 512 \"-\" \"ua\" 250000\n";
    for log in [common, vhost] {
        let o = quill_report::from_access_log(&resolved.config, "x.log", log, None)
            .expect("reads")
            .observation;
        assert_eq!(o.groups[0].requests, 2, "{log}");
        assert_eq!(o.groups[0].time.app_ms, 250.0);
    }
}

/// Samples: fewer than two with a page cannot give rates.
#[test]
fn one_sample_is_not_enough() {
    let (_, resolved) = Mem::new(SMALL).read(&BTreeMap::new());
    let one = &recorded_samples()[..1];
    let e = quill_report::from_samples(&resolved.config, "x", one).expect_err("one sample");
    assert!(matches!(e, ObserveError::TooFewSamples(1)), "{e}");
}
