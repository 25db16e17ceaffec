//! Application groups other than `%{GLOBAL}`: one CPython sub-interpreter
//! each, created in the daemon process on first use (or at start for a
//! preloaded script), as mod_wsgi does.
//!
//! ```text
//!  worker thread (holds the GIL with its main-interpreter thread state, via PyO3)
//!    └─ request for group "site-a" ─ swap to this thread's state in "site-a"
//!         ├─ environ's CGI items: a dict built with the C API
//!         ├─ _quill_bridge.handle(...)   (subbridge.py: PEP 3333 in Python)
//!         │     └─ _quill_native.read / start / send / …  (below: bytes only)
//!         └─ swap back; end or fail the response as the main path does
//! ```
//!
//! Why not PyO3: its `#[pyclass]` types and modules belong to the first
//! interpreter that uses them and refuse (or break in) a second one, and
//! `Python::attach` goes through `PyGILState_*`, which only knows one
//! thread state per OS thread — the main interpreter's. So inside a
//! sub-interpreter nothing of PyO3 is used: the objects an application
//! sees are Python classes (subbridge.py) and Rust offers only plain C
//! functions (`PyCFunction`s made from [`NATIVES`]) that move bytes.
//!
//! Thread states, as mod_wsgi keeps them: one per (OS thread,
//! interpreter), made once with `PyThreadState_New` and kept for the
//! thread's life ([`ThreadStates`]). CPython 3.11 has one GIL for all
//! interpreters, so a thread that holds it switches interpreters with
//! `PyThreadState_Swap` — no release, no second acquisition. Every thread
//! that enters a sub-interpreter has its main-interpreter thread state
//! first (PyO3 makes it), so `PyGILState_*` keeps finding that one.

// The embedding API is C, and PyO3 cannot be used here (see above).
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_void};
use std::ptr;
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;
use pyo3::Python;
use pyo3::ffi;
use quill_protocol::log::Level;
use quill_protocol::protocol::{Frame, RequestHead, ResponseHead};

use crate::bridge::{
    self, AppFailure, Gil, Outcome, RequestFacts, Response, ScriptCheck, SendError, Sent,
};
use crate::conn::{Body, BodyRead, Writer};

const SUPPORT: &str = include_str!("support.py");
const BRIDGE: &str = include_str!("subbridge.py");

/// Where a sub-interpreter's log lines go.
pub(crate) type LogFn = Box<dyn Fn(Level, &str) + Send + Sync>;

/// What a sub-interpreter's Python may ask of the process.
pub(crate) struct Host {
    /// `_quill_support._log(level, message)`.
    pub log: LogFn,
    /// `_quill_support._restart(reason)`.
    pub restart: Box<dyn Fn(&str) + Send + Sync>,
}

/// The arguments of `_quill_support.setup()` and `_quill_bridge.configure()`
/// in every interpreter of the process.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub group: String,
    pub threads: u32,
    pub processes: u32,
    pub home: Option<String>,
    pub python_path: Vec<String>,
    pub multithread: bool,
    pub multiprocess: bool,
    pub run_once: bool,
}

/// One sub-interpreter and the objects of it the Rust side calls.
///
/// The pointers are strong references owned for the life of the process
/// (sub-interpreters are never ended: at exit their `atexit` functions
/// run, as the main interpreter's do, and the process ends).
pub(crate) struct SubInterp {
    pub name: String,
    interp: *mut ffi::PyInterpreterState,
    support: *mut ffi::PyObject,
    handle: *mut ffi::PyObject,
    noop: *mut ffi::PyObject,
    timeout_exc: *mut ffi::PyObject,
}

// SAFETY: the pointers are only dereferenced by a thread that holds the
// GIL with a thread state of this interpreter current (an `Entered`).
unsafe impl Send for SubInterp {}
// SAFETY: as above; nothing in it is mutated after creation.
unsafe impl Sync for SubInterp {}

impl std::fmt::Debug for SubInterp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubInterp")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The sub-interpreters of this process, by application group name.
pub(crate) struct Interpreters {
    /// `None`: being created by some thread (wait on `created`).
    table: Mutex<HashMap<String, Option<Arc<SubInterp>>>>,
    created: Condvar,
    host: Arc<Host>,
    setup: Setup,
}

impl std::fmt::Debug for Interpreters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreters").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Interpreters {
    pub fn new(host: Host, setup: Setup) -> Interpreters {
        Interpreters {
            table: Mutex::new(HashMap::new()),
            created: Condvar::new(),
            host: Arc::new(host),
            setup,
        }
    }

    /// Whether any sub-interpreter exists in this process.
    pub fn any(&self) -> bool {
        lock(&self.table).values().any(Option::is_some)
    }

    /// The names of the sub-interpreters created so far.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.table)
            .iter()
            .filter(|(_, s)| s.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        v.sort();
        v
    }

    /// The interpreter `name`, created if `create` and it does not exist
    /// yet; with the thread state the creation left to this thread.
    ///
    /// The table lock is never held while the GIL could be released, and
    /// a thread waiting for another's creation waits without the GIL: the
    /// creator may need it (CPython switches threads while it imports).
    fn get(
        &self,
        py: Python<'_>,
        name: &str,
        create: bool,
    ) -> Result<(Arc<SubInterp>, Option<*mut ffi::PyThreadState>), String> {
        loop {
            {
                let mut t = lock(&self.table);
                match t.get(name) {
                    Some(Some(s)) => return Ok((s.clone(), None)),
                    Some(None) => {}
                    None if !create => {
                        return Err(format!("no interpreter '{name}' in this process"));
                    }
                    None => {
                        t.insert(name.to_string(), None);
                        break;
                    }
                }
            }
            py.detach(|| {
                let t = lock(&self.table);
                let _t = self
                    .created
                    .wait_while(t, |t| matches!(t.get(name), Some(None)));
            });
        }
        (self.host.log)(Level::Info, &format!("Create interpreter '{name}'."));
        // SAFETY: the GIL is held (`py`) with this thread's main-interpreter
        // thread state current.
        let made = unsafe { create_interpreter(name, &self.host, &self.setup) };
        let mut t = lock(&self.table);
        let out = match made {
            Ok((sub, ts)) => {
                let sub = Arc::new(sub);
                t.insert(name.to_string(), Some(sub.clone()));
                Ok((sub, Some(ts)))
            }
            Err(e) => {
                t.remove(name);
                Err(e)
            }
        };
        drop(t);
        self.created.notify_all();
        out
    }
}

/// This thread's states in the sub-interpreters it has entered.
#[derive(Default)]
pub(crate) struct ThreadStates(HashMap<String, (Arc<SubInterp>, *mut ffi::PyThreadState)>);

impl std::fmt::Debug for ThreadStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl ThreadStates {
    /// Makes the interpreter `name` current on this thread (creating it,
    /// when `create`, and this thread's state in it as needed) until the
    /// returned guard is dropped. Call with the GIL held and the main
    /// interpreter current (never from inside another `Entered`).
    pub fn enter(
        &mut self,
        py: Python<'_>,
        interps: &Interpreters,
        name: &str,
        create: bool,
    ) -> Result<Entered<'_>, String> {
        if !self.0.contains_key(name) {
            let (sub, made) = interps.get(py, name, create)?;
            let ts = match made {
                Some(ts) => ts,
                // SAFETY: the GIL is held; `sub.interp` is a live interpreter.
                None => unsafe { ffi::PyThreadState_New(sub.interp) },
            };
            if ts.is_null() {
                return Err(format!(
                    "cannot create a thread state in interpreter '{name}'"
                ));
            }
            self.0.insert(name.to_string(), (sub, ts));
        }
        let Some((sub, ts)) = self.0.get(name) else {
            return Err(format!("no interpreter '{name}'"));
        };
        // SAFETY: the GIL is held by this thread and `ts` is this thread's
        // state in `sub`; the guard swaps the previous state back.
        let saved = unsafe { ffi::PyThreadState_Swap(*ts) };
        Ok(Entered { sub, saved })
    }
}

/// A thread state of one interpreter for a GIL pacer thread (daemon.rs,
/// `gil_pacer`), made without waiting for the GIL: the GIL may be held for
/// long by the very thread to be paced. A pacer thread calls nothing of
/// `PyGILState_*` or PyO3, so which of its states that API would pick
/// does not matter.
pub(crate) struct PaceState(*mut ffi::PyThreadState);

impl PaceState {
    /// A state in the interpreter of application group `group` (`""`: the
    /// main interpreter); `None` if it does not exist.
    pub fn new(interps: &Interpreters, group: &str) -> Option<PaceState> {
        let interp = if group.is_empty() {
            // SAFETY: the main interpreter exists for the life of the process.
            unsafe { ffi::PyInterpreterState_Main() }
        } else {
            lock(&interps.table).get(group).cloned().flatten()?.interp
        };
        // SAFETY: PyThreadState_New does not need the GIL in 3.11; the
        // interpreter is live (sub-interpreters are never ended).
        let ts = unsafe { ffi::PyThreadState_New(interp) };
        (!ts.is_null()).then_some(PaceState(ts))
    }

    /// Takes the GIL with this state and gives it back at once: waiting
    /// for it asks the thread running in this interpreter to let go.
    /// Call on the thread that made the state, without the GIL.
    pub fn pace(&self) {
        // SAFETY: per the contract, this thread holds no GIL and the state
        // is its own; the GIL is released again before returning.
        unsafe {
            ffi::PyEval_RestoreThread(self.0);
            ffi::PyEval_SaveThread();
        }
    }
}

/// A sub-interpreter made current on this thread; dropping it makes the
/// previous thread state current again.
pub(crate) struct Entered<'a> {
    sub: &'a SubInterp,
    saved: *mut ffi::PyThreadState,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        // SAFETY: the GIL is still held by this thread (natives release it
        // only around blocking waits, and restore it before returning).
        unsafe {
            ffi::PyThreadState_Swap(self.saved);
        }
    }
}

/// Holding the GIL inside a sub-interpreter: released around blocking
/// waits with the raw thread-state calls. (Not PyO3's `detach`: when it
/// takes the GIL back it may release references PyO3 deferred, which
/// belong to the main interpreter, while this one is current.)
struct RawGil;

impl Gil for RawGil {
    fn release<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        // SAFETY: RawGil is only used by a thread that holds the GIL (in a
        // native function or an `Entered`); the state saved is restored
        // before returning.
        let ts = unsafe { ffi::PyEval_SaveThread() };
        let r = f();
        // SAFETY: `ts` is the state PyEval_SaveThread returned above.
        unsafe { ffi::PyEval_RestoreThread(ts) };
        r
    }
}

/// An owned reference, released at drop. Only ever held within one
/// `Entered` (or a native call), so released in its own interpreter.
struct Obj(*mut ffi::PyObject);

impl Obj {
    /// `None` when `p` is NULL (a Python exception is then set).
    fn new(p: *mut ffi::PyObject) -> Option<Obj> {
        (!p.is_null()).then_some(Obj(p))
    }

    fn as_ptr(&self) -> *mut ffi::PyObject {
        self.0
    }

    /// Gives the reference away.
    fn into_ptr(self) -> *mut ffi::PyObject {
        let p = self.0;
        std::mem::forget(self);
        p
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        // SAFETY: see the type's comment: the GIL is held, in the
        // interpreter the object belongs to.
        unsafe { ffi::Py_DECREF(self.0) }
    }
}

/// The text of a Python str, `None` for anything else.
unsafe fn text(o: *mut ffi::PyObject) -> Option<String> {
    // SAFETY: the caller holds the GIL and `o` is live.
    unsafe {
        if o.is_null() || ffi::PyUnicode_Check(o) == 0 {
            return None;
        }
        let mut len: ffi::Py_ssize_t = 0;
        let p = ffi::PyUnicode_AsUTF8AndSize(o, &mut len);
        if p.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let bytes = std::slice::from_raw_parts(p.cast::<u8>(), usize::try_from(len).ok()?);
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}

unsafe fn str_obj(s: &str) -> Option<Obj> {
    let len = ffi::Py_ssize_t::try_from(s.len()).ok()?;
    // SAFETY: the pointer and length describe `s`, valid UTF-8.
    Obj::new(unsafe { ffi::PyUnicode_FromStringAndSize(s.as_ptr().cast(), len) })
}

unsafe fn latin1_obj(b: &[u8]) -> Option<Obj> {
    let len = ffi::Py_ssize_t::try_from(b.len()).ok()?;
    // SAFETY: the pointer and length describe `b`.
    Obj::new(unsafe { ffi::PyUnicode_DecodeLatin1(b.as_ptr().cast(), len, ptr::null()) })
}

unsafe fn bytes_obj(b: &[u8]) -> *mut ffi::PyObject {
    let Ok(len) = ffi::Py_ssize_t::try_from(b.len()) else {
        return ptr::null_mut();
    };
    // SAFETY: the pointer and length describe `b`.
    unsafe { ffi::PyBytes_FromStringAndSize(b.as_ptr().cast(), len) }
}

unsafe fn u64_obj(n: u64) -> Option<Obj> {
    // SAFETY: plain constructor; the GIL is held.
    Obj::new(unsafe { ffi::PyLong_FromUnsignedLongLong(n) })
}

unsafe fn bool_obj(b: bool) -> Obj {
    // SAFETY: the GIL is held; Py_True/Py_False are immortal singletons
    // (a new reference is taken).
    unsafe {
        let p = if b { ffi::Py_True() } else { ffi::Py_False() };
        ffi::Py_INCREF(p);
        Obj(p)
    }
}

unsafe fn none() -> *mut ffi::PyObject {
    // SAFETY: the GIL is held; a new reference to None.
    unsafe {
        let p = ffi::Py_None();
        ffi::Py_INCREF(p);
        p
    }
}

/// Calls `f(*args)`.
unsafe fn call(f: *mut ffi::PyObject, args: &[&Obj]) -> Option<Obj> {
    // SAFETY: the GIL is held; PyTuple_SetItem steals the new references
    // made for it.
    unsafe {
        let n = ffi::Py_ssize_t::try_from(args.len()).ok()?;
        let t = Obj::new(ffi::PyTuple_New(n))?;
        for (i, a) in args.iter().enumerate() {
            ffi::Py_INCREF(a.as_ptr());
            ffi::PyTuple_SetItem(t.as_ptr(), i as ffi::Py_ssize_t, a.as_ptr());
        }
        Obj::new(ffi::PyObject_Call(f, t.as_ptr(), ptr::null_mut()))
    }
}

unsafe fn getattr(o: *mut ffi::PyObject, name: &CStr) -> Option<Obj> {
    // SAFETY: the GIL is held; `o` is live.
    Obj::new(unsafe { ffi::PyObject_GetAttrString(o, name.as_ptr()) })
}

/// Takes the pending Python exception, formatted with its traceback by
/// `support.format_exception` when there is one.
unsafe fn take_error(support: *mut ffi::PyObject) -> String {
    // SAFETY: the GIL is held; every reference taken is released.
    unsafe {
        let (mut t, mut v, mut tb) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        ffi::PyErr_Fetch(&mut t, &mut v, &mut tb);
        if t.is_null() {
            return "unknown error (no Python exception)".to_string();
        }
        ffi::PyErr_NormalizeException(&mut t, &mut v, &mut tb);
        if !tb.is_null() && !v.is_null() {
            ffi::PyException_SetTraceback(v, tb);
        }
        let (t, v) = (Obj(t), Obj::new(v));
        drop(Obj::new(tb));
        let formatted = match (&v, support.is_null()) {
            (Some(v), false) => getattr(support, c"format_exception")
                .and_then(|f| call(f.as_ptr(), &[v]))
                .and_then(|s| text(s.as_ptr())),
            _ => None,
        };
        if formatted.is_none() {
            ffi::PyErr_Clear();
        }
        formatted
            .or_else(|| {
                let s = Obj::new(ffi::PyObject_Str(
                    v.as_ref().map_or(t.as_ptr(), Obj::as_ptr),
                ))?;
                text(s.as_ptr())
            })
            .unwrap_or_else(|| {
                ffi::PyErr_Clear();
                "unprintable Python exception".to_string()
            })
    }
}

/// Compiles `source` and runs it as module `name` (kept in sys.modules).
unsafe fn exec_module(source: &str, file: &CStr, name: &CStr) -> Option<Obj> {
    let src = CString::new(source).ok()?;
    // SAFETY: the GIL is held; the strings are NUL-terminated.
    unsafe {
        let code = Obj::new(ffi::Py_CompileString(
            src.as_ptr(),
            file.as_ptr(),
            ffi::Py_file_input,
        ))?;
        Obj::new(ffi::PyImport_ExecCodeModule(name.as_ptr(), code.as_ptr()))
    }
}

/// Creates the interpreter `name` and loads Quill's support and bridge
/// into it. Returns with the caller's thread state current again, and
/// the new interpreter's first thread state (for this thread).
///
/// # Safety
/// The GIL is held, with a main-interpreter thread state current.
unsafe fn create_interpreter(
    name: &str,
    host: &Arc<Host>,
    setup: &Setup,
) -> Result<(SubInterp, *mut ffi::PyThreadState), String> {
    // SAFETY: per the function's contract; every path below swaps the
    // caller's state back before returning.
    unsafe {
        let saved = ffi::PyThreadState_Get();
        // CPython 3.11 ends the process if this fails (no status is
        // returned); it fails only when memory runs out.
        let ts = ffi::Py_NewInterpreter();
        if ts.is_null() {
            ffi::PyThreadState_Swap(saved);
            return Err(format!("Python could not create interpreter '{name}'"));
        }
        let made = init_interpreter(name, host, setup, ts);
        match made {
            Ok(sub) => {
                ffi::PyThreadState_Swap(saved);
                Ok((sub, ts))
            }
            Err(e) => {
                // The only thread state of a fresh interpreter: it can end.
                ffi::Py_EndInterpreter(ts);
                ffi::PyThreadState_Swap(saved);
                Err(e)
            }
        }
    }
}

/// Inside the new interpreter (its state `ts` current): `_quill_native`,
/// `_quill_support` (set up as in the main interpreter, with this
/// group's name) and `_quill_bridge`.
unsafe fn init_interpreter(
    name: &str,
    host: &Arc<Host>,
    setup: &Setup,
    ts: *mut ffi::PyThreadState,
) -> Result<SubInterp, String> {
    // SAFETY: the GIL is held with `ts` current; the references made are
    // released or kept for the life of the process (SubInterp).
    unsafe {
        let _ = ts;
        let interp = ffi::PyInterpreterState_Get();
        let fail = |what: &str, support: *mut ffi::PyObject| {
            format!(
                "cannot set up interpreter '{name}' ({what}): {}",
                take_error(support)
            )
        };
        let native =
            new_native_module(host).ok_or_else(|| fail("_quill_native", ptr::null_mut()))?;
        let modules = ffi::PyImport_GetModuleDict();
        if ffi::PyDict_SetItemString(modules, c"_quill_native".as_ptr(), native.as_ptr()) < 0 {
            return Err(fail("sys.modules", ptr::null_mut()));
        }
        let support = exec_module(SUPPORT, c"<quill support>", c"_quill_support")
            .ok_or_else(|| fail("_quill_support", ptr::null_mut()))?;
        let sp = support.as_ptr();
        for attr in [c"log", c"restart"] {
            let f = getattr(native.as_ptr(), attr).ok_or_else(|| fail("natives", sp))?;
            let target = if attr == c"log" { c"_log" } else { c"_restart" };
            if ffi::PyObject_SetAttrString(sp, target.as_ptr(), f.as_ptr()) < 0 {
                return Err(fail("natives", sp));
            }
        }
        let args = [
            str_obj(&setup.group),
            u64_obj(u64::from(setup.threads)),
            u64_obj(u64::from(setup.processes)),
            match &setup.home {
                Some(h) => str_obj(h),
                None => Some(Obj(none())),
            },
            python_list(&setup.python_path),
            str_obj(name),
        ];
        let args: Option<Vec<Obj>> = args.into_iter().collect();
        let args = args.ok_or_else(|| fail("setup arguments", sp))?;
        let refs: Vec<&Obj> = args.iter().collect();
        getattr(sp, c"setup")
            .and_then(|f| call(f.as_ptr(), &refs))
            .ok_or_else(|| fail("setup", sp))?;
        let bridge = exec_module(BRIDGE, c"<quill bridge>", c"_quill_bridge")
            .ok_or_else(|| fail("_quill_bridge", sp))?;
        let facts = [
            bool_obj(setup.multithread),
            bool_obj(setup.multiprocess),
            bool_obj(setup.run_once),
        ];
        getattr(bridge.as_ptr(), c"configure")
            .and_then(|f| call(f.as_ptr(), &[&facts[0], &facts[1], &facts[2]]))
            .ok_or_else(|| fail("configure", sp))?;
        let handle = getattr(bridge.as_ptr(), c"handle").ok_or_else(|| fail("handle", sp))?;
        let noop = getattr(bridge.as_ptr(), c"noop").ok_or_else(|| fail("noop", sp))?;
        let timeout_exc =
            getattr(sp, c"RequestTimeout").ok_or_else(|| fail("RequestTimeout", sp))?;
        Ok(SubInterp {
            name: name.to_string(),
            interp,
            support: support.into_ptr(),
            handle: handle.into_ptr(),
            noop: noop.into_ptr(),
            timeout_exc: timeout_exc.into_ptr(),
        })
    }
}

unsafe fn python_list(items: &[String]) -> Option<Obj> {
    // SAFETY: the GIL is held; PyList_Append does not steal.
    unsafe {
        let l = Obj::new(ffi::PyList_New(0))?;
        for i in items {
            let s = str_obj(i)?;
            if ffi::PyList_Append(l.as_ptr(), s.as_ptr()) < 0 {
                return None;
            }
        }
        Some(l)
    }
}

/// The per-request state behind the `io` capsule the bridge passes back
/// to the natives.
struct RequestIo {
    response: Arc<Response>,
    body: Arc<Mutex<Body>>,
}

const IO_CAPSULE: &CStr = c"quill.request";
const HOST_CAPSULE: &CStr = c"quill.host";

unsafe extern "C" fn drop_io(capsule: *mut ffi::PyObject) {
    // SAFETY: the capsule was made by `io_capsule` from a Box<RequestIo>;
    // its destructor runs once. Dropping it touches no Python object.
    unsafe {
        let p = ffi::PyCapsule_GetPointer(capsule, IO_CAPSULE.as_ptr());
        if !p.is_null() {
            drop(Box::from_raw(p.cast::<RequestIo>()));
        }
    }
}

unsafe extern "C" fn drop_host(capsule: *mut ffi::PyObject) {
    // SAFETY: made by `new_native_module` from Arc::into_raw.
    unsafe {
        let p = ffi::PyCapsule_GetPointer(capsule, HOST_CAPSULE.as_ptr());
        if !p.is_null() {
            drop(Arc::from_raw(p.cast::<Host>()));
        }
    }
}

unsafe fn io_capsule(io: RequestIo) -> Option<Obj> {
    let p = Box::into_raw(Box::new(io));
    // SAFETY: the GIL is held; on failure the box is taken back.
    unsafe {
        let c = ffi::PyCapsule_New(p.cast::<c_void>(), IO_CAPSULE.as_ptr(), Some(drop_io));
        if c.is_null() {
            drop(Box::from_raw(p));
            return None;
        }
        Some(Obj(c))
    }
}

/// The `RequestIo` of an `io` argument, or a TypeError set.
unsafe fn io_of<'a>(o: *mut ffi::PyObject) -> Option<&'a RequestIo> {
    // SAFETY: a capsule of this name holds a live Box<RequestIo> for as
    // long as the capsule (which the caller's argument keeps alive).
    unsafe {
        let p = ffi::PyCapsule_GetPointer(o, IO_CAPSULE.as_ptr());
        if p.is_null() {
            return None;
        }
        Some(&*p.cast::<RequestIo>())
    }
}

unsafe fn host_of<'a>(o: *mut ffi::PyObject) -> Option<&'a Host> {
    // SAFETY: the function's self is the host capsule, alive while the
    // function object is.
    unsafe {
        let p = ffi::PyCapsule_GetPointer(o, HOST_CAPSULE.as_ptr());
        if p.is_null() {
            return None;
        }
        Some(&*p.cast::<Host>())
    }
}

unsafe fn raise(exc: *mut ffi::PyObject, msg: &str) -> *mut ffi::PyObject {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: the GIL is held; PyErr_SetString copies the message.
    unsafe { ffi::PyErr_SetString(exc, c.as_ptr()) };
    ptr::null_mut()
}

/// The `n`th of `nargs` fast-call arguments.
unsafe fn arg(
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    n: usize,
    want: usize,
    name: &str,
) -> Option<*mut ffi::PyObject> {
    if usize::try_from(nargs).ok() != Some(want) {
        // SAFETY: the GIL is held (called from a native).
        unsafe {
            raise(
                ffi::PyExc_TypeError,
                &format!("{name}() takes {want} arguments ({nargs} given)"),
            )
        };
        return None;
    }
    // SAFETY: CPython passes `nargs` valid pointers.
    Some(unsafe { *args.add(n) })
}

unsafe fn bytes_of<'a>(o: *mut ffi::PyObject) -> Option<&'a [u8]> {
    // SAFETY: the GIL is held; the buffer lives as long as `o`, which the
    // caller's argument keeps alive.
    unsafe {
        if ffi::PyBytes_Check(o) == 0 {
            return None;
        }
        let p = ffi::PyBytes_AsString(o);
        let n = usize::try_from(ffi::PyBytes_Size(o)).ok()?;
        Some(std::slice::from_raw_parts(p.cast::<u8>(), n))
    }
}

type Fast = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *mut *mut ffi::PyObject,
    ffi::Py_ssize_t,
) -> *mut ffi::PyObject;

/// The natives: (name, function, takes the host as self).
const NATIVES: [(&CStr, Fast, bool); 10] = [
    (c"log", native_log, true),
    (c"restart", native_restart, true),
    (c"read", native_read, false),
    (c"readline", native_readline, false),
    (c"is_started", native_is_started, false),
    (c"head_sent", native_head_sent, false),
    (c"start", native_start, false),
    (c"send", native_send, false),
    (c"queue", native_queue, false),
    (c"sendfile", native_sendfile, false),
];

/// The method table, made once and kept for the life of the process
/// (function objects point into it).
struct Defs(*mut ffi::PyMethodDef);
// SAFETY: written once before being shared, never mutated after.
unsafe impl Send for Defs {}
// SAFETY: as above.
unsafe impl Sync for Defs {}

fn defs() -> &'static Defs {
    static DEFS: std::sync::OnceLock<Defs> = std::sync::OnceLock::new();
    DEFS.get_or_init(|| {
        let table: Vec<ffi::PyMethodDef> = NATIVES
            .iter()
            .map(|(name, f, _)| ffi::PyMethodDef {
                ml_name: name.as_ptr(),
                ml_meth: ffi::PyMethodDefPointer {
                    PyCFunctionFast: *f,
                },
                ml_flags: ffi::METH_FASTCALL,
                ml_doc: ptr::null(),
            })
            .collect();
        Defs(Box::leak(table.into_boxed_slice()).as_mut_ptr())
    })
}

/// Module `_quill_native` of the current interpreter.
unsafe fn new_native_module(host: &Arc<Host>) -> Option<Obj> {
    // SAFETY: the GIL is held; the method table is 'static; the host
    // capsule owns one strong count of the Arc, given back at its drop.
    unsafe {
        let module = Obj::new(ffi::PyModule_New(c"_quill_native".as_ptr()))?;
        let raw = Arc::into_raw(host.clone());
        let cap = ffi::PyCapsule_New(
            raw.cast_mut().cast::<c_void>(),
            HOST_CAPSULE.as_ptr(),
            Some(drop_host),
        );
        if cap.is_null() {
            drop(Arc::from_raw(raw));
            return None;
        }
        let cap = Obj(cap);
        let table = defs().0;
        for (i, (name, _, with_host)) in NATIVES.iter().enumerate() {
            let slf = if *with_host {
                cap.as_ptr()
            } else {
                ptr::null_mut()
            };
            let f = Obj::new(ffi::PyCFunction_NewEx(table.add(i), slf, ptr::null_mut()))?;
            if ffi::PyObject_SetAttrString(module.as_ptr(), name.as_ptr(), f.as_ptr()) < 0 {
                return None;
            }
        }
        Some(module)
    }
}

unsafe extern "C" fn native_log(
    slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held.
    unsafe {
        let (Some(level), Some(msg)) =
            (arg(args, nargs, 0, 2, "log"), arg(args, nargs, 1, 2, "log"))
        else {
            return ptr::null_mut();
        };
        let (Some(level), Some(msg)) = (text(level), text(msg)) else {
            return raise(
                ffi::PyExc_TypeError,
                "log() takes (level: str, message: str)",
            );
        };
        if let Some(h) = host_of(slf) {
            (h.log)(level.parse().unwrap_or(Level::Error), &msg);
        }
        none()
    }
}

unsafe extern "C" fn native_restart(
    slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held.
    unsafe {
        let Some(reason) = arg(args, nargs, 0, 1, "restart") else {
            return ptr::null_mut();
        };
        let Some(reason) = text(reason) else {
            return raise(ffi::PyExc_TypeError, "restart() takes (reason: str)");
        };
        if let Some(h) = host_of(slf) {
            (h.restart)(&reason);
        }
        none()
    }
}

/// `io` and a size (negative: no limit) for read/readline.
unsafe fn io_and_size<'a>(
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    name: &str,
) -> Option<(&'a RequestIo, Option<usize>)> {
    // SAFETY: called from a native, with the GIL held.
    unsafe {
        let io = io_of(arg(args, nargs, 0, 2, name)?)?;
        let n = ffi::PyNumber_AsSsize_t(arg(args, nargs, 1, 2, name)?, ffi::PyExc_OverflowError);
        if n == -1 && !ffi::PyErr_Occurred().is_null() {
            return None;
        }
        Some((io, usize::try_from(n).ok()))
    }
}

/// What a `wsgi.input` read got.
enum Read {
    Line(Vec<u8>),
    Body(BodyRead),
}

unsafe fn read_with(
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    name: &str,
    line: bool,
) -> *mut ffi::PyObject {
    // SAFETY: called from a native, with the GIL held; it is released
    // (RawGil) only around the blocking read, which touches no Python.
    unsafe {
        let Some((io, limit)) = io_and_size(args, nargs, name) else {
            return ptr::null_mut();
        };
        let body = io.body.clone();
        let r = RawGil.release(move || {
            let mut b = lock(&body);
            if line {
                b.readline(limit).map(Read::Line)
            } else {
                b.read(limit).map(Read::Body)
            }
        });
        match r {
            Ok(Read::Line(data)) => bytes_obj(&data),
            Ok(Read::Body(data)) => crate::bridge::body_obj(&data),
            Err(e) => raise(ffi::PyExc_OSError, &e.to_string()),
        }
    }
}

unsafe extern "C" fn native_read(
    _slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held.
    unsafe { read_with(args, nargs, "read", false) }
}

unsafe extern "C" fn native_readline(
    _slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held.
    unsafe { read_with(args, nargs, "readline", true) }
}

unsafe fn io_flag(
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    name: &str,
    flag: fn(&Response) -> bool,
) -> *mut ffi::PyObject {
    // SAFETY: called from a native, with the GIL held.
    unsafe {
        let Some(io) = arg(args, nargs, 0, 1, name).and_then(|o| io_of(o)) else {
            return ptr::null_mut();
        };
        bool_obj(flag(&io.response)).into_ptr()
    }
}

unsafe extern "C" fn native_is_started(
    _slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held.
    unsafe { io_flag(args, nargs, "is_started", Response::is_started) }
}

unsafe extern "C" fn native_head_sent(
    _slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held.
    unsafe { io_flag(args, nargs, "head_sent", Response::head_sent) }
}

/// `start(io, status: bytes, headers: [(bytes, bytes)])`: the byte-level
/// checks of the Rust bridge, then the head is recorded.
unsafe extern "C" fn native_start(
    _slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held; the list and its items
    // are borrowed from the arguments.
    unsafe {
        let (Some(io), Some(status), Some(list)) = (
            arg(args, nargs, 0, 3, "start").and_then(|o| io_of(o)),
            arg(args, nargs, 1, 3, "start"),
            arg(args, nargs, 2, 3, "start"),
        ) else {
            return ptr::null_mut();
        };
        let Some(status) = bytes_of(status) else {
            return raise(ffi::PyExc_TypeError, "start(): status must be bytes");
        };
        let (code, reason) = match bridge::check_status(status) {
            Ok(s) => s,
            Err(e) => return raise(ffi::PyExc_ValueError, &e),
        };
        if ffi::PyList_Check(list) == 0 {
            return raise(ffi::PyExc_TypeError, "start(): headers must be a list");
        }
        let n = ffi::PyList_Size(list);
        let mut headers = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        let mut content_length = None;
        for i in 0..n {
            let item = ffi::PyList_GetItem(list, i);
            let pair = (ffi::PyTuple_Check(item) != 0 && ffi::PyTuple_Size(item) == 2).then(|| {
                (
                    bytes_of(ffi::PyTuple_GetItem(item, 0)),
                    bytes_of(ffi::PyTuple_GetItem(item, 1)),
                )
            });
            let Some((Some(name), Some(value))) = pair else {
                return raise(
                    ffi::PyExc_TypeError,
                    "start(): headers must be (bytes, bytes) tuples",
                );
            };
            match bridge::check_header(name, value) {
                Ok(Some(cl)) => content_length = Some(cl),
                Ok(None) => {}
                Err(e) => return raise(ffi::PyExc_ValueError, &e),
            }
            headers.push((Bytes::copy_from_slice(name), Bytes::copy_from_slice(value)));
        }
        io.response.start(
            ResponseHead {
                status: code,
                reason,
                headers,
            },
            content_length,
        );
        none()
    }
}

unsafe fn send_error(e: SendError) -> *mut ffi::PyObject {
    // SAFETY: called from a native, with the GIL held.
    unsafe {
        match e {
            SendError::NotStarted => raise(
                ffi::PyExc_RuntimeError,
                "response has not been started (start_response() was not called)",
            ),
            SendError::Closed(e) => raise(
                ffi::PyExc_OSError,
                &format!("Quill client connection closed: {e}"),
            ),
        }
    }
}

/// `(io, data: bytes)` of send/queue.
unsafe fn io_and_data<'a>(
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    name: &str,
) -> Option<(&'a RequestIo, &'a [u8])> {
    // SAFETY: called from a native, with the GIL held.
    unsafe {
        let io = io_of(arg(args, nargs, 0, 2, name)?)?;
        let Some(data) = bytes_of(arg(args, nargs, 1, 2, name)?) else {
            raise(
                ffi::PyExc_TypeError,
                &format!("{name}(): data must be bytes"),
            );
            return None;
        };
        Some((io, data))
    }
}

unsafe extern "C" fn native_send(
    _slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held.
    unsafe {
        let Some((io, data)) = io_and_data(args, nargs, "send") else {
            return ptr::null_mut();
        };
        match io.response.send_with(&RawGil, data) {
            Ok(()) => none(),
            Err(e) => send_error(e),
        }
    }
}

unsafe extern "C" fn native_queue(
    _slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held.
    unsafe {
        let Some((io, data)) = io_and_data(args, nargs, "queue") else {
            return ptr::null_mut();
        };
        match io.response.queue(data) {
            Ok(queued) => bool_obj(queued).into_ptr(),
            Err(e) => send_error(e),
        }
    }
}

/// `sendfile(io, fd, pos)`: 0 sent, 1 client gone, -1 not a regular file
/// (iterate instead).
unsafe extern "C" fn native_sendfile(
    _slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held; the file object that
    // owns `fd` is held by the caller (subbridge.py) for the call.
    unsafe {
        let (Some(io), Some(fd), Some(pos)) = (
            arg(args, nargs, 0, 3, "sendfile").and_then(|o| io_of(o)),
            arg(args, nargs, 1, 3, "sendfile"),
            arg(args, nargs, 2, 3, "sendfile"),
        ) else {
            return ptr::null_mut();
        };
        let fd = ffi::PyLong_AsLong(fd);
        let pos = ffi::PyLong_AsLongLong(pos);
        if !ffi::PyErr_Occurred().is_null() {
            return ptr::null_mut();
        }
        let (Ok(fd), Ok(pos)) = (i32::try_from(fd), u64::try_from(pos)) else {
            return ffi::PyLong_FromLong(-1);
        };
        let code = match bridge::sendfile_from(&RawGil, &io.response, fd, pos) {
            None => -1,
            Some(Sent::Done) => 0,
            Some(Sent::ClientGone) => 1,
            Some(Sent::NotStarted) => {
                return send_error(SendError::NotStarted);
            }
        };
        ffi::PyLong_FromLong(code)
    }
}

/// One request to serve in a sub-interpreter.
pub(crate) struct SubRequest<'a> {
    pub head: &'a RequestHead,
    pub script: &'a str,
    pub callable: &'a str,
    /// Whether the script is loaded again when its file changed.
    pub check: ScriptCheck,
    pub facts: &'a RequestFacts,
    /// `mod_wsgi.script_start`, µs since the epoch.
    pub script_start_us: u64,
    pub writer: &'a Writer,
    pub body: Arc<Mutex<Body>>,
    /// The request's error log lines (tagged with the client).
    pub log: &'a dyn Fn(&str),
    /// Whether the connection may be kept after the response.
    pub keep: &'a dyn Fn() -> bool,
}

/// What became of a request served in a sub-interpreter.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Served {
    pub outcome: Outcome,
    /// The script could not be loaded (for startup-timeout's count).
    pub load_failed: bool,
}

impl Entered<'_> {
    /// Serves `req` in this interpreter with `_quill_bridge.handle`, then
    /// ends or fails the response exactly as the main interpreter's path
    /// does (bridge.rs).
    pub fn serve(&self, req: &SubRequest<'_>) -> Served {
        let response = Response::new(req.writer);
        // SAFETY: this thread holds the GIL with this interpreter current
        // (the guard); every object made here belongs to it.
        let reply = unsafe { self.call_handle(req, &response) };
        let (kind, text, message, close_tb) = match reply {
            Ok(r) => r,
            Err(broken) => {
                (req.log)(&format!(
                    "Quill's bridge failed in interpreter '{}': {broken}",
                    self.sub.name
                ));
                ("broken".to_string(), None, None, None)
            }
        };
        let script = req.script;
        let mut load_failed = false;
        let outcome = match kind.as_str() {
            "ok" => bridge::end_response(&RawGil, &response, req.writer, script, req.log, req.keep),
            "client" => Outcome::ClientGone,
            "timeout" => {
                bridge::fail_with(&RawGil, req.writer, &AppFailure::TimedOut, script, req.log)
            }
            "app" => bridge::fail_with(
                &RawGil,
                req.writer,
                &AppFailure::Raised {
                    traceback: text.unwrap_or_default(),
                    message: message.unwrap_or_default(),
                },
                script,
                req.log,
            ),
            "lookup" | "load" => {
                load_failed = true;
                if kind == "lookup" {
                    (req.log)(&text.unwrap_or_default());
                } else {
                    (req.log)(&format!(
                        "Failed to exec Python script file '{script}'.\n{}",
                        text.unwrap_or_default()
                    ));
                }
                RawGil.release(|| {
                    req.writer.finish(&Frame::Fail {
                        status: 500,
                        message: "the WSGI script could not be loaded".into(),
                    })
                });
                Outcome::Failed
            }
            _ => {
                RawGil.release(|| {
                    req.writer.finish(&Frame::Fail {
                        status: 500,
                        message: "Quill's bridge failed".into(),
                    })
                });
                Outcome::Failed
            }
        };
        if let Some(tb) = close_tb {
            (req.log)(&format!(
                "Exception occurred in close() of the response of WSGI script '{script}'.\n{tb}"
            ));
        }
        Served {
            outcome,
            load_failed,
        }
    }

    /// `_quill_bridge.handle(script, callable, cgi, io, remote, https,
    /// check, mtime)` → (kind, text, message, close traceback).
    #[allow(clippy::type_complexity)]
    unsafe fn call_handle(
        &self,
        req: &SubRequest<'_>,
        response: &Arc<Response>,
    ) -> Result<(String, Option<String>, Option<String>, Option<String>), String> {
        let support = self.sub.support;
        // SAFETY: see `serve`.
        unsafe {
            let broken = || take_error(support);
            let cgi = Obj::new(ffi::PyDict_New()).ok_or_else(broken)?;
            let set = |k: &[u8], v: Obj| -> Result<(), ()> {
                let k = latin1_obj(k).ok_or(())?;
                if ffi::PyDict_SetItem(cgi.as_ptr(), k.as_ptr(), v.as_ptr()) < 0 {
                    return Err(());
                }
                Ok(())
            };
            let (https, remote) =
                bridge::cgi_items(req.head, |k, v| set(k, latin1_obj(v).ok_or(())?))
                    .map_err(|()| broken())?;
            let f = req.facts;
            let start = f.daemon_start_us.to_string();
            let items: [(&[u8], Option<Obj>); 7] = [
                (b"mod_wsgi.daemon_start", str_obj(&start)),
                (b"mod_wsgi.thread_id", u64_obj(u64::from(f.thread_id))),
                (b"mod_wsgi.thread_requests", u64_obj(f.thread_requests)),
                (b"mod_wsgi.total_requests", u64_obj(f.total_requests)),
                (b"quill.daemon_start", str_obj(&start)),
                (b"quill.thread_id", u64_obj(u64::from(f.thread_id))),
                (
                    b"mod_wsgi.script_start",
                    str_obj(&req.script_start_us.to_string()),
                ),
            ];
            for (k, v) in items {
                set(k, v.ok_or_else(broken)?).map_err(|()| broken())?;
            }
            let remote = format!("{}:{}", latin1_text(&remote.0), latin1_text(&remote.1));
            let io = io_capsule(RequestIo {
                response: response.clone(),
                body: req.body.clone(),
            })
            .ok_or_else(broken)?;
            let (check, mtime) = req.check.args();
            let mtime = match mtime {
                Some(m) => Obj::new(ffi::PyLong_FromLongLong(m)).ok_or_else(broken)?,
                None => Obj(none()),
            };
            let args = [
                str_obj(req.script).ok_or_else(broken)?,
                str_obj(req.callable).ok_or_else(broken)?,
                cgi,
                io,
                str_obj(&remote).ok_or_else(broken)?,
                bool_obj(https),
                bool_obj(check),
                mtime,
            ];
            let refs: Vec<&Obj> = args.iter().collect();
            let r = call(self.sub.handle, &refs).ok_or_else(broken)?;
            let item = |i: ffi::Py_ssize_t| {
                let p = ffi::PyTuple_GetItem(r.as_ptr(), i);
                if p.is_null() {
                    ffi::PyErr_Clear();
                }
                text(p)
            };
            if ffi::PyTuple_Check(r.as_ptr()) == 0 || ffi::PyTuple_Size(r.as_ptr()) != 4 {
                return Err("handle() did not return a 4-tuple".into());
            }
            let kind = item(0).ok_or("handle() returned no kind")?;
            Ok((kind, item(1), item(2), item(3)))
        }
    }

    /// Lets a pending asynchronous exception (a request-timeout interrupt
    /// that came after the application returned) fire, and drops it.
    pub fn clear_async_exc(&self) {
        // SAFETY: the GIL is held with this interpreter current.
        unsafe {
            drop(Obj::new(ffi::PyObject_CallNoArgs(self.sub.noop)));
            ffi::PyErr_Clear();
        }
    }

    /// Raises this interpreter's RequestTimeout in the thread `ident` (it
    /// runs a request in this interpreter). Returns whether it was found.
    pub fn interrupt(&self, ident: u64) -> bool {
        // SAFETY: the GIL is held with this interpreter current, so
        // CPython looks for `ident` among this interpreter's threads.
        unsafe { ffi::PyThreadState_SetAsyncExc(ident as libc::c_long, self.sub.timeout_exc) == 1 }
    }

    /// Loads the script at `path` into this interpreter (a preload).
    pub fn load_script(&self, path: &str) -> Result<(), String> {
        // SAFETY: the GIL is held with this interpreter current.
        unsafe {
            let support = self.sub.support;
            let p = str_obj(path).ok_or_else(|| take_error(support))?;
            getattr(support, c"load_script")
                .and_then(|f| call(f.as_ptr(), &[&p]))
                .map(drop)
                .ok_or_else(|| take_error(support))
        }
    }

    /// Runs this interpreter's `atexit` functions and flushes its streams.
    pub fn run_exit_functions(&self) -> Result<(), String> {
        // SAFETY: the GIL is held with this interpreter current.
        unsafe {
            let support = self.sub.support;
            getattr(support, c"run_exit_functions")
                .and_then(|f| call(f.as_ptr(), &[]))
                .map(drop)
                .ok_or_else(|| take_error(support))
        }
    }
}

fn latin1_text(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}
