//! mod_ssl's SSL_SERVER_* variables of a server's certificate (its names,
//! serial number, validity and algorithms), written as mod_ssl writes
//! them with OpenSSL: distinguished names in RFC 2253 order
//! (`O=Example,CN=www.example.com`), times as `Dec  9 08:50:01 2026 GMT`.

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

/// The DN's components mod_ssl exports one by one (`…_DN_CN` …).
const PARTS: &[&str] = &["C", "ST", "L", "O", "OU", "CN", "Email"];

/// The variables of the certificate `der` (none when it does not parse:
/// rustls has accepted it, so that does not happen with real ones).
pub fn server_vars(der: &[u8]) -> Vec<(String, String)> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let mut vars = Vec::new();
    let mut set = |k: String, v: String| vars.push((k, v));
    set(
        "SSL_SERVER_M_VERSION".into(),
        (cert.version().0 + 1).to_string(),
    );
    set(
        "SSL_SERVER_M_SERIAL".into(),
        cert.raw_serial_as_string().replace(':', "").to_uppercase(),
    );
    for (tag, name) in [("S", cert.subject()), ("I", cert.issuer())] {
        set(format!("SSL_SERVER_{tag}_DN"), dn(name));
        // (A repeated component keeps its first value: `dedup_first`.)
        for (k, v) in components(name) {
            if PARTS.contains(&k.as_str()) {
                set(format!("SSL_SERVER_{tag}_DN_{k}"), v);
            }
        }
    }
    let when = |t: &x509_parser::time::ASN1Time| {
        let s = t.to_string();
        s.strip_suffix("+00:00")
            .map_or(s.clone(), |d| format!("{d}GMT"))
    };
    set(
        "SSL_SERVER_V_START".into(),
        when(&cert.validity().not_before),
    );
    set("SSL_SERVER_V_END".into(), when(&cert.validity().not_after));
    let registry = x509_parser::objects::oid_registry();
    let sn = |oid| x509_parser::objects::oid2sn(oid, registry).ok();
    if let Some(a) = sn(&cert.public_key().algorithm.algorithm) {
        set("SSL_SERVER_A_KEY".into(), a.to_string());
    }
    if let Some(a) = sn(&cert.signature_algorithm.algorithm) {
        set("SSL_SERVER_A_SIG".into(), a.to_string());
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        let dns = san.value.general_names.iter().filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_string()),
            _ => None,
        });
        for (i, d) in dns.enumerate() {
            set(format!("SSL_SERVER_SAN_DNS_{i}"), d);
        }
    }
    dedup_first(vars)
}

/// Each variable once, with its first value.
fn dedup_first(vars: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    vars.into_iter()
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect()
}

/// The DN's components in the certificate's order, by OpenSSL's short
/// names (`CN`, `O` … and `Email`).
fn components(name: &X509Name<'_>) -> Vec<(String, String)> {
    let registry = x509_parser::objects::oid_registry();
    name.iter_rdn()
        .flat_map(|rdn| rdn.iter())
        .map(|a| {
            let key = x509_parser::objects::oid2abbrev(a.attr_type(), registry)
                .map_or_else(|_| a.attr_type().to_id_string(), str::to_string);
            let value = a.as_str().map_or_else(
                |_| String::from_utf8_lossy(a.attr_value().data).into_owned(),
                str::to_string,
            );
            (key, value)
        })
        .collect()
}

/// RFC 2253: the last component first, `,` between them, special
/// characters escaped.
fn dn(name: &X509Name<'_>) -> String {
    let mut parts: Vec<String> = components(name)
        .into_iter()
        .map(|(k, v)| {
            let mut e = String::with_capacity(v.len());
            for c in v.chars() {
                if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
                    e.push('\\');
                }
                e.push(c);
            }
            format!("{}={e}", if k == "Email" { "emailAddress" } else { &k })
        })
        .collect();
    parts.reverse();
    parts.join(",")
}
