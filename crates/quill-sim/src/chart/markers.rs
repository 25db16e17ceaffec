//! Apache's log messages on the chart: dotted lines and numbered badges.

use std::collections::BTreeSet;

use super::Marker;
use super::draw::XScale;
use super::svg::{Anchor, Font, PathData, Svg};

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
    times_ms: Vec<u64>,
}

impl MarkerGroups {
    pub(super) fn new(markers: &[Marker]) -> MarkerGroups {
        let mut sorted: Vec<&Marker> = markers.iter().collect();
        sorted.sort_by(|a, b| a.t_ms.cmp(&b.t_ms).then_with(|| a.label.cmp(&b.label)));
        let mut groups: Vec<MarkerGroup> = Vec::new();
        for m in sorted {
            match groups.iter_mut().find(|g| g.label == m.label) {
                Some(g) => {
                    g.last_ms = m.t_ms;
                    g.count += 1;
                    g.times_ms.push(m.t_ms);
                }
                None => groups.push(MarkerGroup {
                    label: m.label.clone(),
                    first_ms: m.t_ms,
                    last_ms: m.t_ms,
                    count: 1,
                    times_ms: vec![m.t_ms],
                }),
            }
        }
        MarkerGroups { groups }
    }

    pub(super) fn draw(&self, s: &mut Svg, x: &XScale, top: f64, bottom: f64) {
        if self.groups.is_empty() {
            return;
        }
        s.open_group("Apache log messages (numbered below the chart)", "");
        // One line per pixel is enough, whatever the number of messages.
        let mut columns = BTreeSet::new();
        for g in &self.groups {
            for &t in &g.times_ms {
                let t_s = t as f64 / 1000.0;
                if t_s >= x.t0 as f64 && t_s <= x.t_end as f64 {
                    columns.insert(x.at(t_s).round() as i64);
                }
            }
        }
        let mut d = PathData::default();
        for px in &columns {
            d.move_to(*px as f64, top);
            d.v(bottom);
        }
        s.path(
            &d.into_string(),
            "stroke=\"#333\" stroke-width=\"1\" stroke-dasharray=\"2 3\" fill=\"none\"",
        );
        // Badges at each kind's first occurrence, stacked when they collide.
        let mut placed: Vec<(f64, usize)> = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            let t_s = g.first_ms as f64 / 1000.0;
            if t_s < x.t0 as f64 || t_s > x.t_end as f64 {
                continue;
            }
            let bx = x.at(t_s);
            let row = (0..)
                .find(|r| {
                    !placed
                        .iter()
                        .any(|&(px, pr)| pr == *r && (px - bx).abs() < 19.0)
                })
                .unwrap_or(0);
            placed.push((bx, row));
            badge(s, bx, top + 11.0 + row as f64 * 19.0, i + 1);
        }
        s.close_group();
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
