//! Every directive Quill understands, defined once, as data: name, module,
//! where it may appear, how many arguments, default, and documentation.
//! The resolver checks context and arity from this table; docs/directives.md
//! is generated from it (`directive_reference_markdown`), and a test fails
//! when the committed file is stale.

/// Where a directive may appear (Apache's `RSRC_CONF`, `ACCESS_CONF`, …
/// reduced to what matters here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contexts {
    pub server: bool,
    pub vhost: bool,
    /// `<Directory>`, `<Location>`, `<Files>` and their *Match forms, `<Proxy>`, `<If>`.
    pub directory: bool,
}

/// Server config only (Apache's GLOBAL_ONLY).
pub const SERVER: Contexts = Contexts {
    server: true,
    vhost: false,
    directory: false,
};
/// Server config and `<VirtualHost>`.
pub const SERVER_VHOST: Contexts = Contexts {
    server: true,
    vhost: true,
    directory: false,
};
/// `<VirtualHost>` only.
pub const VHOST_ONLY: Contexts = Contexts {
    server: false,
    vhost: true,
    directory: false,
};
/// Inside `<Directory>`, `<Location>` … only.
pub const DIRECTORY: Contexts = Contexts {
    server: false,
    vhost: false,
    directory: true,
};
/// Anywhere.
pub const ANY: Contexts = Contexts {
    server: true,
    vhost: true,
    directory: true,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    Between(usize, usize),
    AtLeast(usize),
}

impl Arity {
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::Between(a, b) => (a..=b).contains(&n),
            Arity::AtLeast(a) => n >= a,
        }
    }

    /// Apache's phrasing ("takes one argument", …), as `invoke_cmd` words
    /// it for TAKE1, TAKE12, TAKE23, ITERATE …
    pub fn apache_phrase(self) -> String {
        let word = |n: usize| match n {
            0 => "no".to_string(),
            1 => "one".to_string(),
            2 => "two".to_string(),
            3 => "three".to_string(),
            n => n.to_string(),
        };
        match self {
            Arity::Exactly(0) => "takes no arguments".to_string(),
            Arity::Exactly(1) => "takes one argument".to_string(),
            Arity::Exactly(n) => format!("takes {} arguments", word(n)),
            Arity::Between(1, 2) => "takes 1-2 arguments".to_string(),
            Arity::Between(1, 3) => "takes one, two or three arguments".to_string(),
            Arity::Between(a, b) => format!("takes {} or {} arguments", word(a), word(b)),
            Arity::AtLeast(1) => "requires at least one argument".to_string(),
            Arity::AtLeast(n) => format!("requires at least {} arguments", word(n)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct DirectiveDef {
    pub name: &'static str,
    /// Apache module that provides it.
    pub module: &'static str,
    pub syntax: &'static str,
    pub default: &'static str,
    pub contexts: Contexts,
    pub arity: Arity,
    /// What it does in Quill (first line is the summary).
    pub doc: &'static str,
    /// Older name Apache still accepts (e.g. MaxClients).
    pub alias: Option<&'static str>,
}

impl DirectiveDef {
    /// httpd's error for a wrong number of arguments: the phrase for the
    /// directive's kind, then its description as httpd's module gives it
    /// (recorded with the module table). A few directives check their
    /// arguments themselves and say it their way.
    pub fn apache_arity_error(&self) -> String {
        match self.name {
            "Listen" => "Listen requires 1 or 2 arguments.".to_string(),
            "KeepAlive" => "KeepAlive must be On or Off".to_string(),
            "WSGIDaemonProcess" => "Name of WSGI daemon process not supplied.".to_string(),
            "WSGIImportScript" => "Location of import script not supplied.".to_string(),
            _ => match crate::modules::description(self.name) {
                Some(desc) => format!("{} {}, {desc}", self.name, self.arity.apache_phrase()),
                None => format!("{} {}", self.name, self.arity.apache_phrase()),
            },
        }
    }
}

const fn d(
    name: &'static str,
    module: &'static str,
    syntax: &'static str,
    default: &'static str,
    contexts: Contexts,
    arity: Arity,
    doc: &'static str,
) -> DirectiveDef {
    DirectiveDef {
        name,
        module,
        syntax,
        default,
        contexts,
        arity,
        doc,
        alias: None,
    }
}

const fn aliased(mut def: DirectiveDef, alias: &'static str) -> DirectiveDef {
    def.alias = Some(alias);
    def
}

use Arity::*;

/// Parse-time and core directives.
pub static CORE: &[DirectiveDef] = &[
    d(
        "ServerRoot",
        "core",
        "ServerRoot directory",
        "directory of the main file (httpd: compiled in)",
        SERVER,
        Exactly(1),
        "Base directory for relative paths (Include, LoadModule, logs).\nQuill uses the main file's directory when absent; `--server-root` overrides.",
    ),
    d(
        "Include",
        "core",
        "Include file-path|directory-path|wildcard",
        "",
        ANY,
        Exactly(1),
        "Reads other files as if written here.\nWildcards may appear in any path component; matches are read in byte order; a directory is read recursively. No match is an error.",
    ),
    d(
        "IncludeOptional",
        "core",
        "IncludeOptional file-path|directory-path|wildcard",
        "",
        ANY,
        Exactly(1),
        "Like Include, but a missing file or an empty wildcard match is silently ignored.",
    ),
    d(
        "Define",
        "core",
        "Define parameter-name [parameter-value]",
        "",
        ANY,
        Between(1, 2),
        "Defines a name for <IfDefine> and, with a value, a variable for ${NAME}.\nTakes effect from its line on, in every context.",
    ),
    d(
        "UnDefine",
        "core",
        "UnDefine parameter-name",
        "",
        ANY,
        Exactly(1),
        "Removes a Define from its line on.",
    ),
    d(
        "LoadModule",
        "mod_so",
        "LoadModule module filename",
        "",
        SERVER,
        Exactly(2),
        "Loads a module; Quill uses it to pick the MPM and to decide <IfModule>.\nExactly one of mpm_prefork_module, mpm_worker_module, mpm_event_module must be loaded.",
    ),
    d(
        "Listen",
        "mpm_common",
        "Listen [IP-address:]portnumber [protocol]",
        "",
        SERVER,
        Between(1, 2),
        "A listening socket. Several are allowed; the same address and port twice is an error.\nProtocol defaults to https on port 443, http elsewhere.",
    ),
    d(
        "ServerName",
        "core",
        "ServerName [scheme://]domain-name|ip-address[:port]",
        "main server: none (Apache guesses); virtual host: the main server's",
        SERVER_VHOST,
        Exactly(1),
        "The name a server answers to; name-based virtual hosts are chosen by it.",
    ),
    d(
        "ServerAlias",
        "core",
        "ServerAlias hostname [hostname] ...",
        "",
        VHOST_ONLY,
        AtLeast(1),
        "More names (wildcards allowed) for a name-based virtual host.",
    ),
    d(
        "KeepAlive",
        "core",
        "KeepAlive On|Off",
        "On",
        SERVER_VHOST,
        Exactly(1),
        "Persistent connections. Under prefork and worker an idle kept-alive client holds a process or thread for KeepAliveTimeout.",
    ),
    d(
        "KeepAliveTimeout",
        "core",
        "KeepAliveTimeout num[ms]",
        "5",
        SERVER_VHOST,
        Exactly(1),
        "Seconds (or milliseconds with `ms`) to wait for the next request on a persistent connection.",
    ),
    d(
        "MaxKeepAliveRequests",
        "core",
        "MaxKeepAliveRequests number",
        "100",
        SERVER_VHOST,
        Exactly(1),
        "Requests per persistent connection before it is closed; 0 = unlimited. httpd serves number + 1 requests.",
    ),
    d(
        "Timeout",
        "core",
        "Timeout seconds",
        "60",
        SERVER_VHOST,
        Exactly(1),
        "Seconds to wait on a read or write before failing the request.",
    ),
    d(
        "AllowEncodedSlashes",
        "core",
        "AllowEncodedSlashes On|Off|NoDecode",
        "Off",
        SERVER_VHOST,
        Exactly(1),
        "What a `%2F` (an encoded `/`) in a request path gets: Off answers 404, On decodes it, NoDecode passes it on undecoded.",
    ),
    d(
        "HttpProtocolOptions",
        "core",
        "HttpProtocolOptions [Strict|Unsafe] [RegisteredMethods|LenientMethods] [Allow0.9|Require1.0]",
        "Strict LenientMethods Allow0.9",
        SERVER_VHOST,
        AtLeast(1),
        "How strictly request heads are read. Strict (the default) answers 400 to a head whose lines end in a bare LF instead of CRLF; Unsafe accepts them.\nThe method and HTTP/0.9 options are read and checked as httpd does, but not applied.",
    ),
    d(
        "LimitRequestBody",
        "core",
        "LimitRequestBody bytes",
        "0 (unlimited; 1 GiB since 2.4.54)",
        ANY,
        Exactly(1),
        "Largest request body accepted; larger bodies get 413.",
    ),
    d(
        "LimitRequestFields",
        "core",
        "LimitRequestFields number",
        "100",
        SERVER_VHOST,
        Exactly(1),
        "Most request header fields; more get 400.",
    ),
    d(
        "LimitRequestFieldSize",
        "core",
        "LimitRequestFieldSize bytes",
        "8190",
        SERVER_VHOST,
        Exactly(1),
        "Longest request header field; longer get 400.",
    ),
    d(
        "LimitRequestLine",
        "core",
        "LimitRequestLine bytes",
        "8190",
        SERVER_VHOST,
        Exactly(1),
        "Longest request line; longer get 414.",
    ),
    d(
        "DocumentRoot",
        "core",
        "DocumentRoot directory-path",
        "none",
        SERVER_VHOST,
        Exactly(1),
        "The server's document directory: httpd serves its files at /; Quill gives it to WSGI applications as DOCUMENT_ROOT.",
    ),
    d(
        "ErrorLog",
        "core",
        "ErrorLog file-path|syslog[:facility]|\"|command\"",
        "logs/error_log",
        SERVER_VHOST,
        Exactly(1),
        "Where the error log goes: a file (relative to ServerRoot), `/dev/stderr` or `/dev/stdout`.\nA virtual host's ErrorLog gets the lines of the requests it answers, and those of the daemon processes of a group declared in it (as mod_wsgi does); the supervisor's and the other daemon processes' lines go to the main server's. Piped logs (`|command`) and `syslog` are refused at start-up. Lines keep httpd's format, `[time] [module:level] [pid N] message`. Files are opened by each front-end child when it starts, so a graceful restart (SIGUSR1) after a rotation writes to the new file.",
    ),
    d(
        "LogLevel",
        "core",
        "LogLevel [module:]level [module:level] ...",
        "warn",
        ANY,
        AtLeast(1),
        "Verbosity of the error log, for every module or per module (`LogLevel warn wsgi:info`).\nQuill's lines come from the modules `core`, `http`, `reqtimeout`, `remoteip`, `wsgi` and the MPM's (`mpm_event`…). A virtual host's LogLevel starts from the main server's and applies to the requests it answers. Inside <Directory> or <Location> it is read and not applied.",
    ),
    d(
        "SetHandler",
        "core",
        "SetHandler handler-name|none|expression",
        "",
        ANY,
        Exactly(1),
        "Forces a handler; `server-status` inside <Location> publishes mod_status there, `quill-metrics` Quill's Prometheus metrics (docs/status.md).",
    ),
];

/// MPM directives (all server config only).
pub static MPM: &[DirectiveDef] = &[
    d(
        "StartServers",
        "mpm_common",
        "StartServers number",
        "prefork 5, worker/event 3",
        SERVER,
        Exactly(1),
        "Children forked at start-up, all at once. Above MaxSpare the first ticks kill them again, one per second.",
    ),
    d(
        "MinSpareServers",
        "prefork",
        "MinSpareServers number",
        "5",
        SERVER,
        Exactly(1),
        "prefork: spawn when fewer idle children than this (strictly fewer).",
    ),
    d(
        "MaxSpareServers",
        "prefork",
        "MaxSpareServers number",
        "10",
        SERVER,
        Exactly(1),
        "prefork: kill one child per second while more idle children than this. Raised to MinSpareServers + 1 if not above it.",
    ),
    d(
        "MinSpareThreads",
        "mpm_common",
        "MinSpareThreads number",
        "75",
        SERVER,
        Exactly(1),
        "worker/event: spawn when fewer idle threads than this.",
    ),
    d(
        "MaxSpareThreads",
        "mpm_common",
        "MaxSpareThreads number",
        "250",
        SERVER,
        Exactly(1),
        "worker/event: kill one child per second while more idle threads than this. Raised to MinSpareThreads + ThreadsPerChild + 1 (one listener bucket).",
    ),
    d(
        "ThreadsPerChild",
        "mpm_common",
        "ThreadsPerChild number",
        "25",
        SERVER,
        Exactly(1),
        "worker/event: threads in each child.",
    ),
    d(
        "ThreadLimit",
        "mpm_common",
        "ThreadLimit number",
        "64",
        SERVER,
        Exactly(1),
        "worker/event: upper bound for ThreadsPerChild for the life of the server.",
    ),
    d(
        "ServerLimit",
        "mpm_common",
        "ServerLimit number",
        "prefork 256, worker/event 16",
        SERVER,
        Exactly(1),
        "Upper bound on child processes for the life of the server.",
    ),
    aliased(
        d(
            "MaxRequestWorkers",
            "mpm_common",
            "MaxRequestWorkers number",
            "prefork 256, worker/event 400",
            SERVER,
            Exactly(1),
            "Most requests served at once (threads in all children). Worker/event round it down to a multiple of ThreadsPerChild.\nThe default is a fixed number, not ServerLimit × ThreadsPerChild.",
        ),
        "MaxClients",
    ),
    aliased(
        d(
            "MaxConnectionsPerChild",
            "mpm_common",
            "MaxConnectionsPerChild number",
            "0",
            SERVER,
            Exactly(1),
            "Connections a child handles before it exits; 0 = unlimited. Exited children are not replaced directly.",
        ),
        "MaxRequestsPerChild",
    ),
    d(
        "ListenBacklog",
        "mpm_common",
        "ListenBacklog backlog",
        "511",
        SERVER,
        Exactly(1),
        "Length of the kernel accept queue where connections wait when no thread is free.",
    ),
    d(
        "ListenCoresBucketsRatio",
        "mpm_common",
        "ListenCoresBucketsRatio ratio",
        "0 (one bucket)",
        SERVER,
        Exactly(1),
        "Listener buckets = online cores / ratio (when above 1); maintenance then runs per bucket.",
    ),
    d(
        "AsyncRequestWorkerFactor",
        "event",
        "AsyncRequestWorkerFactor factor",
        "2",
        SERVER,
        Exactly(1),
        "event: connections per process may reach ThreadsPerChild + factor × idle workers. Fractions are truncated at run time.",
    ),
    d(
        "GracefulShutdownTimeout",
        "mpm_common",
        "GracefulShutdownTimeout seconds",
        "0",
        SERVER,
        Exactly(1),
        "Seconds a graceful stop waits for children before killing them; 0 = forever.",
    ),
];

/// Modules around the core: aliases, logs, TLS, status.
pub static MODULES: &[DirectiveDef] = &[
    d(
        "ExtendedStatus",
        "mod_status",
        "ExtendedStatus On|Off",
        "On",
        SERVER,
        Exactly(1),
        "Whether the server-status page lists every worker slot with its counters (httpd 2.4 turns it On when mod_status is loaded).",
    ),
    d(
        "Require",
        "mod_authz_core",
        "Require [not] entity-name [entity-name] ...",
        "",
        DIRECTORY,
        AtLeast(1),
        "Who may see a <Location> with `SetHandler server-status` or `quill-metrics`. `quill serve` applies `Require local`, `Require ip …` and `Require all granted|denied` there (any one line grants, as httpd's implicit <RequireAny>); other forms, and lines inside <RequireAll> and friends, grant nobody. Without a Require line the page is refused to everyone. Elsewhere Require is read, not applied.",
    ),
    d(
        "Alias",
        "mod_alias",
        "Alias [URL-path] file-path|directory-path",
        "",
        SERVER_VHOST,
        Between(1, 2),
        "Maps a URL prefix to a directory or file (static files). An Alias wins over WSGIScriptAlias for the same URL.\nThe one-argument form `Alias file-path` inside <Location> is accepted, as httpd accepts it, but not modelled; httpd refuses an Alias inside <Directory>.",
    ),
    d(
        "AliasMatch",
        "mod_alias",
        "AliasMatch regex file-path|directory-path",
        "",
        SERVER_VHOST,
        Exactly(2),
        "Like Alias with a regular expression; $1… are substituted.",
    ),
    d(
        "RequestReadTimeout",
        "mod_reqtimeout",
        "RequestReadTimeout [handshake=timeout[-maxtimeout][,MinRate=rate]] [header=timeout[-maxtimeout][,MinRate=rate]] [body=timeout[-maxtimeout][,MinRate=rate]]",
        "header=20-40,MinRate=500 body=20,MinRate=500",
        SERVER_VHOST,
        AtLeast(0),
        "How long reading a request head and body may take (mod_reqtimeout): 408 after it.\nA stage's time starts at its first read and grows by 1 s for every MinRate bytes received, up to its maximum; 0 turns the stage off. The header stage of a kept-alive connection starts at the request's first byte (KeepAliveTimeout waits for it). Applies only when reqtimeout_module is loaded; handshake (TLS) is read and checked but not applied.",
    ),
    d(
        "CustomLog",
        "mod_log_config",
        "CustomLog file|pipe format|nickname [env=[!]environment-variable|expr=expression]",
        "",
        SERVER_VHOST,
        Between(2, 3),
        "An access log, its format, and optionally which requests it logs.\nEach front-end child opens the file (appending, as httpd's children do) and writes each line with one write(2), so lines from several children never interleave. A virtual host with CustomLogs of its own writes its requests there only; one without writes to the main server's. `env=NAME` logs the requests whose environment has the variable, `env=!NAME` the others (SetEnvIf sets them). Piped logs (`|command`) and `expr=` conditions are refused at start-up. Nicknames are matched without regard to case; the one built in is `CLF` (`%h %l %u %t \"%r\" %>s %b`): `common` and `combined` exist only where a LogFormat defines them (Debian's apache2.conf does). A nickname no LogFormat defines is written as the literal text, as httpd does, with a warning.",
    ),
    d(
        "LogFormat",
        "mod_log_config",
        "LogFormat format|nickname [nickname]",
        "\"%h %l %u %t \\\"%r\\\" %>s %b\"",
        SERVER_VHOST,
        Between(1, 2),
        "Defines a log format, optionally under a nickname (a virtual host sees the main server's nicknames).\nThe format is parsed when the configuration is read: an unknown field is httpd's error, `Unrecognized LogFormat directive %Z`. Fields: `%a` `%{c}a` `%A` `%b` `%B` `%{NAME}C` `%D` `%{NAME}e` `%h` `%{c}h` `%H` `%{NAME}i` `%k` `%l` `%L` `%m` `%{NAME}o` `%O` `%p` `%{local|remote}p` `%P` `%{tid|hextid}P` `%q` `%r` `%s` `%>s` `%t` `%{format}t` (with `begin:`/`end:`, `sec`, `msec`, `usec`, `msec_frac`, `usec_frac`, or strftime) `%T` `%{ms|us|s}T` `%u` `%U` `%v` `%V` `%X`, with status conditions (`%400,501{Referer}i`, `%!200…`). `%f`, `%R`, `%{…}n`, `%I`, `%S`, `%^FB`, `%{…}x`, `%{…}c`, `%^ti`, `%^to` are written as `-`, with a warning; so are `%u` (no authentication) and `%l`, `%L`, as httpd writes them by default.",
    ),
    d(
        "SetEnvIf",
        "mod_setenvif",
        "SetEnvIf attribute regex [!]env-variable[=value] [[!]env-variable[=value]] ...",
        "",
        ANY,
        AtLeast(3),
        "Sets request environment variables when an attribute of the request matches a regular expression: for `CustomLog … env=`, `%{NAME}e`, and the WSGI environ.\nAttributes: `Remote_Addr` (the client's, after mod_remoteip), `Remote_Host` (the same: no host name lookups), `Server_Addr`, `Request_Method`, `Request_Protocol`, `Request_URI` (the path as requested, without the query string), a request header, or a variable an earlier line set; a missing one is the empty text. `VAR` sets 1, `VAR=VALUE` sets VALUE (with `$1`…`$9`), `!VAR` unsets. The main server's lines apply first, then the virtual host's. Inside <Directory> or <Location> they are read and not applied. Quill acts on no variable itself (`nokeepalive`, `downgrade-1.0`… only reach the application and the logs).",
    ),
    d(
        "SetEnvIfNoCase",
        "mod_setenvif",
        "SetEnvIfNoCase attribute regex [!]env-variable[=value] [[!]env-variable[=value]] ...",
        "",
        ANY,
        AtLeast(3),
        "SetEnvIf with a case-insensitive regular expression.",
    ),
    d(
        "BrowserMatch",
        "mod_setenvif",
        "BrowserMatch regex [!]env-variable[=value] [[!]env-variable[=value]] ...",
        "",
        ANY,
        AtLeast(2),
        "SetEnvIf on the User-Agent header.",
    ),
    d(
        "BrowserMatchNoCase",
        "mod_setenvif",
        "BrowserMatchNoCase regex [!]env-variable[=value] [[!]env-variable[=value]] ...",
        "",
        ANY,
        AtLeast(2),
        "SetEnvIfNoCase on the User-Agent header.",
    ),
    d(
        "RemoteIPHeader",
        "mod_remoteip",
        "RemoteIPHeader header-field",
        "",
        SERVER_VHOST,
        Exactly(1),
        "The header whose addresses give the client's (`X-Forwarded-For`): REMOTE_ADDR, `%a` and `%h` become the client's, `%{c}a` stays the peer's.\nThe header is walked right to left while the address each entry came from is a RemoteIPTrustedProxy or RemoteIPInternalProxy (with neither configured, every peer is trusted); a private address (10/8, 127/8, 169.254/16, 172.16/12, 192.168/16, IPv6 outside 2000::/3) ends the walk unless every proxy passed is internal. The entries taken leave the header the application sees. An entry that is not an IP address ends the walk (httpd would look a host name up).",
    ),
    d(
        "RemoteIPProxiesHeader",
        "mod_remoteip",
        "RemoteIPProxiesHeader header-field",
        "",
        SERVER_VHOST,
        Exactly(1),
        "A request header set to the external (trusted) proxies the client's address came through, nearest first.",
    ),
    d(
        "RemoteIPTrustedProxy",
        "mod_remoteip",
        "RemoteIPTrustedProxy proxy-ip|ip/subnet ...",
        "",
        SERVER_VHOST,
        AtLeast(1),
        "Proxies (addresses, `10.0.0.0/8`, `10.1`, `192.168.0.0/255.255.0.0`) whose RemoteIPHeader is believed, except for private addresses.\nA virtual host's proxies (with its -List files) replace the main server's. Host names are refused: write the address.",
    ),
    d(
        "RemoteIPInternalProxy",
        "mod_remoteip",
        "RemoteIPInternalProxy proxy-ip|ip/subnet ...",
        "",
        SERVER_VHOST,
        AtLeast(1),
        "Proxies on your own network, whose RemoteIPHeader is believed, private addresses included.",
    ),
    d(
        "RemoteIPTrustedProxyList",
        "mod_remoteip",
        "RemoteIPTrustedProxyList filename",
        "",
        SERVER_VHOST,
        Exactly(1),
        "A file of RemoteIPTrustedProxy entries (words; `#` starts a comment), read when the server starts and at each restart.\nIts entries are matched after the RemoteIPTrustedProxy and RemoteIPInternalProxy directives' own. A missing or unreadable file, or an entry that is not an address, refuses start-up.",
    ),
    d(
        "RemoteIPInternalProxyList",
        "mod_remoteip",
        "RemoteIPInternalProxyList filename",
        "",
        SERVER_VHOST,
        Exactly(1),
        "A file of RemoteIPInternalProxy entries, read as RemoteIPTrustedProxyList's.",
    ),
    d(
        "SSLEngine",
        "mod_ssl",
        "SSLEngine on|off|optional",
        "off",
        SERVER_VHOST,
        Exactly(1),
        "TLS on this server's connections.\n`quill serve` speaks TLS (rustls) on a connection whose default server (the first virtual host of the address and port it arrived at, or the main server) has `SSLEngine on`; `optional` is read as off. The SNI name then chooses the virtual host and its certificate (docs/express.md, TLS).",
    ),
    d(
        "SSLCertificateFile",
        "mod_ssl",
        "SSLCertificateFile file-path",
        "",
        SERVER_VHOST,
        Exactly(1),
        "PEM certificate (may hold the chain too: the server's certificate first, then intermediates).\n`quill serve` checks it before it starts (readable, PEM, matching the key) and refuses to start otherwise, with the directive's file and line; each restart (SIGUSR1, SIGHUP) reads it again for its new generation of front-end children.",
    ),
    d(
        "SSLCertificateKeyFile",
        "mod_ssl",
        "SSLCertificateKeyFile file-path",
        "",
        SERVER_VHOST,
        Exactly(1),
        "PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC; not encrypted). Without it, the key is read from SSLCertificateFile.",
    ),
    d(
        "SSLCertificateChainFile",
        "mod_ssl",
        "SSLCertificateChainFile file-path",
        "",
        SERVER_VHOST,
        Exactly(1),
        "Intermediate certificates (deprecated in 2.4.8 in favour of SSLCertificateFile), sent after those of SSLCertificateFile.",
    ),
    d(
        "SSLProtocol",
        "mod_ssl",
        "SSLProtocol [+|-]protocol ...",
        "all -SSLv3",
        SERVER_VHOST,
        AtLeast(1),
        "TLS versions offered: `all`, `SSLv3`, `TLSv1`, `TLSv1.1`, `TLSv1.2`, `TLSv1.3`; a name without a sign sets the list, `+` adds, `-` removes.\nrustls speaks TLS 1.2 and 1.3 only: an older version asked for by name is a warning (`tls/protocol-not-supported`) and is not offered; a list without 1.2 or 1.3 is an error.",
    ),
    d(
        "SSLCipherSuite",
        "mod_ssl",
        "SSLCipherSuite [protocol] cipher-spec",
        "DEFAULT",
        SERVER_VHOST,
        Between(1, 2),
        "Cipher suites offered, as an OpenSSL cipher string (for TLS 1.2; `SSLCipherSuite TLSv1.3 list` for TLS 1.3).\nRead over the nine suites rustls has (ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2, the three AEAD suites of TLS 1.3): names, families (`HIGH`, `ECDHE`, `AESGCM`, `aRSA` …), `!`, `-`, `+` and `@STRENGTH`. What selects only suites rustls lacks is a warning (`tls/cipher-not-supported`); a word it does not know, another (`tls/cipher-not-understood`).",
    ),
    d(
        "SSLHonorCipherOrder",
        "mod_ssl",
        "SSLHonorCipherOrder on|off",
        "off",
        SERVER_VHOST,
        Exactly(1),
        "The server's order of cipher suites wins over the client's.",
    ),
    d(
        "SSLOptions",
        "mod_ssl",
        "SSLOptions [+|-]option ...",
        "",
        ANY,
        AtLeast(1),
        "`+StdEnvVars` puts mod_ssl's SSL_* variables in the WSGI environ (docs/protocol.md, Environ).\nApplied at server and virtual-host level; inside <Directory>, <Location> or <Files> it is read but not applied. The other options are accepted and change nothing in Quill.",
    ),
    d(
        "Protocols",
        "core",
        "Protocols protocol ...",
        "http/1.1",
        SERVER_VHOST,
        AtLeast(1),
        "Protocols offered on a connection, in the server's order of preference: `h2` (HTTP/2 over TLS, chosen by ALPN) and `http/1.1`.\n`h2c` (HTTP/2 over cleartext) is read and not served. The list of the connection's default server, or of the virtual host its SNI name chose, applies.",
    ),
    d(
        "H2MaxSessionStreams",
        "mod_http2",
        "H2MaxSessionStreams n",
        "100",
        SERVER_VHOST,
        Exactly(1),
        "HTTP/2 streams one connection may have in progress at once (SETTINGS_MAX_CONCURRENT_STREAMS).",
    ),
    d(
        "H2WindowSize",
        "mod_http2",
        "H2WindowSize bytes",
        "65535",
        SERVER_VHOST,
        Exactly(1),
        "The HTTP/2 flow-control window of each stream the client sends on (SETTINGS_INITIAL_WINDOW_SIZE), in bytes.",
    ),
];

/// Every table, in documentation order.
pub fn tables() -> [(&'static str, &'static [DirectiveDef]); 4] {
    [
        ("Core and parse-time", CORE),
        ("MPM (prefork, worker, event)", MPM),
        ("Aliases, logs, TLS", MODULES),
        ("mod_wsgi", crate::wsgi::DIRECTIVES),
    ]
}

/// Look a directive up by name or old alias, case-insensitively.
pub fn find(name: &str) -> Option<&'static DirectiveDef> {
    tables()
        .into_iter()
        .flat_map(|(_, t)| t.iter())
        .find(|def| {
            def.name.eq_ignore_ascii_case(name)
                || def.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
        })
}

/// docs/directives.md, generated.
pub fn directive_reference_markdown() -> String {
    let mut out = String::from(
        "# Directive reference\n\n<!-- Generated from crates/quill-config/src/directives.rs, wsgi/directives.rs and served.rs by `cargo run -p quill -- docs directives`; do not edit. -->\n\n\
         Directives Quill reads. Any other directive of a loaded module is kept and listed by `quill config` as not modelled; a name that no loaded module defines is httpd's \"Invalid command\" error (see docs/config.md, Directives and modules).\n",
    );
    out.push('\n');
    out.push_str(&crate::served::summary_markdown());
    for (title, table) in tables() {
        out.push_str(&format!("\n## {title}\n\n"));
        for def in table {
            let ctx = [
                ("server config", def.contexts.server),
                ("virtual host", def.contexts.vhost),
                ("directory", def.contexts.directory),
            ]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ");
            out.push_str(&format!("### {}\n\n`{}`\n\n", def.name, def.syntax));
            out.push_str(&format!("- module: {}\n- context: {}\n", def.module, ctx));
            if !def.default.is_empty() {
                out.push_str(&format!("- default: {}\n", def.default));
            }
            if let Some(a) = def.alias {
                out.push_str(&format!("- also accepted as: {a} (deprecated)\n"));
            }
            if let Some(served) = crate::served::directive(def.name) {
                out.push_str(&served.markdown_line());
                out.push('\n');
            }
            out.push_str(&format!("\n{}\n\n", def.doc));
        }
    }
    out.push_str("## WSGIDaemonProcess options\n\n");
    out.push_str(&crate::wsgi::daemon_options_markdown());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_knows_old_names() {
        assert_eq!(
            find("maxclients").map(|d| d.name),
            Some("MaxRequestWorkers")
        );
        assert_eq!(find("STARTSERVERS").map(|d| d.name), Some("StartServers"));
        assert!(find("RewriteEngine").is_none());
    }

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for (_, t) in tables() {
            for def in t {
                assert!(
                    seen.insert(def.name.to_ascii_lowercase()),
                    "{} twice",
                    def.name
                );
            }
        }
    }
}
