//! What a daemon process is told when the supervisor execs it
//! (`quill-daemon --spec FILE`): its group's settings and the Python it
//! must run. Serialized as JSON; both sides are this crate's build.

use serde::{Deserialize, Serialize};

/// The interpreter a group runs, as reported by that interpreter itself
/// (see [`crate::python::probe`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonInfo {
    /// `sys.executable` of the chosen interpreter (a virtualenv's
    /// `bin/python3` when python-home names one).
    pub executable: String,
    /// `sys._base_executable`.
    pub base_executable: String,
    pub prefix: String,
    pub exec_prefix: String,
    pub base_prefix: String,
    pub base_exec_prefix: String,
    /// `sys.path` without the script directory entry.
    pub path: Vec<String>,
    /// `sys.version_info[:3]`.
    pub version: (u32, u32, u32),
    /// `sysconfig` LIBDIR: where its libpython lives (the daemon is exec'd
    /// with this directory first in `LD_LIBRARY_PATH`, so the dynamic
    /// loader picks the matching libpython).
    pub libdir: Option<String>,
}

/// A script a daemon process loads at start, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preload {
    /// The script's path.
    pub script: String,
    /// The application group (interpreter) it is loaded into: `""` is the
    /// main interpreter (`%{GLOBAL}`), any other name a sub-interpreter.
    pub application_group: String,
}

/// Everything a daemon process of one group needs; timeouts in seconds,
/// 0 = off, as in mod_wsgi.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonSpec {
    /// Group name (`WSGIDaemonProcess NAME`).
    pub group: String,
    /// Slot of this process in its group (0-based), for logs.
    pub slot: u32,
    pub processes: u32,
    pub threads: u32,
    /// `wsgi.multiprocess` (the `processes` option was given).
    pub multiprocess: bool,
    /// Process title (`display-name`), if any.
    pub display_name: Option<String>,
    /// `home`: working directory and `sys.path[0]`.
    pub home: Option<String>,
    pub python: PythonInfo,
    /// `python-path` entries (added with `site.addsitedir`, moved first).
    pub python_path: Vec<String>,
    /// Scripts loaded before the first accept (`WSGIImportScript`, and
    /// `WSGIScriptAlias` with both `process-group=` and
    /// `application-group=`), each into its interpreter.
    pub preload: Vec<Preload>,
    pub maximum_requests: u32,
    pub inactivity_timeout: u32,
    pub request_timeout: u32,
    /// How long a thread interrupted by request-timeout may take to unwind
    /// before the process is restarted.
    pub interrupt_timeout: u32,
    pub deadlock_timeout: u32,
    pub graceful_timeout: u32,
    pub shutdown_timeout: u32,
    pub startup_timeout: u32,
    pub queue_timeout: u32,
    /// Read/write timeout on the daemon end of each connection.
    pub socket_timeout: u32,
    /// SO_SNDBUF of the daemon end of each connection, bytes; 0 leaves
    /// the system's (see [`DEFAULT_SEND_BUFFER`]).
    #[serde(default)]
    pub send_buffer_size: u32,
    /// SO_RCVBUF of the daemon end of each connection, bytes; 0 leaves
    /// the system's.
    #[serde(default)]
    pub receive_buffer_size: u32,
    /// Restart when any imported module's file changes (express
    /// `--reload-on-changes`).
    pub reload_on_changes: bool,
    /// Error-log level name (`debug`, `info`, `warn`, …).
    pub log_level: String,
    /// Set by the supervisor when it started as root and the group names a
    /// user: (uid, gid) to switch to before Python starts.
    pub run_as: Option<(u32, u32)>,
    /// With `run_as`: the group's `supplementary-groups`, as gids.
    #[serde(default)]
    pub supplementary_gids: Vec<u32>,
}

/// The daemon end's SO_SNDBUF when `send-buffer-size` is not given
/// (mod_wsgi leaves the system's, 208 KiB on Linux). Responses go to the
/// front end through it: with the system's, a thread streaming a 1 MiB
/// response fills it several times over, and each time waits for the
/// front end to drain it (a `poll`, a wake-up, a retried write, and a copy
/// of what the socket did not take). The kernel doubles the value asked
/// for; it holds memory only while a response is ahead of the front end,
/// which takes it as fast as it comes (docs/benchmarks.md, "Bulk
/// transfers in daemon mode, counted").
pub const DEFAULT_SEND_BUFFER: u32 = 1024 * 1024;

/// The environment variable that carries a daemon's spec file when its
/// argv is only its display-name (what `ps` shows, as mod_wsgi's
/// `display-name`).
pub const SPEC_ENV: &str = "QUILL_DAEMON_SPEC";

/// The file descriptor number at which a daemon process finds its group's
/// listening socket.
pub const LISTEN_FD: i32 = 3;

/// The file descriptor number of the daemon's control pipe to the
/// supervisor (write end). Lines: `retiring <reason>`.
pub const CONTROL_FD: i32 = 4;
