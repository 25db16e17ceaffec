//! The five panels, top to bottom. Each tells one part of the story:
//! the load, what the parent did about it, the result, the reason (idle
//! workers against the spare band), and who had to wait.

use super::columns::Column;
use super::draw::{
    Ctx, Plot, Swatch, bar_values, bars, gauge, panel_end, panel_frame, reference_line, step_band,
    step_line,
};
use super::scale::ValueAxis;
use super::svg::{Anchor, Font, Svg};
use super::text::{clock_s, decimal1, thousands};
use super::{BLUE, GREEN, INK, LEFT, MUTED, ORANGE, PLOT_W, PURPLE, VERMILLION};

/// Name, run total, colour, and (stack base, value) of a column.
type ErrorKind = (&'static str, u64, &'static str, fn(&Column) -> (u64, u64));

const IN_FLIGHT_FILL: &str = "#cfe6f5";
const RUNNING_FILL: &str = "#a9d3ee";
const IDLE_FILL: &str = "#bfe6d8";
const QUEUE_FILL: &str = "#f7d9a8";
const BAND_FILL: &str = "#ececec";

/// Requests in flight and arrivals per second, against the capacity.
pub(super) fn requests(s: &mut Svg, ctx: &Ctx<'_>, top: f64, height: f64) {
    let info = ctx.info;
    let cols = &ctx.cols.cols;
    let data_max = cols
        .iter()
        .map(|c| c.in_flight.max.max(c.arrivals).max(c.busy))
        .max()
        .unwrap_or(0);
    // Threads held beyond the requests in flight: keep-alive waits (prefork,
    // worker) — worth a line only when it differs from the requests.
    let show_busy = cols.iter().any(|c| c.busy > c.in_flight.max);
    let capacity = u64::from(info.max_threads);
    // The capacity line helps only when the load comes near it; otherwise
    // it would flatten the load into the bottom of the panel.
    let show_capacity = capacity > 0 && capacity <= data_max.saturating_mul(2);
    let plot = Plot {
        top,
        height,
        axis: ValueAxis::up_to(if show_capacity {
            data_max.max(capacity)
        } else {
            data_max
        }),
    };
    let capacity_label = if info.max_threads < info.max_request_workers {
        format!("{} (ServerLimit)", info.max_threads)
    } else {
        format!("MaxRequestWorkers {}", info.max_request_workers)
    };
    let mut legend = vec![
        (Swatch::Area(IN_FLIGHT_FILL, BLUE), "in flight".to_string()),
        (Swatch::Line(ORANGE), "arrivals per second".to_string()),
    ];
    if show_busy {
        legend.push((
            Swatch::Line(GREEN),
            "busy threads (keep-alive included)".to_string(),
        ));
    }
    if show_capacity {
        legend.push((Swatch::Dashed(INK), "capacity".to_string()));
    } else if capacity > 0 {
        legend.push((
            Swatch::Dashed(INK),
            format!("capacity ({capacity_label}) is above the scale"),
        ));
    }
    let sum = ctx.sum;
    let note = if sum.peak_in_flight == 0 && sum.peak_arrivals == 0 {
        "no requests".to_string()
    } else {
        format!(
            "peak {} in flight at {} · arrivals up to {}/s",
            thousands(u64::from(sum.peak_in_flight)),
            clock_s(sum.peak_in_flight_at_s),
            thousands(sum.peak_arrivals)
        )
    };
    let end = panel_frame(
        s,
        ctx,
        &plot,
        (
            "Requests",
            "Requests: in flight (queued, being served or waiting for a daemon) and arrivals per second",
        ),
        &legend,
        &note,
    );
    gauge(s, ctx, &plot, |c| c.in_flight, IN_FLIGHT_FILL, BLUE);
    if show_busy {
        s.path(
            &step_line(ctx, &plot, |c| c.busy as f64),
            &format!("fill=\"none\" stroke=\"{GREEN}\" stroke-width=\"1.5\""),
        );
    }
    s.path(
        &step_line(ctx, &plot, |c| c.arrivals as f64),
        &format!("fill=\"none\" stroke=\"{ORANGE}\" stroke-width=\"2\""),
    );
    if show_capacity {
        reference_line(s, &plot, info.max_threads, INK, &capacity_label, 0.0);
    }
    panel_end(s, &plot, end);
}

/// Children forked (up), told to stop (down), exited (narrow, down).
pub(super) fn changes(s: &mut Svg, ctx: &Ctx<'_>, top: f64, height: f64) {
    let cols = &ctx.cols.cols;
    let up = cols.iter().map(|c| c.spawned).max().unwrap_or(0);
    let down = cols
        .iter()
        .map(|c| c.killed.max(c.exited))
        .max()
        .unwrap_or(0);
    // Headroom for the numbers written on the bars.
    let plot = Plot {
        top,
        height,
        axis: ValueAxis::up_down(up + up.div_ceil(4), down + down.div_ceil(4)),
    };
    let per = ctx.per_column();
    let legend = [
        (Swatch::Bar(BLUE), format!("spawned ▲ {per}")),
        (
            Swatch::Bar(VERMILLION),
            "killed by maintenance ▼".to_string(),
        ),
        (Swatch::NarrowBar(INK), "exited ▼".to_string()),
    ];
    let sum = ctx.sum;
    let mut note = format!(
        "{} spawned · {} killed · {} exited",
        thousands(sum.spawned),
        thousands(sum.killed),
        thousands(sum.exited)
    );
    if let Some(per_hour) = sum.churn_per_hour {
        note.push_str(&format!(" · churn {}/h", decimal1(per_hour)));
    }
    if ctx.info.observed {
        note = "not sampled: the processes below show their net effect".to_string();
    }
    let end = panel_frame(
        s,
        ctx,
        &plot,
        (
            "Spawns and kills",
            "Child processes forked (up), told to stop by maintenance (down), and exited (narrow bars)",
        ),
        &legend,
        &note,
    );
    s.path(
        &bars(ctx, &plot, 0.15, |c| (0.0, c.spawned as f64)),
        &format!("fill=\"{BLUE}\""),
    );
    let kills = bars(ctx, &plot, 0.15, |c| (0.0, -(c.killed as f64)));
    let exits = bars(ctx, &plot, 0.38, |c| (0.0, -(c.exited as f64)));
    let (kill_style, exit_style) = (format!("fill=\"{VERMILLION}\""), format!("fill=\"{INK}\""));
    if ctx.column_width() >= 4.0 {
        // Exits as narrow bars inside the kill bars.
        s.path(&kills, &kill_style);
        s.path(&exits, &exit_style);
    } else {
        // Too narrow to nest: exits show only where they exceed kills.
        s.path(&exits, &exit_style);
        s.path(&kills, &kill_style);
    }
    bar_values(s, ctx, &plot, |c| c.spawned as f64);
    bar_values(s, ctx, &plot, |c| -(c.killed.max(c.exited) as f64));
    panel_end(s, &plot, end);
}

/// Children alive, running or stopping, against the most Apache may run.
pub(super) fn processes(s: &mut Svg, ctx: &Ctx<'_>, top: f64, height: f64) {
    let info = ctx.info;
    let cols = &ctx.cols.cols;
    let data_max = cols.iter().map(|c| c.processes.max).max().unwrap_or(0);
    let limit = info.max_children;
    let plot = Plot {
        top,
        height,
        axis: ValueAxis::up_to(data_max.max(u64::from(limit) + 1)),
    };
    let mut legend = vec![
        (Swatch::Area(RUNNING_FILL, BLUE), "running".to_string()),
        (Swatch::Hatch, "stopping gracefully".to_string()),
        (Swatch::Dashed(INK), "max children".to_string()),
    ];
    if ctx.cols.is_downsampled() {
        legend.push((Swatch::Line(INK), "fewest in the column".to_string()));
    }
    let sum = ctx.sum;
    let note = format!(
        "peak {} at {} · final {}",
        sum.peak_processes,
        clock_s(sum.peak_processes_at_s),
        sum.final_processes
    );
    let end = panel_frame(
        s,
        ctx,
        &plot,
        (
            "Child processes",
            "Child processes alive: running, and stopping gracefully; the dashed line is the most children Apache may run",
        ),
        &legend,
        &note,
    );
    s.path(
        &step_band(ctx, &plot, |_| 0.0, |c| c.running as f64),
        &format!("fill=\"{RUNNING_FILL}\""),
    );
    s.path(
        &step_band(
            ctx,
            &plot,
            |c| c.running as f64,
            |c| c.processes.max.max(c.running) as f64,
        ),
        "fill=\"url(#quill-hatch)\"",
    );
    s.path(
        &step_line(ctx, &plot, |c| c.processes.max as f64),
        &format!("fill=\"none\" stroke=\"{BLUE}\" stroke-width=\"2\""),
    );
    if ctx.cols.is_downsampled() {
        s.path(
            &step_line(ctx, &plot, |c| c.processes.min as f64),
            &format!("fill=\"none\" stroke=\"{INK}\" stroke-width=\"1\""),
        );
    }
    reference_line(s, &plot, limit, INK, &format!("max {limit} children"), 0.0);
    panel_end(s, &plot, end);
}

/// Idle workers against MinSpare/MaxSpare: the reason for every spawn and
/// kill.
pub(super) fn idle(s: &mut Svg, ctx: &Ctx<'_>, top: f64, height: f64) {
    let info = ctx.info;
    let cols = &ctx.cols.cols;
    let data_max = cols.iter().map(|c| c.idle.max).max().unwrap_or(0);
    let max_spare = u64::from(info.max_spare);
    let plot = Plot {
        top,
        height,
        axis: ValueAxis::up_to(data_max.max(max_spare + (max_spare / 5).max(1))),
    };
    let unit = info.spare_unit();
    let (min_name, max_name) = (info.min_spare_name(), info.max_spare_name());
    let legend = [
        (Swatch::Area(IDLE_FILL, GREEN), format!("idle {unit}")),
        (
            Swatch::Dashed(VERMILLION),
            format!("above {max_name}: kill a child"),
        ),
        (
            Swatch::Dashed(BLUE),
            format!("below {min_name}: spawn 1, 2, 4 …"),
        ),
    ];
    let lowest = cols.iter().map(|c| c.idle.min).min().unwrap_or(0);
    let note = format!(
        "lowest {} · highest {}",
        thousands(lowest),
        thousands(data_max)
    );
    let description = format!(
        "Idle {unit}: below {min_name} {} Apache spawns children, above {max_name} {} it \
         kills one; in between it does nothing",
        info.min_spare, info.max_spare
    );
    let heading = format!("Idle {unit}");
    let end = panel_frame(s, ctx, &plot, (&heading, &description), &legend, &note);
    // The band where maintenance leaves the pool alone.
    let (y_min, y_max) = (
        plot.y(f64::from(info.min_spare)),
        plot.y(f64::from(info.max_spare)),
    );
    s.rect(
        LEFT,
        y_max,
        PLOT_W,
        y_min - y_max,
        &format!("fill=\"{BAND_FILL}\""),
    );
    gauge(s, ctx, &plot, |c| c.idle, "#bfe6d8b0", GREEN);
    // Keep the two margin labels from overlapping when the band is thin.
    let nudge = ((13.0 - (y_min - y_max)) / 2.0).max(0.0);
    reference_line(
        s,
        &plot,
        info.max_spare,
        VERMILLION,
        &format!("{max_name} {}", info.max_spare),
        -nudge,
    );
    reference_line(
        s,
        &plot,
        info.min_spare,
        BLUE,
        &format!("{min_name} {}", info.min_spare),
        nudge,
    );
    panel_end(s, &plot, end);
}

/// The accept queue, the daemon queue and errors.
pub(super) fn queue(s: &mut Svg, ctx: &Ctx<'_>, top: f64, height: f64) {
    let cols = &ctx.cols.cols;
    let errors = |c: &Column| c.refused + c.connect_timeouts + c.status_503 + c.status_504;
    let data_max = cols
        .iter()
        .map(|c| c.max_queued.max(c.daemon_queued).max(errors(c)))
        .max()
        .unwrap_or(0);
    let plot = Plot {
        top,
        height,
        axis: ValueAxis::up_to(data_max),
    };
    let sum = ctx.sum;
    let per = ctx.per_column();
    let has_daemon = cols.iter().any(|c| c.daemon_queued > 0);
    let mut legend = vec![
        (
            Swatch::Area(QUEUE_FILL, ORANGE),
            "waiting at the end of the second".to_string(),
        ),
        (
            Swatch::Line(VERMILLION),
            "most waiting during the second".to_string(),
        ),
    ];
    if has_daemon {
        legend.push((Swatch::Line(PURPLE), "waiting for a daemon".to_string()));
    }
    let error_kinds: [ErrorKind; 4] = [
        ("refused", sum.refused, MUTED, |c| (0, c.refused)),
        ("connect timeout", sum.connect_timeouts, VERMILLION, |c| {
            (c.refused, c.connect_timeouts)
        }),
        ("503", sum.status_503, INK, |c| {
            (c.refused + c.connect_timeouts, c.status_503)
        }),
        ("504", sum.status_504, PURPLE, |c| {
            (c.refused + c.connect_timeouts + c.status_503, c.status_504)
        }),
    ];
    for (name, total, color, _) in error_kinds {
        if total > 0 {
            legend.push((Swatch::Bar(color), format!("{name} {per}")));
        }
    }
    let note = if ctx.info.observed {
        "not sampled".to_string()
    } else if data_max == 0 {
        "empty throughout".to_string()
    } else {
        format!(
            "longest {} at {} · longest wait {} ms",
            thousands(u64::from(sum.longest_queue)),
            clock_s(sum.longest_queue_at_s),
            thousands(sum.longest_wait_ms)
        )
    };
    let end = panel_frame(
        s,
        ctx,
        &plot,
        (
            "Accept queue",
            "Connections waiting in the accept queue for a free worker, and errors",
        ),
        &legend,
        &note,
    );
    if data_max == 0 {
        s.text(
            LEFT + PLOT_W / 2.0,
            plot.top + plot.height / 2.0 + 4.0,
            Anchor::Middle,
            Font::plain(13.0, MUTED),
            if ctx.info.observed {
                "Not sampled: the status and metrics pages do not show the accept queue."
            } else {
                "No connection had to wait: there was always a free worker."
            },
        );
    } else {
        s.path(
            &step_band(ctx, &plot, |_| 0.0, |c| c.queued as f64),
            &format!("fill=\"{QUEUE_FILL}\""),
        );
        s.path(
            &step_line(ctx, &plot, |c| c.max_queued as f64),
            &format!("fill=\"none\" stroke=\"{VERMILLION}\" stroke-width=\"2\""),
        );
        if has_daemon {
            s.path(
                &step_line(ctx, &plot, |c| c.daemon_queued as f64),
                &format!("fill=\"none\" stroke=\"{PURPLE}\" stroke-width=\"2\""),
            );
        }
        for (_, total, color, part) in error_kinds {
            if total > 0 {
                s.path(
                    &bars(ctx, &plot, 0.15, |c| {
                        let (base, v) = part(c);
                        (base as f64, v as f64)
                    }),
                    &format!("fill=\"{color}\""),
                );
            }
        }
    }
    panel_end(s, &plot, end);
}
