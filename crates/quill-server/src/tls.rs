//! A server's TLS setup from its [`TlsPlan`]: the certificate chain and
//! key read from their PEM files and checked against each other, and the
//! rustls configuration that offers them with the plan's versions, cipher
//! suites and ALPN protocols.
//!
//! ```text
//!   supervisor, at start and at each restart (SIGHUP, SIGUSR1):
//!     TlsPlan ──checked: files read afresh──▶ TlsPlan + TlsPem ──▶ front-end spec
//!                 (refuses with file, line, cause)
//!   each front-end child of the new generation:
//!     TlsPem ──load──▶ Loaded (chain + key) ──server_config──▶ rustls::ServerConfig
//! ```

use std::sync::Arc;

use quill_config::model::{CipherSuite, TlsVersion};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerConfig;
use rustls::sign::CertifiedKey;

use crate::plan::{TlsFile, TlsPem, TlsPlan};

/// Why a server's certificate or key cannot be used: the directive, its
/// file and line, the path and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {directive} {path}: {cause}", path = path.display())]
pub struct TlsError {
    pub at: String,
    pub directive: String,
    pub path: std::path::PathBuf,
    pub cause: String,
}

impl TlsError {
    fn of(file: &TlsFile, cause: impl Into<String>) -> TlsError {
        TlsError {
            at: file.at.clone(),
            directive: file.directive.clone(),
            path: file.path.clone(),
            cause: cause.into(),
        }
    }
}

/// A server's certificate chain and key, read and checked.
#[derive(Debug)]
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    /// mod_ssl's SSL_SERVER_* variables of the certificate.
    pub server_vars: Vec<(String, String)>,
}

fn read(file: &TlsFile) -> Result<Vec<u8>, TlsError> {
    std::fs::read(&file.path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (the server must be able to read it)".to_string()
            }
            _ => format!("cannot read it: {e}"),
        };
        TlsError::of(file, why)
    })
}

fn certificates(file: &TlsFile, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::of(file, format!("not a PEM file: {e}")))?;
    Ok(certs)
}

/// rustls' provider backed by ring. (rustls 0.23.48 deprecates it for
/// lacking the post-quantum key exchange, X25519MLKEM768, which only its
/// aws-lc-rs provider has; that one needs cmake and NASM to build, and
/// httpd with Debian's OpenSSL 3.0 offers no post-quantum exchange
/// either.)
#[allow(deprecated)]
fn ring() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The ring provider with the plan's cipher suites, in its order.
fn provider(plan: &TlsPlan) -> CryptoProvider {
    let mut p = ring();
    if !plan.ciphers.is_empty() {
        p.cipher_suites = plan
            .ciphers
            .iter()
            .filter_map(|c| {
                p.cipher_suites
                    .iter()
                    .find(|s| s.suite() == rustls_suite(*c))
                    .copied()
            })
            .collect();
        // A version without a suite of its own keeps rustls' (the plan
        // names suites for one version only when SSLCipherSuite set just
        // that one).
        for v in [TlsVersion::Tls12, TlsVersion::Tls13] {
            if !plan.ciphers.iter().any(|c| c.version() == v) {
                let all = ring().cipher_suites;
                p.cipher_suites.extend(
                    all.into_iter()
                        .filter(|s| s.version().version == rustls_version(v).version),
                );
            }
        }
    }
    p
}

fn rustls_version(v: TlsVersion) -> &'static rustls::SupportedProtocolVersion {
    match v {
        TlsVersion::Tls12 => &rustls::version::TLS12,
        TlsVersion::Tls13 => &rustls::version::TLS13,
    }
}

/// rustls' identifier of one of our suites.
pub fn rustls_suite(c: CipherSuite) -> rustls::CipherSuite {
    use rustls::CipherSuite as R;
    match c {
        CipherSuite::Tls13Aes256GcmSha384 => R::TLS13_AES_256_GCM_SHA384,
        CipherSuite::Tls13Aes128GcmSha256 => R::TLS13_AES_128_GCM_SHA256,
        CipherSuite::Tls13Chacha20Poly1305Sha256 => R::TLS13_CHACHA20_POLY1305_SHA256,
        CipherSuite::EcdheEcdsaAes256GcmSha384 => R::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::EcdheEcdsaAes128GcmSha256 => R::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::EcdheEcdsaChacha20Poly1305 => R::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite::EcdheRsaAes256GcmSha384 => R::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::EcdheRsaAes128GcmSha256 => R::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::EcdheRsaChacha20Poly1305 => R::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    }
}

/// Ours of a suite rustls negotiated.
pub fn our_suite(s: rustls::CipherSuite) -> Option<CipherSuite> {
    CipherSuite::ALL.into_iter().find(|c| rustls_suite(*c) == s)
}

/// Reads `plan`'s files: their PEM texts, checked by [`load`].
pub fn read_pem(plan: &TlsPlan) -> Result<TlsPem, TlsError> {
    let text = |f: &TlsFile| read(f).map(|b| String::from_utf8_lossy(&b).into_owned());
    let pem = TlsPem {
        certificate: text(&plan.certificate)?,
        key: if plan.key.path == plan.certificate.path {
            String::new()
        } else {
            text(&plan.key)?
        },
        chain: plan.chain.as_ref().map(text).transpose()?,
    };
    Ok(pem)
}

/// `plan` with its files read and checked: what the front-end children
/// are given.
pub fn checked(mut plan: TlsPlan) -> Result<TlsPlan, TlsError> {
    plan.pem = Some(read_pem(&plan)?);
    configure(&plan)?;
    Ok(plan)
}

/// `plan`'s certificate chain and key (from its [`TlsPem`], else read from
/// its files), checked to belong together.
pub fn load(plan: &TlsPlan) -> Result<Loaded, TlsError> {
    let pem = match &plan.pem {
        Some(p) => p.clone(),
        None => read_pem(plan)?,
    };
    let cert_pem = pem.certificate.into_bytes();
    let mut chain = certificates(&plan.certificate, &cert_pem)?;
    if chain.is_empty() {
        return Err(TlsError::of(
            &plan.certificate,
            "no certificate in it (a PEM file with a `-----BEGIN CERTIFICATE-----` block is needed)",
        ));
    }
    if let (Some(extra), Some(text)) = (&plan.chain, &pem.chain) {
        let more = certificates(extra, text.as_bytes())?;
        if more.is_empty() {
            return Err(TlsError::of(extra, "no certificate in it"));
        }
        chain.extend(more);
    }
    let key_pem = if plan.key.path == plan.certificate.path {
        cert_pem
    } else {
        pem.key.into_bytes()
    };
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(k) => k,
        Err(_) if contains(&key_pem, b"ENCRYPTED") => {
            return Err(TlsError::of(
                &plan.key,
                "the key is encrypted with a pass phrase, which Quill does not ask for; \
                 store it decrypted (readable by the server only): `openssl pkey -in KEY -out KEY.plain`",
            ));
        }
        Err(rustls::pki_types::pem::Error::NoItemsFound) if plan.key == plan.certificate => {
            return Err(TlsError::of(
                &plan.key,
                "no private key in it, and no SSLCertificateKeyFile names one: add \
                 `SSLCertificateKeyFile /path/to/key.pem`",
            ));
        }
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(TlsError::of(
                &plan.key,
                "no private key in it (a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block is needed)",
            ));
        }
        Err(e) => return Err(TlsError::of(&plan.key, format!("not a PEM file: {e}"))),
    };
    let provider = provider(plan);
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::of(&plan.key, format!("the key cannot be used: {e}")))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(TlsError::of(
                &plan.key,
                format!(
                    "the key does not match the certificate of {} ({})",
                    plan.certificate.directive, plan.certificate.at
                ),
            ));
        }
        // (A key whose public half rustls cannot derive: the handshake
        // will tell.)
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => {
            return Err(TlsError::of(
                &plan.certificate,
                format!("the certificate cannot be used: {e}"),
            ));
        }
    }
    let server_vars = certified
        .end_entity_cert()
        .map(|c| crate::x509::server_vars(c.as_ref()))
        .unwrap_or_default();
    Ok(Loaded {
        key: Arc::new(certified),
        server_vars,
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The rustls configuration of a server: its certificate (`loaded`), the
/// plan's versions, suites, order and ALPN protocols.
pub fn server_config(plan: &TlsPlan, loaded: &Loaded) -> Result<Arc<ServerConfig>, TlsError> {
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        plan.versions.iter().map(|v| rustls_version(*v)).collect();
    let resolver = rustls::sign::SingleCertAndKey::from(loaded.key.clone());
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider(plan)))
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::of(&plan.certificate, format!("no usable TLS setup: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = plan.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config.ignore_client_order = plan.honor_cipher_order;
    Ok(Arc::new(config))
}

/// What [`load`] and [`server_config`] say of one server, as one step.
pub fn configure(plan: &TlsPlan) -> Result<Arc<ServerConfig>, TlsError> {
    server_config(plan, &load(plan)?)
}
