//! `quill serve` refuses to start with a certificate or key it cannot
//! use, saying which directive, where, and why, before any socket or
//! process exists (crates/quill-server/src/tls.rs). Certificates are made
//! with the `openssl` command in a temporary directory, shown as `<tmp>`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Tmp(PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn certificate(dir: &Path, name: &str) {
    let d = dir.display();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={name}"),
        "-keyout",
        &format!("{d}/{name}.key"),
        "-out",
        &format!("{d}/{name}.crt"),
    ]);
}

/// `quill serve` of a configuration whose HTTPS virtual host has
/// `tls_lines`; its transcript with the directory shown as `<tmp>`.
fn serve(dir: &Path, tls_lines: &str) -> String {
    let conf = dir.join("httpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerName localhost\n\
             Listen 127.0.0.1:8443\n\
             LoadModule mpm_event_module modules/mod_mpm_event.so\n\
             LoadModule ssl_module modules/mod_ssl.so\n\
             <VirtualHost *:8443>\n\
             \x20   ServerName www.example.com\n\
             \x20   SSLEngine on\n\
             {tls_lines}\
             </VirtualHost>\n"
        ),
    )
    .expect("write the config");
    // (Bounded: a configuration that starts is stopped after 30 s and the
    // snapshot shows it.)
    let out = Command::new("timeout")
        .arg("30")
        .arg(env!("CARGO_BIN_EXE_quill"))
        .arg("serve")
        .arg(&conf)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run quill serve");
    let show = |b: &[u8]| String::from_utf8_lossy(b).replace(&dir.display().to_string(), "<tmp>");
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        show(&out.stdout),
        show(&out.stderr)
    )
}

#[test]
fn an_unusable_certificate_or_key_refuses_start_up_with_file_line_and_cause() {
    let dir = Tmp(Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("serve-tls-refusals-{}", std::process::id())));
    let d = &dir.0;
    let _ = std::fs::remove_dir_all(d);
    std::fs::create_dir_all(d).expect("temp dir");
    certificate(d, "a");
    certificate(d, "b");
    std::fs::write(d.join("notes.txt"), "not a certificate\n").expect("write");
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-aes256",
        "-pass",
        "pass:secret",
        "-out",
        &format!("{}/encrypted.key", d.display()),
    ]);
    let p = d.display();
    let cases = [
        ("no SSLCertificateFile", String::new()),
        (
            "a missing certificate file",
            format!(
                "    SSLCertificateFile {p}/missing.crt\n    SSLCertificateKeyFile {p}/a.key\n"
            ),
        ),
        (
            "a file that is not PEM",
            format!("    SSLCertificateFile {p}/notes.txt\n    SSLCertificateKeyFile {p}/a.key\n"),
        ),
        (
            "a key of another certificate",
            format!("    SSLCertificateFile {p}/a.crt\n    SSLCertificateKeyFile {p}/b.key\n"),
        ),
        (
            "no key beside the certificate",
            format!("    SSLCertificateFile {p}/a.crt\n"),
        ),
        (
            "an encrypted key",
            format!(
                "    SSLCertificateFile {p}/a.crt\n    SSLCertificateKeyFile {p}/encrypted.key\n"
            ),
        ),
        (
            "a missing chain file",
            format!(
                "    SSLCertificateFile {p}/a.crt\n    SSLCertificateKeyFile {p}/a.key\n    \
                 SSLCertificateChainFile {p}/chain.pem\n"
            ),
        ),
    ];
    let mut all = String::new();
    for (what, lines) in cases {
        let t = serve(d, &lines);
        assert!(t.starts_with("exit: 1\n"), "{what}: {t}");
        all.push_str(&format!("=== {what}\n{t}\n"));
    }
    insta::assert_snapshot!(all);
}
