//! Quill against the real httpd, on real trees.
//!
//! `tests/data/httpd/debian/` holds copies of Debian 12's `/etc/apache2`
//! (stock, each MPM, ssl+wsgi+default-ssl, a Django site) with what the real
//! `apache2` said about each (`-t`, `-S`, `-M`, `-D DUMP_RUN_CFG`,
//! `-D DUMP_INCLUDES`), and the `-t` verdicts of broken edits; `record.sh`
//! there re-records them. Each test reads a tree as `quill config` would
//! (envvars beside apache2.conf, ServerRoot the tree) and compares.
//!
//! `tests/data/httpd/rhel/` holds RHEL 9's `/etc/httpd` put together from
//! its packaging (the same variants), read by the same Debian `apache2`
//! (there is no RHEL binary to record from; its README says which answers
//! are therefore Debian's build): the same comparisons run over them, with
//! `conf/httpd.conf` the main file and no envvars.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use quill_config::build::Build;
use quill_config::fs::{ConfigFs, RealFs};
use quill_config::model::MpmKind;
use quill_config::syntax::{ParseOptions, parse_file};
use quill_config::{Diagnostic, ResolveOptions, Resolved, resolve};

const VARIANTS: &[&str] = &["stock", "worker", "prefork", "ssl-wsgi", "django"];

/// A set of recorded trees.
#[derive(Clone, Copy)]
struct Distro {
    /// Under tests/data/httpd.
    dir: &'static str,
    /// The main file, relative to the tree.
    main: &'static str,
    /// Whether the tree has Debian's `envvars` beside the main file.
    envvars: bool,
}

const DEBIAN: Distro = Distro {
    dir: "debian",
    main: "apache2.conf",
    envvars: true,
};

const RHEL: Distro = Distro {
    dir: "rhel",
    main: "conf/httpd.conf",
    envvars: false,
};

const DISTROS: &[Distro] = &[DEBIAN, RHEL];

fn data_of(d: Distro) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/httpd")
        .join(d.dir)
}

fn tree_of(d: Distro, variant: &str) -> PathBuf {
    data_of(d)
        .join(variant)
        .join("tree")
        .canonicalize()
        .expect("recorded tree exists")
}

/// Every recorded tree.
fn cases() -> impl Iterator<Item = (Distro, &'static str)> {
    DISTROS
        .iter()
        .flat_map(|&d| VARIANTS.iter().map(move |&v| (d, v)))
}

/// The real file system with some files replaced (a broken edit).
struct Overlay(BTreeMap<PathBuf, String>);

impl ConfigFs for Overlay {
    fn read_to_string(&self, path: &Path, max_bytes: u64) -> io::Result<String> {
        match self.0.get(path) {
            Some(text) => Ok(text.clone()),
            None => RealFs.read_to_string(path, max_bytes),
        }
    }
    fn is_dir(&self, path: &Path) -> bool {
        RealFs.is_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.0.contains_key(path) || RealFs.exists(path)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        RealFs.read_dir(path)
    }
}

/// What `quill config TREE/apache2.conf` reads.
fn quill(d: Distro, variant: &str, fs: &dyn ConfigFs) -> Resolved {
    quill_with_mpm(d, variant, fs, None)
}

/// … with `--mpm`.
fn quill_with_mpm(d: Distro, variant: &str, fs: &dyn ConfigFs, mpm: Option<MpmKind>) -> Resolved {
    let root = tree_of(d, variant);
    let env = if d.envvars {
        let envvars = std::fs::read_to_string(root.join("envvars")).expect("envvars");
        quill_config::envvars::parse_envvars(&envvars, &BTreeMap::new())
    } else {
        BTreeMap::new()
    };
    let opts = ParseOptions {
        server_root: Some(root.clone()),
        env,
        mpm: mpm.map(|m| m.name().to_string()),
        ..ParseOptions::default()
    };
    let parsed = parse_file(&root.join(d.main), fs, &opts);
    let ropts = ResolveOptions {
        mpm_override: mpm,
        ..ResolveOptions::default()
    };
    resolve(&parsed, &ropts)
}

/// A recorded output: its lines (tree paths as `@TREE@`) and exit status.
fn recorded(path: &Path) -> (Vec<String>, i32) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let last = lines.pop().unwrap_or_default();
    let code = last
        .strip_prefix("exit ")
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{}: no exit status", path.display()));
    (lines, code)
}

fn untree(d: Distro, text: &str, variant: &str) -> String {
    text.replace(&tree_of(d, variant).display().to_string(), "@TREE@")
}

fn start_up_errors(r: &Resolved) -> Vec<&Diagnostic> {
    r.diagnostics
        .iter()
        .filter(|d| d.is_start_up_error())
        .collect()
}

fn render(r: &Resolved) -> String {
    quill_config::diag::render_plain(&r.diagnostics.clone().into_vec(), &r.sources)
}

#[test]
fn stock_trees_are_accepted_as_httpd_accepts_them() {
    for (d, v) in cases() {
        let (_, code) = recorded(&data_of(d).join(v).join("httpd/t.txt"));
        assert_eq!(code, 0, "{v}: the recording says httpd refused it");
        let r = quill(d, v, &RealFs);
        let errors = start_up_errors(&r);
        assert!(errors.is_empty(), "{v}:\n{}", render(&r));
        let warnings: Vec<_> = r
            .diagnostics
            .iter()
            .filter(|d| d.severity == quill_config::Severity::Warning)
            .collect();
        assert!(
            warnings.is_empty(),
            "{v}: a stock tree has nothing to warn about:\n{}",
            render(&r)
        );
    }
}

#[test]
fn the_same_modules_as_httpd_m() {
    for (d, v) in cases() {
        let (lines, _) = recorded(&data_of(d).join(v).join("httpd/M.txt"));
        let httpd: BTreeSet<String> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(' '))
            .filter_map(|l| l.split_once(' ').map(|(m, _)| m.to_string()))
            .collect();
        let r = quill(d, v, &RealFs);
        let mut ours: BTreeSet<String> = r.config.modules.iter().cloned().collect();
        ours.extend(
            quill_config::syntax::parser::DEBIAN_STATIC_MODULES
                .iter()
                .map(|(m, _)| m.to_string()),
        );
        assert_eq!(ours, httpd, "{v}");
    }
}

#[test]
fn the_same_files_in_the_same_order_as_dump_includes() {
    for (d, v) in cases() {
        let (lines, _) = recorded(&data_of(d).join(v).join("httpd/DUMP_INCLUDES.txt"));
        let httpd: Vec<&str> = lines
            .iter()
            .filter(|l| l.trim_start().starts_with('('))
            .filter_map(|l| l.split_once(") ").map(|(_, p)| p))
            .collect();
        let r = quill(d, v, &RealFs);
        let ours: Vec<String> = r
            .config
            .files
            .iter()
            .map(|f| untree(d, &f.display().to_string(), v))
            .collect();
        assert_eq!(ours, httpd, "{v}");
    }
}

/// `Key: "value"` lines of DUMP_RUN_CFG.
fn run_cfg(d: Distro, v: &str) -> BTreeMap<String, String> {
    let (lines, _) = recorded(&data_of(d).join(v).join("httpd/DUMP_RUN_CFG.txt"));
    lines
        .iter()
        .filter_map(|l| l.split_once(": \""))
        .map(|(k, val)| (k.to_string(), val.trim_end_matches('"').to_string()))
        .collect()
}

#[test]
fn the_same_server_root_document_root_and_error_log_as_dump_run_cfg() {
    for (d, v) in cases() {
        let httpd = run_cfg(d, v);
        let r = quill(d, v, &RealFs);
        assert_eq!(
            untree(d, &r.config.server_root.display().to_string(), v),
            httpd["ServerRoot"],
            "{v}"
        );
        let docroot = r
            .config
            .main_server
            .document_root
            .as_ref()
            .map(|p| p.display().to_string());
        assert_eq!(
            docroot.as_deref(),
            Some(httpd["Main DocumentRoot"].as_str()),
            "{v}: Debian's compiled-in DocumentRoot"
        );
        let error_log = r.config.main_server.error_log.as_deref().map(|l| {
            if l.starts_with('/') {
                l.to_string()
            } else {
                untree(d, &r.config.server_root.join(l).display().to_string(), v)
            }
        });
        assert_eq!(
            error_log.as_deref(),
            Some(httpd["Main ErrorLog"].as_str()),
            "{v}"
        );
    }
}

/// The virtual hosts of `-S`: (address, name, location), from
/// `ADDR NAME (FILE:LINE)` lines for addresses with one virtual host and,
/// for an address with several (`ADDR is a NameVirtualHost`), from its
/// `port N namevhost NAME (FILE:LINE)` lines (its `default server` line
/// repeats the first of them).
fn vhost_lines(d: Distro, v: &str) -> Vec<(String, String, String)> {
    let (lines, _) = recorded(&data_of(d).join(v).join("httpd/S.txt"));
    let mut out = Vec::new();
    let mut shared = String::new();
    for l in lines
        .iter()
        .skip_while(|l| !l.starts_with("VirtualHost configuration:"))
        .skip(1)
        .take_while(|l| !l.starts_with("ServerRoot:"))
    {
        let split = |rest: &str| -> Option<(String, String)> {
            let (name, at) = rest.trim_start().rsplit_once(" (")?;
            Some((name.to_string(), at.trim_end_matches(')').to_string()))
        };
        if let Some(addr) = l.strip_suffix(" is a NameVirtualHost") {
            shared = addr.trim_end().to_string();
        } else if l.starts_with(' ') {
            let l = l.trim_start();
            if let Some((_, rest)) = l.split_once(" namevhost ") {
                if let Some((name, at)) = split(rest) {
                    out.push((shared.clone(), name, at));
                }
            }
        } else if let Some((addr, rest)) = l.split_once(' ') {
            if let Some((name, at)) = split(rest) {
                out.push((addr.to_string(), name, at));
            }
        }
    }
    out
}

#[test]
fn the_same_virtual_hosts_as_httpd_s() {
    for (d, v) in cases() {
        let httpd = vhost_lines(d, v);
        let r = quill(d, v, &RealFs);
        let ours: Vec<(String, String, String)> = r
            .config
            .vhosts
            .iter()
            .flat_map(|vh| {
                vh.addresses.iter().map(move |a| {
                    let addr = format!(
                        "{}:{}",
                        a.address.as_deref().unwrap_or("*"),
                        a.port.map_or("*".to_string(), |p| p.to_string())
                    );
                    (
                        addr,
                        // Without a ServerName httpd shows the name it
                        // guessed for the machine; Quill has none to show.
                        vh.server
                            .server_name
                            .clone()
                            .unwrap_or_else(|| "(guessed)".into()),
                        untree(d, &format!("{}:{}", vh.at.file.display(), vh.at.line), v),
                    )
                })
            })
            .collect();
        let httpd: Vec<_> = httpd
            .into_iter()
            .zip(&ours)
            .map(|((addr, name, at), (_, our_name, _))| {
                let name = if our_name == "(guessed)" {
                    our_name.clone()
                } else {
                    name
                };
                (addr, name, at)
            })
            .collect();
        assert_eq!(ours, httpd, "{v}");
    }
}

/// One broken edit of edits.tsv and httpd's verdict on it.
struct Edit {
    name: String,
    variant: String,
    file: String,
    line: String,
}

fn edits(d: Distro) -> Vec<Edit> {
    let text = std::fs::read_to_string(data_of(d).join("edits.tsv")).expect("edits.tsv");
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, '\t').collect();
            Edit {
                name: f[0].to_string(),
                variant: f[1].to_string(),
                file: f[2].to_string(),
                line: f[3].replace("\\n", "\n"),
            }
        })
        .collect()
}

/// httpd's complaint: the file, the line and the message of a
/// "Syntax error on line N of FILE" report.
fn httpd_error(lines: &[String]) -> Option<(String, usize, String)> {
    for (i, l) in lines.iter().enumerate() {
        let Some((_, rest)) = l.split_once("Syntax error on line ") else {
            continue;
        };
        let (mut n, rest) = rest.split_once(" of ")?;
        let (mut file, mut msg) = rest.split_once(':')?;
        // An error in an included file read early (LoadModule, Include)
        // comes back through each Include: the innermost names it.
        while let Some(inner) = msg.trim_start().strip_prefix("Syntax error on line ") {
            let Some((n2, rest)) = inner.split_once(" of ") else {
                break;
            };
            let Some((file2, msg2)) = rest.split_once(':') else {
                break;
            };
            (n, file, msg) = (n2, file2, msg2);
        }
        let msg = msg.trim();
        let msg = if msg.is_empty() {
            lines.get(i + 1)?.clone()
        } else {
            msg.to_string()
        };
        return Some((file.to_string(), n.parse().ok()?, msg));
    }
    None
}

/// httpd's complaint when it names no line: the message of its last line
/// (`AH00534: apache2: Configuration error: More than one MPM loaded.`
/// gives `Configuration error: More than one MPM loaded.`).
/// AH00534 wraps the MPM's complaint as "%s: Configuration error: %s";
/// the complaint is what Quill quotes.
fn httpd_fatal(lines: &[String]) -> Option<String> {
    let last = lines.last()?;
    let (_, rest) = last.split_once("apache2: ")?;
    Some(
        rest.strip_prefix("Configuration error: ")
            .unwrap_or(rest)
            .to_string(),
    )
}

/// Where Quill does not give httpd's verdict on a broken edit: (distro,
/// edit). Each is asserted still to differ, so that one mended is taken
/// off the list.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    // UserDir is a directive Quill does not model, and it checks the
    // context only of those it does: httpd refuses it in <Directory>.
    ("rhel", "userdir-in-directory"),
    // httpd checks that SSLCertificateFile names a non-empty file while
    // reading; Quill does not look at the file.
    ("rhel", "ssl-certificate-missing"),
    // httpd looks User up in the password database while reading
    // (AH00543 bad user name); Quill does not.
    ("rhel", "user-unknown"),
    // httpd loads the module's file while reading; Quill does not look
    // for modules' files (the recording machine has Debian's, which have
    // no mod_systemd.so).
    ("rhel", "loadmodule-systemd-missing"),
    // httpd's mod_so refuses to load a module compiled into the binary
    // ("module log_config_module is built-in and can't be loaded"); Quill
    // accepts the line. Refusing it in the parser was tried: right for the
    // build described, but then a tree whose build Quill guesses wrong
    // (examples/configs/rhel, read as Debian's) and the configuration
    // `quill express` prints stop reading, so it is left for a change of
    // its own.
    ("rhel", "loadmodule-built-in"),
];

/// What is wrong with Quill's answer to one broken edit, if anything.
fn edit_failures(d: Distro, e: &Edit) -> Vec<String> {
    let mut failures = Vec::new();
    let root = tree_of(d, &e.variant);
    let path = root.join(&e.file);
    let mut text = std::fs::read_to_string(&path).expect("edited file");
    text.push_str(&e.line);
    text.push('\n');
    let fs = Overlay(BTreeMap::from([(path, text)]));
    let r = quill(d, &e.variant, &fs);
    let (lines, code) = recorded(&data_of(d).join("edits").join(format!("{}.txt", e.name)));
    let errors = start_up_errors(&r);
    // httpd's start-up adjustments ("AH00184: WARNING: StartServers of
    // 0 not allowed, increasing to 1.") are quoted word for word.
    for warning in lines.iter().filter(|l| l.contains(": WARNING: ")) {
        let text = warning.split_once(": ").map_or("", |(_, t)| t);
        let quoted = r
            .diagnostics
            .iter()
            .any(|diag| diag.apache.as_deref() == Some(text));
        if !quoted {
            failures.push(format!(
                "{}/{}: httpd warns\n    {text}\nQuill said:\n{}",
                d.dir,
                e.name,
                untree(d, &render(&r), &e.variant)
            ));
        }
    }
    if code == 0 {
        if !errors.is_empty() {
            failures.push(format!(
                "{}/{}: httpd says Syntax OK, Quill refuses:\n{}",
                d.dir,
                e.name,
                render(&r)
            ));
        }
        return failures;
    }
    let Some((file, line, msg)) = httpd_error(&lines) else {
        // A refusal after reading (no line named): the same words.
        let Some(msg) = httpd_fatal(&lines) else {
            failures.push(format!("{}/{}: no message in the recording", d.dir, e.name));
            return failures;
        };
        let found = errors
            .iter()
            .any(|diag| diag.apache.as_deref() == Some(msg.as_str()));
        if !found {
            failures.push(format!(
                "{}/{}: httpd refuses with\n    {msg}\nQuill said:\n{}",
                d.dir,
                e.name,
                untree(d, &render(&r), &e.variant)
            ));
        }
        return failures;
    };
    let found = errors.iter().any(|diag| {
        let at = diag.span.map(|s| r.sources.location(s));
        diag.apache.as_deref().map(|a| untree(d, a, &e.variant)) == Some(msg.clone())
            && at.is_some_and(|at| {
                untree(d, &at.file.display().to_string(), &e.variant) == file
                    && at.line as usize == line
            })
    });
    if !found {
        failures.push(format!(
            "{}/{}: httpd refuses at {file}:{line} with\n    {msg}\nQuill said:\n{}",
            d.dir,
            e.name,
            untree(d, &render(&r), &e.variant)
        ));
    }
    failures
}

#[test]
fn broken_edits_get_httpds_verdict_and_message() {
    let mut failures = Vec::new();
    let mut mended = Vec::new();
    for &d in DISTROS {
        for e in edits(d) {
            let wrong = edit_failures(d, &e);
            if KNOWN_DIFFERENCES.contains(&(d.dir, e.name.as_str())) {
                if wrong.is_empty() {
                    mended.push(format!("{}/{}", d.dir, e.name));
                }
            } else {
                failures.extend(wrong);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        mended.is_empty(),
        "now agree with httpd, take them off KNOWN_DIFFERENCES: {mended:?}"
    );
}

#[test]
fn mpm_on_the_stock_tree_reads_what_a2enmod_would_give() {
    for (variant, mpm) in [("worker", MpmKind::Worker), ("prefork", MpmKind::Prefork)] {
        let d = DEBIAN;
        let swapped = quill_with_mpm(d, "stock", &RealFs, Some(mpm));
        let real = quill(d, variant, &RealFs);
        assert_eq!(swapped.config.mpm.mpm, real.config.mpm.mpm, "{variant}");
        let mut a = swapped.config.mpm.clone();
        let mut b = real.config.mpm.clone();
        // Only how the MPM was chosen differs.
        a.selected_by = b.selected_by;
        b.mpm = a.mpm;
        assert_eq!(
            a, b,
            "{variant}: settings read from the chosen MPM's own conf"
        );
        let files = |r: &Resolved, v: &str| -> Vec<String> {
            r.config
                .files
                .iter()
                .map(|f| {
                    untree(d, &f.display().to_string(), v).replace("mods-available", "mods-enabled")
                })
                .collect()
        };
        assert_eq!(files(&swapped, "stock"), files(&real, variant), "{variant}");
        assert!(
            swapped
                .diagnostics
                .iter()
                .any(|d| d.code == "config/mpm-files-swapped"),
            "{variant}: says so"
        );
        assert!(start_up_errors(&swapped).is_empty(), "{}", render(&swapped));
    }
}

/// The RHEL stock tree as RHEL's packages install it: the lines record.sh
/// commented out for Debian's binary (`#[recording] `) restored, except
/// ServerRoot (the tree stands for /etc/httpd).
fn rhel_as_packaged() -> Overlay {
    let root = tree_of(RHEL, "stock");
    let mut files = BTreeMap::new();
    for f in [
        "conf.modules.d/00-base.conf",
        "conf.modules.d/00-systemd.conf",
    ] {
        let path = root.join(f);
        let text = std::fs::read_to_string(&path).expect("tree file");
        assert!(text.contains("#[recording] LoadModule "), "{f}");
        files.insert(
            path,
            text.replace("#[recording] LoadModule ", "LoadModule "),
        );
    }
    Overlay(files)
}

fn quill_rhel_build(fs: &dyn ConfigFs, build: Build) -> Resolved {
    let root = tree_of(RHEL, "stock");
    let opts = ParseOptions {
        server_root: Some(root.clone()),
        static_modules: Some(
            build
                .static_modules()
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        ),
        ..ParseOptions::default()
    };
    let parsed = parse_file(&root.join(RHEL.main), fs, &opts);
    resolve(
        &parsed,
        &ResolveOptions {
            build,
            ..ResolveOptions::default()
        },
    )
}

/// Not recorded (no RHEL binary): what follows from the recording and
/// RHEL's packaging. With RHEL's built-in modules the packaged tree reads
/// without error and loads what Debian's apache2 listed for the adapted
/// tree, plus mod_systemd. (Under Debian's built-in modules httpd refuses
/// the five LoadModule lines record.sh comments out, edit
/// loadmodule-built-in; Quill does not, see KNOWN_DIFFERENCES.)
#[test]
fn rhel_packaged_tree_under_the_rhel_build() {
    let r = quill_rhel_build(&rhel_as_packaged(), Build::Rhel);
    assert!(start_up_errors(&r).is_empty(), "{}", render(&r));
    let (lines, _) = recorded(&data_of(RHEL).join("stock/httpd/M.txt"));
    let mut expected: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix(' '))
        .filter_map(|l| l.split_once(' ').map(|(m, _)| m.to_string()))
        .collect();
    expected.insert("systemd_module".into());
    let mut ours: BTreeSet<String> = r.config.modules.iter().cloned().collect();
    ours.extend(
        Build::Rhel
            .static_modules()
            .iter()
            .map(|(m, _)| m.to_string()),
    );
    assert_eq!(ours, expected);
}

/// `--build rhel`'s compiled-in defaults against RHEL 9's packaging
/// (pristine/rhel9/specs): the Fedora layout of config.layout, which
/// httpd.spec configures with, and its shared modules and MPMs.
#[test]
fn rhel_build_defaults_follow_rhels_packaging() {
    let specs = data_of(RHEL).join("pristine/rhel9/specs");
    let layout = std::fs::read_to_string(specs.join("config.layout")).expect("config.layout");
    let spec = std::fs::read_to_string(specs.join("httpd.spec")).expect("httpd.spec");
    assert!(spec.contains("--enable-layout=Fedora"));
    let body = layout
        .split("<Layout Fedora>")
        .nth(1)
        .and_then(|b| b.split("</Layout>").next())
        .expect("Fedora layout");
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for line in body.lines() {
        let Some((k, v)) = line.trim().split_once(':') else {
            continue;
        };
        let mut v = v.trim().to_string();
        for (name, value) in &vars {
            v = v.replace(&format!("${{{name}}}"), value);
        }
        vars.insert(k.trim().to_string(), v);
    }
    // DOCUMENT_LOCATION is the layout's htdocsdir.
    assert_eq!(Build::Rhel.document_root(), vars["htdocsdir"]);
    // DEFAULT_REL_RUNTIMEDIR is runtimedir relative to prefix (configure
    // strips the prefix); mod_wsgi's socket prefix is it plus "/wsgi".
    let rel = vars["runtimedir"]
        .strip_prefix(&format!("{}/", vars["prefix"]))
        .expect("runtimedir under prefix");
    assert_eq!(Build::Rhel.wsgi_socket_prefix(), format!("{rel}/wsgi"));
    // Every module and MPM shared: only core, mod_so and http_core are
    // built in (what `httpd -l` lists on RHEL).
    assert!(spec.contains("--enable-mods-shared=all"));
    assert!(spec.contains("--enable-mpms-shared=all"));
    let statics: Vec<&str> = Build::Rhel
        .static_modules()
        .iter()
        .map(|(_, f)| *f)
        .collect();
    assert_eq!(statics, ["core.c", "mod_so.c", "http_core.c"]);
}
