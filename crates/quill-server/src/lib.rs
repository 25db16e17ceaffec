//! # quill-server — the serving shell
//!
//! ```text
//!                 ┌──────────────── supervisor ────────────────┐
//!                 │ binds sockets, scoreboard (shared memory), │
//!                 │ pool_driver: the quill-mpm controller in    │
//!                 │ real time; execs, reaps, restarts, reloads  │
//!                 └───────┬────────────────────────────┬───────┘
//!                    exec │ quill __frontend ×N   exec │ quill-daemon ×M
//!                         ▼                            ▼
//!   client ──HTTP/1.1, TLS, h2──▶ child: workers + frontend ──protocol──▶ daemon processes
//!                        (tokio + hyper + rustls)                (crate quill-daemon)
//! ```
//!
//! * [`supervisor`] — sockets, the front-end pool, daemon processes (exec,
//!   restart, reload), signals.
//! * [`pool_driver`] — the real-time driver of the pool controller.
//! * [`scoreboard`] — httpd's scoreboard in shared memory.
//! * [`child`] — a front-end child process; [`workers`] — its worker slots,
//!   per MPM.
//! * [`frontend`] — HTTP/1.1 and HTTP/2 (hyper), TLS (rustls) and
//!   proxying to the daemon groups;
//!   [`pool`] — kept daemon connections and admission per group, going by
//!   the daemons' busy threads (`quill_protocol::busy`).
//! * [`logging`] — each server's error and access logs, planned and
//!   opened.
//! * [`plan`] — what a server runs, decided before it starts;
//!   [`configure`] — the plan of a resolved Apache configuration.
//! * [`python`] — the interpreter a group runs.
//! * [`tls`] — a server's certificate, key and rustls configuration;
//!   [`x509`] — mod_ssl's variables of a certificate.
//! * [`log`], [`protocol`], [`spec`] — from `quill-protocol`, shared with
//!   the daemon.

// A shell crate: it reads the clock, sleeps between connect retries and
// reads the environment, all of which clippy.toml bans in the pure crates.
#![allow(clippy::disallowed_methods)]

pub mod child;
pub mod configure;

pub use quill_protocol::{control, log, pipe, protocol, spec};

pub mod frontend;
pub mod logging;
pub mod plan;
pub mod pool;
pub mod pool_driver;
pub mod python;
pub mod scoreboard;
pub mod supervisor;
pub mod tls;
pub mod workers;
pub mod x509;
