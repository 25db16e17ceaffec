//! TLS on the front end's connections, as mod_ssl does it:
//!
//! * a connection speaks TLS when its default server (the first virtual
//!   host of the address and port it arrived at, or the main server) has
//!   `SSLEngine on`;
//! * the client's SNI name chooses, among the name-based virtual hosts of
//!   that address, the server whose certificate, versions, suites and
//!   ALPN protocols the handshake uses (no name, or one no server has:
//!   the default server's);
//! * ALPN `h2` (where `Protocols` offers it) makes the connection HTTP/2;
//! * each request then goes to the server its Host names, unless that
//!   server's TLS is not compatible with the connection's: 421
//!   Misdirected Request, with mod_ssl's AH02032 line (see
//!   [`misdirected`]).
//!
//! ```text
//!  accept ─▶ ClientHello (LazyConfigAcceptor) ─▶ SNI ─▶ Sites::select ─▶ that server's
//!           rustls config ─▶ handshake (≤ Timeout) ─▶ Transport::Tls + ConnTls ─▶ hyper (h1 or h2)
//! ```

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::BytesMut;
use quill_config::model::CipherSuite;
use rustls::server::{Acceptor, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use super::error::{Client, FrontError};
use super::route::{Ends, Sites};
use crate::log::{ErrorLog, Level};
use crate::plan::{ServerPlan, TlsPlan};
use crate::tls::TlsError;

/// One server's TLS, ready for handshakes.
#[derive(Debug)]
pub struct SiteTls {
    pub plan: TlsPlan,
    config: Arc<ServerConfig>,
    /// Its certificate's SSL_SERVER_* variables (under StdEnvVars).
    pub server_cert: Arc<[(String, String)]>,
}

/// Every server's TLS, indexed as [`Sites::servers`] (`None`: no TLS).
#[derive(Debug, Default)]
pub struct TlsSites {
    pub servers: Vec<Option<SiteTls>>,
}

impl TlsSites {
    /// Reads every server's certificate and key (afresh: each front-end
    /// child does, when it starts).
    pub fn from_plan(plan: &ServerPlan) -> Result<TlsSites, TlsError> {
        let mut servers = Vec::with_capacity(plan.servers.len());
        for s in &plan.servers {
            servers.push(match &s.tls {
                Some(t) => {
                    let loaded = crate::tls::load(t)?;
                    Some(SiteTls {
                        plan: t.clone(),
                        config: crate::tls::server_config(t, &loaded)?,
                        server_cert: loaded.server_vars.into(),
                    })
                }
                None => None,
            });
        }
        Ok(TlsSites { servers })
    }

    pub fn get(&self, server: usize) -> Option<&SiteTls> {
        self.servers.get(server).and_then(Option::as_ref)
    }
}

/// What a TLS connection's requests carry (in their extensions).
#[derive(Debug, Clone)]
pub struct ConnTls {
    /// The server the SNI name chose (or the default, without one).
    pub server: usize,
    pub sni: Option<String>,
    pub protocol: &'static str,
    pub cipher: Option<CipherSuite>,
    pub resumed: bool,
    /// ALPN chose HTTP/2.
    pub h2: bool,
    /// The request's server has `SSLOptions +StdEnvVars` (set per
    /// request, once its server is known).
    pub std_env_vars: bool,
    /// The request's server's certificate variables (as `std_env_vars`).
    pub server_cert: Arc<[(String, String)]>,
}

impl ConnTls {
    /// The environ's view of it.
    pub fn facts(&self) -> quill_protocol::transport::TlsFacts<'_> {
        let cipher = self.cipher;
        quill_protocol::transport::TlsFacts {
            protocol: self.protocol,
            cipher: cipher.map_or("", CipherSuite::openssl_name),
            cipher_bits: cipher.map_or(0, CipherSuite::bits),
            sni: self.sni.as_deref(),
            resumed: self.resumed,
            std_env_vars: self.std_env_vars,
            library: "rustls/0.23",
            server_cert: &self.server_cert,
        }
    }
}

/// The client's connection: plain TCP or TLS over it.
pub(super) enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Transport {
    /// Reads what is there into `buf` (at least one byte, or 0 at the
    /// end), or `Pending`: at most `chunk` bytes, into `buf`'s spare
    /// capacity.
    ///
    /// Through tokio's `AsyncRead`, not `try_read`: a read that does not
    /// fill the room it was given tells tokio the socket is drained, so
    /// the next read waits for readiness instead of making a system call
    /// that finds nothing (one per request otherwise). tokio-util's
    /// `poll_read_buf` reads into the uninitialised room without zeroing
    /// it first.
    pub(super) fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        chunk: usize,
    ) -> Poll<io::Result<usize>> {
        use bytes::BufMut;
        buf.reserve(chunk);
        let mut room = buf.limit(chunk);
        tokio_util::io::poll_read_buf(Pin::new(self), cx, &mut room)
    }

    /// Reads at most `want` bytes straight into `dst`.
    pub(super) fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut ReadBuf<'_>,
        want: usize,
    ) -> Poll<io::Result<usize>> {
        if want >= dst.remaining() {
            // Straight into the unfilled part: a socket read does not
            // need it zeroed first (`initialize_unfilled_to` would zero
            // all of it, on every read of a large body).
            let before = dst.filled().len();
            ready!(self.poll_read_some(cx, dst))?;
            return Poll::Ready(Ok(dst.filled().len() - before));
        }
        let mut sub = ReadBuf::new(dst.initialize_unfilled_to(want));
        ready!(self.poll_read_some(cx, &mut sub))?;
        let n = sub.filled().len();
        dst.advance(n);
        Poll::Ready(Ok(n))
    }

    fn poll_read_some(
        &mut self,
        cx: &mut Context<'_>,
        rb: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, rb),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, rb),
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().poll_read_some(cx, buf)
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Plain(s) => s.is_write_vectored(),
            Transport::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TLS handshake of a connection whose default server is `base`
/// (which has TLS), within `timeout`: the SNI name chooses the server and
/// so the certificate. `None` when it failed (logged at info, as
/// mod_ssl's handshake errors are).
pub(super) async fn handshake(
    sites: &Sites,
    tls: &TlsSites,
    stream: TcpStream,
    ends: Ends,
    base: usize,
    timeout: Duration,
    log: &ErrorLog,
) -> Option<(Transport, ConnTls)> {
    let client = Client(ends.peer);
    let fail = |what: String| {
        log.log(
            Level::Info,
            "ssl",
            &format!("{client} AH02008: SSL library error during handshake: {what}"),
        );
        None
    };
    let shake = async {
        let start = LazyConfigAcceptor::new(Acceptor::default(), stream).await?;
        let sni = start.client_hello().server_name().map(str::to_string);
        let chosen = sites.select(ends.listener, ends.local.ip(), sni.as_deref());
        // A name-based server without TLS of its own: the default's.
        let server = if tls.get(chosen).is_some() {
            chosen
        } else {
            base
        };
        let Some(site) = tls.get(server) else {
            return Err(io::Error::other("no TLS for this address"));
        };
        let stream = start.into_stream(site.config.clone()).await?;
        Ok::<_, io::Error>((stream, sni, server))
    };
    let (stream, sni, server) = match tokio::time::timeout(timeout, shake).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return fail(e.to_string()),
        Err(_) => return fail("the handshake took longer than Timeout".into()),
    };
    let (_, conn) = stream.get_ref();
    let facts = ConnTls {
        server,
        sni,
        protocol: match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            _ => "TLSv1.2",
        },
        cipher: conn
            .negotiated_cipher_suite()
            .and_then(|s| crate::tls::our_suite(s.suite())),
        resumed: matches!(conn.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
        h2: conn.alpn_protocol() == Some(b"h2"),
        std_env_vars: false,
        server_cert: Arc::from(Vec::new()),
    };
    Some((Transport::Tls(Box::new(stream)), facts))
}

/// mod_ssl's check of a request on a TLS connection (AH02032): the
/// server its Host chose (`server`) must have TLS compatible with the
/// one the connection was made with (the SNI name's server, or the
/// default one), else 421.
pub(super) fn misdirected(
    tls: &TlsSites,
    conn: &ConnTls,
    server: usize,
    host: Option<&str>,
    sites: &Sites,
    client: Client,
) -> Result<(), FrontError> {
    if server == conn.server {
        return Ok(());
    }
    let ok = match (tls.get(conn.server), tls.get(server)) {
        (Some(a), Some(b)) => a.plan.compatible(&b.plan),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let made_with = sites
        .servers
        .get(conn.server)
        .map_or("", |s| s.server_name.as_str());
    let how = match &conn.sni {
        Some(_) => "provided via SNI".to_string(),
        None => "(default host as no SNI was provided)".to_string(),
    };
    let host = host.map(|h| h.rsplit_once(':').map_or(h, |(n, _)| n));
    Err(FrontError::misdirected(
        client,
        &format!(
            "AH02032: Hostname {} {how} and hostname {} provided via HTTP have no compatible \
             SSL setup",
            conn.sni.as_deref().unwrap_or(made_with),
            host.unwrap_or("")
        ),
    ))
}
