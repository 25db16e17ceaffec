//! Reading a configuration from disk with the command line's options: the
//! part every subcommand that takes CONF shares.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use quill_config::build::{Build, BuildSource};
use quill_config::fs::RealFs;
use quill_config::model::MpmKind;
use quill_config::syntax::{ParseOptions, ParsedConfig, parse_file};
use quill_config::{Diagnostic, ResolveOptions, Resolved, resolve};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MpmArg {
    Prefork,
    Worker,
    Event,
}

impl From<MpmArg> for MpmKind {
    fn from(m: MpmArg) -> Self {
        match m {
            MpmArg::Prefork => MpmKind::Prefork,
            MpmArg::Worker => MpmKind::Worker,
            MpmArg::Event => MpmKind::Event,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BuildArg {
    Debian,
    Rhel,
    Upstream,
}

impl From<BuildArg> for Build {
    fn from(b: BuildArg) -> Self {
        match b {
            BuildArg::Debian => Build::Debian,
            BuildArg::Rhel => Build::Rhel,
            BuildArg::Upstream => Build::Upstream,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// Options for reading an Apache configuration.
#[derive(Debug, Clone, Args)]
pub struct ConfArgs {
    /// The main configuration file (httpd.conf, apache2.conf).
    #[arg(value_name = "CONF")]
    pub conf: PathBuf,
    /// Define a name for <IfDefine>, like `httpd -D NAME` (repeatable).
    #[arg(short = 'D', long = "define", value_name = "NAME")]
    pub defines: Vec<String>,
    /// Use this MPM whatever LoadModule says. In a Debian tree whose
    /// mods-enabled holds another MPM's mpm_*.load/.conf, the chosen MPM's
    /// own files in mods-available are read instead, as after
    /// `a2dismod`/`a2enmod`.
    #[arg(long, value_enum)]
    pub mpm: Option<MpmArg>,
    /// Whose compiled-in defaults apply (DocumentRoot, mod_wsgi's socket
    /// prefix, modules compiled in) [default: guessed from CONF: debian for
    /// apache2.conf, rhel under /etc/httpd, upstream under
    /// /usr/local/apache2, else debian].
    #[arg(long, value_enum)]
    pub build: Option<BuildArg>,
    /// Read the tree with this ServerRoot, overriding ServerRoot directives
    /// (for a tree copied from another machine) [default: the ServerRoot
    /// directive, else the directory of CONF].
    #[arg(long, value_name = "DIR")]
    pub server_root: Option<PathBuf>,
    /// Shell file of `NAME=value` lines for `${NAME}` (Debian's envvars).
    /// By default an `envvars` file beside CONF is read if there is one.
    #[arg(long, value_name = "FILE")]
    pub envvars: Option<PathBuf>,
    /// Online CPU cores assumed for ListenCoresBucketsRatio [default: this machine's].
    #[arg(long, value_name = "N")]
    pub cores: Option<u32>,
    /// Colour diagnostics.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
}

/// A configuration that could not be read at all (exit status 2).
#[derive(Debug)]
pub struct Unreadable(pub String);

pub fn load(args: &ConfArgs) -> Result<Resolved, Unreadable> {
    load_with_tree(args).map(|(_, resolved)| resolved)
}

/// [`load`], keeping the parsed tree too (findings that point at
/// directives need it).
pub fn load_with_tree(args: &ConfArgs) -> Result<(ParsedConfig, Resolved), Unreadable> {
    Ok(reader(args)?.read_tree())
}

/// How to read the configuration of `args`, again and again (`quill
/// report` reads its proposals with changed files in place).
#[derive(Debug, Clone)]
pub struct Reader {
    conf: PathBuf,
    parse: ParseOptions,
    resolve: ResolveOptions,
    /// Said once, about reading the options (envvars).
    notes: Vec<Diagnostic>,
}

impl Reader {
    /// The configuration as it is on disk, with the notes about reading it.
    pub fn read_tree(&self) -> (ParsedConfig, Resolved) {
        let (parsed, mut resolved) = self.read_with(&RealFs);
        resolved.diagnostics.extend(self.notes.clone());
        (parsed, resolved)
    }

    fn read_with(&self, fs: &dyn quill_config::fs::ConfigFs) -> (ParsedConfig, Resolved) {
        let parsed = parse_file(&self.conf, fs, &self.parse);
        let resolved = resolve(&parsed, &self.resolve);
        (parsed, resolved)
    }
}

impl quill_report::ConfigReader for Reader {
    fn read(&self, overrides: &BTreeMap<PathBuf, String>) -> (ParsedConfig, Resolved) {
        self.read_with(&Overlay { overrides })
    }
}

/// The real file system with some files' text replaced.
struct Overlay<'a> {
    overrides: &'a BTreeMap<PathBuf, String>,
}

impl quill_config::fs::ConfigFs for Overlay<'_> {
    fn read_to_string(&self, path: &Path, max_bytes: u64) -> std::io::Result<String> {
        match self.overrides.get(path) {
            Some(text) => Ok(text.clone()),
            None => RealFs.read_to_string(path, max_bytes),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        RealFs.is_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        self.overrides.contains_key(path) || RealFs.exists(path)
    }

    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        RealFs.read_dir(path)
    }
}

/// The [`Reader`] of `args`.
pub fn reader(args: &ConfArgs) -> Result<Reader, Unreadable> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let abs = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        }
    };
    let conf = abs(&args.conf);
    if !conf.is_file() {
        let why = if conf.is_dir() {
            "is a directory"
        } else {
            "does not exist"
        };
        return Err(Unreadable(format!(
            "{} {why}; give the path of httpd.conf or apache2.conf",
            conf.display()
        )));
    }
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    let mut notes = Vec::new();
    let envvars = args.envvars.clone().map(|p| abs(&p)).or_else(|| {
        let beside = conf.parent()?.join("envvars");
        beside.is_file().then_some(beside)
    });
    if let Some(path) = envvars {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let vars = quill_config::envvars::parse_envvars(&text, &env);
                if args.envvars.is_none() {
                    notes.push(Diagnostic::note(
                        "config/envvars",
                        format!(
                            "read {} variable(s) from {} (like apache2ctl does)",
                            vars.len(),
                            path.display()
                        ),
                    ));
                }
                env.extend(vars);
            }
            Err(e) => {
                return Err(Unreadable(format!(
                    "cannot read envvars file {}: {e}",
                    path.display()
                )));
            }
        }
    }
    let (build, build_source) = match args.build {
        Some(b) => (b.into(), BuildSource::CommandLine),
        None => (Build::guess(&conf), BuildSource::Guessed),
    };
    let opts = ParseOptions {
        server_root: args.server_root.as_deref().map(abs),
        defines: args.defines.clone(),
        env,
        static_modules: Some(
            build
                .static_modules()
                .iter()
                .map(|(sym, file)| ((*sym).to_string(), (*file).to_string()))
                .collect(),
        ),
        mpm: args.mpm.map(|m| MpmKind::from(m).name().to_string()),
        ..ParseOptions::default()
    };
    let cores = args.cores.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
    });
    let ropts = ResolveOptions {
        mpm_override: args.mpm.map(Into::into),
        online_cores: cores,
        build,
        build_source,
    };
    Ok(Reader {
        conf,
        parse: opts,
        resolve: ropts,
        notes,
    })
}

pub fn use_color(c: ColorArg) -> bool {
    match c {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// The configuration's errors, rendered with their sources; `None` when
/// it has none.
pub fn rendered_errors(resolved: &Resolved) -> Option<String> {
    if !resolved.diagnostics.has_errors() {
        return None;
    }
    let errors: Vec<_> = resolved
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    Some(quill_config::diag::render_plain(&errors, &resolved.sources))
}
