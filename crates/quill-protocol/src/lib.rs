//! # quill-protocol — what Quill's processes say to each other
//!
//! ```text
//!   front-end child ──[protocol: Head, Body, End …]──▶ daemon process
//!                   ◀──[ResponseHead, ResponseBody …]──
//!   supervisor ──[spec: DaemonSpec as JSON]──▶ daemon process (at exec)
//!   supervisor ◀──[control: Retiring]──────── daemon process (fd 4)
//!   daemon processes ──[busy: busy threads, shared memory]──▶ front-end children
//!   every process ──[log: Apache's error-log format]──▶ the error log
//!   front-end event loop ──[pipe: the same frames, in memory]──▶ its Python threads (embedded mode)
//! ```
//!
//! Shared by the server (`quill-server`) and the daemon (`quill-daemon`),
//! so that neither depends on the other.
//!
//! * [`protocol`] — the pure wire codec (docs/protocol.md).
//! * [`spec`] — a daemon process's settings and the Python it runs.
//! * [`control`] — daemon → supervisor messages.
//! * [`busy`] — each daemon process's busy threads, for every front end.
//! * [`log`] — Apache-style error and access logs.
//! * [`pipe`] — embedded mode's in-process stream of frames.

// The logs read the clock (timestamps), which clippy.toml bans in the pure
// crates.
#![allow(clippy::disallowed_methods)]

pub mod busy;
pub mod control;
pub mod log;
pub mod pipe;
pub mod protocol;
pub mod spec;
