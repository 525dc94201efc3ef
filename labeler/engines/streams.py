"""Bounded hand-over between threads: read ahead of the model, finish and write behind it.

:func:`read_ahead` runs a generator (reading label files, decoding images) in a thread that
stays at most ``depth`` items ahead of its consumer; :class:`InOrderBehind` runs work handed to
it (a plugin's post-processing) in one thread and gives the answers back in the order handed,
at most ``depth`` pending; :func:`write_behind` hands results to a writer thread through a
queue of ``depth`` items. All are bounded, so memory stays flat however large the dataset, and
all stop cleanly: an exception or Ctrl+C in the consumer stops the reader, and everything
already handed to the writer is written before it returns.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")

_END = object()
_POLL_S = 0.1


def read_ahead(source: Iterable[T], depth: int) -> Iterator[T]:
    """Iterate ``source`` in a background thread, at most ``depth`` items ahead.

    An exception raised by ``source`` is raised here, in its place. Closing this iterator
    (or leaving a ``for`` loop over it) stops the thread after its current item.
    """
    box: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                box.put(value, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for value in source:
                if stop.is_set() or not put(value):
                    return
            put(_END)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, raised there
            put(_Raised(err))

    thread = threading.Thread(target=produce, name="labeler-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            value = box.get()
            if value is _END:
                return
            if isinstance(value, _Raised):
                raise value.error
            yield value
    finally:
        stop.set()
        thread.join(timeout=30)


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class InOrderBehind(Generic[K, T]):
    """Work run in one background thread, its answers taken back in the order it was handed.

    :meth:`put` hands over ``(key, work)`` (``work()`` runs in the thread) or ``(key, value)``
    already answered (it keeps its place in the order) and yields every ``(key, answer)`` that
    is ready at the head; when more than ``depth`` are pending it waits for the head (the
    caller cannot run ahead). :meth:`rest` waits for and yields all that is pending. An
    exception raised by ``work`` is raised where its answer is taken. Use it as a context
    manager: leaving stops the thread after its current work, dropping what had not started.
    """

    def __init__(self, depth: int, name: str = "labeler-finish") -> None:
        self.depth = max(1, depth)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: deque[tuple[K, Future[T]]] = deque()

    def put(self, key: K, work: Callable[[], T] | None = None, value: T | None = None
            ) -> list[tuple[K, T]]:
        """Hand over one item (``work`` to run, or its ``value``); the answers now ready."""
        if work is None:
            done: Future[T] = Future()
            done.set_result(value)  # type: ignore[arg-type]
            self._pending.append((key, done))
        else:
            self._pending.append((key, self._pool.submit(work)))
        ready = []
        while self._pending and (len(self._pending) > self.depth or self._pending[0][1].done()):
            head, answer = self._pending.popleft()
            ready.append((head, answer.result()))
        return ready

    def rest(self) -> Iterator[tuple[K, T]]:
        """Every pending answer, in order (waiting for each)."""
        while self._pending:
            head, answer = self._pending.popleft()
            yield head, answer.result()

    def __enter__(self) -> InOrderBehind[K, T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)


def write_behind(stream: Iterable[T], consume: Callable[[list[T]], None], depth: int,
                 group: int = 64) -> None:
    """Hand the items of ``stream`` to ``consume`` in a writer thread, ``depth`` items behind.

    ``consume`` gets the items in order, in lists: each list is what has piled up since its
    last call, at most ``group`` items (so that their writes can share their waits for the
    disk). The calling thread iterates ``stream`` (the model runs there: ``SIGALRM`` time
    limits need the main thread). When ``consume`` raises, the stream stops and the error is
    raised here. When the stream raises (Ctrl+C included), every item already handed over is
    consumed first, then the error propagates. ``depth`` 0: no thread, ``consume`` is called
    in line with one item at a time.
    """
    with ctrl_c_remembered() as pressed:
        _write_behind(stream, consume, depth, group, pressed)


def _write_behind(stream: Iterable[T], consume: Callable[[list[T]], None], depth: int, group: int,
                  pressed: threading.Event) -> None:
    if depth <= 0:
        try:
            for value in stream:
                if pressed.is_set():
                    raise KeyboardInterrupt
                consume([value])
        finally:
            _close(stream)
        return
    box: queue.Queue[Any] = queue.Queue(maxsize=depth)
    errors: list[BaseException] = []

    def drain() -> None:
        ended = False
        while not ended:
            values = [box.get()]
            while len(values) < group and values[-1] is not _END:
                try:
                    values.append(box.get_nowait())
                except queue.Empty:
                    break
            if values[-1] is _END:
                values.pop()
                ended = True
            if errors or not values:
                continue  # a write failed: the rest is dropped, the error is raised
            try:
                consume(values)
            except BaseException as err:  # noqa: BLE001 - raised in the calling thread
                errors.append(err)

    writer = threading.Thread(target=drain, name="labeler-write-behind", daemon=True)
    writer.start()
    try:
        for value in stream:
            if errors:
                break
            if pressed.is_set():  # a Ctrl+C that a library caught on its way up (see ctrl_c_remembered)
                raise KeyboardInterrupt
            box.put(value)
    finally:
        # A second Ctrl+C while the writer finishes must not leave it writing after we return.
        interrupt = _through_interrupts(lambda: _close(stream))
        interrupt = _through_interrupts(lambda: box.put(_END)) or interrupt
        interrupt = _through_interrupts(writer.join) or interrupt
        if interrupt is not None:
            raise interrupt
    if errors:
        raise errors[0]


@contextlib.contextmanager
def ctrl_c_remembered() -> Iterator[threading.Event]:
    """Ctrl+C raises ``KeyboardInterrupt`` as usual, and is also remembered in the event yielded.

    The interrupt is raised wherever the main thread is when it comes, and a library can catch
    it there without raising it again (a Ray driver waiting for its workers lost one in a CI
    run: all 12 images were done after a Ctrl+C at the second). Whoever iterates the work then
    checks the event and stops all the same. Only in the main thread and when SIGINT has
    Python's own handler (a program that set its own keeps it); the handler is put back after.
    """
    pressed = threading.Event()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield pressed
        return

    def handler(signum: int, frame: Any) -> None:
        pressed.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def _through_interrupts(step: Callable[[], None]) -> KeyboardInterrupt | None:
    """Run ``step`` to its end even when Ctrl+C arrives meanwhile; the interrupt, if any."""
    caught = None
    while True:
        try:
            step()
            return caught
        except KeyboardInterrupt as err:
            caught = err


def _close(stream: object) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()
