//! `quill-daemon --spec FILE`: one daemon process of a WSGI process group
//! (embedded CPython, `quill_daemon::daemon`), started by the supervisor of
//! `quill serve` / `quill express`, never by hand.
//!
//! `quill-daemon __frontend --spec FILE --slot N --generation G`: a
//! front-end child that hosts Python itself (embedded mode: mounts without
//! a daemon group), the same child as `quill __frontend` plus
//! `quill_daemon::embed`.
//!
//! A binary of its own so that only processes running Python map
//! libpython: the supervisor and plain front-end children (`quill`) do not
//! link it at all.

// Usage errors go to stderr: there is nowhere else.
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;

/// mimalloc for Rust's allocations in the processes that run Python
/// (Python keeps its own allocator): embedded mode's event loop and request
/// threads and the daemons' request path allocate for less than with
/// glibc's malloc. `quill` (the supervisor and the front-end children
/// without Python) keeps glibc's, whose idle footprint is smaller
/// (docs/benchmarks.md, "Build profile and allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    // The supervisor's hand-off, read and removed before anything else
    // runs (not a setting: clippy.toml's environment ban is for code that
    // takes settings from it).
    #[allow(clippy::disallowed_methods)]
    let from_env = std::env::var_os(quill_server::spec::SPEC_ENV);
    if from_env.is_some() {
        #[allow(unsafe_code, clippy::disallowed_methods)]
        // SAFETY: nothing else runs yet (no threads, no Python): the
        // application must not inherit the variable.
        unsafe {
            std::env::remove_var(quill_server::spec::SPEC_ENV)
        };
    }
    let run = |spec: &std::ffi::OsStr| {
        ExitCode::from(u8::try_from(quill_daemon::daemon::run(Path::new(spec))).unwrap_or(1))
    };
    match (args.as_slice(), from_env) {
        ([role, rest @ ..], _) if role == quill_server::child::ROLE => frontend(rest),
        ([flag, spec], _) if flag == "--spec" => run(spec),
        ([], Some(spec)) => run(&spec),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

const USAGE: &str = "usage: quill-daemon --spec FILE\n       \
     quill-daemon __frontend --spec FILE --slot N --generation G\n\
     (a daemon process of a WSGI group, or a front-end child in embedded mode; \
     `quill serve` and `quill express` start them)";

/// A front-end child hosting Python (embedded mode).
fn frontend(args: &[std::ffi::OsString]) -> ExitCode {
    let Some((spec, slot, generation)) = quill_server::child::parse_args(args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let code = quill_server::child::run_with(&spec, slot, generation, Some(start_engine));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn start_engine(
    plan: &quill_server::plan::EmbeddedPlan,
    log: quill_server::log::ErrorLog,
) -> Result<quill_server::frontend::Engine, String> {
    let engine = quill_daemon::embed::Engine::start(plan.spec.clone(), log)?;
    Ok(std::sync::Arc::new(Embedded(engine)))
}

/// quill-daemon's Python as the front-end child uses it.
struct Embedded(quill_daemon::embed::Engine);

impl quill_server::frontend::Python for Embedded {
    fn submit(&self, link: quill_server::pipe::AppHalf) {
        self.0.submit(link);
    }

    fn exit(&self, drain: bool) {
        self.0.exit(drain);
    }
}
