//! # quill-server — the serving shell
//!
//! ```text
//!   client ──HTTP/1.1──▶ frontend (tokio + hyper) ──protocol──▶ group socket ──▶ daemon processes
//!                              ▲                                     ▲            (quill __daemon,
//!                              └──────── supervisor: binds sockets, ─┘             quill-wsgi)
//!                                        execs, reaps, restarts, reloads
//! ```
//!
//! * [`protocol`] — the pure wire codec (docs/protocol.md).

pub mod protocol;
