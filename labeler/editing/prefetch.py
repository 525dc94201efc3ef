"""Which images' Segment Anything embeddings to compute next, and which to keep (Qt-free).

While a person looks at an image, the GUI encodes the images they will likely open next (next,
previous, next to review), so that a click on a newly opened image runs only the decoder. This
module holds the rules; :class:`labeler.gui.sam.SamController` runs the jobs in a worker:

* :meth:`EmbeddingQueue.plan` says what is wanted now: the current image first, then the
  upcoming ones in visit order. A new plan replaces the old one: a jump drops (cancels) every
  queued job that is no longer wanted and puts the new current image first.
* At most ``capacity`` embeddings are kept (an LRU), and a plan never asks for more than that,
  so prefetching never evicts what it just computed. Eviction spares the planned images.
* One job runs at a time; the one running cannot be cancelled (an encoder forward), its
  result is kept when there is room.

:class:`ModelThread` is the one thread that runs all of a model's work, encodings and clicks:
a click jumps the queue, and an encoding that calls :meth:`ModelThread.pause_point` between
its layers lets it run at once, on the same thread (one OpenMP team, no CPU shared with the
encoder), then goes on. :meth:`ModelThread.hold` has the background work yield the cores for a
moment (the person just opened an image or clicked: the window paints, the next click comes).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any


class EmbeddingQueue:
    """The plan of embeddings to compute and an LRU of the computed ones, keyed by strings."""

    def __init__(self, capacity: int = 3) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._ready: OrderedDict[str, Any] = OrderedDict()
        self._plan: list[str] = []
        #: The key being computed (None when idle).
        self.running: str | None = None
        #: Keys whose job failed, with the message (not retried while they stay planned).
        self.failed: dict[str, str] = {}

    # -- what is wanted ----------------------------------------------------------------------
    def plan(self, current: str | None, upcoming: Sequence[str] = ()) -> list[str]:
        """Want ``current`` now, then ``upcoming`` in this order; returns the keys dropped from
        the previous plan that were not computed (the cancelled jobs)."""
        keys: list[str] = []
        for k in ([current] if current is not None else []) + list(upcoming):
            if k not in keys:
                keys.append(k)
        old = self._plan
        self._plan = keys[: self.capacity]
        self.failed = {k: v for k, v in self.failed.items() if k in self._plan}
        if current is not None and current in self._ready:
            self._ready.move_to_end(current)
        return [k for k in old if k not in self._plan and k not in self._ready and k != self.running]

    @property
    def planned(self) -> list[str]:
        """The keys of the plan, current first."""
        return list(self._plan)

    @property
    def current(self) -> str | None:
        """The key wanted now (first of the plan)."""
        return self._plan[0] if self._plan else None

    def next_job(self, upcoming: bool = True) -> str | None:
        """The next key to compute: the current one, then (with ``upcoming``) the others in
        plan order; None while a job runs or when nothing is left."""
        if self.running is not None:
            return None
        for k in self._plan if upcoming else self._plan[:1]:
            if k not in self._ready and k not in self.failed:
                return k
        return None

    def pending(self) -> list[str]:
        """Planned keys neither computed, running nor failed."""
        return [k for k in self._plan if k not in self._ready and k not in self.failed and k != self.running]

    # -- jobs --------------------------------------------------------------------------------
    def start(self, key: str) -> None:
        """``key``'s job began."""
        if self.running is not None:
            raise RuntimeError(f"a job is already running ({self.running})")
        self.running = key

    def finish(self, key: str, embedding: Any) -> None:
        """``key``'s job ended with ``embedding``: keep it (evicting beyond ``capacity``)."""
        if self.running == key:
            self.running = None
        self._ready[key] = embedding
        self._ready.move_to_end(key)
        # The current image stays the most recently used: a prefetch finishing after it never
        # pushes it out.
        cur = self.current
        if cur is not None and cur in self._ready:
            self._ready.move_to_end(cur)
        self._evict()

    def fail(self, key: str, message: str) -> None:
        """``key``'s job failed (not retried while it stays in the plan)."""
        if self.running == key:
            self.running = None
        self.failed[key] = message

    # -- what is kept ------------------------------------------------------------------------
    def get(self, key: str) -> Any | None:
        """The embedding of ``key`` (marked recently used), or None."""
        emb = self._ready.get(key)
        if emb is not None:
            self._ready.move_to_end(key)
        return emb

    def __contains__(self, key: object) -> bool:
        return key in self._ready

    def __len__(self) -> int:
        return len(self._ready)

    def keys(self) -> list[str]:
        """Computed keys, least recently used first."""
        return list(self._ready)

    def clear(self) -> None:
        """Forget everything computed and planned (another model was chosen)."""
        self._ready.clear()
        self._plan = []
        self.failed = {}

    def _evict(self) -> None:
        while len(self._ready) > self.capacity:
            victim = next((k for k in self._ready if k not in self._plan), None)
            if victim is None:  # cannot happen (the plan is at most capacity long); be safe
                victim = next(iter(self._ready))
            del self._ready[victim]


class ModelThread:
    """One long-lived thread that runs a model's jobs in order, urgent ones (a click) first.

    A job that takes long (an image encoder) calls :meth:`pause_point` between its steps: the
    urgent jobs waiting run there, on this thread, and the long one then goes on where it was;
    :meth:`wait_for` waits for another thread's result the same way (an image being decoded
    from its file). Everything a model does runs on this one thread, so its math library's
    thread pool is one team, configured from one place, never two teams competing for the
    cores. Jobs never raise here: their future carries the exception.
    """

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self._cv = threading.Condition()
        self._urgent: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._normal: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Whether a (normal) job is running now.
        self.busy = False
        self._hold_until = 0.0  # time.monotonic() until which normal work waits (see hold)
        self._urgent_running = 0  # urgent jobs running now (nested in a pause point or not)

    def hold(self, seconds: float) -> None:
        """Have the normal jobs yield the CPU for ``seconds`` from now: the running one waits at
        its next :meth:`pause_point`, a queued one does not start. Urgent jobs (clicks) still
        run at once, there. A later call can extend the hold, never shorten it; see
        :meth:`release`."""
        with self._cv:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)
            self._cv.notify_all()

    def release(self) -> None:
        """End a :meth:`hold` now."""
        with self._cv:
            self._hold_until = 0.0
            self._cv.notify_all()

    @property
    def held(self) -> bool:
        """Whether normal work is held now."""
        return time.monotonic() < self._hold_until

    def submit(self, fn: Callable[[], Any], urgent: bool = False) -> Future[Any]:
        """Run ``fn`` on the thread (urgent: before any queued normal job, and at the running
        job's next :meth:`pause_point`); its future holds the result or the exception."""
        fut: Future[Any] = Future()
        with self._cv:
            if self._closed:
                raise RuntimeError(f"{self.name} thread is closed")
            (self._urgent if urgent else self._normal).append((fn, fut))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            self._cv.notify_all()
        return fut

    @property
    def on_it(self) -> bool:
        """Whether the caller runs on this thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    def pause_point(self) -> None:
        """Run the urgent jobs waiting, now, and wait out a :meth:`hold` (called on this thread
        by a long job between its steps; elsewhere it does nothing)."""
        if (not self._urgent and time.monotonic() >= self._hold_until) or not self.on_it:
            return
        while True:
            with self._cv:
                if not self._urgent:
                    left = self._hold_until - time.monotonic()
                    if left <= 0 or self._urgent_running:  # an urgent job is never held
                        return
                    self._cv.wait(left)  # an urgent job or release() wakes it
                    continue
                job = self._urgent.popleft()
            self._run_urgent(job)

    def wait_for(self, fut: Future[Any], timeout: float | None = None) -> Any:
        """``fut.result()``, answering urgent jobs while it is not done (on this thread)."""
        if not self.on_it:
            return fut.result(timeout)
        fut.add_done_callback(lambda _f: self._wake())
        while not fut.done():
            self.pause_point()
            with self._cv:
                if not fut.done() and not self._urgent:
                    self._cv.wait(0.5)
        return fut.result()

    def _wake(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._urgent and (not self._normal or self.held) and not self._closed:
                    left = self._hold_until - time.monotonic()
                    self._cv.wait(left if self._normal and left > 0 else None)
                if self._urgent:
                    job, normal = self._urgent.popleft(), False
                elif self._normal:
                    job, normal = self._normal.popleft(), True
                else:
                    return  # closed and nothing left
                self.busy = normal
            try:
                (self._run if normal else self._run_urgent)(job)
            finally:
                self.busy = False

    def _run_urgent(self, job: tuple[Callable[[], Any], Future[Any]]) -> None:
        self._urgent_running += 1
        try:
            self._run(job)
        finally:
            self._urgent_running -= 1

    @staticmethod
    def _run(job: tuple[Callable[[], Any], Future[Any]]) -> None:
        fn, fut = job
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(fn())
        except BaseException as err:  # noqa: BLE001 - handed to whoever waits on the future
            fut.set_exception(err)

    def close(self, timeout: float | None = None) -> None:
        """Run what is queued, then end the thread (waits up to ``timeout`` seconds)."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
