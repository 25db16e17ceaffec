//! Keep-alive under the synchronous MPMs.

use quill_config::Severity;
use quill_config::resolve::last_in;
use quill_config::source::Span;
use quill_config::syntax::Directive;
use quill_mpm::Knob;

use super::ids;
use crate::context::{Ctx, after_line, insert_line};
use crate::finding::{Edit, Finding};
use crate::rule::{Example, Family, Rule};

/// KeepAliveTimeout proposed (mod_wsgi-express's choice): long enough for
/// a browser to fetch a page's resources on one connection.
pub const PROPOSED_TIMEOUT_S: u64 = 2;

/// The directive in force for `name` in a server: its own, else the main
/// server's.
fn setting<'a>(ctx: &Ctx<'a>, server: Option<usize>, name: &str) -> Option<&'a Directive> {
    let own = server
        .and_then(|v| ctx.items.vhosts.get(v))
        .and_then(|vi| last_in(&vi.items, name))
        .map(|i| i.directive);
    own.or_else(|| last_in(&ctx.items.global, name).map(|i| i.directive))
}

fn fmt_s(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// Servers sharing one keep-alive setting: the directive that sets the
/// timeout (if written), the timeout in ms, the servers' names, and the
/// first server (to place a new line).
type Group = (Option<Span>, u64, Vec<String>, Option<usize>);

pub static KEEPALIVE_PINNING: Rule = Rule {
    id: ids::KEEPALIVE_PINNING,
    // A note: it predicts what a load would do, and fires on httpd's own
    // default (KeepAliveTimeout 5), so a stock tree passes `--deny warnings`.
    severity: Severity::Note,
    family: Family::KeepAlive,
    summary: "KeepAlive under prefork/worker holds a thread per idle client for KeepAliveTimeout",
    explanation: "\
What: with prefork and worker a kept-alive connection keeps its thread (prefork: its \
whole process) while it waits for the client's next request, up to KeepAliveTimeout, \
and up to 2 s more of lingering close when the client does not close first \
(reference/apache-mpm.md §8.1). Those threads are busy for the pool: they serve nobody, \
count against MaxRequestWorkers and make the parent fork more children. Event parks \
idle connections without a thread. By Little's law, N new connections a second each \
waiting T seconds after their last response hold N × T threads. The rule fires above \
2 s.

Why it matters: at MaxRequestWorkers ÷ KeepAliveTimeout new connections a second the \
waits alone hold every thread and new clients queue in the listen backlog.

Fix: lower KeepAliveTimeout to 2 s (what mod_wsgi-express uses: enough for a browser \
to fetch a page's resources over one connection), or switch to the event MPM.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/keepalive-pinning/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/keepalive-pinning/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("keepalive_timeout_s", "KeepAliveTimeout in force"),
        (
            "threads_per_10_connections_per_s",
            "threads held waiting at 10 new connections a second",
        ),
        (
            "saturating_connections_per_s",
            "new connections a second at which the waits hold every thread",
        ),
        ("servers", "the servers this setting applies to"),
        ("proposed_timeout_s", "KeepAliveTimeout proposed"),
    ],
    check: |ctx, out| {
        if ctx.mpm.kind == quill_mpm::Mpm::Event {
            return;
        }
        // Servers grouped by the directive that sets their timeout.
        let mut groups: Vec<Group> = Vec::new();
        let servers = std::iter::once((None, &ctx.config.main_server))
            .chain(ctx.config.vhosts.iter().map(|v| (Some(v.index), &v.server)));
        for (server, cfg) in servers {
            let ka = &cfg.keep_alive;
            if !ka.enabled || ka.timeout_ms <= PROPOSED_TIMEOUT_S * 1000 {
                continue;
            }
            let span = setting(ctx, server, "KeepAliveTimeout").map(|d| d.span);
            let name = match (server, &cfg.server_name) {
                (None, Some(n)) => format!("main server ({n})"),
                (None, None) => "main server".to_string(),
                (Some(v), Some(n)) => format!("virtual host #{v} ({n})"),
                (Some(v), None) => format!("virtual host #{v}"),
            };
            match groups
                .iter_mut()
                .find(|g| g.0 == span && g.1 == ka.timeout_ms)
            {
                Some(g) => g.2.push(name),
                None => groups.push((span, ka.timeout_ms, vec![name], server)),
            }
        }
        let threads = crate::context::knob_value(&ctx.mpm.pool, Knob::MaxRequestWorkers);
        let unit = if ctx.mpm.kind.is_threaded() {
            "threads"
        } else {
            "processes"
        };
        for (span, timeout_ms, names, server) in groups {
            let t = timeout_ms as f64 / 1000.0;
            let per_10 = (10.0 * t).round() as i64;
            let saturating = (threads as f64 / t).floor() as i64;
            let per_10_after = 10 * PROPOSED_TIMEOUT_S as i64;
            let mut f = Finding::new(
                &KEEPALIVE_PINNING,
                format!(
                    "KeepAlive On under {}: every client connection holds a worker {} for KeepAliveTimeout {} after its last response — at 10 new connections a second that is {per_10} of the {threads} {unit}, and from {saturating} a second the waits alone hold them all",
                    ctx.mpm.kind.name(),
                    if ctx.mpm.kind.is_threaded() { "thread" } else { "process" },
                    fmt_s(timeout_ms)
                ),
            )
            .note(format!("applies to: {}", names.join(", ")))
            .note("add up to 2 s of lingering close per connection whose client does not close first; the event MPM holds no thread while a connection waits")
            .data("keepalive_timeout_s", t)
            .data("threads_per_10_connections_per_s", per_10)
            .data("saturating_connections_per_s", saturating)
            .data("servers", names.clone())
            .data("proposed_timeout_s", PROPOSED_TIMEOUT_S);
            let line = format!("KeepAliveTimeout {PROPOSED_TIMEOUT_S}");
            let edit = match span {
                Some(s) => {
                    f = f.at(
                        s,
                        format!(
                            "each connection holds its {} this long after its last response",
                            if ctx.mpm.kind.is_threaded() {
                                "thread"
                            } else {
                                "process"
                            }
                        ),
                    );
                    Some(Edit::replace(s, line.clone()))
                }
                None => {
                    // Not written: the default (5 s) applies; add the line after
                    // `KeepAlive On` or the MPM's LoadModule.
                    let anchor = setting(ctx, server, "KeepAlive")
                        .map(|d| d.span)
                        .or(ctx.mpm.load_module);
                    f = f.at_opt(anchor, "KeepAliveTimeout defaults to 5 s");
                    anchor
                        .and_then(|a| after_line(ctx.sources, a))
                        .or(ctx.mpm.insert_at)
                        .map(|at| insert_line(ctx.sources, at, &line))
                }
            };
            if let Some(e) = edit {
                f = f
                    .help(format!(
                        "write `{line}` — {per_10_after} {unit} at 10 new connections a second; or use the event MPM"
                    ))
                    .edit(e);
            }
            out.push(f);
        }
    },
};

#[cfg(test)]
mod tests {
    use crate::rules::testing::{fires_and_is_fixed, lint, only, rule_ids};

    #[test]
    fn keepalive_pinning_estimates_the_threads_it_holds() {
        let f = fires_and_is_fixed("keepalive-pinning");
        let k = only(&f, "keepalive-pinning");
        assert_eq!(k.data["threads_per_10_connections_per_s"], 100);
        assert_eq!(k.data["saturating_connections_per_s"], 15);
        assert!(
            k.diagnostic
                .help
                .as_deref()
                .is_some_and(|h| h.contains("`KeepAliveTimeout 2`"))
        );
    }

    #[test]
    fn event_and_keepalive_off_do_not_fire() {
        let event = "LoadModule mpm_event_module m.so\nListen 80\nServerName a.example\nKeepAlive On\nKeepAliveTimeout 15\n";
        assert!(!rule_ids(&lint(event)).contains(&"keepalive-pinning"));
        let off = "LoadModule mpm_worker_module m.so\nListen 80\nServerName a.example\nKeepAlive Off\nKeepAliveTimeout 15\n";
        assert!(!rule_ids(&lint(off)).contains(&"keepalive-pinning"));
    }

    #[test]
    fn the_default_timeout_gets_a_new_line() {
        let text = "LoadModule mpm_prefork_module m.so\nListen 80\nServerName a.example\nKeepAlive On\nStartServers 5\n";
        let f = lint(text);
        let k = only(&f, "keepalive-pinning");
        assert_eq!(k.edits.len(), 1);
        assert_eq!(k.edits[0].replacement, "KeepAliveTimeout 2\n");
    }
}
