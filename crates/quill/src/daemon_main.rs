//! `quill-daemon --spec FILE`: one daemon process of a WSGI process group
//! (embedded CPython, `quill_daemon::daemon`), started by the supervisor of
//! `quill serve` / `quill express`, never by hand.
//!
//! A binary of its own so that only daemon processes map libpython: the
//! supervisor and front end (`quill`) do not link it at all.

// Usage errors go to stderr: there is nowhere else.
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;

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
        ([flag, spec], _) if flag == "--spec" => run(spec),
        ([], Some(spec)) => run(&spec),
        _ => {
            eprintln!(
                "usage: quill-daemon --spec FILE\n(a daemon process of a WSGI group; `quill serve` and `quill express` start it)"
            );
            ExitCode::from(2)
        }
    }
}
