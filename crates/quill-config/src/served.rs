//! What `quill serve` (and `quill express`, which serves with the same
//! code) does at run time with each directive of [`crate::directives`]
//! and each option of `WSGIDaemonProcess` ([`crate::wsgi::DAEMON_OPTIONS`]).
//!
//! Every directive is read and checked the same way by all commands; this
//! table says which of them the server then applies. It is kept apart from
//! the directive tables so that it is one place to read and to update: a
//! test requires exactly one entry per directive and per daemon option, so
//! a directive added later must be classified here. docs/directives.md
//! shows each entry under its directive and a summary at the top.
//!
//! The notes are claims about `crates/quill-server` (the plan built from
//! the resolved model in `configure.rs`, the front end, the supervisor)
//! and `crates/quill-daemon`; change them when those change.

/// How much of a directive or option `quill serve` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Served {
    /// Applied as httpd or mod_wsgi apply it.
    Applied,
    /// Applied in part; the note says what is and what is not.
    InPart,
    /// Read and checked (quill check, quill config and quill simulate see
    /// it) but not applied by the server; the note says what happens.
    NotApplied,
    /// Only meaningful while the configuration is read.
    ParseTime,
}

impl Served {
    /// Every class, in documentation order.
    pub const ALL: [Served; 4] = [
        Served::Applied,
        Served::InPart,
        Served::NotApplied,
        Served::ParseTime,
    ];

    /// The words the reference uses for the class.
    pub fn label(self) -> &'static str {
        match self {
            Served::Applied => "applied",
            Served::InPart => "in part",
            Served::NotApplied => "not applied",
            Served::ParseTime => "parse time only",
        }
    }
}

/// One directive's (or daemon option's) entry.
#[derive(Debug, Clone, Copy)]
pub struct ServedEntry {
    /// The directive's name as [`crate::directives`] spells it (not an old
    /// alias), or the daemon option's.
    pub name: &'static str,
    pub served: Served,
    /// What is applied and what is not; required for [`Served::InPart`]
    /// and [`Served::NotApplied`], may be empty otherwise.
    pub note: &'static str,
}

impl ServedEntry {
    /// The line docs/directives.md shows under the directive.
    pub fn markdown_line(&self) -> String {
        match (self.served, self.note) {
            (Served::Applied, "") => "- quill serve: applied".to_string(),
            (Served::ParseTime, "") => {
                "- quill serve: parse time only (its effect is on what is read)".to_string()
            }
            (s, note) => format!("- quill serve: {} — {note}", s.label()),
        }
    }
}

const fn e(name: &'static str, served: Served, note: &'static str) -> ServedEntry {
    ServedEntry { name, served, note }
}

use Served::*;

/// Every directive of [`crate::directives::tables`], in their order.
pub static DIRECTIVES: &[ServedEntry] = &[
    // Core and parse-time.
    e(
        "ServerRoot",
        Applied,
        "relative paths of scripts, aliases, logs and the WSGI socket prefix are taken from it",
    ),
    e("Include", ParseTime, ""),
    e("IncludeOptional", ParseTime, ""),
    e("Define", ParseTime, ""),
    e("UnDefine", ParseTime, ""),
    e(
        "LoadModule",
        ParseTime,
        "it decides <IfModule> and the MPM the server runs, and whether RequestReadTimeout applies (reqtimeout_module)",
    ),
    e(
        "Listen",
        InPart,
        "HTTP, or HTTPS where the server has `SSLEngine on`, on an IP address (or `localhost`); a host name makes quill serve refuse to start",
    ),
    e(
        "ServerName",
        Applied,
        "chooses the name-based virtual host; SERVER_NAME when a request has no Host",
    ),
    e(
        "ServerAlias",
        Applied,
        "chooses the name-based virtual host",
    ),
    e("KeepAlive", Applied, ""),
    e("KeepAliveTimeout", Applied, ""),
    e("MaxKeepAliveRequests", Applied, ""),
    e(
        "Timeout",
        Applied,
        "each read and write of a client connection; the default of the daemon groups' socket-timeout",
    ),
    e("AllowEncodedSlashes", Applied, ""),
    e(
        "HttpProtocolOptions",
        InPart,
        "Strict and Unsafe (bare-LF line ends) are applied; the method and HTTP/0.9 options are not",
    ),
    e(
        "LimitRequestBody",
        InPart,
        "the server's and each virtual host's value (413) is applied; inside <Directory>, <Location> and the like it is not",
    ),
    e(
        "LimitRequestFields",
        NotApplied,
        "hyper's own limit of 100 header fields applies whatever the value (431, where httpd answers 400)",
    ),
    e(
        "LimitRequestFieldSize",
        InPart,
        "counted only in the limit of the whole head, LimitRequestLine + 4 × LimitRequestFieldSize and at least 16 KiB (431); one field longer than it is not refused on its own (httpd: 400)",
    ),
    e("LimitRequestLine", Applied, "414"),
    e(
        "DocumentRoot",
        InPart,
        "gives DOCUMENT_ROOT and the file named in access-denied log lines; its files are not served (a URL no Alias or mount maps gets 404)",
    ),
    e(
        "ErrorLog",
        InPart,
        "per server: a request's lines go to the error log of the server that answered it (a head refused before its server is known, to the main server's); a file path (relative to ServerRoot) or /dev/stderr; `syslog` and a piped `|command` make quill serve refuse to start",
    ),
    e(
        "LogLevel",
        InPart,
        "per server, with per-module levels (`LogLevel warn wsgi:info`); a LogLevel inside <Directory> or <Location> is not applied",
    ),
    e(
        "SetHandler",
        InPart,
        "`server-status` and `quill-metrics` inside <Location> are applied; other handlers are not",
    ),
    // MPM.
    e("StartServers", Applied, ""),
    e("MinSpareServers", Applied, ""),
    e("MaxSpareServers", Applied, ""),
    e("MinSpareThreads", Applied, ""),
    e("MaxSpareThreads", Applied, ""),
    e("ThreadsPerChild", Applied, ""),
    e("ThreadLimit", Applied, ""),
    e("ServerLimit", Applied, ""),
    e("MaxRequestWorkers", Applied, ""),
    e("MaxConnectionsPerChild", Applied, ""),
    e("ListenBacklog", Applied, ""),
    e(
        "ListenCoresBucketsRatio",
        InPart,
        "the pool's maintenance runs per bucket as httpd's does, but every child accepts on the same listening sockets (no per-bucket duplicates)",
    ),
    e("AsyncRequestWorkerFactor", Applied, ""),
    e("GracefulShutdownTimeout", Applied, ""),
    // Aliases, logs, TLS.
    e("ExtendedStatus", Applied, ""),
    e(
        "Require",
        InPart,
        "applied in a <Location> with `SetHandler server-status` or `quill-metrics` (`local`, `ip`, `all granted|denied`); elsewhere not",
    ),
    e(
        "Alias",
        InPart,
        "URL-prefix aliases of the main server and virtual hosts serve static files; the one-argument form inside <Location> is not applied",
    ),
    e(
        "AliasMatch",
        NotApplied,
        "its URLs are not mapped: they go on to the WSGI mounts, or get 404",
    ),
    e(
        "RequestReadTimeout",
        InPart,
        "the header and body stages are applied when reqtimeout_module is loaded; the handshake stage (TLS) is not",
    ),
    e(
        "CustomLog",
        InPart,
        "per server (a virtual host's own replace the main server's), in its format, with `env=` and `env=!` conditions; a piped `|command` or an `expr=` condition makes quill serve refuse to start",
    ),
    e(
        "LogFormat",
        InPart,
        "formats are parsed as httpd parses them and applied; %u, %l, %L, %f, %R, %{…}n and mod_logio's fields are written as `-` (docs/logging.md)",
    ),
    e(
        "SSLEngine",
        InPart,
        "`on` serves TLS with rustls (docs/express.md, TLS); `optional` is not applied",
    ),
    e(
        "SSLCertificateFile",
        Applied,
        "read and checked before any child starts, and again at each restart",
    ),
    e(
        "SSLCertificateKeyFile",
        Applied,
        "read and checked before any child starts, and again at each restart",
    ),
    e(
        "SSLCertificateChainFile",
        Applied,
        "read and checked before any child starts, and again at each restart",
    ),
    e(
        "SSLProtocol",
        InPart,
        "TLS 1.2 and 1.3, as rustls speaks them; older versions get a `tls/*` warning (quill check, and the error log at start-up) and are not offered",
    ),
    e(
        "SSLCipherSuite",
        InPart,
        "the suites rustls has (nine); others get a `tls/*` warning and are not offered",
    ),
    e("SSLHonorCipherOrder", Applied, ""),
    e(
        "SSLOptions",
        InPart,
        "`+StdEnvVars` at server and virtual-host level; inside <Directory>, <Location> or <Files> it is not applied",
    ),
    e(
        "Protocols",
        InPart,
        "`h2` over TLS (chosen by ALPN) and `http/1.1`; `h2c` is not served",
    ),
    e("H2MaxSessionStreams", Applied, ""),
    e("H2WindowSize", Applied, ""),
    e("RemoteIPHeader", Applied, ""),
    e("RemoteIPProxiesHeader", Applied, ""),
    e(
        "RemoteIPTrustedProxy",
        InPart,
        "IP addresses and networks; a host name makes quill serve refuse to start",
    ),
    e(
        "RemoteIPInternalProxy",
        InPart,
        "IP addresses and networks; a host name makes quill serve refuse to start",
    ),
    e(
        "RemoteIPTrustedProxyList",
        InPart,
        "IP addresses and networks; a host name or an unreadable file makes quill serve refuse to start",
    ),
    e(
        "RemoteIPInternalProxyList",
        InPart,
        "IP addresses and networks; a host name or an unreadable file makes quill serve refuse to start",
    ),
    e(
        "SetEnvIf",
        InPart,
        "at server and virtual-host level (for `env=` logs, `%{NAME}e` and the WSGI environ); inside <Directory> or <Location> it is not applied",
    ),
    e("SetEnvIfNoCase", InPart, "as SetEnvIf"),
    e("BrowserMatch", InPart, "as SetEnvIf"),
    e("BrowserMatchNoCase", InPart, "as SetEnvIf"),
    // mod_wsgi.
    e(
        "WSGIDaemonProcess",
        InPart,
        "each group runs `processes` daemon processes of `threads` request threads; threads=0 (managed-process mode) makes quill serve refuse to start; its options are listed under WSGIDaemonProcess options",
    ),
    e(
        "WSGIProcessGroup",
        InPart,
        "a group name and `%{GLOBAL}` (embedded mode) are applied; a group decided per request (`%{ENV:variable}`) makes quill serve refuse to start",
    ),
    e(
        "WSGIApplicationGroup",
        InPart,
        "each group runs in its own interpreter (`%{GLOBAL}` the main one, docs/interpreters.md); names that depend on the request (`%{ENV:…}`, `%{HOST}`) run in the main interpreter",
    ),
    e(
        "WSGIScriptAlias",
        InPart,
        "a script file target is mounted; a directory target makes quill serve refuse to start",
    ),
    e(
        "WSGIScriptAliasMatch",
        NotApplied,
        "quill serve refuses to start with it",
    ),
    e(
        "WSGIImportScript",
        Applied,
        "loaded into its application group's interpreter in every process of its group (or every embedded-mode child for `%{GLOBAL}`) before requests",
    ),
    e("WSGICallableObject", Applied, ""),
    e("WSGIPassAuthorization", Applied, ""),
    e(
        "WSGIPythonHome",
        Applied,
        "embedded mode's interpreter and the default python-home of the daemon groups",
    ),
    e("WSGIPythonPath", Applied, "embedded mode's sys.path"),
    e("WSGIPythonEggs", NotApplied, "PYTHON_EGG_CACHE is not set"),
    e(
        "WSGISocketPrefix",
        Applied,
        "the group sockets are PREFIX.PID.0.N.sock, and the run files (scoreboard, daemon specs) go in the prefix's directory",
    ),
    e(
        "WSGISocketRotation",
        NotApplied,
        "socket names always hold the supervisor's pid and generation 0",
    ),
    e("WSGIRestrictEmbedded", Applied, ""),
    e(
        "WSGIRestrictProcess",
        NotApplied,
        "requests are delegated whatever it lists",
    ),
    e(
        "WSGIScriptReloading",
        InPart,
        "a changed script restarts its daemon group gracefully (the supervisor checks every second, not on each request); in embedded mode a changed script is imported again in place, as in mod_wsgi, but each child stats it at most once a second, not on each request",
    ),
    e("WSGIChunkedRequest", Applied, "411 when Off"),
    e(
        "WSGIMapHEADToGET",
        NotApplied,
        "the application always sees the request's own method",
    ),
    e(
        "WSGIErrorOverride",
        NotApplied,
        "the application's error bodies are sent as they are",
    ),
    e(
        "WSGIIgnoreActivity",
        NotApplied,
        "every request counts as activity for inactivity-timeout",
    ),
    e(
        "WSGIEnableSendfile",
        NotApplied,
        "`wsgi.file_wrapper` of a regular file always uses sendfile(2)",
    ),
    e(
        "WSGIAcceptMutex",
        NotApplied,
        "there is no accept lock: idle daemon threads wait on one epoll set, which wakes one per request",
    ),
    e(
        "WSGILazyInitialization",
        NotApplied,
        "Python always starts in the daemon processes and embedded-mode children only, as with On",
    ),
    e(
        "WSGIDestroyInterpreter",
        NotApplied,
        "a daemon process (when it exits cleanly) and an embedded-mode child (within 5 s of its exit) always run the atexit functions, as with On; interpreters are not finalised",
    ),
    e(
        "WSGIRestrictSignal",
        NotApplied,
        "`signal.signal()` is not intercepted",
    ),
    e(
        "WSGIRestrictStdout",
        NotApplied,
        "sys.stdout always goes to the error log, as with Off",
    ),
    e(
        "WSGIRestrictStdin",
        NotApplied,
        "sys.stdin is left as it is",
    ),
    e(
        "WSGIServerMetrics",
        NotApplied,
        "there is no `mod_wsgi.server_metrics()`",
    ),
    e(
        "WSGIHandlerScript",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGIDispatchScript",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGIPassApacheRequest",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGITrustedProxyHeaders",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGITrustedProxies",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGIAccessScript",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGIAuthUserScript",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGIAuthGroupScript",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGIGroupAuthoritative",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGIPythonOptimize",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGIPythonHashSeed",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGIPythonWarnings",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGIDontWriteBytecode",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGIVerboseDebugging",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGICaseSensitivity",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGINewRelicConfigFile",
        NotApplied,
        "recognised only, not modelled",
    ),
    e(
        "WSGINewRelicEnvironment",
        NotApplied,
        "recognised only, not modelled",
    ),
];

/// Every option of [`crate::wsgi::DAEMON_OPTIONS`], in its order.
pub static DAEMON_OPTIONS: &[ServedEntry] = &[
    e("processes", Applied, ""),
    e(
        "threads",
        InPart,
        "1 and more are applied; 0 (managed-process mode) makes quill serve refuse to start",
    ),
    e("display-name", Applied, ""),
    e("home", Applied, ""),
    e("python-home", Applied, ""),
    e("python-path", Applied, ""),
    e("python-eggs", NotApplied, "PYTHON_EGG_CACHE is not set"),
    e("lang", Applied, "LANG in the processes' environment"),
    e("locale", Applied, "LC_ALL in the processes' environment"),
    e(
        "user",
        Applied,
        "when quill starts as root; without user= the daemons keep quill's identity (mod_wsgi: Apache's User)",
    ),
    e("group", Applied, "when quill starts as root"),
    e("supplementary-groups", Applied, "when quill starts as root"),
    e("umask", NotApplied, "the daemons inherit quill's umask"),
    e("chroot", NotApplied, "the daemons are not jailed"),
    e("maximum-requests", Applied, ""),
    e("inactivity-timeout", Applied, ""),
    e(
        "request-timeout",
        InPart,
        "checked per thread (the request gets RequestTimeout raised and the client 504), not as mod_wsgi 4's average over the threads, and enforced even when mod_wsgi has no monitor thread (deadlock-timeout=0, no inactivity-timeout)",
    ),
    e("deadlock-timeout", Applied, ""),
    e("graceful-timeout", Applied, ""),
    e(
        "eviction-timeout",
        NotApplied,
        "a retiring process (SIGUSR1 too) has graceful-timeout + shutdown-timeout",
    ),
    e("shutdown-timeout", Applied, ""),
    e(
        "startup-timeout",
        Applied,
        "also when mod_wsgi would have no monitor thread to enforce it (deadlock-timeout=0 and no inactivity-timeout)",
    ),
    e(
        "restart-interval",
        NotApplied,
        "processes are not restarted on a schedule",
    ),
    e("connect-timeout", Applied, ""),
    e("socket-timeout", Applied, ""),
    e("queue-timeout", Applied, ""),
    e(
        "listen-backlog",
        Applied,
        "the group socket's backlog and the front end's admission queue for the group",
    ),
    e(
        "send-buffer-size",
        Applied,
        "on the daemon end of each connection (where Linux uses it: mod_wsgi sets it on the listening socket, which AF_UNIX connections do not inherit); not given (or 0), 1 MiB instead of the system's 208 KiB, for responses larger than that",
    ),
    e(
        "receive-buffer-size",
        Applied,
        "on the daemon end of each connection; Linux bounds a UNIX stream socket's data by its sender's send buffer, not by this",
    ),
    e(
        "header-buffer-size",
        NotApplied,
        "a response head from the daemon is one wire-protocol frame, up to 16 MiB",
    ),
    e(
        "response-buffer-size",
        NotApplied,
        "the front end buffers responses its own way (docs/express.md, Slow and never-reading clients)",
    ),
    e(
        "response-socket-timeout",
        NotApplied,
        "writes to the client are bounded by Timeout",
    ),
    e(
        "socket-user",
        NotApplied,
        "the group socket is 0600, owned by quill",
    ),
    e(
        "script-user",
        NotApplied,
        "the script's owner is not checked",
    ),
    e(
        "script-group",
        NotApplied,
        "the script's group is not checked",
    ),
    e("cpu-time-limit", NotApplied, "no RLIMIT_CPU is set"),
    e(
        "cpu-priority",
        NotApplied,
        "the daemons keep quill's priority",
    ),
    e("memory-limit", NotApplied, "no RLIMIT_DATA is set"),
    e("virtual-memory-limit", NotApplied, "no RLIMIT_AS is set"),
    e(
        "stack-size",
        NotApplied,
        "request threads get the default stack size",
    ),
    e(
        "server-metrics",
        NotApplied,
        "there is no `mod_wsgi.server_metrics()`",
    ),
    e(
        "newrelic-config-file",
        NotApplied,
        "no New Relic agent is started",
    ),
    e(
        "newrelic-environment",
        NotApplied,
        "no New Relic agent is started",
    ),
];

/// The entry of a directive (by its name or old alias, case-insensitively).
pub fn directive(name: &str) -> Option<&'static ServedEntry> {
    let def = crate::directives::find(name)?;
    DIRECTIVES.iter().find(|s| s.name == def.name)
}

/// The entry of a WSGIDaemonProcess option (case-sensitive, as mod_wsgi).
pub fn daemon_option(name: &str) -> Option<&'static ServedEntry> {
    DAEMON_OPTIONS.iter().find(|s| s.name == name)
}

/// The summary at the top of docs/directives.md: the directives and the
/// daemon options of each class.
pub fn summary_markdown() -> String {
    let mut out = String::from(
        "## What `quill serve` applies\n\n\
         Every directive below is read and checked the same way by `quill check`, `quill config`, \
         `quill simulate` and `quill serve`. What the server (`quill serve`, and `quill express`, \
         which serves with the same code) then does with it at run time is said under each \
         directive, on its `quill serve` line, and in the last column of the WSGIDaemonProcess \
         options table: *applied* as httpd and mod_wsgi apply it; *in part*, with what is and what \
         is not; *not applied*, with what happens instead; *parse time only* for the directives \
         that act while the configuration is read.\n\n\
         | quill serve | directives | WSGIDaemonProcess options |\n|---|---|---|\n",
    );
    let names = |table: &[ServedEntry], class: Served, code: bool| {
        table
            .iter()
            .filter(|s| s.served == class)
            .map(|s| {
                if code {
                    format!("`{}`", s.name)
                } else {
                    s.name.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for class in Served::ALL {
        let (d, o) = (
            names(DIRECTIVES, class, false),
            names(DAEMON_OPTIONS, class, true),
        );
        let count = DIRECTIVES.iter().filter(|s| s.served == class).count();
        let opts = DAEMON_OPTIONS.iter().filter(|s| s.served == class).count();
        out.push_str(&format!(
            "| {} | {count}: {} | {opts}: {} |\n",
            class.label(),
            if d.is_empty() { "—".to_string() } else { d },
            if o.is_empty() { "—".to_string() } else { o },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_directive_has_exactly_one_entry_and_every_entry_a_directive() {
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for s in DIRECTIVES {
            *count.entry(s.name).or_default() += 1;
        }
        let mut missing = Vec::new();
        for (_, table) in crate::directives::tables() {
            for def in table {
                match count.remove(def.name) {
                    Some(1) => {}
                    Some(n) => panic!("{} has {n} entries in served.rs", def.name),
                    None => missing.push(def.name),
                }
            }
        }
        assert!(
            missing.is_empty(),
            "classify in crates/quill-config/src/served.rs what quill serve does with: {missing:?}"
        );
        assert!(
            count.is_empty(),
            "served.rs names directives that do not exist (or not as the tables spell them): {:?}",
            count.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_daemon_option_has_exactly_one_entry_and_every_entry_an_option() {
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for s in DAEMON_OPTIONS {
            *count.entry(s.name).or_default() += 1;
        }
        let mut missing = Vec::new();
        for o in crate::wsgi::DAEMON_OPTIONS {
            match count.remove(o.name) {
                Some(1) => {}
                Some(n) => panic!("{} has {n} entries in served.rs", o.name),
                None => missing.push(o.name),
            }
        }
        assert!(
            missing.is_empty(),
            "classify in crates/quill-config/src/served.rs what quill serve does with the option(s): {missing:?}"
        );
        assert!(
            count.is_empty(),
            "served.rs names daemon options that do not exist: {:?}",
            count.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn partial_and_unapplied_entries_say_why() {
        for s in DIRECTIVES.iter().chain(DAEMON_OPTIONS) {
            if matches!(s.served, InPart | NotApplied) {
                assert!(
                    !s.note.trim().is_empty(),
                    "{}: say what quill serve does",
                    s.name
                );
            }
            assert!(
                !s.note.ends_with('.'),
                "{}: the note is a phrase after a dash, without a final full stop",
                s.name
            );
        }
    }

    #[test]
    fn lookups_take_old_names_and_lines_read_as_the_reference_shows_them() {
        assert_eq!(
            directive("MaxClients").map(|s| s.served),
            Some(Served::Applied)
        );
        assert_eq!(
            directive("wsgiscriptaliasmatch").map(ServedEntry::markdown_line),
            Some("- quill serve: not applied — quill serve refuses to start with it".to_string())
        );
        assert_eq!(
            directive("KeepAlive").map(ServedEntry::markdown_line),
            Some("- quill serve: applied".to_string())
        );
        assert_eq!(
            directive("Include").map(ServedEntry::markdown_line),
            Some("- quill serve: parse time only (its effect is on what is read)".to_string())
        );
        assert!(daemon_option("Processes").is_none(), "case-sensitive");
        assert_eq!(
            daemon_option("threads").map(|s| s.served),
            Some(Served::InPart)
        );
        assert!(directive("RewriteEngine").is_none());
    }

    #[test]
    fn the_summary_lists_each_directive_and_option_once() {
        let md = summary_markdown();
        assert_eq!(md.matches("\n| ").count(), Served::ALL.len() + 1);
        for s in DIRECTIVES {
            let needle = format!(" {}", s.name);
            assert_eq!(
                md.matches(&format!("{needle},"))
                    .chain(md.matches(&format!("{needle} |")))
                    .count(),
                1,
                "{} in {md}",
                s.name
            );
        }
        for s in DAEMON_OPTIONS {
            assert_eq!(
                md.matches(&format!("`{}`", s.name)).count(),
                1,
                "{}",
                s.name
            );
        }
    }
}
