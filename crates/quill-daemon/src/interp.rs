//! Starting CPython with the interpreter the user chose.
//!
//! The paths are not computed by libpython (which may be another build
//! than the user's, see `quill_protocol::python`): they are the values the
//! chosen interpreter reported, set as PyConfig "output" fields, which
//! CPython then keeps as they are.

// The embedding API is C: PyConfig is filled field by field.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::ptr;

use pyo3::ffi;
use quill_protocol::spec::PythonInfo;

fn wide(s: &str) -> Vec<libc::wchar_t> {
    // On Linux wchar_t is UTF-32.
    s.chars()
        .map(|c| c as libc::wchar_t)
        .chain(std::iter::once(0))
        .collect()
}

fn check(status: ffi::PyStatus, what: &str) -> Result<(), String> {
    // SAFETY: PyStatus_Exception only reads the struct it is given.
    if unsafe { ffi::PyStatus_Exception(status) } == 0 {
        return Ok(());
    }
    let msg = if status.err_msg.is_null() {
        "unknown error".to_string()
    } else {
        // SAFETY: a non-null err_msg is a static NUL-terminated C string.
        unsafe { CStr::from_ptr(status.err_msg) }
            .to_string_lossy()
            .into_owned()
    };
    Err(format!("{what}: {msg}"))
}

/// Initialises the main interpreter of this process from `info` and
/// releases the GIL. Call once, from the main thread, before any other
/// thread uses Python.
pub fn initialize(info: &PythonInfo) -> Result<(), String> {
    let mut config = MaybeUninit::<ffi::PyConfig>::zeroed();
    let cfg = config.as_mut_ptr();
    // SAFETY: `cfg` points to zeroed storage that PyConfig_InitPythonConfig
    // fills; every later call gets that same initialised config, and the
    // strings passed are NUL-terminated and outlive the call (CPython
    // copies them).
    unsafe {
        ffi::PyConfig_InitPythonConfig(cfg);
        (*cfg).install_signal_handlers = 0;
        (*cfg).parse_argv = 0;
        let fields: [(*mut *mut libc::wchar_t, &str); 6] = [
            (ptr::addr_of_mut!((*cfg).executable), &info.executable),
            (
                ptr::addr_of_mut!((*cfg).base_executable),
                &info.base_executable,
            ),
            (ptr::addr_of_mut!((*cfg).prefix), &info.prefix),
            (ptr::addr_of_mut!((*cfg).exec_prefix), &info.exec_prefix),
            (ptr::addr_of_mut!((*cfg).base_prefix), &info.base_prefix),
            (
                ptr::addr_of_mut!((*cfg).base_exec_prefix),
                &info.base_exec_prefix,
            ),
        ];
        for (field, value) in fields {
            let w = wide(value);
            if let Err(e) = check(ffi::PyConfig_SetString(cfg, field, w.as_ptr()), value) {
                ffi::PyConfig_Clear(cfg);
                return Err(e);
            }
        }
        let argv0 = CString::new("quill").unwrap_or_default();
        let mut argv = [argv0.as_ptr()];
        if let Err(e) = check(
            ffi::PyConfig_SetBytesArgv(cfg, 1, argv.as_mut_ptr()),
            "argv",
        ) {
            ffi::PyConfig_Clear(cfg);
            return Err(e);
        }
        (*cfg).module_search_paths_set = 1;
        for p in &info.path {
            let w = wide(p);
            let st = ffi::PyWideStringList_Append(
                ptr::addr_of_mut!((*cfg).module_search_paths),
                w.as_ptr(),
            );
            if let Err(e) = check(st, p) {
                ffi::PyConfig_Clear(cfg);
                return Err(e);
            }
        }
        let status = ffi::Py_InitializeFromConfig(cfg);
        ffi::PyConfig_Clear(cfg);
        check(status, "Python initialisation")?;
        // The main thread holds the GIL after initialisation; workers take
        // it with Python::attach.
        ffi::PyEval_SaveThread();
    }
    Ok(())
}

/// Raises `exc` (an exception type) in the Python thread `ident` the next
/// time it runs Python code. Returns whether a thread was found.
pub fn interrupt_thread(
    _py: pyo3::Python<'_>,
    ident: u64,
    exc: &pyo3::Bound<'_, pyo3::PyAny>,
) -> bool {
    // CPython takes the `unsigned long` thread id through a C long.
    let id = ident as libc::c_long;
    // SAFETY: called with the GIL held (`_py`); `exc` is a live object.
    let n = unsafe { ffi::PyThreadState_SetAsyncExc(id, exc.as_ptr()) };
    n == 1
}

/// The version of the libpython actually loaded (major, minor), read
/// before initialisation (`Py_GetVersion` allows that).
pub fn runtime_version() -> (u32, u32) {
    // SAFETY: Py_GetVersion returns a static NUL-terminated string and may
    // be called before Py_Initialize.
    let v = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }.to_string_lossy();
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}
