"""Bounded hand-over between threads: read ahead of the model, write behind it.

:func:`read_ahead` runs a generator (reading label files, decoding images) in a thread that
stays at most ``depth`` items ahead of its consumer; :func:`write_behind` hands results to a
writer thread through a queue of ``depth`` items. Both are bounded, so memory stays flat
however large the dataset, and both stop cleanly: an exception or Ctrl+C in the consumer stops
the reader, and everything already handed to the writer is written before it returns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

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


def write_behind(stream: Iterable[T], consume: Callable[[T], None], depth: int) -> None:
    """Call ``consume`` on every item of ``stream`` in a writer thread, ``depth`` items behind.

    The calling thread iterates ``stream`` (the model runs there: ``SIGALRM`` time limits need
    the main thread). When ``consume`` raises, the stream stops and the error is raised here.
    When the stream raises (Ctrl+C included), every item already handed over is consumed first,
    then the error propagates. ``depth`` 0: no thread, ``consume`` is called in line.
    """
    if depth <= 0:
        try:
            for value in stream:
                consume(value)
        finally:
            _close(stream)
        return
    box: queue.Queue[Any] = queue.Queue(maxsize=depth)
    errors: list[BaseException] = []

    def drain() -> None:
        while True:
            value = box.get()
            if value is _END:
                return
            if errors:
                continue  # a write failed: the rest is dropped, the error is raised
            try:
                consume(value)
            except BaseException as err:  # noqa: BLE001 - raised in the calling thread
                errors.append(err)

    writer = threading.Thread(target=drain, name="labeler-write-behind", daemon=True)
    writer.start()
    try:
        for value in stream:
            if errors:
                break
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
