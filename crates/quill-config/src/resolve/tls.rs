//! mod_ssl's and mod_http2's settings of one server, as far as Quill's
//! TLS library (rustls) can honour them: `SSLProtocol` (TLS 1.2 and 1.3
//! only), `SSLCipherSuite` (OpenSSL's cipher strings, read over the nine
//! suites rustls has), `SSLHonorCipherOrder`, `SSLOptions +StdEnvVars`,
//! `Protocols` and mod_http2's stream and window limits.
//!
//! What rustls cannot do is a warning (`tls/…`) at the directive, which
//! `quill check` shows and `quill serve` logs when it starts; what leaves
//! a server without any protocol or cipher is an error, as httpd's.

use super::{Item, all_in, last_in};
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{CipherSuite, ServerConfig, TlsVersion};

/// Reads the server's TLS and HTTP/2 directives into `cfg` (which holds
/// what a virtual host inherited).
pub(crate) fn read(items: &[Item<'_>], cfg: &mut ServerConfig, diags: &mut Diagnostics) {
    if let Some(i) = last_in(items, "SSLProtocol") {
        let args: Vec<&str> = i.directive.args.iter().map(|a| a.value.as_str()).collect();
        // Debian's OpenSSL has no SSLv3: httpd stops at it (-SSLv3 is fine).
        let ssl3 = args
            .iter()
            .position(|a| a.trim_start_matches('+').eq_ignore_ascii_case("SSLv3"));
        match protocols(&args) {
            _ if ssl3.is_some() => diags.push(
                Diagnostic::error("config/bad-value", "SSLProtocol cannot enable SSLv3")
                    .at(i.directive.args[ssl3.unwrap_or(0)].span, "not supported")
                    .apache("SSLv3 not supported by this version of OpenSSL")
                    .help("write e.g. `SSLProtocol -all +TLSv1.2 +TLSv1.3`"),
            ),
            Ok(p) => {
                let offered = match p.versions.as_slice() {
                    [] => "no protocol".to_string(),
                    v => format!(
                        "only {}",
                        v.iter().map(|v| v.name()).collect::<Vec<_>>().join(" and ")
                    ),
                };
                for (k, name) in &p.dropped {
                    let span = i.directive.args[*k].span;
                    diags.push(
                        Diagnostic::warning(
                            "tls/protocol-not-supported",
                            format!("rustls does not speak {name}: this server offers {offered}"),
                        )
                        .at(span, "not offered")
                        .note_line("Quill's TLS library, rustls, implements TLS 1.2 and 1.3 only")
                        .help(format!("remove `{name}` from SSLProtocol")),
                    );
                }
                if p.versions.is_empty() {
                    diags.push(
                        Diagnostic::error(
                            "tls/no-protocol",
                            "SSLProtocol leaves no protocol that rustls speaks",
                        )
                        .at(i.span(), "no TLSv1.2 or TLSv1.3")
                        .note_line("httpd accepts TLSv1 and TLSv1.1 (`apache2ctl -t`: Syntax OK); Quill cannot serve them")
                        .help("write e.g. `SSLProtocol -all +TLSv1.2 +TLSv1.3`"),
                    );
                } else {
                    cfg.tls.protocols = p.versions;
                }
            }
            Err((k, bad)) => diags.push(
                Diagnostic::error("config/bad-value", "SSLProtocol needs protocol names")
                    .at(i.directive.args[k].span, "not a protocol")
                    .apache(format!("SSLProtocol: Illegal protocol '{bad}'"))
                    .help("write e.g. `SSLProtocol -all +TLSv1.2 +TLSv1.3`"),
            ),
        }
    }
    for i in all_in(items, "SSLCipherSuite") {
        cipher_suite(i, cfg, diags);
    }
    if let Some(i) = last_in(items, "SSLHonorCipherOrder") {
        match i.arg(0).map(str::to_ascii_lowercase).as_deref() {
            Some("on") => cfg.tls.honor_cipher_order = true,
            Some("off") => cfg.tls.honor_cipher_order = false,
            _ => diags.push(
                Diagnostic::error("config/bad-value", "SSLHonorCipherOrder needs On or Off")
                    .at(i.span(), "not accepted")
                    .apache("SSLHonorCipherOrder must be On or Off")
                    .help("write e.g. `SSLHonorCipherOrder on`"),
            ),
        }
    }
    for i in all_in(items, "SSLOptions") {
        ssl_options(i, cfg, diags);
    }
    if let Some(i) = last_in(items, "Protocols") {
        cfg.protocols = i
            .directive
            .args
            .iter()
            .map(|a| a.value.to_ascii_lowercase())
            .collect();
    }
    let limit = |name: &str, diags: &mut Diagnostics| -> Option<u32> {
        let i = last_in(items, name)?;
        match i.arg(0).and_then(|a| a.parse::<u32>().ok()) {
            Some(n) if n > 0 => Some(n),
            _ => {
                diags.push(
                    Diagnostic::error(
                        "config/bad-value",
                        format!("{name} needs a positive number"),
                    )
                    .at(i.span(), "not accepted")
                    .help(format!("write e.g. `{name} {}`", i.def.default)),
                );
                None
            }
        }
    };
    if let Some(n) = limit("H2MaxSessionStreams", diags) {
        cfg.h2.max_session_streams = n;
    }
    if let Some(n) = limit("H2WindowSize", diags) {
        cfg.h2.window_size = n;
    }
}

/// What `SSLProtocol` leaves: the versions rustls speaks, and the
/// arguments (index, name) that asked for one it does not.
#[derive(Debug, PartialEq, Eq)]
pub struct Protocols {
    pub versions: Vec<TlsVersion>,
    pub dropped: Vec<(usize, String)>,
}

/// `SSLProtocol [+|-]protocol …` as mod_ssl reads it: a name without a
/// sign sets the list to itself, `+` adds, `-` removes; `all` is every
/// version. The error is the index and text of an illegal name.
pub fn protocols(args: &[&str]) -> Result<Protocols, (usize, String)> {
    // SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3.
    const NAMES: [&str; 5] = ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];
    let mut on = [false; 5];
    let mut asked = [None; 5];
    for (k, arg) in args.iter().enumerate() {
        let (sign, name) = match arg.as_bytes().first() {
            Some(b'+') => (Some(true), &arg[1..]),
            Some(b'-') => (Some(false), &arg[1..]),
            _ => (None, *arg),
        };
        let set: Vec<usize> = if name.eq_ignore_ascii_case("all") {
            // (httpd 2.4's `all` no longer includes SSLv3.)
            vec![1, 2, 3, 4]
        } else {
            match NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) {
                Some(v) => {
                    if sign != Some(false) {
                        asked[v] = Some(k);
                    }
                    vec![v]
                }
                None => return Err((k, arg.to_string())),
            }
        };
        match sign {
            Some(add) => set.iter().for_each(|&v| on[v] = add),
            None => {
                on = [false; 5];
                set.iter().for_each(|&v| on[v] = true);
            }
        }
    }
    let mut versions = Vec::new();
    if on[3] {
        versions.push(TlsVersion::Tls12);
    }
    if on[4] {
        versions.push(TlsVersion::Tls13);
    }
    let dropped = (0..3)
        .filter(|&v| on[v])
        .filter_map(|v| asked[v].map(|k| (k, NAMES[v].to_string())))
        .collect();
    Ok(Protocols { versions, dropped })
}

/// What a cipher string leaves of rustls' suites, and what it asked for
/// that rustls does not have.
#[derive(Debug, PartialEq, Eq)]
pub struct Ciphers {
    pub suites: Vec<CipherSuite>,
    /// Names of suites or families that select only ciphers rustls lacks.
    pub missing: Vec<String>,
    /// Words that are no cipher name or family OpenSSL knows (as far as
    /// this reader does).
    pub unknown: Vec<String>,
}

/// OpenSSL's families (and the other words of its cipher strings) that
/// hold none of rustls' suites: `!aNULL` and friends remove nothing here.
const NOT_IN_RUSTLS: &[&str] = &[
    "aNULL",
    "eNULL",
    "NULL",
    "EXPORT",
    "EXP",
    "LOW",
    "MEDIUM",
    "RC4",
    "MD5",
    "DES",
    "3DES",
    "IDEA",
    "SEED",
    "CAMELLIA",
    "CAMELLIA128",
    "CAMELLIA256",
    "ARIA",
    "ARIA128",
    "ARIA256",
    "PSK",
    "kPSK",
    "aPSK",
    "ECDHEPSK",
    "DHEPSK",
    "RSAPSK",
    "kECDHEPSK",
    "kDHEPSK",
    "kRSAPSK",
    "SRP",
    "kSRP",
    "aSRP",
    "DSS",
    "aDSS",
    "DH",
    "DHE",
    "EDH",
    "kDHE",
    "kEDH",
    "kDH",
    "ADH",
    "AECDH",
    "kRSA",
    "RSA",
    "SHA1",
    "SHA",
    "CCM",
    "CCM8",
    "AESCCM",
    "AESCCM8",
    "SSLv3",
    "TLSv1",
    "TLSv1.0",
    "COMPLEMENTOFDEFAULT",
    "COMPLEMENTOFALL",
    "aGOST",
    "kGOST",
    "GOST",
    "aNULL",
    "kECDH",
    "ECDH",
    "aECDH",
    "RC2",
    "CBC",
];

/// The families every TLS 1.2 suite of rustls belongs to.
const COMMON: &[&str] = &[
    "ALL", "DEFAULT", "HIGH", "TLSv1.2", "AEAD", "kECDHE", "ECDHE", "EECDH", "kEECDH",
];

/// The families and attributes of one TLS 1.2 suite beyond [`COMMON`], in
/// OpenSSL's words.
fn tags(s: CipherSuite) -> &'static [&'static str] {
    use CipherSuite::*;
    match s {
        EcdheEcdsaAes256GcmSha384 => &["aECDSA", "ECDSA", "AES", "AES256", "AESGCM", "SHA384"],
        EcdheEcdsaAes128GcmSha256 => &["aECDSA", "ECDSA", "AES", "AES128", "AESGCM", "SHA256"],
        EcdheEcdsaChacha20Poly1305 => &["aECDSA", "ECDSA", "CHACHA20", "SHA256"],
        EcdheRsaAes256GcmSha384 => &["aRSA", "AES", "AES256", "AESGCM", "SHA384"],
        EcdheRsaAes128GcmSha256 => &["aRSA", "AES", "AES128", "AESGCM", "SHA256"],
        EcdheRsaChacha20Poly1305 => &["aRSA", "CHACHA20", "SHA256"],
        _ => &[],
    }
}

fn has_tag(s: CipherSuite, word: &str) -> bool {
    s.version() == TlsVersion::Tls12
        && (COMMON.iter().any(|t| t.eq_ignore_ascii_case(word))
            || tags(s).iter().any(|t| t.eq_ignore_ascii_case(word)))
}

/// Which of rustls' TLS 1.2 suites a word selects: `Ok(suites)` (maybe
/// none, for a family rustls has no member of), `Err(())` for a word this
/// reader does not know.
fn select(word: &str) -> Result<Vec<CipherSuite>, ()> {
    let tls12 = CipherSuite::ALL
        .into_iter()
        .filter(|s| s.version() == TlsVersion::Tls12);
    // `PROFILE=SYSTEM` (Fedora and RHEL's crypto policies): the system's
    // choice, which rustls' suites all meet.
    if word.len() > 8 && word[..8].eq_ignore_ascii_case("PROFILE=") {
        return Ok(tls12.collect());
    }
    // An exact suite name, OpenSSL's or IANA's.
    if let Some(s) = tls12.clone().find(|s| {
        s.openssl_name().eq_ignore_ascii_case(word) || s.iana_name().eq_ignore_ascii_case(word)
    }) {
        return Ok(vec![s]);
    }
    // A combination: every component must hold.
    let parts: Vec<&str> = word.split('+').collect();
    let mut known = true;
    let picked: Vec<CipherSuite> = tls12
        .filter(|s| {
            parts.iter().all(|p| {
                let tagged = has_tag(*s, p);
                if !tagged && !NOT_IN_RUSTLS.iter().any(|n| n.eq_ignore_ascii_case(p)) {
                    // Not a family of ours: a word we do not know, unless
                    // some other suite has it.
                    known &= CipherSuite::ALL.into_iter().any(|o| has_tag(o, p));
                }
                tagged
            })
        })
        .collect();
    if picked.is_empty() && !known {
        // A specific suite OpenSSL has and rustls lacks (`AES128-SHA`,
        // `DHE-RSA-AES256-GCM-SHA384`, `TLS_RSA_WITH_…`): a name with `-`
        // or `_` in it.
        if parts.len() == 1 && (word.contains('-') || word.contains('_')) {
            return Ok(Vec::new());
        }
        return Err(());
    }
    Ok(picked)
}

/// An OpenSSL cipher string (`SSLCipherSuite`'s, for TLS 1.2 and below)
/// over rustls' TLS 1.2 suites: `X` appends what X selects, `-X` removes
/// it, `!X` removes it for good, `+X` moves it to the end; `A+B` selects
/// what is both; `@STRENGTH` sorts by key size; `@SECLEVEL=n` changes
/// nothing here.
pub fn cipher_string(spec: &str) -> Ciphers {
    let mut list: Vec<CipherSuite> = Vec::new();
    let mut banned: Vec<CipherSuite> = Vec::new();
    let mut missing = Vec::new();
    let mut unknown = Vec::new();
    for token in spec.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        if token.eq_ignore_ascii_case("@STRENGTH") {
            list.sort_by_key(|s| std::cmp::Reverse(s.bits()));
            continue;
        }
        if token.starts_with('@') {
            continue;
        }
        let (op, word) = match token.as_bytes()[0] {
            b'!' | b'-' | b'+' => (token.as_bytes()[0], &token[1..]),
            _ => (b' ', token),
        };
        let Ok(sel) = select(word) else {
            unknown.push(token.to_string());
            continue;
        };
        match op {
            b'!' => {
                list.retain(|s| !sel.contains(s));
                banned.extend(sel);
            }
            b'-' => list.retain(|s| !sel.contains(s)),
            b'+' => {
                let (moved, kept): (Vec<_>, Vec<_>) = list.iter().partition(|s| sel.contains(s));
                list = kept.into_iter().chain(moved).collect();
            }
            _ => {
                if sel.is_empty() {
                    missing.push(word.to_string());
                }
                for s in sel {
                    if !list.contains(&s) && !banned.contains(&s) {
                        list.push(s);
                    }
                }
            }
        }
    }
    Ciphers {
        suites: list,
        missing,
        unknown,
    }
}

/// `SSLCipherSuite TLSv1.3 …`: the TLS 1.3 suite names, in order (as
/// OpenSSL's `SSL_CTX_set_ciphersuites` reads them).
pub fn tls13_suites(spec: &str) -> Ciphers {
    let mut suites = Vec::new();
    let mut missing = Vec::new();
    for name in spec.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        match CipherSuite::ALL.into_iter().find(|s| {
            s.version() == TlsVersion::Tls13 && s.openssl_name().eq_ignore_ascii_case(name)
        }) {
            Some(s) if !suites.contains(&s) => suites.push(s),
            Some(_) => {}
            None => missing.push(name.to_string()),
        }
    }
    Ciphers {
        suites,
        missing,
        unknown: Vec::new(),
    }
}

fn cipher_suite(i: &Item<'_>, cfg: &mut ServerConfig, diags: &mut Diagnostics) {
    let (tls13, spec_arg) = match i.directive.args.len() {
        1 => (false, &i.directive.args[0]),
        _ => {
            let p = &i.directive.args[0];
            match p.value.as_str() {
                v if v.eq_ignore_ascii_case("SSL") => (false, &i.directive.args[1]),
                v if v.eq_ignore_ascii_case("TLSv1.3") => (true, &i.directive.args[1]),
                other => {
                    diags.push(
                        Diagnostic::error(
                            "config/bad-value",
                            "SSLCipherSuite needs SSL or TLSv1.3 before two-argument cipher lists",
                        )
                        .at(p.span, "not a protocol")
                        .apache(format!("protocol '{other}' not supported"))
                        .help("write e.g. `SSLCipherSuite TLSv1.3 TLS_AES_256_GCM_SHA384`"),
                    );
                    return;
                }
            }
        }
    };
    let version = if tls13 {
        TlsVersion::Tls13
    } else {
        TlsVersion::Tls12
    };
    let got = if tls13 {
        tls13_suites(&spec_arg.value)
    } else {
        cipher_string(&spec_arg.value)
    };
    if !got.missing.is_empty() {
        diags.push(
            Diagnostic::warning(
                "tls/cipher-not-supported",
                format!(
                    "rustls has no cipher suite among {}: not offered",
                    got.missing.join(", ")
                ),
            )
            .at(spec_arg.span, "not offered")
            .note_line(format!(
                "rustls offers for {}: {}",
                version.name(),
                CipherSuite::ALL
                    .into_iter()
                    .filter(|s| s.version() == version)
                    .map(CipherSuite::openssl_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .help(format!(
                "remove {} from SSLCipherSuite, or keep it for httpd: Quill offers what else the string selects",
                got.missing.join(", ")
            )),
        );
    }
    if !got.unknown.is_empty() {
        diags.push(
            Diagnostic::warning(
                "tls/cipher-not-understood",
                format!("not a cipher name Quill knows: {}; ignored", got.unknown.join(", ")),
            )
            .at(spec_arg.span, "ignored")
            .note_line("Quill reads OpenSSL's cipher strings over the suites rustls has: names (`ECDHE-RSA-AES128-GCM-SHA256`), families (`HIGH`, `ECDHE`, `AESGCM`, `CHACHA20`, `aRSA`, `aECDSA` …) and `!`, `-`, `+`, `@STRENGTH`")
            .help("check the spelling against `openssl ciphers -v`"),
        );
    }
    if got.suites.is_empty() {
        let other = match version {
            TlsVersion::Tls12 => TlsVersion::Tls13,
            TlsVersion::Tls13 => TlsVersion::Tls12,
        };
        if cfg.tls.protocols.contains(&other) {
            cfg.tls.protocols.retain(|v| *v != version);
            diags.push(
                Diagnostic::warning(
                    "tls/cipher-not-supported",
                    format!(
                        "no {} cipher suite of rustls is left: {} is not offered",
                        version.name(),
                        version.name()
                    ),
                )
                .at(spec_arg.span, "selects none of rustls' suites")
                .help(format!(
                    "add a suite rustls has, e.g. `{}`, or remove {} from SSLProtocol",
                    CipherSuite::ALL
                        .into_iter()
                        .find(|s| s.version() == version)
                        .map_or("", CipherSuite::openssl_name),
                    version.name()
                )),
            );
        } else {
            diags.push(
                Diagnostic::error(
                    "tls/no-cipher",
                    format!(
                        "SSLCipherSuite leaves no {} cipher suite that rustls has",
                        version.name()
                    ),
                )
                .at(spec_arg.span, "selects none of rustls' suites")
                .apache("Unable to configure permitted SSL ciphers")
                .help("write e.g. `SSLCipherSuite HIGH:!aNULL`"),
            );
        }
        return;
    }
    match version {
        TlsVersion::Tls12 => cfg.tls.ciphers_tls12 = got.suites,
        TlsVersion::Tls13 => cfg.tls.ciphers_tls13 = got.suites,
    }
}

/// `SSLOptions [+|-]option …` at server or virtual-host level: only
/// StdEnvVars changes what Quill does.
fn ssl_options(i: &Item<'_>, cfg: &mut ServerConfig, diags: &mut Diagnostics) {
    const OPTIONS: [&str; 6] = [
        "StdEnvVars",
        "ExportCertData",
        "FakeBasicAuth",
        "StrictRequire",
        "OptRenegotiate",
        "LegacyDNStringFormat",
    ];
    let mut first_plain = true;
    for a in &i.directive.args {
        let (sign, name) = match a.value.as_bytes().first() {
            Some(b'+') => (Some(true), &a.value[1..]),
            Some(b'-') => (Some(false), &a.value[1..]),
            _ => (None, a.value.as_str()),
        };
        if !OPTIONS.iter().any(|o| o.eq_ignore_ascii_case(name)) {
            diags.push(
                Diagnostic::error("config/bad-value", "SSLOptions needs option names")
                    .at(a.span, "not an option")
                    .apache(format!("SSLOptions: Illegal option '{name}'"))
                    .help("write e.g. `SSLOptions +StdEnvVars`"),
            );
            return;
        }
        let std = name.eq_ignore_ascii_case("StdEnvVars");
        match sign {
            Some(on) if std => cfg.tls.std_env_vars = on,
            Some(_) => {}
            None => {
                // A plain option replaces those inherited.
                if first_plain {
                    cfg.tls.std_env_vars = false;
                    first_plain = false;
                }
                if std {
                    cfg.tls.std_env_vars = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CipherSuite::*;

    #[test]
    fn ssl_protocol_as_mod_ssl_reads_it() {
        let v = |a: &[&str]| protocols(a).map(|p| (p.versions, p.dropped));
        use TlsVersion::*;
        assert_eq!(v(&["all", "-SSLv3"]), Ok((vec![Tls12, Tls13], vec![])));
        assert_eq!(v(&["-all", "+TLSv1.3"]), Ok((vec![Tls13], vec![])));
        assert_eq!(v(&["TLSv1.2"]), Ok((vec![Tls12], vec![])));
        assert_eq!(v(&["all", "-TLSv1.3"]), Ok((vec![Tls12], vec![])));
        assert_eq!(
            v(&["TLSv1.1", "+TLSv1.2"]),
            Ok((vec![Tls12], vec![(0, "TLSv1.1".into())]))
        );
        // A plain name replaces what came before it.
        assert_eq!(v(&["+TLSv1.3", "TLSv1.2"]), Ok((vec![Tls12], vec![])));
        assert_eq!(
            v(&["-all", "+SSLv3"]),
            Ok((vec![], vec![(1, "SSLv3".into())]))
        );
        assert_eq!(v(&["all", "-TLSv9"]), Err((1, "-TLSv9".into())));
    }

    #[test]
    fn openssl_cipher_strings_over_rustls_suites() {
        let c = cipher_string("HIGH:!aNULL:!MD5");
        assert_eq!(c.suites.len(), 6);
        assert!(c.missing.is_empty() && c.unknown.is_empty(), "{c:?}");

        let c = cipher_string("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384");
        assert_eq!(c.suites, [EcdheRsaAes128GcmSha256, EcdheRsaAes256GcmSha384]);

        // Mozilla's "intermediate" list: the DHE suites are not in rustls.
        let c = cipher_string(
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
             ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
             DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384",
        );
        assert_eq!(c.suites.len(), 6);
        assert_eq!(
            c.missing,
            ["DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"]
        );

        let c = cipher_string("ECDHE+AESGCM:!aECDSA");
        assert_eq!(c.suites, [EcdheRsaAes256GcmSha384, EcdheRsaAes128GcmSha256]);
        let c = cipher_string("CHACHA20:AESGCM:-aRSA:+AES128");
        assert_eq!(
            c.suites,
            [
                EcdheEcdsaChacha20Poly1305,
                EcdheEcdsaAes256GcmSha384,
                EcdheEcdsaAes128GcmSha256
            ]
        );
        let c = cipher_string("AES128:CHACHA20:@STRENGTH");
        assert_eq!(
            c.suites[2..].iter().map(|s| s.bits()).collect::<Vec<_>>(),
            [128, 128]
        );
        let c = cipher_string("AES128-SHA:RC4-SHA");
        assert!(c.suites.is_empty());
        assert_eq!(c.missing, ["AES128-SHA", "RC4-SHA"]);
        assert_eq!(cipher_string("PROFILE=SYSTEM").suites.len(), 6);
        let c = cipher_string("HIGH:FROBNICATE");
        assert_eq!(c.unknown, ["FROBNICATE"]);
        // `!` bans for good; `-` only removes.
        assert!(
            cipher_string("!aRSA:ALL")
                .suites
                .iter()
                .all(|s| !has_tag(*s, "aRSA"))
        );
        assert_eq!(cipher_string("-aRSA:ALL").suites.len(), 6);
    }

    #[test]
    fn tls13_names() {
        let c = tls13_suites("TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256");
        assert_eq!(c.suites, [Tls13Chacha20Poly1305Sha256]);
        assert_eq!(c.missing, ["TLS_AES_128_CCM_SHA256"]);
    }
}
