//! Apache-style error logs: `[time] [module:level] [pid N] msg`, with
//! httpd's LogLevel per module. (Access logs are the front end's:
//! `quill_server::logging`.)
//!
//! Daemon processes write their error-log lines to the stderr they
//! inherited from the supervisor, which is the error log (a file, or the
//! terminal with `--log-to-terminal`), so every process appends to one log.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Apache's `LogLevel` values: the one type the controller's messages and
/// the server's logs share.
pub use quill_mpm::LogLevel as Level;

/// Where error-log lines go, with the level below which they are dropped:
/// one for every module, or its own for a module (`LogLevel warn
/// wsgi:info`).
pub struct ErrorLog {
    level: Level,
    /// Per module (its short name: `wsgi`, `core`…), a level of its own.
    modules: Vec<(String, Level)>,
    /// Shared by the error logs of the servers that write to one file.
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl fmt::Debug for ErrorLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorLog")
            .field("level", &self.level)
            .field("modules", &self.modules)
            .finish_non_exhaustive()
    }
}

impl ErrorLog {
    pub fn new(level: Level, out: Box<dyn Write + Send>) -> ErrorLog {
        ErrorLog {
            level,
            modules: Vec::new(),
            out: Arc::new(Mutex::new(out)),
        }
    }

    /// With levels of their own for some modules.
    pub fn with_modules(mut self, modules: Vec<(String, Level)>) -> ErrorLog {
        self.modules = modules;
        self
    }

    /// Another error log writing where this one writes, at its own levels
    /// (a virtual host whose ErrorLog is the main server's file).
    pub fn sharing(&self, level: Level, modules: Vec<(String, Level)>) -> ErrorLog {
        ErrorLog {
            level,
            modules,
            out: self.out.clone(),
        }
    }

    /// Writes from now on to `out` (the file opened again, after a
    /// rotation); every log sharing this one's follows.
    pub fn reopen(&self, out: Box<dyn Write + Send>) {
        if let Ok(mut o) = self.out.lock() {
            *o = out;
        }
    }

    /// To this process's stderr.
    pub fn stderr(level: Level) -> ErrorLog {
        ErrorLog::new(level, Box::new(std::io::stderr()))
    }

    /// Whether some module's lines are written at `level`.
    pub fn enabled(&self, level: Level) -> bool {
        level
            <= self
                .modules
                .iter()
                .map(|(_, l)| *l)
                .fold(self.level, std::cmp::max)
    }

    /// Whether `module`'s lines are written at `level`.
    pub fn enabled_for(&self, level: Level, module: &str) -> bool {
        let own = self
            .modules
            .iter()
            .find(|(m, _)| m == module)
            .map_or(self.level, |(_, l)| *l);
        level <= own
    }

    /// The level of the modules without one of their own.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Logs `msg` (one record per line) for `module` (`wsgi`, `core`…),
    /// all its lines in one write.
    pub fn log(&self, level: Level, module: &str, msg: &str) {
        self.write(level, module, msg, false);
    }

    /// [`ErrorLog::log`], unless the log is being written at this moment
    /// (then nothing): for a panic hook, which may run on a thread that
    /// is writing it.
    pub fn try_log(&self, level: Level, module: &str, msg: &str) {
        self.write(level, module, msg, true);
    }

    fn write(&self, level: Level, module: &str, msg: &str, or_nothing: bool) {
        if !self.enabled_for(level, module) {
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
        let out = if or_nothing {
            self.out.try_lock().ok()
        } else {
            self.out.lock().ok()
        };
        if let Some(mut out) = out {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A log file in memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lines").clone()).expect("text")
        }
    }

    impl Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn modules_have_levels_of_their_own() {
        let lines = Lines::default();
        let log = ErrorLog::new(Level::Warn, Box::new(lines.clone()))
            .with_modules(vec![("wsgi".into(), Level::Info)]);
        log.log(Level::Info, "wsgi", "shown");
        log.log(Level::Info, "core", "hidden");
        assert!(log.enabled(Level::Info) && !log.enabled(Level::Debug));
        // A virtual host's log on the same file, at its own levels.
        let vhost = log.sharing(Level::Debug, Vec::new());
        vhost.log(Level::Debug, "core", "vhost's");
        let text = lines.text();
        assert!(
            text.contains("[wsgi:info]") && text.contains("shown"),
            "{text}"
        );
        assert!(!text.contains("hidden"), "{text}");
        assert!(
            text.contains("[core:debug]") && text.contains("vhost's"),
            "{text}"
        );
        // Reopened: both write to the new file.
        let fresh = Lines::default();
        log.reopen(Box::new(fresh.clone()));
        vhost.log(Level::Error, "core", "after");
        let text = fresh.text();
        assert!(text.contains("after"), "{text}");
    }

    #[test]
    fn try_log_writes_unless_the_log_is_being_written() {
        let lines = Lines::default();
        let log = ErrorLog::new(Level::Warn, Box::new(lines.clone()));
        log.try_log(Level::Crit, "core", "written");
        {
            // Being written (by this thread): no wait, no line.
            let _held = log.out.lock().expect("the log");
            log.try_log(Level::Crit, "core", "skipped");
        }
        let text = lines.text();
        assert!(
            text.contains("[core:crit]") && text.contains("written"),
            "{text}"
        );
        assert!(!text.contains("skipped"), "{text}");
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
