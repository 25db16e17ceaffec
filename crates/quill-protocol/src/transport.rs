//! What the client's connection adds to a request's environ, typed: TLS
//! (mod_ssl's variables, as mod_wsgi passes them to its daemons) and
//! HTTP/2 (mod_http2's). The front end writes them into the `Head` frame
//! with [`TlsFacts::encode`] and [`encode_http2`]; the daemon reads
//! `HTTPS` with [`is_https`] (docs/protocol.md, "Environ").
//!
//! ```text
//!   front end: TlsFacts ──encode──▶ HTTPS=1, SSL_TLS_SNI, [SSL_* under StdEnvVars]
//!   daemon:    HTTPS ──is_https──▶ wsgi.url_scheme = "https" (HTTPS itself is not passed on)
//! ```

use crate::protocol::HeadEncoder;

/// The variable that says a request came over TLS. mod_wsgi sets it to
/// `1` and its daemon turns it into `wsgi.url_scheme`, removing it from
/// the environ the application sees.
pub const HTTPS: &[u8] = b"HTTPS";

/// Whether an `HTTPS` value means TLS (mod_wsgi takes `1` and `on`, in
/// any case).
pub fn is_https(value: &[u8]) -> bool {
    value == b"1" || value.eq_ignore_ascii_case(b"on")
}

/// What one TLS connection is, for its requests' environ.
#[derive(Debug, Clone, Copy)]
pub struct TlsFacts<'a> {
    /// `TLSv1.2` or `TLSv1.3` (SSL_PROTOCOL).
    pub protocol: &'a str,
    /// The cipher suite, by OpenSSL's name (SSL_CIPHER).
    pub cipher: &'a str,
    /// Its key size in bits (SSL_CIPHER_USEKEYSIZE, SSL_CIPHER_ALGKEYSIZE).
    pub cipher_bits: u16,
    /// The SNI name the client sent (SSL_TLS_SNI).
    pub sni: Option<&'a str>,
    /// The session was resumed (SSL_SESSION_RESUMED).
    pub resumed: bool,
    /// `SSLOptions +StdEnvVars`: write the SSL_* variables beyond
    /// SSL_TLS_SNI.
    pub std_env_vars: bool,
    /// The TLS library (SSL_VERSION_LIBRARY).
    pub library: &'a str,
    /// The server certificate's variables (SSL_SERVER_S_DN …), computed
    /// once per server.
    pub server_cert: &'a [(String, String)],
}

impl TlsFacts<'_> {
    /// Writes the connection's TLS variables: `HTTPS=1` and, when the
    /// client sent one, `SSL_TLS_SNI` always (as mod_ssl sets them);
    /// with `+StdEnvVars`, mod_ssl's standard set as far as rustls tells
    /// it (no client certificates: SSL_CLIENT_VERIFY is `NONE`).
    pub fn encode(&self, enc: &mut HeadEncoder<'_>) {
        enc.pair(HTTPS, b"1");
        if let Some(sni) = self.sni {
            enc.pair(b"SSL_TLS_SNI", sni.as_bytes());
        }
        if !self.std_env_vars {
            return;
        }
        let bits = self.cipher_bits.to_string();
        enc.pair(b"SSL_PROTOCOL", self.protocol.as_bytes());
        enc.pair(b"SSL_CIPHER", self.cipher.as_bytes());
        enc.pair(b"SSL_CIPHER_USEKEYSIZE", bits.as_bytes());
        enc.pair(b"SSL_CIPHER_ALGKEYSIZE", bits.as_bytes());
        enc.pair(b"SSL_CIPHER_EXPORT", b"false");
        enc.pair(b"SSL_COMPRESS_METHOD", b"NULL");
        // rustls never renegotiates.
        enc.pair(b"SSL_SECURE_RENEG", b"false");
        enc.pair(
            b"SSL_SESSION_RESUMED",
            if self.resumed { b"Resumed" } else { b"Initial" },
        );
        enc.pair(b"SSL_CLIENT_VERIFY", b"NONE");
        enc.pair(
            b"SSL_VERSION_INTERFACE",
            concat!("Quill/", env!("CARGO_PKG_VERSION")).as_bytes(),
        );
        enc.pair(b"SSL_VERSION_LIBRARY", self.library.as_bytes());
        for (k, v) in self.server_cert {
            enc.pair(k.as_bytes(), v.as_bytes());
        }
    }
}

/// Writes what mod_http2 adds for a request that came as an HTTP/2
/// stream: `HTTP2=on`, and server push off (Quill never pushes).
pub fn encode_http2(enc: &mut HeadEncoder<'_>) {
    enc.pair(b"HTTP2", b"on");
    enc.pair(b"H2PUSH", b"off");
    enc.pair(b"H2_PUSH", b"off");
    enc.pair(b"H2_PUSHED", b"");
    enc.pair(b"H2_PUSHED_ON", b"");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Frame, VERSION, decode};
    use bytes::BytesMut;

    fn environ(write: impl FnOnce(&mut HeadEncoder<'_>)) -> Vec<(String, String)> {
        let mut buf = BytesMut::new();
        let mut enc = HeadEncoder::new(&mut buf, VERSION, false);
        write(&mut enc);
        enc.finish();
        let Ok(Some(Frame::Head(h))) = decode(&mut buf) else {
            panic!("not a Head frame");
        };
        h.environ
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    const FACTS: TlsFacts<'static> = TlsFacts {
        protocol: "TLSv1.3",
        cipher: "TLS_AES_256_GCM_SHA384",
        cipher_bits: 256,
        sni: Some("www.example.com"),
        resumed: false,
        std_env_vars: false,
        library: "rustls/0.23",
        server_cert: &[],
    };

    #[test]
    fn without_std_env_vars_only_https_and_the_sni_name() {
        let env = environ(|e| FACTS.encode(e));
        assert_eq!(
            env,
            [
                ("HTTPS".into(), "1".into()),
                ("SSL_TLS_SNI".into(), "www.example.com".into())
            ]
        );
        let env = environ(|e| TlsFacts { sni: None, ..FACTS }.encode(e));
        assert_eq!(env, [("HTTPS".into(), "1".into())]);
    }

    #[test]
    fn std_env_vars_adds_mod_ssl_s_set() {
        let env = environ(|e| {
            TlsFacts {
                std_env_vars: true,
                resumed: true,
                ..FACTS
            }
            .encode(e)
        });
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("SSL_PROTOCOL"), Some("TLSv1.3"));
        assert_eq!(get("SSL_CIPHER"), Some("TLS_AES_256_GCM_SHA384"));
        assert_eq!(get("SSL_CIPHER_USEKEYSIZE"), Some("256"));
        assert_eq!(get("SSL_SESSION_RESUMED"), Some("Resumed"));
        assert_eq!(get("SSL_TLS_SNI"), Some("www.example.com"));
    }

    #[test]
    fn https_values_as_mod_wsgi_reads_them() {
        assert!(is_https(b"1") && is_https(b"on") && is_https(b"On"));
        assert!(!is_https(b"0") && !is_https(b"off") && !is_https(b""));
    }
}
