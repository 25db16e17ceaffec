//! From a resolved Apache configuration to a [`SimConfig`]: which server
//! answers the load, its keep-alive settings, and the daemon group its WSGI
//! application is delegated to.

use quill_config::ResolvedConfig;
use quill_config::model::ServerConfig;
use quill_config::wsgi::DelegationMode;

use crate::engine::{DaemonModel, KeepAliveModel, SimConfig, Timing};

/// Choices the configuration alone does not make.
#[derive(Debug, Clone)]
pub struct SimChoices {
    /// The Host the load is sent with (selects the virtual host); `None`:
    /// the default server of the first listener.
    pub host: Option<String>,
    /// Model the mod_wsgi daemon tier (when the server delegates to one).
    pub daemon_tier: bool,
    pub seed: u64,
    pub duration_us: u64,
    pub timing: Timing,
    pub step_limit: u64,
    /// The kernel's `net.core.somaxconn`, which caps ListenBacklog.
    pub somaxconn: u32,
}

impl Default for SimChoices {
    fn default() -> Self {
        SimChoices {
            host: None,
            daemon_tier: true,
            seed: 1,
            duration_us: 60_000_000,
            timing: Timing::default(),
            step_limit: 2_000_000_000,
            somaxconn: 4096,
        }
    }
}

/// What was chosen, for titles and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupNotes {
    /// e.g. `virtual host #0 (www.example.com)` or `main server`.
    pub server: String,
    /// e.g. `daemon group example.com: 4 × 10 threads` or `no daemon tier`.
    pub daemon: String,
}

/// Build the simulation input. Fails only if the MPM values are unusable.
pub fn sim_config(
    config: &ResolvedConfig,
    choices: &SimChoices,
) -> Result<(SimConfig, SetupNotes), String> {
    let (server, server_desc) = answering_server(config, choices.host.as_deref());
    let mpm = &config.mpm;
    let keep_alive = KeepAliveModel {
        enabled: server.keep_alive.enabled,
        timeout_us: server.keep_alive.timeout_ms.saturating_mul(1_000),
        max_requests: server.keep_alive.max_requests,
    };
    let (daemon, daemon_desc) = if choices.daemon_tier {
        daemon_model(config, server)
    } else {
        (None, "daemon tier not modelled (--no-daemon)".to_string())
    };
    let pool = mpm.pool_config();
    pool.validate().map_err(|e| e.to_string())?;
    let sim = SimConfig {
        pool,
        keep_alive,
        listen_backlog: mpm.listen_backlog.min(choices.somaxconn),
        async_factor: mpm.async_request_worker_factor.unwrap_or(2),
        daemon,
        timing: choices.timing.clone(),
        seed: choices.seed,
        duration_us: choices.duration_us,
        step_limit: choices.step_limit,
    };
    Ok((
        sim,
        SetupNotes {
            server: server_desc,
            daemon: daemon_desc,
        },
    ))
}

fn answering_server<'c>(
    config: &'c ResolvedConfig,
    host: Option<&str>,
) -> (&'c ServerConfig, String) {
    let Some(route) = config.routing.first() else {
        return (&config.main_server, "main server".to_string());
    };
    match quill_config::resolve::core::select_vhost(route, None, host) {
        Some(i) => match config.vhosts.get(i) {
            Some(v) => {
                let name = v.server.server_name.as_deref().unwrap_or("no ServerName");
                (
                    &v.server,
                    format!("virtual host #{i} ({name}) on {}", route.listener),
                )
            }
            None => (&config.main_server, "main server".to_string()),
        },
        None => (
            &config.main_server,
            format!("main server on {}", route.listener),
        ),
    }
}

/// The daemon group of the server's application mounted highest (the `/`
/// mount, else the first one).
fn daemon_model(config: &ResolvedConfig, server: &ServerConfig) -> (Option<DaemonModel>, String) {
    let mount = server
        .wsgi_mounts
        .iter()
        .find(|m| m.url == "/")
        .or_else(|| server.wsgi_mounts.first());
    let Some(mount) = mount else {
        return (
            None,
            "no WSGI application in this server: requests are served by the front end only"
                .to_string(),
        );
    };
    let group = match (mount.process_group.mode, &mount.process_group.group) {
        (DelegationMode::Daemon, Some(g)) => g,
        (DelegationMode::Embedded, _) | (DelegationMode::Daemon, None) => {
            return (
                None,
                format!("{} runs in embedded mode: no daemon tier", mount.url),
            );
        }
        (DelegationMode::Runtime, _) => {
            return (
                None,
                format!(
                    "{} picks its daemon group per request: not modelled",
                    mount.url
                ),
            );
        }
    };
    let Some(d) = config.wsgi.daemon(group) else {
        return (None, format!("daemon group {group} is not defined"));
    };
    let s = |v: u64| v.saturating_mul(1_000_000);
    let model = DaemonModel {
        name: d.name.clone(),
        processes: d.processes,
        threads: d.threads.max(1),
        listen_backlog: d.socket.listen_backlog,
        queue_timeout_us: s(u64::from(d.timeouts.queue_timeout_s)),
        connect_timeout_us: s(u64::from(d.timeouts.connect_timeout_s)),
        socket_timeout_us: s(d.timeouts.effective_socket_timeout_s),
    };
    let desc = format!(
        "daemon group {} for {}: {} process(es) × {} thread(s), listen-backlog {}",
        d.name, mount.url, d.processes, d.threads, d.socket.listen_backlog
    );
    (Some(model), desc)
}
