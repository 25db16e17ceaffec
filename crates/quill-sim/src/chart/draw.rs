//! Drawing primitives shared by the panels: scales, frames with headings
//! and legends, reference lines, step lines, bands and bars.

use super::columns::{Column, Columns, Range};
use super::scale::{TimeTick, ValueAxis};
use super::svg::{Anchor, Font, PathData, Svg};
use super::text::{duration_s, thousands};
use super::{
    GRID, HEADING_FONT, LEFT, LEGEND_FONT, MARGIN_FONT, NOTE_FONT, PLOT_W, RIGHT, TICK_FONT,
    VALUE_FONT, VERMILLION,
};
use crate::chart::ChartInfo;
use crate::report::Summary;

/// Time → x.
#[derive(Debug, Clone, Copy)]
pub(super) struct XScale {
    pub t0: u64,
    pub t_end: u64,
}

impl XScale {
    pub(super) fn at(&self, t_s: f64) -> f64 {
        let span = (self.t_end - self.t0).max(1) as f64;
        LEFT + (t_s - self.t0 as f64) / span * PLOT_W
    }
}

#[derive(Debug)]
pub(super) struct TimeGrid {
    pub x: XScale,
    pub ticks: Vec<TimeTick>,
}

/// Everything a panel needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ctx<'a> {
    pub cols: &'a Columns,
    pub info: &'a ChartInfo,
    pub sum: &'a Summary,
    pub grid: &'a TimeGrid,
}

impl Ctx<'_> {
    pub(super) fn col_x(&self, i: usize) -> f64 {
        let t = self.cols.t0 + i as u64 * self.cols.bucket_s;
        self.grid.x.at(t as f64)
    }

    /// Width of one column in pixels.
    pub(super) fn column_width(&self) -> f64 {
        PLOT_W / self.cols.cols.len().max(1) as f64
    }

    /// `per second`, or `per 2 min` when columns are wider.
    pub(super) fn per_column(&self) -> String {
        if self.cols.is_downsampled() {
            format!("per {}", duration_s(self.cols.bucket_s))
        } else {
            "per second".to_string()
        }
    }
}

/// One panel's plot area and value axis.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plot {
    pub top: f64,
    pub height: f64,
    pub axis: ValueAxis,
}

impl Plot {
    pub(super) fn y(&self, v: f64) -> f64 {
        let range = (self.axis.max - self.axis.min).max(1) as f64;
        self.top + self.height * (self.axis.max as f64 - v) / range
    }

    pub(super) fn bottom(&self) -> f64 {
        self.top + self.height
    }
}

/// A legend entry's swatch.
#[derive(Debug, Clone, Copy)]
pub(super) enum Swatch {
    Line(&'static str),
    Dashed(&'static str),
    Area(&'static str, &'static str),
    Bar(&'static str),
    NarrowBar(&'static str),
    Hatch,
}

/// Open a panel (an SVG group titled `description`): frame, grid, axis
/// labels, heading with legend, and the right-aligned note.
pub(super) fn panel_frame(
    s: &mut Svg,
    ctx: &Ctx<'_>,
    plot: &Plot,
    (heading, description): (&str, &str),
    legend: &[(Swatch, String)],
    note: &str,
) -> PanelEnd {
    let right = LEFT + PLOT_W;
    s.open_group(description, "");
    s.rect(
        LEFT,
        plot.top,
        PLOT_W,
        plot.height,
        "fill=\"#fcfcfc\" stroke=\"#c8c8c8\"",
    );
    for tick in &ctx.grid.ticks {
        let x = ctx.grid.x.at(tick.t_s as f64);
        s.line(
            x,
            plot.top,
            x,
            plot.bottom() + 4.0,
            &format!("stroke=\"{GRID}\""),
        );
    }
    for v in plot.axis.ticks() {
        let y = plot.y(v as f64);
        let style = if v == 0 {
            "stroke=\"#888\"".to_string()
        } else {
            format!("stroke=\"{GRID}\"")
        };
        s.line(LEFT - 4.0, y, right, y, &style);
        s.text(
            LEFT - 7.0,
            y + 4.0,
            Anchor::End,
            TICK_FONT,
            &thousands(v.unsigned_abs()),
        );
    }

    let base = plot.top - 10.0;
    s.text(LEFT, base, Anchor::Start, HEADING_FONT, heading);
    let mut x = LEFT + HEADING_FONT.width(heading) + 12.0;
    for (swatch, label) in legend {
        let (sy, sw, sh) = (base - 9.0, 16.0, 10.0);
        match swatch {
            Swatch::Line(c) => s.line(
                x,
                sy + sh / 2.0,
                x + sw,
                sy + sh / 2.0,
                &format!("stroke=\"{c}\" stroke-width=\"2.5\""),
            ),
            Swatch::Dashed(c) => s.line(
                x,
                sy + sh / 2.0,
                x + sw,
                sy + sh / 2.0,
                &format!("stroke=\"{c}\" stroke-width=\"2\" stroke-dasharray=\"5 3\""),
            ),
            Swatch::Area(fill, stroke) => s.rect(
                x,
                sy,
                sw,
                sh,
                &format!("fill=\"{fill}\" stroke=\"{stroke}\""),
            ),
            Swatch::Bar(c) => s.rect(x, sy, sw, sh, &format!("fill=\"{c}\"")),
            Swatch::NarrowBar(c) => s.rect(x + 5.0, sy, 6.0, sh, &format!("fill=\"{c}\"")),
            Swatch::Hatch => s.rect(
                x,
                sy,
                sw,
                sh,
                &format!("fill=\"url(#quill-hatch)\" stroke=\"{VERMILLION}\""),
            ),
        }
        x += sw + 5.0;
        s.text(x, base, Anchor::Start, LEGEND_FONT, label);
        x += LEGEND_FONT.width(label) + 16.0;
    }
    if x - 16.0 + 12.0 > right - NOTE_FONT.width(note) {
        // No room beside the legend: [`panel_end`] writes it over the data.
        PanelEnd {
            corner_note: Some(note.to_string()),
        }
    } else {
        s.text(right, base, Anchor::End, NOTE_FONT, note);
        PanelEnd { corner_note: None }
    }
}

/// What is left to draw after a panel's data.
#[derive(Debug)]
#[must_use = "finish the panel with panel_end"]
pub(super) struct PanelEnd {
    corner_note: Option<String>,
}

/// Close a panel opened with [`panel_frame`].
pub(super) fn panel_end(s: &mut Svg, plot: &Plot, end: PanelEnd) {
    if let Some(note) = end.corner_note {
        s.text(
            LEFT + PLOT_W - 6.0,
            plot.top + 15.0,
            Anchor::End,
            NOTE_FONT.halo(),
            &note,
        );
    }
    s.close_group();
}

/// A horizontal dashed reference line, labelled in the right margin
/// (`nudge` moves the label down, in pixels, to keep two labels apart).
pub(super) fn reference_line(
    s: &mut Svg,
    plot: &Plot,
    value: u32,
    color: &'static str,
    label: &str,
    nudge: f64,
) {
    let y = plot.y(f64::from(value));
    s.line(
        LEFT,
        y,
        LEFT + PLOT_W + 4.0,
        y,
        &format!("stroke=\"{color}\" stroke-width=\"1.5\" stroke-dasharray=\"7 4\""),
    );
    let font = Font {
        fill: color,
        ..MARGIN_FONT
    };
    let lines = font.wrap(label, RIGHT - 12.0);
    let first = y + 4.0 + nudge - (lines.len() as f64 - 1.0) * 6.5;
    for (i, line) in lines.iter().enumerate() {
        s.text(
            LEFT + PLOT_W + 7.0,
            first + i as f64 * 13.0,
            Anchor::Start,
            font,
            line,
        );
    }
}

/// A step line through `value` of each column.
pub(super) fn step_line(ctx: &Ctx<'_>, plot: &Plot, value: impl Fn(&Column) -> f64) -> String {
    let mut p = PathData::default();
    let cols = &ctx.cols.cols;
    let mut prev = value(&cols[0]);
    p.move_to(ctx.col_x(0), plot.y(prev));
    for (i, c) in cols.iter().enumerate().skip(1) {
        let v = value(c);
        if v != prev {
            p.h(ctx.col_x(i));
            p.v(plot.y(v));
            prev = v;
        }
    }
    p.h(ctx.col_x(cols.len()));
    p.into_string()
}

/// The area between `lo` and `hi` of each column, as steps.
pub(super) fn step_band(
    ctx: &Ctx<'_>,
    plot: &Plot,
    lo: impl Fn(&Column) -> f64,
    hi: impl Fn(&Column) -> f64,
) -> String {
    let cols = &ctx.cols.cols;
    let n = cols.len();
    let mut p = PathData::default();
    let mut prev = hi(&cols[0]);
    p.move_to(ctx.col_x(0), plot.y(prev));
    for (i, c) in cols.iter().enumerate().skip(1) {
        let v = hi(c);
        if v != prev {
            p.h(ctx.col_x(i));
            p.v(plot.y(v));
            prev = v;
        }
    }
    p.h(ctx.col_x(n));
    let mut prev = lo(&cols[n - 1]);
    p.v(plot.y(prev));
    for i in (0..n - 1).rev() {
        let v = lo(&cols[i]);
        if v != prev {
            p.h(ctx.col_x(i + 1));
            p.v(plot.y(v));
            prev = v;
        }
    }
    p.h(ctx.col_x(0));
    p.close();
    p.into_string()
}

/// Bars from `base` to `base + value` (negative values go down), one per
/// non-zero column, narrowed by `inset` (a fraction of the column) on each
/// side when columns are wide enough to show the gap.
pub(super) fn bars(
    ctx: &Ctx<'_>,
    plot: &Plot,
    inset: f64,
    value: impl Fn(&Column) -> (f64, f64),
) -> String {
    let width = ctx.column_width();
    let inset = if width >= 4.0 { width * inset } else { 0.0 };
    let mut p = PathData::default();
    for (i, c) in ctx.cols.cols.iter().enumerate() {
        let (base, v) = value(c);
        if v != 0.0 {
            p.rect(
                ctx.col_x(i) + inset,
                plot.y(base),
                ctx.col_x(i + 1) - inset,
                plot.y(base + v),
            );
        }
    }
    p.into_string()
}

/// Numbers on bars (above upward ones, below downward ones) when the
/// columns are wide enough to hold them.
pub(super) fn bar_values(s: &mut Svg, ctx: &Ctx<'_>, plot: &Plot, value: impl Fn(&Column) -> f64) {
    if ctx.column_width() < 12.0 {
        return;
    }
    for (i, c) in ctx.cols.cols.iter().enumerate() {
        let v = value(c);
        if v == 0.0 {
            continue;
        }
        let x = (ctx.col_x(i) + ctx.col_x(i + 1)) / 2.0;
        let y = if v > 0.0 {
            plot.y(v) - 3.0
        } else {
            plot.y(v) + 11.0
        };
        s.text(x, y, Anchor::Middle, VALUE_FONT, &thousands(v.abs() as u64));
    }
}

/// A gauge: a filled step area at one second per column, or the band from
/// each column's lowest to highest second when downsampled. The outline is
/// drawn in `stroke` either way.
pub(super) fn gauge(
    s: &mut Svg,
    ctx: &Ctx<'_>,
    plot: &Plot,
    range: impl Fn(&Column) -> Range + Copy,
    fill: &str,
    stroke: &str,
) {
    let hi = move |c: &Column| range(c).max as f64;
    if ctx.cols.is_downsampled() {
        let band = step_band(ctx, plot, move |c| range(c).min as f64, hi);
        s.path(
            &band,
            &format!("fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1\""),
        );
    } else {
        let area = step_band(ctx, plot, |_| 0.0, hi);
        s.path(&area, &format!("fill=\"{fill}\""));
        s.path(
            &step_line(ctx, plot, hi),
            &format!("fill=\"none\" stroke=\"{stroke}\" stroke-width=\"2\""),
        );
    }
}
