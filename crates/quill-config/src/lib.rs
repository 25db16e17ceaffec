//! # quill-config — Apache httpd.conf, read the way httpd 2.4 reads it
//!
//! ```text
//!  httpd.conf ─▶ syntax (lines, words, Include, Define, <IfModule>…) ─▶ tree with spans
//!                                                                        │
//!        diagnostics ◀── resolve (defaults, Apache's checks & silent ◀───┘
//!        (file:line:col,      adjustments, vhosts, mod_wsgi)
//!         caret, help)               │
//!                                    ▼
//!                           typed model (ResolvedConfig) ─▶ simulate / check / serve
//! ```
//!
//! The crate is pure: no clock, no environment reads (the environment for
//! `${VAR}` is a parameter) and file access only through [`fs::ConfigFs`].

pub mod build;
pub mod diag;
pub mod directives;
pub mod envvars;
pub mod fs;
pub mod logs;
pub mod model;
pub mod modules;
pub mod remoteip;
pub mod resolve;
pub mod served;
pub mod setenvif;
pub mod source;
pub mod syntax;
pub mod text;
pub mod wsgi;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use model::ResolvedConfig;
pub use resolve::{ResolveOptions, Resolved, resolve};
pub use source::{FileId, Location, SourceMap, Span};
