//! The proposal: a configuration sized from the observation, which
//! `quill check` finds clean.
//!
//! ```text
//!  observation ─▶ daemon processes × threads for the target utilisation (WSGIDaemonProcess)
//!              ─▶ replay: children killed after start-up? raise MaxSpare to the idle the
//!                 replay's maintenance ticks saw (then nothing is killed under this load)
//!              ─▶ quill check, its edits applied, again, until nothing is left to edit:
//!                 StartServers in the band, MaxRequestWorkers against the (new) daemon tier,
//!                 the band against churn under the standard load, …
//!              ─▶ quill check once more: the verdict
//! ```
//!
//! The configuration is read again after each step through a
//! [`ConfigReader`] the caller provides (the shell reads the real tree with
//! the changed files in place of their originals; tests use a `MemFs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use quill_config::Resolved;
use quill_config::Severity;
use quill_config::syntax::ParsedConfig;
use quill_lint::{Edit, LintOptions};
use quill_mpm::Knob;
use quill_sim::load::Load;
use serde::Serialize;

use crate::observe::{GroupUse, Observation};
use crate::whatif;

/// Reads the configuration again, with some files' text replaced.
pub trait ConfigReader {
    /// The configuration with `overrides` (path → whole new text) in place
    /// of those files.
    fn read(&self, overrides: &BTreeMap<PathBuf, String>) -> (ParsedConfig, Resolved);
}

/// What the advice aims at.
#[derive(Debug, Clone)]
pub struct AdviceOptions {
    /// Daemon thread utilisation to size for (0–1). Default 0.5: half the
    /// threads busy on average leaves room for peaks.
    pub target_utilisation: f64,
    /// Sizes for the memory figures, as `quill check` takes them.
    pub lint: LintOptions,
    /// The simulator's seed.
    pub seed: u64,
}

impl Default for AdviceOptions {
    fn default() -> Self {
        AdviceOptions {
            target_utilisation: 0.5,
            lint: LintOptions::default(),
            seed: 1,
        }
    }
}

/// A daemon group resized.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaemonSizing {
    pub group: String,
    pub processes: (u32, u32),
    pub threads: (u32, u32),
    /// Threads needed: the larger of demand ÷ target and the busiest moment seen.
    pub needed_threads: u32,
    pub why: String,
}

/// One changed stretch of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    pub file: String,
    /// 1-based line of the first line removed (or where lines are added)
    /// in the current file.
    pub line: usize,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

/// `quill check` on the proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckVerdict {
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
    /// No error and no warning.
    pub clean: bool,
    /// The errors and warnings left, `rule: message`.
    pub remaining: Vec<String>,
}

/// The proposed configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub target_utilisation: f64,
    pub sizing: Vec<DaemonSizing>,
    /// Why each step was taken, in order.
    pub steps: Vec<String>,
    /// The changes, as a diff of each file.
    pub hunks: Vec<Hunk>,
    pub check: CheckVerdict,
    /// The new text of every changed file.
    #[serde(skip)]
    pub files: BTreeMap<PathBuf, String>,
    /// The proposal, read.
    #[serde(skip)]
    pub resolved: Resolved,
}

/// Findings whose edits the proposal takes besides errors and warnings:
/// the MPM notes about the spare band and ServerLimit.
const NOTES_TAKEN: [&str; 3] = [
    "spare-band-churn",
    "spare-not-multiple",
    "oversized-server-limit",
];

/// Rounds of `quill check` edits before giving up on converging.
const MAX_ROUNDS: usize = 5;

/// Threads a group needs for `target` utilisation.
pub fn needed_threads(g: &GroupUse, target: f64) -> u32 {
    let target = target.clamp(0.05, 1.0);
    let by_demand = (g.demand / target).ceil();
    let by_peak = g.busy.max.ceil();
    by_demand.max(by_peak).max(1.0) as u32
}

/// Builds the proposal for `observation`, replaying `load`.
pub fn propose(
    original: (&ParsedConfig, &Resolved),
    observation: &Observation,
    load: &Load,
    reader: &dyn ConfigReader,
    options: &AdviceOptions,
) -> Result<Proposal, String> {
    let (parsed, resolved) = original;
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut steps = Vec::new();

    // 1. Daemon processes × threads.
    let mut sizing = Vec::new();
    let mut edits = Vec::new();
    for g in &observation.groups {
        let Some(d) = resolved.config.wsgi.daemon(&g.name) else {
            continue;
        };
        if d.threads == 0 {
            continue;
        }
        let needed = needed_threads(g, options.target_utilisation);
        let processes = needed.div_ceil(d.threads).max(1);
        if processes == d.processes {
            continue;
        }
        let why = format!(
            "'{}': {} request(s) in the group on average (running or waiting), at most {} \
             {} at once; for {:.0} % utilisation it needs {needed} threads: {} × {}",
            g.name,
            g.demand,
            g.busy.max,
            if g.waiting.inferred {
                "in progress"
            } else {
                "running"
            },
            options.target_utilisation * 100.0,
            processes,
            d.threads
        );
        if let Some(e) = daemon_edit(parsed, resolved, &g.name, processes) {
            edits.push(e);
            steps.push(format!(
                "WSGIDaemonProcess {}: processes={} (was {}) — {why}",
                g.name, processes, d.processes
            ));
            sizing.push(DaemonSizing {
                group: g.name.clone(),
                processes: (d.processes, processes),
                threads: (d.threads, d.threads),
                needed_threads: needed,
                why,
            });
        }
    }
    merge(&mut files, &resolved.sources, &edits)?;

    // 2. Churn under the observed load: MaxSpare up to what the replay's
    //    ticks saw idle.
    let (p1, r1) = reader.read(&files);
    let run = whatif::simulate(&r1.config, load, options.seed, &options.lint)?;
    if run.killed_after_startup > 0 {
        let m = &r1.config.mpm;
        let step = if m.mpm.is_threaded() {
            m.threads_per_child.max(1)
        } else {
            1
        };
        let want = run
            .max_idle_after_startup
            .div_ceil(step)
            .saturating_mul(step)
            .min(m.max_threads.min(m.max_request_workers));
        if want > m.max_spare {
            if let Some((name, e)) =
                quill_lint::knob_edit(&p1, &r1, Knob::MaxSpare, i64::from(want))
            {
                steps.push(format!(
                    "{name} {want} (was {}) — replayed, the pool killed {} child(ren) after \
                     start-up and forked them again; its maintenance saw up to {} idle, so \
                     {name} {want} kills none under this load",
                    m.max_spare, run.killed_after_startup, run.max_idle_after_startup
                ));
                merge(&mut files, &r1.sources, &[e])?;
            }
        }
    }

    // 3. quill check's own edits, until there are none; the last check is
    //    the verdict.
    let mut last = None;
    for round in 0..=MAX_ROUNDS {
        let (p, r) = reader.read(&files);
        let report = quill_lint::check(&p, &r, &options.lint);
        let taken: Vec<&quill_lint::Finding> = report
            .findings
            .iter()
            .filter(|f| !f.edits.is_empty())
            .filter(|f| f.severity() != Severity::Note || NOTES_TAKEN.contains(&f.rule.id))
            .collect();
        if taken.is_empty() || round == MAX_ROUNDS {
            last = Some((r, report));
            break;
        }
        // All together when they agree, else one finding at a time.
        let all: Vec<Edit> = taken.iter().flat_map(|f| f.edits.clone()).collect();
        let applied: Vec<&quill_lint::Finding> = if quill_lint::apply_edits(&r.sources, &all)
            .is_ok()
        {
            taken
        } else {
            let mut ok: Vec<&quill_lint::Finding> = Vec::new();
            for f in taken {
                let trial: Vec<&Edit> = ok.iter().flat_map(|g| &g.edits).chain(&f.edits).collect();
                if quill_lint::apply_edits(&r.sources, trial).is_ok() {
                    ok.push(f);
                }
            }
            ok
        };
        let edits: Vec<Edit> = applied.iter().flat_map(|f| f.edits.clone()).collect();
        // One step per distinct set of edits (several findings often share
        // one fix, and say so).
        let mut said: Vec<&Vec<Edit>> = Vec::new();
        for f in &applied {
            if said.contains(&&f.edits) {
                continue;
            }
            said.push(&f.edits);
            steps.push(format!(
                "quill check {}: {}",
                f.rule.id,
                f.diagnostic
                    .help
                    .as_deref()
                    .unwrap_or(&f.diagnostic.message)
                    .trim_start_matches("help: ")
            ));
        }
        merge(&mut files, &r.sources, &edits)?;
    }

    // 4. The verdict.
    let (r, report) = match last {
        Some(x) => x,
        None => {
            let (p, r) = reader.read(&files);
            let report = quill_lint::check(&p, &r, &options.lint);
            (r, report)
        }
    };
    let remaining: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity() != Severity::Note)
        .map(|f| format!("{}: {}", f.rule.id, f.diagnostic.message))
        .collect();
    let check = CheckVerdict {
        errors: report.count(Severity::Error),
        warnings: report.count(Severity::Warning),
        notes: report.count(Severity::Note),
        clean: remaining.is_empty(),
        remaining,
    };
    let hunks = files
        .iter()
        .filter_map(|(path, new)| {
            let old = resolved
                .sources
                .files()
                .find(|(_, f)| f.path == *path)
                .map(|(_, f)| f.text.as_str())?;
            Some(diff(&path.display().to_string(), old, new))
        })
        .flatten()
        .collect();
    Ok(Proposal {
        target_utilisation: options.target_utilisation,
        sizing,
        steps,
        hunks,
        check,
        files,
        resolved: r,
    })
}

/// Applies `edits` (spans in `sources`) and records the new texts.
fn merge(
    files: &mut BTreeMap<PathBuf, String>,
    sources: &quill_config::source::SourceMap,
    edits: &[Edit],
) -> Result<(), String> {
    let changed = quill_lint::apply_edits(sources, edits).map_err(|e| e.to_string())?;
    files.extend(changed);
    Ok(())
}

/// The edit setting `processes=N` on group `name`'s WSGIDaemonProcess.
fn daemon_edit(
    parsed: &ParsedConfig,
    resolved: &Resolved,
    name: &str,
    processes: u32,
) -> Option<Edit> {
    let at = &resolved.config.wsgi.daemon(name)?.at;
    let mut found = None;
    quill_config::syntax::walk(&parsed.nodes, &mut |d, _| {
        if found.is_none() && d.is("WSGIDaemonProcess") && resolved.sources.location(d.span) == *at
        {
            found = Some(d);
        }
    });
    let d = found?;
    let option = format!("processes={processes}");
    match d
        .args
        .iter()
        .find(|a| a.value.to_ascii_lowercase().starts_with("processes="))
    {
        Some(a) => Some(Edit::replace(a.span, option)),
        None => {
            let last = d.args.last()?;
            Some(Edit::insert(
                last.span.file,
                last.span.end as usize,
                format!(" {option}"),
            ))
        }
    }
}

/// The changed stretches between two texts of a file, line by line.
fn diff(file: &str, old: &str, new: &str) -> Vec<Hunk> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Common head and tail, then an LCS of the middle (configuration files
    // are small; a middle too large for that is one hunk).
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if am.len().saturating_mul(bm.len()) > 4_000_000 {
        return vec![Hunk {
            file: file.to_string(),
            line: head + 1,
            removed: owned(am),
            added: owned(bm),
        }];
    }
    // lcs[i][j]: common lines of am[i..] and bm[j..].
    let mut lcs = vec![vec![0u32; bm.len() + 1]; am.len() + 1];
    for i in (0..am.len()).rev() {
        for j in (0..bm.len()).rev() {
            lcs[i][j] = if am[i] == bm[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut hunks = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut cur: Option<Hunk> = None;
    let flush = |cur: &mut Option<Hunk>, hunks: &mut Vec<Hunk>| {
        if let Some(h) = cur.take() {
            hunks.push(h);
        }
    };
    while i < am.len() || j < bm.len() {
        if i < am.len() && j < bm.len() && am[i] == bm[j] {
            flush(&mut cur, &mut hunks);
            i += 1;
            j += 1;
            continue;
        }
        let h = cur.get_or_insert_with(|| Hunk {
            file: file.to_string(),
            line: head + i + 1,
            removed: Vec::new(),
            added: Vec::new(),
        });
        if j < bm.len() && (i == am.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            h.added.push(bm[j].to_string());
            j += 1;
        } else {
            h.removed.push(am[i].to_string());
            i += 1;
        }
    }
    flush(&mut cur, &mut hunks);
    hunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_keeps_the_common_lines_out() {
        let h = diff("f", "a\nb\nc\nd\n", "a\nB\nc\nd\ne\n");
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(
            (h[0].line, h[0].removed.clone(), h[0].added.clone()),
            (2, vec!["b".into()], vec!["B".into()])
        );
        assert_eq!(
            (h[1].line, h[1].removed.len(), h[1].added.clone()),
            (5, 0, vec!["e".into()])
        );
    }
}
