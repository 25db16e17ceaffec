//! The resolved, typed configuration: what the server will actually run
//! with, after Apache's defaults and adjustments.
//!
//! This is also the `quill config --json` schema (see docs/config-json.md);
//! bump [`SCHEMA_VERSION`] on any incompatible change.

use std::path::PathBuf;

use serde::Serialize;

use crate::source::Location;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MpmKind {
    Prefork,
    Worker,
    Event,
}

impl MpmKind {
    pub fn name(self) -> &'static str {
        match self {
            MpmKind::Prefork => "prefork",
            MpmKind::Worker => "worker",
            MpmKind::Event => "event",
        }
    }

    pub fn is_threaded(self) -> bool {
        self != MpmKind::Prefork
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "prefork" => Some(MpmKind::Prefork),
            "worker" => Some(MpmKind::Worker),
            "event" => Some(MpmKind::Event),
            _ => None,
        }
    }
}

/// How the MPM was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MpmSource {
    LoadModule,
    CommandLine,
    /// No MPM was loaded (an error for Apache); Quill assumed event.
    Assumed,
}

/// MPM settings after every start-up check and silent adjustment of httpd
/// 2.4, in the units Apache uses internally.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MpmSettings {
    pub mpm: MpmKind,
    pub selected_by: MpmSource,
    pub start_servers: u32,
    /// Children forked at start: min(StartServers, limit).
    pub children_at_start: u32,
    /// MinSpareServers (prefork) or MinSpareThreads (worker/event).
    pub min_spare: u32,
    /// MaxSpareServers (prefork) or MaxSpareThreads (worker/event).
    pub max_spare: u32,
    /// `servers` for prefork, `threads` for worker/event.
    pub spare_unit: &'static str,
    pub threads_per_child: u32,
    pub thread_limit: u32,
    pub server_limit: u32,
    /// MaxRequestWorkers as httpd keeps it internally. For worker/event it
    /// can be stale (above server_limit × threads_per_child) — httpd then
    /// logs `scoreboard is full, not at MaxRequestWorkers` under full load.
    pub max_request_workers: u32,
    /// The most children that can serve at once: prefork MaxRequestWorkers;
    /// worker/event MaxRequestWorkers / ThreadsPerChild capped at ServerLimit.
    pub max_children: u32,
    /// Threads that can serve at once: max_children × threads_per_child.
    pub max_threads: u32,
    /// 0 = unlimited.
    pub max_connections_per_child: i64,
    pub listen_backlog: u32,
    pub listen_cores_buckets_ratio: u32,
    pub num_buckets: u32,
    /// event only: the integer factor httpd really uses (fractions dropped).
    pub async_request_worker_factor: Option<u32>,
    /// Seconds; 0 = wait forever.
    pub graceful_shutdown_timeout: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

/// A `Listen` socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// `None` = every address (`Listen 80`).
    pub address: Option<String>,
    pub port: u16,
    pub protocol: Scheme,
    pub at: Location,
}

impl Listener {
    pub fn display(&self) -> String {
        match &self.address {
            Some(a) if a.contains(':') => format!("[{a}]:{}", self.port),
            Some(a) => format!("{a}:{}", self.port),
            None => format!("*:{}", self.port),
        }
    }
}

/// One address of `<VirtualHost addr[:port] ...>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VhostAddr {
    /// `None` for `*` or `_default_`.
    pub address: Option<String>,
    /// `None` for `*` or no port (matches any port).
    pub port: Option<u16>,
}

impl VhostAddr {
    pub fn display(&self) -> String {
        let a = match &self.address {
            Some(a) if a.contains(':') => format!("[{a}]"),
            Some(a) => a.clone(),
            None => "*".to_string(),
        };
        match self.port {
            Some(p) => format!("{a}:{p}"),
            None => format!("{a}:*"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeepAlive {
    pub enabled: bool,
    /// Seconds (httpd accepts ms with a suffix; stored here in milliseconds).
    pub timeout_ms: u64,
    /// 0 = unlimited. A connection serves max_requests + 1 requests.
    pub max_requests: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestLimits {
    /// LimitRequestBody in bytes, 0 = unlimited.
    pub body: u64,
    pub fields: u32,
    pub field_size: u32,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tls {
    pub enabled: bool,
    pub certificate_file: Option<PathBuf>,
    pub certificate_key_file: Option<PathBuf>,
    pub certificate_chain_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AliasMapping {
    /// URL prefix, or a regex for AliasMatch.
    pub url: String,
    pub target: String,
    pub regex: bool,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomLog {
    pub target: String,
    /// A nickname defined by LogFormat, or the literal format.
    pub format: String,
    /// The format string after nickname lookup.
    pub resolved_format: String,
}

/// A URL where `SetHandler server-status` is configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusHandler {
    pub url: String,
    pub at: Location,
}

/// Settings of the main server or of one virtual host, after a virtual
/// host inherited what it does not set itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerConfig {
    pub server_name: Option<String>,
    pub server_aliases: Vec<String>,
    pub keep_alive: KeepAlive,
    /// Timeout, in seconds.
    pub timeout_s: u64,
    pub limits: RequestLimits,
    pub tls: Tls,
    pub document_root: Option<PathBuf>,
    pub aliases: Vec<AliasMapping>,
    pub error_log: Option<String>,
    pub log_level: String,
    pub custom_logs: Vec<CustomLog>,
    pub status_handlers: Vec<StatusHandler>,
    /// WSGI applications mounted in this server (mod_wsgi).
    pub wsgi_mounts: Vec<crate::wsgi::WsgiMount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualHost {
    /// 0-based order in the configuration (Apache's order matters).
    pub index: usize,
    pub addresses: Vec<VhostAddr>,
    pub at: Location,
    pub server: ServerConfig,
}

/// Which server answers a request on a listener, by Host header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Routing {
    pub listener: String,
    /// Virtual host index, or `None` for the main server.
    pub default_vhost: Option<usize>,
    /// (host name, vhost index) in matching order.
    pub names: Vec<(String, usize)>,
}

/// A directive Quill does not model (kept, listed once per name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownDirective {
    pub name: String,
    pub count: usize,
    pub first: Location,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedConfig {
    pub schema_version: u32,
    pub main_file: PathBuf,
    pub server_root: PathBuf,
    /// Every file read, in order.
    pub files: Vec<PathBuf>,
    pub modules: Vec<String>,
    pub mpm: MpmSettings,
    pub listeners: Vec<Listener>,
    pub main_server: ServerConfig,
    pub vhosts: Vec<VirtualHost>,
    pub routing: Vec<Routing>,
    pub wsgi: crate::wsgi::WsgiConfig,
    pub unknown_directives: Vec<UnknownDirective>,
}
