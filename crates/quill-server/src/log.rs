//! Apache-style logs: the error log (`[time] [module:level] [pid N] msg`)
//! and the access log in the combined format with `%D`.
//!
//! Daemon processes write their error-log lines to the stderr they
//! inherited from the supervisor, which is the error log (a file, or the
//! terminal with `--log-to-terminal`), so every process appends to one log.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;

/// Apache's `LogLevel` values: the one type the controller's messages and
/// the server's logs share.
pub use quill_mpm::LogLevel as Level;

/// Where error-log lines go, with the level below which they are dropped.
pub struct ErrorLog {
    level: Level,
    out: Mutex<Box<dyn Write + Send>>,
}

impl fmt::Debug for ErrorLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorLog")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl ErrorLog {
    pub fn new(level: Level, out: Box<dyn Write + Send>) -> ErrorLog {
        ErrorLog {
            level,
            out: Mutex::new(out),
        }
    }

    /// To this process's stderr.
    pub fn stderr(level: Level) -> ErrorLog {
        ErrorLog::new(level, Box::new(std::io::stderr()))
    }

    pub fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }

    pub fn level(&self) -> Level {
        self.level
    }

    /// Logs `msg` (one record per line) for `module` (`wsgi`, `quill`…).
    pub fn log(&self, level: Level, module: &str, msg: &str) {
        if !self.enabled(level) {
            return;
        }
        let now = chrono::Local::now();
        let stamp = now.format("%a %b %d %H:%M:%S%.6f %Y");
        let pid = std::process::id();
        let mut text = String::new();
        for line in msg.lines() {
            text.push_str(&format!(
                "[{stamp}] [{module}:{level}] [pid {pid}] {line}\n"
            ));
        }
        if let Ok(mut out) = self.out.lock() {
            // A log that cannot be written has nowhere to report to.
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }

    pub fn error(&self, msg: &str) {
        self.log(Level::Error, "wsgi", msg);
    }
    pub fn warn(&self, msg: &str) {
        self.log(Level::Warn, "wsgi", msg);
    }
    pub fn notice(&self, msg: &str) {
        self.log(Level::Notice, "wsgi", msg);
    }
    pub fn info(&self, msg: &str) {
        self.log(Level::Info, "wsgi", msg);
    }
    pub fn debug(&self, msg: &str) {
        self.log(Level::Debug, "wsgi", msg);
    }
}

/// One access-log record; [`AccessRecord::combined`] renders Apache's
/// `"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" %D"`.
#[derive(Debug, Clone)]
pub struct AccessRecord<'a> {
    pub remote: &'a str,
    pub user: Option<&'a str>,
    pub time: chrono::DateTime<chrono::Local>,
    pub request_line: &'a str,
    pub status: u16,
    /// Body bytes sent; 0 is printed as `-` (`%b`).
    pub bytes: u64,
    pub referer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// Microseconds taken (`%D`).
    pub micros: u128,
}

impl AccessRecord<'_> {
    pub fn combined(&self) -> String {
        let bytes = if self.bytes == 0 {
            "-".to_string()
        } else {
            self.bytes.to_string()
        };
        format!(
            "{} - {} [{}] \"{}\" {} {} \"{}\" \"{}\" {}",
            self.remote,
            self.user.unwrap_or("-"),
            self.time.format("%d/%b/%Y:%H:%M:%S %z"),
            escape(self.request_line),
            self.status,
            bytes,
            escape(self.referer.unwrap_or("-")),
            escape(self.user_agent.unwrap_or("-")),
            self.micros
        )
    }
}

/// Apache escapes `"`, `\` and non-printable bytes in logged strings.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn combined_format_matches_apache() {
        let time = chrono::Local
            .with_ymd_and_hms(2024, 10, 11, 14, 32, 52)
            .single()
            .unwrap();
        let r = AccessRecord {
            remote: "127.0.0.1",
            user: None,
            time,
            request_line: "GET /a?b=\"c\" HTTP/1.1",
            status: 200,
            bytes: 0,
            referer: None,
            user_agent: Some("curl/8"),
            micros: 1234,
        };
        let line = r.combined();
        assert!(
            line.starts_with("127.0.0.1 - - [11/Oct/2024:14:32:52 "),
            "{line}"
        );
        assert!(
            line.ends_with("] \"GET /a?b=\\\"c\\\" HTTP/1.1\" 200 - \"-\" \"curl/8\" 1234"),
            "{line}"
        );
    }

    #[test]
    fn levels_parse_and_order() {
        assert_eq!("WARN".parse::<Level>(), Ok(Level::Warn));
        assert_eq!("trace3".parse::<Level>(), Ok(Level::Trace1));
        assert!(
            Level::Debug < Level::Trace1,
            "trace levels log debug lines too"
        );
        assert!(Level::Error < Level::Info);
        assert!("loud".parse::<Level>().is_err());
    }
}
