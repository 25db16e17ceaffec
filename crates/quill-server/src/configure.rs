//! From a resolved Apache configuration (`quill-config`) to a
//! [`ServerPlan`]: what `quill serve` and `quill express` run. Everything
//! that can refuse a configuration at start-up is here, each refusal a
//! [`PlanError`] that says what, where and how to fix it.
//!
//! ```text
//!   Resolved (quill-config) ──plan_from_config(extras)──▶ ServerPlan ──▶ supervisor::run
//!                                  │
//!                                  └─ probes each group's Python, looks up user=/group=
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use quill_config::Resolved;
use quill_config::model::ServerConfig;
use quill_config::wsgi::{DaemonProcess, DelegationMode, MountTarget};

use crate::log::Level;
use crate::plan::{
    EmbeddedPlan, EncodedSlashes, GroupPlan, H2Plan, ListenRouting, Mount, ReadStage, ReadTimeouts,
    ResponseBuffer, ServerPlan, SitePlan, StaticAlias, TlsFile, TlsPlan,
};
use crate::spec::{DaemonSpec, Preload};

/// Why a configuration cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "{at}: `SSLEngine on` for {name}, but no SSLCertificateFile: httpd refuses to start \
         (AH02572: Failed to configure at least one certificate and key for {name}); add \
         `SSLCertificateFile /path/to/cert.pem` and `SSLCertificateKeyFile /path/to/key.pem` \
         beside it"
    )]
    NoCertificate { at: String, name: String },
    /// A certificate or key file that cannot be used.
    #[error("{0}")]
    Certificate(crate::tls::TlsError),
    #[error("Listen {listen}: cannot use address `{address}`")]
    ListenAddress { listen: String, address: String },
    #[error("the configuration has no Listen directive")]
    NoListen,
    #[error(
        "{url} {target}: only WSGIScriptAlias to a script file is served for now (not regex or directory targets)"
    )]
    MountTarget { url: String, target: String },
    #[error("No WSGI daemon process called '{name}' has been configured")]
    NoSuchGroup { name: String },
    /// Embedded mode's Python (WSGIPythonHome) cannot be used.
    #[error("embedded mode (WSGIScriptAlias {url}): {message}")]
    Embedded { url: String, message: String },
    #[error(
        "WSGIScriptAlias {url}: the process group `{expression}` is decided per request, which quill serve does not do yet"
    )]
    GroupPerRequest { url: String, expression: String },
    #[error(
        "daemon group '{group}' has threads=0 (managed-process mode), which Quill does not run yet"
    )]
    ManagedProcessMode { group: String },
    /// The group's Python, user or group cannot be used.
    #[error("daemon group '{group}': {message}")]
    Group { group: String, message: String },
    #[error(transparent)]
    Logs(#[from] crate::logging::LogPlanError),
}

/// Settings of Quill's own, beyond what an Apache configuration says.
#[derive(Debug, Clone)]
pub struct Extras {
    pub log_to_terminal: bool,
    /// SIGTERM stops gracefully (`--graceful-sigterm`).
    pub graceful_sigterm: bool,
    pub reload_on_changes: bool,
    /// Seconds a request-timeout interrupt may take to unwind.
    pub interrupt_timeout: u32,
    /// Run directory override (express: its server root).
    pub run_dir: Option<PathBuf>,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            log_to_terminal: false,
            graceful_sigterm: false,
            reload_on_changes: false,
            interrupt_timeout: 5,
            run_dir: None,
        }
    }
}

/// A user as mod_wsgi takes it: a name, or `#uid`; (uid, primary gid if
/// the user has a passwd entry).
fn lookup_user(user: &str) -> Result<(u32, Option<u32>), String> {
    match user.strip_prefix('#') {
        Some(n) => {
            let uid: u32 = n
                .parse()
                .map_err(|_| format!("`{user}` is neither a user name nor #uid"))?;
            let primary = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map(|u| u.gid.as_raw());
            Ok((uid, primary))
        }
        None => nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| (u.uid.as_raw(), Some(u.gid.as_raw())))
            .ok_or_else(|| format!("no user `{user}` on this machine")),
    }
}

/// A group as mod_wsgi takes it: a name, or `#gid`.
fn lookup_group(group: &str) -> Result<u32, String> {
    match group.strip_prefix('#') {
        Some(n) => n
            .parse()
            .map_err(|_| format!("`{group}` is neither a group name nor #gid")),
        None => nix::unistd::Group::from_name(group)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
            .ok_or_else(|| format!("no group `{group}` on this machine")),
    }
}

/// The plan for a resolved configuration.
pub fn plan_from_config(resolved: &Resolved, extras: &Extras) -> Result<ServerPlan, PlanError> {
    let cfg = &resolved.config;
    let main = &cfg.main_server;
    let server_root = &cfg.server_root;
    let prefix = {
        let p = Path::new(&cfg.wsgi.socket_prefix);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            server_root.join(p)
        }
    };
    let run_dir = extras
        .run_dir
        .clone()
        .or_else(|| prefix.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| server_root.clone());

    let mut listen = Vec::new();
    for l in &cfg.listeners {
        let ip: IpAddr = match &l.address {
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(a) if a == "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(a) => a.parse().map_err(|_| PlanError::ListenAddress {
                listen: l.display(),
                address: a.clone(),
            })?,
        };
        listen.push(SocketAddr::new(ip, l.port));
    }
    if listen.is_empty() {
        return Err(PlanError::NoListen);
    }

    let level: Level = main.log_levels.level;
    let pid = std::process::id();
    let mut groups = Vec::new();
    for d in &cfg.wsgi.daemons {
        // (The daemon processes' lines are mod_wsgi's.)
        let wsgi_level = main.log_levels.for_module("wsgi");
        groups.push(group_plan(resolved, d, &prefix, pid, extras, wsgi_level)?);
    }

    let to_terminal = extras.log_to_terminal;
    let mut servers = vec![site_plan(resolved, main, None, None, to_terminal)?];
    for v in &cfg.vhosts {
        servers.push(site_plan(
            resolved,
            &v.server,
            Some(v.index),
            Some(main),
            to_terminal,
        )?);
    }
    let embedded_url = servers
        .iter()
        .flat_map(|s| &s.mounts)
        .find(|m| m.group.is_none())
        .map(|m| m.url.clone());
    let embedded = match embedded_url {
        Some(url) if !cfg.wsgi.restrict_embedded => Some(embedded_plan(
            resolved,
            &url,
            extras,
            main.log_levels.for_module("wsgi"),
        )?),
        _ => None,
    };
    // Every certificate and key is read and checked now, before any child
    // starts; the children get what was read (see `crate::tls`).
    for s in &mut servers {
        if let Some(tls) = s.tls.take() {
            s.tls = Some(crate::tls::checked(tls).map_err(PlanError::Certificate)?);
        }
    }
    let routing = listen
        .iter()
        .zip(&cfg.routing)
        .map(|(addr, r)| ListenRouting {
            listen: *addr,
            routing: r.clone(),
        })
        .collect();

    // The main server's error log is the process's own.
    let error_log = servers[0].logs.error_log.clone();
    // mod_wsgi: a group declared in a virtual host with an ErrorLog of its
    // own writes there, at that host's LogLevel.
    for (g, d) in groups.iter_mut().zip(&cfg.wsgi.daemons) {
        let declared = d.declared_in.vhost.and_then(|v| servers.get(v + 1));
        if let Some(site) = declared.filter(|s| s.logs.error_log != error_log) {
            g.error_log = Some(site.logs.error_log.clone());
            g.spec.log_level = site.logs.levels.for_module("wsgi").name().to_string();
        }
    }
    Ok(ServerPlan {
        listen,
        listen_backlog: cfg.mpm.listen_backlog,
        servers,
        routing,
        groups,
        embedded,
        restrict_embedded: cfg.wsgi.restrict_embedded,
        extended_status: main.extended_status,
        response_buffer: ResponseBuffer::default(),
        error_log,
        log_level: level,
        log_modules: main.log_levels.modules.clone(),
        run_dir,
        reload_scripts: true,
        graceful_sigterm: extras.graceful_sigterm,
        pool: cfg.mpm.pool_config(),
        startup_warnings: startup_warnings(resolved),
        async_request_worker_factor: cfg.mpm.async_request_worker_factor.unwrap_or(2),
    })
}

/// What one server serves with: `vhost` is `None` for the main server,
/// else `main` is the main server (whose `<Location>`s apply in its
/// virtual hosts too, after their own, as httpd merges them).
fn site_plan(
    resolved: &Resolved,
    server: &ServerConfig,
    vhost: Option<usize>,
    main: Option<&ServerConfig>,
    to_terminal: bool,
) -> Result<SitePlan, PlanError> {
    let cfg = &resolved.config;
    let server_root = &cfg.server_root;
    let mut mounts = Vec::new();
    for m in &server.wsgi_mounts {
        if m.regex || m.target_kind != MountTarget::Script {
            return Err(PlanError::MountTarget {
                url: m.url.clone(),
                target: m.target.clone(),
            });
        }
        let group = match (m.process_group.mode, &m.process_group.group) {
            (DelegationMode::Daemon, Some(name)) => Some(
                cfg.wsgi
                    .daemons
                    .iter()
                    .position(|d| &d.name == name)
                    .ok_or_else(|| PlanError::NoSuchGroup { name: name.clone() })?,
            ),
            (DelegationMode::Embedded, _) => None,
            _ => {
                return Err(PlanError::GroupPerRequest {
                    url: m.url.clone(),
                    expression: m.process_group.expression.clone(),
                });
            }
        };
        let script = PathBuf::from(&m.target);
        let script = if script.is_absolute() {
            script
        } else {
            server_root.join(script)
        };
        mounts.push(Mount {
            url: m.url.trim_end_matches('/').to_string(),
            script,
            group,
            application_group: m.application_group.interpreter.clone().unwrap_or_default(),
            callable: m.callable_object.clone(),
            pass_authorization: m.pass_authorization,
            chunked_request: m.chunked_request,
            script_reloading: m.script_reloading,
            group_visible: group.is_none_or(|g| {
                cfg.wsgi.daemons[g].visible_from(vhost, server.server_name.as_deref())
            }),
        });
    }
    let mut aliases: Vec<StaticAlias> = server
        .aliases
        .iter()
        .filter(|a| !a.regex)
        .map(|a| {
            let path = PathBuf::from(&a.target);
            StaticAlias {
                url: a.url.trim_end_matches('/').to_string(),
                path: if path.is_absolute() {
                    path
                } else {
                    server_root.join(path)
                },
            }
        })
        .collect();
    // Longer prefixes first so that /static wins over /.
    aliases.sort_by_key(|a| std::cmp::Reverse(a.url.len()));
    let handlers = |own: &[quill_config::model::StatusHandler],
                    inherited: Option<&[quill_config::model::StatusHandler]>| {
        own.iter()
            .chain(inherited.unwrap_or_default())
            .map(|h| (h.url.clone(), h.access.clone()))
            .collect()
    };
    Ok(SitePlan {
        server_name: server
            .server_name
            .clone()
            .unwrap_or_else(|| "localhost".into()),
        document_root: server
            .document_root
            .clone()
            .unwrap_or_else(|| server_root.join("htdocs")),
        mounts,
        aliases,
        limit_request_body: server.limits.body,
        encoded_slashes: match server.encoded_slashes {
            quill_config::model::EncodedSlashes::Off => EncodedSlashes::Off,
            quill_config::model::EncodedSlashes::On => EncodedSlashes::On,
            quill_config::model::EncodedSlashes::NoDecode => EncodedSlashes::NoDecode,
        },
        status: handlers(
            &server.status_handlers,
            main.map(|m| m.status_handlers.as_slice()),
        ),
        metrics: handlers(
            &server.metrics_handlers,
            main.map(|m| m.metrics_handlers.as_slice()),
        ),
        limit_request_line: server.limits.line as usize,
        strict_heads: server.http_conformance.is_strict(),
        read_timeouts: if cfg.modules.iter().any(|m| m == "reqtimeout_module") {
            let stage = |s: quill_config::model::ReadTimeoutStage| {
                (s.timeout_s > 0).then(|| ReadStage {
                    timeout: Duration::from_secs(s.timeout_s.into()),
                    max: (s.max_timeout_s > 0).then(|| Duration::from_secs(s.max_timeout_s.into())),
                    min_rate: s.min_rate,
                })
            };
            ReadTimeouts {
                header: stage(server.request_read_timeout.header),
                body: stage(server.request_read_timeout.body),
            }
        } else {
            ReadTimeouts::default()
        },
        limit_request_head: (server.limits.line as usize + server.limits.field_size as usize * 4)
            .max(16 * 1024),
        keep_alive: server
            .keep_alive
            .enabled
            .then(|| Duration::from_millis(server.keep_alive.timeout_ms)),
        max_keep_alive_requests: server.keep_alive.max_requests,
        timeout: Duration::from_secs(server.timeout_s.max(1)),
        tls: tls_plan(resolved, server, vhost)?,
        h2: H2Plan {
            max_streams: server.h2.max_session_streams,
            stream_window: server.h2.window_size,
        },
        logs: crate::logging::site_logs(server, server_root, to_terminal)?,
    })
}

/// `LD_LIBRARY_PATH` with the interpreter's libpython directory first,
/// so that the dynamic loader picks the libpython that matches it.
fn python_env(python: &crate::spec::PythonInfo) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(libdir) = &python.libdir {
        let old = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
        env.push((
            "LD_LIBRARY_PATH".to_string(),
            if old.is_empty() {
                libdir.clone()
            } else {
                format!("{libdir}:{old}")
            },
        ));
    }
    env
}

/// How long an embedded-mode child that exits may take to finish its
/// requests (a graceful stop) and run its interpreters' atexit functions
/// before it exits regardless: mod_wsgi's default `shutdown-timeout` of
/// daemon processes. mod_wsgi has no such bound in embedded mode, and no
/// directive sets one: there, httpd's parent bounds only a stop's or a
/// restart's (SIGKILL 9 s into its reclaim) and a graceful stop's
/// (GracefulShutdownTimeout, by default none); a child stopped gracefully
/// otherwise may stay as long as its atexit functions run.
pub const EMBEDDED_SHUTDOWN_TIMEOUT_S: u32 = 5;

/// Python in the front-end children (embedded mode): WSGIPythonHome's
/// interpreter, one request thread per worker thread of a child, and
/// WSGIPythonPath; `url` is an embedded mount, for errors.
fn embedded_plan(
    resolved: &Resolved,
    url: &str,
    extras: &Extras,
    level: Level,
) -> Result<EmbeddedPlan, PlanError> {
    let cfg = &resolved.config;
    let error = |message: String| PlanError::Embedded {
        url: url.to_string(),
        message,
    };
    let home = cfg.wsgi.python_home.as_deref().map(Path::new);
    let exe = crate::python::interpreter(home).map_err(|e| error(e.to_string()))?;
    let python = crate::python::probe(&exe, crate::python::libpython_version())
        .map_err(|e| error(e.to_string()))?;
    let env = python_env(&python);
    let pool = cfg.mpm.pool_config();
    let threads = if pool.mpm == quill_mpm::Mpm::Prefork {
        1
    } else {
        pool.threads_per_child.max(1)
    };
    // The front end's Timeout bounds each wait on the stream, as httpd's
    // bounds each write to the client.
    let timeout = u32::try_from(cfg.main_server.timeout_s.max(1)).unwrap_or(u32::MAX);
    let spec = DaemonSpec {
        group: String::new(),
        slot: 0,
        processes: pool.server_limit.max(1),
        threads,
        multiprocess: pool.server_limit > 1,
        display_name: None,
        home: None,
        python,
        python_path: cfg.wsgi.python_path.clone(),
        preload: cfg
            .wsgi
            .import_scripts
            .iter()
            .filter(|s| s.process_group.is_empty())
            .map(|s| Preload {
                script: s.script.clone(),
                application_group: s.application_group.clone(),
            })
            .collect(),
        maximum_requests: 0,
        inactivity_timeout: 0,
        request_timeout: 0,
        interrupt_timeout: extras.interrupt_timeout,
        deadlock_timeout: 0,
        graceful_timeout: 0,
        shutdown_timeout: EMBEDDED_SHUTDOWN_TIMEOUT_S,
        startup_timeout: 0,
        queue_timeout: 0,
        socket_timeout: timeout,
        // (In-memory pipes: no socket buffers.)
        send_buffer_size: 0,
        receive_buffer_size: 0,
        // (Its restart is the daemon's, which a child does not have.)
        reload_on_changes: false,
        log_level: level.name().to_string(),
        run_as: None,
        supplementary_gids: Vec::new(),
    };
    Ok(EmbeddedPlan { spec, env })
}

/// `file:line` of a directive.
fn file_line(at: &quill_config::source::Location) -> String {
    format!("{}:{}", at.file.display(), at.line)
}

/// The TLS of a server with `SSLEngine on`: its files (relative paths
/// under ServerRoot, as mod_ssl takes them), versions, suites and ALPN
/// protocols.
fn tls_plan(
    resolved: &Resolved,
    server: &ServerConfig,
    vhost: Option<usize>,
) -> Result<Option<TlsPlan>, PlanError> {
    let tls = &server.tls;
    if !tls.enabled {
        return Ok(None);
    }
    let cfg = &resolved.config;
    let name = {
        let host = server.server_name.as_deref().unwrap_or("localhost");
        let port = vhost
            .and_then(|i| cfg.vhosts.get(i))
            .and_then(|v| v.addresses.iter().find_map(|a| a.port))
            .unwrap_or(443);
        format!("{host}:{port}")
    };
    let unknown = || "the configuration".to_string();
    let file =
        |path: &Option<PathBuf>, at: &Option<quill_config::source::Location>, directive: &str| {
            path.as_ref().map(|p| TlsFile {
                path: if p.is_absolute() {
                    p.clone()
                } else {
                    cfg.server_root.join(p)
                },
                directive: directive.to_string(),
                at: at.as_ref().map_or_else(unknown, file_line),
            })
        };
    let Some(certificate) = file(
        &tls.certificate_file,
        &tls.certificate_file_at,
        "SSLCertificateFile",
    ) else {
        return Err(PlanError::NoCertificate {
            at: tls.engine_at.as_ref().map_or_else(unknown, file_line),
            name,
        });
    };
    let key = file(
        &tls.certificate_key_file,
        &tls.certificate_key_file_at,
        "SSLCertificateKeyFile",
    )
    .unwrap_or_else(|| certificate.clone());
    let mut ciphers = tls.ciphers_tls13.clone();
    ciphers.extend(&tls.ciphers_tls12);
    Ok(Some(TlsPlan {
        chain: file(
            &tls.certificate_chain_file,
            &tls.certificate_chain_file_at,
            "SSLCertificateChainFile",
        ),
        certificate,
        key,
        versions: tls.protocols.clone(),
        ciphers,
        honor_cipher_order: tls.honor_cipher_order,
        std_env_vars: tls.std_env_vars,
        alpn: server
            .protocols
            .iter()
            .filter(|p| *p == "h2" || *p == "http/1.1")
            .cloned()
            .collect(),
        name,
        pem: None,
    }))
}

fn group_plan(
    resolved: &Resolved,
    d: &DaemonProcess,
    prefix: &Path,
    pid: u32,
    extras: &Extras,
    level: Level,
) -> Result<GroupPlan, PlanError> {
    let cfg = &resolved.config;
    let home = d.python.effective_python_home.as_deref().map(Path::new);
    let group_error = |message: String| PlanError::Group {
        group: d.name.clone(),
        message,
    };
    let exe = crate::python::interpreter(home).map_err(|e| group_error(e.to_string()))?;
    let python = crate::python::probe(&exe, crate::python::libpython_version())
        .map_err(|e| group_error(e.to_string()))?;
    let mut env = python_env(&python);
    if let Some(lang) = &d.python.lang {
        env.push(("LANG".into(), lang.clone()));
    }
    if let Some(locale) = &d.python.locale {
        env.push(("LC_ALL".into(), locale.clone()));
    }
    // mod_wsgi's user=/group=/supplementary-groups= (names or #ids), only
    // when started as root; the group defaults to the user's primary one.
    let (run_as, supplementary_gids) = match (&d.identity.user, nix::unistd::geteuid().is_root()) {
        (Some(user), true) => {
            let who = group_error;
            let (uid, primary) = lookup_user(user).map_err(who)?;
            let gid = match (&d.identity.group, primary) {
                (Some(g), _) => lookup_group(g).map_err(who)?,
                (None, Some(p)) => p,
                (None, None) => {
                    return Err(who(format!(
                        "user `{user}` has no passwd entry, so its group is unknown: add group=NAME or group=#GID"
                    )));
                }
            };
            let extra = d
                .identity
                .supplementary_groups
                .iter()
                .map(|g| lookup_group(g))
                .collect::<Result<Vec<_>, _>>()
                .map_err(who)?;
            (Some((uid, gid)), extra)
        }
        _ => (None, Vec::new()),
    };
    let t = &d.timeouts;
    let socket_timeout = u32::try_from(t.effective_socket_timeout_s).unwrap_or(u32::MAX);
    let spec = DaemonSpec {
        group: d.name.clone(),
        slot: 0,
        processes: d.processes.max(1),
        threads: d.threads,
        multiprocess: d.multiprocess,
        display_name: d.process_title.clone(),
        home: d.identity.home.clone(),
        python,
        python_path: d.python.python_path.clone(),
        preload: cfg
            .wsgi
            .import_scripts
            .iter()
            .filter(|s| s.process_group == d.name)
            .map(|s| Preload {
                script: s.script.clone(),
                application_group: s.application_group.clone(),
            })
            .collect(),
        maximum_requests: d.maximum_requests,
        inactivity_timeout: t.inactivity_timeout_s,
        request_timeout: t.request_timeout_s,
        interrupt_timeout: extras.interrupt_timeout,
        deadlock_timeout: t.deadlock_timeout_s,
        graceful_timeout: t.graceful_timeout_s,
        shutdown_timeout: t.shutdown_timeout_s,
        startup_timeout: t.startup_timeout_s,
        queue_timeout: t.queue_timeout_s,
        socket_timeout,
        send_buffer_size: match d.socket.send_buffer_size {
            0 => quill_protocol::spec::DEFAULT_SEND_BUFFER,
            n => n,
        },
        receive_buffer_size: d.socket.receive_buffer_size,
        reload_on_changes: extras.reload_on_changes,
        log_level: level.name().to_string(),
        run_as,
        supplementary_gids,
    };
    if d.threads == 0 {
        return Err(PlanError::ManagedProcessMode {
            group: d.name.clone(),
        });
    }
    let mut socket_path = prefix.as_os_str().to_owned();
    socket_path.push(format!(".{pid}.0.{}.sock", d.definition_index));
    Ok(GroupPlan {
        spec,
        listen_backlog: d.socket.listen_backlog,
        connect_timeout: Duration::from_secs(u64::from(t.connect_timeout_s)),
        socket_timeout: Duration::from_secs(t.effective_socket_timeout_s.max(1)),
        socket_path: PathBuf::from(socket_path),
        env,
        error_log: None,
    })
}

/// httpd's own start-up warnings for this configuration (the diagnostics
/// that quote one), and what TLS setting rustls cannot honour (`tls/…`),
/// with where the directive is.
fn startup_warnings(resolved: &Resolved) -> Vec<String> {
    resolved
        .diagnostics
        .iter()
        .filter(|d| d.severity == quill_config::Severity::Warning)
        .filter_map(|d| {
            // httpd's own warnings, and what rustls cannot honour.
            let text = match &d.apache {
                Some(t) => t,
                None if d.code.starts_with("tls/") => &d.message,
                None => return None,
            };
            Some(match d.span {
                Some(span) => {
                    let at = resolved.sources.location(span);
                    format!("{text} ({}:{})", at.file.display(), at.line)
                }
                None => text.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of `text`, read as /srv/httpd.conf.
    fn plan_of(text: &str) -> Result<ServerPlan, PlanError> {
        use quill_config::fs::MemFs;
        use quill_config::syntax::{ParseOptions, parse_str};
        let parsed = parse_str(
            Path::new("/srv/httpd.conf"),
            text,
            &MemFs::new(),
            &ParseOptions::default(),
        );
        let resolved = quill_config::resolve(&parsed, &quill_config::ResolveOptions::default());
        plan_from_config(&resolved, &Extras::default())
    }

    fn plan(mpm_directives: &str) -> ServerPlan {
        plan_of(&format!(
            "ServerRoot /srv\nServerName localhost\nListen 127.0.0.1:8080\n\
             LoadModule mpm_worker_module modules/mod_mpm_worker.so\n\
             LoadModule alias_module modules/mod_alias.so\n{mpm_directives}\n"
        ))
        .expect("a plan")
    }

    #[test]
    fn a_restart_takes_the_pools_sizing_and_keeps_its_limits() {
        let running = plan("ServerLimit 16\nMaxSpareThreads 75");
        let sized = running.restarted_with(plan(
            "ServerLimit 16\nMaxSpareThreads 150\nAlias /s /srv/s\nKeepAlive Off",
        ));
        assert!(sized.kept.is_empty(), "{:?}", sized.kept);
        assert_eq!(sized.plan.pool.max_spare, 150);
        assert_eq!(sized.plan.servers[0].aliases.len(), 1);
        assert_eq!(sized.plan.servers[0].keep_alive, None);

        let limited = running.restarted_with(plan("ServerLimit 20\nMaxSpareThreads 150"));
        assert_eq!(limited.plan.pool, running.pool, "the whole pool is kept");
        assert_eq!(
            limited.kept,
            [
                "ServerLimit changed from 16 to 20: not possible at a restart (as in httpd); the \
              pool keeps all its settings until the server is stopped and started"
            ]
        );

        let mut moved = plan("ServerLimit 16");
        moved.listen = vec!["127.0.0.1:9090".parse().expect("an address")];
        let moved = running.restarted_with(moved);
        assert_eq!(moved.plan.listen, running.listen);
        assert_eq!(
            moved.kept,
            ["Listen changed; the running server keeps its own until it is stopped and started"]
        );
    }

    /// The plan, as JSON, for `directives` after a worker-MPM server with
    /// mod_wsgi and one daemon group `g` mounted at `/app`; `Err` when
    /// quill serve refuses it.
    fn wsgi_plan(directives: &str, group_options: &str) -> Result<serde_json::Value, PlanError> {
        let plan = plan_of(&format!(
            "ServerRoot /srv\nServerName localhost\nListen 127.0.0.1:8080\n\
             LoadModule mpm_worker_module modules/mod_mpm_worker.so\n\
             LoadModule alias_module modules/mod_alias.so\n\
             LoadModule wsgi_module modules/mod_wsgi.so\n\
             WSGIDaemonProcess g {group_options}\n\
             WSGIScriptAlias /app /srv/app.wsgi process-group=g\n{directives}\n"
        ))?;
        Ok(serde_json::to_value(&plan).unwrap_or_default())
    }

    /// The daemon end's send buffer: `send-buffer-size` when given, else
    /// Quill's 1 MiB rather than the system's.
    #[test]
    fn send_buffer_size_is_the_given_one_or_a_mebibyte() {
        let sizes = |options: &str| {
            let plan = wsgi_plan("", options).expect("served");
            let spec = &plan["groups"][0]["spec"];
            (
                spec["send_buffer_size"].clone(),
                spec["receive_buffer_size"].clone(),
            )
        };
        assert_eq!(
            sizes(""),
            (serde_json::json!(1 << 20), serde_json::json!(0))
        );
        assert_eq!(
            sizes("send-buffer-size=65536 receive-buffer-size=32768"),
            (serde_json::json!(65536), serde_json::json!(32768))
        );
    }

    /// docs/directives.md's `quill serve` lines (quill_config::served)
    /// checked against the plan: an option or directive said to be applied
    /// changes what the server runs with, one said not to be applied leaves
    /// it as it is. (The plan is everything the front end and the daemons
    /// are given.) Needs the `python3` on PATH, which every group probes.
    #[test]
    fn what_the_reference_says_is_applied_changes_the_plan() {
        use quill_config::served::{self, Served};
        let base = wsgi_plan("", "").expect("the base configuration is served");

        // A value other than the default for each daemon option; those
        // left out cannot be compared here: user/group/supplementary-groups
        // apply only when quill starts as root, python-home needs another
        // interpreter.
        let option_values = [
            ("processes", "processes=2"),
            ("threads", "threads=3"),
            ("display-name", "display-name=%{GROUP}"),
            ("home", "home=/srv/app"),
            ("python-path", "python-path=/srv/lib"),
            ("python-eggs", "python-eggs=/tmp/eggs"),
            ("lang", "lang=en_US.UTF-8"),
            ("locale", "locale=en_US.UTF-8"),
            ("umask", "umask=0077"),
            ("chroot", "chroot=/srv/jail"),
            ("maximum-requests", "maximum-requests=1000"),
            ("inactivity-timeout", "inactivity-timeout=300"),
            ("request-timeout", "request-timeout=60"),
            ("deadlock-timeout", "deadlock-timeout=60"),
            ("graceful-timeout", "graceful-timeout=16"),
            ("eviction-timeout", "eviction-timeout=30"),
            ("shutdown-timeout", "shutdown-timeout=6"),
            ("startup-timeout", "startup-timeout=15"),
            ("restart-interval", "restart-interval=3600"),
            ("connect-timeout", "connect-timeout=16"),
            ("socket-timeout", "socket-timeout=30"),
            ("queue-timeout", "queue-timeout=45"),
            ("listen-backlog", "listen-backlog=7"),
            ("send-buffer-size", "send-buffer-size=65536"),
            ("receive-buffer-size", "receive-buffer-size=65536"),
            ("header-buffer-size", "header-buffer-size=65536"),
            ("response-buffer-size", "response-buffer-size=131072"),
            ("response-socket-timeout", "response-socket-timeout=30"),
            ("socket-user", "socket-user=nobody"),
            ("script-user", "script-user=nobody"),
            ("script-group", "script-group=nogroup"),
            ("cpu-time-limit", "cpu-time-limit=3600"),
            ("cpu-priority", "cpu-priority=5"),
            ("memory-limit", "memory-limit=1073741824"),
            ("virtual-memory-limit", "virtual-memory-limit=2147483648"),
            ("stack-size", "stack-size=524288"),
            ("server-metrics", "server-metrics=On"),
            (
                "newrelic-config-file",
                "newrelic-config-file=/etc/newrelic.ini",
            ),
            ("newrelic-environment", "newrelic-environment=production"),
        ];
        let mut wrong = Vec::new();
        for (name, value) in option_values {
            let entry = served::daemon_option(name).expect("a classified option");
            let changed = wsgi_plan("", value).map_or(true, |p| p != base);
            if changed != (entry.served != Served::NotApplied) {
                wrong.push(format!(
                    "{value}: {:?} in served.rs, but it {}",
                    entry.served,
                    if changed {
                        "changed the plan"
                    } else {
                        "left the plan as it was"
                    }
                ));
            }
        }
        // Options this test does not compare, so that a new one is seen.
        let skipped = ["python-home", "user", "group", "supplementary-groups"];
        for o in quill_config::wsgi::DAEMON_OPTIONS {
            assert!(
                option_values.iter().any(|(n, _)| *n == o.name) || skipped.contains(&o.name),
                "give `{}` a value in this test",
                o.name
            );
        }

        // Directives at server level, each with a value other than its
        // default.
        let directive_values = [
            ("KeepAlive", "KeepAlive Off"),
            ("KeepAliveTimeout", "KeepAliveTimeout 9"),
            ("MaxKeepAliveRequests", "MaxKeepAliveRequests 7"),
            ("Timeout", "Timeout 9"),
            ("AllowEncodedSlashes", "AllowEncodedSlashes On"),
            ("HttpProtocolOptions", "HttpProtocolOptions Unsafe"),
            ("LimitRequestBody", "LimitRequestBody 1000"),
            ("LimitRequestFields", "LimitRequestFields 50"),
            ("LimitRequestFieldSize", "LimitRequestFieldSize 16000"),
            ("LimitRequestLine", "LimitRequestLine 4000"),
            ("DocumentRoot", "DocumentRoot /srv/www"),
            ("ErrorLog", "ErrorLog logs/other_error_log"),
            ("LogLevel", "LogLevel debug"),
            ("StartServers", "StartServers 2"),
            ("MinSpareThreads", "MinSpareThreads 50"),
            ("MaxSpareThreads", "MaxSpareThreads 300"),
            ("ServerLimit", "ServerLimit 20"),
            ("MaxRequestWorkers", "MaxRequestWorkers 200"),
            ("MaxConnectionsPerChild", "MaxConnectionsPerChild 1000"),
            ("ListenBacklog", "ListenBacklog 100"),
            ("GracefulShutdownTimeout", "GracefulShutdownTimeout 30"),
            ("ExtendedStatus", "ExtendedStatus Off"),
            ("Alias", "Alias /static /srv/static"),
            ("AliasMatch", "AliasMatch ^/img/(.*) /srv/img/$1"),
            // (A format reaches the plan through the CustomLog that names it.)
            (
                "LogFormat",
                "LogFormat \"%h %r\" short\nCustomLog logs/short_log short",
            ),
            ("WSGICallableObject", "WSGICallableObject app"),
            ("WSGIPassAuthorization", "WSGIPassAuthorization On"),
            ("WSGIChunkedRequest", "WSGIChunkedRequest On"),
            ("WSGIScriptReloading", "WSGIScriptReloading Off"),
            ("WSGIRestrictEmbedded", "WSGIRestrictEmbedded On"),
            ("WSGIApplicationGroup", "WSGIApplicationGroup %{GLOBAL}"),
            ("WSGIPythonEggs", "WSGIPythonEggs /tmp/eggs"),
            ("WSGISocketPrefix", "WSGISocketPrefix /tmp/other/wsgi"),
            ("WSGISocketRotation", "WSGISocketRotation Off"),
            ("WSGIRestrictProcess", "WSGIRestrictProcess g"),
            ("WSGIMapHEADToGET", "WSGIMapHEADToGET On"),
            ("WSGIErrorOverride", "WSGIErrorOverride On"),
            ("WSGIIgnoreActivity", "WSGIIgnoreActivity On"),
            ("WSGIEnableSendfile", "WSGIEnableSendfile On"),
            ("WSGIAcceptMutex", "WSGIAcceptMutex flock"),
            ("WSGILazyInitialization", "WSGILazyInitialization Off"),
            ("WSGIDestroyInterpreter", "WSGIDestroyInterpreter Off"),
            ("WSGIRestrictSignal", "WSGIRestrictSignal Off"),
            ("WSGIRestrictStdout", "WSGIRestrictStdout On"),
            ("WSGIRestrictStdin", "WSGIRestrictStdin On"),
            ("WSGIServerMetrics", "WSGIServerMetrics On"),
            ("WSGIPythonOptimize", "WSGIPythonOptimize 1"),
            ("WSGIPythonHashSeed", "WSGIPythonHashSeed 0"),
            ("WSGIDontWriteBytecode", "WSGIDontWriteBytecode On"),
        ];
        for (name, line) in directive_values {
            let entry = served::directive(name).expect("a classified directive");
            let changed = wsgi_plan(line, "").map_or(true, |p| p != base);
            if changed != (entry.served != Served::NotApplied) {
                wrong.push(format!(
                    "{line}: {:?} in served.rs, but it {}",
                    entry.served,
                    if changed {
                        "changed the plan"
                    } else {
                        "left the plan as it was"
                    }
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "crates/quill-config/src/served.rs disagrees with the plan:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn users_and_groups_by_name_or_number() {
        assert_eq!(lookup_user("root"), Ok((0, Some(0))));
        assert_eq!(lookup_user("#0"), Ok((0, Some(0))));
        // A uid with no passwd entry is still a uid, without a group.
        assert_eq!(lookup_user("#4000000"), Ok((4_000_000, None)));
        assert!(lookup_user("#x").is_err());
        assert!(
            lookup_user("no-such-user-here")
                .unwrap_err()
                .contains("no user")
        );
        assert_eq!(lookup_group("root"), Ok(0));
        assert_eq!(lookup_group("#27"), Ok(27));
        assert!(lookup_group("no-such-group-here").is_err());
    }
}
