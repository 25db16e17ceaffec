//! # quill-daemon — the daemon process of a WSGI process group
//!
//! Embedded CPython (PyO3) running PEP 3333 applications for one daemon
//! process group, behind Quill's wire protocol (docs/protocol.md).
//!
//! ```text
//!  supervisor ──exec──▶ quill-daemon --spec FILE
//!                         ├─ interp: Python from the user's interpreter (paths it reported)
//!                         ├─ daemon: threads accept from fd 3 only when idle; ticker; monitor
//!                         ├─ turns:  a thread waiting long for the GIL to start a request goes first
//!                         ├─ conn:   frames in, response frames out (shared with the monitor)
//!                         ├─ bridge: environ, start_response, write, iterables, input, file_wrapper
//!                         └─ subinterp: application groups other than %{GLOBAL}, one
//!                              sub-interpreter each (subbridge.py inside, raw C API outside)
//!
//!  quill-daemon --frontend … (a front-end child in embedded mode)
//!    embed: the same Python and request threads, fed by the child's event loop in memory
//! ```

// The daemon is a shell process: it reads the clock, sleeps in its reaper
// and monitor, and changes directory — everything clippy.toml bans in the
// pure crates.
#![allow(clippy::disallowed_methods)]

mod bridge;
mod conn;
pub mod daemon;
pub mod embed;
mod interp;
mod link;
pub mod monitor;
mod subinterp;
mod turns;

/// The Python version of the libpython this process loaded (major, minor):
/// a group's interpreter must have the same.
pub fn python_version() -> (u32, u32) {
    interp::runtime_version()
}
