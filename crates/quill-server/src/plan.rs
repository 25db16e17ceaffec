//! What a running server is made of, decided before anything starts:
//! listeners, URL routes, daemon groups, limits and logs. `quill express`
//! and `quill serve` each build a [`ServerPlan`]; the supervisor and the
//! front end only execute it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use quill_mpm::PoolConfig;
use serde::{Deserialize, Serialize};

use crate::log::{ErrorLog, Level};
use crate::spec::DaemonSpec;

/// A WSGI application mounted at a URL prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mount {
    /// URL prefix without a trailing `/` (`""` for the root).
    pub url: String,
    pub script: PathBuf,
    /// Index into [`ServerPlan::groups`].
    pub group: usize,
    pub application_group: String,
    pub callable: String,
    pub pass_authorization: bool,
    /// `WSGIChunkedRequest`: accept chunked request bodies (else 411).
    pub chunked_request: bool,
    pub script_reloading: bool,
}

/// `Alias URL PATH`: static files served by the front end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaticAlias {
    /// URL prefix without a trailing `/`.
    pub url: String,
    /// A directory, or a single file.
    pub path: PathBuf,
}

/// A daemon group and what the front end needs to reach it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupPlan {
    /// The daemon's settings (slot filled in per process).
    pub spec: DaemonSpec,
    pub listen_backlog: u32,
    pub connect_timeout: Duration,
    /// Wait for the response head (and each later read); 504 after it.
    pub socket_timeout: Duration,
    /// Where the group's UNIX socket is created.
    pub socket_path: PathBuf,
    /// `LD_LIBRARY_PATH`, `LANG`, `LC_ALL` … for the daemon processes.
    pub env: Vec<(String, String)>,
}

/// Where a log goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogTarget {
    Stderr,
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerPlan {
    pub listen: Vec<SocketAddr>,
    /// `ListenBacklog`.
    pub listen_backlog: u32,
    /// ServerName: used for SERVER_NAME when a request has no Host.
    pub server_name: String,
    pub document_root: PathBuf,
    pub mounts: Vec<Mount>,
    pub aliases: Vec<StaticAlias>,
    pub groups: Vec<GroupPlan>,
    /// `LimitRequestBody` (0 = unlimited).
    pub limit_request_body: u64,
    /// Largest request head (request line + headers), bytes: above → 431.
    pub limit_request_head: usize,
    /// `KeepAlive` / `KeepAliveTimeout`; `None` = no keep-alive.
    pub keep_alive: Option<Duration>,
    /// `Timeout`: reading a request head.
    pub timeout: Duration,
    pub error_log: LogTarget,
    pub log_level: Level,
    pub access_log: Option<LogTarget>,
    /// Directory for sockets and daemon specs (created 0700).
    pub run_dir: PathBuf,
    /// Check scripts' mtimes every second and reload their group.
    pub reload_scripts: bool,
    /// SIGTERM stops gracefully, as SIGWINCH does (httpd's SIGTERM stops
    /// at once).
    pub graceful_sigterm: bool,
    /// The front-end process pool: the MPM's settings after httpd's
    /// start-up adjustments (the pool controller's input).
    pub pool: PoolConfig,
    /// (event) `AsyncRequestWorkerFactor`, as a whole number of connections
    /// per idle worker slot.
    pub async_request_worker_factor: u32,
}

impl LogTarget {
    /// Opens the target for appending (stderr and stdout are this
    /// process's own).
    pub fn open(&self) -> std::io::Result<Box<dyn std::io::Write + Send>> {
        Ok(match self {
            LogTarget::Stderr => Box::new(std::io::stderr()),
            LogTarget::Stdout => Box::new(std::io::stdout()),
            LogTarget::File(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
        })
    }
}

impl ServerPlan {
    /// The error log this plan names, at its level.
    pub fn open_error_log(&self) -> std::io::Result<ErrorLog> {
        Ok(ErrorLog::new(self.log_level, self.error_log.open()?))
    }
}
