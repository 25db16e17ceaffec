//! The typed mod_wsgi model: part of the `quill config --json` schema.
//!
//! Numbers keep mod_wsgi's units (seconds for timeouts, bytes for sizes);
//! every field that has an "as configured" and an "in effect" form carries
//! both (`socket_timeout_s` / `effective_socket_timeout_s`).

use serde::Serialize;

use crate::source::Location;

/// Everything mod_wsgi-related, server-wide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WsgiConfig {
    /// `WSGIDaemonProcess` groups that were registered, in definition order
    /// (`definition_index` 1, 2, …). A duplicate name is not registered.
    pub daemons: Vec<DaemonProcess>,
    /// Scripts loaded into a process group at its start, before any request:
    /// every `WSGIImportScript` and every preloaded `WSGIScriptAlias`
    /// (§3.3), in configuration order.
    pub import_scripts: Vec<ImportScript>,
    /// `WSGIPythonHome`: Python prefix (virtualenv) for embedded mode and
    /// the default `python-home` of every daemon group. `None` = the Python
    /// mod_wsgi was built against.
    pub python_home: Option<String>,
    /// `WSGIPythonPath` split on `:`. Embedded mode only: daemon groups use
    /// their own `python-path` option.
    pub python_path: Vec<String>,
    /// `WSGIPythonEggs`: `PYTHON_EGG_CACHE` for embedded mode.
    pub python_eggs: Option<String>,
    /// Daemon socket path prefix: `WSGISocketPrefix` as written (relative
    /// paths are relative to ServerRoot), or the build's compiled-in
    /// default ([`crate::build::Build::wsgi_socket_prefix`]).
    pub socket_prefix: String,
    /// Whether `WSGISocketPrefix` was given (false = compiled-in default).
    pub socket_prefix_configured: bool,
    /// `WSGISocketRotation` (default On): socket names carry Apache's
    /// generation, so a restart gives new paths; Off: the daemon uid instead.
    pub socket_rotation: bool,
    /// `WSGIRestrictEmbedded On`: requests not delegated to a daemon group
    /// get 500 instead of running inside the Apache children.
    pub restrict_embedded: bool,
    /// `WSGIAcceptMutex` (default `default`): cross-process accept lock of
    /// groups with more than one process.
    pub accept_mutex: String,
    /// `WSGILazyInitialization` (default On): Python is initialised in the
    /// children after fork, never in the root parent.
    pub lazy_initialization: bool,
    /// `WSGIDestroyInterpreter` (default On): run Python finalisation at
    /// process exit.
    pub destroy_interpreter: bool,
    /// `WSGIRestrictSignal` (default On): `signal.signal()` from application
    /// code is ignored with a warning (not in `threads=0` processes).
    pub restrict_signal: bool,
    /// `WSGIRestrictStdout` (default Off): when Off, `print()` goes to the
    /// error log.
    pub restrict_stdout: bool,
    /// `WSGIRestrictStdin` (default Off).
    pub restrict_stdin: bool,
    /// `WSGIServerMetrics` (default Off): `mod_wsgi.server_metrics()` in
    /// embedded mode.
    pub server_metrics: bool,
}

impl Default for WsgiConfig {
    fn default() -> Self {
        WsgiConfig {
            daemons: Vec::new(),
            import_scripts: Vec::new(),
            python_home: None,
            python_path: Vec::new(),
            python_eggs: None,
            socket_prefix: DEFAULT_SOCKET_PREFIX.to_string(),
            socket_prefix_configured: false,
            socket_rotation: true,
            restrict_embedded: false,
            accept_mutex: "default".to_string(),
            lazy_initialization: true,
            destroy_interpreter: true,
            restrict_signal: true,
            restrict_stdout: false,
            restrict_stdin: false,
            server_metrics: false,
        }
    }
}

/// mod_wsgi's compiled-in socket prefix of an upstream build, relative to
/// ServerRoot (see [`crate::build::Build::wsgi_socket_prefix`] for the others).
pub const DEFAULT_SOCKET_PREFIX: &str = "logs/wsgi";

impl WsgiConfig {
    /// The daemon group called `name` (names are case-sensitive).
    pub fn daemon(&self, name: &str) -> Option<&DaemonProcess> {
        self.daemons.iter().find(|d| d.name == name)
    }
}

/// Where a daemon group or an import script was declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredIn {
    /// `None` at global scope (outside every `<VirtualHost>`), else the
    /// 0-based index of the virtual host.
    pub vhost: Option<usize>,
    /// ServerName of the declaring server after inheritance — what the
    /// visibility rule (§3.7) compares. `None` when no ServerName is set
    /// anywhere (Apache then uses a guessed host name).
    pub server_name: Option<String>,
}

/// One `WSGIDaemonProcess`: a group of daemon processes running WSGI
/// applications, with every option of mod_wsgi 4.9/5.0 and its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonProcess {
    /// Group name (unique, case-sensitive).
    pub name: String,
    /// 1-based order among the registered `WSGIDaemonProcess` directives of
    /// the whole configuration; part of the socket file name.
    pub definition_index: usize,
    /// Global scope or the virtual host it was declared in.
    pub declared_in: DeclaredIn,
    /// The directive's position.
    pub at: Location,
    /// `processes` (default 1).
    pub processes: u32,
    /// `wsgi.multiprocess`: true when the `processes` option was given at
    /// all, even `processes=1`.
    pub multiprocess: bool,
    /// `threads` (default 15) per process; 0 = managed-process mode (only
    /// import scripts run; no requests are served).
    pub threads: u32,
    /// `wsgi.multithread`: `threads != 1`.
    pub multithread: bool,
    /// `display-name` as written; `None` leaves the process title alone.
    pub display_name: Option<String>,
    /// The process title `display-name` produces (`%{GROUP}` →
    /// `(wsgi:NAME)`), before truncation to the length of Apache's argv[0].
    pub process_title: Option<String>,
    /// `maximum-requests` (0 = never): restart a process after this many
    /// requests.
    pub maximum_requests: u32,
    /// Whether the per-process monitor thread exists (`deadlock-timeout` or
    /// `inactivity-timeout` non-zero); without it request-timeout,
    /// startup-timeout, restart-interval and the graceful/eviction deadlines
    /// are never enforced (§7.1).
    pub monitor_thread: bool,
    /// `server-metrics` (default Off).
    pub server_metrics: bool,
    /// Who the processes run as, and where.
    pub identity: DaemonIdentity,
    /// Python initialisation of the group.
    pub python: DaemonPython,
    /// Every timeout, in seconds.
    pub timeouts: DaemonTimeouts,
    /// The group's listening UNIX socket and buffers.
    pub socket: DaemonSocket,
    /// Resource limits and priority.
    pub limits: DaemonLimits,
    /// Names of the options given on the line, in order (later duplicates
    /// included).
    pub options_given: Vec<String>,
}

/// User, group and filesystem context of a daemon group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonIdentity {
    /// `user` (name or `#uid`); `None` = Apache's `User`.
    pub user: Option<String>,
    /// `group` (name or `#gid`); `None` = Apache's `Group`.
    pub group: Option<String>,
    /// `supplementary-groups`, comma-separated; empty = `initgroups(user)`.
    pub supplementary_groups: Vec<String>,
    /// `umask` (octal on the line; here the mode bits); `None` = inherited.
    pub umask: Option<u32>,
    /// `chroot` directory (deprecated; needs Apache to start as root).
    pub chroot: Option<String>,
    /// `home`: working directory, also inserted at `sys.path[0]`.
    pub home: Option<String>,
    /// `socket-user`: owner of the UNIX socket; `None` = Apache's `User`.
    pub socket_user: Option<String>,
    /// `script-user`: required owner of the WSGI script and its directory.
    pub script_user: Option<String>,
    /// `script-group`: required group of the WSGI script and its directory.
    pub script_group: Option<String>,
}

/// Python settings of a daemon group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonPython {
    /// `python-home` as given.
    pub python_home: Option<String>,
    /// The Python prefix used: `python-home`, else `WSGIPythonHome`, else
    /// `None` (the Python mod_wsgi was built against).
    pub effective_python_home: Option<String>,
    /// `python-path` split on `:` (each added with `site.addsitedir`, then
    /// moved to the front of `sys.path`).
    pub python_path: Vec<String>,
    /// `python-eggs`: `PYTHON_EGG_CACHE`.
    pub python_eggs: Option<String>,
    /// `lang`: `LANG` of the processes.
    pub lang: Option<String>,
    /// `locale`: `LC_ALL` of the processes (and `setlocale`).
    pub locale: Option<String>,
    /// `newrelic-config-file` (4.x/5.x only).
    pub newrelic_config_file: Option<String>,
    /// `newrelic-environment` (4.x/5.x only).
    pub newrelic_environment: Option<String>,
}

/// Daemon group timeouts, in seconds; 0 means "off" unless noted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonTimeouts {
    /// `inactivity-timeout`: restart after this long without request activity.
    pub inactivity_timeout_s: u32,
    /// `request-timeout`: restart when the average running time over all
    /// configured threads exceeds it.
    pub request_timeout_s: u32,
    /// `deadlock-timeout` (default 300): restart when the GIL could not be
    /// acquired for this long.
    pub deadlock_timeout_s: u32,
    /// `graceful-timeout` (default 15): grace window after maximum-requests,
    /// restart-interval, cpu-time-limit or SIGUSR1.
    pub graceful_timeout_s: u32,
    /// `eviction-timeout`: grace window after SIGUSR1 (0 = graceful-timeout).
    pub eviction_timeout_s: u32,
    /// `shutdown-timeout` (default 5): hard exit this long after shutdown
    /// begins; 0 = no reaper.
    pub shutdown_timeout_s: u32,
    /// `startup-timeout`: restart if the script has not loaded this long
    /// after the first request tried.
    pub startup_timeout_s: u32,
    /// `restart-interval`: restart every this many seconds of process life.
    pub restart_interval_s: u32,
    /// `connect-timeout` (default 15): how long an Apache child retries a
    /// refused connect before 503.
    pub connect_timeout_s: u32,
    /// `socket-timeout` as given; 0 = Apache's `Timeout`.
    pub socket_timeout_s: u32,
    /// The socket timeout in effect: `socket-timeout`, else the `Timeout`
    /// of the server the group is declared in. (The proxying Apache child
    /// uses the `Timeout` of the server handling the request; see
    /// [`WsgiMount::socket_timeout_s`].)
    pub effective_socket_timeout_s: u64,
    /// `queue-timeout`: drop requests that waited longer than this → 504.
    pub queue_timeout_s: u32,
    /// `response-socket-timeout` as given; 0 = socket-timeout.
    pub response_socket_timeout_s: u32,
    /// Client write timeout while relaying the body: response-socket-timeout,
    /// else socket-timeout, else Apache's `Timeout`.
    pub effective_response_socket_timeout_s: u64,
}

/// The group's listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonSocket {
    /// Socket path pattern (§1.3): `PREFIX.{pid}.{generation}.N.sock` with
    /// rotation, `PREFIX.{pid}.u{uid}.N.sock` without; `{…}` are run-time
    /// values, N is `definition_index`.
    pub path: String,
    /// `listen-backlog` (default 100).
    pub listen_backlog: u32,
    /// `send-buffer-size` (0 = OS default).
    pub send_buffer_size: u32,
    /// `receive-buffer-size` (0 = OS default).
    pub receive_buffer_size: u32,
    /// `header-buffer-size` as given (0 = default).
    pub header_buffer_size: u32,
    /// Longest response header line accepted: header-buffer-size or 32768.
    pub effective_header_buffer_size: u32,
    /// `response-buffer-size` as given (0 = default).
    pub response_buffer_size: u32,
    /// Bytes after which the Apache child flushes to the client:
    /// response-buffer-size or 65536.
    pub effective_response_buffer_size: u32,
}

/// Resource limits of the daemon processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonLimits {
    /// `cpu-time-limit` in CPU-seconds (0 = none); graceful restart at the limit.
    pub cpu_time_limit_s: u32,
    /// `cpu-priority`: nice value (0 = unchanged).
    pub cpu_priority: i32,
    /// `memory-limit` in bytes (RLIMIT_DATA; 0 = none).
    pub memory_limit: u64,
    /// `virtual-memory-limit` in bytes (RLIMIT_AS; 0 = none).
    pub virtual_memory_limit: u64,
    /// `stack-size` of worker threads in bytes (0 = OS default, 8 MiB on Linux).
    pub stack_size: u64,
}

impl DaemonProcess {
    /// mod_wsgi's visibility rule at run time (reference/mod_wsgi.md §3.7):
    /// whether a request handled by `server` (`None`: the main server,
    /// else the index of a virtual host), whose ServerName is
    /// `server_name`, may run in this group. Yes when the group was
    /// declared outside every `<VirtualHost>`, in that server itself, or
    /// in a virtual host with the same ServerName string; otherwise the
    /// request gets 500.
    pub fn visible_from(&self, server: Option<usize>, server_name: Option<&str>) -> bool {
        match self.declared_in.vhost {
            None => true,
            Some(v) if server == Some(v) => true,
            Some(_) => self.declared_in.server_name.as_deref() == server_name,
        }
    }
}

/// A script loaded into a process group at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportScript {
    /// Script path.
    pub script: String,
    /// Process group; `""` = the Apache children (embedded mode).
    pub process_group: String,
    /// Interpreter; `""` = the main interpreter.
    pub application_group: String,
    /// Where the directive was.
    pub declared_in: DeclaredIn,
    /// Its position.
    pub at: Location,
    /// Added by a `WSGIScriptAlias` with both `process-group` and
    /// `application-group` (preloading) rather than by `WSGIImportScript`.
    pub from_script_alias: bool,
}

/// Where a mount's setting comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// mod_wsgi's default.
    Default,
    /// An option on the `WSGIScriptAlias` line.
    AliasOption {
        /// The alias line.
        at: Location,
    },
    /// A server-level directive (of this virtual host or the main server).
    Server {
        /// The directive.
        at: Location,
    },
    /// A directive inside a `<Directory>`/`<Location>`/`<Files>` section
    /// that covers the whole mount.
    Section {
        /// The sections, e.g. `<Location /app>`.
        section: String,
        /// The directive.
        at: Location,
    },
}

/// How requests of a mount are delegated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DelegationMode {
    /// Inside the Apache children (process group `""`, `%{GLOBAL}`).
    Embedded,
    /// In the daemon group named by `WsgiProcessGroup::group`.
    Daemon,
    /// Decided per request (`%{ENV:…}`, `%{HOST}`).
    Runtime,
}

/// The process group a mount runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WsgiProcessGroup {
    /// As written (`%{GLOBAL}`, a name, `%{ENV:X}`); `%{GLOBAL}` when unset.
    pub expression: String,
    /// Where it was set.
    pub origin: Origin,
    /// Embedded, a daemon group, or decided per request.
    pub mode: DelegationMode,
    /// The daemon group's name when `mode` is `daemon`.
    pub group: Option<String>,
}

/// The (sub)interpreter a mount runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WsgiApplicationGroup {
    /// As written; `%{RESOURCE}` when unset.
    pub expression: String,
    /// Where it was set.
    pub origin: Origin,
    /// The interpreter name when it does not depend on the request (`""` =
    /// the main interpreter). For `%{RESOURCE}`: `host|/script` or
    /// `host:port|/script` (ServerName, port unless 80/443, SCRIPT_NAME
    /// lower-cased); computed assuming clients send the virtual host's port.
    pub interpreter: Option<String>,
    /// Why `interpreter` is unknown before a request arrives.
    pub depends_on: Option<String>,
}

/// A per-directory setting that applies to only part of a mount (a
/// section inside its URL space, a `<Files>` pattern, an `<If>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionOverride {
    /// The enclosing sections, e.g. `<Location /app/admin>`.
    pub section: String,
    /// The directive, e.g. `WSGIProcessGroup`.
    pub directive: String,
    /// Its argument.
    pub value: String,
    /// Its position.
    pub at: Location,
}

/// What a mount's target names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountTarget {
    /// One WSGI script file; the rest of the URL is PATH_INFO.
    Script,
    /// A directory (ends with `/`): the first URL component names the script.
    Directory,
    /// A `WSGIScriptAliasMatch` target with `$1…` substitutions.
    Template,
}

/// A WSGI application mounted at a URL in one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WsgiMount {
    /// URL prefix (`WSGIScriptAlias`) or regular expression
    /// (`WSGIScriptAliasMatch`).
    pub url: String,
    /// Whether `url` is a regular expression.
    pub regex: bool,
    /// Script path, directory, or template.
    pub target: String,
    /// What `target` names.
    pub target_kind: MountTarget,
    /// The alias line.
    pub at: Location,
    /// Declared in the main server and inherited by this virtual host
    /// (tried after the virtual host's own aliases).
    pub inherited: bool,
    /// Where requests run.
    pub process_group: WsgiProcessGroup,
    /// Which interpreter inside the process.
    pub application_group: WsgiApplicationGroup,
    /// `callable-object` / `WSGICallableObject` (default `application`).
    pub callable_object: String,
    /// `pass-authorization` / `WSGIPassAuthorization` (default Off).
    pub pass_authorization: bool,
    /// `WSGIScriptReloading` (default On): a changed script restarts the
    /// daemon process; also enables the Continue handshake.
    pub script_reloading: bool,
    /// `WSGIChunkedRequest` (default Off): chunked request bodies (else 411).
    pub chunked_request: bool,
    /// `WSGIMapHEADToGET`: `on`, `off` or `auto` (default).
    pub map_head_to_get: String,
    /// `WSGIErrorOverride` (default Off).
    pub error_override: bool,
    /// `WSGIIgnoreActivity` (default Off).
    pub ignore_activity: bool,
    /// `WSGIEnableSendfile` (default Off).
    pub enable_sendfile: bool,
    /// `WSGIRestrictProcess` in force: allowed process groups (`""` =
    /// embedded); `None` = no restriction.
    pub restrict_process: Option<Vec<String>>,
    /// Loaded at process start like `WSGIImportScript` (§3.3).
    pub preloaded: bool,
    /// Timeout (seconds) of the Apache child's reads from the daemon:
    /// the group's socket-timeout, else this server's `Timeout`. `None` in
    /// embedded mode or when the group is decided per request.
    pub socket_timeout_s: Option<u64>,
    /// Per-directory WSGI settings that apply to part of the mount only.
    pub section_overrides: Vec<SectionOverride>,
}
