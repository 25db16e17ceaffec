//! One set of MPM values that fixes every MPM finding at once.
//!
//! Several rules want to change the same few directives (a spare band
//! rounded to whole children, widened against churn, a StartServers between
//! the band's ends, a MaxRequestWorkers that fits the daemon tier and
//! ServerLimit). Each rule computing its own fix would give edits that
//! contradict each other, so the fix is computed once, in stages, and each
//! finding shows the planned values of the directives it is about:
//!
//! ```text
//!  as Apache runs it ─▶ limits: TPC, ThreadLimit, MaxRequestWorkers (tier), ServerLimit
//!   (adjusted values)        ─▶ band: spare thresholds in whole children, within capacity,
//!                                      widened until the standard load no longer churns
//!                            ─▶ start: StartServers between the band's ends
//! ```
//!
//! Every change records the rule that asked for it: the stage's own rule
//! when it fires on the configuration as written, otherwise the rule whose
//! earlier change made this one necessary. So each planned change belongs
//! to a finding, and applying every finding's edits gives exactly the plan,
//! on which no MPM rule fires.

use quill_config::model::ResolvedConfig;
use quill_mpm::{Knob, Mpm, MpmDirectives, PoolConfig, adjust};

use crate::context::{KNOBS, MpmFacts, knob_index, knob_value};
use crate::rules::ids;
use crate::sim::{self, CHURN_LIMIT_PER_HOUR, CHURN_TARGET_PER_HOUR, ChurnMeasure};
use crate::tier::TierAssessment;

/// The planned values (directive units) and who asked for each change.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub values: [i64; 7],
    pub causes: [Vec<&'static str>; 7],
    /// The pool the plan runs with.
    pub pool: PoolConfig,
    /// The planned pool under the standard load, when the band was
    /// searched or the limits changed (the verification of the proposal).
    pub churn: Option<ChurnMeasure>,
    /// When the band was widened against churn: the MaxSpare at which the
    /// pool never kills under the written server's load, and how many
    /// children it then keeps on average — the far end of the trade-off
    /// the proposal stops short of.
    pub never_kill: Option<(i64, f64)>,
}

impl Plan {
    pub fn value(&self, k: Knob) -> i64 {
        self.values[knob_index(k)]
    }

    pub fn caused_by(&self, k: Knob, rule: &str) -> bool {
        self.causes[knob_index(k)].contains(&rule)
    }

    /// Knobs the plan sets differently from what is written (or from the
    /// default when not written).
    pub fn changed(&self, mpm: &MpmFacts<'_>) -> Vec<Knob> {
        KNOBS
            .iter()
            .copied()
            .filter(|&k| crate::context::knob_applies(mpm.kind, k))
            .filter(|&k| self.value(k) != mpm.as_written(k))
            .collect()
    }

    pub fn new(
        mpm: &MpmFacts<'_>,
        churn: Option<&ChurnMeasure>,
        tier: Option<&TierAssessment>,
        merged_tier: Option<&TierAssessment>,
        config: &ResolvedConfig,
    ) -> Plan {
        let async_factor = config.mpm.async_request_worker_factor.unwrap_or(2);
        let mut b = Builder {
            kind: mpm.kind,
            values: [0; 7],
            causes: Default::default(),
            last: None,
        };
        for k in KNOBS {
            b.values[knob_index(k)] = knob_value(&mpm.pool, k);
        }
        // What Apache itself changes is the first part of the fix.
        for a in &mpm.adjusted.adjustments {
            let rule = if matches!(
                a.code,
                "mpm/mrw-above-server-limit" | "mpm/tpc-above-thread-limit"
            ) {
                ids::UNREACHABLE_CAPACITY
            } else {
                ids::STARTUP_ADJUSTMENT
            };
            b.blame(a.knob, rule);
        }
        let threaded = mpm.kind.is_threaded();
        let tpc = i64::from(mpm.tpc());

        // Limits. MaxRequestWorkers fits the daemon tier as it will be once
        // the duplicate groups are merged (wsgi-duplicate-https-group), so
        // that applying every edit needs no second round; the merge's
        // finding carries the change too.
        let written = tier.and_then(|t| t.proposed_front);
        match merged_tier.and_then(|m| m.proposed_front) {
            Some(front) => {
                let own = written.map(|_| ids::TIER_CAPACITY);
                b.set(Knob::MaxRequestWorkers, i64::from(front), own);
                if b.get(Knob::MaxRequestWorkers) != knob_value(&mpm.pool, Knob::MaxRequestWorkers)
                {
                    b.blame(Knob::MaxRequestWorkers, ids::WSGI_DUPLICATE_HTTPS_GROUP);
                }
            }
            None => {
                if let Some(front) = written {
                    b.set(
                        Knob::MaxRequestWorkers,
                        i64::from(front),
                        Some(ids::TIER_CAPACITY),
                    );
                }
            }
        }
        let needed = b.needed(tpc);
        if b.get(Knob::ServerLimit) < needed {
            b.set(Knob::ServerLimit, needed, None);
        }
        let headroom = server_limit_headroom(mpm.kind, needed);
        if mpm.written(Knob::ServerLimit).is_some() && b.get(Knob::ServerLimit) > 2 * headroom {
            let own = oversized_fires(mpm).then_some(ids::OVERSIZED_SERVER_LIMIT);
            b.set(Knob::ServerLimit, headroom, own);
        }

        let nb = mpm.pool.num_buckets;
        let mut never_kill = None;
        if nb == 1 {
            // Band in whole children.
            let max_threads = needed * if threaded { tpc } else { 1 };
            if threaded {
                let own = spare_not_multiple_fires(mpm).then_some(ids::SPARE_NOT_MULTIPLE);
                let min = round_up(b.get(Knob::MinSpare), tpc);
                let max = round_down(b.get(Knob::MaxSpare), tpc).max(min + 2 * tpc);
                b.set(Knob::MinSpare, min, own);
                b.set(Knob::MaxSpare, max, own);
            }
            // A MinSpare the whole server cannot reach keeps asking for more.
            if b.get(Knob::MinSpare) > max_threads {
                let own = burst_fires(mpm).then_some(ids::STARTUP_BURST);
                b.set(Knob::MinSpare, max_threads, own);
                let floor = max_threads + if threaded { 2 * tpc } else { 1 };
                if b.get(Knob::MaxSpare) < floor {
                    b.set(Knob::MaxSpare, floor, own);
                }
            }
            b.start_stage(mpm, needed, tpc);
            // Churn: widen the band until the standard load is calm — the
            // load of the server as written, and the load of the planned
            // size (the one a re-check of the edited file uses).
            let loads = b.loads(mpm);
            let fires_now = churn.is_some_and(|m| m.undone_per_hour >= CHURN_LIMIT_PER_HOUR);
            let churns_planned = || {
                let p = b.pool(mpm);
                sim::can_kill(&p)
                    && sim::churn_of(&p, async_factor)
                        .is_some_and(|m| m.undone_per_hour >= CHURN_LIMIT_PER_HOUR)
            };
            if fires_now || (b.values != current_values(mpm) && churns_planned()) {
                let own = fires_now.then_some(ids::SPARE_BAND_CHURN);
                let step = if threaded { tpc } else { 1 };
                let (max, far) = b.widen_band(mpm, step, max_threads, async_factor, &loads);
                never_kill = far;
                b.set(Knob::MaxSpare, max, own);
                b.start_stage(mpm, needed, tpc);
            }
        } else {
            b.start_stage(mpm, needed, tpc);
        }
        let pool = b.pool(mpm);
        // The proposal under the load the finding talks about (the written
        // server's).
        let churn_after = if b.values == current_values(mpm) {
            churn.cloned()
        } else if sim::can_kill(&pool) {
            sim::churn_under(&pool, async_factor, sim::max_threads(&mpm.pool))
        } else {
            None
        };
        Plan {
            values: b.values,
            causes: b.causes,
            pool,
            churn: churn_after,
            never_kill,
        }
    }
}

fn current_values(mpm: &MpmFacts<'_>) -> [i64; 7] {
    let mut v = [0; 7];
    for k in KNOBS {
        v[knob_index(k)] = knob_value(&mpm.pool, k);
    }
    v
}

struct Builder {
    kind: Mpm,
    values: [i64; 7],
    causes: [Vec<&'static str>; 7],
    /// The rule of the most recent change.
    last: Option<&'static str>,
}

impl Builder {
    fn get(&self, k: Knob) -> i64 {
        self.values[knob_index(k)]
    }

    fn blame(&mut self, k: Knob, rule: &'static str) {
        let c = &mut self.causes[knob_index(k)];
        if !c.contains(&rule) {
            c.push(rule);
        }
        self.last = Some(rule);
    }

    /// Set `k`; the change is `own`'s if that rule fires on the written
    /// configuration, else the last changer's.
    fn set(&mut self, k: Knob, v: i64, own: Option<&'static str>) {
        if self.get(k) == v {
            return;
        }
        self.values[knob_index(k)] = v;
        if let Some(rule) = own.or(self.last) {
            self.blame(k, rule);
        }
    }

    /// Children MaxRequestWorkers allows.
    fn needed(&self, tpc: i64) -> i64 {
        let mrw = self.get(Knob::MaxRequestWorkers);
        if self.kind.is_threaded() {
            (mrw / tpc.max(1)).max(1)
        } else {
            mrw.max(1)
        }
    }

    fn start_stage(&mut self, mpm: &MpmFacts<'_>, needed: i64, tpc: i64) {
        let threaded = self.kind.is_threaded();
        let (lo, hi) = if mpm.pool.num_buckets == 1 {
            let (min, max) = (self.get(Knob::MinSpare), self.get(Knob::MaxSpare));
            if threaded {
                (round_up(min, tpc) / tpc.max(1), max / tpc.max(1))
            } else {
                (min, max)
            }
        } else {
            (1, needed)
        };
        let hi = hi.min(needed).max(1);
        let lo = lo.clamp(1, hi);
        // Always from what Apache starts with: an earlier pass may have
        // clamped it against a band that was widened since.
        let start = i64::from(mpm.pool.start_servers);
        let want = start.clamp(lo, hi);
        if want == self.get(Knob::StartServers) {
            return;
        }
        let own = if want < start {
            if kill_off_fires(mpm) {
                Some(ids::STARTUP_KILL_OFF)
            } else if start_above_limit(mpm) {
                Some(ids::UNREACHABLE_CAPACITY)
            } else {
                None
            }
        } else {
            burst_fires(mpm).then_some(ids::STARTUP_BURST)
        };
        self.set(Knob::StartServers, want, own);
    }

    /// The standard loads a planned band must absorb: the written server's
    /// and the planned server's.
    fn loads(&self, mpm: &MpmFacts<'_>) -> Vec<u32> {
        let mut v = vec![
            sim::max_threads(&mpm.pool),
            sim::max_threads(&self.pool(mpm)),
        ];
        v.dedup();
        v
    }

    /// The planned pool as Apache would run it.
    fn pool(&self, mpm: &MpmFacts<'_>) -> PoolConfig {
        adjust(self.kind, &planned_directives(mpm, &self.values)).pool
    }

    /// The smallest MaxSpare (a multiple of `step`, at least the planned
    /// one) whose churn — spawns and kills undone within a minute — is
    /// within the target under every load, and the far end of the
    /// trade-off: the MaxSpare that never kills (with the children it keeps
    /// on average under the first load).
    ///
    /// One run per load with no kill possible gives the most idle threads
    /// any tick sees; a MaxSpare that large never kills on that run, so it
    /// is calm. Between the planned value and that one, churn falls as the
    /// band widens while the children kept (memory) rise; the search stops
    /// at the first calm value, so the pool still follows the load's level
    /// (its remaining spawns and kills are minutes apart) and keeps no
    /// more idle children than that takes.
    fn widen_band(
        &mut self,
        mpm: &MpmFacts<'_>,
        step: i64,
        max_threads: i64,
        async_factor: u32,
        loads: &[u32],
    ) -> (i64, Option<(i64, f64)>) {
        let step = step.max(1);
        let planned = self.get(Knob::MaxSpare);
        let trial = |max: i64| -> PoolConfig {
            let mut t = Builder {
                kind: self.kind,
                values: self.values,
                causes: Default::default(),
                last: None,
            };
            t.values[knob_index(Knob::MaxSpare)] = max;
            let tpc = i64::from(mpm.tpc());
            let needed = t.needed(tpc);
            t.start_stage(mpm, needed, tpc);
            t.pool(mpm)
        };
        let calm = |max: i64| -> bool {
            let p = trial(max);
            !sim::can_kill(&p)
                || loads.iter().all(|&l| {
                    sim::churn_under(&p, async_factor, l)
                        .is_none_or(|m| m.undone_per_hour <= CHURN_TARGET_PER_HOUR)
                })
        };
        let unbounded = trial(round_up(max_threads, step) + step);
        let runs: Vec<ChurnMeasure> = loads
            .iter()
            .filter_map(|&l| sim::churn_under(&unbounded, async_factor, l))
            .collect();
        let observed = runs.iter().map(|m| i64::from(m.max_idle)).max();
        let mut hi = planned.max(round_up(observed.unwrap_or(planned), step));
        let far = runs.first().map(|m| (hi, m.mean_children));
        // The start-up may differ from the unbounded run's; widen a little
        // if the start changed the run.
        for _ in 0..3 {
            if calm(hi) {
                break;
            }
            hi += step;
        }
        // Bisect in whole steps between the planned band (which churns)
        // and `hi`; only a value found calm is returned.
        let mut lo = round_up(planned, step);
        if lo >= hi || calm(lo) {
            return (lo.min(hi).max(planned), far);
        }
        while hi - lo > step {
            let mid = lo + round_down((hi - lo) / 2, step).max(step);
            if calm(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        (hi, far)
    }
}

/// MPM directives with the planned values written out.
pub fn planned_directives(mpm: &MpmFacts<'_>, values: &[i64; 7]) -> MpmDirectives {
    let v = |k: Knob| Some(values[knob_index(k)]);
    let prefork = mpm.kind == Mpm::Prefork;
    MpmDirectives {
        start_servers: v(Knob::StartServers),
        min_spare_servers: if prefork { v(Knob::MinSpare) } else { None },
        max_spare_servers: if prefork { v(Knob::MaxSpare) } else { None },
        min_spare_threads: if prefork { None } else { v(Knob::MinSpare) },
        max_spare_threads: if prefork { None } else { v(Knob::MaxSpare) },
        threads_per_child: if prefork {
            None
        } else {
            v(Knob::ThreadsPerChild)
        },
        thread_limit: if prefork { None } else { v(Knob::ThreadLimit) },
        server_limit: v(Knob::ServerLimit),
        max_request_workers: v(Knob::MaxRequestWorkers),
        ..mpm.raw.clone()
    }
}

pub fn round_up(v: i64, step: i64) -> i64 {
    let step = step.max(1);
    (v + step - 1).div_euclid(step) * step
}

pub fn round_down(v: i64, step: i64) -> i64 {
    let step = step.max(1);
    v.div_euclid(step) * step
}

/// ServerLimit a pool of `needed` children should have: event needs room
/// for stopping children beside the running ones (§6.3), the others do not.
pub fn server_limit_headroom(mpm: Mpm, needed: i64) -> i64 {
    if mpm == Mpm::Event {
        2 * needed
    } else {
        needed
    }
}

/// The child limit of the written configuration.
pub fn child_limit(mpm: &MpmFacts<'_>) -> u32 {
    mpm.pool.daemons_limit
}

// The conditions of the MPM rules, shared by the rules and the plan.

/// `spare-not-multiple`.
pub fn spare_not_multiple_fires(mpm: &MpmFacts<'_>) -> bool {
    let tpc = mpm.tpc();
    mpm.kind.is_threaded()
        && mpm.pool.num_buckets == 1
        && tpc > 1
        && (mpm.pool.min_spare % tpc != 0 || mpm.pool.max_spare % tpc != 0)
}

/// `startup-kill-off`.
pub fn kill_off_fires(mpm: &MpmFacts<'_>) -> bool {
    mpm.pool.num_buckets == 1
        && mpm.pool.children_to_start().saturating_mul(mpm.tpc()) > mpm.pool.max_spare
}

/// `startup-burst`.
pub fn burst_fires(mpm: &MpmFacts<'_>) -> bool {
    mpm.pool.num_buckets == 1
        && mpm.pool.children_to_start().saturating_mul(mpm.tpc()) < mpm.pool.min_spare
}

/// `unreachable-capacity`'s StartServers part.
pub fn start_above_limit(mpm: &MpmFacts<'_>) -> bool {
    mpm.pool.start_servers > child_limit(mpm)
}

/// `oversized-server-limit`.
pub fn oversized_fires(mpm: &MpmFacts<'_>) -> bool {
    let Some(w) = mpm.written(Knob::ServerLimit) else {
        return false;
    };
    let needed = i64::from(child_limit(mpm));
    w.value > 2 * server_limit_headroom(mpm.kind, needed)
        && i64::from(mpm.pool.server_limit) > 2 * server_limit_headroom(mpm.kind, needed)
}

#[cfg(test)]
mod tests {
    use crate::LintOptions;
    use crate::rules::testing::{assert_edits_remove_findings, lint_with};

    /// MPM blocks that trip one or several MPM rules at once.
    fn blocks() -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        for (start, min, max, tpc, mrw, sl) in [
            (10, 25, 75, 25, 400, None),
            (1, 75, 80, 25, 150, None),
            (8, 30, 70, 25, 160, Some(4)),
            (2, 10, 10, 10, 20, Some(2)),
            (6, 0, 40, 16, 100, Some(64)),
            (3, 200, 250, 25, 100, None),
            (20, 25, 75, 25, 400, Some(40)),
        ] {
            for mpm in ["worker", "event"] {
                let sl = sl.map_or(String::new(), |s| format!("ServerLimit {s}\n"));
                v.push((
                    mpm,
                    format!(
                        "StartServers {start}\nMinSpareThreads {min}\nMaxSpareThreads {max}\nThreadsPerChild {tpc}\n{sl}MaxRequestWorkers {mrw}\n"
                    ),
                ));
            }
        }
        for (start, min, max, mrw) in [(8, 5, 20, 60), (1, 10, 12, 40), (30, 2, 3, 20)] {
            v.push((
                "prefork",
                format!("StartServers {start}\nMinSpareServers {min}\nMaxSpareServers {max}\nMaxRequestWorkers {mrw}\n"),
            ));
        }
        v
    }

    #[test]
    fn the_plan_needs_no_adjustment_and_its_edits_clear_every_mpm_finding() {
        for (mpm, block) in blocks() {
            let text = format!(
                "LoadModule mpm_{mpm}_module m.so\nListen 80\nServerName a.example\nKeepAlive Off\n{block}"
            );
            let (findings, fixed) = lint_with(&text, &LintOptions::default());
            assert!(
                findings.iter().any(|f| !f.edits.is_empty()),
                "{mpm}: nothing to fix in\n{block}"
            );
            assert_edits_remove_findings(&findings, &fixed);
            // The edited file says exactly what Apache runs with.
            let parsed = quill_config::syntax::parse_str(
                std::path::Path::new("/etc/httpd/httpd.conf"),
                &fixed,
                &quill_config::fs::MemFs::new(),
                &Default::default(),
            );
            let resolved = quill_config::resolve(&parsed, &Default::default());
            let adjusted: Vec<_> = resolved
                .diagnostics
                .iter()
                .filter(|d| d.code.starts_with("mpm/"))
                .map(|d| d.code)
                .collect();
            assert!(
                adjusted.is_empty(),
                "{mpm}: {adjusted:?} after the edits:\n{fixed}"
            );
        }
    }
}
