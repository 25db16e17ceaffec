//! Report tests. Bless changed snapshots with
//! `INSTA_UPDATE=always cargo test -p quill-sim` and review `git diff`.

use quill_config::diag::{Diagnostic, Severity};

use super::*;
use crate::chart::fixtures::{MRW_MESSAGE, day_with_spike, decay, step};

fn keep(name: &str, html: &str) {
    if let Some(dir) = option_env!("QUILL_CHART_DIR") {
        let _ = std::fs::write(format!("{dir}/{name}.html"), html);
    }
}

fn step_problems() -> Vec<Problem> {
    vec![
        Problem::from(
            &Diagnostic::warning(
                "sim/max-request-workers-reached",
                "MaxRequestWorkers 250 is below the 300 connections of the load",
            )
            .apache(MRW_MESSAGE)
            .help("raise MaxRequestWorkers to 300 (ServerLimit 16 allows up to 400)"),
        ),
        Problem::Rendered(
            "warning[mpm/example]: <IfModule> & friends\n  --> httpd.conf:3:1\n   |\n 3 | MaxRequestWorkers 250\n   | ^^^^^^^^^^^^^^^^^^^^^\n"
                .to_string(),
        ),
    ]
}

#[test]
fn summary_of_the_step_load() {
    let (rows, ..) = step();
    let s = summary(&rows);
    assert_eq!(s.seconds, 65);
    assert_eq!((s.peak_processes, s.peak_processes_at_s), (10, 22));
    assert_eq!(s.final_processes, 3);
    assert_eq!((s.spawned, s.killed, s.exited, s.churn), (10, 7, 7, 17));
    assert_eq!(s.churn_per_hour, None);
    assert_eq!((s.peak_busy, s.peak_busy_at_s), (250, 22));
    assert_eq!((s.longest_queue, s.longest_queue_at_s), (225, 20));
    assert_eq!((s.longest_wait_ms, s.longest_wait_at_s), (27_000, 50));
    insta::assert_snapshot!("step_summary_text", s.to_string());
    insta::assert_json_snapshot!("step_summary_json", s);
}

#[test]
fn summary_of_nothing_is_zero() {
    let s = summary(&[]);
    assert_eq!(s.seconds, 0);
    assert_eq!(s.churn, 0);
    insta::assert_snapshot!("empty_summary_text", s.to_string());
}

#[test]
fn long_runs_report_churn_per_hour() {
    let (rows, _) = day_with_spike();
    let s = summary(&rows);
    assert_eq!(s.churn, 1);
    assert_eq!(s.churn_per_hour, Some(0.0));
    let (mut rows, ..) = decay();
    // 7 hours of the same 20 s story: 17 forks and kills every 20 s.
    let pattern = rows.clone();
    rows = (0..7 * 180u64)
        .flat_map(|k| {
            pattern.iter().map(move |r| SecondRow {
                t_s: k * 20 + r.t_s,
                ..r.clone()
            })
        })
        .collect();
    let s = summary(&rows);
    assert_eq!(s.seconds, 25_200);
    assert_eq!(s.churn, 17 * 1260);
    assert_eq!(s.churn_per_hour, Some(3060.0));
    assert!(s.to_string().contains("21,420 (3,060.0 per hour)"));
}

#[test]
fn identical_log_lines_are_grouped() {
    let log = vec![
        LogLine::new(
            5_000,
            "error",
            "scoreboard is full, not at MaxRequestWorkers",
        ),
        LogLine::new(1_000, "notice", "configured -- resuming normal operations"),
        LogLine::new(
            3_000,
            "error",
            "scoreboard is full, not at MaxRequestWorkers",
        ),
        LogLine::new(
            4_000,
            "error",
            "scoreboard is full, not at MaxRequestWorkers",
        ),
    ];
    let groups = group_log(&log);
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].text, "configured -- resuming normal operations");
    assert_eq!(
        (groups[1].count, groups[1].first_ms, groups[1].last_ms),
        (3, 3_000, 5_000)
    );
}

#[test]
fn html_decay() {
    let (rows, settings, info) = decay();
    let html = render_html(&ReportInput {
        rows: &rows,
        chart: &info,
        settings: &settings,
        extra_config: &[],
        log: &[],
        problems: &[],
    });
    keep("decay", &html);
    insta::assert_snapshot!("decay_html", html);
}

#[test]
fn html_step() {
    let (rows, settings, info, log) = step();
    let extra = [
        ("KeepAlive".to_string(), "Off".to_string()),
        ("Load".to_string(), "slow.csv".to_string()),
    ];
    let problems = step_problems();
    let input = ReportInput {
        rows: &rows,
        chart: &info,
        settings: &settings,
        extra_config: &extra,
        log: &log,
        problems: &problems,
    };
    let html = render_html(&input);
    assert!(html.contains("<svg xmlns"));
    assert!(html.contains("&lt;IfModule&gt; &amp; friends"));
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    assert_eq!(html, render_html(&input), "same input, same bytes");
    keep("step", &html);
    insta::assert_snapshot!("step_html", html);
}

#[test]
fn html_empty() {
    let (_, settings, info) = decay();
    let html = render_html(&ReportInput {
        rows: &[],
        chart: &info,
        settings: &settings,
        extra_config: &[],
        log: &[],
        problems: &[],
    });
    assert!(html.contains("Nothing to draw"));
    keep("empty", &html);
    insta::assert_snapshot!("empty_html", html);
}

#[test]
fn problem_from_diagnostic_keeps_the_fix() {
    let d = Diagnostic::error("x/y", "bad").help("do this");
    match Problem::from(&d) {
        Problem::Item {
            severity,
            code,
            help,
            ..
        } => {
            assert_eq!(severity, Severity::Error);
            assert_eq!(code, "x/y");
            assert_eq!(help.as_deref(), Some("do this"));
        }
        Problem::Rendered(_) => panic!("expected an item"),
    }
}
