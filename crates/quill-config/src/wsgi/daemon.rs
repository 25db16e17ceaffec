//! `WSGIDaemonProcess name option=value …` (reference §2): every option,
//! its default, mod_wsgi's validation and its error text.

use super::model::{
    DaemonIdentity, DaemonLimits, DaemonProcess, DaemonPython, DaemonSocket, DaemonTimeouts,
    DeclaredIn,
};
use super::options::{self, Malformed, RawOption};
use crate::diag::{Diagnostic, Diagnostics};
use crate::resolve::Item;
use crate::resolve::mpm;
use crate::source::SourceMap;

/// How an option's value is checked (mirrors mod_wsgi 5.0.2's
/// `wsgi_add_daemon_process`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Free text (may be empty).
    Text,
    /// Text that must not be empty.
    NonEmpty,
    /// Must start with `/`.
    Absolute,
    /// User name or `#uid`; uid 0 refused.
    User,
    /// Octal number.
    Octal,
    /// Integer (C atoi) within `min..=max`.
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// Integer that is 0 or at least `min`.
    ZeroOrAtLeast {
        /// Smallest accepted non-zero value.
        min: i64,
    },
    /// 64-bit integer ≥ 0.
    Bytes,
    /// `On` or `Off`.
    Flag,
    /// Comma-separated list.
    List,
}

/// One option of WSGIDaemonProcess, as data.
#[derive(Debug, Clone, Copy)]
pub struct DaemonOption {
    /// Option name as written before `=` (case-sensitive, like mod_wsgi).
    pub name: &'static str,
    /// How the value is validated.
    pub check: Check,
    /// Default in words.
    pub default: &'static str,
    /// A valid example, used in `help:` lines.
    pub example: &'static str,
    /// mod_wsgi's message for an invalid value (empty when it accepts anything).
    pub apache: &'static str,
    /// mod_wsgi's message when out of range, if different.
    pub apache_range: Option<&'static str>,
    /// What the option does.
    pub doc: &'static str,
}

/// The options of WSGIDaemonProcess as a markdown table (for the
/// directive reference).
pub fn daemon_options_markdown() -> String {
    let mut out = String::from(
        "| option | default | example | what it does | quill serve |\n|---|---|---|---|---|\n",
    );
    for o in DAEMON_OPTIONS {
        let served = crate::served::daemon_option(o.name).map_or(String::new(), |s| {
            if s.note.is_empty() {
                s.served.label().to_string()
            } else {
                format!("{} — {}", s.served.label(), s.note)
            }
        });
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} | {served} |\n",
            o.name, o.default, o.example, o.doc
        ));
    }
    out
}

const fn opt(
    name: &'static str,
    check: Check,
    default: &'static str,
    example: &'static str,
    apache: &'static str,
    doc: &'static str,
) -> DaemonOption {
    DaemonOption {
        name,
        check,
        default,
        example,
        apache,
        apache_range: None,
        doc,
    }
}

const fn ranged(mut o: DaemonOption, apache_range: &'static str) -> DaemonOption {
    o.apache_range = Some(apache_range);
    o
}

const NON_NEG: Check = Check::Int {
    min: 0,
    max: i32::MAX as i64,
};

/// Every option of WSGIDaemonProcess (mod_wsgi 4.9.4 / 5.0.2).
pub static DAEMON_OPTIONS: &[DaemonOption] = &[
    opt(
        "processes",
        Check::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "1",
        "processes=2",
        "Invalid process count for WSGI daemon process.",
        "Processes in the group. Giving it at all (even `processes=1`) makes wsgi.multiprocess True.",
    ),
    opt(
        "threads",
        Check::Int { min: 0, max: 65533 },
        "15",
        "threads=15",
        "Invalid thread count for WSGI daemon process.",
        "Request threads per process; 0 = managed-process mode (import scripts only).",
    ),
    opt(
        "display-name",
        Check::Text,
        "none",
        "display-name=%{GROUP}",
        "",
        "Process title; `%{GROUP}` becomes `(wsgi:NAME)`.",
    ),
    opt(
        "home",
        Check::Absolute,
        "none",
        "home=/srv/app",
        "Invalid home directory for WSGI daemon process.",
        "Working directory, also inserted at sys.path[0].",
    ),
    opt(
        "python-home",
        Check::Text,
        "WSGIPythonHome",
        "python-home=/srv/venv",
        "",
        "Python prefix (virtualenv) of the group.",
    ),
    opt(
        "python-path",
        Check::Text,
        "none",
        "python-path=/srv/app:/srv/lib",
        "",
        "`:`-separated directories added with site.addsitedir and moved to the front of sys.path.",
    ),
    opt(
        "python-eggs",
        Check::Text,
        "none",
        "python-eggs=/tmp/python-eggs",
        "",
        "PYTHON_EGG_CACHE of the group.",
    ),
    opt(
        "lang",
        Check::Text,
        "none",
        "lang=en_US.UTF-8",
        "",
        "LANG of the processes.",
    ),
    opt(
        "locale",
        Check::Text,
        "none",
        "locale=en_US.UTF-8",
        "",
        "LC_ALL of the processes (and setlocale).",
    ),
    opt(
        "user",
        Check::User,
        "Apache's User",
        "user=www-data",
        "Invalid user for WSGI daemon process.",
        "User (name or #uid) the processes run as; root is refused.",
    ),
    opt(
        "group",
        Check::NonEmpty,
        "Apache's Group",
        "group=www-data",
        "Invalid group for WSGI daemon process.",
        "Primary group (name or #gid).",
    ),
    opt(
        "supplementary-groups",
        Check::List,
        "initgroups(user)",
        "supplementary-groups=adm,staff",
        "",
        "Comma-separated supplementary groups.",
    ),
    opt(
        "umask",
        Check::Octal,
        "inherited",
        "umask=0022",
        "Invalid umask for WSGI daemon process.",
        "Octal umask applied after the privilege drop.",
    ),
    opt(
        "chroot",
        Check::Absolute,
        "none",
        "chroot=/srv/jail",
        "Invalid chroot directory for WSGI daemon process.",
        "chroot jail (deprecated; Apache must start as root).",
    ),
    opt(
        "maximum-requests",
        NON_NEG,
        "0 (never)",
        "maximum-requests=1000",
        "Invalid request count for WSGI daemon process.",
        "Restart a process after this many requests.",
    ),
    opt(
        "inactivity-timeout",
        NON_NEG,
        "0 (off)",
        "inactivity-timeout=300",
        "Invalid inactivity timeout for WSGI daemon process.",
        "Restart after this many seconds without request activity.",
    ),
    opt(
        "request-timeout",
        NON_NEG,
        "0 (off)",
        "request-timeout=60",
        "Invalid request timeout for WSGI daemon process.",
        "Restart when the average running time over all threads exceeds this (seconds).",
    ),
    opt(
        "deadlock-timeout",
        NON_NEG,
        "300",
        "deadlock-timeout=60",
        "Invalid deadlock timeout for WSGI daemon process.",
        "Restart when the GIL could not be acquired for this long; 0 also removes the monitor thread.",
    ),
    opt(
        "graceful-timeout",
        NON_NEG,
        "15",
        "graceful-timeout=15",
        "Invalid graceful timeout for WSGI daemon process.",
        "Grace window after maximum-requests, restart-interval, cpu-time-limit or SIGUSR1.",
    ),
    opt(
        "eviction-timeout",
        NON_NEG,
        "0 (graceful-timeout)",
        "eviction-timeout=30",
        "Invalid eviction timeout for WSGI daemon process.",
        "Grace window after SIGUSR1.",
    ),
    opt(
        "shutdown-timeout",
        NON_NEG,
        "5",
        "shutdown-timeout=5",
        "Invalid shutdown timeout for WSGI daemon process.",
        "Hard exit this many seconds after shutdown begins.",
    ),
    opt(
        "startup-timeout",
        NON_NEG,
        "0 (off)",
        "startup-timeout=15",
        "Invalid startup timeout for WSGI daemon process.",
        "Restart if the script has not loaded this long after the first request tried.",
    ),
    opt(
        "restart-interval",
        NON_NEG,
        "0 (off)",
        "restart-interval=3600",
        "Invalid restart interval for WSGI daemon process.",
        "Restart every this many seconds of process life (gracefully).",
    ),
    opt(
        "connect-timeout",
        NON_NEG,
        "15",
        "connect-timeout=15",
        "Invalid connect timeout for WSGI daemon process.",
        "How long an Apache child retries a refused connect before 503.",
    ),
    opt(
        "socket-timeout",
        NON_NEG,
        "0 (Apache Timeout)",
        "socket-timeout=60",
        "Invalid socket timeout for WSGI daemon process.",
        "Read/write timeout between the Apache child and the daemon; also the wait for response headers (504).",
    ),
    opt(
        "queue-timeout",
        NON_NEG,
        "0 (off)",
        "queue-timeout=45",
        "Invalid queue timeout for WSGI daemon process.",
        "Requests that waited longer than this for a thread get 504.",
    ),
    opt(
        "listen-backlog",
        NON_NEG,
        "100",
        "listen-backlog=100",
        "Invalid listen backlog for WSGI daemon process.",
        "listen() backlog of the group socket.",
    ),
    ranged(
        opt(
            "send-buffer-size",
            Check::ZeroOrAtLeast { min: 512 },
            "0 (OS default)",
            "send-buffer-size=65536",
            "Invalid send buffer size for WSGI daemon process.",
            "SO_SNDBUF of the daemon socket.",
        ),
        "Send buffer size must be >= 512 bytes, or 0 for system default.",
    ),
    ranged(
        opt(
            "receive-buffer-size",
            Check::ZeroOrAtLeast { min: 512 },
            "0 (OS default)",
            "receive-buffer-size=65536",
            "Invalid receive buffer size for WSGI daemon process.",
            "SO_RCVBUF of the daemon socket.",
        ),
        "Receive buffer size must be >= 512 bytes, or 0 for system default.",
    ),
    ranged(
        opt(
            "header-buffer-size",
            Check::ZeroOrAtLeast { min: 8192 },
            "0 (32768)",
            "header-buffer-size=32768",
            "Invalid header buffer size for WSGI daemon process.",
            "Longest response header line accepted from the daemon.",
        ),
        "Header buffer size must be >= 8192 bytes, or 0 for default.",
    ),
    ranged(
        opt(
            "response-buffer-size",
            Check::ZeroOrAtLeast { min: 65536 },
            "0 (65536)",
            "response-buffer-size=65536",
            "Invalid response buffer size for WSGI daemon process.",
            "Bytes after which the Apache child flushes the response to the client.",
        ),
        "Response buffer size must be >= 65536 bytes, or 0 for default.",
    ),
    opt(
        "response-socket-timeout",
        NON_NEG,
        "0 (socket-timeout)",
        "response-socket-timeout=60",
        "Invalid response socket timeout for WSGI daemon process.",
        "Client write timeout while relaying the response body.",
    ),
    opt(
        "socket-user",
        Check::NonEmpty,
        "Apache's User",
        "socket-user=www-data",
        "Invalid socket user for WSGI daemon process.",
        "Owner of the UNIX socket.",
    ),
    opt(
        "script-user",
        Check::NonEmpty,
        "none",
        "script-user=app",
        "Invalid script user for WSGI daemon process.",
        "Required owner of the WSGI script and its directory (else 403).",
    ),
    opt(
        "script-group",
        Check::NonEmpty,
        "none",
        "script-group=app",
        "Invalid script group for WSGI daemon process.",
        "Required group of the WSGI script and its directory (else 403).",
    ),
    opt(
        "cpu-time-limit",
        NON_NEG,
        "0 (none)",
        "cpu-time-limit=3600",
        "Invalid CPU time limit for WSGI daemon process.",
        "RLIMIT_CPU in CPU-seconds; graceful restart when reached.",
    ),
    opt(
        "cpu-priority",
        Check::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        "0",
        "cpu-priority=5",
        "Invalid CPU priority for WSGI daemon process.",
        "setpriority() nice value.",
    ),
    opt(
        "memory-limit",
        Check::Bytes,
        "0 (none)",
        "memory-limit=1073741824",
        "Invalid memory limit for WSGI daemon process.",
        "RLIMIT_DATA in bytes (allocations fail beyond it; no graceful restart).",
    ),
    opt(
        "virtual-memory-limit",
        Check::Bytes,
        "0 (none)",
        "virtual-memory-limit=2147483648",
        "Invalid virtual memory limit for WSGI daemon process.",
        "RLIMIT_AS in bytes.",
    ),
    opt(
        "stack-size",
        Check::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "0 (OS default)",
        "stack-size=524288",
        "Invalid stack size for WSGI daemon process.",
        "Stack size of the worker threads in bytes.",
    ),
    opt(
        "server-metrics",
        Check::Flag,
        "Off",
        "server-metrics=On",
        "Invalid server metrics flag for WSGI daemon process.",
        "Allow mod_wsgi.server_metrics() in the group.",
    ),
    opt(
        "newrelic-config-file",
        Check::Text,
        "none",
        "newrelic-config-file=/etc/newrelic.ini",
        "",
        "New Relic agent configuration (4.x/5.x only).",
    ),
    opt(
        "newrelic-environment",
        Check::Text,
        "none",
        "newrelic-environment=production",
        "",
        "New Relic agent environment (4.x/5.x only).",
    ),
];

/// Look an option up (names are case-sensitive in mod_wsgi).
pub fn daemon_option(name: &str) -> Option<&'static DaemonOption> {
    DAEMON_OPTIONS.iter().find(|o| o.name == name)
}

/// What the declaring server contributes to a group's defaults.
#[derive(Debug, Clone)]
pub(crate) struct DaemonContext<'s> {
    pub definition_index: usize,
    pub declared_in: DeclaredIn,
    /// Apache `Timeout` (seconds) of the declaring server.
    pub server_timeout_s: u64,
    /// `WSGIPythonHome`.
    pub python_home: Option<&'s str>,
    /// Socket path prefix and rotation.
    pub socket_prefix: &'s str,
    pub socket_rotation: bool,
}

/// Parse one WSGIDaemonProcess. Invalid options are reported and left at
/// their defaults; the group is still returned (so later references to it
/// do not cascade into more errors).
pub(crate) fn parse(
    item: &Item<'_>,
    ctx: &DaemonContext<'_>,
    sources: &SourceMap,
    diags: &mut Diagnostics,
) -> Option<DaemonProcess> {
    let name_arg = item.directive.args.first()?;
    let name = name_arg.value.clone();
    if name.is_empty() {
        diags.push(
            Diagnostic::error(
                "wsgi/bad-daemon-option",
                "WSGIDaemonProcess needs a group name",
            )
            .at(name_arg.span, "empty name")
            .apache("Name of WSGI daemon process not supplied.")
            .help("write e.g. `WSGIDaemonProcess myapp threads=15`"),
        );
        return None;
    }
    let (opts, malformed) = options::split_options(&item.directive.args[1..], sources);
    for m in &malformed {
        report_malformed(m, diags);
    }
    let mut b = Builder::new(&name);
    for o in &opts {
        b.apply(o, &name, diags);
    }
    if let (Some(u), Some(g)) = (&b.script_user, &b.script_group) {
        diags.push(
            Diagnostic::error(
                "wsgi/bad-daemon-option",
                "script-user and script-group cannot both be given",
            )
            .at(u.1, "script-user here")
            .also(g.1, "script-group here")
            .apache("Only one of script-user and script-group allowed.")
            .help("remove one of `script-user=` and `script-group=`"),
        );
    }
    if let Some((_, span)) = &b.chroot {
        diags.push(
            Diagnostic::note(
                "wsgi/chroot-needs-root",
                "chroot= only works when Apache starts as root",
            )
            .at(*span, "deprecated option")
            .apache("Cannot chroot WSGI daemon process when not root.")
            .help("remove `chroot=` unless Apache starts as root (the option is deprecated)"),
        );
    }
    let d = b.finish(ctx, item, sources);
    let t = &d.timeouts;
    if !d.monitor_thread {
        let unenforced: Vec<&str> = [
            ("request-timeout", t.request_timeout_s),
            ("startup-timeout", t.startup_timeout_s),
            ("restart-interval", t.restart_interval_s),
        ]
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(n, _)| *n)
        .collect();
        if !unenforced.is_empty() {
            diags.push(
                Diagnostic::warning(
                    "wsgi/timers-not-enforced",
                    format!(
                        "{} of daemon group '{}' is never enforced: deadlock-timeout=0 and no inactivity-timeout leave the group without its monitor thread",
                        unenforced.join(", "),
                        d.name
                    ),
                )
                .at(item.directive.args_span(), "no monitor thread")
                .note_line("mod_wsgi starts the monitor thread only when deadlock-timeout or inactivity-timeout is non-zero (verified on 4.9.4: a 6 s request outlived request-timeout=3)")
                .help("remove `deadlock-timeout=0` (the default is 300) or set e.g. `deadlock-timeout=60`"),
            );
        }
    }
    Some(d)
}

pub(crate) fn report_malformed(m: &Malformed, diags: &mut Diagnostics) {
    diags.push(
        Diagnostic::error(
            "wsgi/malformed-option",
            format!("`{}` is not a WSGIDaemonProcess option: {}", m.text, m.why),
        )
        .at(m.span, "expected name=value")
        .apache("Invalid option to WSGI daemon process definition.")
        .help(malformed_help(&m.text)),
    );
}

/// A concrete rewrite of a malformed option word.
pub(crate) fn malformed_help(text: &str) -> String {
    let inner = text.trim_matches(|c| c == '"' || c == '\'');
    match inner.split_once('=') {
        Some((k, v)) if !k.is_empty() => format!("quote only the value: `{k}='{v}'`"),
        _ => "write options as `name=value`, e.g. `threads=15`".to_string(),
    }
}

/// Options as they are read; finished into a [`DaemonProcess`].
struct Builder<'n> {
    name: &'n str,
    processes: Option<u32>,
    threads: u32,
    display_name: Option<String>,
    user: Option<String>,
    group: Option<String>,
    supplementary_groups: Vec<String>,
    umask: Option<u32>,
    chroot: Option<(String, crate::source::Span)>,
    home: Option<String>,
    socket_user: Option<String>,
    script_user: Option<(String, crate::source::Span)>,
    script_group: Option<(String, crate::source::Span)>,
    python_home: Option<String>,
    python_path: Vec<String>,
    python_eggs: Option<String>,
    lang: Option<String>,
    locale: Option<String>,
    newrelic_config_file: Option<String>,
    newrelic_environment: Option<String>,
    maximum_requests: u32,
    inactivity: u32,
    request: u32,
    deadlock: u32,
    graceful: u32,
    eviction: u32,
    shutdown: u32,
    startup: u32,
    restart_interval: u32,
    connect: u32,
    socket_timeout: u32,
    queue: u32,
    response_socket_timeout: u32,
    listen_backlog: u32,
    send_buffer_size: u32,
    receive_buffer_size: u32,
    header_buffer_size: u32,
    response_buffer_size: u32,
    cpu_time_limit: u32,
    cpu_priority: i32,
    memory_limit: u64,
    virtual_memory_limit: u64,
    stack_size: u64,
    server_metrics: bool,
    given: Vec<String>,
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

impl<'n> Builder<'n> {
    fn new(name: &'n str) -> Self {
        Builder {
            name,
            processes: None,
            threads: 15,
            display_name: None,
            user: None,
            group: None,
            supplementary_groups: Vec::new(),
            umask: None,
            chroot: None,
            home: None,
            socket_user: None,
            script_user: None,
            script_group: None,
            python_home: None,
            python_path: Vec::new(),
            python_eggs: None,
            lang: None,
            locale: None,
            newrelic_config_file: None,
            newrelic_environment: None,
            maximum_requests: 0,
            inactivity: 0,
            request: 0,
            deadlock: 300,
            graceful: 15,
            eviction: 0,
            shutdown: 5,
            startup: 0,
            restart_interval: 0,
            connect: 15,
            socket_timeout: 0,
            queue: 0,
            response_socket_timeout: 0,
            listen_backlog: 100,
            send_buffer_size: 0,
            receive_buffer_size: 0,
            header_buffer_size: 0,
            response_buffer_size: 0,
            cpu_time_limit: 0,
            cpu_priority: 0,
            memory_limit: 0,
            virtual_memory_limit: 0,
            stack_size: 0,
            server_metrics: false,
            given: Vec::new(),
        }
    }

    fn apply(&mut self, o: &RawOption, group: &str, diags: &mut Diagnostics) {
        let Some(def) = daemon_option(&o.name) else {
            unknown_option(o, diags);
            return;
        };
        let Some(v) = check(def, o, group, diags) else {
            // Given, though refused (reported by `check`).
            self.given.push(def.name.to_string());
            return;
        };
        let text = || o.value.clone();
        match def.name {
            "processes" => self.processes = Some(to_u32(v.int)),
            "threads" => self.threads = to_u32(v.int),
            "display-name" => self.display_name = Some(text()),
            "home" => self.home = Some(text()),
            "python-home" => self.python_home = Some(text()),
            "python-path" => {
                self.python_path = o
                    .value
                    .split(':')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "python-eggs" => self.python_eggs = Some(text()),
            "lang" => self.lang = Some(text()),
            "locale" => self.locale = Some(text()),
            "user" => self.user = Some(text()),
            "group" => self.group = Some(text()),
            "supplementary-groups" => {
                // ap_getword(',') until the first empty item.
                self.supplementary_groups = o
                    .value
                    .split(',')
                    .take_while(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "umask" => self.umask = Some(to_u32(v.int)),
            "chroot" => self.chroot = Some((text(), o.span)),
            "maximum-requests" => self.maximum_requests = to_u32(v.int),
            "inactivity-timeout" => self.inactivity = to_u32(v.int),
            "request-timeout" => self.request = to_u32(v.int),
            "deadlock-timeout" => self.deadlock = to_u32(v.int),
            "graceful-timeout" => self.graceful = to_u32(v.int),
            "eviction-timeout" => self.eviction = to_u32(v.int),
            "shutdown-timeout" => self.shutdown = to_u32(v.int),
            "startup-timeout" => self.startup = to_u32(v.int),
            "restart-interval" => self.restart_interval = to_u32(v.int),
            "connect-timeout" => self.connect = to_u32(v.int),
            "socket-timeout" => self.socket_timeout = to_u32(v.int),
            "queue-timeout" => self.queue = to_u32(v.int),
            "listen-backlog" => self.listen_backlog = to_u32(v.int),
            "send-buffer-size" => self.send_buffer_size = to_u32(v.int),
            "receive-buffer-size" => self.receive_buffer_size = to_u32(v.int),
            "header-buffer-size" => self.header_buffer_size = to_u32(v.int),
            "response-buffer-size" => self.response_buffer_size = to_u32(v.int),
            "response-socket-timeout" => self.response_socket_timeout = to_u32(v.int),
            "socket-user" => self.socket_user = Some(text()),
            "script-user" => self.script_user = Some((text(), o.span)),
            "script-group" => self.script_group = Some((text(), o.span)),
            "cpu-time-limit" => self.cpu_time_limit = to_u32(v.int),
            "cpu-priority" => self.cpu_priority = i32::try_from(v.int).unwrap_or(0),
            "memory-limit" => self.memory_limit = u64::try_from(v.int).unwrap_or(0),
            "virtual-memory-limit" => {
                self.virtual_memory_limit = u64::try_from(v.int).unwrap_or(0);
            }
            "stack-size" => self.stack_size = u64::try_from(v.int).unwrap_or(0),
            "server-metrics" => self.server_metrics = v.flag,
            "newrelic-config-file" => self.newrelic_config_file = Some(text()),
            "newrelic-environment" => self.newrelic_environment = Some(text()),
            // An option of the table without an arm here has no behaviour:
            // it is then not even recorded as given, and the test
            // `every_option_in_the_table_is_applied` fails.
            _ => return,
        }
        self.given.push(def.name.to_string());
    }

    fn finish(
        self,
        ctx: &DaemonContext<'_>,
        item: &Item<'_>,
        sources: &SourceMap,
    ) -> DaemonProcess {
        let name = self.name.to_string();
        let effective_socket_timeout_s = if self.socket_timeout > 0 {
            u64::from(self.socket_timeout)
        } else {
            ctx.server_timeout_s
        };
        let effective_response_socket_timeout_s = if self.response_socket_timeout > 0 {
            u64::from(self.response_socket_timeout)
        } else {
            effective_socket_timeout_s
        };
        let path = if ctx.socket_rotation {
            format!(
                "{}.{{pid}}.{{generation}}.{}.sock",
                ctx.socket_prefix, ctx.definition_index
            )
        } else {
            format!(
                "{}.{{pid}}.u{{uid}}.{}.sock",
                ctx.socket_prefix, ctx.definition_index
            )
        };
        let process_title = self
            .display_name
            .as_ref()
            .map(|d| d.replace("%{GROUP}", &format!("(wsgi:{name})")));
        DaemonProcess {
            definition_index: ctx.definition_index,
            declared_in: ctx.declared_in.clone(),
            at: sources.location(item.span()),
            processes: self.processes.unwrap_or(1),
            multiprocess: self.processes.is_some(),
            threads: self.threads,
            multithread: self.threads != 1,
            display_name: self.display_name,
            process_title,
            maximum_requests: self.maximum_requests,
            monitor_thread: self.deadlock > 0 || self.inactivity > 0,
            server_metrics: self.server_metrics,
            identity: DaemonIdentity {
                user: self.user,
                group: self.group,
                supplementary_groups: self.supplementary_groups,
                umask: self.umask,
                chroot: self.chroot.map(|c| c.0),
                home: self.home,
                socket_user: self.socket_user,
                script_user: self.script_user.map(|s| s.0),
                script_group: self.script_group.map(|s| s.0),
            },
            python: DaemonPython {
                effective_python_home: self
                    .python_home
                    .clone()
                    .or_else(|| ctx.python_home.map(str::to_string)),
                python_home: self.python_home,
                python_path: self.python_path,
                python_eggs: self.python_eggs,
                lang: self.lang,
                locale: self.locale,
                newrelic_config_file: self.newrelic_config_file,
                newrelic_environment: self.newrelic_environment,
            },
            timeouts: DaemonTimeouts {
                inactivity_timeout_s: self.inactivity,
                request_timeout_s: self.request,
                deadlock_timeout_s: self.deadlock,
                graceful_timeout_s: self.graceful,
                eviction_timeout_s: self.eviction,
                shutdown_timeout_s: self.shutdown,
                startup_timeout_s: self.startup,
                restart_interval_s: self.restart_interval,
                connect_timeout_s: self.connect,
                socket_timeout_s: self.socket_timeout,
                effective_socket_timeout_s,
                queue_timeout_s: self.queue,
                response_socket_timeout_s: self.response_socket_timeout,
                effective_response_socket_timeout_s,
            },
            socket: DaemonSocket {
                path,
                listen_backlog: self.listen_backlog,
                send_buffer_size: self.send_buffer_size,
                receive_buffer_size: self.receive_buffer_size,
                header_buffer_size: self.header_buffer_size,
                effective_header_buffer_size: if self.header_buffer_size > 0 {
                    self.header_buffer_size
                } else {
                    32768
                },
                response_buffer_size: self.response_buffer_size,
                effective_response_buffer_size: if self.response_buffer_size > 0 {
                    self.response_buffer_size
                } else {
                    65536
                },
            },
            limits: DaemonLimits {
                cpu_time_limit_s: self.cpu_time_limit,
                cpu_priority: self.cpu_priority,
                memory_limit: self.memory_limit,
                virtual_memory_limit: self.virtual_memory_limit,
                stack_size: self.stack_size,
            },
            options_given: self.given,
            name,
        }
    }
}

fn unknown_option(o: &RawOption, diags: &mut Diagnostics) {
    let names = DAEMON_OPTIONS.iter().map(|d| d.name);
    let suggestion = options::closest(&o.name, names);
    let valid: Vec<&str> = DAEMON_OPTIONS.iter().map(|d| d.name).collect();
    let mut d = Diagnostic::error(
        "wsgi/unknown-daemon-option",
        format!("unknown WSGIDaemonProcess option `{}`", o.name),
    )
    .at(
        o.name_span,
        match suggestion {
            Some(s) => format!("did you mean `{s}`?"),
            None => "not an option of mod_wsgi 4.9/5.0".to_string(),
        },
    )
    .apache("Invalid option to WSGI daemon process definition.");
    d = d.note_line(format!("valid options: {}", valid.join(", ")));
    d = match suggestion {
        Some(s) => d.help(format!("write `{s}={}`", o.value)),
        None => d.help(format!("remove `{}={}`", o.name, o.value)),
    };
    diags.push(d);
}

/// A checked value.
#[derive(Debug, Clone, Copy, Default)]
struct Value {
    int: i64,
    flag: bool,
}

/// Validate `o` against `def`; `None` when mod_wsgi would refuse it.
fn check(def: &DaemonOption, o: &RawOption, group: &str, diags: &mut Diagnostics) -> Option<Value> {
    let v = o.value.as_str();
    let refuse = |diags: &mut Diagnostics, apache: &str, why: String| {
        diags.push(
            Diagnostic::error("wsgi/bad-daemon-option", format!("{}={v}: {why}", def.name))
                .at(o.span, "refused by mod_wsgi")
                .apache(apache.to_string())
                .help(format!("write e.g. `{}`", def.example)),
        );
    };
    let int_of = |diags: &mut Diagnostics, wide: bool| -> i64 {
        let n = if wide {
            options::atoi64(v)
        } else {
            mpm::atoi(v)
        };
        let clean = options::is_plain_int(v, if wide { 18 } else { 10 });
        if !clean {
            diags.push(
                Diagnostic::warning(
                    "wsgi/not-a-number",
                    format!(
                        "`{v}` is not a whole number; mod_wsgi reads {}={n}",
                        def.name
                    ),
                )
                .at(o.value_span, "read with C atoi")
                .help(format!("write e.g. `{}`", def.example)),
            );
        }
        n
    };
    match def.check {
        Check::Text | Check::List => Some(Value::default()),
        Check::NonEmpty => {
            if v.is_empty() {
                refuse(diags, def.apache, "the value is empty".to_string());
                return None;
            }
            Some(Value::default())
        }
        Check::Absolute => {
            if !v.starts_with('/') {
                refuse(
                    diags,
                    def.apache,
                    "must be an absolute path (start with `/`)".to_string(),
                );
                return None;
            }
            Some(Value::default())
        }
        Check::User => {
            if v.is_empty() {
                refuse(diags, def.apache, "the value is empty".to_string());
                return None;
            }
            let is_root = v == "root" || v.strip_prefix('#').is_some_and(|n| mpm::atoi(n) == 0);
            if is_root {
                diags.push(
                    Diagnostic::error(
                        "wsgi/daemon-as-root",
                        format!(
                            "daemon group '{group}' would run as root ({}={v})",
                            def.name
                        ),
                    )
                    .at(o.span, "uid 0 is refused")
                    .apache("WSGI process blocked from running as root.")
                    .help("write `user=www-data` (or another unprivileged account)"),
                );
                return None;
            }
            Some(Value::default())
        }
        Check::Octal => {
            let t = v.trim_start();
            let (neg, digits) = match t.as_bytes().first() {
                Some(b'-') => (true, &t[1..]),
                Some(b'+') => (false, &t[1..]),
                _ => (false, t),
            };
            let ok = !v.is_empty()
                && !neg
                && !digits.is_empty()
                && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
            match (ok, i64::from_str_radix(digits, 8)) {
                (true, Ok(n)) => Some(Value {
                    int: n,
                    flag: false,
                }),
                _ => {
                    refuse(
                        diags,
                        def.apache,
                        "must be an octal number such as 0022".to_string(),
                    );
                    None
                }
            }
        }
        Check::Flag => {
            if v.eq_ignore_ascii_case("on") {
                Some(Value { int: 1, flag: true })
            } else if v.eq_ignore_ascii_case("off") {
                Some(Value::default())
            } else {
                refuse(diags, def.apache, "must be On or Off".to_string());
                None
            }
        }
        Check::Int { min, max } => {
            if v.is_empty() {
                refuse(diags, def.apache, "the value is empty".to_string());
                return None;
            }
            let n = int_of(diags, false);
            if n < min || n > max {
                let why = if max >= i64::from(i32::MAX) {
                    format!("must be at least {min}")
                } else {
                    format!("must be between {min} and {max}")
                };
                refuse(diags, def.apache, why);
                return None;
            }
            Some(Value {
                int: n,
                flag: false,
            })
        }
        Check::ZeroOrAtLeast { min } => {
            if v.is_empty() {
                refuse(diags, def.apache, "the value is empty".to_string());
                return None;
            }
            let n = int_of(diags, false);
            if n != 0 && n < min {
                refuse(
                    diags,
                    def.apache_range.unwrap_or(def.apache),
                    format!("must be 0 (default) or at least {min}"),
                );
                return None;
            }
            Some(Value {
                int: n,
                flag: false,
            })
        }
        Check::Bytes => {
            if v.is_empty() {
                refuse(diags, def.apache, "the value is empty".to_string());
                return None;
            }
            let n = int_of(diags, true);
            if n < 0 {
                refuse(diags, def.apache, "must not be negative".to_string());
                return None;
            }
            Some(Value {
                int: n,
                flag: false,
            })
        }
    }
}
