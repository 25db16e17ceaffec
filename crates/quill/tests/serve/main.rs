//! Integration tests of `quill express` / `quill serve`: the real binary,
//! real daemon processes with embedded Python, a real HTTP client on
//! 127.0.0.1. Each test starts its own server (`quill express`, or
//! `quill serve` of a config it writes); every server is stopped by PID
//! (SIGTERM, then SIGKILL after a bound)
//! when its fixture is dropped. No timing asserts: timeouts only bound the
//! waits.

// A test harness of a shell: it polls with deadlines and reads the
// environment (QUILL_TEST_VENV), which clippy.toml bans in pure crates.
#![allow(clippy::disallowed_methods)]
// Skipped tests say so on stderr.
#![allow(clippy::print_stderr)]

mod apps;
/// The PEP 3333 suite and the real apps again, in embedded mode
/// (`quill express --embedded-mode`): see [`mode_args`]. Compiling a file
/// twice is the point here (clippy's duplicate_mod).
#[allow(clippy::duplicate_mod)]
#[path = "apps.rs"]
mod apps_embedded;
mod config;
mod conformance;
#[allow(clippy::duplicate_mod)]
#[path = "conformance.rs"]
mod conformance_embedded;
mod embedded;
mod faults;
mod hardening;
mod interpreters;
mod lifecycle;
mod logs;
mod pool;
mod probes;
mod report;
mod status;
mod tls;
mod vhosts;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `quill` under test: this build's, or `QUILL_TEST_BIN` (to run the
/// tests against another build, e.g. to see a regression test fail on the
/// code before its fix).
pub fn quill_bin() -> PathBuf {
    std::env::var_os("QUILL_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_quill")))
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/serve/apps")
}

/// A fresh directory under the target dir, removed at drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The mode a suite compiled twice runs in, from its module's path:
/// `--embedded-mode` in the `*_embedded` copy, daemon mode otherwise.
pub fn mode_args(module: &str) -> &'static [&'static str] {
    if module.ends_with("_embedded") {
        &["--embedded-mode"]
    } else {
        &[]
    }
}

/// Whether a suite compiled twice runs in embedded mode.
pub fn embedded(module: &str) -> bool {
    !mode_args(module).is_empty()
}

/// A running `quill express`, stopped at drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub port: u16,
    pub log: Arc<Mutex<String>>,
    pub root: TempDir,
}

impl Server {
    /// `quill express SCRIPT ARGS… --host 127.0.0.1 --port 0 --log-to-terminal`.
    pub fn express(name: &str, script: &Path, args: &[&str]) -> Server {
        Server::express_with(name, Some(script), args)
    }

    /// `quill express` with or without a script (without: the built-in demo).
    pub fn express_with(name: &str, script: Option<&Path>, args: &[&str]) -> Server {
        let root = TempDir::new(name);
        let mut cmd = Command::new(quill_bin());
        cmd.arg("express");
        if let Some(script) = script {
            cmd.arg(script);
        }
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--log-to-terminal",
            "--log-level",
            "info",
        ])
        .arg("--server-root")
        .arg(&root.0)
        .args(args);
        Server::launch(cmd, root, "Server URL         : http://127.0.0.1:")
    }

    /// The configuration `quill express SCRIPT ARGS… --print-config`
    /// writes, changed by `edit`, run by `quill serve`: for what express
    /// itself does not offer (a named application group, say).
    pub fn express_edited(
        name: &str,
        script: &Path,
        args: &[&str],
        edit: impl FnOnce(&str) -> String,
    ) -> Server {
        let root = TempDir::new(name);
        let port = free_port();
        let out = Command::new(quill_bin())
            .arg("express")
            .arg(script)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--log-to-terminal", "--log-level", "info"])
            .arg("--server-root")
            .arg(&root.0)
            .args(args)
            .arg("--print-config")
            .output()
            .expect("run quill express --print-config");
        assert!(
            out.status.success(),
            "quill express --print-config failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = root.0.join("httpd.conf");
        std::fs::write(&conf, edit(&String::from_utf8_lossy(&out.stdout))).expect("write config");
        Server::serve(root, &conf, port)
    }

    /// `quill serve CONF --log-to-terminal`; the config listens on `port`
    /// of 127.0.0.1.
    pub fn serve(root: TempDir, conf: &Path, port: u16) -> Server {
        Server::serve_with(root, conf, port, &[])
    }

    /// `quill serve CONF --log-to-terminal ARGS…`.
    pub fn serve_with(root: TempDir, conf: &Path, port: u16, args: &[&str]) -> Server {
        let mut cmd = Command::new(quill_bin());
        cmd.arg("serve")
            .arg(conf)
            .arg("--log-to-terminal")
            .args(args);
        let s = Server::launch(cmd, root, "Listening on http://127.0.0.1:");
        assert_eq!(s.port, port, "listening where the config says");
        s
    }

    /// Starts `cmd`, collects its output as the log, and waits for the
    /// stdout line `url_prefix PORT…` and for a first answer.
    fn launch(mut cmd: Command, root: TempDir, url_prefix: &'static str) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start quill");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix(url_prefix) {
                    let _ = tx.send(rest.to_string());
                }
                l.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let rest = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("quill did not start; output:\n{}", log.lock().unwrap());
            }
        };
        let port = rest
            .split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in URL");
        let s = Server {
            child,
            port,
            log,
            root,
        };
        s.wait_ready();
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The daemon processes are up once a request is answered by one.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = agent().get(&self.url("/")).call() {
                if r.status().as_u16() != 503 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server never answered; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (bounded) until the log contains `needle`.
    pub fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Daemon processes (children of the supervisor that are not
    /// front-end children).
    pub fn daemons(&self) -> Vec<u32> {
        children(self.pid())
            .into_iter()
            .filter(|p| !is_front_end(*p))
            .collect()
    }

    /// Front-end children (`quill __frontend`) of the supervisor.
    pub fn front_ends(&self) -> Vec<u32> {
        children(self.pid())
            .into_iter()
            .filter(|p| is_front_end(*p))
            .collect()
    }

    /// Waits (bounded) until the group has `n` daemon processes again.
    pub fn wait_daemons(&self, n: usize) -> Vec<u32> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let d = self.daemons();
            if d.len() == n || Instant::now() > deadline {
                return d;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `Some(exit code)` once the server has exited by itself.
    pub fn exited(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().ok().flatten().map(|st| st.code())
    }

    /// Stops the server (SIGTERM) and returns its exit code.
    pub fn stop(mut self) -> Option<i32> {
        self.terminate()
    }

    fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id() as i32;
        unsafe_kill(pid, 15);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let daemons = self.daemons();
            self.terminate();
            for d in daemons {
                unsafe_kill(d as i32, 9);
            }
        }
    }
}

fn unsafe_kill(pid: i32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …: comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|f| f.parse::<u32>().ok()) == Some(pid)
            && fields.first() != Some(&"Z")
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Whether `pid` runs `quill __frontend`.
pub fn is_front_end(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).any(|a| a == b"__frontend"))
        .unwrap_or(false)
}

pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits (bounded) for the descriptors of processes that are still being
/// retired and reaped to close, then returns the count.
pub fn settled_fd_count(pid: u32, at_most: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = fd_count(pid);
        if n <= at_most || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

pub fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build();
    ureq::Agent::new_with_config(config)
}

/// GET → (status, body).
pub fn get(url: &str) -> (u16, String) {
    let mut r = agent()
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_string()
        .unwrap_or_default();
    (status, body)
}

/// Sends raw bytes and returns everything the server answers until it
/// closes (bounded by a read timeout).
pub fn raw(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(request).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls `f` until it returns `Some`, for at most `limit`.
pub fn within<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A port of 127.0.0.1 that was free a moment ago (a config needs a
/// number).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The test virtualenv with Flask and Django (scripts/test makes it).
pub fn venv() -> Option<PathBuf> {
    let p = std::env::var_os("QUILL_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    if p.join("bin/python3").exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: no virtualenv with Flask and Django at {} (./scripts/test creates it; or set QUILL_TEST_VENV)",
            p.display()
        );
        None
    }
}
