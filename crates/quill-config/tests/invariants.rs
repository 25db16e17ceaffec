//! Properties that must hold for every configuration, however odd.
//!
//! * `mpm`: configurations generated as text (random MPM, random subset of
//!   its directives with hostile values) resolve to MPM settings that keep
//!   httpd 2.4's invariants (reference/apache-mpm.md §2–3), and every
//!   change Apache makes is reported at the line that caused it.
//! * `parser`: arbitrary text never panics the parser or the resolver, and
//!   every span (tree and diagnostics) points inside the file it names.
//!
//! A failing property prints the generated configuration; proptest also
//! saves its seed under `tests/invariants.proptest-regressions` to replay it.

use std::collections::BTreeMap;
use std::path::Path;

use quill_config::fs::MemFs;
use quill_config::model::{MpmKind, MpmSettings};
use quill_config::syntax::{Node, ParseOptions, ParsedConfig, parse_str};
use quill_config::{Diagnostic, ResolveOptions, Resolved, SourceMap, Span, resolve};

const MAIN: &str = "/etc/apache2/apache2.conf";

/// A small tree around the main file: an included MPM file and a site, so
/// spans in more than one file get checked.
fn fixture_fs() -> MemFs {
    MemFs::new()
        .with(
            "/etc/apache2/ports.conf",
            "Listen 8080\n<IfModule ssl_module>\n  Listen 443\n</IfModule>\n",
        )
        .with(
            "/etc/apache2/sites-enabled/000-default.conf",
            "<VirtualHost *:80>\n  ServerName www.example.com\n  DocumentRoot ${DOCROOT}\n  <Directory /var/www>\n    Require all granted\n  </Directory>\n</VirtualHost>\n",
        )
        .with("/etc/apache2/conf.d/loop.conf", "Include conf.d/loop.conf\n")
}

fn parse_options() -> ParseOptions {
    ParseOptions {
        server_root: Some("/etc/apache2".into()),
        env: BTreeMap::from([
            ("DOCROOT".to_string(), "/var/www/html".to_string()),
            ("SPACED".to_string(), "a  b".to_string()),
            ("UNICODE".to_string(), "é€".to_string()),
        ]),
        ..ParseOptions::default()
    }
}

fn parse_and_resolve(text: &str, online_cores: u32) -> (ParsedConfig, Resolved) {
    let parsed = parse_str(Path::new(MAIN), text, &fixture_fs(), &parse_options());
    let resolved = resolve(
        &parsed,
        &ResolveOptions {
            online_cores,
            ..ResolveOptions::default()
        },
    );
    (parsed, resolved)
}

/// Why a span is wrong, if it is.
fn span_problem(sources: &SourceMap, span: Span) -> Option<String> {
    let Some(file) = sources.get(span.file) else {
        return Some(format!("names file {:?}, which was never read", span.file));
    };
    if span.start > span.end || span.end as usize > file.text.len() {
        return Some(format!(
            "{}..{} is outside {} ({} bytes)",
            span.start,
            span.end,
            file.path.display(),
            file.text.len()
        ));
    }
    if file.text.get(span.range()).is_none() {
        return Some(format!(
            "{}..{} cuts a character in {}",
            span.start,
            span.end,
            file.path.display()
        ));
    }
    None
}

fn diagnostic_span_problems(sources: &SourceMap, d: &Diagnostic) -> Vec<String> {
    d.span
        .iter()
        .chain(d.secondary.iter().map(|l| &l.span))
        .filter_map(|&s| span_problem(sources, s))
        .map(|p| format!("[{}] {}: {p}", d.code, d.message))
        .collect()
}

fn node_span_problems(sources: &SourceMap, nodes: &[Node], out: &mut Vec<String>) {
    for n in nodes {
        let (what, spans, children): (_, Vec<Span>, &[Node]) = match n {
            Node::Directive(d) => (
                &d.name,
                [d.span, d.name_span]
                    .into_iter()
                    .chain(d.args.iter().map(|a| a.span))
                    .collect(),
                &[],
            ),
            Node::Section(s) => (
                &s.name,
                [s.span, s.name_span]
                    .into_iter()
                    .chain(s.close_span)
                    .chain(s.args.iter().map(|a| a.span))
                    .collect(),
                &s.children,
            ),
        };
        for s in spans {
            if let Some(p) = span_problem(sources, s) {
                out.push(format!("{what}: {p}"));
            }
        }
        node_span_problems(sources, children, out);
    }
}

/// Every span of the tree and of every diagnostic, checked.
fn all_span_problems(parsed: &ParsedConfig, resolved: &Resolved) -> Vec<String> {
    let mut out = Vec::new();
    node_span_problems(&parsed.sources, &parsed.nodes, &mut out);
    for d in &resolved.diagnostics {
        out.extend(diagnostic_span_problems(&resolved.sources, d));
    }
    out
}

mod mpm {
    use super::*;
    use proptest::prelude::*;

    /// Values as a user (or a typo) might write them, already as words.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (0i64..=80).prop_map(|v| v.to_string()),
            2 => (80i64..=5000).prop_map(|v| v.to_string()),
            1 => (-100i64..0).prop_map(|v| v.to_string()),
            1 => any::<i64>().prop_map(|v| v.to_string()),
            1 => prop::sample::select(vec![
                "0", "-0", "+7", "2147483647", "2147483648", "-2147483648", "-2147483649",
                "4294967296", "99999999999999999999", "200001", "20001", "100001",
                "ten", "25k", "0x10", "1e3", "12.5", "-", "+", "\"\"", "\" 12\"", "'30 '",
            ])
            .prop_map(str::to_string),
        ]
    }

    fn mpm_kind() -> impl Strategy<Value = MpmKind> {
        prop::sample::select(vec![MpmKind::Prefork, MpmKind::Worker, MpmKind::Event])
    }

    /// Directive names this MPM accepts (the others are Apache errors and
    /// are covered by the resolver's own tests).
    fn names_for(kind: MpmKind) -> Vec<&'static str> {
        let mut v = vec![
            "StartServers",
            "ServerLimit",
            "MaxRequestWorkers",
            "MaxClients",
            "MaxConnectionsPerChild",
            "ListenCoresBucketsRatio",
        ];
        match kind {
            MpmKind::Prefork => v.extend(["MinSpareServers", "MaxSpareServers"]),
            MpmKind::Worker | MpmKind::Event => v.extend([
                "MinSpareThreads",
                "MaxSpareThreads",
                "ThreadsPerChild",
                "ThreadLimit",
            ]),
        }
        v
    }

    #[derive(Debug, Clone)]
    struct Generated {
        kind: MpmKind,
        online_cores: u32,
        text: String,
    }

    fn config() -> impl Strategy<Value = Generated> {
        (mpm_kind(), 1u32..=16, any::<bool>()).prop_flat_map(|(kind, online_cores, wrap)| {
            let line = (prop::sample::select(names_for(kind)), value());
            prop::collection::vec(line, 0..10).prop_map(move |lines| {
                let module = format!("mpm_{}_module", kind.name());
                let mut text = format!(
                    "LoadModule {module} /usr/lib/apache2/modules/mod_mpm_{}.so\nListen 80\n",
                    kind.name()
                );
                if wrap {
                    text.push_str(&format!("<IfModule {module}>\n"));
                }
                for (name, v) in lines {
                    text.push_str(&format!("    {name} {v}\n"));
                }
                if wrap {
                    text.push_str("</IfModule>\n");
                }
                Generated {
                    kind,
                    online_cores,
                    text,
                }
            })
        })
    }

    /// httpd's invariants on the settings it runs with (apache-mpm.md §3).
    fn check_settings(kind: MpmKind, s: &MpmSettings) -> Result<(), TestCaseError> {
        let nb = s.num_buckets;
        prop_assert!(nb >= 1);
        prop_assert!(s.start_servers >= 1 && s.start_servers >= nb);
        prop_assert!(s.min_spare >= 1);
        prop_assert!(s.server_limit >= 1);
        prop_assert_eq!(s.max_threads, s.max_children * s.threads_per_child);
        match kind {
            MpmKind::Prefork => {
                prop_assert!(s.server_limit <= 200_000);
                prop_assert_eq!((s.threads_per_child, s.thread_limit), (1, 1));
                prop_assert!(s.max_request_workers >= 1);
                // httpd's prefork_run raises MaxRequestWorkers to the
                // bucket count after the ServerLimit check (§3.1 step 6),
                // so with more buckets than ServerLimit it ends above it.
                prop_assert!(
                    s.max_request_workers <= s.server_limit.max(nb),
                    "MaxRequestWorkers {} above ServerLimit {} ({} buckets)",
                    s.max_request_workers,
                    s.server_limit,
                    nb
                );
                prop_assert_eq!(s.max_children, s.max_request_workers);
                prop_assert!(s.min_spare >= nb);
                prop_assert!(u64::from(s.max_spare) >= u64::from(s.min_spare) + u64::from(nb));
                prop_assert_eq!(
                    s.children_at_start,
                    s.start_servers.min(s.max_request_workers)
                );
            }
            MpmKind::Worker | MpmKind::Event => {
                let tpc = s.threads_per_child;
                let cap = if kind == MpmKind::Event {
                    100_000
                } else {
                    20_000
                };
                prop_assert!(s.server_limit <= 20_000);
                prop_assert!((1..=cap).contains(&s.thread_limit));
                prop_assert!(tpc >= 1 && tpc <= s.thread_limit);
                prop_assert!(s.max_request_workers >= tpc);
                prop_assert_eq!(
                    s.max_request_workers % tpc,
                    0,
                    "MaxRequestWorkers {} is not a multiple of ThreadsPerChild {}",
                    s.max_request_workers,
                    tpc
                );
                prop_assert!(s.max_children >= 1);
                // As for prefork: worker_run/event_run raise the child
                // limit to the bucket count after the ServerLimit cap
                // (§3.2 step 12).
                let child_cap = s.server_limit.max(nb);
                prop_assert!(
                    s.max_children <= child_cap,
                    "{} children allowed but ServerLimit is {} ({} buckets)",
                    s.max_children,
                    s.server_limit,
                    nb
                );
                prop_assert!(u64::from(s.max_threads) <= u64::from(child_cap) * u64::from(tpc));
                prop_assert!(s.max_children <= s.max_request_workers / tpc || s.max_children == nb);
                prop_assert!(
                    u64::from(s.min_spare) >= u64::from(tpc) * u64::from(nb - 1) + u64::from(nb)
                );
                prop_assert!(
                    u64::from(s.max_spare)
                        >= u64::from(s.min_spare) + (u64::from(tpc) + 1) * u64::from(nb),
                    "MaxSpareThreads {} below MinSpareThreads {} + (ThreadsPerChild {} + 1) × {}",
                    s.max_spare,
                    s.min_spare,
                    tpc,
                    nb
                );
                prop_assert_eq!(s.children_at_start, s.start_servers.min(s.max_children));
                prop_assert_eq!(
                    s.async_request_worker_factor.is_some(),
                    kind == MpmKind::Event
                );
            }
        }
        Ok(())
    }

    /// Directive names (as the resolver's table spells them, plus the old
    /// ones) an `mpm/` diagnostic may point at.
    const MPM_DIRECTIVES: &[&str] = &[
        "StartServers",
        "MinSpareServers",
        "MaxSpareServers",
        "MinSpareThreads",
        "MaxSpareThreads",
        "ThreadsPerChild",
        "ThreadLimit",
        "ServerLimit",
        "MaxRequestWorkers",
        "MaxClients",
    ];

    /// Every adjustment is shown at the directive it changes, or at the
    /// MPM's LoadModule line when that directive was left at its default.
    fn check_adjustments_located(
        parsed: &ParsedConfig,
        resolved: &Resolved,
    ) -> Result<(), TestCaseError> {
        let load_module = parsed
            .modules
            .iter()
            .find(|m| m.name.starts_with("mpm_"))
            .map(|m| m.span);
        for d in resolved
            .diagnostics
            .iter()
            .filter(|d| d.code.starts_with("mpm/"))
        {
            let Some(span) = d.span else {
                return Err(TestCaseError::fail(format!(
                    "[{}] {} has no location",
                    d.code, d.message
                )));
            };
            if Some(span) == load_module {
                continue;
            }
            let snippet = resolved.sources.snippet(span);
            let first_word = snippet.split_ascii_whitespace().next().unwrap_or("");
            prop_assert!(
                MPM_DIRECTIVES
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(first_word)),
                "[{}] {} points at `{}`, neither an MPM directive nor the LoadModule line",
                d.code,
                d.message,
                snippet
            );
        }
        Ok(())
    }

    /// A value that ends up different from what was written is never
    /// changed silently: an `mpm/` diagnostic sits on the line that wrote it
    /// (the last one, which is the one Apache keeps).
    fn check_changes_disclosed(
        parsed: &ParsedConfig,
        resolved: &Resolved,
    ) -> Result<(), TestCaseError> {
        let s = &resolved.config.mpm;
        let knobs: [(&[&str], u32); 7] = [
            (&["StartServers"], s.start_servers),
            (&["MinSpareServers", "MinSpareThreads"], s.min_spare),
            (&["MaxSpareServers", "MaxSpareThreads"], s.max_spare),
            (&["ThreadsPerChild"], s.threads_per_child),
            (&["ThreadLimit"], s.thread_limit),
            (&["ServerLimit"], s.server_limit),
            (&["MaxRequestWorkers", "MaxClients"], s.max_request_workers),
        ];
        for (names, now) in knobs {
            let last = parsed.nodes.iter().rev().find_map(|n| match n {
                Node::Directive(d) if names.iter().any(|x| d.is(x)) => Some(d),
                _ => None,
            });
            let Some(d) = last else { continue };
            let Some(arg) = d.args.first() else { continue };
            let written = quill_config::resolve::mpm::atoi(&arg.value);
            if written == i64::from(now) {
                continue;
            }
            prop_assert!(
                resolved
                    .diagnostics
                    .iter()
                    .any(|x| x.code.starts_with("mpm/") && x.span == Some(d.span)),
                "{} {} became {now} without an mpm/ diagnostic on its line",
                d.name,
                arg.value
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn resolved_mpm_settings_keep_apaches_invariants(g in config()) {
            let (parsed, resolved) = parse_and_resolve(&g.text, g.online_cores);
            let errors: Vec<_> = resolved.diagnostics.iter().filter(|d| d.is_error()).collect();
            if errors.is_empty() {
                let s = &resolved.config.mpm;
                prop_assert_eq!(s.mpm, g.kind);
                check_settings(g.kind, s).map_err(|e| {
                    TestCaseError::fail(format!("{e}\nonline cores: {}\nsettings: {s:#?}", g.online_cores))
                })?;
            }
            check_adjustments_located(&parsed, &resolved)?;
            check_changes_disclosed(&parsed, &resolved)?;
            let problems = all_span_problems(&parsed, &resolved);
            prop_assert!(problems.is_empty(), "{problems:#?}");
        }
    }
}

mod parser {
    use super::*;
    use proptest::prelude::*;

    /// Pieces of httpd.conf syntax, so random text reaches past the lexer.
    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(vec![
                "\n", "\n", "\n", " ", "\t", "\\\n", "\\", "\r\n", "#", "\"", "'", "\\\"",
                "${", "}", "${DOCROOT}", "${SPACED}", "${UNICODE}", "${NOPE}", "<", ">", "</",
                "<IfModule ", "</IfModule>", "mpm_event_module", "!mod_ssl.c", "<IfDefine ",
                "</IfDefine>", "<IfVersion ", ">= 2.4", "</IfVersion>", "<IfFile ", "</IfFile>",
                "<VirtualHost ", "*:80", "*:443", "</VirtualHost>", "<Directory ", "/var/www",
                "</Directory>", "<Location ", "</Location>", "LoadModule ",
                "mpm_prefork_module m.so", "mpm_worker_module w.so", "Include ",
                "IncludeOptional ", "ports.conf", "sites-enabled/*.conf", "conf.d/loop.conf",
                "Define ", "UnDefine ", "X", "ServerRoot ", "Listen ", "80", "ServerName ",
                "a.example", "ServerAlias ", "DocumentRoot ", "Alias ", "AliasMatch ", "(",
                "CustomLog ", "LogFormat ", "StartServers ", "ThreadsPerChild ",
                "MaxRequestWorkers ", "ServerLimit ", "-1", "0", "99999999999", "KeepAlive ",
                "On", "KeepAliveTimeout ", "5ms", "WSGIDaemonProcess ", "processes=2",
                "WSGIScriptAlias ", "é", "\u{a0}", "\u{2028}", "𝄞",
            ])
            .prop_map(str::to_string),
            1 => any::<String>(),
            1 => "[ -~]{0,12}",
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(token(), 0..80).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn arbitrary_text_never_panics_and_spans_stay_in_their_files(src in text()) {
            let (parsed, resolved) = parse_and_resolve(&src, 2);
            let problems = all_span_problems(&parsed, &resolved);
            prop_assert!(problems.is_empty(), "{problems:#?}");
            let diags: Vec<_> = resolved.diagnostics.iter().cloned().collect();
            let _ = quill_config::diag::render_plain(&diags, &resolved.sources);
        }

        #[test]
        fn arbitrary_unicode_never_panics(src in any::<String>()) {
            let (parsed, resolved) = parse_and_resolve(&src, 2);
            let problems = all_span_problems(&parsed, &resolved);
            prop_assert!(problems.is_empty(), "{problems:#?}");
        }
    }
}

mod regressions {
    use super::*;
    use quill_config::syntax::{Limits, parse_file};

    /// Deepest section nesting of a tree, found without recursion (the tree
    /// under test may be deep enough to overflow a recursive walk).
    fn max_section_depth(nodes: &[Node]) -> usize {
        let mut todo: Vec<(&[Node], usize)> = vec![(nodes, 0)];
        let mut max = 0;
        while let Some((level, depth)) = todo.pop() {
            for n in level {
                if let Node::Section(s) = n {
                    max = max.max(depth + 1);
                    todo.push((&s.children, depth + 1));
                }
            }
        }
        max
    }

    /// `files` files; each opens `depth` nested `<RequireAll>` and includes
    /// the next one from the innermost.
    fn nested_include_chain(files: usize, depth: usize) -> MemFs {
        let mut fs = MemFs::new();
        for k in 0..files {
            let mut s = String::new();
            if k == 0 {
                s.push_str("LoadModule mpm_event_module m.so\nListen 80\n");
            }
            s.push_str(&"<RequireAll>\n".repeat(depth));
            if k + 1 < files {
                s.push_str(&format!("Include /chain/{}.conf\n", k + 1));
            }
            s.push_str("Require all granted\n");
            s.push_str(&"</RequireAll>\n".repeat(depth));
            fs.insert(format!("/chain/{k}.conf"), s);
        }
        fs
    }

    /// Found while reviewing the limits for the fuzzer: `max_section_depth`
    /// is checked per file, so sections opened inside sections of an
    /// including file stack up to max_section_depth × max_include_depth
    /// (64 × 128 = 8,192) levels, and `resolve::walk_level` (like every
    /// recursive walk of the tree) overflows the stack: 128 such files abort
    /// a release build on a 2 MiB thread, 30 a debug build. This chain (20
    /// files, 1,280 levels today) is small enough not to crash so the test
    /// fails by assertion; the limit must hold for the whole tree.
    #[test]
    fn section_nesting_across_includes_is_bounded_by_the_section_depth_limit() {
        let limits = Limits::default();
        let fs = nested_include_chain(20, limits.max_section_depth);
        let parsed = parse_file(Path::new("/chain/0.conf"), &fs, &ParseOptions::default());
        let depth = max_section_depth(&parsed.nodes);
        let codes: Vec<_> = parsed.diagnostics.iter().map(|d| d.code).collect();
        assert!(
            depth <= limits.max_section_depth,
            "sections nest {depth} deep through includes, above the limit of {} (diagnostics: {codes:?})",
            limits.max_section_depth
        );
        assert!(codes.contains(&"syntax/too-deep"), "{codes:?}");
        let resolved = resolve(&parsed, &ResolveOptions::default());
        assert!(all_span_problems(&parsed, &resolved).is_empty());
    }

    /// Includes that fan out (each file including the next many times)
    /// multiply the input; `max_total_bytes` must stop the parse, once.
    #[test]
    fn include_fan_out_stops_at_the_total_bytes_budget() {
        let leaf = "Alias /static /srv/static\n".repeat(40);
        let fs = MemFs::new()
            .with(
                "/fan/main.conf",
                "LoadModule mpm_event_module m.so\nListen 80\n".to_string()
                    + &"Include /fan/mid.conf\n".repeat(50),
            )
            .with("/fan/mid.conf", "Include /fan/leaf.conf\n".repeat(50))
            .with("/fan/leaf.conf", leaf.clone());
        let budget = 256 << 10;
        let opts = ParseOptions {
            limits: Limits {
                max_total_bytes: budget,
                ..Limits::default()
            },
            ..ParseOptions::default()
        };
        let parsed = parse_file(Path::new("/fan/main.conf"), &fs, &opts);
        let stops = parsed
            .diagnostics
            .iter()
            .filter(|d| d.code == "syntax/too-much-input")
            .count();
        assert_eq!(stops, 1);
        let leaf_copies = parsed.nodes.len() / 40;
        assert!(
            (leaf_copies * leaf.len()) as u64 <= budget,
            "{leaf_copies} copies of the leaf file parsed, over the {budget}-byte budget"
        );
    }
}
