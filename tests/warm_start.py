"""The commands and app servers the tests start, forked from a Python that has already
imported the libraries they all import (issue 23: the suite's time is bound by the machine's
two cores).

Each `python -m tracker ...` a test runs spent about 0.6 of its 0.7 CPU seconds importing
pandas, numpy, pyarrow and DuckDB before reading its first argument, and each
`streamlit run server.py` about 1.3 seconds importing those and Streamlit; the suite starts
more than a hundred of the one and dozens of the other. Here, each test process starts one
helper (`python tests/warm_start.py SOCKET`) that imports those libraries and nothing of
the tracker's, then waits. For every command it forks a child, which takes the command's
standard input and output, working folder, environment, `sys.path` and arguments, and runs
the module or script as `python` would (`runpy`, as `-m` does), then ends as Python ends
(atexit, threads joined, files closed). The tracker's own modules are imported in the
child, after its environment is in place, never in the helper.

What stays a plain `subprocess`: any other program, and a test that is about how the
command starts (the `tracker` console command from another folder). `TRACKER_TEST_WARM_START=off`
runs everything as plain subprocesses (tests/test_warm_start.py compares the two).

The helper is single-threaded: one selector over its listening socket, the connections and
one pidfd per child; it reaps its children and tells the test each exit code. A connection
dropped before its child ends (the test process died) kills that child; the test process's
end (EOF on the helper's standard input) kills them all.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import io
import json
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback

# What every command and app server imports first; nothing that reads the tracker's settings.
PRELOAD = ("numpy", "pandas", "pyarrow", "duckdb", "altair", "argon2", "psycopg",
           "streamlit", "streamlit.web.cli", "streamlit.web.bootstrap")
ENV = "TRACKER_TEST_WARM_START"
_HEADER = struct.Struct("!I")


def enabled() -> bool:
    return os.environ.get(ENV, "on") != "off"


# --------------------------------------------------------------------------- the helper


def _serve(path: str) -> None:  # pragma: no cover - runs in the helper process
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    base_path = sys.path[1:]  # without this file's folder
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, ("accept", None))
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, ("parent", None))
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        for key, _ in sel.select():
            what, item = key.data
            if what == "accept":
                conn, _ = listener.accept()
                sel.register(conn, selectors.EVENT_READ, ("request", conn))
            elif what == "parent":
                if not os.read(sys.stdin.fileno(), 4096):  # the test process has ended
                    for pid, _conn in children.values():
                        _signal(pid, signal.SIGKILL)
                    import shutil

                    shutil.rmtree(os.path.dirname(path), ignore_errors=True)  # its socket, log
                    return
            elif what == "request":
                sel.unregister(item)
                request, fds = _receive(item)
                if request is None:
                    item.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    listener.close()
                    item.close()
                    for pidfd, (_pid, other) in children.items():
                        os.close(pidfd)
                        other.close()
                    _child(request, fds, base_path)  # never returns
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = (pid, item)
                sel.register(pidfd, selectors.EVENT_READ, ("exit", pidfd))
                sel.register(item, selectors.EVENT_READ, ("control", pidfd))
                item.sendall(f"{pid}\n".encode())
            elif what == "exit":
                pid, conn = children.pop(item)
                sel.unregister(item)
                os.close(item)
                if conn.fileno() in sel.get_map():
                    sel.unregister(conn)
                _, status = os.waitpid(pid, 0)
                with contextlib.suppress(OSError):
                    conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                conn.close()
            elif what == "control":  # a signal to send, or the test dropped the connection
                pid, conn = children[item]
                data = conn.recv(64)
                if not data:
                    sel.unregister(conn)
                for word in data.split() if data else [b"KILL"]:
                    _signal(pid, getattr(signal, "SIG" + word.decode()))


def _signal(pid: int, sig: int) -> None:  # pragma: no cover - runs in the helper process
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _receive(conn: socket.socket):  # pragma: no cover - runs in the helper process
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    if len(data) < _HEADER.size:
        return None, fds
    (size,) = _HEADER.unpack_from(data)
    data = data[_HEADER.size:]
    while len(data) < size:
        more = conn.recv(size - len(data))
        if not more:
            return None, fds
        data += more
    return json.loads(data), fds


def _child(request: dict, fds: list[int], base_path: list[str]):  # pragma: no cover
    """In the forked child (the helper's sockets closed): become the command, run it, and
    end as Python ends."""
    code = 1
    try:
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("umask") is not None:
            os.umask(request["umask"])
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT
                          else signal.SIG_IGN if sig == signal.SIGPIPE else signal.SIG_DFL)
        _standard_streams()
        argv = request["argv"]
        extra = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                 if p]
        import runpy

        if argv[0] == "-m":
            sys.path[:] = [os.getcwd(), *extra, *base_path]
            sys.argv = [argv[1], *argv[2:]]
            importlib.invalidate_caches()
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            script = os.path.abspath(argv[0])
            sys.path[:] = [os.path.dirname(script), *extra, *base_path]
            sys.argv = list(argv)
            importlib.invalidate_caches()
            runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code
    except BaseException:
        traceback.print_exc()
        code = 1
    if request["argv"][:2] == ["-m", "streamlit"]:
        raise SystemExit(code)  # an app server ends as Python ends, its database closed
    _end(code)


def _end(code) -> None:  # pragma: no cover - runs in the helper process
    """End a command as Python ends (its threads joined, its exit handlers run, its output
    flushed) but without tearing down the modules it inherited: that would touch, and so
    copy, every page of the helper's memory (0.3 CPU s a command). The commands close
    what they open (`with Database(...)`), as the tests of each check."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        threading._shutdown()
    except Exception:  # noqa: BLE001 - as Python does, go on to the exit handlers
        traceback.print_exc()
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _standard_streams() -> None:  # pragma: no cover - runs in the helper process
    """Standard input, output and error on the command's descriptors, set up as Python
    sets them up for a new process (block-buffered output to a pipe or file)."""
    encoding = os.environ.get("PYTHONIOENCODING", "").split(":")[0] or "utf-8"
    codecs.lookup(encoding)
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(
        io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=encoding)
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding=encoding,
        errors="strict", line_buffering=os.isatty(1))
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding=encoding,
        errors="backslashreplace", line_buffering=True)


# --------------------------------------------------------------------------- the test side

_LOCK = threading.Lock()
_HELPER: dict = {}


def _helper_socket() -> str:
    """The socket of this process's helper, started on first use."""
    with _LOCK:
        proc = _HELPER.get("proc")
        if proc is not None and proc.poll() is None and _HELPER.get("pid") == os.getpid():
            return _HELPER["path"]
        folder = tempfile.mkdtemp(prefix="tracker-warm-")
        path = os.path.join(folder, "socket")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        log = os.path.join(folder, "log")
        with open(log, "w") as errors:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and file
                [sys.executable, os.path.abspath(__file__), path], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=errors, env=env, cwd=folder)
        if proc.stdout.readline() != b"ready\n":
            with open(log) as errors:
                raise RuntimeError("the warm-start helper did not start: " + errors.read())
        _HELPER.update(proc=proc, path=path, pid=os.getpid())
        return path


def _warm(args) -> list[str] | None:
    """`args` after the interpreter, if it is `python -m module ...` or `python script.py ...`
    (nothing else goes through the helper)."""
    args = [os.fspath(a) for a in args]
    if not enabled() or len(args) < 2 or args[0] != sys.executable:
        return None
    if args[1] == "-m" and len(args) > 2:
        return args[1:]
    if not args[1].startswith("-") and args[1].endswith(".py"):
        return args[1:]
    return None


class Started:
    """A command the helper started: what the tests use of `subprocess.Popen`."""

    def __init__(self, args, conn: socket.socket, pid: int):
        self.args, self.pid, self.returncode = args, pid, None
        self._conn = conn
        self._rest = b""

    def poll(self):
        if self.returncode is None:
            ready, _, _ = select.select([self._conn], [], [], 0)
            if ready:
                self._read_code()
        return self.returncode

    def wait(self, timeout: float | None = None):
        if self.returncode is None:
            ready, _, _ = select.select([self._conn], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self._read_code()
        return self.returncode

    def _read_code(self) -> None:
        data = self._rest
        while not data.endswith(b"\n"):
            more = self._conn.recv(64)
            if not more:
                raise RuntimeError(f"the warm-start helper went away while {self.args} ran")
            data += more
        self.returncode = int(data)
        self._conn.close()

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            # the helper sends it, while the child is still its own (never a reused pid)
            with contextlib.suppress(OSError):
                self._conn.sendall(signal.Signals(sig).name[3:].encode() + b" ")

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _start(args, warm_args, *, cwd, env, stdin_fd, stdout_fd, stderr_fd, umask=None) -> Started:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(_helper_socket())
    payload = json.dumps({"argv": warm_args, "cwd": os.path.abspath(os.fspath(cwd or os.getcwd())),
                          "env": dict(os.environ if env is None else env),
                          "umask": umask}).encode()
    message = _HEADER.pack(len(payload)) + payload
    sent = socket.send_fds(conn, [message], [stdin_fd, stdout_fd, stderr_fd])
    conn.sendall(message[sent:])
    line = b""
    while not line.endswith(b"\n"):
        more = conn.recv(64)
        if not more:
            conn.close()
            raise RuntimeError(f"the warm-start helper did not start {args}")
        line += more
    pid, _, rest = line.partition(b"\n")
    started = Started(args, conn, int(pid))
    started._rest = rest
    return started


def popen(args, *, cwd=None, env=None, stdout=None, stderr=None):
    """`subprocess.Popen(args, cwd=, env=, stdout=, stderr=)` for a command that only
    writes (an app server): through the helper when it can be, otherwise plainly."""
    warm_args = _warm(args)
    if warm_args is None:
        return subprocess.Popen(args, cwd=cwd, env=env, stdout=stdout, stderr=stderr)  # noqa: S603

    def fd(stream, default):
        if stream is None:
            return default
        return stream if isinstance(stream, int) else stream.fileno()

    with open(os.devnull, "rb") as nothing:
        out = fd(stdout, 1)
        err = out if stderr == subprocess.STDOUT else fd(stderr, 2)
        return _start(list(args), warm_args, cwd=cwd, env=env, stdin_fd=nothing.fileno(),
                      stdout_fd=out, stderr_fd=err)


def run(args, *, cwd=None, env=None, input=None, capture_output=False, text=False,
        timeout=None, umask=None, check=False) -> subprocess.CompletedProcess:
    """`subprocess.run` with `capture_output=True` (the only way the tests run commands),
    through the helper when it can be, otherwise plainly. `umask` is the child's (what a
    `preexec_fn` setting it did)."""
    warm_args = _warm(args)
    if warm_args is None or not capture_output:
        preexec = None if umask is None else (lambda: os.umask(umask))
        return subprocess.run(args, cwd=cwd, env=env, input=input,  # noqa: S603, PLW1510
                              capture_output=capture_output, text=text, timeout=timeout,
                              preexec_fn=preexec, check=check)
    data = input.encode() if isinstance(input, str) else input
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        started = _start(list(args), warm_args, cwd=cwd, env=env, stdin_fd=in_r,
                         stdout_fd=out_w, stderr_fd=err_w, umask=umask)
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}

    def drain(fd: int) -> None:
        while block := os.read(fd, 1 << 16):
            chunks[fd].append(block)

    def feed() -> None:
        try:
            if data:
                with open(in_w, "wb", closefd=False) as pipe:
                    pipe.write(data)
        except BrokenPipeError:
            pass
        finally:
            os.close(in_w)

    threads = [threading.Thread(target=drain, args=(fd,), daemon=True) for fd in chunks]
    threads.append(threading.Thread(target=feed, daemon=True))
    for thread in threads:
        thread.start()
    try:
        code = started.wait(timeout)
    except subprocess.TimeoutExpired:
        started.kill()
        started.wait()
        raise
    finally:
        for thread in threads:
            thread.join()
        for fd in chunks:
            os.close(fd)
    stdout, stderr = b"".join(chunks[out_r]), b"".join(chunks[err_r])
    if text:
        stdout, stderr = (_text(b) for b in (stdout, stderr))
    done = subprocess.CompletedProcess(list(args), code, stdout, stderr)
    if check:
        done.check_returncode()
    return done


def _text(data: bytes) -> str:
    """As `subprocess.run(text=True)` decodes: the locale's encoding, universal newlines."""
    return data.decode().replace("\r\n", "\n").replace("\r", "\n")


if __name__ == "__main__":  # pragma: no cover
    _serve(sys.argv[1])
