//! Chart tests. Bless changed snapshots with
//! `INSTA_UPDATE=always cargo test -p quill-sim` and review `git diff`.
//!
//! To look at the charts, build the tests with a directory to write them
//! to and convert them to PNG:
//! `QUILL_CHART_DIR=/tmp/charts cargo test -p quill-sim chart::` then
//! `rsvg-convert /tmp/charts/step.svg > /tmp/step.png` (the report tests
//! write `*.html` there too).

use super::fixtures::{SPIKE_AT, day_with_spike, decay, diurnal, step, worker_settings};
use super::*;

/// Cheap well-formedness checks (no XML parser in the dependency tree).
fn assert_well_formed(svg: &str) {
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.ends_with("</svg>\n"));
    assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert_eq!(svg.matches("<svg").count(), 1);
    for (i, _) in svg.match_indices('&') {
        let rest = &svg[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                .iter()
                .any(|e| rest.starts_with(e)),
            "unescaped & at {i}: {}",
            &rest[..rest.len().min(30)]
        );
    }
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
}

/// Write the SVG where a human can render it (`rsvg-convert`), when asked.
fn keep(name: &str, svg: &str) {
    if let Some(dir) = option_env!("QUILL_CHART_DIR") {
        let _ = std::fs::write(format!("{dir}/{name}.svg"), svg);
    }
}

#[test]
fn title_has_the_key_numbers() {
    let (_, _, info) = decay();
    assert_eq!(
        info.title(),
        "worker · StartServers 10 · Spare threads 25–75 · ThreadsPerChild 25 · \
         MaxRequestWorkers 400 (16 children)"
    );
    let mut prefork = ChartInfo::new(&worker_settings(5, 150, 5, 10), "", None);
    prefork.mpm = MpmKind::Prefork;
    assert_eq!(
        prefork.title(),
        "prefork · StartServers 5 · Spare servers 5–10 · MaxRequestWorkers 150"
    );
}

#[test]
fn marker_labels_are_short() {
    let m = Marker::from_log(1, super::fixtures::MRW_MESSAGE);
    assert_eq!(m.label, "AH00286: server reached MaxRequestWorkers setting");
    assert_eq!(
        Marker::from_log(1, &"x".repeat(200)).label.chars().count(),
        80
    );
}

#[test]
fn decay_one_kill_per_second() {
    let (rows, _, info) = decay();
    let svg = render_svg(&rows, &info);
    assert_well_formed(&svg);
    assert!(svg.contains(">MaxSpareThreads 75</text>"));
    assert!(svg.contains(">above MaxSpareThreads: kill a child</text>"));
    assert!(svg.contains("10 spawned · 7 killed · 7 exited"));
    keep("decay", &svg);
    insta::assert_snapshot!("decay_svg", svg);
}

#[test]
fn step_load_reaches_max_request_workers() {
    let (rows, _, info, _) = step();
    let svg = render_svg(&rows, &info);
    assert_well_formed(&svg);
    assert!(svg.contains("AH00286: server reached MaxRequestWorkers setting"));
    assert!(svg.contains("peak 10 at 22 s · final 3"));
    keep("step", &svg);
    insta::assert_snapshot!("step_svg", svg);
}

#[test]
fn empty_timeline_says_so() {
    let (_, _, info) = decay();
    let svg = render_svg(&[], &info);
    assert_well_formed(&svg);
    assert!(svg.contains("Nothing to draw"));
    keep("empty", &svg);
    insta::assert_snapshot!("empty_svg", svg);
}

#[test]
fn same_input_same_bytes() {
    let (rows, _, info, _) = step();
    assert_eq!(render_svg(&rows, &info), render_svg(&rows, &info.clone()));
    let (rows, info) = day_with_spike();
    assert_eq!(render_svg(&rows, &info), render_svg(&rows, &info));
}

#[test]
fn text_is_escaped() {
    let (rows, _, mut info) = decay();
    info.load = "<script>alert('x')</script> & more".to_string();
    info.markers.push(Marker::new(3_000, "a \"quoted\" <b>"));
    let svg = render_svg(&rows, &info);
    assert_well_formed(&svg);
    assert!(!svg.contains("<script>") && !svg.contains("<b>"));
    assert!(svg.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
}

#[test]
fn a_day_stays_small_and_keeps_a_one_second_spike() {
    let (rows, info) = day_with_spike();
    let svg = render_svg(&rows, &info);
    assert_well_formed(&svg);
    keep("day", &svg);
    assert!(svg.len() < 400_000, "{} bytes", svg.len());
    assert!(svg.contains("Downsampled: each column is 2 min (86,400 seconds → 720 columns)"));
    assert!(svg.contains("peak 500 in flight at 13:53:21"));
    assert!(svg.contains("peak 4 at 13:53:21 · final 3"));
    assert!(svg.contains("longest 425 at 13:53:21"));
    // The spike's column is drawn at the spike's height: the requests axis
    // is scaled to it and a path reaches its top.
    let cols = Columns::new(&rows, PLOT_W as usize);
    let i = (SPIKE_AT / cols.bucket_s) as usize;
    assert_eq!(cols.cols[i].in_flight.max, 500);
    // Requests axis 0–600 over 150 px from y = 100: 500 is at y = 125.
    assert!(svg.contains(">600</text>"));
    assert!(svg.contains("V125H"), "the in-flight band reaches 500");
}

#[test]
fn many_markers_stay_bounded() {
    let (rows, info) = day_with_spike();
    let mut info = info;
    // httpd logs "scoreboard is full" every second when it applies.
    info.markers = (0..86_400)
        .map(|t| Marker::new(t * 1000 + 5, "scoreboard is full, not at MaxRequestWorkers"))
        .chain((0..20).map(|i| Marker::new(i * 1000, format!("kind {i}"))))
        .collect();
    let svg = render_svg(&rows, &info);
    assert_well_formed(&svg);
    assert!(svg.len() < 400_000, "{} bytes", svg.len());
    assert!(svg.contains("(×86,400, last 23:59:59.005; ticks along the top)"));
    assert!(svg.contains("… and 9 more kinds of message"));
    keep("markers", &svg);
}

#[test]
fn a_busy_day_stays_small() {
    let (rows, info) = diurnal();
    let svg = render_svg(&rows, &info);
    assert_well_formed(&svg);
    keep("diurnal", &svg);
    assert!(svg.len() < 400_000, "{} bytes", svg.len());
}

#[test]
fn prefork_counts_idle_servers() {
    let (rows, mut settings, _) = decay();
    settings.mpm = MpmKind::Prefork;
    settings.spare_unit = "servers";
    settings.threads_per_child = 1;
    settings.min_spare = 5;
    settings.max_spare = 10;
    settings.max_request_workers = 150;
    settings.max_children = 150;
    settings.max_threads = 150;
    let rows: Vec<_> = rows
        .into_iter()
        .map(|r| SecondRow {
            idle: r.processes,
            ..r
        })
        .collect();
    let info = ChartInfo::new(&settings, "none", None);
    let svg = render_svg(&rows, &info);
    assert_well_formed(&svg);
    assert!(svg.contains(">Idle servers</text>"));
    assert!(svg.contains(">MaxSpareServers 10</text>"));
    assert!(svg.contains(">max 150 children</text>"));
    assert!(!svg.contains("ThreadsPerChild"));
}

/// Rows sampled from a running server (`quill report`) are drawn as
/// observed: the subtitle, the description and the time axis say so.
#[test]
fn an_observed_timeline_says_observed() {
    let (rows, _, mut info) = decay();
    let simulated = render_svg(&rows, &info);
    info.observed = true;
    let observed = render_svg(&rows, &info);
    assert_well_formed(&observed);
    assert!(simulated.contains("time since Apache started"));
    assert!(!observed.contains("simulated"), "no run word left over");
    assert!(observed.contains(" observed"));
    assert!(observed.contains("time since the sampling window started"));
    // What the pages do not show is said to be unknown, not zero.
    assert!(simulated.contains("No connection had to wait"));
    assert!(!observed.contains("No connection had to wait"));
    assert!(observed.contains("Not sampled: the status and metrics pages"));
    assert!(!observed.contains("0 spawned"), "spawns are not sampled");
}
