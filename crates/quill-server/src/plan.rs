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
    /// Index into [`ServerPlan::groups`]; `None`: embedded mode, inside
    /// the front-end children ([`ServerPlan::embedded`]).
    pub group: Option<usize>,
    pub application_group: String,
    pub callable: String,
    pub pass_authorization: bool,
    /// `WSGIChunkedRequest`: accept chunked request bodies (else 411).
    pub chunked_request: bool,
    pub script_reloading: bool,
    /// mod_wsgi's visibility rule (reference/mod_wsgi.md §3.7) for the
    /// server this mount belongs to: false when its group was declared in
    /// a virtual host with another ServerName, and every request gets 500.
    pub group_visible: bool,
}

/// Embedded mode: what the front-end children need to run Python
/// themselves (mod_wsgi's `%{GLOBAL}` process group).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddedPlan {
    /// The interpreter and request threads of each child, as a daemon
    /// process's: `threads` = ThreadsPerChild (1 under prefork), group
    /// name `""`, `python-path` = WSGIPythonPath, the scripts
    /// WSGIImportScript preloads in the children; daemon-only options
    /// (timeouts, maximum-requests) are off.
    pub spec: DaemonSpec,
    /// Environment of the children (LD_LIBRARY_PATH for the chosen
    /// interpreter's libpython).
    pub env: Vec<(String, String)>,
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
    /// The ErrorLog of the `<VirtualHost>` that declared the group, when it
    /// has one of its own: the daemon processes' stderr, as mod_wsgi makes
    /// it (else the main server's error log).
    #[serde(default)]
    pub error_log: Option<LogTarget>,
}

impl GroupPlan {
    /// The group's busy board (`quill_protocol::busy`), beside its socket:
    /// created by the supervisor, read by the front-end children.
    pub fn busy_board_path(&self) -> PathBuf {
        self.socket_path.with_extension("busy")
    }
}

/// `AllowEncodedSlashes`: what a `%2F` in a request path gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EncodedSlashes {
    /// 404, with httpd's log line.
    Off,
    /// Decoded to `/`.
    On,
    /// Left as `%2F` in PATH_INFO.
    NoDecode,
}

/// One stage of mod_reqtimeout's `RequestReadTimeout`, switched on: the
/// stage may take `timeout`, one second more per `min_rate` bytes
/// received (if set), up to `max` (if set); 408 after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadStage {
    pub timeout: Duration,
    pub max: Option<Duration>,
    /// Bytes per second; 0 = the time does not grow.
    pub min_rate: u32,
}

impl ReadStage {
    /// The stage's deadline, when it started at `start` and `bytes` have
    /// been received since (mod_reqtimeout's extend_timeout: each byte
    /// buys 1/min_rate s, never past the maximum).
    pub fn deadline<I>(&self, start: I, bytes: u64) -> I
    where
        I: std::ops::Add<Duration, Output = I> + Copy,
    {
        let grown = match self.min_rate {
            0 => Duration::ZERO,
            r => Duration::from_micros(bytes.saturating_mul(1_000_000 / u64::from(r).max(1))),
        };
        let mut d = self.timeout.saturating_add(grown);
        if let Some(max) = self.max {
            d = d.min(max);
        }
        start + d
    }
}

/// `RequestReadTimeout` as the front end applies it: `None` for a stage
/// switched off (or without reqtimeout_module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReadTimeouts {
    pub header: Option<ReadStage>,
    pub body: Option<ReadStage>,
}

/// How much of each response the front end takes off the daemon ahead
/// of a slow client (see `frontend::spool`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseBuffer {
    /// Bytes held in memory per response.
    pub memory: usize,
    /// Bytes held in the response's temporary file (0: none).
    pub file: u64,
    /// Where the temporary files are made (unlinked at once).
    pub dir: PathBuf,
    /// How long memory stays full (the client not reading) before the
    /// file is used.
    pub spill_after: Duration,
}

impl Default for ResponseBuffer {
    /// 256 KiB in memory, then, once the client has left it full for
    /// 20 ms, up to 1 GiB on disk (nginx's proxy_max_temp_file_size) in
    /// the temporary directory.
    fn default() -> Self {
        ResponseBuffer {
            memory: 256 * 1024,
            file: 1 << 30,
            dir: std::env::temp_dir(),
            spill_after: Duration::from_millis(20),
        }
    }
}

/// Where a log goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogTarget {
    Stderr,
    Stdout,
    File(PathBuf),
}

/// What one server, the main server or a virtual host, serves with.
///
/// httpd reads a request's head before it knows the request's Host, so
/// what applies to reading it comes from the server the connection
/// starts with (the default server of the address and port it arrived
/// at): `limit_request_line`, `limit_request_head`, `strict_heads`,
/// `read_timeouts`, `timeout` and the keep-alive time are taken from that
/// one. The rest comes from the server the Host selects, including
/// whether the connection is kept alive after the response (httpd's
/// `ap_set_keepalive` reads the request's server).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SitePlan {
    /// ServerName: used for SERVER_NAME when a request has no Host.
    pub server_name: String,
    pub document_root: PathBuf,
    /// `WSGIScriptAlias` mounts: the server's own, then (a virtual host)
    /// the main server's.
    pub mounts: Vec<Mount>,
    /// `Alias`es: the server's own, then (a virtual host) the main
    /// server's.
    pub aliases: Vec<StaticAlias>,
    /// `LimitRequestBody` (0 = unlimited).
    pub limit_request_body: u64,
    /// `AllowEncodedSlashes`.
    pub encoded_slashes: EncodedSlashes,
    /// `<Location>`s with `SetHandler server-status`: URL and the Require
    /// lines that grant access (none: nobody).
    pub status: Vec<(String, Vec<quill_config::model::Require>)>,
    /// `<Location>`s with `SetHandler quill-metrics`, as `status`.
    pub metrics: Vec<(String, Vec<quill_config::model::Require>)>,
    /// Largest request head (request line + headers), bytes: above → 431.
    pub limit_request_head: usize,
    /// `LimitRequestLine`: a longer request line gets 414.
    pub limit_request_line: usize,
    /// `HttpProtocolOptions Strict` (httpd's default): 400 for a request
    /// head with a bare-LF line end.
    pub strict_heads: bool,
    /// `RequestReadTimeout` (mod_reqtimeout).
    pub read_timeouts: ReadTimeouts,
    /// `KeepAlive` / `KeepAliveTimeout`; `None` = no keep-alive.
    pub keep_alive: Option<Duration>,
    /// `MaxKeepAliveRequests` (0: unlimited): a connection's request
    /// number n (from 1) answered by this server closes it when n > this.
    pub max_keep_alive_requests: u32,
    /// `Timeout`: the longest wait for one read or write of a client
    /// connection.
    pub timeout: Duration,
    /// Its error log and LogLevel, its access logs, mod_remoteip.
    pub logs: crate::logging::SiteLogs,
    /// `SSLEngine on`: the TLS a connection whose server this is speaks
    /// (see `frontend::tls`).
    pub tls: Option<TlsPlan>,
    /// mod_http2's limits for an HTTP/2 connection of this server.
    pub h2: H2Plan,
}

/// A certificate or key file and the directive that named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFile {
    pub path: PathBuf,
    /// The directive and where it is: `SSLCertificateFile at FILE:LINE`.
    pub directive: String,
    pub at: String,
}

/// One server's TLS: what its certificate is and what it offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsPlan {
    /// `SSLCertificateFile`.
    pub certificate: TlsFile,
    /// `SSLCertificateKeyFile` (else the key is in the certificate file).
    pub key: TlsFile,
    /// `SSLCertificateChainFile`.
    pub chain: Option<TlsFile>,
    /// `SSLProtocol`, as far as rustls speaks it.
    pub versions: Vec<quill_config::model::TlsVersion>,
    /// `SSLCipherSuite` (TLS 1.3's, then TLS 1.2's), empty for rustls'
    /// defaults (all nine suites).
    pub ciphers: Vec<quill_config::model::CipherSuite>,
    /// `SSLHonorCipherOrder on`.
    pub honor_cipher_order: bool,
    /// `SSLOptions +StdEnvVars`: mod_ssl's SSL_* variables in the environ.
    pub std_env_vars: bool,
    /// ALPN protocols offered, in the server's order (`Protocols`: `h2`
    /// and `http/1.1`).
    pub alpn: Vec<String>,
    /// The server's name and port for httpd's messages (`www.example.com:443`).
    pub name: String,
    /// The files' contents, read by the supervisor when it checked them
    /// (at start and at each restart): the front-end children take their
    /// certificates from here, so a restart whose files are unusable
    /// leaves the children with the last good ones. (The front-end spec
    /// that carries them is readable by the server's user only.)
    #[serde(default)]
    pub pem: Option<TlsPem>,
}

/// The PEM texts of a server's certificate, key and chain.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsPem {
    pub certificate: String,
    pub key: String,
    pub chain: Option<String>,
}

impl std::fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // (Never the key.)
        f.debug_struct("TlsPem").finish_non_exhaustive()
    }
}

impl TlsPlan {
    /// Whether a request may go to a server with `other`'s TLS on a
    /// connection made with this one's: mod_ssl's compatibility check
    /// (same certificate, key and chain, versions and ciphers), without
    /// which a Host that names another server than the SNI one gets 421.
    pub fn compatible(&self, other: &TlsPlan) -> bool {
        self.certificate.path == other.certificate.path
            && self.key.path == other.key.path
            && self.chain.as_ref().map(|c| &c.path) == other.chain.as_ref().map(|c| &c.path)
            && self.versions == other.versions
            && self.ciphers == other.ciphers
            && self.honor_cipher_order == other.honor_cipher_order
    }
}

/// mod_http2's limits of one HTTP/2 connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct H2Plan {
    /// `H2MaxSessionStreams`.
    pub max_streams: u32,
    /// `H2WindowSize`: each stream's window for what the client sends.
    pub stream_window: u32,
}

/// How the connections of one `Listen` socket choose their server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListenRouting {
    pub listen: SocketAddr,
    /// Indexes are virtual hosts': server `1 + i` of [`ServerPlan::servers`].
    pub routing: quill_config::model::Routing,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerPlan {
    pub listen: Vec<SocketAddr>,
    /// `ListenBacklog`.
    pub listen_backlog: u32,
    /// The main server (first), then every virtual host in configuration
    /// order.
    pub servers: Vec<SitePlan>,
    /// Per `Listen` socket, which server answers (see `quill_config`'s
    /// `select_vhost`). A socket missing here (one kept at a restart whose
    /// configuration dropped it) is the main server's.
    pub routing: Vec<ListenRouting>,
    pub groups: Vec<GroupPlan>,
    /// Python in the front-end children, when a mount runs in embedded
    /// mode and `WSGIRestrictEmbedded` is Off; `None`: the children never
    /// load libpython.
    #[serde(default)]
    pub embedded: Option<EmbeddedPlan>,
    /// `WSGIRestrictEmbedded On`: a request for an embedded mount gets 500.
    #[serde(default)]
    pub restrict_embedded: bool,
    /// `ExtendedStatus`.
    pub extended_status: bool,
    /// What the front end holds of each response for a slow client.
    pub response_buffer: ResponseBuffer,
    /// The main server's ErrorLog: the supervisor's and the daemon
    /// processes' lines, and those of the front end that belong to no
    /// request.
    pub error_log: LogTarget,
    /// The main server's LogLevel, for the modules without their own…
    pub log_level: Level,
    /// … and per module.
    pub log_modules: Vec<(String, Level)>,
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
    /// What httpd would warn about at start-up (its adjustments of the MPM
    /// settings), in its words, and the TLS settings rustls cannot honour
    /// (`tls/…` diagnostics), with where the directive is; logged when the
    /// server starts.
    pub startup_warnings: Vec<String>,
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
    /// Whether connections on `listen[i]` speak TLS: its default server
    /// (the first virtual host of its address and port, or the main
    /// server) has `SSLEngine on`.
    pub fn listener_tls(&self, i: usize) -> bool {
        let Some(addr) = self.listen.get(i) else {
            return false;
        };
        let server = self
            .routing
            .iter()
            .find(|r| r.listen == *addr)
            .and_then(|r| r.routing.default_vhost)
            .map_or(0, |v| v + 1);
        self.servers.get(server).is_some_and(|s| s.tls.is_some())
    }

    /// The error log this plan names, at its level.
    pub fn open_error_log(&self) -> std::io::Result<ErrorLog> {
        Ok(ErrorLog::new(self.log_level, self.error_log.open()?)
            .with_modules(self.log_modules.clone()))
    }
}

/// What a restart (SIGHUP, SIGUSR1) makes of a re-read configuration.
#[derive(Debug, Clone)]
pub struct Restarted {
    /// The plan the new generation runs.
    pub plan: ServerPlan,
    /// What the re-read configuration changes but the running server keeps
    /// until it is stopped and started again, one sentence each.
    pub kept: Vec<String>,
}

impl ServerPlan {
    /// The plan for the next generation when the configuration re-read at
    /// a restart gives `new`.
    ///
    /// What the children serve with (the servers with their mounts,
    /// aliases, limits, timeouts and keep-alive, the routing, their logs:
    /// access logs, virtual hosts' error logs and LogLevels) and the
    /// pool's sizing come from `new`. What outlives
    /// generations stays as it is: the listening sockets, the daemon groups
    /// (and so the servers and their routing, since mounts name groups),
    /// the error log, the run directory, and the MPM with its ServerLimit
    /// and ThreadLimit (httpd refuses to change those at a restart too);
    /// each change to those is reported in `kept`.
    pub fn restarted_with(&self, new: ServerPlan) -> Restarted {
        let mut kept = Vec::new();
        let mut plan = new;
        let mut keep = |what: &str, same: bool| {
            if !same {
                kept.push(format!(
                    "{what} changed; the running server keeps its own until it is stopped and started"
                ));
            }
            same
        };
        if !keep("Listen", plan.listen == self.listen) {
            plan.listen = self.listen.clone();
        }
        if !keep("ListenBacklog", plan.listen_backlog == self.listen_backlog) {
            plan.listen_backlog = self.listen_backlog;
        }
        let json = |g: &[GroupPlan]| serde_json::to_value(g).ok();
        if !keep(
            "WSGIDaemonProcess (the daemon groups, and so the servers and virtual hosts, whose WSGIScriptAlias mounts name them)",
            json(&plan.groups) == json(&self.groups),
        ) {
            plan.groups = self.groups.clone();
            plan.servers = self.servers.clone();
            plan.routing = self.routing.clone();
        }
        if !keep("ErrorLog", plan.error_log == self.error_log) {
            plan.error_log = self.error_log.clone();
        }
        if !keep(
            "The main server's LogLevel",
            plan.log_level == self.log_level && plan.log_modules == self.log_modules,
        ) {
            plan.log_level = self.log_level;
            plan.log_modules = self.log_modules.clone();
        }
        if !keep("The run directory", plan.run_dir == self.run_dir) {
            plan.run_dir = self.run_dir.clone();
        }
        let (old, new) = (&self.pool, &plan.pool);
        let fixed = [
            (
                "The MPM",
                format!("{:?}", old.mpm),
                format!("{:?}", new.mpm),
            ),
            (
                "ServerLimit",
                old.server_limit.to_string(),
                new.server_limit.to_string(),
            ),
            (
                "ThreadLimit",
                old.thread_limit.to_string(),
                new.thread_limit.to_string(),
            ),
            (
                "The number of listener buckets (ListenCoresBucketsRatio)",
                old.num_buckets.to_string(),
                new.num_buckets.to_string(),
            ),
        ];
        let mut pool_kept = false;
        for (what, was, now) in fixed {
            if was != now {
                kept.push(format!(
                    "{what} changed from {was} to {now}: not possible at a restart (as in \
                     httpd); the pool keeps all its settings until the server is stopped and \
                     started"
                ));
                pool_kept = true;
            }
        }
        if pool_kept {
            plan.pool = self.pool.clone();
            plan.async_request_worker_factor = self.async_request_worker_factor;
        }
        Restarted { plan, kept }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_compatible_when_certificate_and_offer_are_the_same() {
        let file = |p: &str| TlsFile {
            path: p.into(),
            directive: "SSLCertificateFile".into(),
            at: "httpd.conf:1".into(),
        };
        let a = TlsPlan {
            certificate: file("a.crt"),
            key: file("a.key"),
            chain: None,
            versions: vec![quill_config::model::TlsVersion::Tls12],
            ciphers: Vec::new(),
            honor_cipher_order: false,
            std_env_vars: false,
            alpn: vec!["h2".into()],
            name: "a.example:443".into(),
            pem: None,
        };
        // ALPN, environ settings and names may differ.
        let same = TlsPlan {
            std_env_vars: true,
            alpn: Vec::new(),
            name: "c.example:443".into(),
            ..a.clone()
        };
        assert!(a.compatible(&same));
        let other_cert = TlsPlan {
            certificate: file("b.crt"),
            ..a.clone()
        };
        assert!(!a.compatible(&other_cert));
        let other_versions = TlsPlan {
            versions: vec![quill_config::model::TlsVersion::Tls13],
            ..a.clone()
        };
        assert!(!a.compatible(&other_versions));
        let other_chain = TlsPlan {
            chain: Some(file("chain.pem")),
            ..a.clone()
        };
        assert!(!a.compatible(&other_chain));
    }

    #[test]
    fn a_read_stage_grows_with_the_bytes_up_to_its_maximum() {
        let header = ReadStage {
            timeout: Duration::from_secs(20),
            max: Some(Duration::from_secs(40)),
            min_rate: 500,
        };
        let at = |bytes| header.deadline(Duration::ZERO, bytes);
        assert_eq!(at(0), Duration::from_secs(20));
        // 500 bytes buy a second.
        assert_eq!(at(500), Duration::from_secs(21));
        assert_eq!(at(1), Duration::from_secs(20) + Duration::from_millis(2));
        assert_eq!(at(1 << 40), Duration::from_secs(40));
        let body = ReadStage {
            max: None,
            ..header
        };
        assert_eq!(
            body.deadline(Duration::ZERO, 50_000),
            Duration::from_secs(120)
        );
    }
}
