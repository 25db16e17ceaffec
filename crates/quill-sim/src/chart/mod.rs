//! `chart.svg`: why Apache spawned or killed processes, second by second.
//!
//! ```text
//!  title: MPM · StartServers · spare band · ThreadsPerChild · MaxRequestWorkers
//!  ┌ requests ─────────────┐  in flight (area), arrivals/s, capacity line
//!  ├ spawned ▲ / killed ▼ ─┤  bars per second; exits as an outline
//!  ├ processes ────────────┤  running + stopping (hatched), max children (dashed)
//!  ├ idle threads ─────────┤  MinSpare / MaxSpare band: below → spawn, above → kill
//!  └ accept queue ─────────┘  queue length, daemon queue, refused / connect timeouts / 503 / 504
//!     0   10 s  20 s …        one shared time axis; ① ② … Apache log messages
//! ```
//!
//! The SVG is written by hand rather than with a plotting crate: the same
//! timeline must give byte-identical output (charts are snapshot-tested and
//! diffed between runs), and the output must not depend on font files being
//! present when it is made. Every number goes through one fixed-decimal
//! formatter, every collection is iterated in order, and text is laid out
//! with a width estimate instead of font metrics; the viewer's own
//! `sans-serif` font renders it.
//!
//! Long runs are downsampled to at most one column per pixel (a day at
//! 2-minute columns): gauges keep each column's lowest and highest second,
//! so a one-second spike stays visible, and event counts are summed. The
//! chart says so under its time axis.

mod columns;
mod draw;
mod markers;
mod panels;
mod scale;
mod svg;
pub(crate) mod text;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

use quill_config::model::{MpmKind, MpmSettings};

use crate::report::{Summary, summary};
use crate::timeline::SecondRow;

/// The text formatting the chart and the report use, for pages built
/// around them (`quill report`).
pub use text::{decimal1, duration_s, escape, thousands};

use columns::Columns;
use draw::{Ctx, TimeGrid, XScale};
use markers::{MarkerGroups, badge};
use scale::time_ticks;
use svg::{Anchor, Font, Svg};
use text::clock_ms;

/// What the chart's title and reference lines say about the configuration
/// and the run. Build it with [`ChartInfo::new`] and push [`Marker`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartInfo {
    pub mpm: MpmKind,
    pub start_servers: u32,
    /// MinSpareServers (prefork) or MinSpareThreads (worker/event).
    pub min_spare: u32,
    /// MaxSpareServers (prefork) or MaxSpareThreads (worker/event).
    pub max_spare: u32,
    pub threads_per_child: u32,
    /// MaxRequestWorkers as configured (after Apache's rounding).
    pub max_request_workers: u32,
    pub server_limit: u32,
    /// The most children that can serve at once (the dashed limit line).
    pub max_children: u32,
    /// Threads that can serve at once (max_children × ThreadsPerChild).
    pub max_threads: u32,
    /// One line describing the load, e.g. `step 0 → 300 req/s at 20 s`.
    pub load: String,
    /// The seed that replays the run, when the load is random.
    pub seed: Option<u64>,
    /// Moments worth pointing at, usually Apache's log messages.
    pub markers: Vec<Marker>,
    /// The rows were sampled from a running server (`quill report`), not
    /// simulated: the chart says "observed" and counts time from the
    /// start of the sampling window.
    pub observed: bool,
}

/// A vertical line across all panels with a numbered badge; markers with
/// the same label share a number and one line in the legend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub t_ms: u64,
    /// A few words; the full text belongs in the report.
    pub label: String,
}

impl Marker {
    pub fn new(t_ms: u64, label: impl Into<String>) -> Marker {
        Marker {
            t_ms,
            label: label.into(),
        }
    }

    /// A marker for one of Apache's log lines: its text up to the first
    /// comma (`server reached MaxRequestWorkers setting, consider …` →
    /// `server reached MaxRequestWorkers setting`), at most 80 characters.
    pub fn from_log(t_ms: u64, text: &str) -> Marker {
        let head = text.split(", ").next().unwrap_or(text).trim();
        let label = if head.chars().count() > 80 {
            let cut: String = head.chars().take(79).collect();
            format!("{cut}…")
        } else {
            head.to_string()
        };
        Marker { t_ms, label }
    }
}

impl ChartInfo {
    pub fn new(settings: &MpmSettings, load: impl Into<String>, seed: Option<u64>) -> ChartInfo {
        ChartInfo {
            mpm: settings.mpm,
            start_servers: settings.start_servers,
            min_spare: settings.min_spare,
            max_spare: settings.max_spare,
            threads_per_child: settings.threads_per_child,
            max_request_workers: settings.max_request_workers,
            server_limit: settings.server_limit,
            max_children: settings.max_children,
            max_threads: settings.max_threads,
            load: load.into(),
            seed,
            markers: Vec::new(),
            observed: false,
        }
    }

    /// `MinSpareThreads` or `MinSpareServers`.
    fn min_spare_name(&self) -> &'static str {
        if self.mpm.is_threaded() {
            "MinSpareThreads"
        } else {
            "MinSpareServers"
        }
    }

    fn max_spare_name(&self) -> &'static str {
        if self.mpm.is_threaded() {
            "MaxSpareThreads"
        } else {
            "MaxSpareServers"
        }
    }

    /// `simulated` or `observed`.
    fn run_word(&self) -> &'static str {
        if self.observed {
            "observed"
        } else {
            "simulated"
        }
    }

    /// What one idle unit is called: `threads` or `servers`.
    fn spare_unit(&self) -> &'static str {
        if self.mpm.is_threaded() {
            "threads"
        } else {
            "servers"
        }
    }

    /// The configuration's key numbers on one line, e.g. `worker ·
    /// StartServers 10 · Spare threads 25–75 · ThreadsPerChild 25 ·
    /// MaxRequestWorkers 400 (16 children)`.
    pub fn title(&self) -> String {
        let mut parts = vec![
            self.mpm.name().to_string(),
            format!("StartServers {}", self.start_servers),
            format!(
                "Spare {} {}–{}",
                self.spare_unit(),
                self.min_spare,
                self.max_spare
            ),
        ];
        if self.mpm.is_threaded() {
            parts.push(format!("ThreadsPerChild {}", self.threads_per_child));
            parts.push(if self.max_threads < self.max_request_workers {
                format!(
                    "MaxRequestWorkers {} (ServerLimit caps it at {} children)",
                    self.max_request_workers, self.max_children
                )
            } else {
                format!(
                    "MaxRequestWorkers {} ({} children)",
                    self.max_request_workers, self.max_children
                )
            });
        } else {
            parts.push(format!("MaxRequestWorkers {}", self.max_request_workers));
        }
        parts.join(" · ")
    }

    /// The second title line: limits not in the title, the load, the seed.
    pub fn subtitle(&self, span_s: u64) -> String {
        let mut parts = vec![format!("ServerLimit {}", self.server_limit)];
        if !self.load.is_empty() {
            parts.push(format!("load: {}", self.load));
        }
        if let Some(seed) = self.seed {
            parts.push(format!("seed {seed}"));
        }
        parts.push(format!("{} {}", duration_s(span_s), self.run_word()));
        parts.join(" · ")
    }
}

// Okabe–Ito, distinguishable with the common colour-vision deficiencies.
const BLUE: &str = "#0072B2";
const ORANGE: &str = "#E69F00";
const GREEN: &str = "#009E73";
const VERMILLION: &str = "#D55E00";
const PURPLE: &str = "#CC79A7";
const INK: &str = "#222";
const MUTED: &str = "#555";
const GRID: &str = "#e4e4e4";

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 64.0;
/// Room on the right for the reference lines' labels.
const RIGHT: f64 = 150.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
/// Space above each plot for its heading and legend.
const HEADER: f64 = 30.0;
/// Space below each plot before the next heading.
const GAP: f64 = 12.0;
const TOP: f64 = 62.0;
const LINE: f64 = 17.0;
/// Marker kinds listed under the chart and badged (all get lines).
const MAX_LISTED_MARKERS: usize = 12;

const TITLE_FONT: Font = Font::plain(17.0, INK).bold();
const SUBTITLE_FONT: Font = Font::plain(13.0, MUTED);
const HEADING_FONT: Font = Font::plain(13.0, INK).bold();
const LEGEND_FONT: Font = Font::plain(12.0, INK);
const NOTE_FONT: Font = Font::plain(12.0, MUTED);
const TICK_FONT: Font = Font::plain(11.0, MUTED);
const MARGIN_FONT: Font = Font::plain(11.0, INK).bold();
const VALUE_FONT: Font = Font::plain(10.0, INK);

/// Render the timeline as a self-contained SVG document (no XML prolog, so
/// it can also be inlined into HTML).
pub fn render_svg(rows: &[SecondRow], info: &ChartInfo) -> String {
    let cols = Columns::new(rows, PLOT_W as usize);
    if cols.cols.is_empty() {
        return render_empty(info);
    }
    let sum = summary(rows);
    let x = XScale {
        t0: cols.t0,
        t_end: cols.t_end(),
    };
    let markers = MarkerGroups::new(&info.markers, &x);

    let panels_top = TOP + 8.0;
    let heights = [150.0, 110.0, 140.0, 140.0, 110.0];
    let mut tops = [0.0; 5];
    let mut y = panels_top;
    for (top, h) in tops.iter_mut().zip(heights) {
        *top = y + HEADER;
        y += HEADER + h + GAP;
    }
    let plots_bottom = tops[4] + heights[4];

    // Under the axis: tick labels, axis title, notes, marker legend.
    let mut notes = Vec::new();
    if cols.is_downsampled() {
        let note = format!(
            "Downsampled: each column is {} ({} seconds → {} columns). Lines and shading show the \
             highest second of each column (shaded bands: lowest to highest); bars show totals per column.",
            duration_s(cols.bucket_s),
            thousands(cols.span_s),
            thousands(cols.cols.len() as u64)
        );
        notes.extend(NOTE_FONT.wrap(&note, WIDTH - 2.0 * LEFT));
    }
    let listed = markers.groups.len().min(MAX_LISTED_MARKERS);
    let mut height = plots_bottom + 44.0 + LINE * notes.len() as f64;
    if listed > 0 {
        height += 8.0 + LINE * (listed as f64 + 1.0);
        if markers.groups.len() > listed {
            height += LINE;
        }
    }
    let height = height.ceil() + 8.0;

    let title = info.title();
    let subtitle = info.subtitle(cols.span_s);
    let mut s = Svg::default();
    open_document(&mut s, height, &title, &describe(&sum, info));
    s.text(LEFT, 26.0, Anchor::Start, TITLE_FONT, &title);
    s.text(LEFT, 47.0, Anchor::Start, SUBTITLE_FONT, &subtitle);

    let grid = TimeGrid {
        x,
        ticks: time_ticks(cols.t0, cols.t_end()),
    };
    let ctx = Ctx {
        cols: &cols,
        info,
        sum: &sum,
        grid: &grid,
    };
    panels::requests(&mut s, &ctx, tops[0], heights[0]);
    panels::changes(&mut s, &ctx, tops[1], heights[1]);
    panels::processes(&mut s, &ctx, tops[2], heights[2]);
    panels::idle(&mut s, &ctx, tops[3], heights[3]);
    panels::queue(&mut s, &ctx, tops[4], heights[4]);

    // Time axis labels under the last panel.
    for tick in &grid.ticks {
        s.text(
            x.at(tick.t_s as f64),
            plots_bottom + 16.0,
            Anchor::Middle,
            TICK_FONT,
            &tick.label,
        );
    }
    s.text(
        LEFT + PLOT_W / 2.0,
        plots_bottom + 34.0,
        Anchor::Middle,
        NOTE_FONT,
        if info.observed {
            "time since the sampling window started"
        } else {
            "time since Apache started"
        },
    );
    let mut y = plots_bottom + 34.0;
    for note in &notes {
        y += LINE;
        s.text(LEFT, y, Anchor::Start, NOTE_FONT, note);
    }

    markers.draw(&mut s, &x, (tops[0], plots_bottom), listed);
    if listed > 0 {
        y += 8.0 + LINE;
        s.text(LEFT, y, Anchor::Start, HEADING_FONT, "Apache log messages");
        for (i, g) in markers.groups.iter().take(listed).enumerate() {
            y += LINE;
            badge(&mut s, LEFT + 8.0, y - 4.0, i + 1);
            let when = match (g.count, g.is_dense()) {
                (1, _) => clock_ms(g.first_ms),
                (n, dense) => format!(
                    "{} (×{}, last {}{})",
                    clock_ms(g.first_ms),
                    thousands(n),
                    clock_ms(g.last_ms),
                    if dense { "; ticks along the top" } else { "" }
                ),
            };
            s.text_spans(
                LEFT + 22.0,
                y,
                LEGEND_FONT,
                &[(MUTED, &when), (INK, &format!("  {}", g.label))],
            );
        }
        if markers.groups.len() > listed {
            y += LINE;
            s.text(
                LEFT + 22.0,
                y,
                Anchor::Start,
                NOTE_FONT,
                &format!(
                    "… and {} more kinds of message (see the report)",
                    markers.groups.len() - listed
                ),
            );
        }
    }
    s.raw("</svg>\n");
    s.finish()
}

fn open_document(s: &mut Svg, height: f64, title: &str, desc: &str) {
    let h = text::num(height);
    s.raw(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         role=\"img\" aria-labelledby=\"quill-chart-title quill-chart-desc\" font-family=\"sans-serif\">\n",
        w = text::num(WIDTH),
    ));
    s.raw(&format!(
        "<title id=\"quill-chart-title\">{}</title>\n<desc id=\"quill-chart-desc\">{}</desc>\n",
        text::escape(title),
        text::escape(desc)
    ));
    s.raw(concat!(
        "<defs><pattern id=\"quill-hatch\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" ",
        "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fbe0c8\"/>",
        "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#D55E00\" stroke-width=\"2.5\"/></pattern></defs>\n",
    ));
    s.rect(0.0, 0.0, WIDTH, height, "fill=\"#fff\"");
}

/// The chart's long description (`<desc>`), for screen readers.
fn describe(sum: &Summary, info: &ChartInfo) -> String {
    if info.observed {
        return format!(
            "{} observed. Child processes: peak {}, final {}. Peak busy {}: {}. Spawns, kills, \
             the accept queue and errors were not sampled.",
            duration_s(sum.seconds),
            sum.peak_processes,
            sum.final_processes,
            info.spare_unit(),
            sum.peak_busy,
        );
    }
    format!(
        "{} {}. Child processes: peak {}, final {}; {} spawned, {} killed. Peak busy {}: {}. \
         Longest accept queue: {}. Refused: {}; connect timeouts: {}; 503: {}; 504: {}.",
        duration_s(sum.seconds),
        info.run_word(),
        sum.peak_processes,
        sum.final_processes,
        sum.spawned,
        sum.killed,
        info.spare_unit(),
        sum.peak_busy,
        sum.longest_queue,
        sum.refused,
        sum.connect_timeouts,
        sum.status_503,
        sum.status_504
    )
}

fn render_empty(info: &ChartInfo) -> String {
    let title = info.title();
    let mut s = Svg::default();
    open_document(&mut s, 150.0, &title, "The timeline is empty.");
    s.text(LEFT, 26.0, Anchor::Start, TITLE_FONT, &title);
    s.text(LEFT, 47.0, Anchor::Start, SUBTITLE_FONT, &info.subtitle(0));
    s.rect(
        LEFT,
        66.0,
        PLOT_W,
        60.0,
        "fill=\"#f6f6f6\" stroke=\"#ccc\" stroke-dasharray=\"4 3\"",
    );
    s.text(
        LEFT + PLOT_W / 2.0,
        101.0,
        Anchor::Middle,
        Font::plain(14.0, MUTED),
        "Nothing to draw: the simulation produced no seconds.",
    );
    s.raw("</svg>\n");
    s.finish()
}
