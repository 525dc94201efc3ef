"""A time limit for plugin calls: an autolabeler or check that never returns fails its image.

In the main thread the limit is a ``SIGALRM`` timer (it also interrupts ``time.sleep`` and
blocking reads); in other threads (the GUI's workers) a watchdog raises the timeout
asynchronously in the worker thread. Either way the exception arrives when the plugin next runs
Python code: a single native call (one huge matrix product) finishes first.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
from collections.abc import Iterator

#: Seconds per image an autolabeler or a check may take before that image fails (``--timeout``).
DEFAULT_TIMEOUT_S = 300.0


class PluginTimeout(Exception):  # noqa: N818 - reads as what happened
    """A plugin call ran past its time limit."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`PluginTimeout` inside the block once ``seconds`` have passed (None or 0:
    no limit)."""
    if not seconds or seconds <= 0:
        yield
        return
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        def on_alarm(signum: int, frame: object) -> None:
            raise PluginTimeout(f"no answer after {seconds:g} s")

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    tid = threading.get_ident()
    guard = threading.Lock()
    state = {"finished": False, "fired": False}

    def watch() -> None:
        if done.wait(seconds):
            return
        with guard:
            if not state["finished"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(tid), ctypes.py_object(PluginTimeout)
                )

    done = threading.Event()
    watcher = threading.Thread(target=watch, name="labeler-timeout", daemon=True)
    watcher.start()
    try:
        yield
    except PluginTimeout as err:
        raise PluginTimeout(f"no answer after {seconds:g} s") from err
    finally:
        with guard:
            state["finished"] = True
            if state["fired"]:  # raised but maybe not delivered yet: take it back
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), None)
        done.set()
