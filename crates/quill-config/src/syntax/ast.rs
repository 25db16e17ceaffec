//! The syntax tree after parse-time processing.
//!
//! Includes are spliced in, `${VAR}` expanded, and the parse-time
//! conditionals (`<IfDefine>`, `<IfModule>`, `<IfVersion>`, `<IfFile>`)
//! evaluated: a true one is replaced by its contents, a false one vanishes.
//! Every other container is kept as a [`Section`] with its children,
//! including ones Quill does not know.

use serde::Serialize;

use crate::source::Span;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arg {
    /// The word after unquoting and unescaping.
    pub value: String,
    pub span: Span,
    pub quoted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// The name as written (Apache compares names case-insensitively).
    pub name: String,
    pub name_span: Span,
    pub args: Vec<Arg>,
    /// The whole logical line.
    pub span: Span,
}

impl Directive {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// Span of the argument list (or of the name when there is none).
    pub fn args_span(&self) -> Span {
        args_span(&self.args, self.name_span)
    }
}

/// From the first argument to the last, or `name` without arguments.
fn args_span(args: &[Arg], name: Span) -> Span {
    match (args.first(), args.last()) {
        (Some(a), Some(b)) => a.span.to(b.span),
        _ => name,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Container name without `<`, as written (e.g. `VirtualHost`).
    pub name: String,
    pub name_span: Span,
    pub args: Vec<Arg>,
    /// The opening line.
    pub span: Span,
    /// The closing line, if the section was closed.
    pub close_span: Option<Span>,
    pub children: Vec<Node>,
}

impl Section {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// Span of the argument list (or of the name when there is none).
    pub fn args_span(&self) -> Span {
        args_span(&self.args, self.name_span)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Node {
    Directive(Directive),
    Section(Section),
}

impl Node {
    pub fn span(&self) -> Span {
        match self {
            Node::Directive(d) => d.span,
            Node::Section(s) => s.span,
        }
    }
}

/// Visit every directive with the chain of sections that encloses it.
pub fn walk<'a>(nodes: &'a [Node], f: &mut dyn FnMut(&'a Directive, &[&'a Section])) {
    fn go<'a>(
        nodes: &'a [Node],
        stack: &mut Vec<&'a Section>,
        f: &mut dyn FnMut(&'a Directive, &[&'a Section]),
    ) {
        for n in nodes {
            match n {
                Node::Directive(d) => f(d, stack),
                Node::Section(s) => {
                    stack.push(s);
                    go(&s.children, stack, f);
                    stack.pop();
                }
            }
        }
    }
    go(nodes, &mut Vec::new(), f);
}
