//! `quill serve CONF`: an Apache-style configuration with the daemon
//! options `quill express` does not set, through a real client.

use crate::{Server, TempDir, agent, fixtures, free_port, get};

#[test]
fn serve_runs_an_apache_config_with_its_daemon_options() {
    let root = TempDir::new("serve-config");
    let site = root.0.join("site");
    std::fs::create_dir_all(site.join("lib")).expect("site dirs");
    std::fs::write(
        site.join("lib/helper_mod.py"),
        "VALUE = 'from python-path'\n",
    )
    .expect("helper");
    std::fs::copy(fixtures().join("env.wsgi"), site.join("env.wsgi")).expect("app");
    let port = free_port();
    let conf = root.0.join("httpd.conf");
    let (r, s) = (root.0.display(), site.display());
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{r}"
ServerName localhost
Listen 127.0.0.1:{port}
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule wsgi_module modules/mod_wsgi.so
WSGISocketPrefix "{r}/wsgi"
WSGIDaemonProcess site processes=1 threads=2 display-name=site-daemon \
    home="{s}" python-path="{s}/lib" lang=C.UTF-8 locale=C.UTF-8
WSGIScriptAlias /app "{s}/env.wsgi" process-group=site application-group=%{{GLOBAL}}
WSGIPassAuthorization On
"#
        ),
    )
    .expect("write the config");
    let s = Server::serve(root, &conf, port);
    let r = agent()
        .get(&s.url("/app/x"))
        .header("Authorization", "Basic c2VjcmV0")
        .call()
        .expect("request");
    assert_eq!(r.status(), 200);
    let body = r.into_body().read_to_string().expect("body");
    let e: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let site = site.canonicalize().expect("site");
    assert_eq!(e["cwd"], site.display().to_string(), "home=");
    assert_eq!(e["helper"], "from python-path");
    assert!(
        e["sys_path"]
            .as_array()
            .expect("list")
            .iter()
            .any(|p| p == &site.join("lib").display().to_string()),
        "python-path= in sys.path: {body}"
    );
    assert_eq!(e["LANG"], "C.UTF-8", "lang=");
    assert_eq!(e["LC_ALL"], "C.UTF-8", "locale=");
    assert_eq!(
        e["authorization"], "Basic c2VjcmV0",
        "WSGIPassAuthorization On"
    );
    assert_eq!(e["process_group"], "site");
    assert_eq!(e["application_group"], "");
    assert_eq!(e["script_name"], "/app");
    let daemons = s.wait_daemons(1);
    assert_eq!(daemons.len(), 1, "processes=1");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", daemons[0])).expect("cmdline");
    assert_eq!(cmdline, b"site-daemon\0", "display-name=");
    // Outside the mount: the front end's own 404.
    assert_eq!(get(&s.url("/elsewhere")).0, 404);
    assert_eq!(s.stop(), Some(0));
}

/// A virtual host with `SSLEngine on` and no certificate refuses the
/// start (naming the file and line, as httpd's AH02572) instead of
/// serving plain HTTP there.
#[test]
fn serve_refuses_sslengine_on_without_a_certificate_instead_of_serving_plaintext() {
    let root = TempDir::new("serve-tls-refused");
    let port = free_port();
    let conf = root.0.join("httpd.conf");
    let r = root.0.display();
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{r}"
ServerName localhost
Listen 127.0.0.1:{port}
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule ssl_module modules/mod_ssl.so
<VirtualHost *:{port}>
    ServerName www.example.com
    SSLEngine on
</VirtualHost>
"#
        ),
    )
    .expect("write the config");
    let out = std::process::Command::new(crate::quill_bin())
        .arg("serve")
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run quill serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "refused: {stderr}");
    assert!(
        stderr.contains(&format!("{}:8:", conf.display())),
        "names the file and line of SSLEngine: {stderr}"
    );
    assert!(
        stderr.contains("but no SSLCertificateFile"),
        "says why: {stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "never says it listens: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
