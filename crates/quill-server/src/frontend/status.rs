//! mod_status: `SetHandler server-status` in a `<Location>`, read from the
//! shared scoreboard.
//!
//! ```text
//!   GET /server-status[/…][?auto][?refresh=N][?notable]
//!     └─ Require lines of the Location (none: 403 for everyone)
//!          └─ facts: scoreboard rows and cells, restart time and generations,
//!             /proc/loadavg, CPU times of the supervisor and its children
//!               ├─ ?auto  → httpd 2.4's machine-readable lines, same names,
//!               │           same order, same conditions (docs/status.md)
//!               └─ else   → the HTML page
//! ```
//!
//! Rendering ([`auto`], [`html`]) is pure: the clock, /proc and the
//! scoreboard are read once, into [`StatusFacts`], by [`StatusPage::facts`].

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use quill_config::model::Require;
use quill_mpm::{Mpm, ThreadStatus};

use crate::scoreboard::{Scoreboard, ThreadTotals};

use super::error::{Client, FrontError};
use super::route::RouteTable;
use super::{Resp, RespBody};

/// Handler `<Location>`s: URL and its Require lines.
pub type Handlers = Vec<(String, Vec<Require>)>;

/// What the status handlers of a front end need.
#[derive(Debug)]
pub struct StatusPage {
    pub extended: bool,
    pub mpm: Mpm,
    /// ServerLimit (prefork: the children) and ThreadsPerChild in effect.
    pub max_servers: u32,
    pub threads_per_child: u32,
    pub scoreboard: Arc<Scoreboard>,
}

/// One process row, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessFacts {
    pub pid: u32,
    pub generation: u32,
    pub stopping: bool,
    pub accepting: bool,
    pub connections: u32,
    pub keepalive: u32,
    pub closing: u32,
}

/// Everything one rendering of the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusFacts {
    /// The request's host (httpd's `ap_get_server_name`) and the address
    /// the client reached.
    pub host: String,
    pub local_ip: String,
    pub version: String,
    pub mpm: Mpm,
    pub now_us: u64,
    pub restart_us: u64,
    pub config_generation: u32,
    pub mpm_generation: u32,
    /// Load averages (1, 5, 15 minutes), if /proc/loadavg reads.
    pub load: Option<[f64; 3]>,
    /// CPU seconds: user, system, and of reaped children.
    pub cpu: [f64; 4],
    pub extended: bool,
    pub max_servers: u32,
    pub threads_per_child: u32,
    /// One row per scoreboard process slot.
    pub processes: Vec<ProcessFacts>,
    /// `[slot][thread]`: ServerLimit × ThreadLimit cells.
    pub cells: Vec<Vec<(ThreadStatus, ThreadTotals)>>,
}

/// `?auto`, `?refresh=N` and `?notable`, as mod_status reads its query:
/// each is looked for anywhere in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    pub auto: bool,
    pub notable: bool,
    /// Seconds, for the `Refresh` header (at least 1).
    pub refresh: Option<u32>,
}

impl Options {
    pub fn parse(query: Option<&str>) -> Options {
        let q = query.unwrap_or("");
        let refresh = q.find("refresh").map(|at| {
            let rest = q[at + "refresh".len()..].strip_prefix('=').unwrap_or("");
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            // httpd: no number, or one below 1, refreshes every second.
            digits.parse::<u32>().unwrap_or(1).max(1)
        });
        Options {
            auto: q.contains("auto"),
            notable: q.contains("notable"),
            refresh,
        }
    }
}

/// The Require lines of the handler `<Location>` (of `handlers`) that
/// covers `path`: its URL or anything below it.
pub fn handler_for<'h>(
    handlers: &'h [(String, Vec<Require>)],
    path: &[u8],
) -> Option<&'h [Require]> {
    handlers
        .iter()
        .find(|(url, _)| {
            let u = url.trim_end_matches('/').as_bytes();
            path.starts_with(u) && (path.len() == u.len() || path[u.len()] == b'/')
        })
        .map(|(_, access)| access.as_slice())
}

/// 403 (with httpd's log line) unless a Require line grants the client.
pub(super) fn check_access(
    site: &RouteTable,
    access: &[Require],
    peer: std::net::SocketAddr,
    local: std::net::SocketAddr,
    path: &[u8],
) -> Result<(), FrontError> {
    if StatusPage::granted(access, peer.ip(), local.ip()) {
        return Ok(());
    }
    let file = site
        .document_root
        .join(String::from_utf8_lossy(&path[1..]).as_ref());
    Err(FrontError::denied(
        Client(peer),
        &file.display().to_string(),
    ))
}

impl StatusPage {
    /// Whether `access` lets a client at `peer`, which reached `local`, see
    /// the page: any one line (httpd's implicit `<RequireAny>`); no line,
    /// nobody.
    pub fn granted(access: &[Require], peer: IpAddr, local: IpAddr) -> bool {
        access.iter().any(|r| r.grants(peer, local))
    }

    /// Reads the scoreboard, the clock and /proc.
    pub fn facts(&self, host: String, local_ip: String) -> StatusFacts {
        let sb = &self.scoreboard;
        let (restart_us, config_generation, mpm_generation) = sb.restart();
        let mut processes = Vec::new();
        let mut cells = Vec::new();
        for slot in 0..sb.server_limit() {
            let (connections, keepalive, closing) = sb.connections(slot);
            processes.push(ProcessFacts {
                pid: sb.pid(slot),
                generation: sb.generation(slot),
                stopping: sb.quiescing(slot) != quill_mpm::Quiescing::No,
                accepting: !sb.not_accepting(slot),
                connections,
                keepalive,
                closing,
            });
            cells.push(
                (0..sb.thread_limit())
                    .map(|t| (sb.status(slot, t), sb.thread_totals(slot, t)))
                    .collect(),
            );
        }
        let pids: Vec<u32> = processes
            .iter()
            .map(|p| p.pid)
            .filter(|&p| p != 0)
            .collect();
        StatusFacts {
            host,
            local_ip,
            version: concat!("Quill/", env!("CARGO_PKG_VERSION")).to_string(),
            mpm: self.mpm,
            now_us: epoch_us(),
            restart_us,
            config_generation,
            mpm_generation,
            load: read_loadavg(),
            cpu: cpu_seconds(&pids),
            extended: self.extended,
            max_servers: self.max_servers,
            threads_per_child: self.threads_per_child,
            processes,
            cells,
        }
    }
}

/// The page for a request under a status `<Location>`: 403 unless a
/// Require line grants the client, 405 for a method other than GET/HEAD.
pub(super) fn respond<B>(
    site: &RouteTable,
    page: &StatusPage,
    access: &[Require],
    req: &http::Request<B>,
    peer: std::net::SocketAddr,
    local: std::net::SocketAddr,
    path: &[u8],
) -> Result<Resp, FrontError> {
    if !StatusPage::granted(access, peer.ip(), local.ip()) {
        let file = site
            .document_root
            .join(String::from_utf8_lossy(&path[1..]).as_ref());
        return Err(FrontError::denied(
            Client(peer),
            &file.display().to_string(),
        ));
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return Err(FrontError::method_not_allowed("GET, HEAD"));
    }
    let opts = Options::parse(req.uri().query());
    // httpd's ap_get_server_name: the request's host, else ServerName.
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| match h.rsplit_once(':') {
            Some((name, port)) if !name.ends_with(']') || port.is_empty() => {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    name.to_string()
                } else {
                    h.to_string()
                }
            }
            _ => h.to_string(),
        })
        .unwrap_or_else(|| site.server_name.clone());
    let facts = page.facts(host, local.ip().to_string());
    let (body, content_type) = if opts.auto {
        (auto(&facts), "text/plain; charset=ISO-8859-1")
    } else {
        (html(&facts, opts.notable), "text/html; charset=ISO-8859-1")
    };
    let mut resp = http::Response::new(RespBody::full(bytes::Bytes::from(body)));
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    if let Some(n) = opts.refresh
        && let Ok(v) = http::HeaderValue::from_str(&n.to_string())
    {
        headers.insert("refresh", v);
    }
    Ok(resp)
}

fn epoch_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn read_loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// CPU seconds (user, system, reaped children's user, system) of the
/// supervisor (this child's parent) and the live front-end children, as
/// httpd sums `times()` over its processes.
fn cpu_seconds(children: &[u32]) -> [f64; 4] {
    // Linux gives /proc's times in USER_HZ, which is 100 on every
    // architecture it runs on.
    let tick = 100.0;
    let mut sum = [0u64; 4];
    let parent = std::os::unix::process::parent_id();
    for pid in std::iter::once(parent).chain(children.iter().copied()) {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name (which may hold spaces): state is
        // field 3; utime, stime, cutime, cstime are fields 14–17.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(4)
            .filter_map(|f| f.parse().ok())
            .collect();
        if let [u, s, cu, cs] = fields[..] {
            sum[0] += u;
            sum[1] += s;
            if pid == parent {
                sum[2] += cu;
                sum[3] += cs;
            }
        }
    }
    sum.map(|t| t as f64 / tick)
}

/// Counts over the scoreboard, as mod_status makes them.
#[derive(Debug, Default)]
struct Totals {
    busy: u32,
    graceful: u32,
    idle: u32,
    accesses: u64,
    bytes: u64,
    duration_ms: u64,
    processes: u32,
    stopping: u32,
    conns: u32,
    keepalive: u32,
    closing: u32,
}

fn totals(f: &StatusFacts) -> Totals {
    let mut t = Totals::default();
    for (p, row) in f.processes.iter().zip(&f.cells) {
        let alive = p.pid != 0;
        if alive {
            t.processes += 1;
            t.conns += p.connections;
            t.keepalive += p.keepalive;
            t.closing += p.closing;
            if p.stopping {
                t.stopping += 1;
            }
        }
        for (status, c) in row {
            if alive && !p.stopping {
                match status {
                    ThreadStatus::Ready => {
                        if p.generation == f.mpm_generation {
                            t.idle += 1;
                        }
                    }
                    ThreadStatus::Dead | ThreadStatus::Starting | ThreadStatus::IdleKill => {}
                    s => {
                        t.busy += 1;
                        if *s == ThreadStatus::Graceful {
                            t.graceful += 1;
                        }
                    }
                }
            }
            if c.requests != 0 || !matches!(status, ThreadStatus::Ready | ThreadStatus::Dead) {
                t.accesses += u64::from(c.requests);
                t.bytes += c.bytes;
                t.duration_ms += c.duration_us / 1000;
            }
        }
    }
    t
}

/// C's `%g` with `precision` significant digits, as APR prints it: no
/// leading zero before the point (`.0100334`).
pub fn g(x: f64, precision: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".to_string();
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, x);
    let exp: i32 = sci
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let out = if exp < -4 || exp >= p as i32 {
        let (m, e) = sci.split_once('e').unwrap_or((&sci, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!(
            "{}e{}{:02}",
            trim(m.to_string()),
            if e < 0 { '-' } else { '+' },
            e.abs()
        )
    } else {
        let decimals = usize::try_from(p as i32 - 1 - exp).unwrap_or(0);
        trim(format!("{x:.decimals$}"))
    };
    if let Some(rest) = out.strip_prefix("0.") {
        format!(".{rest}")
    } else if let Some(rest) = out.strip_prefix("-0.") {
        format!("-.{rest}")
    } else {
        out
    }
}

/// httpd's uptime words: ` 2 days 3 hours 1 minute 5 seconds`, units that
/// are 0 left out.
fn uptime_words(secs: u64) -> String {
    let mut s = String::new();
    for (n, unit) in [
        (secs / 86_400, "day"),
        (secs / 3_600 % 24, "hour"),
        (secs / 60 % 60, "minute"),
        (secs % 60, "second"),
    ] {
        if n != 0 {
            let _ = write!(s, " {n} {unit}{}", if n == 1 { "" } else { "s" });
        }
    }
    s
}

/// httpd's `DEFAULT_TIME_FORMAT` (Quill prints UTC).
fn time_text(us: u64) -> String {
    let secs = i64::try_from(us / 1_000_000).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%A, %d-%b-%Y %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn mpm_name(m: Mpm) -> &'static str {
    match m {
        Mpm::Prefork => "prefork",
        Mpm::Worker => "worker",
        Mpm::Event => "event",
    }
}

fn scoreboard_chars(f: &StatusFacts) -> String {
    let mut s = String::new();
    for (slot, row) in f.cells.iter().enumerate() {
        for (thread, (status, _)) in row.iter().enumerate() {
            // Beyond the configured pool, a DEAD cell is " " (httpd's
            // SERVER_DISABLED) rather than an open slot.
            let outside = slot as u64 >= u64::from(f.max_servers)
                || thread as u64 >= u64::from(f.threads_per_child);
            if outside && *status == ThreadStatus::Dead {
                s.push(' ');
            } else {
                s.push(status.status_char());
            }
        }
    }
    s
}

/// The `?auto` page: httpd 2.4's names, order and conditions.
pub fn auto(f: &StatusFacts) -> String {
    let t = totals(f);
    let up = f.now_us.saturating_sub(f.restart_us) / 1_000_000;
    let mut o = String::new();
    let _ = writeln!(o, "{}", f.host);
    let _ = writeln!(o, "ServerVersion: {}", f.version);
    let _ = writeln!(o, "ServerMPM: {}", mpm_name(f.mpm));
    let _ = writeln!(o, "Server Built: not recorded");
    let _ = writeln!(o, "CurrentTime: {}", time_text(f.now_us));
    let _ = writeln!(o, "RestartTime: {}", time_text(f.restart_us));
    let _ = writeln!(o, "ParentServerConfigGeneration: {}", f.config_generation);
    let _ = writeln!(o, "ParentServerMPMGeneration: {}", f.mpm_generation);
    let _ = writeln!(o, "ServerUptimeSeconds: {up}");
    let _ = writeln!(o, "ServerUptime:{}", uptime_words(up));
    if let Some([l1, l5, l15]) = f.load {
        let _ = writeln!(o, "Load1: {l1:.2}\nLoad5: {l5:.2}\nLoad15: {l15:.2}");
    }
    if f.extended {
        let _ = writeln!(o, "Total Accesses: {}", t.accesses);
        let _ = writeln!(o, "Total kBytes: {}", t.bytes / 1024);
        let _ = writeln!(o, "Total Duration: {}", t.duration_ms);
        let [u, s, cu, cs] = f.cpu;
        let _ = writeln!(o, "CPUUser: {}", g(u, 6));
        let _ = writeln!(o, "CPUSystem: {}", g(s, 6));
        let _ = writeln!(o, "CPUChildrenUser: {}", g(cu, 6));
        let _ = writeln!(o, "CPUChildrenSystem: {}", g(cs, 6));
        let cpu = u + s + cu + cs;
        if cpu > 0.0 && up > 0 {
            let _ = writeln!(o, "CPULoad: {}", g(cpu / up as f64 * 100.0, 6));
        }
    }
    let _ = writeln!(o, "Uptime: {up}");
    if f.extended {
        if up > 0 {
            let _ = writeln!(o, "ReqPerSec: {}", g(t.accesses as f64 / up as f64, 6));
            let _ = writeln!(o, "BytesPerSec: {}", g(t.bytes as f64 / up as f64, 6));
        }
        if t.accesses > 0 {
            let n = t.accesses as f64;
            let _ = writeln!(o, "BytesPerReq: {}", g(t.bytes as f64 / n, 6));
            let _ = writeln!(o, "DurationPerReq: {}", g(t.duration_ms as f64 / n, 6));
        }
    }
    let _ = writeln!(o, "BusyWorkers: {}", t.busy);
    let _ = writeln!(o, "GracefulWorkers: {}", t.graceful);
    let _ = writeln!(o, "IdleWorkers: {}", t.idle);
    if f.mpm == Mpm::Event {
        let _ = writeln!(o, "Processes: {}", t.processes);
        let _ = writeln!(o, "Stopping: {}", t.stopping);
        let _ = writeln!(o, "ConnsTotal: {}", t.conns);
        let _ = writeln!(o, "ConnsAsyncWaitIO: 0");
        let _ = writeln!(o, "ConnsAsyncWriting: 0");
        let _ = writeln!(o, "ConnsAsyncKeepAlive: {}", t.keepalive);
        let _ = writeln!(o, "ConnsAsyncClosing: {}", t.closing);
    }
    let _ = writeln!(o, "Scoreboard: {}", scoreboard_chars(f));
    o
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// httpd's `format_byte_out`.
fn bytes_text(b: f64) -> String {
    if b < 5120.0 {
        format!("{} B", b as u64)
    } else if b < 5_242_880.0 {
        format!("{:.1} kB", b / 1024.0)
    } else if b < 5_368_709_120.0 {
        format!("{:.1} MB", b / 1_048_576.0)
    } else {
        format!("{:.1} GB", b / 1_073_741_824.0)
    }
}

/// httpd's `format_kbyte_out`.
fn kbytes_text(kb: u64) -> String {
    if kb < 1024 {
        format!("{kb} kB")
    } else if kb < 1_048_576 {
        format!("{:.1} MB", kb as f64 / 1024.0)
    } else {
        format!("{:.1} GB", kb as f64 / 1_048_576.0)
    }
}

const KEY: &str = "<p>Scoreboard Key:<br />\n\
\"<b><code>_</code></b>\" Waiting for Connection, \n\
\"<b><code>S</code></b>\" Starting up, \n\
\"<b><code>R</code></b>\" Reading Request,<br />\n\
\"<b><code>W</code></b>\" Sending Reply, \n\
\"<b><code>K</code></b>\" Keepalive (read), \n\
\"<b><code>D</code></b>\" DNS Lookup,<br />\n\
\"<b><code>C</code></b>\" Closing connection, \n\
\"<b><code>L</code></b>\" Logging, \n\
\"<b><code>G</code></b>\" Gracefully finishing,<br /> \n\
\"<b><code>I</code></b>\" Idle cleanup of worker, \n\
\"<b><code>.</code></b>\" Open slot with no current process<br />\n\
</p>\n";

/// The HTML page: httpd's header facts, the process table (event), the
/// scoreboard and its key, and with ExtendedStatus (unless `notable`) a
/// row per worker slot that has served or is serving.
pub fn html(f: &StatusFacts, notable: bool) -> String {
    let t = totals(f);
    let up = (f.now_us.saturating_sub(f.restart_us) / 1_000_000).max(1);
    let mut o = String::new();
    o.push_str(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n\
         <html><head>\n<title>Quill Status</title>\n</head><body>\n",
    );
    let _ = writeln!(
        o,
        "<h1>Quill Server Status for {} (via {})</h1>\n",
        escape(&f.host),
        escape(&f.local_ip)
    );
    let _ = writeln!(o, "<dl><dt>Server Version: {}</dt>", escape(&f.version));
    let _ = writeln!(o, "<dt>Server MPM: {}</dt>", mpm_name(f.mpm));
    let _ = writeln!(o, "</dl><hr /><dl>");
    let _ = writeln!(o, "<dt>Current Time: {}</dt>", time_text(f.now_us));
    let _ = writeln!(o, "<dt>Restart Time: {}</dt>", time_text(f.restart_us));
    let _ = writeln!(
        o,
        "<dt>Parent Server Config. Generation: {}</dt>",
        f.config_generation
    );
    let _ = writeln!(
        o,
        "<dt>Parent Server MPM Generation: {}</dt>",
        f.mpm_generation
    );
    let _ = writeln!(o, "<dt>Server uptime: {}</dt>", uptime_words(up));
    if let Some([l1, l5, l15]) = f.load {
        let _ = writeln!(o, "<dt>Server load: {l1:.2} {l5:.2} {l15:.2}</dt>");
    }
    if f.extended {
        let _ = writeln!(
            o,
            "<dt>Total accesses: {} - Total Traffic: {} - Total Duration: {}</dt>",
            t.accesses,
            kbytes_text(t.bytes / 1024),
            t.duration_ms
        );
        let [u, s, cu, cs] = f.cpu;
        let cpu = u + s + cu + cs;
        let _ = write!(
            o,
            "<dt>CPU Usage: u{} s{} cu{} cs{}",
            g(u, 3),
            g(s, 3),
            g(cu, 3),
            g(cs, 3)
        );
        if cpu > 0.0 {
            let _ = write!(o, " - {}% CPU load", g(cpu / up as f64 * 100.0, 3));
        }
        o.push_str("</dt>\n");
        let n = t.accesses as f64;
        let _ = write!(
            o,
            "<dt>{} requests/sec - {}/second",
            g(n / up as f64, 3),
            bytes_text(t.bytes as f64 / up as f64)
        );
        if t.accesses > 0 {
            let _ = write!(
                o,
                " - {}/request - {} ms/request",
                bytes_text(t.bytes as f64 / n),
                g(t.duration_ms as f64 / n, 3)
            );
        }
        o.push_str("</dt>\n");
    }
    let _ = writeln!(
        o,
        "<dt>{} requests currently being processed, {} workers gracefully restarting, {} idle workers</dt>\n</dl>\n",
        t.busy, t.graceful, t.idle
    );
    if f.mpm == Mpm::Event {
        o.push_str(
            "<table rules=\"all\" cellpadding=\"1%\">\n\
             <tr><th rowspan=\"2\">Slot</th><th rowspan=\"2\">PID</th><th rowspan=\"2\">Stopping</th><th colspan=\"2\">Connections</th>\n\
             <th colspan=\"3\">Threads</th><th colspan=\"2\">Async connections</th></tr>\n\
             <tr><th>total</th><th>accepting</th><th>busy</th><th>graceful</th><th>idle</th><th>keep-alive</th><th>closing</th></tr>\n",
        );
        let mut sums = [0u32; 7];
        for (slot, (p, row)) in f.processes.iter().zip(&f.cells).enumerate() {
            if p.pid == 0 {
                continue;
            }
            let count = |want: &dyn Fn(ThreadStatus) -> bool| {
                u32::try_from(row.iter().filter(|(s, _)| want(*s)).count()).unwrap_or(u32::MAX)
            };
            let idle = count(&|s| s == ThreadStatus::Ready);
            let graceful = count(&|s| s == ThreadStatus::Graceful);
            let busy = count(&|s| {
                !matches!(
                    s,
                    ThreadStatus::Ready
                        | ThreadStatus::Dead
                        | ThreadStatus::Starting
                        | ThreadStatus::IdleKill
                )
            });
            let _ = writeln!(
                o,
                "<tr><td>{slot}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{busy}</td><td>{graceful}</td><td>{idle}</td><td>{}</td><td>{}</td></tr>",
                p.pid,
                if p.stopping { "yes" } else { "no" },
                p.connections,
                if p.accepting { "yes" } else { "no" },
                p.keepalive,
                p.closing
            );
            for (sum, v) in sums.iter_mut().zip([
                1,
                u32::from(p.stopping),
                p.connections,
                busy,
                graceful,
                idle,
                p.keepalive,
            ]) {
                *sum += v;
            }
        }
        let _ = writeln!(
            o,
            "<tr><td>Sum</td><td>{}</td><td>{}</td><td>{}</td><td>&nbsp;</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n</table>",
            sums[0], sums[1], sums[2], sums[3], sums[4], sums[5], sums[6], t.closing
        );
    }
    o.push_str("<pre>");
    for (i, c) in scoreboard_chars(f).chars().enumerate() {
        if i > 0 && i % 64 == 0 {
            o.push('\n');
        }
        o.push(c);
    }
    o.push_str("</pre>\n");
    o.push_str(KEY);
    if f.extended && !notable {
        o.push_str(
            "\n<table border=\"0\"><tr><th>Srv</th><th>PID</th><th>Acc</th><th>M</th>\
             <th>SS</th><th>Dur</th><th>Slot</th></tr>\n",
        );
        for (slot, (p, row)) in f.processes.iter().zip(&f.cells).enumerate() {
            for (thread, (status, c)) in row.iter().enumerate() {
                if c.requests == 0 && matches!(status, ThreadStatus::Ready | ThreadStatus::Dead) {
                    continue;
                }
                let ss = f.now_us.saturating_sub(c.last_used_us) / 1_000_000;
                let mode = match status {
                    ThreadStatus::Ready | ThreadStatus::Dead => status.status_char().to_string(),
                    s => format!("<b>{}</b>", s.status_char()),
                };
                let _ = writeln!(
                    o,
                    "<tr><td><b>{slot}-{thread}</b></td><td>{}</td><td>{}</td><td>{mode}</td><td>{}</td><td>{}</td><td>{:.2}</td></tr>",
                    if p.pid == 0 {
                        "-".to_string()
                    } else {
                        p.pid.to_string()
                    },
                    c.requests,
                    if c.last_used_us == 0 {
                        "-".to_string()
                    } else {
                        ss.to_string()
                    },
                    c.duration_us / 1000,
                    c.bytes as f64 / 1_048_576.0
                );
            }
        }
        o.push_str(
            "</table>\n <hr /> <table>\n\
              <tr><th>Srv</th><td>Process slot - worker slot</td></tr>\n\
              <tr><th>PID</th><td>OS process ID</td></tr>\n\
              <tr><th>Acc</th><td>Number of accesses this slot</td></tr>\n\
              <tr><th>M</th><td>Mode of operation</td></tr>\n\
              <tr><th>SS</th><td>Seconds since the end of the most recent request</td></tr>\n\
              <tr><th>Dur</th><td>Sum of milliseconds required to process all requests</td></tr>\n\
              <tr><th>Slot</th><td>Total megabytes transferred this slot</td></tr>\n\
              </table>\n",
        );
    }
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(mpm: Mpm) -> StatusFacts {
        let cell = |status, requests, bytes, duration_us, last_used_us| {
            (
                status,
                ThreadTotals {
                    requests,
                    bytes,
                    duration_us,
                    last_used_us,
                },
            )
        };
        let restart_us = 1_796_601_600_000_000; // Monday, 07-Dec-2026 00:00:00 UTC
        StatusFacts {
            host: "127.0.0.1".into(),
            local_ip: "127.0.0.1".into(),
            version: "Quill/0.1.0".into(),
            mpm,
            now_us: restart_us + 3_723_000_000,
            restart_us,
            config_generation: 2,
            mpm_generation: 1,
            load: Some([0.5, 0.25, 0.125]),
            cpu: [1.5, 0.25, 0.0, 0.0],
            extended: true,
            max_servers: 2,
            threads_per_child: 2,
            processes: vec![
                ProcessFacts {
                    pid: 100,
                    generation: 1,
                    stopping: false,
                    accepting: true,
                    connections: 3,
                    keepalive: 1,
                    closing: 0,
                },
                ProcessFacts {
                    pid: 90,
                    generation: 0,
                    stopping: true,
                    accepting: false,
                    connections: 1,
                    keepalive: 0,
                    closing: 0,
                },
                ProcessFacts {
                    pid: 0,
                    generation: 0,
                    stopping: false,
                    accepting: true,
                    connections: 0,
                    keepalive: 0,
                    closing: 0,
                },
            ],
            cells: vec![
                vec![
                    cell(ThreadStatus::BusyWrite, 10, 20_480, 1_500_000, restart_us),
                    cell(
                        ThreadStatus::Ready,
                        5,
                        4_096,
                        500_000,
                        restart_us + 3_700_000_000,
                    ),
                    cell(ThreadStatus::Dead, 0, 0, 0, 0),
                ],
                vec![
                    cell(ThreadStatus::Graceful, 1, 100, 7_000, restart_us),
                    cell(ThreadStatus::Dead, 2, 50, 1_000, restart_us),
                    cell(ThreadStatus::Dead, 0, 0, 0, 0),
                ],
                vec![
                    cell(ThreadStatus::Dead, 0, 0, 0, 0),
                    cell(ThreadStatus::Dead, 0, 0, 0, 0),
                    cell(ThreadStatus::Dead, 0, 0, 0, 0),
                ],
            ],
        }
    }

    #[test]
    fn g_prints_as_apr_does() {
        assert_eq!(g(0.0100334448, 6), ".0100334");
        assert_eq!(g(17.12374581, 6), "17.1237");
        assert_eq!(g(1706.666666, 6), "1706.67");
        assert_eq!(g(0.01, 6), ".01");
        assert_eq!(g(2.0, 6), "2");
        assert_eq!(g(0.0, 6), "0");
        assert_eq!(g(123_456_789.0, 6), "1.23457e+08");
        assert_eq!(g(0.000_012_34, 6), "1.234e-05");
        assert_eq!(g(0.0167, 3), ".0167");
    }

    #[test]
    fn the_query_options_are_found_anywhere_in_the_query() {
        assert_eq!(Options::parse(None), Options::default());
        let o = Options::parse(Some("auto"));
        assert!(o.auto && !o.notable && o.refresh.is_none());
        let o = Options::parse(Some("refresh=5&notable"));
        assert_eq!((o.refresh, o.notable, o.auto), (Some(5), true, false));
        assert_eq!(Options::parse(Some("refresh")).refresh, Some(1));
        assert_eq!(Options::parse(Some("refresh=0")).refresh, Some(1));
    }

    #[test]
    fn the_auto_page_of_an_event_pool() {
        insta::assert_snapshot!(auto(&facts(Mpm::Event)));
    }

    #[test]
    fn the_auto_page_of_a_worker_pool_has_no_connection_lines() {
        let text = auto(&facts(Mpm::Worker));
        assert!(!text.contains("Conns"), "{text}");
        assert!(!text.contains("Processes:"), "{text}");
        assert!(text.contains("ServerMPM: worker\n"), "{text}");
    }

    #[test]
    fn the_html_page() {
        insta::assert_snapshot!(html(&facts(Mpm::Event), false));
    }

    #[test]
    fn a_location_covers_its_url_and_what_is_below_it() {
        let handlers: Handlers = vec![("/server-status".into(), vec![Require::Local])];
        assert!(handler_for(&handlers, b"/server-status").is_some());
        assert!(handler_for(&handlers, b"/server-status/").is_some());
        assert!(handler_for(&handlers, b"/server-status/x").is_some());
        assert!(handler_for(&handlers, b"/server-statusx").is_none());
        assert!(handler_for(&handlers, b"/").is_none());
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(StatusPage::granted(&[Require::Local], lo, lo));
        assert!(!StatusPage::granted(&[Require::Local], other, lo));
        assert!(!StatusPage::granted(&[], lo, lo), "no Require: nobody");
    }
}
