//! Arbitrary bytes → (lossy UTF-8) main configuration → parse → resolve →
//! render every diagnostic.
//!
//! The input is split at NUL bytes: the first part is the main file, the
//! next ones (if any) become the files of [`FUZZ_FILES`], so the fuzzer
//! controls included files too (and chains of them). A few fixed files sit
//! next to them: an MPM `.load` and `.conf`, a site, and a file that
//! includes itself.
//!
//! Besides "no panic, no hang, no stack overflow" it checks that every span
//! (of a node, of a diagnostic and of its secondary labels) points inside
//! the file it names.

#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use quill_config::diag::render_plain;
use quill_config::fs::MemFs;
use quill_config::syntax::{Node, ParseOptions, parse_str};
use quill_config::{ResolveOptions, SourceMap, Span, resolve};

const ROOT: &str = "/etc/apache2";

/// Where the second, third… parts of the input go.
const FUZZ_FILES: &[&str] = &[
    "/etc/apache2/sites-enabled/fuzz.conf",
    "/etc/apache2/conf.d/a.conf",
    "/etc/apache2/conf.d/b.conf",
];

fn fixed_fs() -> MemFs {
    MemFs::new()
        .with(
            "/etc/apache2/mods-enabled/mpm_event.load",
            "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n",
        )
        .with(
            "/etc/apache2/mods-enabled/mpm_event.conf",
            "<IfModule mpm_event_module>\n\tStartServers 2\n\tMinSpareThreads 25\n\tMaxSpareThreads 75\n\tThreadLimit 64\n\tThreadsPerChild 25\n\tMaxRequestWorkers 150\n</IfModule>\n",
        )
        .with(
            "/etc/apache2/sites-enabled/000-default.conf",
            "<VirtualHost *:80>\n\tServerName www.example.com\n\tServerAlias *.example.com\n\tDocumentRoot ${DOCROOT}\n\t<Directory /var/www/html>\n\t\tRequire all granted\n\t</Directory>\n</VirtualHost>\n",
        )
        .with("/etc/apache2/conf.d/loop.conf", "Include conf.d/loop.conf\nListen 8080\n")
        .with("/etc/apache2/ports.conf", "Listen 80\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n")
}

fn check_span(sources: &SourceMap, span: Span, what: &str) {
    let file = sources.get(span.file).unwrap_or_else(|| {
        panic!(
            "{what}: span names file {:?}, which was never read",
            span.file
        )
    });
    assert!(
        span.start <= span.end && span.end as usize <= file.text.len(),
        "{what}: span {}..{} outside {} ({} bytes)",
        span.start,
        span.end,
        file.path.display(),
        file.text.len()
    );
}

fn check_nodes(sources: &SourceMap, nodes: &[Node]) {
    for n in nodes {
        match n {
            Node::Directive(d) => {
                check_span(sources, d.span, "directive");
                check_span(sources, d.name_span, "directive name");
                for a in &d.args {
                    check_span(sources, a.span, "argument");
                }
            }
            Node::Section(s) => {
                check_span(sources, s.span, "section");
                check_span(sources, s.name_span, "section name");
                if let Some(c) = s.close_span {
                    check_span(sources, c, "section close");
                }
                for a in &s.args {
                    check_span(sources, a.span, "section argument");
                }
                check_nodes(sources, &s.children);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(FUZZ_FILES.len() + 1, |&b| b == 0);
    let main = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let mut fs = fixed_fs();
    for (path, part) in FUZZ_FILES.iter().zip(parts) {
        fs.insert(*path, String::from_utf8_lossy(part).into_owned());
    }
    let opts = ParseOptions {
        server_root: Some(ROOT.into()),
        defines: vec!["FUZZ".to_string()],
        env: BTreeMap::from([
            ("DOCROOT".to_string(), "/var/www/html".to_string()),
            ("SPACED".to_string(), "a b  c".to_string()),
            ("EMPTY".to_string(), String::new()),
            ("UNICODE".to_string(), "é€𝄞".to_string()),
        ]),
        ..ParseOptions::default()
    };
    let parsed = parse_str(Path::new("/etc/apache2/apache2.conf"), &main, &fs, &opts);
    check_nodes(&parsed.sources, &parsed.nodes);
    let resolved = resolve(&parsed, &ResolveOptions::default());
    let diags: Vec<_> = resolved.diagnostics.iter().cloned().collect();
    for d in &diags {
        if let Some(s) = d.span {
            check_span(&resolved.sources, s, d.code);
        }
        for l in &d.secondary {
            check_span(&resolved.sources, l.span, d.code);
        }
        let _ =
            resolved
                .sources
                .location(d.span.unwrap_or(Span::new(quill_config::FileId(0), 0, 0)));
    }
    let _ = render_plain(&diags, &resolved.sources);
});
