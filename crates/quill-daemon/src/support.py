# Python side of Quill's WSGI bridge: script loading, log streams, the
# `mod_wsgi` and `quill` modules. Loaded into each interpreter of a daemon
# process as module `_quill_support` (the main interpreter, and every
# sub-interpreter of an application group); in the main interpreter the
# hot path (environ, start_response, body I/O) is in Rust, in a
# sub-interpreter it is `_quill_bridge` (subbridge.py).
import hashlib
import os
import site
import sys
import threading
import time
import traceback
import types

# Set by the daemon: _log(level: str, message: str).
_log = None
# Set by the daemon: _restart(reason: str) asks for a graceful restart.
_restart = None


class RequestTimeout(BaseException):
    """Raised inside a request thread that ran past request-timeout.

    A BaseException, so `except Exception` in application code does not
    swallow it: the thread unwinds and the client gets a 504."""


class LogStream:
    """A text stream whose lines go to the error log (sys.stdout,
    sys.stderr and wsgi.errors)."""

    encoding = "utf-8"
    errors = "backslashreplace"

    def __init__(self, level="error", prefix=""):
        self._level = level
        self._prefix = prefix
        self._buf = ""
        self._lock = threading.Lock()

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        with self._lock:
            self._buf += s
            if "\n" in self._buf:
                lines = self._buf.split("\n")
                self._buf = lines.pop()
                for line in lines:
                    _log(self._level, self._prefix + line)
        return len(s)

    def writelines(self, lines):
        for s in lines:
            self.write(s)

    def flush(self):
        with self._lock:
            if self._buf:
                _log(self._level, self._prefix + self._buf)
                self._buf = ""

    def close(self):
        self.flush()

    def isatty(self):
        return False

    def readable(self):
        return False

    def writable(self):
        return True


def errors_stream(remote):
    return LogStream("error", "[remote %s] " % remote if remote else "")


def setup(group, threads, processes, home, python_path, application_group=""):
    for d in python_path:
        before = list(sys.path)
        site.addsitedir(d)
        added = [p for p in sys.path if p not in before]
        sys.path[:] = added + [p for p in sys.path if p not in added]
    if home:
        sys.path.insert(0, home)
    sys.stdout = LogStream("error")
    sys.stderr = LogStream("error")
    sys.argv = ["quill"]
    for name in ("mod_wsgi", "quill"):
        m = types.ModuleType(name)
        m.version = (4, 9, 4) if name == "mod_wsgi" else (0, 1, 0)
        m.process_group = group
        m.application_group = application_group
        m.maximum_processes = processes
        m.threads_per_process = threads
        m.RequestTimeout = RequestTimeout
        sys.modules[name] = m


_scripts = {}
_load_lock = threading.RLock()


def _mtime(path):
    """The file's mtime in microseconds since the epoch, as mod_wsgi keeps
    it in a script module's `__mtime__`; None if it cannot be stat'ed."""
    try:
        return os.stat(path).st_mtime_ns // 1000
    except OSError:
        return None


def _current(mod, check, mtime):
    """Whether a loaded script module may serve: always without `check`;
    with it, when it was loaded from the file as it is (`mtime`)."""
    return not check or (mtime is not None and getattr(mod, "__mtime__", None) == mtime)


def load_script(path, check=False, mtime=None):
    """The module for the WSGI script at `path`, loaded once (keyed by the
    path, module name `_mod_wsgi_<md5>` as in mod_wsgi), with the file's
    mtime in `__mtime__`.

    With `check` (embedded mode's script reloading), `mtime` is the file's
    mtime as the caller saw it (None: it could not be stat'ed): a module
    loaded from another version of the file is loaded again in place, a
    new module under the same name, as mod_wsgi's embedded mode does.
    Modules the script imports are not reloaded. A load that fails leaves
    no module behind, so the next request tries again."""
    mod = _scripts.get(path)
    if mod is not None and _current(mod, check, mtime):
        return mod
    with _load_lock:
        mod = _scripts.get(path)
        # Another thread may have reloaded it meanwhile: the file decides.
        if mod is not None and _current(mod, check, _mtime(path) if check else None):
            return mod
        name = "_mod_wsgi_" + hashlib.md5(path.encode("utf-8", "surrogateescape")).hexdigest()
        if mod is not None:
            _log("info", "Reloading WSGI script '%s'." % path)
            del _scripts[path]
            sys.modules.pop(name, None)
        else:
            _log("info", "Loading Python script file '%s'." % path)
        loaded_mtime = _mtime(path)
        with open(path, "rb") as f:
            source = f.read()
        mod = types.ModuleType(name)
        mod.__file__ = path
        mod.__mtime__ = loaded_mtime
        sys.modules[name] = mod
        try:
            exec(compile(source, path, "exec", dont_inherit=True), mod.__dict__)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        _scripts[path] = mod
        return mod


def get_application(path, callable_name, check=False, mtime=None):
    """The WSGI callable `callable_name` of the script at `path` (see
    `load_script` for `check` and `mtime`)."""
    mod = load_script(path, check, mtime)
    app = getattr(mod, callable_name, None)
    if app is None:
        raise LookupError(
            "Target WSGI script '%s' does not contain WSGI application '%s'." % (path, callable_name)
        )
    return app


def format_exception(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip("\n")


def thread_stacks():
    frames = sys._current_frames()
    out = []
    for t in threading.enumerate():
        f = frames.get(t.ident)
        if f is not None:
            out.append("Thread %s (%s):\n%s" % (t.ident, t.name, "".join(traceback.format_stack(f))))
    return "\n".join(out)


def run_exit_functions():
    import atexit
    atexit._run_exitfuncs()
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass


def start_module_watcher(interval=1.0):
    """express --reload-on-changes: restart when the file of any imported
    module (or a loaded script) changes or disappears."""

    def files():
        for m in list(sys.modules.values()):
            f = getattr(m, "__file__", None)
            if not f:
                continue
            if f.endswith(".pyc"):
                f = f[:-1]
            yield f

    def run():
        seen = {}
        while True:
            for f in files():
                try:
                    t = os.stat(f).st_mtime
                except OSError:
                    t = None
                if f not in seen:
                    seen[f] = t
                elif seen[f] != t:
                    _log("info", 'monitor (pid=%d): Change detected to "%s".' % (os.getpid(), f))
                    _restart("reload_on_changes")
                    return
            time.sleep(interval)

    threading.Thread(target=run, name="quill-reloader", daemon=True).start()
