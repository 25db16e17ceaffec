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
