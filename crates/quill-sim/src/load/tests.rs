//! Tests of the load parsers and arrivals. Error messages are snapshot-tested
//! (`snapshots/`); bless with `INSTA_UPDATE=always cargo test -p quill-sim`
//! and review the diff.

use std::fmt::Write as _;

use proptest::prelude::*;

use super::*;

fn parse_ok(text: &str) -> Load {
    match parse_load(text) {
        Ok(load) => load,
        Err(e) => panic!("{e}"),
    }
}

fn closed(text: &str) -> Schedule {
    match parse_ok(text) {
        Load::Closed(s) => s,
        other => panic!("not a schedule: {other:?}"),
    }
}

fn open(text: &str) -> OpenLoad {
    match parse_ok(text) {
        Load::Open(o) => o,
        other => panic!("not an open load: {other:?}"),
    }
}

const POISSON_100: &str = "t_s,rate_per_s,median_ms,sigma\n0,100,200,0.5\n3000,0,200,0.5\n";

// ---------------------------------------------------------------- formats

#[test]
fn schedule() {
    let s = closed(
        "# step to 200 clients\n\
         t_s,concurrency,request_ms\n\
         \n\
         20.5,200,1000\n\
         50.5,0,1000\n",
    );
    assert_eq!(
        s.steps,
        vec![
            Step {
                t_us: 20_500_000,
                concurrency: 200,
                request_us: 1_000_000,
                requests_per_conn: 1,
                think_us: 0,
                close_on_stop: false,
            },
            Step {
                t_us: 50_500_000,
                concurrency: 0,
                request_us: 1_000_000,
                requests_per_conn: 1,
                think_us: 0,
                close_on_stop: false,
            },
        ]
    );
    assert_eq!(s.step_at(0), None);
    assert_eq!(s.step_at(20_500_000).map(|s| s.concurrency), Some(200));
    assert_eq!(s.step_at(50_499_999).map(|s| s.concurrency), Some(200));
    assert_eq!(s.step_at(u64::MAX).map(|s| s.concurrency), Some(0));
    let load = Load::Closed(s);
    assert_eq!(load.end_us(), 50_500_000);
    assert_eq!(load.end_ms(), 50_500);
    assert_eq!(load.kind(), LoadKind::Schedule);
    assert_eq!(
        load.describe(),
        "closed loop 200→0 clients, 1000 ms requests"
    );
}

#[test]
fn schedule_idle_rows_may_have_zero_request_ms() {
    // As in the bench harness's idle-decay scenarios.
    let s = closed("t_s,concurrency,request_ms\n0,0,0\n");
    assert_eq!(s.steps[0].request_us, 0);
    assert_eq!(Load::Closed(s).describe(), "closed loop 0 clients");
}

#[test]
fn keep_alive_columns_any_order_any_case() {
    let s = closed(
        "Think_MS, REQUESTS_PER_CONN ,t_s,\"request_ms\",Concurrency\r\n\
         500,5,10.5,200,60\r\n\
         ,,50.5,200,0\r\n",
    );
    assert_eq!(
        s.steps[0],
        Step {
            t_us: 10_500_000,
            concurrency: 60,
            request_us: 200_000,
            requests_per_conn: 5,
            think_us: 500_000,
            close_on_stop: false,
        }
    );
    // Empty optional values take their defaults.
    assert_eq!((s.steps[1].requests_per_conn, s.steps[1].think_us), (1, 0));
    assert_eq!(
        Load::Closed(s).describe(),
        "closed loop 60→0 clients, 200 ms requests, 5 requests/conn, think 500 ms"
    );
}

#[test]
fn fewer_values_than_columns_leave_optional_ones_default() {
    let s = closed("t_s,concurrency,request_ms,requests_per_conn,think_ms\n0,1,2\n");
    assert_eq!((s.steps[0].requests_per_conn, s.steps[0].think_us), (1, 0));
}

#[test]
fn tiny_positive_durations_become_one_microsecond() {
    let s = closed("t_s,concurrency,request_ms\n0,1,0.0001\n");
    assert_eq!(s.steps[0].request_us, 1);
    let o = open("arrival_ms,duration_ms\n0,0\n");
    assert_eq!(o.arrivals(0).next().map(|a| a.duration_us), Some(1));
}

#[test]
fn trace_is_sorted_stably() {
    let o = open(
        "arrival_ms,duration_ms,requests_per_conn,think_ms\n\
         1500,250\n\
         0.5,100\n\
         1500,10,3,20\n\
         # a comment\n\
         700,1e3\n",
    );
    let got: Vec<_> = o
        .arrivals(99)
        .map(|a| (a.at_us, a.duration_us, a.requests_per_conn, a.think_us))
        .collect();
    assert_eq!(
        got,
        vec![
            (500, 100_000, 1, 0),
            (700_000, 1_000_000, 1, 0),
            (1_500_000, 250_000, 1, 0),
            (1_500_000, 10_000, 3, 20_000),
        ]
    );
    // Ends when the last connection would finish unqueued: 1500 ms + 250 ms
    // (later than 700 ms + 1 s, and than 1500 ms + 3 × 10 ms + 2 × 20 ms).
    assert_eq!(o.end_us(), 1_750_000);
    let OpenLoad::Trace(t) = &o else { panic!() };
    assert_eq!((t.connections(), t.requests()), (4, 6));
    assert_eq!(t.origin(), TraceOrigin::Csv);
    assert_eq!(
        Load::Open(o).describe(),
        "trace, 6 requests arriving 0–1.5 s, 1–3 requests/conn, think 0–20 ms"
    );
}

#[test]
fn poisson() {
    let o = open(
        "t_s,rate_per_s,median_ms,sigma\n5,20,600,0.5\n35,80,600,0.5\n65,30,600,0.5\n90,0,600,0.5\n",
    );
    let OpenLoad::Poisson(p) = &o else { panic!() };
    let spans: Vec<_> = p
        .segments()
        .iter()
        .map(|s| (s.start_us / 1_000_000, s.end_us / 1_000_000, s.rate_per_s))
        .collect();
    assert_eq!(spans, vec![(5, 35, 20.0), (35, 65, 80.0), (65, 90, 30.0)]);
    assert_eq!(p.expected_connections(), 600.0 + 2400.0 + 750.0);
    assert_eq!(o.end_us(), 90_000_000);
    for a in o.arrivals(1) {
        assert!((5_000_000..90_000_000).contains(&a.at_us), "{a:?}");
    }
    let load = Load::Open(o);
    assert_eq!(load.kind(), LoadKind::Poisson);
    assert_eq!(
        load.describe(),
        "Poisson 20→80→30 req/s, median 600 ms, σ 0.5"
    );
}

#[test]
fn poisson_keep_alive_draws_each_request() {
    let o = open(
        "t_s,rate_per_s,median_ms,sigma,requests_per_conn,think_ms\n0,20,200,0.5,5,500\n50,0,200,0.5,5,500\n",
    );
    let arrivals: Vec<Arrival> = o.arrivals(3).take(50).collect();
    for a in &arrivals {
        assert_eq!((a.requests_per_conn, a.think_us), (5, 500_000));
        let ds: Vec<u64> = a.request_durations().collect();
        assert_eq!(ds.len(), 5);
        assert_eq!(ds[0], a.duration_us);
        assert_eq!(ds, a.request_durations().collect::<Vec<_>>());
        assert!(ds[1..].iter().any(|&d| d != ds[0]), "{ds:?}");
    }
    // Connections have streams of their own.
    assert_ne!(
        arrivals[0].request_duration_us(1),
        arrivals[1].request_duration_us(1)
    );
    // And replay identically.
    assert_eq!(arrivals, o.arrivals(3).take(50).collect::<Vec<_>>());
    assert_eq!(
        Load::Open(o).describe(),
        "Poisson 20 conn/s, 5 requests/conn, think 500 ms, median 200 ms, σ 0.5"
    );
}

#[test]
fn poisson_sigma_zero_is_fixed_and_rate_zero_gaps_are_silent() {
    let o = open("t_s,rate_per_s,median_ms,sigma\n0,50,200,0\n10,0,0,0\n20,50,100,0\n30,0,100,0\n");
    let mut n_gap = 0;
    for a in o.arrivals(5) {
        assert!(!(10_000_000..20_000_000).contains(&a.at_us));
        if a.at_us < 10_000_000 {
            assert_eq!(a.duration_us, 200_000);
        } else {
            assert_eq!(a.duration_us, 100_000);
            n_gap += 1;
        }
    }
    assert!(n_gap > 0);
    assert_eq!(
        Load::Open(o).describe(),
        "Poisson 50→0→50 req/s, 100–200 ms requests"
    );
}

#[test]
fn poisson_that_never_starts_has_no_arrivals() {
    let o = open("t_s,rate_per_s,median_ms,sigma\n0,0,200,0.5\n");
    assert_eq!(o.arrivals(1).count(), 0);
    assert_eq!(o.end_us(), 0);
}

#[test]
fn source_name_in_errors() {
    let e = parse_load_named("load.csv", "t_s,concurrency,request_ms\n1,2,x\n").unwrap_err();
    assert_eq!(e.file.as_deref(), Some("load.csv"));
    assert!(
        e.to_string().starts_with("load.csv, line 2: request_ms"),
        "{e}"
    );
}

// ------------------------------------------------------------- access logs

const COMBINED_D: &str = r#"# %D: microseconds
192.0.2.1 - - [10/Oct/2025:13:55:36 +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8.5" 120500
192.0.2.2 - - [10/Oct/2025:13:55:36 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8.5" 80000
192.0.2.3 - frank [10/Oct/2025:13:55:35 +0000] "POST /b HTTP/1.1" 201 - "http://example.com/" "Mozilla/5.0 (X11; Linux x86_64) [en]" 2500000
192.0.2.4 - - [10/Oct/2025:15:55:37 +0200] "GET /c?q=\"x\" HTTP/1.1" 200 10 "-" "ua \"quoted\"" 999
"#;

const COMMON_T: &str = "\
10.0.0.1 - - [01/Mar/2024:00:00:00 +0000] \"GET / HTTP/1.0\" 200 100 0
10.0.0.1 - - [01/Mar/2024:00:00:00 +0000] \"GET / HTTP/1.0\" 200 100 1

10.0.0.1 - - [01/Mar/2024:00:00:00 +0000] \"GET / HTTP/1.0\" 304 - 0
10.0.0.2 - - [01/Mar/2024:00:00:02 +0000] \"GET /slow HTTP/1.0\" 200 100 3
";

fn trace_rows(o: &OpenLoad) -> Vec<(u64, u64)> {
    o.arrivals(0).map(|a| (a.at_us, a.duration_us)).collect()
}

#[test]
fn access_log_combined_with_microseconds() {
    let load = parse_ok(COMBINED_D);
    assert_eq!(load.kind(), LoadKind::AccessLog);
    let Load::Open(o) = &load else { panic!() };
    // t = 0 is the earliest %t (line 4, logged late because it was slow);
    // the two requests of second 36 are spread over it; +0200 is converted.
    assert_eq!(
        trace_rows(o),
        vec![
            (0, 2_500_000),
            (1_000_000, 120_500),
            (1_500_000, 80_000),
            (2_000_000, 999),
        ]
    );
    assert_eq!(load.end_us(), 2_500_000);
    assert_eq!(
        load.describe(),
        "access log (%D µs, guessed), 4 requests arriving 0–2 s"
    );
}

#[test]
fn access_log_common_with_seconds() {
    let load = parse_ok(COMMON_T);
    let Load::Open(o) = &load else { panic!() };
    // %T truncates: each value stands for the middle of its second.
    assert_eq!(
        trace_rows(o),
        vec![
            (0, 500_000),
            (333_333, 1_500_000),
            (666_666, 500_000),
            (2_000_000, 3_500_000),
        ]
    );
    assert_eq!(
        load.describe(),
        "access log (%T s, guessed), 4 requests arriving 0–2 s"
    );
}

#[test]
fn access_log_unit_can_be_given() {
    let options = ParseOptions::default().log_duration_unit(LogDurationUnit::Microseconds);
    let Load::Open(o) = parse_load_with(COMMON_T, &options).unwrap() else {
        panic!()
    };
    assert_eq!(
        trace_rows(&o).iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![1, 1, 1, 3]
    );
    let options = ParseOptions::default().log_duration_unit("ms".parse().unwrap());
    let load = parse_load_with(COMMON_T, &options).unwrap();
    let Load::Open(o) = &load else { panic!() };
    assert_eq!(trace_rows(o)[3].1, 3_500);
    assert_eq!(
        load.describe(),
        "access log (%{ms}T ms), 4 requests arriving 0–2 s"
    );
    assert!("minutes".parse::<LogDurationUnit>().is_err());
    assert_eq!(LogDurationUnit::Seconds.to_string(), "s");
}

// ------------------------------------------------------------------ errors

/// Every kind of bad input, with the error a user sees.
#[test]
fn error_messages() {
    let cases: &[(&str, &str)] = &[
        ("empty file", ""),
        ("only comments", "# nothing yet\n\n   \n"),
        ("unrecognised first line", "hello world\n"),
        ("header without a kind", "t_s,think_ms\n0,1\n"),
        (
            "header mixing kinds",
            "t_s,concurrency,request_ms,rate_per_s\n",
        ),
        (
            "unknown column",
            "t_s,concurrency,request_ms,colour\n0,1,2,red\n",
        ),
        ("another kind's column", "arrival_ms,duration_ms,t_s\n"),
        (
            "a recording's requests.csv",
            "arrival_ms,duration_ms,status,latency_ms,conn_id,retries,error\n",
        ),
        ("duplicate column", "t_s,concurrency,request_ms,T_S\n"),
        (
            "trailing comma in header",
            "t_s,concurrency,request_ms,\n0,1,2,\n",
        ),
        ("missing column", "t_s,concurrency\n0,10\n"),
        ("header only", "# load\nt_s,concurrency,request_ms\n\n"),
        (
            "not a number (line 7)",
            "# step\nt_s,concurrency,request_ms\n0,10,200\n\n# later\n10,20,200\n20,20,fast\n",
        ),
        ("negative time", "arrival_ms,duration_ms\n-5,200\n"),
        ("NaN", "arrival_ms,duration_ms\nNaN,200\n"),
        ("infinity", "arrival_ms,duration_ms\n0,inf\n"),
        (
            "fractional concurrency",
            "t_s,concurrency,request_ms\n0,2.5,200\n",
        ),
        ("zero request_ms", "t_s,concurrency,request_ms\n0,10,0\n"),
        (
            "decreasing t_s",
            "t_s,concurrency,request_ms\n0,10,200\n20,5,200\n10,0,200\n",
        ),
        ("too many values", "arrival_ms,duration_ms\n1,2,3\n"),
        ("missing value", "t_s,concurrency,request_ms\n0,,200\n"),
        (
            "concurrency over the limit",
            "t_s,concurrency,request_ms\n0,2000000,200\n",
        ),
        (
            "time over the limit",
            "t_s,concurrency,request_ms\n1e12,1,200\n",
        ),
        (
            "duration over the limit",
            "arrival_ms,duration_ms\n0,100000000\n",
        ),
        (
            "requests_per_conn 0",
            "t_s,concurrency,request_ms,requests_per_conn\n0,1,200,0\n",
        ),
        (
            "requests_per_conn fractional",
            "arrival_ms,duration_ms,requests_per_conn\n0,1,1.5\n",
        ),
        (
            "negative think_ms",
            "arrival_ms,duration_ms,think_ms\n0,1,-3\n",
        ),
        (
            "negative sigma",
            "t_s,rate_per_s,median_ms,sigma\n0,10,200,-1\n10,0,200,0\n",
        ),
        (
            "sigma over the limit",
            "t_s,rate_per_s,median_ms,sigma\n0,10,200,9\n10,0,200,0\n",
        ),
        (
            "negative rate",
            "t_s,rate_per_s,median_ms,sigma\n0,-10,200,1\n10,0,200,0\n",
        ),
        (
            "rate over the limit",
            "t_s,rate_per_s,median_ms,sigma\n0,1e7,200,1\n10,0,200,0\n",
        ),
        (
            "zero median with a rate",
            "t_s,rate_per_s,median_ms,sigma\n0,10,0,0.5\n10,0,0,0\n",
        ),
        (
            "Poisson without an end row",
            "t_s,rate_per_s,median_ms,sigma\n0,10,200,0.5\n30,20,200,0.5\n",
        ),
        (
            "decreasing Poisson t_s",
            "t_s,rate_per_s,median_ms,sigma\n10,10,200,0.5\n5,0,200,0.5\n",
        ),
        (
            "hostile value is cut short",
            "arrival_ms,duration_ms\n0,\u{1b}[31m-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        ),
        (
            "access log: no duration (combined)",
            "1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl\"\n",
        ),
        (
            "access log: no duration (common)",
            "1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5\n",
        ),
        (
            "access log: bad time",
            "1.2.3.4 - - [10/Oct/2025 13:55:36] \"GET / HTTP/1.1\" 200 5 1234\n",
        ),
        (
            "access log: unclosed quote",
            "1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] \"GET / HTTP/1.1 200 5 1234\n",
        ),
        (
            "access log: duration not a number",
            "1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 1.5s\n",
        ),
        (
            "access log: bad third line",
            "1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 1234\n\
             # a comment\n\
             garbage here\n",
        ),
        (
            "access log: extra fields",
            "1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" 7 8\n",
        ),
        (
            "access log: duration over the limit",
            "1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 100000000000\n",
        ),
        (
            "access log: spans too long",
            "1.2.3.4 - - [10/Oct/2020:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 1234\n\
             1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 1234\n",
        ),
    ];
    let mut out = String::new();
    for (name, input) in cases {
        let rendered = match parse_load(input) {
            Ok(load) => format!("(no error: {})", load.describe()),
            Err(e) => format!("{e}\n  [line {:?}, column {:?}]", e.line, e.column),
        };
        writeln!(out, "## {name}\n{rendered}\n").unwrap();
    }
    insta::assert_snapshot!(out);
}

#[test]
fn row_limit() {
    let options = ParseOptions {
        limits: LoadLimits {
            max_rows: 2,
            ..LoadLimits::default()
        },
        ..ParseOptions::default()
    };
    let three = "arrival_ms,duration_ms\n1,1\n2,2\n3,3\n";
    let e = parse_load_with(three, &options).unwrap_err();
    assert_eq!(e.line, Some(4));
    assert!(e.message.contains("more than 2 rows"), "{e}");
    let log = COMMON_T;
    let e = parse_load_with(log, &options).unwrap_err();
    assert_eq!(e.line, Some(4));
    assert!(e.message.contains("more than 2 lines"), "{e}");
    assert!(parse_load_with("arrival_ms,duration_ms\n1,1\n2,2\n", &options).is_ok());
}

#[test]
fn hostile_lines_are_refused_without_storing_them() {
    let wide_header = format!("t_s,concurrency,request_ms{}\n", ",x".repeat(1_000_000));
    let e = parse_load(&wide_header).unwrap_err();
    assert!(e.message.starts_with("unknown column \"x\""), "{e}");
    let wide_row = format!(
        "t_s,concurrency,request_ms\n0,1,2{}\n",
        ",3".repeat(1_000_000)
    );
    let e = parse_load(&wide_row).unwrap_err();
    assert!(e.message.ends_with("found 1000003"), "{e}");
    let wide_log = format!(
        "1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] \"GET / HTTP/1.1\"{}\n",
        " 7".repeat(1_000)
    );
    let e = parse_load(&wide_log).unwrap_err();
    assert!(e.message.contains("more than 64 fields"), "{e}");
}

// ----------------------------------------------------------------- Poisson

#[test]
fn same_seed_same_arrivals_different_seed_different() {
    let o = open(POISSON_100);
    let a: Vec<Arrival> = o.arrivals(42).take(1000).collect();
    let b: Vec<Arrival> = o.arrivals(42).take(1000).collect();
    let c: Vec<Arrival> = o.arrivals(43).take(1000).collect();
    assert_eq!(a.len(), 1000);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().zip(&c).filter(|(x, y)| x.at_us == y.at_us).count() < 10);
    // A parsed copy replays the same arrivals too.
    assert_eq!(
        a,
        open(POISSON_100)
            .arrivals(42)
            .take(1000)
            .collect::<Vec<_>>()
    );
}

#[test]
fn poisson_arrivals_are_pinned() {
    // The exact arrivals of a seed are a contract: a recorded simulation
    // replays with its seed on any platform. A change here is a breaking one.
    let o = open(POISSON_100);
    let first: Vec<String> = o
        .arrivals(1)
        .take(5)
        .map(|a| format!("{} {}", a.at_us, a.duration_us))
        .collect();
    insta::assert_snapshot!(first.join("\n"));
}

#[test]
fn poisson_statistics() {
    const N: usize = 200_000;
    let o = open(POISSON_100);
    let mut durations = Vec::with_capacity(N);
    let mut last_at = 0;
    let mut prev = 0;
    let mut log_sum = 0.0;
    let mut log_sq = 0.0;
    for a in o.arrivals(2024).take(N) {
        assert!(a.at_us >= prev);
        prev = a.at_us;
        last_at = a.at_us;
        durations.push(a.duration_us);
        let l = (a.duration_us as f64).ln();
        log_sum += l;
        log_sq += l * l;
    }
    assert_eq!(durations.len(), N);
    let rate = N as f64 / (last_at as f64 / 1e6);
    assert!((rate - 100.0).abs() < 2.0, "rate {rate}");
    durations.sort_unstable();
    let median_ms = durations[N / 2] as f64 / 1000.0;
    assert!((median_ms - 200.0).abs() < 6.0, "median {median_ms}");
    let mean_log = log_sum / N as f64;
    let sigma = (log_sq / N as f64 - mean_log * mean_log).sqrt();
    assert!((sigma - 0.5).abs() < 0.01, "sigma {sigma}");
}

#[test]
fn arrivals_are_lazy() {
    // 24 h at 500/s: 43 million arrivals, none of them stored.
    let o = open("t_s,rate_per_s,median_ms,sigma\n0,500,200,0.5\n86400,0,200,0.5\n");
    let mut it = o.arrivals(9);
    // The iterator is a fixed-size state machine borrowing the load (with
    // a buffer of 64 arrivals' times and durations drawn ahead: 1 KiB).
    assert!(
        std::mem::size_of_val(&it) <= 1280,
        "{}",
        std::mem::size_of_val(&it)
    );
    let millionth = it.nth(999_999).unwrap();
    // ≈ 2000 s in: 1e6 arrivals at 500/s.
    assert!(
        (1_950_000_000..2_050_000_000).contains(&millionth.at_us),
        "{millionth:?}"
    );
    assert_eq!(it.size_hint(), (0, None));
}

// --------------------------------------------------------------- properties

const HEADERS: &[&str] = &[
    "t_s,concurrency,request_ms",
    "arrival_ms,duration_ms",
    "t_s,rate_per_s,median_ms,sigma",
    "t_s,rate_per_s,median_ms,sigma,requests_per_conn,think_ms",
    "think_ms,arrival_ms,duration_ms,requests_per_conn",
    "1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 1234",
];

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = parse_load(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_load(&String::from_utf8_lossy(&bytes));
    }

    /// Near-valid files reach the value checks; whatever parses gives
    /// well-formed arrivals.
    #[test]
    fn near_valid_files(
        header in proptest::sample::select(HEADERS),
        rows in proptest::collection::vec(
            "[0-9]{0,4}(\\.[0-9]{0,2})?(,[-0-9.e]{0,5}){0,6}|[0-9]{0,3} - - \\[[0-9]{2}/[A-Za-z]{3}/20[0-9]{2}:[0-9:]{8} [+-][0-9]{4}\\] \"[ -~]{0,8}\" [0-9]{1,3} [-0-9]{1,3}( \"[a-z]*\" \"[ -~]{0,5}\")? [0-9]{0,7}",
            0..8,
        ),
        seed in any::<u64>(),
    ) {
        let text = format!("{header}\n{}\n", rows.join("\n"));
        if let Ok(load) = parse_load(&text) {
            let _ = load.describe();
            if let Load::Open(o) = &load {
                let mut prev = 0;
                for a in o.arrivals(seed).take(2000) {
                    prop_assert!(a.at_us >= prev);
                    prop_assert!(a.duration_us >= 1);
                    prop_assert!(a.requests_per_conn >= 1);
                    prev = a.at_us;
                }
            }
            if let Load::Closed(s) = &load {
                prop_assert!(s.steps.windows(2).all(|w| w[0].t_us <= w[1].t_us));
                prop_assert!(s.steps.iter().all(|s| s.concurrency == 0 || s.request_us >= 1));
            }
        }
    }
}

#[test]
fn schedule_close_on_stop_is_0_or_1() {
    let s = closed(
        "t_s,concurrency,request_ms,requests_per_conn,close_on_stop\n0,5,200,10,1\n9,0,200,10,\n",
    );
    assert!(s.steps[0].close_on_stop);
    assert!(
        !s.steps[1].close_on_stop,
        "empty: the default, leave it open"
    );
    let e = parse_load("t_s,concurrency,request_ms,close_on_stop\n0,5,200,2\n")
        .expect_err("2 is not 0 or 1");
    assert!(
        e.to_string().contains("close_on_stop must be 0 or 1"),
        "{e}"
    );
    let e = parse_load("arrival_ms,duration_ms,close_on_stop\n0,5\n").expect_err("schedule only");
    assert!(
        e.to_string().contains("is not used by a request trace"),
        "{e}"
    );
}

#[test]
fn csv_rows_keep_file_line_numbers_through_blanks_comments_and_quotes() {
    let text = "t_s,concurrency,request_ms\n\n# comment\n   # indented comment\n   \n\"0\" , 2,\"200\"\n5,2,x\n";
    let e = parse_load(text).unwrap_err();
    assert_eq!(e.line, Some(7), "{e}");
    assert!(e.message.starts_with("request_ms must be"), "{e}");
    // A quoted comma stays in its value (and is then not a number).
    let e = parse_load("t_s,concurrency,request_ms\n0,2,\"2,5\"\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.ends_with("found \"2,5\""), "{e}");
}
