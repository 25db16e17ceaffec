//! Generated reference docs must match the definitions they come from.

use crate::{quill, repo};

#[test]
fn directive_reference_is_current() {
    let generated = quill(&["docs", "directives"]).stdout;
    let committed = std::fs::read_to_string(repo().join("docs/directives.md")).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/directives.md is stale; regenerate with:\n  cargo run -q -p quill -- docs directives > docs/directives.md"
    );
}

/// docs/worked-example.md shows real output: every ```console block that
/// starts with `$ quill …` is run from the repository's root, and must show
/// exactly what the command prints (stdout, then stderr, the repository's
/// directory written `<repo>`).
#[test]
fn worked_example_shows_real_output() {
    let doc = std::fs::read_to_string(repo().join("docs/worked-example.md")).unwrap_or_default();
    let mut checked = Vec::new();
    let mut rest = doc.as_str();
    while let Some(start) = rest.find("```console\n") {
        let body = &rest[start + "```console\n".len()..];
        let Some(end) = body.find("\n```") else {
            panic!("unclosed console block in docs/worked-example.md");
        };
        let block = &body[..end];
        rest = &body[end + 4..];
        let (command, shown) = block.split_once('\n').unwrap_or((block, ""));
        let Some(args) = command.strip_prefix("$ quill ") else {
            continue;
        };
        let args: Vec<&str> = args.split_whitespace().collect();
        let r = quill(&args);
        let printed = format!("{}{}", r.stdout, r.stderr);
        assert!(
            printed.trim_end() == shown.trim_end(),
            "docs/worked-example.md shows other output for `{command}`; it prints now:\n{printed}"
        );
        checked.push(command.to_string());
    }
    // config, check (three configurations), simulate, report.
    assert!(checked.len() >= 6, "{checked:?}");
}
