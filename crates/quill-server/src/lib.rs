//! # quill-server — the serving shell
//!
//! ```text
//!   client ──HTTP/1.1──▶ frontend (tokio + hyper) ──protocol──▶ group socket ──▶ daemon processes
//!                              ▲                                     ▲            (quill-daemon,
//!                              └──────── supervisor: binds sockets, ─┘             quill-wsgi)
//!                                        execs, reaps, restarts, reloads
//! ```
//!
//! * [`protocol`] — the pure wire codec (docs/protocol.md).
//! * [`plan`] — what a server runs, decided before it starts.
//! * [`supervisor`] — sockets, daemon processes (exec, restart, reload).
//! * [`frontend`] — HTTP/1.1 (hyper) and proxying to the daemon groups.
//! * [`python`], [`spec`] — the interpreter a group runs, and a daemon's settings.
//! * [`log`] — Apache-style error and access logs.

// A shell crate: it reads the clock, sleeps between connect retries and
// reads the environment, all of which clippy.toml bans in the pure crates.
#![allow(clippy::disallowed_methods)]

pub mod child;
pub mod frontend;
pub mod log;
pub mod plan;
pub mod pool;
pub mod pool_driver;
pub mod protocol;
pub mod python;
pub mod scoreboard;
pub mod spec;
pub mod supervisor;
pub mod workers;
