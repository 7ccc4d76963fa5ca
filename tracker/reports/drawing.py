"""Charts drawn as images (PDF, PNG, SVG) by vl-convert, for the review pack and the learning
report.

A chart drawn before (the same specification, data included, and kind) comes from memory, or
from the folder TRACKER_CHART_CACHE names, if set: there the charts drawn by one process (an
app server, the command line, another app server of the same lab) are kept for the others
and for after a restart. A chart's file is named by the digest of its specification, so only
whoever builds the very same chart, data and all, can find it.
The rest are drawn while the report is still being built: a `Drawing` takes each chart as
soon as it is made and hands it to a worker process (`render_worker`; one per core but one),
so the other cores draw while this process gathers and builds the next ones. vl-convert
holds Python's lock while it draws, so threads in this process could not do that. A few
charts, or TRACKER_RENDER_PROCESSES=1, are drawn in this process instead.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from tracker.reports import render_worker

Progress = Callable[[float, str], None]

PARALLEL_FROM = 8  # charts; below this, starting worker processes costs more than it saves
RENDER_PROCESSES = "TRACKER_RENDER_PROCESSES"  # how many processes draw a pack's charts
WAIT_SECONDS = 600  # for one chart from a worker, at most

draw_one = render_worker.draw  # one chart, in this process

DRAWN_KEPT_BYTES = 64_000_000  # charts already drawn, kept in memory (the newest)
_drawn: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_drawn_lock = threading.Lock()
CHART_CACHE = "TRACKER_CHART_CACHE"  # a folder of charts drawn, shared between processes
FOLDER_KEPT_BYTES = 512_000_000  # in that folder, at most (the oldest go first)
TIDY_EVERY = 200  # charts written to the folder between two looks at its size
_written = [0]


def _folder() -> Path | None:
    named = os.environ.get(CHART_CACHE, "").strip()
    return Path(named) if named else None


def _file(folder: Path, key: tuple[str, str]) -> Path:
    return folder / f"{key[1]}.{key[0]}"


def recall(key: tuple[str, str]) -> bytes | None:
    """A chart drawn before: from memory, else from the shared folder (then kept in memory)."""
    with _drawn_lock:
        image = _drawn.get(key)
    folder = _folder()
    if image is not None or folder is None:
        return image
    try:
        image = _file(folder, key).read_bytes()
    except OSError:
        return None
    with _drawn_lock:
        _drawn[key] = image
    return image


def keep(drawn: dict[tuple[str, str], bytes]) -> None:
    """Charts just drawn, kept in memory (the newest DRAWN_KEPT_BYTES) and in the shared
    folder if there is one (written whole, then renamed: a reader never sees half a chart)."""
    with _drawn_lock:
        _drawn.update(drawn)
        size = sum(len(image) for image in _drawn.values())
        while size > DRAWN_KEPT_BYTES and _drawn:
            size -= len(_drawn.popitem(last=False)[1])
    folder = _folder()
    if folder is None or not drawn:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for key, image in drawn.items():
            target = _file(folder, key)
            if target.exists():
                continue
            handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")  # mode 0600
            with os.fdopen(handle, "wb") as out:
                out.write(image)
            os.replace(temporary, target)
            _written[0] += 1
        if _written[0] >= TIDY_EVERY:
            _written[0] = 0
            _tidy(folder)
    except OSError:
        pass  # a folder that cannot be written only means drawing again next time


def _tidy(folder: Path) -> None:
    """The folder's oldest charts removed while it holds more than FOLDER_KEPT_BYTES."""
    files = sorted((f.stat().st_mtime, f.stat().st_size, f) for f in folder.iterdir()
                   if f.is_file() and not f.name.endswith(".part"))
    size = sum(size for _, size, _ in files)
    for _, file_size, path in files:
        if size <= FOLDER_KEPT_BYTES:
            break
        path.unlink(missing_ok=True)
        size -= file_size


def render_processes() -> int:
    """Processes at work on the charts of a large pack or report: one per core (at most 4),
    or TRACKER_RENDER_PROCESSES (1: this process only; for a machine whose cores are busy with
    other work already, such as the test suite's parallel workers). This one builds the
    charts while the others draw them: on 2 cores, one drawing beside it was faster than two
    (they took turns with it on the cores, and it is the one the others wait for)."""
    asked = os.environ.get(RENDER_PROCESSES, "").strip()
    if asked.isdigit() and int(asked) >= 1:
        return min(int(asked), 8)
    return min(os.cpu_count() or 1, 4)


def spec_key(spec: dict, kind: str) -> tuple[str, str]:
    text = json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))
    return kind, hashlib.sha256(text.encode("utf-8")).hexdigest()


def render(specs: list[dict], kind: str, progress: Progress | None = None) -> list[bytes]:
    """Vega-Lite specs as PDF, PNG or SVG, in order."""
    with Drawing(kind, expected=len(specs)) as drawing:
        for spec in specs:
            drawing.add(spec)
        return drawing.images(progress)


class Drawing:
    """Charts of one kind handed in as they are built (`add`), and their images in the same
    order (`images`, which waits for the last). Use it in a `with` block: the worker
    processes end with it, whatever happens."""

    def __init__(self, kind: str, expected: int | None = None):
        self.kind = kind
        self.expected = expected  # how many charts are coming, if known
        self._keys: list[tuple[str, str]] = []
        self._specs: dict[int, dict] = {}  # not found in memory, to draw
        self._images: list[bytes | None] = []
        self._workers: list[_Worker] | None = None
        self._done: queue.Queue = queue.Queue()

    def __enter__(self) -> Drawing:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, spec: dict) -> None:
        """One more chart: from memory if drawn before, else given to a worker now (or kept
        to draw in this process)."""
        key = spec_key(spec, self.kind)
        image = recall(key)
        index = len(self._keys)
        self._keys.append(key)
        self._images.append(image)
        if image is not None:
            return
        self._specs[index] = spec
        workers = self._start()
        if workers:
            min(workers, key=lambda w: w.outstanding).send(index, spec, self.kind)

    def _start(self) -> list[_Worker]:
        if self._workers is None:
            count = render_processes()
            many = self.expected is None or self.expected >= PARALLEL_FROM
            # this process builds the charts while the others draw them
            self._workers = [_Worker(self._done) for _ in range(count - 1)] if many else []
        return self._workers

    def images(self, progress: Progress | None = None) -> list[bytes]:
        """Every chart's image, in the order they were added."""
        step = progress or (lambda fraction, text: None)
        total = len(self._specs)
        if not self._workers:
            for count, (index, spec) in enumerate(sorted(self._specs.items()), start=1):
                step(0.3 + 0.7 * (count - 1) / max(total, 1),
                     f"Drawing chart {count} of {total}")
                self._images[index] = draw_one((spec, self.kind))
        else:
            for count in range(1, total + 1):
                try:
                    index, image = self._done.get(timeout=WAIT_SECONDS)
                except queue.Empty:
                    raise RuntimeError("Drawing the charts took longer than "
                                       f"{WAIT_SECONDS} seconds for one chart.") from None
                if isinstance(image, Exception):
                    raise image
                self._images[index] = image
                step(0.3 + 0.7 * count / total, f"Drawn {count} of {total} charts")
        keep({self._keys[index]: self._images[index] for index in self._specs})
        self._specs.clear()
        return list(self._images)

    def close(self) -> None:
        for worker in self._workers or []:
            worker.close()
        self._workers = []


class _Worker:
    """One `python -m tracker.reports.render_worker` process: a chart in on a line of its
    input, its image out on a line of its output, in order. A thread writes (a large chart
    does not hold up the caller) and a thread reads."""

    def __init__(self, done: queue.Queue):
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ,
               "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        # a plain subprocess, not multiprocessing: inside the Streamlit server `__main__` is
        # the app's script, which multiprocessing's "spawn" would run again in every child
        self.errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in close()
        # (a file, not a pipe: a pipe left unread could fill and stall the worker)
        self.proc = subprocess.Popen([sys.executable, "-m", "tracker.reports.render_worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errors, env=env, cwd=root, text=True)
        self.done = done
        self.outstanding = 0  # charts sent and not yet answered
        self._count = threading.Lock()  # changed by the caller's thread and the reader's
        self._order: queue.Queue = queue.Queue()  # indexes sent, in the order sent
        self._lines: queue.Queue = queue.Queue()  # lines to write; None: no more
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._writer.start()
        self._reader.start()

    def send(self, index: int, spec: dict, kind: str) -> None:
        with self._count:
            self.outstanding += 1
        self._order.put(index)
        self._lines.put(json.dumps({"kind": kind, "spec": spec}) + "\n")

    def _write(self) -> None:
        # a worker that ended makes writing fail: the reader says why
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            while (line := self._lines.get()) is not None:
                self.proc.stdin.write(line)
                self.proc.stdin.flush()
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.close()

    def _read(self) -> None:
        for line in self.proc.stdout:
            index = self._order.get()
            with self._count:
                self.outstanding -= 1
            if line.startswith("!"):
                self.done.put((index, RuntimeError(f"Drawing a chart failed: {line[1:].strip()}")))
            else:
                self.done.put((index, base64.b64decode(line)))
        if not self._order.empty():  # ended with charts still to draw
            self.proc.wait()
            self.errors.seek(0)
            error = self.errors.read().strip()[-500:]
            self.done.put((self._order.get(), RuntimeError(
                f"Drawing the charts failed: {error or 'the drawing process ended'}")))

    def close(self) -> None:
        """The input ends and the process with it; at once if charts were still to come
        (the report failed or was abandoned)."""
        self._lines.put(None)
        if self.outstanding:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        self.proc.stdout.close()
        self.errors.close()
