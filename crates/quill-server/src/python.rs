//! Choosing the interpreter of a daemon group and asking it about itself.
//!
//! The daemon (`quill-daemon`, the only binary that links libpython)
//! embeds CPython through the libpython it was linked against, but the
//! dynamic loader may resolve that to another build (on
//! Debian, `/usr/lib/x86_64-linux-gnu/libpython3.11.so` instead of the
//! pyenv one used at build time). So the supervisor runs the interpreter
//! the user chose once, records what *it* reports (`sys.executable`,
//! prefixes, `sys.path`, LIBDIR), and the daemon initialises Python with
//! exactly those values, exec'd with LIBDIR first in `LD_LIBRARY_PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::spec::PythonInfo;

const PROBE: &str = r#"
import json, sys, sysconfig
print(json.dumps({
    "executable": sys.executable,
    "base_executable": getattr(sys, "_base_executable", sys.executable),
    "prefix": sys.prefix, "exec_prefix": sys.exec_prefix,
    "base_prefix": sys.base_prefix, "base_exec_prefix": sys.base_exec_prefix,
    "path": [p for p in sys.path[1:]],
    "version": list(sys.version_info[:3]),
    "libdir": sysconfig.get_config_var("LIBDIR"),
}))
"#;

#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    #[error("python-home {0}: no bin/python3 or bin/python in it")]
    NoInterpreter(PathBuf),
    #[error("cannot run {0}: {1}")]
    Run(String, std::io::Error),
    #[error("{0} failed: {1}")]
    Failed(String, String),
    #[error("{0} printed something that is not its description: {1}")]
    Parse(String, serde_json::Error),
    #[error(
        "{exe} is Python {found}, but this quill was built for Python {built}; \
         point python-home at a {built} interpreter or virtualenv"
    )]
    Version {
        exe: String,
        found: String,
        built: String,
    },
}

/// The Python major.minor of the libpython that `quill-daemon` links (the
/// soname `libpython3.X.so` fixes it, whichever build the loader picks).
pub fn libpython_version() -> (u32, u32) {
    let v = env!("QUILL_LIBPYTHON_VERSION");
    let mut parts = v.split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The interpreter to run: `python-home/bin/python3` when a home is given,
/// else `python3` as found on `PATH`.
pub fn interpreter(python_home: Option<&Path>) -> Result<PathBuf, PythonError> {
    match python_home {
        Some(home) => ["python3", "python"]
            .iter()
            .map(|n| home.join("bin").join(n))
            .find(|p| p.exists())
            .ok_or_else(|| PythonError::NoInterpreter(home.to_path_buf())),
        None => Ok(PathBuf::from("python3")),
    }
}

/// Runs `exe` once and returns what it reports about itself; checks that
/// its major.minor is `built` (the version the binary was linked against).
pub fn probe(exe: &Path, built: (u32, u32)) -> Result<PythonInfo, PythonError> {
    let name = exe.display().to_string();
    let out = Command::new(exe)
        .args(["-c", PROBE])
        .output()
        .map_err(|e| PythonError::Run(name.clone(), e))?;
    if !out.status.success() {
        return Err(PythonError::Failed(
            name,
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    let info: PythonInfo =
        serde_json::from_slice(&out.stdout).map_err(|e| PythonError::Parse(name.clone(), e))?;
    if (info.version.0, info.version.1) != built {
        return Err(PythonError::Version {
            exe: info.executable.clone(),
            found: format!("{}.{}.{}", info.version.0, info.version.1, info.version.2),
            built: format!("{}.{}", built.0, built.1),
        });
    }
    Ok(info)
}
