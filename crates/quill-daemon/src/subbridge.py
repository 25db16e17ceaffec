# PEP 3333 in a sub-interpreter: the bridge for application groups other
# than %{GLOBAL}, loaded into each of them as module `_quill_bridge`.
#
# The main interpreter's bridge is Rust (bridge.rs, PyO3 classes). PyO3's
# classes cannot live in a second interpreter, so here the objects an
# application sees (wsgi.input, start_response, write, wsgi.file_wrapper,
# wsgi.errors) are plain Python, and the Rust side, module `_quill_native`
# (raw C-API functions, subinterp.rs), only moves bytes: the request body
# in, the checked response head and body out. The messages of the errors
# raised here are those of the Rust bridge.
import _quill_native as native
import _quill_support as support


class FileWrapper:
    """wsgi.file_wrapper (a regular file goes out with sendfile(2))."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = max(blksize, 1)

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        try:
            empty = len(data) == 0
        except TypeError:
            empty = True
        if empty:
            raise StopIteration
        return data

    def close(self):
        if hasattr(self.filelike, "close"):
            self.filelike.close()


class Input:
    """wsgi.input: reads never go past the request body."""

    __slots__ = ("_io",)

    def __init__(self, io):
        self._io = io

    def read(self, size=None):
        return native.read(self._io, -1 if size is None else size)

    def readline(self, size=None):
        return native.readline(self._io, -1 if size is None else size)

    def readlines(self, hint=None):
        out = []
        total = 0
        while True:
            line = native.readline(self._io, -1)
            if not line:
                break
            total += len(line)
            out.append(line)
            if hint is not None and hint > 0 and total >= hint:
                break
        return out

    def __iter__(self):
        return self

    def __next__(self):
        line = native.readline(self._io, -1)
        if not line:
            raise StopIteration
        return line


class ErrorStream(support.LogStream):
    """wsgi.errors: lines to the error log, tagged with the client; a
    partial last line is logged when flushed, closed or freed."""

    def __del__(self):
        self.flush()


def _latin1(s, what):
    if not isinstance(s, str):
        raise TypeError(
            "expected unicode object for %s, value of type %s found" % (what, type(s).__name__)
        )
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("%s must be Latin-1 encodable: %r" % (what, s)) from None


class _Response:
    __slots__ = ("_io",)

    def __init__(self, io):
        self._io = io

    def start_response(self, status, headers, exc_info=None):
        io = self._io
        if native.is_started(io):
            if exc_info is None:
                raise RuntimeError("headers have already been set")
            if native.head_sent(io):
                # PEP 3333: re-raise the original exception.
                raise exc_info[1]
        line = _latin1(status, "status")
        if not isinstance(headers, list):
            raise TypeError(
                "response headers must be a list, value of type %s found" % type(headers).__name__
            )
        checked = []
        for item in headers:
            if not isinstance(item, tuple):
                raise TypeError(
                    "list of tuple values expected, value of type %s found" % type(item).__name__
                )
            if len(item) != 2:
                raise ValueError("tuple of length 2 expected, length is %d" % len(item))
            checked.append((_latin1(item[0], "header name"), _latin1(item[1], "header value")))
        native.start(io, line, checked)
        return self.write

    def write(self, data):
        if not isinstance(data, bytes):
            raise TypeError(
                "expected byte string object for write(), value of type %s found"
                % type(data).__name__
            )
        native.send(self._io, data)


# What handle() reports: (kind, text, message, close_traceback).
_OK = ("ok", None, None, None)
_CLIENT = ("client", None, None, None)

_template = {}


def configure(multithread, multiprocess, run_once):
    """The constant part of every environ (set once per interpreter)."""
    _template.update(
        {
            "wsgi.version": (1, 0),
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": run_once,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
            "mod_wsgi.version": (4, 9, 4),
            "quill.version": (0, 1, 0),
        }
    )


def _failed(e):
    if isinstance(e, support.RequestTimeout):
        return ("timeout", None, None, None)
    name = type(e).__qualname__
    text = str(e)
    return ("app", support.format_exception(e), "%s: %s" % (name, text) if text else name, None)


def _consume(result, io):
    if isinstance(result, FileWrapper) and not native.head_sent(io):
        try:
            fd = result.filelike.fileno()
            pos = result.filelike.tell()
        except Exception:
            fd = pos = None
        if isinstance(fd, int) and isinstance(pos, int) and pos >= 0:
            sent = native.sendfile(io, fd, pos)
            if sent == 0:
                return _OK
            if sent == 1:
                return _CLIENT
    # A list or tuple is the whole body at once: its blocks go out with
    # the end of the response, in one write. Checked first, so that a bad
    # item still gets a clean 500.
    if type(result) is list or type(result) is tuple:
        return _queue_whole(result, io)
    it = iter(result)
    # So is an iterator over a list or tuple (what Django's HttpResponse
    # gives): its items are all there already.
    if type(it) in _SEQUENCE_ITERATORS:
        return _queue_whole(list(it), io)
    for block in it:
        if not isinstance(block, bytes):
            raise TypeError(
                "sequence of byte string values expected, value of type %s found"
                % type(block).__name__
            )
        if block:
            try:
                native.send(io, block)
            except OSError:
                if native.is_started(io):
                    return _CLIENT
                raise
    return _OK


_SEQUENCE_ITERATORS = (type(iter([])), type(iter(())))


def _queue_whole(blocks, io):
    for block in blocks:
        if not isinstance(block, bytes):
            raise TypeError(
                "sequence of byte string values expected, value of type %s found"
                % type(block).__name__
            )
    for block in blocks:
        if block and not native.queue(io, block):
            return _CLIENT
    return _OK


def handle(script, callable_name, cgi, io, remote, https, check, mtime):
    """Serves one request: loads the script (once, or again when `check`
    finds it changed: support.load_script), calls the application, streams
    its response through `io`, always calls close()."""
    try:
        app = support.get_application(script, callable_name, check, mtime)
    except LookupError as e:
        return ("lookup", str(e), None, None)
    except BaseException as e:
        return ("load", support.format_exception(e), None, None)
    environ = _template.copy()
    environ.update(cgi)
    environ["wsgi.url_scheme"] = "https" if https else "http"
    environ["wsgi.input"] = Input(io)
    environ["wsgi.errors"] = ErrorStream("error", "[remote %s] " % remote)
    response = _Response(io)
    try:
        result = app(environ, response.start_response)
    except BaseException as e:
        return _failed(e)
    try:
        outcome = _consume(result, io)
    except BaseException as e:
        outcome = _failed(e)
    try:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    except BaseException as e:
        if outcome[0] == "ok":
            outcome = _failed(e)
        else:
            outcome = outcome[:3] + (support.format_exception(e),)
    return outcome


def noop():
    """Runs a little bytecode, so that a pending asynchronous exception
    fires (and is then cleared by the caller)."""
