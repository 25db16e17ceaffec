//! Apache's log messages on the chart: dotted lines and numbered badges.

use std::collections::BTreeSet;

use super::Marker;
use super::draw::XScale;
use super::svg::{Anchor, Font, PathData, Svg};

/// Badges stacked at one place at most this deep.
const MAX_BADGE_ROWS: usize = 4;
/// A kind of message seen at more places than this is drawn as ticks along
/// the top of the chart instead of lines across it.
const MAX_LINES_PER_KIND: usize = 24;
const RUG_HEIGHT: f64 = 5.0;

/// Markers grouped by label, in order of first appearance.
#[derive(Debug)]
pub(super) struct MarkerGroups {
    pub groups: Vec<MarkerGroup>,
}

#[derive(Debug)]
pub(super) struct MarkerGroup {
    pub label: String,
    pub first_ms: u64,
    pub last_ms: u64,
    pub count: u64,
    /// x (whole pixels) of the occurrences inside the time axis.
    pixels: BTreeSet<i64>,
}

impl MarkerGroups {
    pub(super) fn new(markers: &[Marker], x: &XScale) -> MarkerGroups {
        let mut sorted: Vec<&Marker> = markers.iter().collect();
        sorted.sort_by(|a, b| a.t_ms.cmp(&b.t_ms).then_with(|| a.label.cmp(&b.label)));
        let mut groups: Vec<MarkerGroup> = Vec::new();
        for m in sorted {
            let i = match groups.iter().position(|g| g.label == m.label) {
                Some(i) => i,
                None => {
                    groups.push(MarkerGroup {
                        label: m.label.clone(),
                        first_ms: m.t_ms,
                        last_ms: m.t_ms,
                        count: 0,
                        pixels: BTreeSet::new(),
                    });
                    groups.len() - 1
                }
            };
            let g = &mut groups[i];
            g.last_ms = m.t_ms;
            g.count += 1;
            let t_s = m.t_ms as f64 / 1000.0;
            if t_s >= x.t0 as f64 && t_s <= x.t_end as f64 {
                // One mark per pixel is enough, whatever the number of messages.
                g.pixels.insert(x.at(t_s).round() as i64);
            }
        }
        MarkerGroups { groups }
    }

    pub(super) fn draw(&self, s: &mut Svg, x: &XScale, (top, bottom): (f64, f64), listed: usize) {
        if self.groups.is_empty() {
            return;
        }
        s.open_group("Apache log messages (numbered below the chart)", "");
        // Sparse kinds get a dotted line across every panel.
        let mut lines = PathData::default();
        for px in self
            .groups
            .iter()
            .filter(|g| !g.is_dense())
            .flat_map(|g| &g.pixels)
        {
            lines.move_to(*px as f64, top);
            lines.v(bottom);
        }
        s.path(
            &lines.into_string(),
            "stroke=\"#333\" stroke-width=\"1\" stroke-dasharray=\"2 3\" fill=\"none\"",
        );
        // Dense kinds (a message every second, say) would paint the chart
        // grey: a strip of ticks along the top edge of the first panel.
        let mut rug = PathData::default();
        for g in self.groups.iter().filter(|g| g.is_dense()) {
            let mut pixels = g.pixels.iter().copied().peekable();
            while let Some(first) = pixels.next() {
                let mut last = first;
                while let Some(&next) = pixels.peek() {
                    if next > last + 1 {
                        break;
                    }
                    last = next;
                    pixels.next();
                }
                rug.rect(first as f64 - 0.5, top, last as f64 + 0.5, top + RUG_HEIGHT);
            }
        }
        s.path(&rug.into_string(), "fill=\"#333\"");
        // Badges at each listed kind's first occurrence, stacked when they
        // collide.
        let mut placed: Vec<(f64, usize)> = Vec::new();
        for (i, g) in self.groups.iter().enumerate().take(listed) {
            let t_s = g.first_ms as f64 / 1000.0;
            if t_s < x.t0 as f64 || t_s > x.t_end as f64 {
                continue;
            }
            let bx = x.at(t_s);
            // A free row, or none: a crowd of badges would hide the first
            // panel (every kind is still listed under the chart).
            let Some(row) = (0..MAX_BADGE_ROWS).find(|r| {
                !placed
                    .iter()
                    .any(|&(px, pr)| pr == *r && (px - bx).abs() < 19.0)
            }) else {
                continue;
            };
            placed.push((bx, row));
            badge(s, bx, top + RUG_HEIGHT + 11.0 + row as f64 * 19.0, i + 1);
        }
        s.close_group();
    }
}

impl MarkerGroup {
    /// Too many places for lines across the chart.
    pub(super) fn is_dense(&self) -> bool {
        self.pixels.len() > MAX_LINES_PER_KIND
    }
}

pub(super) fn badge(s: &mut Svg, cx: f64, cy: f64, n: usize) {
    s.circle(
        cx,
        cy,
        8.5,
        "fill=\"#333\" stroke=\"#fff\" stroke-width=\"1.5\"",
    );
    s.text(
        cx,
        cy + 4.0,
        Anchor::Middle,
        Font::plain(11.0, "#fff").bold(),
        &n.to_string(),
    );
}
