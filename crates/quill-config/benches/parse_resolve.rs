//! Parse and resolve a realistic Debian-style tree of about 5,000 directives.
//!
//! ```text
//!  /etc/apache2/apache2.conf      ~60 global directives, a few LoadModule
//!  ├─ mods-enabled/*.load, *.conf 40 module files (one MPM: event)
//!  ├─ ports.conf
//!  └─ sites-enabled/*.conf        200 sites: <VirtualHost *:80> or *:443 with
//!                                 names, aliases, <Directory>, <Location>,
//!                                 logs, TLS, mod_wsgi daemon groups
//! ```
//!
//! The tree is generated in memory ([`MemFs`]) once, before timing, so the
//! numbers measure the parser and resolver, not the disk. Results and the
//! command are recorded in docs/benchmarks.md.
//!
//! `cargo bench -p quill-config --bench parse_resolve`

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use divan::Bencher;
use quill_config::fs::MemFs;
use quill_config::syntax::{Node, ParseOptions, ParsedConfig, parse_file};
use quill_config::{ResolveOptions, resolve};

const MAIN: &str = "/etc/apache2/apache2.conf";
const SITES: usize = 200;
/// Modules loaded from mods-enabled (each has a `.load`; the first
/// `MODULE_CONFS` also have a `.conf`), 40 files in all.
const MODULES: &[&str] = &[
    "mpm_event",
    "alias",
    "auth_basic",
    "authn_core",
    "authn_file",
    "authz_core",
    "authz_host",
    "authz_user",
    "autoindex",
    "deflate",
    "dir",
    "env",
    "filter",
    "headers",
    "mime",
    "negotiation",
    "reqtimeout",
    "rewrite",
    "setenvif",
    "ssl",
    "status",
    "socache_shmcb",
    "wsgi",
];
const MODULE_CONFS: usize = 17;
/// Modules the main file loads itself (no .load file).
const MAIN_MODULES: &[&str] = &[
    "access_compat",
    "expires",
    "http2",
    "proxy",
    "proxy_http",
    "remoteip",
    "unique_id",
    "cgid",
];

/// The generated tree and how many directives it holds.
struct Tree {
    fs: MemFs,
    /// Logical lines that are a directive or open a section, over all files
    /// (closing tags, comments and blank lines not counted).
    directives: usize,
    files: usize,
    bytes: usize,
}

fn main_file() -> String {
    let mut s = String::from(
        "# Generated for the parse_resolve benchmark (Debian layout).\n\
         ServerRoot \"/etc/apache2\"\n\
         DefaultRuntimeDir ${APACHE_RUN_DIR}\n\
         PidFile ${APACHE_PID_FILE}\n\
         Timeout 300\n\
         KeepAlive On\n\
         MaxKeepAliveRequests 100\n\
         KeepAliveTimeout 5\n\
         User ${APACHE_RUN_USER}\n\
         Group ${APACHE_RUN_GROUP}\n\
         HostnameLookups Off\n\
         ServerName bench.example.com\n\
         ServerAdmin webmaster@example.com\n\
         ServerTokens Prod\n\
         ServerSignature Off\n\
         TraceEnable Off\n\
         ErrorLog ${APACHE_LOG_DIR}/error.log\n\
         LogLevel warn\n\
         LimitRequestBody 10485760\n\
         LimitRequestFields 100\n\
         LimitRequestFieldSize 8190\n\
         LimitRequestLine 8190\n\
         EnableSendfile On\n\
         FileETag None\n\
         AddDefaultCharset UTF-8\n\
         Define SITE_ROOT /srv\n",
    );
    for m in MAIN_MODULES {
        s.push_str(&format!(
            "LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"
        ));
    }
    s.push_str(
        "IncludeOptional mods-enabled/*.load\n\
         IncludeOptional mods-enabled/*.conf\n\
         Include ports.conf\n\
         <Directory />\n\
         \tOptions FollowSymLinks\n\
         \tAllowOverride None\n\
         \tRequire all denied\n\
         </Directory>\n\
         <Directory /usr/share>\n\
         \tAllowOverride None\n\
         \tRequire all granted\n\
         </Directory>\n\
         <Directory /var/www/>\n\
         \tOptions Indexes FollowSymLinks\n\
         \tAllowOverride None\n\
         \tRequire all granted\n\
         </Directory>\n\
         <Directory ${SITE_ROOT}/>\n\
         \tOptions FollowSymLinks\n\
         \tAllowOverride None\n\
         \tRequire all granted\n\
         </Directory>\n\
         AccessFileName .htaccess\n\
         <FilesMatch \"^\\.ht\">\n\
         \tRequire all denied\n\
         </FilesMatch>\n\
         LogFormat \"%v:%p %h %l %u %t \\\"%r\\\" %>s %O \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\"\" vhost_combined\n\
         LogFormat \"%h %l %u %t \\\"%r\\\" %>s %O \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\" %D\" combined\n\
         LogFormat \"%h %l %u %t \\\"%r\\\" %>s %O\" common\n\
         LogFormat \"%{Referer}i -> %U\" referer\n\
         LogFormat \"%{User-agent}i\" agent\n\
         RequestReadTimeout header=20-40,minrate=500 body=10,minrate=500\n\
         Header always set X-Content-Type-Options nosniff\n\
         Header always set X-Frame-Options SAMEORIGIN\n\
         <IfModule mod_status.c>\n\
         \tExtendedStatus On\n\
         </IfModule>\n\
         IncludeOptional conf-enabled/*.conf\n\
         IncludeOptional sites-enabled/*.conf\n",
    );
    s
}

fn module_conf(m: &str) -> String {
    match m {
        "mpm_event" => "<IfModule mpm_event_module>\n\tStartServers 2\n\tMinSpareThreads 25\n\tMaxSpareThreads 75\n\tThreadLimit 64\n\tThreadsPerChild 25\n\tMaxRequestWorkers 150\n\tMaxConnectionsPerChild 0\n</IfModule>\n".to_string(),
        "status" => "<IfModule mod_status.c>\n\t<Location /server-status>\n\t\tSetHandler server-status\n\t\tRequire local\n\t</Location>\n</IfModule>\n".to_string(),
        "ssl" => "<IfModule mod_ssl.c>\n\tSSLRandomSeed startup builtin\n\tSSLRandomSeed startup file:/dev/urandom 512\n\tSSLPassPhraseDialog exec:/usr/share/apache2/ask-for-passphrase\n\tSSLSessionCache shmcb:${APACHE_RUN_DIR}/ssl_scache(512000)\n\tSSLSessionCacheTimeout 300\n\tSSLCipherSuite HIGH:!aNULL\n\tSSLProtocol all -SSLv3\n</IfModule>\n".to_string(),
        "wsgi" => "<IfModule mod_wsgi.c>\n\tWSGIRestrictEmbedded On\n\tWSGISocketPrefix ${APACHE_RUN_DIR}/wsgi\n</IfModule>\n".to_string(),
        other => format!(
            "<IfModule mod_{other}.c>\n\t# settings of mod_{other}\n\tAddOutputFilterByType DEFLATE text/html text/plain\n\tSetEnvIf User-Agent \".*MSIE.*\" nokeepalive\n\tBrowserMatch \"^Mozilla/2\" nokeepalive\n</IfModule>\n"
        ),
    }
}

fn site(i: usize) -> String {
    let tls = i % 3 == 0;
    let wsgi = i % 2 == 0;
    let port = if tls { 443 } else { 80 };
    let mut s = format!(
        "# site {i}\n\
         <VirtualHost *:{port}>\n\
         \tServerName site{i}.example.com\n\
         \tServerAlias www.site{i}.example.com site{i}.example.net\n\
         \tDocumentRoot ${{SITE_ROOT}}/site{i}/public\n\
         \tAlias /static/ /srv/site{i}/static/\n\
         \tAlias /media/ /srv/site{i}/media/\n\
         \t<Directory /srv/site{i}/static>\n\
         \t\tOptions -Indexes\n\
         \t\tRequire all granted\n\
         \t</Directory>\n\
         \t<Directory /srv/site{i}/public>\n\
         \t\tAllowOverride None\n\
         \t\tRequire all granted\n\
         \t</Directory>\n\
         \t<Location /private>\n\
         \t\tRequire ip 10.0.0.0/8\n\
         \t</Location>\n\
         \tErrorLog ${{APACHE_LOG_DIR}}/site{i}_error.log\n\
         \tCustomLog ${{APACHE_LOG_DIR}}/site{i}_access.log combined\n\
         \tKeepAliveTimeout {}\n",
        2 + i % 5
    );
    if tls {
        s.push_str(&format!(
            "\tSSLEngine on\n\
             \tSSLCertificateFile /etc/ssl/certs/site{i}.pem\n\
             \tSSLCertificateKeyFile /etc/ssl/private/site{i}.key\n"
        ));
    } else {
        s.push_str(
            "\tRewriteEngine On\n\tRewriteRule ^/old/(.*)$ /new/$1 [R=301,L]\n\tTimeout 60\n",
        );
    }
    if wsgi {
        s.push_str(&format!(
            "\tWSGIDaemonProcess site{i} processes=2 threads=15 display-name=%{{GROUP}} \\\n\
             \t\thome=/srv/site{i} python-home=/srv/site{i}/venv\n\
             \tWSGIProcessGroup site{i}\n\
             \tWSGIApplicationGroup %{{GLOBAL}}\n\
             \tWSGIScriptAlias / /srv/site{i}/wsgi.py process-group=site{i}\n"
        ));
    } else {
        s.push_str(&format!(
            "\tDirectoryIndex index.html index.php\n\
             \tAliasMatch ^/assets/v[0-9]+/(.*)$ /srv/site{i}/assets/$1\n\
             \tMaxKeepAliveRequests 200\n\
             \tLimitRequestBody 1048576\n\
             \tServerAlias cdn.site{i}.example.com\n"
        ));
    }
    s.push_str("</VirtualHost>\n");
    s
}

/// Lines that are a directive or open a section (what "directives" counts).
fn count_directives(text: &str) -> usize {
    let mut n = 0;
    let mut continued = false;
    for line in text.lines() {
        let t = line.trim();
        let starts_new = !continued;
        continued = t.ends_with('\\');
        if starts_new && !t.is_empty() && !t.starts_with('#') && !t.starts_with("</") {
            n += 1;
        }
    }
    n
}

fn generate() -> Tree {
    let mut files: Vec<(String, String)> = vec![
        (MAIN.to_string(), main_file()),
        (
            "/etc/apache2/ports.conf".to_string(),
            "Listen 80\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n".to_string(),
        ),
    ];
    for (k, m) in MODULES.iter().enumerate() {
        files.push((
            format!("/etc/apache2/mods-enabled/{m}.load"),
            format!("LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"),
        ));
        if k < MODULE_CONFS {
            files.push((
                format!("/etc/apache2/mods-enabled/{m}.conf"),
                module_conf(m),
            ));
        }
    }
    for i in 0..SITES {
        files.push((
            format!("/etc/apache2/sites-enabled/{i:03}-site{i}.conf"),
            site(i),
        ));
    }
    let directives = files.iter().map(|(_, t)| count_directives(t)).sum();
    let count = files.len();
    let bytes = files.iter().map(|(_, t)| t.len()).sum();
    let fs = files
        .into_iter()
        .fold(MemFs::new(), |fs, (path, text)| fs.with(path, text));
    Tree {
        fs,
        directives,
        files: count,
        bytes,
    }
}

static TREE: LazyLock<Tree> = LazyLock::new(generate);

fn options() -> ParseOptions {
    ParseOptions {
        server_root: Some("/etc/apache2".into()),
        env: BTreeMap::from(
            [
                ("APACHE_RUN_DIR", "/var/run/apache2"),
                ("APACHE_PID_FILE", "/var/run/apache2/apache2.pid"),
                ("APACHE_RUN_USER", "www-data"),
                ("APACHE_RUN_GROUP", "www-data"),
                ("APACHE_LOG_DIR", "/var/log/apache2"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        ),
        ..ParseOptions::default()
    }
}

fn parse(tree: &Tree, opts: &ParseOptions) -> ParsedConfig {
    parse_file(Path::new(MAIN), &tree.fs, opts)
}

fn count_nodes(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .map(|n| match n {
            Node::Directive(_) => 1,
            Node::Section(s) => 1 + count_nodes(&s.children),
        })
        .sum()
}

#[divan::bench]
fn parse_only(bencher: Bencher<'_, '_>) {
    let tree = &*TREE;
    let opts = options();
    bencher.bench(|| parse(tree, &opts));
}

#[divan::bench]
fn resolve_only(bencher: Bencher<'_, '_>) {
    let parsed = parse(&TREE, &options());
    let ropts = ResolveOptions::default();
    bencher.bench(|| resolve(&parsed, &ropts));
}

#[divan::bench]
fn parse_and_resolve(bencher: Bencher<'_, '_>) {
    let tree = &*TREE;
    let opts = options();
    let ropts = ResolveOptions::default();
    bencher.bench(|| resolve(&parse(tree, &opts), &ropts));
}

// The size check runs once, before timing; its numbers go to stderr so
// docs/benchmarks.md can quote them.
#[allow(clippy::print_stderr)]
fn main() {
    let tree = &*TREE;
    let parsed = parse(tree, &options());
    let resolved = resolve(&parsed, &ResolveOptions::default());
    let nodes = count_nodes(&parsed.nodes);
    eprintln!(
        "generated tree: {} files, {} bytes, {} directives as written, {} nodes after parsing, {} virtual hosts, {} unmodelled directive names, {} diagnostics",
        tree.files,
        tree.bytes,
        tree.directives,
        nodes,
        resolved.config.vhosts.len(),
        resolved.config.unknown_directives.len(),
        resolved.diagnostics.len()
    );
    assert!(
        (4_750..=5_250).contains(&tree.directives),
        "the tree should hold about 5,000 directives, not {}",
        tree.directives
    );
    assert_eq!(resolved.config.vhosts.len(), SITES);
    assert_eq!(parsed.sources.len(), tree.files);
    divan::main();
}
