//! The logs of each server (the main server and every virtual host),
//! planned from the configuration and opened by each front-end child.
//!
//! ```text
//!  ServerConfig ──site_logs──▶ SiteLogs { error_log, levels, access_logs, remote_ip }   (plan, JSON)
//!                                  │ a front-end child starts
//!                                  ▼
//!                          open_sites ──▶ SiteSinks per server: ErrorLog, LogFile × formats
//!                                          (one open file per path, shared)
//! ```
//!
//! Files are opened for appending by each child when it starts, as
//! httpd's children inherit theirs: a graceful restart (SIGUSR1) starts
//! children that open them afresh, which is what logrotate needs. Each
//! access-log line is one write(2), so lines of several children never
//! interleave.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use quill_config::logs::{FieldKind, LogCondition, LogFormat, LogLevels, TimeStyle};
use quill_config::model::{CustomLogCondition, ServerConfig};
use quill_config::remoteip::{RemoteIp, parse_proxy_list};
use quill_config::setenvif::{Compiled, SetEnvRule};
use serde::{Deserialize, Serialize};

use crate::log::ErrorLog;
use crate::plan::LogTarget;

/// What one server logs, and how it finds its clients' addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteLogs {
    /// Its ErrorLog (a virtual host without one: the main server's).
    pub error_log: LogTarget,
    pub levels: LogLevels,
    /// Its CustomLogs (a virtual host without any: the main server's).
    pub access_logs: Vec<AccessLogPlan>,
    /// mod_remoteip, its list files read.
    pub remote_ip: RemoteIp,
    /// mod_setenvif: the main server's lines, then its own.
    pub set_env_if: Vec<SetEnvRule>,
}

/// One CustomLog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessLogPlan {
    pub target: LogTarget,
    pub format: LogFormat,
    pub condition: Option<LogCondition>,
}

/// A log setting `quill serve` cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogPlanError {
    #[error(
        "{at}: CustomLog \"{target}\": piped logs are not supported by quill serve; log to a \
         file and have the program follow it (`tail -F`), or run `quill serve \
         --log-to-terminal` and pipe its standard output"
    )]
    PipedAccessLog { at: String, target: String },
    #[error(
        "ErrorLog \"{target}\": {what} is not supported by quill serve; log to a file or to \
         /dev/stderr"
    )]
    ErrorLogTarget { target: String, what: &'static str },
    #[error(
        "{at}: CustomLog … {condition}: quill serve does not evaluate expr= conditions; write \
         env=NAME or env=!NAME"
    )]
    Expression { at: String, condition: String },
    #[error(
        "{at}: CustomLog format: `%{{{format}}}t` is not a strftime format Quill can write; \
         write e.g. `%{{%Y-%m-%d %H:%M:%S}}t`"
    )]
    TimeFormat { at: String, format: String },
    #[error("{at}: {directive} {path}: {cause}")]
    ProxyList {
        at: String,
        directive: &'static str,
        path: String,
        cause: String,
    },
}

/// Where a log named `value` goes (relative paths under ServerRoot).
pub fn log_target(value: &str, server_root: &Path) -> LogTarget {
    match value {
        "/dev/stderr" => LogTarget::Stderr,
        "/dev/stdout" => LogTarget::Stdout,
        p if Path::new(p).is_absolute() => LogTarget::File(PathBuf::from(p)),
        p => LogTarget::File(server_root.join(p)),
    }
}

/// The logs of `server`; `to_terminal` (`--log-to-terminal`) sends its
/// error log to stderr and its access logs to stdout.
pub fn site_logs(
    server: &ServerConfig,
    server_root: &Path,
    to_terminal: bool,
) -> Result<SiteLogs, LogPlanError> {
    let error_value = server.error_log.as_deref().unwrap_or("logs/error_log");
    let error_log = if to_terminal {
        LogTarget::Stderr
    } else if error_value.starts_with('|') {
        return Err(LogPlanError::ErrorLogTarget {
            target: error_value.to_string(),
            what: "a piped log",
        });
    } else if error_value == "syslog" || error_value.starts_with("syslog:") {
        return Err(LogPlanError::ErrorLogTarget {
            target: error_value.to_string(),
            what: "syslog",
        });
    } else {
        log_target(error_value, server_root)
    };
    let mut access_logs = Vec::new();
    for l in &server.custom_logs {
        let at = l.at.to_string();
        if l.target.starts_with('|') {
            return Err(LogPlanError::PipedAccessLog {
                at,
                target: l.target.clone(),
            });
        }
        let condition = match &l.condition {
            None => None,
            Some(CustomLogCondition::Env(c)) => Some(c.clone()),
            Some(CustomLogCondition::Unsupported(text)) => {
                return Err(LogPlanError::Expression {
                    at,
                    condition: text.clone(),
                });
            }
        };
        for f in l.items.fields() {
            if let FieldKind::Time(t) = &f.kind {
                if let TimeStyle::Strftime(s) = &t.style {
                    if !strftime_ok(s) {
                        return Err(LogPlanError::TimeFormat {
                            at,
                            format: s.clone(),
                        });
                    }
                }
            }
        }
        access_logs.push(AccessLogPlan {
            target: if to_terminal {
                LogTarget::Stdout
            } else {
                log_target(&l.target, server_root)
            },
            format: l.items.clone(),
            condition,
        });
    }
    let mut remote_ip = server.remote_ip.clone();
    for list in &server.remote_ip_lists {
        let directive = if list.internal {
            "RemoteIPInternalProxyList"
        } else {
            "RemoteIPTrustedProxyList"
        };
        let err = |cause: String| LogPlanError::ProxyList {
            at: list.at.to_string(),
            directive,
            path: list.path.clone(),
            cause,
        };
        let path = match Path::new(&list.path) {
            p if p.is_absolute() => p.to_path_buf(),
            p => server_root.join(p),
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        let entries = parse_proxy_list(&text, list.internal).map_err(|(line, word)| {
            err(format!(
                "line {line}: `{word}` is not an IP address or network (Quill does not look \
                 host names up)"
            ))
        })?;
        remote_ip.proxies.extend(entries);
    }
    Ok(SiteLogs {
        error_log,
        levels: server.log_levels.clone(),
        access_logs,
        remote_ip,
        set_env_if: server.set_env_if.clone(),
    })
}

/// Opens (creating them) every log file of every server once, as the
/// children will: the error says which one cannot be opened, and why.
pub fn check_can_open(plan: &crate::plan::ServerPlan) -> Result<(), String> {
    let groups = plan
        .groups
        .iter()
        .filter_map(|g| g.error_log.as_ref().map(|t| ("ErrorLog", t)));
    for s in &plan.servers {
        let logs = &s.logs;
        let access = logs.access_logs.iter().map(|a| ("CustomLog", &a.target));
        for (what, target) in std::iter::once(("ErrorLog", &logs.error_log)).chain(access) {
            if let LogTarget::File(p) = target {
                LogFile::open(target)
                    .map_err(|e| format!("{what} {}: cannot open it: {e}", p.display()))?;
            }
        }
    }
    for (what, target) in groups {
        if let LogTarget::File(p) = target {
            LogFile::open(target)
                .map_err(|e| format!("{what} {}: cannot open it: {e}", p.display()))?;
        }
    }
    Ok(())
}

/// Whether chrono writes `format` (a strftime format) without error.
pub fn strftime_ok(format: &str) -> bool {
    use chrono::format::{Item, StrftimeItems};
    !StrftimeItems::new(format).any(|i| matches!(i, Item::Error))
}

/// An access log open for appending: each line is one write(2).
pub struct LogFile {
    out: Mutex<Out>,
}

enum Out {
    File(File),
    Stdout,
    Stderr,
}

impl std::fmt::Debug for LogFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFile").finish_non_exhaustive()
    }
}

impl LogFile {
    pub fn open(target: &LogTarget) -> std::io::Result<LogFile> {
        let out = match target {
            LogTarget::Stdout => Out::Stdout,
            LogTarget::Stderr => Out::Stderr,
            LogTarget::File(p) => Out::File(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
        };
        Ok(LogFile {
            out: Mutex::new(out),
        })
    }

    /// Appends `line` (which ends with its newline). A log that cannot be
    /// written has nowhere to report to: the line is lost.
    pub fn write_line(&self, line: &[u8]) {
        let Ok(mut out) = self.out.lock() else {
            return;
        };
        let _ = match &mut *out {
            // O_APPEND and the whole line at once: one write(2) for any
            // line a regular file takes whole.
            Out::File(f) => f.write_all(line),
            Out::Stdout => std::io::stdout().lock().write_all(line),
            Out::Stderr => std::io::stderr().lock().write_all(line),
        };
    }
}

/// One server's logs, open.
#[derive(Debug)]
pub struct SiteSinks {
    pub error: Arc<ErrorLog>,
    pub access: Vec<AccessSink>,
    pub remote_ip: RemoteIp,
    pub set_env: Compiled,
}

/// One CustomLog, open.
#[derive(Debug, Clone)]
pub struct AccessSink {
    pub file: Arc<LogFile>,
    pub format: Arc<LogFormat>,
    pub condition: Option<LogCondition>,
}

/// Opens every server's logs, each path once: servers that name the
/// same file share it. `main_error` is the error log already open for
/// the main server's path (the process's own).
pub fn open_sites(
    sites: &[&SiteLogs],
    main_error: &Arc<ErrorLog>,
    main_error_target: &LogTarget,
) -> std::io::Result<Vec<SiteSinks>> {
    let mut errors: Vec<(LogTarget, Arc<ErrorLog>)> =
        vec![(main_error_target.clone(), main_error.clone())];
    let mut files: Vec<(LogTarget, Arc<LogFile>)> = Vec::new();
    let mut out = Vec::with_capacity(sites.len());
    for s in sites {
        let base = match errors.iter().find(|(t, _)| *t == s.error_log) {
            Some((_, l)) => l.clone(),
            None => {
                let l = Arc::new(ErrorLog::new(s.levels.level, s.error_log.open()?));
                errors.push((s.error_log.clone(), l.clone()));
                l
            }
        };
        let error = Arc::new(base.sharing(s.levels.level, s.levels.modules.clone()));
        let mut access = Vec::with_capacity(s.access_logs.len());
        for a in &s.access_logs {
            let file = match files.iter().find(|(t, _)| *t == a.target) {
                Some((_, f)) => f.clone(),
                None => {
                    let f = Arc::new(LogFile::open(&a.target)?);
                    files.push((a.target.clone(), f.clone()));
                    f
                }
            };
            access.push(AccessSink {
                file,
                format: Arc::new(a.format.clone()),
                condition: a.condition.clone(),
            });
        }
        out.push(SiteSinks {
            error,
            access,
            remote_ip: s.remote_ip.clone(),
            set_env: Compiled::new(&s.set_env_if),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(text: &str) -> quill_config::Resolved {
        let parsed = quill_config::syntax::parse_str(
            Path::new("/srv/conf/httpd.conf"),
            text,
            &quill_config::fs::MemFs::new(),
            &Default::default(),
        );
        quill_config::resolve(&parsed, &Default::default())
    }

    const HEAD: &str = "LoadModule mpm_event_module modules/mod_mpm_event.so\nListen 80\n\
                        ServerName main.example\nServerRoot /srv\n";

    #[test]
    fn what_cannot_be_served_is_refused_with_where() {
        let cases = [
            (
                "CustomLog \"|/usr/bin/rotatelogs x 86400\" \"%h\"\n",
                "piped logs",
            ),
            ("ErrorLog syslog:local7\n", "syslog is not supported"),
            ("ErrorLog \"|/usr/bin/logger\"\n", "a piped log"),
            (
                "CustomLog logs/a \"%h\" \"expr=%{REQUEST_URI} =~ /x/\"\n",
                "expr= conditions",
            ),
            ("CustomLog logs/a \"%{%Q}t\"\n", "not a strftime format"),
        ];
        for (line, says) in cases {
            let r = resolved(&format!("{HEAD}{line}"));
            let e = site_logs(&r.config.main_server, Path::new("/srv"), false)
                .expect_err(line)
                .to_string();
            assert!(e.contains(says), "{line}: {e}");
            if line.starts_with("CustomLog") {
                assert!(e.starts_with("/srv/conf/httpd.conf:5:"), "{e}");
            }
        }
    }

    #[test]
    fn targets_are_under_the_server_root_or_the_terminal() {
        let r = resolved(&format!(
            "{HEAD}ErrorLog logs/err\nCustomLog /var/log/a \"%h\"\nCustomLog logs/b \"%h\" env=x\n"
        ));
        let logs = site_logs(&r.config.main_server, Path::new("/srv"), false).expect("plans");
        assert_eq!(logs.error_log, LogTarget::File("/srv/logs/err".into()));
        assert_eq!(
            logs.access_logs
                .iter()
                .map(|a| a.target.clone())
                .collect::<Vec<_>>(),
            vec![
                LogTarget::File("/var/log/a".into()),
                LogTarget::File("/srv/logs/b".into())
            ]
        );
        assert!(logs.access_logs[1].condition.is_some());
        let t = site_logs(&r.config.main_server, Path::new("/srv"), true).expect("plans");
        assert_eq!(t.error_log, LogTarget::Stderr);
        assert!(t.access_logs.iter().all(|a| a.target == LogTarget::Stdout));
    }

    #[test]
    fn strftime_formats_are_checked() {
        assert!(strftime_ok("%Y-%m-%dT%H:%M:%S%z"));
        assert!(!strftime_ok("%Q"));
    }
}
