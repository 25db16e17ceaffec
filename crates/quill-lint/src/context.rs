//! What every rule reads: the parsed tree (for spans), the resolved model,
//! the resolver's diagnostics, the MPM directives as written and as Apache
//! runs them, the simulations, and the one coherent fix ([`Plan`]).

use quill_config::Diagnostic;
use quill_config::model::ResolvedConfig;
use quill_config::resolve::{Collected, Item, collect, mpm::atoi};
use quill_config::source::{FileId, Location, SourceMap, Span};
use quill_config::syntax::{Directive, Node, ParsedConfig, Section};
use quill_config::{Diagnostics, Resolved};
use quill_mpm::{AdjustedMpm, Knob, Mpm, MpmDirectives, PoolConfig, adjust};

use crate::finding::Edit;
use crate::plan::Plan;
use crate::sim::{ChurnMeasure, StartupRun};
use crate::tier::TierAssessment;

/// Sizes the memory estimate assumes (the user can pass their own).
#[derive(Debug, Clone, PartialEq)]
pub struct LintOptions {
    /// Resident memory of one front-end (Apache) child, MB.
    pub process_rss_mb: f64,
    /// Resident memory of one Python process with the application loaded
    /// (a daemon process; also what an embedded-mode child adds), MB.
    pub daemon_rss_mb: f64,
}

/// `--process-rss` default: an Apache 2.4 child with the usual modules and
/// mod_wsgi loaded (measured 10–30 MB on Debian 12).
pub const DEFAULT_PROCESS_RSS_MB: f64 = 20.0;
/// `--daemon-rss` default: a Python process running a Django/Flask
/// application (typically 60–150 MB).
pub const DEFAULT_DAEMON_RSS_MB: f64 = 100.0;

impl Default for LintOptions {
    fn default() -> Self {
        LintOptions {
            process_rss_mb: DEFAULT_PROCESS_RSS_MB,
            daemon_rss_mb: DEFAULT_DAEMON_RSS_MB,
        }
    }
}

/// The seven MPM directives whose values the plan can change, in the
/// order edits are written.
pub const KNOBS: [Knob; 7] = [
    Knob::ServerLimit,
    Knob::ThreadLimit,
    Knob::ThreadsPerChild,
    Knob::MaxRequestWorkers,
    Knob::StartServers,
    Knob::MinSpare,
    Knob::MaxSpare,
];

pub fn knob_index(k: Knob) -> usize {
    KNOBS.iter().position(|&x| x == k).unwrap_or(0)
}

/// A knob's value in a pool configuration, in directive units (worker/event
/// MaxRequestWorkers = the threads that can really serve).
pub fn knob_value(pool: &PoolConfig, k: Knob) -> i64 {
    let v = match k {
        Knob::StartServers => pool.start_servers,
        Knob::MinSpare => pool.min_spare,
        Knob::MaxSpare => pool.max_spare,
        Knob::ThreadsPerChild => pool.threads_per_child,
        Knob::ThreadLimit => pool.thread_limit,
        Knob::ServerLimit => pool.server_limit,
        Knob::MaxRequestWorkers => {
            if pool.mpm.is_threaded() {
                pool.daemons_limit.saturating_mul(pool.threads_per_child)
            } else {
                pool.max_request_workers
            }
        }
    };
    i64::from(v)
}

/// Whether `k` exists under `mpm` (prefork has no ThreadsPerChild/ThreadLimit).
pub fn knob_applies(mpm: Mpm, k: Knob) -> bool {
    mpm.is_threaded() || !matches!(k, Knob::ThreadsPerChild | Knob::ThreadLimit)
}

/// An MPM directive as written (the last occurrence wins, as in httpd).
#[derive(Debug, Clone, Copy)]
pub struct Written<'a> {
    pub directive: &'a Directive,
    pub value: i64,
}

/// The MPM as written and as Apache runs it.
#[derive(Debug)]
pub struct MpmFacts<'a> {
    pub kind: Mpm,
    /// Per [`KNOBS`] index.
    pub written: [Option<Written<'a>>; 7],
    /// Values as written, `None` = compiled-in default.
    pub raw: MpmDirectives,
    pub adjusted: AdjustedMpm,
    /// What Apache runs with.
    pub pool: PoolConfig,
    /// httpd's compiled-in defaults for this MPM (one bucket).
    pub defaults: PoolConfig,
    /// `LoadModule mpm_*_module` line.
    pub load_module: Option<Span>,
    /// Where a directive that is not written yet goes.
    pub insert_at: Option<InsertPoint>,
}

impl MpmFacts<'_> {
    pub fn written(&self, k: Knob) -> Option<Written<'_>> {
        self.written[knob_index(k)]
    }

    /// The value httpd starts from for `k`: as written, else the default
    /// (before any adjustment).
    pub fn as_written(&self, k: Knob) -> i64 {
        match self.written(k) {
            Some(w) => w.value,
            None => knob_value(&self.defaults, k),
        }
    }

    pub fn name(&self, k: Knob) -> &'static str {
        k.directive(self.kind)
    }

    /// Span to point at for `k`: its directive, else the LoadModule line.
    pub fn span(&self, k: Knob) -> Option<Span> {
        self.written(k)
            .map(|w| w.directive.span)
            .or(self.load_module)
    }

    /// Threads of one child (1 for prefork).
    pub fn tpc(&self) -> u32 {
        self.pool.threads_per_child.max(1)
    }
}

/// After which line, with which indentation, a new directive is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertPoint {
    pub file: FileId,
    /// Byte offset of the start of the line after the anchor.
    pub offset: usize,
    /// The anchor line's indentation (bytes).
    pub indent_len: usize,
    /// The anchor line's start.
    pub line_start: usize,
    /// The file does not end with a newline at `offset`.
    pub needs_newline: bool,
}

/// Everything the rules read.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub parsed: &'a ParsedConfig,
    pub config: &'a ResolvedConfig,
    pub sources: &'a SourceMap,
    pub diagnostics: &'a Diagnostics,
    pub options: &'a LintOptions,
    pub items: Collected<'a>,
    pub mpm: MpmFacts<'a>,
    /// The current configuration started with no load.
    pub startup: StartupRun,
    /// The current configuration under the standard noisy load (`None`
    /// when it cannot churn: no kill is possible).
    pub churn: Option<ChurnMeasure>,
    /// Front end against the daemon groups it delegates to.
    pub tier: Option<TierAssessment>,
    /// One set of MPM values that fixes every MPM finding at once.
    pub plan: Plan,
}

/// The directive at `loc`.
pub fn directive_at<'a>(
    parsed: &'a ParsedConfig,
    sources: &SourceMap,
    loc: &Location,
) -> Option<&'a Directive> {
    let mut found = None;
    quill_config::syntax::walk(&parsed.nodes, &mut |d, _| {
        if found.is_none() && sources.location(d.span) == *loc {
            found = Some(d);
        }
    });
    found
}

impl<'a> Ctx<'a> {
    pub fn new(
        parsed: &'a ParsedConfig,
        resolved: &'a Resolved,
        options: &'a LintOptions,
    ) -> Ctx<'a> {
        // The resolver already reported what `collect` finds; only the
        // grouping is wanted here.
        let mut scratch = Diagnostics::new();
        let items = collect(parsed, &mut scratch);
        let mpm = mpm_facts(parsed, &resolved.config, &items);
        let startup = crate::sim::startup(&mpm.pool);
        let churn = crate::sim::churn(&mpm.pool, &resolved.config);
        let tier = crate::tier::assess(&resolved.config, &mpm, &items);
        // The tier once the duplicate daemon groups are merged
        // (wsgi-duplicate-https-group's edit), so that the plan's
        // MaxRequestWorkers already fits it.
        let merged =
            crate::rules::wsgi::duplicate_groups(&resolved.config, parsed, &resolved.sources);
        let merged_tier = tier.as_ref().and_then(|t| {
            let left: Vec<_> = t
                .groups
                .iter()
                .filter(|g| !merged.iter().any(|(_, dup, _)| dup.name == g.name))
                .cloned()
                .collect();
            if left.len() == t.groups.len() {
                return None;
            }
            crate::tier::assess_groups(left, &mpm)
        });
        let plan = Plan::new(
            &mpm,
            churn.as_ref(),
            tier.as_ref(),
            merged_tier.as_ref(),
            &resolved.config,
        );
        Ctx {
            parsed,
            config: &resolved.config,
            sources: &resolved.sources,
            diagnostics: &resolved.diagnostics,
            options,
            items,
            mpm,
            startup,
            churn,
            tier,
            plan,
        }
    }

    /// The resolver's diagnostics with this code.
    pub fn resolver(&self, code: &str) -> impl Iterator<Item = &'a Diagnostic> + use<'a, '_> {
        let code = code.to_string();
        self.diagnostics.iter().filter(move |d| d.code == code)
    }

    /// Every known directive at server or virtual-host level (and inside
    /// directory sections), main server first.
    pub fn all_items(&self) -> impl Iterator<Item = (Option<usize>, &Item<'a>)> {
        self.items.global.iter().map(|i| (None, i)).chain(
            self.items
                .vhosts
                .iter()
                .enumerate()
                .flat_map(|(v, vi)| vi.items.iter().map(move |i| (Some(v), i))),
        )
    }

    /// The directive whose span starts at `loc` (model positions are made
    /// that way).
    pub fn directive_at(&self, loc: &Location) -> Option<&'a Directive> {
        directive_at(self.parsed, self.sources, loc)
    }

    /// The `<VirtualHost>` section of virtual host `v`.
    pub fn vhost_section(&self, v: usize) -> Option<&'a Section> {
        self.items.vhosts.get(v).map(|vi| vi.section)
    }

    /// An edit setting MPM knob `k` to `value`: rewrite its directive, or
    /// add one.
    pub fn knob_edit(&self, k: Knob, value: i64) -> Option<Edit> {
        knob_edit_in(&self.mpm, self.sources, k, value)
    }

    /// Where `span` is, as `file:line`.
    pub fn line_of(&self, span: Span) -> String {
        let loc = self.sources.location(span);
        format!("{}:{}", file_name(&loc), loc.line)
    }
}

fn file_name(loc: &Location) -> String {
    loc.file.file_name().map_or_else(
        || loc.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn knob_edit_in(mpm: &MpmFacts<'_>, sources: &SourceMap, k: Knob, value: i64) -> Option<Edit> {
    let name = mpm.name(k);
    match mpm.written(k) {
        Some(w) => Some(Edit::replace(w.directive.span, format!("{name} {value}"))),
        None => {
            let at = mpm.insert_at?;
            Some(insert_line(sources, at, &format!("{name} {value}")))
        }
    }
}

/// [`Ctx::knob_edit`] without the simulations [`Ctx::new`] runs: the
/// directive's name under this MPM (`MaxSpareThreads`, `MaxSpareServers`
/// …) and the edit setting it to `value`.
pub fn knob_edit(
    parsed: &ParsedConfig,
    resolved: &Resolved,
    k: Knob,
    value: i64,
) -> Option<(&'static str, Edit)> {
    let mut scratch = Diagnostics::new();
    let items = collect(parsed, &mut scratch);
    let mpm = mpm_facts(parsed, &resolved.config, &items);
    let edit = knob_edit_in(&mpm, &resolved.sources, k, value)?;
    Some((mpm.name(k), edit))
}

/// An edit adding `line` (no newline) at an insert point.
pub fn insert_line(sources: &SourceMap, at: InsertPoint, line: &str) -> Edit {
    let indent = sources
        .get(at.file)
        .and_then(|f| f.text.get(at.line_start..at.line_start + at.indent_len))
        .unwrap_or("");
    let lead = if at.needs_newline { "\n" } else { "" };
    Edit::insert(at.file, at.offset, format!("{lead}{indent}{line}\n"))
}

/// Insert point after the line holding `span`'s end.
pub fn after_line(sources: &SourceMap, span: Span) -> Option<InsertPoint> {
    let f = sources.get(span.file)?;
    let text = f.text.as_str();
    let start = span.start as usize;
    let line_start = text.get(..start)?.rfind('\n').map_or(0, |i| i + 1);
    let indent_len = text[line_start..]
        .bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .count();
    let end = (span.end as usize).min(text.len());
    let (offset, needs_newline) = match text[end..].find('\n') {
        Some(i) => (end + i + 1, false),
        None => (text.len(), true),
    };
    Some(InsertPoint {
        file: span.file,
        offset,
        indent_len,
        line_start,
        needs_newline,
    })
}

/// Insert point before the line holding `span`'s start (same indentation).
pub fn before_line(sources: &SourceMap, span: Span) -> Option<InsertPoint> {
    let f = sources.get(span.file)?;
    let text = f.text.as_str();
    let start = (span.start as usize).min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent_len = text[line_start..]
        .bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .count();
    Some(InsertPoint {
        file: span.file,
        offset: line_start,
        indent_len,
        line_start,
        needs_newline: false,
    })
}

/// The whole physical lines a directive occupies, newline included (for
/// deleting or moving it).
pub fn whole_lines(sources: &SourceMap, span: Span) -> Span {
    let Some(f) = sources.get(span.file) else {
        return span;
    };
    let text = f.text.as_str();
    let start = (span.start as usize).min(text.len());
    let end = (span.end as usize).min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
    Span::new(span.file, line_start, line_end)
}

/// The source text of whole lines (for moving a directive).
pub fn text_of(sources: &SourceMap, span: Span) -> String {
    sources.snippet(span).to_string()
}

/// Directives of the MPMs other than `kind` are unknown to httpd.
fn applies_to(name: &str, kind: Mpm) -> bool {
    match name {
        "MinSpareServers" | "MaxSpareServers" => kind == Mpm::Prefork,
        "MinSpareThreads" | "MaxSpareThreads" | "ThreadsPerChild" | "ThreadLimit" => {
            kind.is_threaded()
        }
        _ => true,
    }
}

fn knob_of(name: &str) -> Option<Knob> {
    Some(match name {
        "StartServers" => Knob::StartServers,
        "MinSpareServers" | "MinSpareThreads" => Knob::MinSpare,
        "MaxSpareServers" | "MaxSpareThreads" => Knob::MaxSpare,
        "ThreadsPerChild" => Knob::ThreadsPerChild,
        "ThreadLimit" => Knob::ThreadLimit,
        "ServerLimit" => Knob::ServerLimit,
        "MaxRequestWorkers" => Knob::MaxRequestWorkers,
        _ => return None,
    })
}

const OTHER_MPM_DIRECTIVES: &[&str] = &[
    "MaxConnectionsPerChild",
    "GracefulShutdownTimeout",
    "ListenBacklog",
    "ListenCoresBucketsRatio",
    "AsyncRequestWorkerFactor",
];

fn mpm_facts<'a>(
    parsed: &'a ParsedConfig,
    config: &ResolvedConfig,
    items: &Collected<'a>,
) -> MpmFacts<'a> {
    let kind = config.mpm.mpm;
    let mut written: [Option<Written<'a>>; 7] = [None; 7];
    let mut last_mpm_directive: Option<&'a Directive> = None;
    for item in &items.global {
        if item.in_dir() || item.def.module == "mod_so" || !applies_to(item.def.name, kind) {
            continue;
        }
        let knob = knob_of(item.def.name);
        if knob.is_none() && !OTHER_MPM_DIRECTIVES.contains(&item.def.name) {
            continue;
        }
        last_mpm_directive = Some(item.directive);
        let (Some(k), Some(arg)) = (knob, item.arg(0)) else {
            continue;
        };
        written[knob_index(k)] = Some(Written {
            directive: item.directive,
            value: atoi(arg),
        });
    }
    let value = |k: Knob| written[knob_index(k)].map(|w| w.value);
    // The resolver's reading of the rest (ListenBacklog, buckets, …) is in
    // the model; only the seven knobs are re-read here, for their spans.
    let m = &config.mpm;
    let ratio = i64::from(m.listen_cores_buckets_ratio);
    let raw = MpmDirectives {
        start_servers: value(Knob::StartServers),
        min_spare_servers: (kind == Mpm::Prefork)
            .then(|| value(Knob::MinSpare))
            .flatten(),
        max_spare_servers: (kind == Mpm::Prefork)
            .then(|| value(Knob::MaxSpare))
            .flatten(),
        min_spare_threads: kind.is_threaded().then(|| value(Knob::MinSpare)).flatten(),
        max_spare_threads: kind.is_threaded().then(|| value(Knob::MaxSpare)).flatten(),
        threads_per_child: value(Knob::ThreadsPerChild),
        thread_limit: value(Knob::ThreadLimit),
        server_limit: value(Knob::ServerLimit),
        max_request_workers: value(Knob::MaxRequestWorkers),
        max_connections_per_child: Some(m.max_connections_per_child),
        graceful_shutdown_timeout: Some(i64::from(m.graceful_shutdown_timeout)),
        listen_backlog: Some(i64::from(m.listen_backlog)),
        listen_cores_buckets_ratio: (ratio > 0).then_some(ratio),
        async_factor16: m.async_request_worker_factor.map(|f| i64::from(f) * 16),
        // Only the bucket count matters; reproduce it exactly.
        online_cores: if ratio > 0 {
            u32::try_from(ratio)
                .unwrap_or(1)
                .saturating_mul(m.num_buckets)
        } else {
            1
        },
    };
    let adjusted = adjust(kind, &raw);
    // The model is the authority on what Apache runs with.
    let pool = config.mpm.pool_config();
    let defaults = adjust(
        kind,
        &MpmDirectives {
            online_cores: 1,
            ..MpmDirectives::default()
        },
    )
    .pool;
    let load_module = parsed
        .modules
        .iter()
        .find(|mo| mo.name == format!("mpm_{}_module", kind.name()))
        .map(|mo| mo.span);
    let anchor = last_mpm_directive
        .map(|d| d.span)
        .or(load_module)
        .or_else(|| last_top_level(&parsed.nodes));
    let insert_at = anchor.and_then(|s| after_line(&parsed.sources, s));
    MpmFacts {
        kind,
        written,
        raw,
        adjusted,
        pool,
        defaults,
        load_module,
        insert_at,
    }
}

fn last_top_level(nodes: &[Node]) -> Option<Span> {
    nodes.last().map(|n| match n {
        Node::Directive(d) => d.span,
        Node::Section(s) => s.close_span.unwrap_or(s.span),
    })
}
