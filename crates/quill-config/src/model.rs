//! The resolved, typed configuration: what the server will actually run
//! with, after Apache's defaults and adjustments.
//!
//! This is also the `quill config --json` schema (see docs/config-json.md);
//! bump [`SCHEMA_VERSION`] on any incompatible change.

use std::path::PathBuf;
use std::time::Duration;

use quill_mpm::{AdjustedMpm, PoolConfig};
use serde::Serialize;

use crate::source::Location;

pub const SCHEMA_VERSION: u32 = 1;

/// Which MPM: the pool controller's own type (serialized `"prefork"`,
/// `"worker"`, `"event"`), under the name the configuration model uses.
pub type MpmKind = quill_mpm::Mpm;

/// How the MPM was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MpmSource {
    LoadModule,
    CommandLine,
    /// No MPM was loaded (an error for Apache); Quill assumed event.
    Assumed,
}

/// MPM settings after every start-up check and silent adjustment of httpd
/// 2.4, in the units Apache uses internally.
///
/// Computed by [`quill_mpm::adjust`] (the one implementation of that
/// arithmetic) and built with [`MpmSettings::from_adjusted`];
/// [`MpmSettings::pool_config`] gives the controller's input back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MpmSettings {
    pub mpm: MpmKind,
    pub selected_by: MpmSource,
    pub start_servers: u32,
    /// Children forked at start: min(StartServers, limit).
    pub children_at_start: u32,
    /// MinSpareServers (prefork) or MinSpareThreads (worker/event).
    pub min_spare: u32,
    /// MaxSpareServers (prefork) or MaxSpareThreads (worker/event).
    pub max_spare: u32,
    /// `servers` for prefork, `threads` for worker/event.
    pub spare_unit: &'static str,
    pub threads_per_child: u32,
    pub thread_limit: u32,
    pub server_limit: u32,
    /// MaxRequestWorkers as httpd keeps it internally. For worker/event it
    /// can be stale (above server_limit × threads_per_child) — httpd then
    /// logs `scoreboard is full, not at MaxRequestWorkers` under full load.
    pub max_request_workers: u32,
    /// The most children that can serve at once: prefork MaxRequestWorkers;
    /// worker/event MaxRequestWorkers / ThreadsPerChild capped at ServerLimit
    /// (the controller's `daemons_limit`).
    pub max_children: u32,
    /// Threads that can serve at once: max_children × threads_per_child.
    pub max_threads: u32,
    /// 0 = unlimited.
    pub max_connections_per_child: i64,
    pub listen_backlog: u32,
    pub listen_cores_buckets_ratio: u32,
    pub num_buckets: u32,
    /// event only: the integer factor httpd really uses (fractions dropped).
    pub async_request_worker_factor: Option<u32>,
    /// Seconds; 0 = wait forever.
    pub graceful_shutdown_timeout: u32,
}

impl MpmSettings {
    /// The model's view of what [`quill_mpm::adjust`] computed (the
    /// adjustments themselves become diagnostics, not part of the model).
    pub fn from_adjusted(selected_by: MpmSource, adjusted: &AdjustedMpm) -> MpmSettings {
        let pool = &adjusted.pool;
        MpmSettings {
            mpm: pool.mpm,
            selected_by,
            start_servers: pool.start_servers,
            children_at_start: pool.children_to_start(),
            min_spare: pool.min_spare,
            max_spare: pool.max_spare,
            spare_unit: if pool.mpm.is_threaded() {
                "threads"
            } else {
                "servers"
            },
            threads_per_child: pool.threads_per_child,
            thread_limit: pool.thread_limit,
            server_limit: pool.server_limit,
            max_request_workers: pool.max_request_workers,
            max_children: pool.daemons_limit,
            max_threads: pool.max_threads(),
            max_connections_per_child: i64::from(pool.max_connections_per_child),
            listen_backlog: adjusted.listen_backlog,
            listen_cores_buckets_ratio: adjusted.listen_cores_buckets_ratio,
            num_buckets: pool.num_buckets,
            async_request_worker_factor: adjusted.async_request_worker_factor,
            graceful_shutdown_timeout: u32::try_from(pool.graceful_shutdown_timeout.as_secs())
                .unwrap_or(u32::MAX),
        }
    }

    /// The pool controller's input (`quill_mpm::Controller::new`). Lossless
    /// for settings made by [`MpmSettings::from_adjusted`]: it returns the
    /// `pool` they were made from.
    pub fn pool_config(&self) -> PoolConfig {
        PoolConfig {
            mpm: self.mpm,
            start_servers: self.start_servers,
            min_spare: self.min_spare,
            max_spare: self.max_spare,
            threads_per_child: self.threads_per_child,
            thread_limit: self.thread_limit,
            server_limit: self.server_limit,
            daemons_limit: self.max_children,
            max_request_workers: self.max_request_workers,
            max_connections_per_child: i32::try_from(
                self.max_connections_per_child
                    .clamp(i64::from(i32::MIN), i64::from(i32::MAX)),
            )
            .unwrap_or(0),
            num_buckets: self.num_buckets,
            graceful_shutdown_timeout: Duration::from_secs(u64::from(
                self.graceful_shutdown_timeout,
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

/// A `Listen` socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// `None` = every address (`Listen 80`).
    pub address: Option<String>,
    pub port: u16,
    pub protocol: Scheme,
    pub at: Location,
}

impl Listener {
    pub fn display(&self) -> String {
        match &self.address {
            Some(a) if a.contains(':') => format!("[{a}]:{}", self.port),
            Some(a) => format!("{a}:{}", self.port),
            None => format!("*:{}", self.port),
        }
    }
}

/// One address of `<VirtualHost addr[:port] ...>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VhostAddr {
    /// `None` for `*` or `_default_`.
    pub address: Option<String>,
    /// `None` for `*` or no port (matches any port).
    pub port: Option<u16>,
}

impl VhostAddr {
    pub fn display(&self) -> String {
        let a = match &self.address {
            Some(a) if a.contains(':') => format!("[{a}]"),
            Some(a) => a.clone(),
            None => "*".to_string(),
        };
        match self.port {
            Some(p) => format!("{a}:{p}"),
            None => format!("{a}:*"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeepAlive {
    pub enabled: bool,
    /// Seconds (httpd accepts ms with a suffix; stored here in milliseconds).
    pub timeout_ms: u64,
    /// 0 = unlimited. A connection serves max_requests + 1 requests.
    pub max_requests: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestLimits {
    /// LimitRequestBody in bytes, 0 = unlimited.
    pub body: u64,
    pub fields: u32,
    pub field_size: u32,
    pub line: u32,
}

/// `AllowEncodedSlashes`: what a `%2F` in a request path gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodedSlashes {
    /// 404 (httpd's default).
    #[default]
    Off,
    /// Accepted and decoded to `/`.
    On,
    /// Accepted and left encoded.
    NoDecode,
}

impl EncodedSlashes {
    pub fn is_off(&self) -> bool {
        *self == EncodedSlashes::Off
    }
}

/// One stage of `RequestReadTimeout` (mod_reqtimeout): its time starts at
/// the stage's first read, grows by one second per `min_rate` bytes
/// received (when `min_rate` is set), up to `max_timeout_s` (when set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReadTimeoutStage {
    /// Seconds; 0 turns the stage off.
    pub timeout_s: u32,
    /// Seconds; 0 = no maximum.
    pub max_timeout_s: u32,
    /// Bytes per second; 0 = the time does not grow.
    pub min_rate: u32,
}

impl ReadTimeoutStage {
    pub const OFF: ReadTimeoutStage = ReadTimeoutStage {
        timeout_s: 0,
        max_timeout_s: 0,
        min_rate: 0,
    };
}

/// `RequestReadTimeout`, each stage as set or mod_reqtimeout's default
/// (`header=20-40,MinRate=500 body=20,MinRate=500`, handshake off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RequestReadTimeout {
    pub handshake: ReadTimeoutStage,
    pub header: ReadTimeoutStage,
    pub body: ReadTimeoutStage,
}

impl Default for RequestReadTimeout {
    fn default() -> Self {
        RequestReadTimeout {
            handshake: ReadTimeoutStage::OFF,
            header: ReadTimeoutStage {
                timeout_s: 20,
                max_timeout_s: 40,
                min_rate: 500,
            },
            body: ReadTimeoutStage {
                timeout_s: 20,
                max_timeout_s: 0,
                min_rate: 500,
            },
        }
    }
}

impl RequestReadTimeout {
    pub fn is_default(&self) -> bool {
        *self == RequestReadTimeout::default()
    }

    /// Reads one `key=value` argument of the directive into its stage, as
    /// mod_reqtimeout does, or says why not in httpd's words (without the
    /// `RequestReadTimeout: key=value: ` httpd puts before them).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let stage = match key.to_ascii_lowercase().as_str() {
            "handshake" => &mut self.handshake,
            "header" => &mut self.header,
            "body" => &mut self.body,
            _ => return Err("Unknown RequestReadTimeout parameter".into()),
        };
        *stage = ReadTimeoutStage::OFF;
        let lower = value.to_ascii_lowercase();
        let mut new = ReadTimeoutStage::OFF;
        match lower.find(",minrate=") {
            Some(at) => {
                new.min_rate = reqtimeout_int(&value[at + ",minrate=".len()..])?;
                if new.min_rate == 0 {
                    return Err("Minimum data rate must be larger than 0".into());
                }
                let initial = &value[..at];
                match initial.split_once('-') {
                    Some((first, max)) => {
                        new.max_timeout_s = reqtimeout_int(max)?;
                        new.timeout_s = reqtimeout_int(first)?;
                    }
                    None => new.timeout_s = reqtimeout_int(initial)?,
                }
            }
            None if value.contains('-') => {
                return Err("Must set MinRate option if using timeout range".into());
            }
            None => new.timeout_s = reqtimeout_int(value)?,
        }
        if new.max_timeout_s != 0 && new.timeout_s >= new.max_timeout_s {
            return Err("Maximum timeout must be larger than initial timeout".into());
        }
        *stage = new;
        Ok(())
    }
}

/// mod_reqtimeout's number reading (strtol, then its three complaints).
fn reqtimeout_int(text: &str) -> Result<u32, String> {
    let t = text.trim_start();
    let digits_at = t.strip_prefix(['-', '+']).map_or(0, |_| 1);
    let end = digits_at
        + t[digits_at..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
    if end == digits_at {
        return Err(format!("Value '{text}' not numerical"));
    }
    if end < t.len() {
        return Err(format!("Cannot parse '{}'", &t[end..]));
    }
    let n: i64 = t[..end].parse().unwrap_or(i64::MAX);
    if n < 0 {
        return Err("Value must be non-negative".into());
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// `HttpProtocolOptions Strict|Unsafe`: how strictly request heads are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpConformance {
    /// httpd's default: a bare LF ends no line (400).
    #[default]
    Strict,
    Unsafe,
}

impl HttpConformance {
    pub fn is_strict(&self) -> bool {
        *self == HttpConformance::Strict
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tls {
    pub enabled: bool,
    /// Where the `SSLEngine` in effect was set (this server's own, or the
    /// main server's a virtual host inherited); `None` when none was.
    /// Not part of the JSON output, as none of the `*_at` fields are.
    #[serde(skip)]
    pub engine_at: Option<Location>,
    pub certificate_file: Option<PathBuf>,
    #[serde(skip)]
    pub certificate_file_at: Option<Location>,
    pub certificate_key_file: Option<PathBuf>,
    #[serde(skip)]
    pub certificate_key_file_at: Option<Location>,
    pub certificate_chain_file: Option<PathBuf>,
    #[serde(skip)]
    pub certificate_chain_file_at: Option<Location>,
    /// `SSLProtocol`, as far as rustls speaks it (TLS 1.2 and 1.3), in
    /// ascending order (shown only when not both).
    #[serde(skip_serializing_if = "TlsVersion::is_both")]
    pub protocols: Vec<TlsVersion>,
    /// `SSLCipherSuite` for TLS 1.2 and below (`SSL`) and for TLS 1.3,
    /// as far as rustls has the suites, in preference order (shown only
    /// when a directive set them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ciphers_tls12: Vec<CipherSuite>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ciphers_tls13: Vec<CipherSuite>,
    /// `SSLOptions +StdEnvVars` at server or virtual-host level: the
    /// SSL_* variables in the environ (shown only when on).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub std_env_vars: bool,
    /// `SSLHonorCipherOrder on`: the server's order of cipher suites wins
    /// over the client's (shown only when on).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub honor_cipher_order: bool,
}

/// A TLS protocol version rustls speaks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
pub enum TlsVersion {
    #[serde(rename = "TLSv1.2")]
    Tls12,
    #[serde(rename = "TLSv1.3")]
    Tls13,
}

impl TlsVersion {
    /// The name `SSLProtocol` and mod_ssl's SSL_PROTOCOL use.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }

    fn is_both(v: &[TlsVersion]) -> bool {
        v == [TlsVersion::Tls12, TlsVersion::Tls13]
    }
}

/// A cipher suite rustls offers (with its ring provider): the nine AEAD
/// suites of TLS 1.2 (ECDHE only) and TLS 1.3.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
pub enum CipherSuite {
    #[serde(rename = "TLS_AES_256_GCM_SHA384")]
    Tls13Aes256GcmSha384,
    #[serde(rename = "TLS_AES_128_GCM_SHA256")]
    Tls13Aes128GcmSha256,
    #[serde(rename = "TLS_CHACHA20_POLY1305_SHA256")]
    Tls13Chacha20Poly1305Sha256,
    #[serde(rename = "ECDHE-ECDSA-AES256-GCM-SHA384")]
    EcdheEcdsaAes256GcmSha384,
    #[serde(rename = "ECDHE-ECDSA-AES128-GCM-SHA256")]
    EcdheEcdsaAes128GcmSha256,
    #[serde(rename = "ECDHE-ECDSA-CHACHA20-POLY1305")]
    EcdheEcdsaChacha20Poly1305,
    #[serde(rename = "ECDHE-RSA-AES256-GCM-SHA384")]
    EcdheRsaAes256GcmSha384,
    #[serde(rename = "ECDHE-RSA-AES128-GCM-SHA256")]
    EcdheRsaAes128GcmSha256,
    #[serde(rename = "ECDHE-RSA-CHACHA20-POLY1305")]
    EcdheRsaChacha20Poly1305,
}

impl CipherSuite {
    /// Every suite, in rustls' default preference order.
    pub const ALL: [CipherSuite; 9] = [
        CipherSuite::Tls13Aes256GcmSha384,
        CipherSuite::Tls13Aes128GcmSha256,
        CipherSuite::Tls13Chacha20Poly1305Sha256,
        CipherSuite::EcdheEcdsaAes256GcmSha384,
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        CipherSuite::EcdheEcdsaChacha20Poly1305,
        CipherSuite::EcdheRsaAes256GcmSha384,
        CipherSuite::EcdheRsaAes128GcmSha256,
        CipherSuite::EcdheRsaChacha20Poly1305,
    ];

    /// OpenSSL's name (the IANA name for TLS 1.3 suites): what
    /// `SSLCipherSuite` and mod_ssl's SSL_CIPHER say.
    pub fn openssl_name(self) -> &'static str {
        match self {
            CipherSuite::Tls13Aes256GcmSha384 => "TLS_AES_256_GCM_SHA384",
            CipherSuite::Tls13Aes128GcmSha256 => "TLS_AES_128_GCM_SHA256",
            CipherSuite::Tls13Chacha20Poly1305Sha256 => "TLS_CHACHA20_POLY1305_SHA256",
            CipherSuite::EcdheEcdsaAes256GcmSha384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
            CipherSuite::EcdheEcdsaAes128GcmSha256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
            CipherSuite::EcdheEcdsaChacha20Poly1305 => "ECDHE-ECDSA-CHACHA20-POLY1305",
            CipherSuite::EcdheRsaAes256GcmSha384 => "ECDHE-RSA-AES256-GCM-SHA384",
            CipherSuite::EcdheRsaAes128GcmSha256 => "ECDHE-RSA-AES128-GCM-SHA256",
            CipherSuite::EcdheRsaChacha20Poly1305 => "ECDHE-RSA-CHACHA20-POLY1305",
        }
    }

    /// The IANA name (rustls' name, without its `TLS13_`/`TLS_` prefix
    /// differences).
    pub fn iana_name(self) -> &'static str {
        match self {
            CipherSuite::Tls13Aes256GcmSha384 => "TLS_AES_256_GCM_SHA384",
            CipherSuite::Tls13Aes128GcmSha256 => "TLS_AES_128_GCM_SHA256",
            CipherSuite::Tls13Chacha20Poly1305Sha256 => "TLS_CHACHA20_POLY1305_SHA256",
            CipherSuite::EcdheEcdsaAes256GcmSha384 => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            CipherSuite::EcdheEcdsaAes128GcmSha256 => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            CipherSuite::EcdheEcdsaChacha20Poly1305 => {
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            }
            CipherSuite::EcdheRsaAes256GcmSha384 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            CipherSuite::EcdheRsaAes128GcmSha256 => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            CipherSuite::EcdheRsaChacha20Poly1305 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        }
    }

    pub fn version(self) -> TlsVersion {
        match self {
            CipherSuite::Tls13Aes256GcmSha384
            | CipherSuite::Tls13Aes128GcmSha256
            | CipherSuite::Tls13Chacha20Poly1305Sha256 => TlsVersion::Tls13,
            _ => TlsVersion::Tls12,
        }
    }

    /// The cipher's key size in bits (mod_ssl's SSL_CIPHER_USEKEYSIZE).
    pub fn bits(self) -> u16 {
        match self {
            CipherSuite::Tls13Aes128GcmSha256
            | CipherSuite::EcdheEcdsaAes128GcmSha256
            | CipherSuite::EcdheRsaAes128GcmSha256 => 128,
            _ => 256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AliasMapping {
    /// URL prefix, or a regex for AliasMatch.
    pub url: String,
    pub target: String,
    pub regex: bool,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomLog {
    /// A file (relative to ServerRoot), or `|command` (a piped log).
    pub target: String,
    /// A nickname defined by LogFormat, or the literal format.
    pub format: String,
    /// The format string after nickname lookup.
    pub resolved_format: String,
    /// `resolved_format`, parsed.
    #[serde(skip)]
    pub items: crate::logs::LogFormat,
    /// Its third argument, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<CustomLogCondition>,
    #[serde(skip)]
    pub at: Location,
}

/// Which requests a CustomLog logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CustomLogCondition {
    /// `env=[!]NAME`.
    Env(crate::logs::LogCondition),
    /// `expr=…`, as written: an ap_expr, which Quill does not evaluate.
    Unsupported(String),
}

/// `RemoteIPTrustedProxyList` / `RemoteIPInternalProxyList`: a file of
/// proxy addresses, read when the server starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyListFile {
    /// As written (relative to ServerRoot when not absolute).
    pub path: String,
    pub internal: bool,
    pub at: Location,
}

/// A URL where `SetHandler server-status` (or `quill-metrics`) is
/// configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusHandler {
    pub url: String,
    pub at: Location,
    /// The `Require` lines of its `<Location>` (any one grants access, as
    /// httpd's implicit `<RequireAny>`). None: nobody may see it.
    pub access: Vec<Require>,
}

/// One `Require` line (mod_authz_core, with mod_authz_host's providers),
/// as far as Quill applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Require {
    /// `Require all granted`.
    AllGranted,
    /// `Require all denied`.
    AllDenied,
    /// `Require local`: the loopback addresses, or a client at the
    /// server's own address.
    Local,
    /// `Require ip …`: addresses, partial IPv4 addresses (`10.1`), and
    /// networks (`10.1.0.0/16`, `10.1.0.0/255.255.0.0`, `2001:db8::/32`).
    Ip(Vec<IpNetwork>),
    /// Anything else (`Require host`, `user`, `not …`, `expr`, a
    /// `Require` inside `<RequireAll>` …): grants nobody here.
    Unsupported(String),
}

/// An address and how many of its leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IpNetwork {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl IpNetwork {
    /// `10.1.2.3`, `10.1` (the first two octets), `10.1.0.0/16`,
    /// `10.1.0.0/255.255.0.0`, `::1`, `2001:db8::/32`.
    pub fn parse(text: &str) -> Option<IpNetwork> {
        use std::net::{IpAddr, Ipv4Addr};
        let (addr, mask) = match text.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (text, None),
        };
        let (addr, full) = match addr.parse::<IpAddr>() {
            Ok(a) => (a, if a.is_ipv4() { 32 } else { 128 }),
            Err(_) => {
                // A partial IPv4 address: "10", "10.1", "10.1.2" (not with
                // a mask, as mod_authz_host).
                if mask.is_some() || addr.is_empty() || addr.ends_with('.') {
                    return None;
                }
                let mut octets = [0u8; 4];
                let parts: Vec<&str> = addr.split('.').collect();
                if parts.len() > 3 {
                    return None;
                }
                for (i, p) in parts.iter().enumerate() {
                    octets[i] = p.parse().ok()?;
                }
                let bits = u8::try_from(parts.len() * 8).ok()?;
                return Some(IpNetwork {
                    addr: IpAddr::V4(Ipv4Addr::from(octets)),
                    prefix: bits,
                });
            }
        };
        let prefix = match mask {
            None => full,
            Some(m) => match m.parse::<u8>() {
                Ok(n) if n <= full => n,
                Ok(_) => return None,
                Err(_) => {
                    let Ok(IpAddr::V4(mask)) = m.parse::<IpAddr>() else {
                        return None;
                    };
                    let bits = u32::from(mask);
                    if !addr.is_ipv4() || bits.leading_ones() + bits.trailing_zeros() != 32 {
                        return None;
                    }
                    u8::try_from(bits.leading_ones()).ok()?
                }
            },
        };
        Some(IpNetwork { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (_, ip) => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Require {
    /// Reads the arguments of one `Require` line.
    pub fn parse(args: &[&str]) -> Require {
        let lower: Vec<String> = args.iter().map(|a| a.to_ascii_lowercase()).collect();
        match lower
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["all", "granted"] => Require::AllGranted,
            ["all", "denied"] => Require::AllDenied,
            ["local"] => Require::Local,
            ["ip", rest @ ..] if !rest.is_empty() => {
                match args[1..].iter().map(|a| IpNetwork::parse(a)).collect() {
                    Some(nets) => Require::Ip(nets),
                    None => Require::Unsupported(args.join(" ")),
                }
            }
            _ => Require::Unsupported(args.join(" ")),
        }
    }

    /// Whether this line grants a client at `peer` that reached the server
    /// at `local`.
    pub fn grants(&self, peer: std::net::IpAddr, local: std::net::IpAddr) -> bool {
        let unmap = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        let (peer, local) = (unmap(peer), unmap(local));
        match self {
            Require::AllGranted => true,
            Require::AllDenied | Require::Unsupported(_) => false,
            Require::Local => peer.is_loopback() || peer == local,
            Require::Ip(nets) => nets.iter().any(|n| n.contains(peer)),
        }
    }
}

/// Settings of the main server or of one virtual host, after a virtual
/// host inherited what it does not set itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerConfig {
    pub server_name: Option<String>,
    pub server_aliases: Vec<String>,
    pub keep_alive: KeepAlive,
    /// Timeout, in seconds.
    pub timeout_s: u64,
    pub limits: RequestLimits,
    /// AllowEncodedSlashes (shown only when not Off, httpd's default).
    #[serde(skip_serializing_if = "EncodedSlashes::is_off")]
    pub encoded_slashes: EncodedSlashes,
    /// RequestReadTimeout (shown only when not mod_reqtimeout's defaults).
    #[serde(skip_serializing_if = "RequestReadTimeout::is_default")]
    pub request_read_timeout: RequestReadTimeout,
    /// HttpProtocolOptions Strict|Unsafe (shown only when Unsafe).
    #[serde(skip_serializing_if = "HttpConformance::is_strict")]
    pub http_conformance: HttpConformance,
    pub tls: Tls,
    /// `Protocols` (core; `h2`, `h2c`, `http/1.1` …), lower case, in the
    /// server's order of preference (shown only when not httpd's default,
    /// `http/1.1`).
    #[serde(skip_serializing_if = "is_http11_only")]
    pub protocols: Vec<String>,
    /// mod_http2's `H2MaxSessionStreams` and `H2WindowSize`.
    #[serde(skip_serializing_if = "H2Limits::is_default")]
    pub h2: H2Limits,
    pub document_root: Option<PathBuf>,
    pub aliases: Vec<AliasMapping>,
    pub error_log: Option<String>,
    pub log_level: String,
    /// Every LogLevel line of this server (a virtual host's after the
    /// main server's), applied.
    #[serde(skip)]
    pub log_levels: crate::logs::LogLevels,
    /// The CustomLogs this server writes: its own, else (a virtual host
    /// without any) the main server's.
    pub custom_logs: Vec<CustomLog>,
    /// LogFormat nicknames (nickname, format): the main server's
    /// overlaid with a virtual host's own.
    #[serde(skip)]
    pub log_formats: Vec<(String, String)>,
    /// mod_remoteip (shown only when RemoteIPHeader is set).
    #[serde(skip_serializing_if = "crate::remoteip::RemoteIp::is_off")]
    pub remote_ip: crate::remoteip::RemoteIp,
    /// SetEnvIf, SetEnvIfNoCase, BrowserMatch(NoCase) at server level: the
    /// main server's, then (a virtual host) its own.
    #[serde(skip)]
    pub set_env_if: Vec<crate::setenvif::SetEnvRule>,
    /// `RemoteIP…ProxyList` files, whose entries follow `remote_ip`'s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_ip_lists: Vec<ProxyListFile>,
    pub status_handlers: Vec<StatusHandler>,
    /// `<Location>`s with `SetHandler quill-metrics` (Quill's Prometheus
    /// metrics), with their Require lines as for server-status.
    pub metrics_handlers: Vec<StatusHandler>,
    /// `ExtendedStatus` (server-wide; On by default, as loading mod_status
    /// makes it in httpd 2.4): the status page's per-worker table.
    pub extended_status: bool,
    /// WSGI applications mounted in this server (mod_wsgi).
    pub wsgi_mounts: Vec<crate::wsgi::WsgiMount>,
}

fn is_http11_only(p: &[String]) -> bool {
    p == ["http/1.1"]
}

/// mod_http2's limits of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct H2Limits {
    /// `H2MaxSessionStreams`: streams in progress at once (default 100).
    pub max_session_streams: u32,
    /// `H2WindowSize`: the flow-control window of each stream the client
    /// sends on, in bytes (default 65535).
    pub window_size: u32,
}

impl Default for H2Limits {
    fn default() -> Self {
        H2Limits {
            max_session_streams: 100,
            window_size: 65535,
        }
    }
}

impl H2Limits {
    fn is_default(&self) -> bool {
        *self == H2Limits::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualHost {
    /// 0-based order in the configuration (Apache's order matters).
    pub index: usize,
    pub addresses: Vec<VhostAddr>,
    pub at: Location,
    pub server: ServerConfig,
}

/// Which server answers a request on a listener, as httpd 2.4 selects it:
/// first by the address and port the connection arrived at (IP-based),
/// then among the virtual hosts of that address by the Host header (or,
/// on TLS, the SNI name: name-based), the first of them when no name
/// matches. See [`crate::resolve::core::select_vhost`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Routing {
    pub listener: String,
    /// Virtual host index, or `None` for the main server (no virtual host
    /// has an address that matches the listener's).
    pub default_vhost: Option<usize>,
    /// (host name, vhost index) in matching order.
    pub names: Vec<(String, usize)>,
    /// On a listener for every address (`Listen 80`): the virtual hosts
    /// written with an address of their own (`<VirtualHost 10.0.0.1:80>`),
    /// per address. A connection that arrives at one of these addresses is
    /// answered by its virtual hosts only; any other by `default_vhost` and
    /// `names`, which then hold only the `*` and `_default_` ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_address: Vec<AddressRouting>,
}

/// The virtual hosts of one address on a listener for every address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AddressRouting {
    /// As written in `<VirtualHost>` (an IP address, or `localhost`).
    pub address: String,
    /// The first of them: it answers when no name matches.
    pub default_vhost: usize,
    /// (host name, vhost index) in matching order.
    pub names: Vec<(String, usize)>,
}

/// The httpd build whose compiled-in defaults apply, and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildInfo {
    pub build: crate::build::Build,
    pub chosen_by: crate::build::BuildSource,
}

/// A directive Quill does not model (kept, listed once per name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownDirective {
    pub name: String,
    pub count: usize,
    pub first: Location,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedConfig {
    pub schema_version: u32,
    pub main_file: PathBuf,
    pub server_root: PathBuf,
    /// Every file read, in order.
    pub files: Vec<PathBuf>,
    pub modules: Vec<String>,
    pub mpm: MpmSettings,
    pub listeners: Vec<Listener>,
    pub main_server: ServerConfig,
    pub vhosts: Vec<VirtualHost>,
    pub routing: Vec<Routing>,
    pub wsgi: crate::wsgi::WsgiConfig,
    pub unknown_directives: Vec<UnknownDirective>,
    /// Whose compiled-in defaults were used.
    pub build: BuildInfo,
}

#[cfg(test)]
mod require_tests {
    use super::{IpNetwork, Require};
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn require_lines_grant_as_mod_authz_host_does() {
        let local = ip("192.0.2.10");
        let r = Require::parse(&["local"]);
        assert!(r.grants(ip("127.0.0.1"), local));
        assert!(r.grants(ip("127.8.9.10"), local));
        assert!(r.grants(ip("::1"), local));
        assert!(r.grants(ip("::ffff:127.0.0.1"), local));
        assert!(
            r.grants(ip("192.0.2.10"), local),
            "the server's own address"
        );
        assert!(!r.grants(ip("192.0.2.11"), local));

        let r = Require::parse(&["ip", "10.1", "192.168.0.0/255.255.0.0", "2001:db8::/32"]);
        assert!(r.grants(ip("10.1.200.3"), local));
        assert!(!r.grants(ip("10.2.0.1"), local));
        assert!(r.grants(ip("192.168.77.1"), local));
        assert!(r.grants(ip("::ffff:192.168.1.1"), local));
        assert!(r.grants(ip("2001:db8:1::5"), local));
        assert!(!r.grants(ip("2001:db9::5"), local));

        assert!(Require::parse(&["all", "granted"]).grants(ip("203.0.113.9"), local));
        assert!(!Require::parse(&["all", "denied"]).grants(ip("127.0.0.1"), local));
        for unsupported in [
            &["host", "example.org"][..],
            &["not", "ip", "10.0.0.1"],
            &["ip", "10.0.0.0/33"],
            &["ip", "10.0.0.0/255.0.255.0"],
            &["ip", "not-an-address"],
            &["valid-user"],
        ] {
            let r = Require::parse(unsupported);
            assert!(
                matches!(r, Require::Unsupported(_)),
                "{unsupported:?} is {r:?}"
            );
            assert!(
                !r.grants(ip("127.0.0.1"), local),
                "{unsupported:?} grants nobody"
            );
        }
    }

    #[test]
    fn networks_parse_with_their_prefix() {
        let p = |s: &str| IpNetwork::parse(s).map(|n| (n.addr.to_string(), n.prefix));
        assert_eq!(p("10"), Some(("10.0.0.0".into(), 8)));
        assert_eq!(p("10.1.2"), Some(("10.1.2.0".into(), 24)));
        assert_eq!(p("10.1.2.3"), Some(("10.1.2.3".into(), 32)));
        assert_eq!(p("10.1.0.0/16"), Some(("10.1.0.0".into(), 16)));
        assert_eq!(p("10.0.0.0/255.128.0.0"), Some(("10.0.0.0".into(), 9)));
        assert_eq!(p("::1"), Some(("::1".into(), 128)));
        assert_eq!(p("10.1.2.3.4"), None);
        assert_eq!(p("10."), None);
        assert_eq!(p("10.1/16"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(t: u32, max: u32, rate: u32) -> ReadTimeoutStage {
        ReadTimeoutStage {
            timeout_s: t,
            max_timeout_s: max,
            min_rate: rate,
        }
    }

    #[test]
    fn request_read_timeout_reads_as_mod_reqtimeout_does() {
        let mut r = RequestReadTimeout::default();
        assert!(r.is_default());
        assert_eq!(r.header, stage(20, 40, 500));
        assert_eq!(r.body, stage(20, 0, 500));
        // Debian's reqtimeout.conf, two directives: each sets its stage.
        r.set("header", "20-40,minrate=500").unwrap();
        r.set("body", "10,minrate=500").unwrap();
        assert_eq!((r.header, r.body), (stage(20, 40, 500), stage(10, 0, 500)));
        r.set("HEADER", "5-10,MinRate=100").unwrap();
        r.set("body", "0").unwrap();
        r.set("handshake", "5").unwrap();
        assert_eq!(
            (r.header, r.body, r.handshake),
            (stage(5, 10, 100), ReadTimeoutStage::OFF, stage(5, 0, 0))
        );
    }

    #[test]
    fn request_read_timeout_refuses_in_httpds_words() {
        let mut r = RequestReadTimeout::default();
        for (key, value, why) in [
            ("headers", "20", "Unknown RequestReadTimeout parameter"),
            (
                "header",
                "20-40",
                "Must set MinRate option if using timeout range",
            ),
            ("header", "abc", "Value 'abc' not numerical"),
            ("header", "20x", "Cannot parse 'x'"),
            // (httpd reads a `-` as a range before any number.)
            (
                "header",
                "-5",
                "Must set MinRate option if using timeout range",
            ),
            ("header", "5--3,MinRate=1", "Value must be non-negative"),
            (
                "header",
                "20,MinRate=0",
                "Minimum data rate must be larger than 0",
            ),
            ("body", "20,MinRate=fast", "Value 'fast' not numerical"),
            (
                "header",
                "40-20,MinRate=500",
                "Maximum timeout must be larger than initial timeout",
            ),
            (
                "header",
                "20-20,MinRate=500",
                "Maximum timeout must be larger than initial timeout",
            ),
        ] {
            assert_eq!(r.set(key, value), Err(why.to_string()), "{key}={value}");
        }
    }
}
