//! PEP 3333 in Rust: the environ, `start_response`, `write()`, the
//! iterable protocol with `close()`, `wsgi.input`, `wsgi.file_wrapper`.

use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList, PyString, PyTuple};
use quill_protocol::protocol::{Frame, RequestHead, ResponseHead};

use crate::conn::{Body, BodyRead, Writer};

/// `wsgi.input`.
#[pyclass(module = "quill")]
#[derive(Debug)]
pub struct Input {
    body: Arc<Mutex<Body>>,
}

fn limit(size: Option<isize>) -> Option<usize> {
    match size {
        Some(n) if n >= 0 => Some(n as usize),
        _ => None,
    }
}

impl Input {
    fn with_body<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Body) -> std::io::Result<T> + Send,
    ) -> PyResult<T> {
        let body = self.body.clone();
        py.detach(move || {
            let mut b = body.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut b)
        })
        .map_err(|e| PyOSError::new_err(e.to_string()))
    }
}

/// A bytes object of body bytes read for the application, copied once
/// from the frames' buffers into it (PyO3's `PyBytes::new_with` would
/// zero it first); null with a Python error set when it cannot be made.
///
/// # Safety
/// The GIL must be held.
#[allow(unsafe_code)]
pub(crate) unsafe fn body_obj(data: &BodyRead) -> *mut pyo3::ffi::PyObject {
    use pyo3::ffi;
    let Ok(len) = ffi::Py_ssize_t::try_from(data.len()) else {
        // SAFETY: the GIL is held (the caller's promise).
        return unsafe { ffi::PyErr_NoMemory() };
    };
    // SAFETY: with a null pointer CPython makes a bytes object of `len`
    // uninitialised bytes; they are all written here before the object is
    // returned to anyone.
    unsafe {
        let obj = ffi::PyBytes_FromStringAndSize(std::ptr::null(), len);
        if obj.is_null() {
            return obj;
        }
        let at = ffi::PyBytes_AsString(obj).cast::<u8>();
        data.copy_to(std::slice::from_raw_parts_mut(at, data.len()));
        obj
    }
}

#[pymethods]
impl Input {
    #[pyo3(signature = (size=None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.with_body(py, |b| b.read(limit(size)))?;
        #[allow(unsafe_code)]
        // SAFETY: the GIL is held (`py`); body_obj returns a new reference
        // or null with a Python error set.
        unsafe {
            Bound::from_owned_ptr_or_err(py, body_obj(&data)).map(|b| b.cast_into_unchecked())
        }
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.with_body(py, |b| b.readline(limit(size)))?;
        Ok(PyBytes::new(py, &data))
    }

    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<isize>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        let mut total = 0usize;
        loop {
            let line = self.with_body(py, |b| b.readline(None))?;
            if line.is_empty() {
                break;
            }
            total += line.len();
            out.append(PyBytes::new(py, &line))?;
            if limit(hint).is_some_and(|h| h > 0 && total >= h) {
                break;
            }
        }
        Ok(out)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.with_body(py, |b| b.readline(None))?;
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
    }
}

/// `wsgi.file_wrapper`.
#[pyclass(module = "quill")]
#[derive(Debug)]
pub struct FileWrapper {
    filelike: Py<PyAny>,
    blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> FileWrapper {
        FileWrapper {
            filelike,
            blksize: blksize.max(1),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let data = self
            .filelike
            .bind(py)
            .call_method1("read", (self.blksize,))?;
        let empty = data.len().map(|n| n == 0).unwrap_or(true);
        Ok((!empty).then(|| data.unbind()))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let f = self.filelike.bind(py);
        if f.hasattr("close")? {
            f.call_method0("close")?;
        }
        Ok(())
    }
}

/// What `start_response` recorded.
#[derive(Debug, Default)]
struct Started {
    head: Option<ResponseHead>,
    content_length: Option<u64>,
}

/// State shared by `start_response`, `write` and the iteration.
#[derive(Debug)]
pub(crate) struct Response {
    started: Mutex<Started>,
    writer: Writer,
}

impl Response {
    pub(crate) fn new(writer: &Writer) -> Arc<Response> {
        Arc::new(Response {
            started: Mutex::new(Started::default()),
            writer: writer.clone(),
        })
    }

    fn started(&self) -> std::sync::MutexGuard<'_, Started> {
        self.started.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Head (if not yet sent) + `data`, written through at once (the GIL
    /// is released only if the socket is full).
    fn send(&self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        self.send_with(&py, data).map_err(|e| match e {
            SendError::NotStarted => PyRuntimeError::new_err(NOT_STARTED),
            SendError::Closed(e) => {
                PyOSError::new_err(format!("Quill client connection closed: {e}"))
            }
        })
    }

    /// [`Response::send`] for any way of holding the GIL.
    pub(crate) fn send_with<G: Gil>(&self, gil: &G, data: &[u8]) -> Result<(), SendError> {
        let written = {
            let s = self.started();
            let Some(h) = &s.head else {
                return Err(SendError::NotStarted);
            };
            if data.is_empty() {
                self.writer
                    .queue_head(h, s.content_length)
                    .and_then(|()| self.writer.try_flush())
            } else {
                self.writer.send_body(h, s.content_length, data)
            }
        };
        match written {
            Ok(true) => Ok(()),
            Ok(false) => flush_blocking(gil, &self.writer).map_err(SendError::Closed),
            Err(e) => Err(SendError::Closed(e)),
        }
    }

    /// Queues `data` behind the head, to go out with the end of the
    /// response. `Ok(false)`: the client is gone.
    pub(crate) fn queue(&self, data: &[u8]) -> Result<bool, SendError> {
        let s = self.started();
        let Some(h) = &s.head else {
            return Err(SendError::NotStarted);
        };
        Ok(self
            .writer
            .queue_head(h, s.content_length)
            .and_then(|()| self.writer.queue_body(data))
            .is_ok())
    }

    /// Whether `start_response` was called.
    pub(crate) fn is_started(&self) -> bool {
        self.started().head.is_some()
    }

    /// Whether the head has gone to the front end.
    pub(crate) fn head_sent(&self) -> bool {
        self.writer.head_sent()
    }

    /// Records the head `start_response` gave (already checked).
    pub(crate) fn start(&self, head: ResponseHead, content_length: Option<u64>) {
        let mut started = self.started();
        started.head = Some(head);
        started.content_length = content_length;
    }
}

/// Why a body block could not be sent.
#[derive(Debug)]
pub(crate) enum SendError {
    /// `start_response` was not called yet.
    NotStarted,
    Closed(crate::conn::WriteError),
}

const NOT_STARTED: &str = "response has not been started (start_response() was not called)";

/// A thread that holds the GIL and can let it go around a blocking wait:
/// PyO3's `Python` in the main interpreter, the raw thread-state calls in
/// a sub-interpreter (crate::subinterp).
pub(crate) trait Gil {
    fn release<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T;
}

impl Gil for Python<'_> {
    fn release<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.detach(f)
    }
}

/// Writes what `w` has queued, releasing the GIL while the socket is full.
fn flush<G: Gil>(gil: &G, w: &Writer) -> Result<(), crate::conn::WriteError> {
    if w.try_flush()? {
        return Ok(());
    }
    flush_blocking(gil, w)
}

fn flush_blocking<G: Gil>(gil: &G, w: &Writer) -> Result<(), crate::conn::WriteError> {
    let w = w.clone();
    gil.release(move || w.flush_blocking())
}

#[pyclass(module = "quill")]
#[derive(Debug)]
pub struct StartResponse {
    response: Arc<Response>,
}

#[pyclass(module = "quill")]
#[derive(Debug)]
pub struct Write {
    response: Arc<Response>,
}

#[pymethods]
impl Write {
    fn __call__(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = data.cast::<PyBytes>().map_err(|_| {
            PyTypeError::new_err(format!(
                "expected byte string object for write(), value of type {} found",
                type_name(data)
            ))
        })?;
        self.response.send(py, b.as_bytes())
    }
}

fn type_name(o: &Bound<'_, PyAny>) -> String {
    o.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

fn latin1(s: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    let st = s.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected unicode object for {what}, value of type {} found",
            type_name(s)
        ))
    })?;
    // ASCII, the usual case, straight from the string's UTF-8 form.
    if let Ok(t) = st.to_str() {
        if t.is_ascii() {
            return Ok(t.as_bytes().to_vec());
        }
    }
    let text = st.to_cow()?;
    text.chars()
        .map(|c| {
            u8::try_from(u32::from(c)).map_err(|_| {
                PyValueError::new_err(format!("{what} must be Latin-1 encodable: {text:?}"))
            })
        })
        .collect()
}

fn parse_status(status: &Bound<'_, PyAny>) -> PyResult<(u16, Bytes)> {
    check_status(&latin1(status, "status")?).map_err(PyValueError::new_err)
}

/// The checks of a status line, on its Latin-1 bytes: `NNN reason`.
pub(crate) fn check_status(raw: &[u8]) -> Result<(u16, Bytes), String> {
    let bad = || format!("invalid status line {:?}", String::from_utf8_lossy(raw));
    if raw.len() < 5 || raw[3] != b' ' || !raw[..3].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    if raw[4..].iter().any(|&b| b < 0x20 || b == 0x7f) || raw[4..].iter().all(|&b| b == b' ') {
        return Err(bad());
    }
    let code =
        u16::from(raw[0] - b'0') * 100 + u16::from(raw[1] - b'0') * 10 + u16::from(raw[2] - b'0');
    if code < 100 {
        return Err(bad());
    }
    Ok((code, Bytes::copy_from_slice(&raw[4..])))
}

/// Validated response headers and the Content-Length among them.
type Headers = (Vec<(Bytes, Bytes)>, Option<u64>);

fn parse_headers(headers: &Bound<'_, PyAny>) -> PyResult<Headers> {
    let list = headers.cast::<PyList>().map_err(|_| {
        PyTypeError::new_err(format!(
            "response headers must be a list, value of type {} found",
            type_name(headers)
        ))
    })?;
    let mut out = Vec::with_capacity(list.len());
    let mut content_length = None;
    for item in list.iter() {
        let t = item.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err(format!(
                "list of tuple values expected, value of type {} found",
                type_name(&item)
            ))
        })?;
        if t.len() != 2 {
            return Err(PyValueError::new_err(format!(
                "tuple of length 2 expected, length is {}",
                t.len()
            )));
        }
        let name = latin1(&t.get_item(0)?, "header name")?;
        let value = latin1(&t.get_item(1)?, "header value")?;
        if let Some(n) = check_header(&name, &value).map_err(PyValueError::new_err)? {
            content_length = Some(n);
        }
        out.push((Bytes::from(name), Bytes::from(value)));
    }
    Ok((out, content_length))
}

/// The bytes of an HTTP token (a header name): visible ASCII but the
/// separators, looked up in one step per byte.
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x21;
    while b < 0x7f {
        t[b] = true;
        b += 1;
    }
    let separators = b":()<>@,;\\\"/[]?={}";
    let mut i = 0;
    while i < separators.len() {
        t[separators[i] as usize] = false;
        i += 1;
    }
    t
};

/// The checks of one response header, on its Latin-1 bytes; `Some(n)`
/// for a Content-Length of `n`.
pub(crate) fn check_header(name: &[u8], value: &[u8]) -> Result<Option<u64>, String> {
    if name.is_empty() || name.iter().any(|&b| !TOKEN[usize::from(b)]) {
        return Err(format!(
            "header name {:?} is not a valid token",
            String::from_utf8_lossy(name)
        ));
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(format!(
            "header value for {:?} contains a control character",
            String::from_utf8_lossy(name)
        ));
    }
    if HOP_BY_HOP
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
    {
        return Err(format!(
            "hop-by-hop header {:?} is not allowed in a WSGI response (PEP 3333)",
            String::from_utf8_lossy(name)
        ));
    }
    if name.eq_ignore_ascii_case(b"content-length") {
        let text = String::from_utf8_lossy(value);
        let n: u64 = text
            .trim()
            .parse()
            .map_err(|_| format!("invalid Content-Length {text:?}"))?;
        return Ok(Some(n));
    }
    Ok(None)
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Write> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        {
            let started = self.response.started();
            if started.head.is_some() {
                match exc_info {
                    None => {
                        return Err(PyRuntimeError::new_err("headers have already been set"));
                    }
                    Some(info) if self.response.writer.head_sent() => {
                        // PEP 3333: re-raise the original exception.
                        let value = info.get_item(1)?;
                        return Err(PyErr::from_value(value));
                    }
                    Some(_) => {}
                }
            }
        }
        let _ = py;
        let (code, reason) = parse_status(status)?;
        let (headers, content_length) = parse_headers(headers)?;
        self.response.start(
            ResponseHead {
                status: code,
                reason,
                headers,
            },
            content_length,
        );
        Ok(Write {
            response: self.response.clone(),
        })
    }
}

/// Per-process facts the environ reports.
#[derive(Debug, Clone)]
pub struct ProcessFacts {
    pub multithread: bool,
    pub multiprocess: bool,
    pub run_once: bool,
}

/// Per-request facts added by the daemon.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub thread_id: u32,
    pub thread_requests: u64,
    pub total_requests: u64,
    pub daemon_start_us: u64,
}

/// Whether a request loads its script again when the file changed: the
/// arguments `check` and `mtime` of `_quill_support.load_script`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScriptCheck {
    /// The script serves as loaded: `WSGIScriptReloading Off`, and daemon
    /// mode, where the supervisor replaces the group when a script
    /// changes instead.
    Off,
    /// Embedded mode's `WSGIScriptReloading On`: the script file's mtime
    /// as the process last found it ([`script_mtime`]; `None`: the file
    /// cannot be stat'ed). A script loaded from another version of the
    /// file is loaded again first.
    Mtime(Option<i64>),
}

/// The mtime of the file at `path` in µs since the epoch, as mod_wsgi
/// keeps a script's in its module's `__mtime__` (and `load_script` in
/// support.py); `None` when it cannot be stat'ed. One `statx`.
pub(crate) fn script_mtime(path: &str) -> Option<i64> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.mtime().saturating_mul(1_000_000) + m.mtime_nsec() / 1_000)
}

impl ScriptCheck {
    /// Whether a script loaded from the file at `loaded` (its mtime then)
    /// may serve this request without a look at the module.
    pub(crate) fn accepts(self, loaded: Option<i64>) -> bool {
        match self {
            ScriptCheck::Off => true,
            ScriptCheck::Mtime(now) => now.is_some() && now == loaded,
        }
    }

    /// `(check, mtime)`, as `load_script` takes them.
    pub(crate) fn args(self) -> (bool, Option<i64>) {
        match self {
            ScriptCheck::Off => (false, None),
            ScriptCheck::Mtime(m) => (true, m),
        }
    }
}

/// Where `wsgi.errors` lines go (the error log, level error).
pub type ErrorSink = Arc<dyn Fn(&str) + Send + Sync>;

/// `wsgi.errors`: a text stream whose lines go to the error log, tagged
/// with the request's client, as `support.LogStream` does for
/// `sys.stdout`/`sys.stderr`; a partial last line is logged when the
/// stream is flushed, closed or freed.
#[pyclass(module = "quill")]
pub struct ErrorStream {
    /// The request's client, `ADDR:PORT`.
    remote: (Bytes, Bytes),
    buf: Mutex<String>,
    sink: ErrorSink,
    #[pyo3(get)]
    encoding: &'static str,
    #[pyo3(get)]
    errors: &'static str,
}

impl std::fmt::Debug for ErrorStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorStream")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl ErrorStream {
    fn lock(&self) -> std::sync::MutexGuard<'_, String> {
        self.buf.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, line: &str) {
        (self.sink)(&format!(
            "[remote {}:{}] {line}",
            latin1_str(&self.remote.0),
            latin1_str(&self.remote.1)
        ));
    }

    fn flush_buf(&self) {
        let rest = std::mem::take(&mut *self.lock());
        if !rest.is_empty() {
            self.emit(&rest);
        }
    }
}

impl Drop for ErrorStream {
    fn drop(&mut self) {
        self.flush_buf();
    }
}

#[pymethods]
impl ErrorStream {
    fn write(&self, s: &Bound<'_, PyAny>) -> PyResult<usize> {
        let text = s.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "write() argument must be str, not {}",
                type_name(s)
            ))
        })?;
        let text = text.to_cow()?;
        let mut buf = self.lock();
        buf.push_str(&text);
        if let Some(cut) = buf.rfind('\n') {
            let rest = buf.split_off(cut + 1);
            let done = std::mem::replace(&mut *buf, rest);
            drop(buf);
            for line in done[..done.len() - 1].split('\n') {
                self.emit(line);
            }
        }
        Ok(text.chars().count())
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(&line?)?;
        }
        Ok(())
    }

    fn flush(&self) {
        self.flush_buf();
    }

    fn close(&self) {
        self.flush_buf();
    }

    fn isatty(&self) -> bool {
        false
    }

    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }
}

/// What a request thread keeps from one request to the next to build
/// environs quickly: the constant `wsgi.*` items as a dict to copy, the
/// key strings seen so far (their hashes are cached in them) and, for
/// each key, the string of its last value, taken again while the value
/// does not change (most CGI values are the same from one request to the
/// next: the server's names, the script, the protocol, the method).
///
/// Items whose value stayed the same for a few requests in a row are
/// *steady*: they are in the dict each environ starts as a copy of, and a
/// request that brings the same value again sets nothing for them. A
/// steady item whose value changes is set like any other, one a request
/// lacks is deleted from its environ, and either leaves the steady items
/// (and comes back only after a longer run of equal values each time).
#[derive(Debug)]
pub struct EnvironCache {
    /// The constant `wsgi.*` items.
    template: Py<PyDict>,
    /// `template` plus the steady items: what each environ starts as.
    steady: Py<PyDict>,
    /// How many entries are steady.
    steady_count: usize,
    /// Steady entries this request brought (each counted once).
    steady_seen: usize,
    /// Entries to make steady after this request.
    promote: Vec<usize>,
    /// The steady items changed: `steady` is built again after this
    /// request.
    rebuild: bool,
    /// Requests so far: `CachedKey::seen` is compared with it.
    request: u64,
    /// The keys seen so far, in the order first seen.
    entries: Vec<CachedKey>,
    /// Each key's place in `entries`.
    index: std::collections::HashMap<Bytes, usize, BuildKeyHasher>,
    /// For each position in the last environ, its key's place in
    /// `entries`: requests usually send the same names in the same
    /// order, and one comparison then finds a key without hashing it.
    by_position: Vec<usize>,
    fixed: FixedKeys,
    errors: ErrorSinkDebug,
}

/// The strings of the keys (and scheme values) every environ sets after
/// the CGI variables, made once (so their hashes are computed once).
#[derive(Debug)]
struct FixedKeys {
    url_scheme: Py<PyString>,
    http: Py<PyString>,
    https: Py<PyString>,
    input: Py<PyString>,
    errors: Py<PyString>,
    daemon_start: Py<PyString>,
    thread_id: Py<PyString>,
    thread_requests: Py<PyString>,
    total_requests: Py<PyString>,
    quill_daemon_start: Py<PyString>,
    quill_thread_id: Py<PyString>,
    script_start: Py<PyString>,
}

impl FixedKeys {
    fn new(py: Python<'_>) -> FixedKeys {
        let s = |text: &str| PyString::intern(py, text).unbind();
        FixedKeys {
            url_scheme: s("wsgi.url_scheme"),
            http: s("http"),
            https: s("https"),
            input: s("wsgi.input"),
            errors: s("wsgi.errors"),
            daemon_start: s("mod_wsgi.daemon_start"),
            thread_id: s("mod_wsgi.thread_id"),
            thread_requests: s("mod_wsgi.thread_requests"),
            total_requests: s("mod_wsgi.total_requests"),
            quill_daemon_start: s("quill.daemon_start"),
            quill_thread_id: s("quill.thread_id"),
            script_start: s("mod_wsgi.script_start"),
        }
    }
}

/// Room for this many items in every environ from the start (the
/// template's table is copied with its size): a request's CGI variables
/// and the fixed items then fit without the dict growing on the way.
const ENVIRON_PRESIZE: isize = 64;

/// A key's string and its last value's.
#[derive(Debug)]
struct CachedKey {
    name: Box<[u8]>,
    key: Py<PyString>,
    /// The last value (bytes, string), while the key is not volatile.
    value: Option<(Vec<u8>, Py<PyString>)>,
    /// Values in a row that differed from the one before; at
    /// [`VOLATILE`] the key's values are no longer kept (a port, an id).
    changes: u8,
    /// Requests in a row that brought the key with its last value.
    same: u8,
    /// In `EnvironCache::steady`.
    steady: bool,
    /// Times it left the steady items.
    demoted: u8,
    /// The last request (`EnvironCache::request`) that brought the key.
    seen: u64,
}

/// How an item of a request's environ is set.
enum Item<'py> {
    /// Already there: a steady item with the same value.
    Steady,
    /// To set: its key and value.
    Set(Bound<'py, PyString>, Bound<'py, PyString>),
}

/// Requests in a row with the same value that make a key steady, doubled
/// each time it left the steady items; after [`MAX_DEMOTIONS`] it stays
/// out (a value that keeps changing now and then is cheaper set every
/// time than the steady dict built again).
const STEADY_AFTER: u8 = 2;
const MAX_DEMOTIONS: u8 = 4;

impl CachedKey {
    fn may_become_steady(&self) -> bool {
        !self.steady
            && self.value.is_some()
            && self.demoted < MAX_DEMOTIONS
            && self.same >= STEADY_AFTER << self.demoted
    }
}

/// Changes in a row after which a key's values are no longer kept.
const VOLATILE: u8 = 4;
/// Longer values are not kept.
const MAX_CACHED_VALUE: usize = 256;

/// [`ErrorSink`] with a Debug that says nothing.
struct ErrorSinkDebug(ErrorSink);

impl std::fmt::Debug for ErrorSinkDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErrorSink")
    }
}

/// A fast hash for the short environ keys of the cache (FxHash's
/// multiply-rotate; the keys come from our own front end, and the cache is
/// bounded, so flooding is not a concern).
#[derive(Debug, Default, Clone, Copy)]
struct BuildKeyHasher;

#[derive(Debug, Default)]
struct KeyHasher(u64);

impl std::hash::BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl KeyHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Keys cached per thread at most (header names are the client's choice).
const MAX_CACHED_KEYS: usize = 512;

impl EnvironCache {
    pub fn new(
        py: Python<'_>,
        process: &ProcessFacts,
        errors: ErrorSink,
    ) -> PyResult<EnvironCache> {
        // SAFETY: `_PyDict_NewPresized` returns a new reference to an
        // empty dict, or NULL with an exception set (which
        // `from_owned_ptr_or_err` turns into the error).
        #[allow(unsafe_code)]
        let t = unsafe {
            Bound::from_owned_ptr_or_err(py, pyo3::ffi::_PyDict_NewPresized(ENVIRON_PRESIZE))?
                .cast_into_unchecked::<PyDict>()
        };
        t.set_item("wsgi.version", (1, 0))?;
        t.set_item("wsgi.multithread", process.multithread)?;
        t.set_item("wsgi.multiprocess", process.multiprocess)?;
        t.set_item("wsgi.run_once", process.run_once)?;
        t.set_item("wsgi.input_terminated", true)?;
        t.set_item("wsgi.file_wrapper", py.get_type::<FileWrapper>())?;
        t.set_item("mod_wsgi.version", (4, 9, 4))?;
        t.set_item("quill.version", (0, 1, 0))?;
        let steady = t.copy()?.unbind();
        Ok(EnvironCache {
            template: t.unbind(),
            steady,
            steady_count: 0,
            steady_seen: 0,
            promote: Vec::new(),
            rebuild: false,
            request: 0,
            entries: Vec::new(),
            index: std::collections::HashMap::default(),
            by_position: Vec::new(),
            fixed: FixedKeys::new(py),
            errors: ErrorSinkDebug(errors),
        })
    }

    /// The cached key named `k`, found first where the last environ had
    /// its `pos`-th item.
    fn find(&mut self, pos: usize, k: &[u8]) -> Option<usize> {
        if let Some(&e) = self.by_position.get(pos)
            && *self.entries[e].name == *k
        {
            return Some(e);
        }
        let e = *self.index.get(k)?;
        self.remember(pos, e);
        Some(e)
    }

    fn remember(&mut self, pos: usize, e: usize) {
        let len = self.by_position.len();
        if pos < len {
            self.by_position[pos] = e;
        } else if pos == len && len < MAX_CACHED_KEYS {
            self.by_position.push(e);
        }
    }

    /// How to set an environ item, the `pos`-th: nothing (a steady item
    /// with its value), or its key's and its value's strings.
    fn item<'py>(
        &mut self,
        py: Python<'py>,
        pos: usize,
        k: &[u8],
        v: &[u8],
    ) -> PyResult<Item<'py>> {
        let Some(e) = self.find(pos, k) else {
            // Keys are interned, as the application's own literals are:
            // its lookups then find them by identity.
            let key = match std::str::from_utf8(k) {
                Ok(text) => PyString::intern(py, text),
                Err(_) => latin1_py(py, k)?,
            };
            let value = latin1_py(py, v)?;
            if self.entries.len() < MAX_CACHED_KEYS {
                let kept =
                    (v.len() <= MAX_CACHED_VALUE).then(|| (v.to_vec(), value.clone().unbind()));
                self.entries.push(CachedKey {
                    name: k.into(),
                    key: key.clone().unbind(),
                    value: kept,
                    changes: 0,
                    same: 0,
                    steady: false,
                    demoted: 0,
                    seen: self.request,
                });
                let e = self.entries.len() - 1;
                self.index.insert(Bytes::copy_from_slice(k), e);
                self.remember(pos, e);
            }
            return Ok(Item::Set(key, value));
        };
        let request = self.request;
        let entry = &mut self.entries[e];
        // (A name the request brings twice counts once.)
        let first = entry.seen != request;
        entry.seen = request;
        if entry.steady && first {
            self.steady_seen += 1;
        }
        if let Some((bytes, s)) = &entry.value
            && bytes.as_slice() == v
        {
            entry.changes = 0;
            if first {
                entry.same = entry.same.saturating_add(1);
            }
            if entry.steady {
                return Ok(Item::Steady);
            }
            let s = s.bind(py).clone();
            if first && entry.may_become_steady() {
                self.promote.push(e);
            }
            return Ok(Item::Set(self.entries[e].key.bind(py).clone(), s));
        }
        let key = entry.key.bind(py).clone();
        let value = latin1_py(py, v)?;
        entry.same = 0;
        if entry.steady {
            // Set over the copied value; out of the steady items (it was
            // counted in `steady_seen` at its first sighting).
            entry.steady = false;
            entry.demoted = entry.demoted.saturating_add(1);
            self.steady_count -= 1;
            self.steady_seen -= 1;
            self.rebuild = true;
        }
        entry.changes = entry.changes.saturating_add(1);
        if entry.changes >= VOLATILE || v.len() > MAX_CACHED_VALUE {
            entry.value = None;
        } else {
            let mut bytes = entry.value.take().map(|(b, _)| b).unwrap_or_default();
            bytes.clear();
            bytes.extend_from_slice(v);
            entry.value = Some((bytes, value.clone().unbind()));
        }
        Ok(Item::Set(key, value))
    }

    /// A new request's environ: a copy of the steady items.
    fn start<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        // (Left to do when the last environ failed half-way.)
        if self.rebuild {
            self.build_steady(py)?;
        }
        self.request += 1;
        self.steady_seen = 0;
        self.steady.bind(py).copy()
    }

    /// After a request's items: deletes from `env` the steady items the
    /// request did not bring (they leave the steady items), and builds
    /// the steady dict again if its items changed.
    fn finish(&mut self, py: Python<'_>, env: &Bound<'_, PyDict>) -> PyResult<()> {
        if self.steady_seen < self.steady_count {
            let request = self.request;
            for entry in &mut self.entries {
                if entry.steady && entry.seen != request {
                    env.del_item(entry.key.bind(py))?;
                    entry.steady = false;
                    entry.same = 0;
                    entry.demoted = entry.demoted.saturating_add(1);
                    self.steady_count -= 1;
                    self.rebuild = true;
                }
            }
        }
        if !self.rebuild && self.promote.is_empty() {
            return Ok(());
        }
        for e in std::mem::take(&mut self.promote) {
            let entry = &mut self.entries[e];
            if entry.may_become_steady() {
                entry.steady = true;
                self.steady_count += 1;
            }
        }
        self.build_steady(py)
    }

    /// Builds the steady dict anew from the entries, not changed in
    /// place: a dict with deleted items would be copied item by item,
    /// into a table not sized for a whole environ.
    fn build_steady(&mut self, py: Python<'_>) -> PyResult<()> {
        // (Still set if this fails half-way: `start` tries again.)
        self.rebuild = true;
        let steady = self.template.bind(py).copy()?;
        for entry in self.entries.iter().filter(|e| e.steady) {
            if let Some((_, value)) = &entry.value {
                steady.set_item(entry.key.bind(py), value.bind(py))?;
            }
        }
        self.steady = steady.unbind();
        self.rebuild = false;
        Ok(())
    }
}

/// A Python str from Latin-1 bytes (CPython copies them in one step, as
/// a compact ASCII string when they are ASCII, the usual case).
fn latin1_py<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: the pointer and length are the slice's. The result is a new
    // reference to a str, or NULL with an exception set (memory
    // exhaustion: Latin-1 decoding has no other failure), which
    // `from_owned_ptr_or_err` turns into the error.
    #[allow(unsafe_code)]
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyUnicode_DecodeLatin1(
                b.as_ptr().cast(),
                b.len() as pyo3::ffi::Py_ssize_t,
                std::ptr::null(),
            ),
        )
        .map(|s| s.cast_into_unchecked::<PyString>())
    }
}

fn latin1_str(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

/// Passes each CGI variable of the request head to `set` (all but
/// `HTTPS`, which only decides the scheme); returns whether the request
/// came over HTTPS and the client's (address, port).
#[inline]
pub(crate) fn cgi_items<E>(
    head: &RequestHead,
    mut set: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
) -> Result<(bool, (Bytes, Bytes)), E> {
    let mut https = false;
    let mut remote = (Bytes::new(), Bytes::new());
    for (k, v) in head.environ.iter() {
        match k {
            // (mod_wsgi's daemon turns HTTPS into wsgi.url_scheme and
            // does not pass it on.)
            k if k == quill_protocol::transport::HTTPS => {
                https |= quill_protocol::transport::is_https(v);
                continue;
            }
            b"REQUEST_SCHEME" => https |= v == b"https",
            b"REMOTE_ADDR" => remote.0 = head.environ.share(v),
            b"REMOTE_PORT" => remote.1 = head.environ.share(v),
            _ => {}
        }
        set(k, v)?;
    }
    Ok((https, remote))
}

/// Builds the WSGI environ from the request head.
pub fn environ<'py>(
    py: Python<'py>,
    cache: &mut EnvironCache,
    head: &RequestHead,
    input: Input,
    request: &RequestFacts,
) -> PyResult<Bound<'py, PyDict>> {
    let env = cache.start(py)?;
    let mut pos = 0;
    let (https, remote) = cgi_items(head, |k, v| {
        let item = cache.item(py, pos, k, v)?;
        pos += 1;
        match item {
            Item::Steady => Ok(()),
            Item::Set(key, value) => env.set_item(key, value),
        }
    })?;
    cache.finish(py, &env)?;
    let f = &cache.fixed;
    let scheme = if https { &f.https } else { &f.http };
    env.set_item(f.url_scheme.bind(py), scheme.bind(py))?;
    env.set_item(f.input.bind(py), Py::new(py, input)?)?;
    env.set_item(
        f.errors.bind(py),
        Py::new(
            py,
            ErrorStream {
                remote,
                buf: Mutex::new(String::new()),
                sink: cache.errors.0.clone(),
                encoding: "utf-8",
                errors: "backslashreplace",
            },
        )?,
    )?;
    let start = PyString::new(py, &request.daemon_start_us.to_string());
    let thread_id = request.thread_id.into_pyobject(py)?;
    env.set_item(f.daemon_start.bind(py), &start)?;
    env.set_item(f.thread_id.bind(py), &thread_id)?;
    env.set_item(f.thread_requests.bind(py), request.thread_requests)?;
    env.set_item(f.total_requests.bind(py), request.total_requests)?;
    env.set_item(f.quill_daemon_start.bind(py), start)?;
    env.set_item(f.quill_thread_id.bind(py), thread_id)?;
    Ok(env)
}

/// Sets `mod_wsgi.script_start` (microseconds since the epoch) in an
/// environ [`environ`] built.
pub fn stamp_script_start(
    py: Python<'_>,
    cache: &EnvironCache,
    env: &Bound<'_, PyDict>,
    us: u64,
) -> PyResult<()> {
    env.set_item(
        cache.fixed.script_start.bind(py),
        PyString::new(py, &us.to_string()),
    )
}

/// How a request ended, for the caller's logs and counters.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `kept`: the response ended with `ResponseEnd { keep: true }`.
    Completed { kept: bool },
    /// The client (front end) went away; the response was dropped.
    ClientGone,
    /// Failed before or after the head (logged).
    Failed,
    /// request-timeout interrupted the application.
    TimedOut,
}

/// Serves one request: calls the application and streams its response.
#[allow(clippy::too_many_arguments)]
pub fn run(
    py: Python<'_>,
    support: &Bound<'_, PyModule>,
    app: &Bound<'_, PyAny>,
    environ: &Bound<'_, PyDict>,
    writer: &Writer,
    timeout_exc: &Bound<'_, PyAny>,
    script: &str,
    log: &dyn Fn(&str),
    keep: &dyn Fn() -> bool,
) -> Outcome {
    let response = Response::new(writer);
    let start_response = match Py::new(
        py,
        StartResponse {
            response: response.clone(),
        },
    ) {
        Ok(s) => s,
        Err(e) => return fail(py, support, writer, e, timeout_exc, script, log),
    };
    let result = match app.call1((environ, start_response)) {
        Ok(r) => r,
        Err(e) => return fail(py, support, writer, e, timeout_exc, script, log),
    };
    let outcome = consume(py, &result, &response).map_or_else(
        |e| match e {
            Consume::Client => Outcome::ClientGone,
            Consume::App(e) => fail(py, support, writer, e, timeout_exc, script, log),
        },
        |()| Outcome::Completed { kept: false },
    );
    // close() is always called, whatever happened. (An exact list or
    // tuple has none: asking would raise and clear an AttributeError.)
    let plain = result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>();
    let closed = if plain {
        Ok(false)
    } else {
        result.hasattr("close")
    }
    .and_then(|has| {
        if has {
            result.call_method0("close").map(|_| ())
        } else {
            Ok(())
        }
    });
    let mut outcome = outcome;
    if let Err(e) = closed {
        if matches!(outcome, Outcome::Completed { .. }) {
            outcome = fail(py, support, writer, e, timeout_exc, script, log);
        } else {
            log(&format!(
                "Exception occurred in close() of the response of WSGI script '{script}'.\n{}",
                format_exc(py, support, &e)
            ));
        }
    }
    if matches!(outcome, Outcome::Completed { .. }) {
        outcome = end_response(&py, &response, writer, script, log, keep);
    }
    outcome
}

/// Ends a response the application completed: the head (for an empty
/// body) and the end go out together with whatever is still queued, in
/// one write; a 500 when `start_response` was never called.
pub(crate) fn end_response<G: Gil>(
    gil: &G,
    response: &Response,
    writer: &Writer,
    script: &str,
    log: &dyn Fn(&str),
    keep: &dyn Fn() -> bool,
) -> Outcome {
    let queued = {
        let s = response.started();
        s.head
            .as_ref()
            .map(|h| writer.queue_head(h, s.content_length))
    };
    match queued {
        Some(Ok(())) => {
            let kept = keep();
            let ended = writer
                .queue(&Frame::ResponseEnd { keep: kept })
                .and_then(|()| flush(gil, writer));
            match ended {
                Ok(()) => {
                    if !kept {
                        writer.close();
                    }
                    Outcome::Completed { kept }
                }
                Err(_) => Outcome::ClientGone,
            }
        }
        Some(Err(_)) => Outcome::ClientGone,
        None => {
            log(&format!(
                "The WSGI application of script '{script}' returned without calling start_response()."
            ));
            gil.release(|| {
                writer.finish(&Frame::Fail {
                    status: 500,
                    message: "application did not call start_response()".into(),
                })
            });
            Outcome::Failed
        }
    }
}

enum Consume {
    Client,
    App(PyErr),
}

fn consume(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    response: &Arc<Response>,
) -> Result<(), Consume> {
    if let Ok(fw) = result.cast::<FileWrapper>() {
        if !response.writer.head_sent() {
            if let Some(r) = try_sendfile(py, &fw.borrow(), response) {
                return r;
            }
        }
    }
    // A list or tuple is the whole body at once (and has no close()): its
    // blocks are queued behind the head and go out with the end of the
    // response in one write. Checked first, so that a bad item still
    // gets a clean 500.
    if result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>() {
        return queue_whole(response, result.try_iter().map_err(Consume::App)?);
    }
    let iter = result.try_iter().map_err(Consume::App)?;
    // So is an iterator over a list or tuple (what Django's HttpResponse
    // gives): its items are all there already, and taking them cannot
    // wait on anything.
    if is_sequence_iterator(&iter) {
        return queue_whole(response, iter);
    }
    for item in iter {
        let item = item.map_err(Consume::App)?;
        let b = item.cast::<PyBytes>().map_err(|_| {
            Consume::App(PyTypeError::new_err(format!(
                "sequence of byte string values expected, value of type {} found",
                type_name(&item)
            )))
        })?;
        let data = b.as_bytes();
        if data.is_empty() {
            continue;
        }
        match response.send(py, data) {
            Ok(()) => {}
            Err(e) if e.is_instance_of::<PyOSError>(py) && response.started().head.is_some() => {
                return Err(Consume::Client);
            }
            Err(e) => return Err(Consume::App(e)),
        }
    }
    Ok(())
}

/// Whether `iter` is exactly a list's or a tuple's iterator.
fn is_sequence_iterator(iter: &Bound<'_, PyIterator>) -> bool {
    // (Only the addresses of CPython's static type objects are taken.)
    let t = iter.get_type().as_type_ptr();
    std::ptr::eq(t, &raw mut pyo3::ffi::PyListIter_Type)
        || std::ptr::eq(t, &raw mut pyo3::ffi::PyTupleIter_Type)
}

/// Queues a whole body (`items`, which never wait) behind the head: it
/// goes out with the end of the response in one write. A bad item is
/// found before anything is queued, so it still gets a clean 500.
fn queue_whole(response: &Arc<Response>, items: Bound<'_, PyIterator>) -> Result<(), Consume> {
    let mut blocks = Vec::new();
    for item in items {
        let item = item.map_err(Consume::App)?;
        let b = item.cast_into::<PyBytes>().map_err(|e| {
            Consume::App(PyTypeError::new_err(format!(
                "sequence of byte string values expected, value of type {} found",
                type_name(e.into_inner().as_any())
            )))
        })?;
        blocks.push(b);
    }
    let s = response.started();
    for b in blocks.iter().filter(|b| !b.as_bytes().is_empty()) {
        let Some(h) = &s.head else {
            return Err(Consume::App(PyRuntimeError::new_err(
                "response has not been started (start_response() was not called)",
            )));
        };
        let queued = response
            .writer
            .queue_head(h, s.content_length)
            .and_then(|()| response.writer.queue_body(b.as_bytes()));
        if queued.is_err() {
            return Err(Consume::Client);
        }
    }
    Ok(())
}

/// Serves a `wsgi.file_wrapper` of a regular file with sendfile(2) from its
/// current position. `None` = not applicable; iterate instead.
fn try_sendfile(
    py: Python<'_>,
    fw: &FileWrapper,
    response: &Arc<Response>,
) -> Option<Result<(), Consume>> {
    let f = fw.filelike.bind(py);
    let fd: i32 = f.call_method0("fileno").ok()?.extract().ok()?;
    let pos: u64 = f.call_method0("tell").ok()?.extract().ok()?;
    // The file object stays alive (we hold `f`) for the whole send, so its
    // descriptor does too.
    Some(match sendfile_from(&py, response, fd, pos)? {
        Sent::Done => Ok(()),
        Sent::NotStarted => Err(Consume::App(PyRuntimeError::new_err(NOT_STARTED))),
        Sent::ClientGone => Err(Consume::Client),
    })
}

/// What [`sendfile_from`] did.
#[derive(Debug)]
pub(crate) enum Sent {
    Done,
    NotStarted,
    ClientGone,
}

/// Sends the regular file open at `fd` from `pos` with sendfile(2), the
/// head first; `None` = not a regular file (iterate instead). The caller
/// keeps the file object that owns `fd` alive.
pub(crate) fn sendfile_from<G: Gil>(
    gil: &G,
    response: &Response,
    fd: i32,
    pos: u64,
) -> Option<Sent> {
    let borrowed: BorrowedFd<'_> = borrow_fd(fd)?;
    let st = nix::sys::stat::fstat(borrowed).ok()?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    let size = u64::try_from(st.st_size).ok()?;
    let mut len = size.saturating_sub(pos);
    let (head, cl) = {
        let mut s = response.started();
        let Some(mut head) = s.head.clone() else {
            return Some(Sent::NotStarted);
        };
        match s.content_length {
            Some(cl) => len = len.min(cl),
            None => {
                head.headers.push((
                    Bytes::from_static(b"Content-Length"),
                    Bytes::from(len.to_string()),
                ));
            }
        }
        s.content_length = Some(len);
        s.head = Some(head.clone());
        (head, Some(len))
    };
    let writer = response.writer.clone();
    let r = gil.release(move || {
        writer.queue_head(&head, cl)?;
        let fd = borrow_fd(fd).ok_or_else(|| {
            crate::conn::WriteError::Closed(std::io::Error::other("file descriptor went away"))
        })?;
        writer.sendfile(fd, pos, len)
    });
    Some(if r.is_ok() {
        Sent::Done
    } else {
        Sent::ClientGone
    })
}

fn borrow_fd(fd: i32) -> Option<BorrowedFd<'static>> {
    // The descriptor belongs to a Python file object the caller keeps alive
    // for the duration of the borrow.
    #[allow(unsafe_code)]
    // SAFETY: fd >= 0 and open (fileno() just returned it); see above.
    (fd >= 0).then(|| unsafe { BorrowedFd::borrow_raw(fd) })
}

fn format_exc(py: Python<'_>, support: &Bound<'_, PyModule>, e: &PyErr) -> String {
    support
        .call_method1("format_exception", (e.value(py),))
        .and_then(|s| s.extract::<String>())
        .unwrap_or_else(|_| e.to_string())
}

fn fail(
    py: Python<'_>,
    support: &Bound<'_, PyModule>,
    writer: &Writer,
    e: PyErr,
    timeout_exc: &Bound<'_, PyAny>,
    script: &str,
    log: &dyn Fn(&str),
) -> Outcome {
    let failure = if e.get_type(py).is(timeout_exc) {
        AppFailure::TimedOut
    } else {
        AppFailure::Raised {
            traceback: format_exc(py, support, &e),
            message: e.to_string(),
        }
    };
    fail_with(&py, writer, &failure, script, log)
}

/// How an application failed.
#[derive(Debug)]
pub(crate) enum AppFailure {
    /// request-timeout interrupted it.
    TimedOut,
    /// It raised: the formatted traceback for the log, `Type: value` for
    /// the front end.
    Raised { traceback: String, message: String },
}

/// Logs an application failure and ends the response with a 500 (504 for
/// request-timeout), or cuts it if its head is out.
pub(crate) fn fail_with<G: Gil>(
    gil: &G,
    writer: &Writer,
    failure: &AppFailure,
    script: &str,
    log: &dyn Fn(&str),
) -> Outcome {
    let (status, msg) = match failure {
        AppFailure::TimedOut => {
            log(&format!(
                "Request of WSGI script '{script}' interrupted by request-timeout; it unwound cleanly."
            ));
            (504, "request-timeout expired".to_string())
        }
        AppFailure::Raised { traceback, message } => {
            log(&format!(
                "Exception occurred processing WSGI script '{script}'.\n{traceback}"
            ));
            (500, message.clone())
        }
    };
    let w = writer.clone();
    gil.release(move || w.fail_for_stuck_thread(status, &msg));
    if matches!(failure, AppFailure::TimedOut) {
        Outcome::TimedOut
    } else {
        Outcome::Failed
    }
}

impl Input {
    pub fn from_body(body: Arc<Mutex<Body>>) -> Input {
        Input { body }
    }
}

#[cfg(test)]
mod tests {
    use super::check_header;

    /// RFC 9110's tchar, spelled out.
    fn is_tchar(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
    }

    #[test]
    fn header_names_are_tokens_byte_by_byte() {
        for b in 0..=255u8 {
            let name = [b'X', b, b'Y'];
            let got = check_header(&name, b"v");
            assert_eq!(got.is_ok(), is_tchar(b), "byte {b:#04x}: {got:?}");
            if let Err(e) = got {
                assert!(e.contains("is not a valid token"), "{e}");
            }
        }
        assert!(check_header(b"", b"v").is_err());
    }

    #[test]
    fn header_values_refuse_control_characters_but_tab() {
        assert_eq!(check_header(b"X-A", b"a\tb c~\xe9"), Ok(None));
        for bad in [&b"a\nb"[..], b"a\rb", b"\x00", b"a\x7f"] {
            let e = check_header(b"X-A", bad).unwrap_err();
            assert!(e.contains("control character"), "{e}");
        }
    }

    #[test]
    fn content_length_is_read_and_hop_by_hop_headers_are_refused() {
        assert_eq!(check_header(b"content-LENGTH", b" 42 "), Ok(Some(42)));
        assert!(check_header(b"Content-Length", b"4x").is_err());
        let e = check_header(b"Transfer-Encoding", b"chunked").unwrap_err();
        assert!(e.contains("hop-by-hop"), "{e}");
    }
}
