"""Segment Anything in the canvas, against a small interface any plugin can provide.

A *segment session* is any object with::

    set_image(image)                       # PIL image or (H, W, 3) uint8; slow (the encoder)
    predict(points=..., labels=..., box=...)  # fast (the decoder): a (H, W) bool mask,
                                              # or (mask, score)

and, optionally, ``encode(image) -> embedding`` and ``decode(embedding, points=..., ...)``
(:class:`labeler.plugin_api.EncodingSegmentSession`). ``labeler_plugins.sam.SamSession`` has
all four (opened through the ``register_segmenters`` hook); tests use fakes.

:class:`SamController` encodes the open image in a worker as soon as it opens and, when the
session encodes apart, the images the person will likely open next (next, previous, next to
review: :class:`labeler.editing.prefetch.EmbeddingQueue` holds the plan and a small LRU), so a
click on a newly opened image runs only the decoder. :class:`SegmentBinding` ties it to the
window: the tool, the model choice in the toolbar (remembered in QSettings), Find by Text.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QLabel, QToolBar

from labeler.editing.prefetch import EmbeddingQueue, ModelThread
from labeler.editing.session import CurrentChanged
from labeler.editing.tools import SegmentAccepted, SegmentPrompt
from labeler.errors import LabelerError
from labeler.io.images import open_image
from labeler.plugin_api import SegmentSession, can_encode_apart
from labeler.threads import sleep_when_idle

#: Environment variable naming a SAM checkpoint for the GUI tool.
CHECKPOINT_ENV = "LABELER_SAM_CHECKPOINT"
#: QSettings keys: the chosen model, and how many embeddings are kept in memory.
MODEL_SETTING, CACHE_SETTING, AHEAD_SETTING = "sam/model", "sam/cache_size", "sam/answer_ahead"
#: Embeddings kept by default (vit_b's is 4 MB, plus 10 MB of its decoder side; SAM 2's about 6 MB).
DEFAULT_CACHE_SIZE = 3
#: Once the open image is ready, wait this long before encoding the next ones (milliseconds): a
#: click on it meanwhile finds the model thread idle; a later one pauses the encoding (see
#: :class:`SamController`).
LOOK_MS = 300
#: Answers ahead kept per image (:meth:`SamController.answer_ahead`): the last few places the
#: pointer rested.
AHEAD_KEPT = 4
#: How long the pointer rests before its click is answered ahead (ms): a person pauses on the
#: object before clicking; a pointer passing over the image starts nothing.
AHEAD_REST_MS = 60

SessionFactory = Callable[[], SegmentSession]


def find_checkpoint(start: Path | None = None) -> Path | None:
    """``$LABELER_SAM_CHECKPOINT``, else a ``*sam*.pth`` in ``sample_data/models`` near ``start``."""
    env = os.environ.get(CHECKPOINT_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    roots = [here.parents[2]] + ([start, *start.parents] if start is not None else [])
    for root in roots:
        models = root / "sample_data" / "models"
        if models.is_dir():
            found = sorted(models.glob("*sam*.pth"))
            if found:
                return found[0]
    return None


def _segmenters() -> list[Any]:
    from labeler.plugins import collect_segmenters

    try:
        return collect_segmenters()
    except Exception:  # noqa: BLE001 - plugins broken: the tool says it is not available
        return []


def plugin_session_factory(checkpoint: Path | None, prefer: str = "sam") -> SessionFactory | None:
    """A factory opening a session of the segmenter a plugin registered through
    ``register_segmenters`` (``prefer`` first: the built-in ``sam``), or None when none is."""
    found = _segmenters()
    if not found:
        return None
    seg = next((s for s in found if s.name == prefer), found[0])

    def make() -> SegmentSession:
        return seg.open(checkpoint)

    return make


@dataclass(frozen=True)
class SegmenterChoice:
    """One entry of the model choice: ``key`` is what QSettings remembers."""

    key: str
    label: str
    factory: SessionFactory
    tooltip: str = ""


def segmenter_choices(checkpoint: Path | None, segmenters: Sequence[Any] | None = None) -> list[SegmenterChoice]:
    """The models the GUI offers: the checkpoint file found (:func:`find_checkpoint`) for the
    ``sam`` segmenter, then every model of every registered segmenter (``models`` attribute;
    one entry for a segmenter without it)."""
    out: list[SegmenterChoice] = []
    for seg in _segmenters() if segmenters is None else segmenters:
        if checkpoint is not None and seg.name == "sam":
            out.append(SegmenterChoice(f"{seg.name}:file", f"{checkpoint.name} (file)",
                                       lambda s=seg: s.open(checkpoint), str(checkpoint)))
        models = getattr(seg, "models", None)
        for m in models or ():
            label = m if seg.name == "sam" else f"{seg.name}: {m}"
            out.append(SegmenterChoice(f"{seg.name}:{m}", label, lambda s=seg, m=m: s.open(None, model=m),
                                       f"{m}: its official file from $LABELER_MODELS or ~/.cache/labeler/models"))
        if not models:
            out.append(SegmenterChoice(seg.name, seg.name, lambda s=seg: s.open(None)))
    return out


def mask_to_polygon(mask: np.ndarray, tolerance: float = 1.0) -> list[tuple[float, float]]:
    """The largest outer contour of a mask as a polygon (empty when the mask is empty)."""
    from labeler.masks import mask_to_polygons

    polys = mask_to_polygons(np.asarray(mask, dtype=bool), tolerance=tolerance, min_area=4.0, limit=1)
    if not polys:
        return []
    from labeler.geometry import rounded_points

    return [(x, y) for x, y in rounded_points(polys[0])]


def image_key(path: Path | str) -> str:
    """What identifies an image's embedding: its path, size and modification time (a fix that
    rewrites the image gives a new key)."""
    try:
        st = os.stat(path)
    except OSError:
        return str(path)
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


#: The embedding of a session without ``encode``/``decode``: it holds the image itself.
_HELD = object()


class SamController(QObject):
    """Owns a segment session; encodes the open image, and the next ones, in the background.

    ``ready`` is emitted when the current image's embedding is available (at once when it was
    computed ahead); ``predict`` answers clicks from the decoder alone and returns a polygon.
    ``encoded`` is emitted for every image encoded (prefetches too).

    All the model's work runs on one long-lived thread (:class:`ModelThread`): loading,
    encoding, and the clicks, which jump the queue. A session with a ``between_layers`` hook
    (``SamSession``) answers a click between two encoder layers when one arrives while it
    encodes ahead, so the click never shares the CPU with the encoder; for another session
    such a click runs on the GUI thread beside the encoding. A newly opened image that is ready
    and each click hold the encoding ahead for :data:`LOOK_MS` (:meth:`ModelThread.hold`): it
    waits at its next pause point while the window paints and the person clicks again; the
    model's OpenMP threads sleep when idle (:func:`labeler.threads.sleep_when_idle`). The GUI
    thread waits for the answer plainly for :data:`QUIET_WAIT_S`, then with its event loop
    running (it repaints; input waits for the answer).
    """

    ready = Signal(str)  # image path
    busy = Signal(bool)
    error = Signal(str)
    encoded = Signal(str)  # image path
    _finished = Signal(object)  # a job's result, from the model thread

    def __init__(self, factory: SessionFactory | None, parent: QObject | None = None,
                 cache_size: int = DEFAULT_CACHE_SIZE, look_ms: int = LOOK_MS) -> None:
        super().__init__(parent)
        sleep_when_idle()  # before the model loads torch: its OpenMP threads never spin here
        self._factory = factory
        self.session: SegmentSession | None = None
        self.queue = EmbeddingQueue(cache_size)
        self.look_ms = look_ms
        self._paths: dict[str, str] = {}
        self._planned_at = 0.0
        self._generation = 0  # a new model: results of the old one are dropped
        self._thread = ModelThread("sam")
        #: The encoding job submitted and not handled yet (None: idle).
        self._worker: Future[Any] | None = None
        self._finished.connect(self._done, Qt.ConnectionType.QueuedConnection)  # never inside _start
        self._held: str | None = None  # the image a session without encode() holds
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._pump)
        #: Why the model cannot be used (its checkpoint is missing...), or None.
        self.broken: str | None = None
        #: The last click: wall time from the prompt to its polygon, and the CPU time of the
        #: thread that computed it (decoder and polygon).
        self.last_latency_ms = 0.0
        self.last_cpu_ms = 0.0
        self.last_score: float | None = None
        #: Whether the last click was answered ahead (:meth:`answer_ahead`).
        self.last_ahead = False
        self._ahead: dict[tuple[Any, ...], Future[Any]] = {}  # answers ahead, oldest first

    # -- the model -----------------------------------------------------------------------------
    @property
    def factory(self) -> SessionFactory | None:
        return self._factory

    @factory.setter
    def factory(self, factory: SessionFactory | None) -> None:
        self.set_factory(factory)

    def set_factory(self, factory: SessionFactory | None) -> None:
        """Use another model: forget the session and the embeddings (the one being computed is
        dropped when it ends; the model loads on the next image)."""
        self._factory = factory
        self._generation += 1
        self.session, self.broken, self._held = None, None, None
        self.queue.clear()
        self._ahead.clear()

    @property
    def available(self) -> bool:
        return self._factory is not None and self.broken is None

    def unavailable_reason(self) -> str:
        """One line for the person: why the tool cannot start."""
        if self.broken is not None:
            return f"Segment Anything: {self.broken}"
        return ("Segment Anything is not available: pip install 'labeler[sam]' and set "
                "LABELER_SAM_CHECKPOINT to a checkpoint, or choose a model (see docs/gui.md)")

    @property
    def encodes_ahead(self) -> bool:
        """Whether the session computes embeddings apart (then the next images are prefetched)."""
        return self.session is None or can_encode_apart(self.session)

    # -- images --------------------------------------------------------------------------------
    @property
    def current(self) -> str | None:
        """The path of the open image (None before the first)."""
        key = self.queue.current
        return self._paths.get(key) if key is not None else None

    @property
    def is_ready(self) -> bool:
        key = self.queue.current
        if self.session is None or key is None or key not in self.queue:
            return False
        return self.queue.get(key) is not _HELD or self._held == key

    def set_image(self, path: Path, upcoming: Sequence[Path] = ()) -> None:
        """``path`` is open: encode it first (unless ready), then, after :data:`LOOK_MS`,
        ``upcoming`` in this order. A new call replaces the plan (queued images not wanted any
        more are never encoded)."""
        if self._factory is None:
            return
        self._ahead.clear()  # answers ahead are for the image that was open
        if not self.encodes_ahead:
            upcoming = []  # the session holds one image: nothing to compute ahead
        key, keys = image_key(path), [image_key(p) for p in upcoming]
        for k, p in zip([key, *keys], [path, *upcoming], strict=True):
            self._paths[k] = str(p)
        self.queue.plan(key, keys)
        self._paths = {k: v for k, v in self._paths.items() if k in self.queue.planned or k in self.queue
                       or k == self.queue.running}
        self._planned_at = time.monotonic()
        if self.is_ready:
            # Ready: an encoding ahead that runs yields for the look (paint, first click).
            self._thread.hold(self.look_ms / 1000)
            self.busy.emit(False)
            self.ready.emit(str(path))
        elif self.broken is None:
            self.busy.emit(True)
        self._pump()

    def _pump(self) -> None:
        if self._worker is not None or self.broken is not None or self._factory is None:
            return
        left = self.look_ms / 1000 - (time.monotonic() - self._planned_at)
        key = self.queue.next_job(upcoming=left <= 0)
        if key is None:
            if left > 0 and self.queue.pending():
                self._timer.start(int(left * 1000) + 1)
            return
        self.queue.start(key)
        self._start(key, self._paths[key])

    def _start(self, key: str, path: str) -> None:
        gen = self._generation
        factory = self._factory

        def job() -> tuple[str, Any, int, str | None, bool]:
            loading = first = self.session is None
            try:
                if self.session is None:
                    assert factory is not None
                    session = factory()
                    if gen != self._generation:
                        return key, None, gen, None, False
                    if getattr(session, "decoder_threads", 0) is None:
                        session.decoder_threads = "auto"  # type: ignore[attr-defined] # see SamSession
                    if hasattr(session, "between_layers") and session.between_layers is None:  # type: ignore[attr-defined]
                        session.between_layers = self._pause_point  # type: ignore[attr-defined]
                    self.session = session
                loading = False
                # The file is decoded on another thread: a click meanwhile is answered here.
                image = self._thread.wait_for(_files().submit(open_image, path))
                s = self.session
                if can_encode_apart(s):
                    emb = s.encode(image)  # type: ignore[attr-defined]
                    decode = lambda **kw: s.decode(emb, **kw)  # noqa: E731
                else:
                    s.set_image(image)
                    emb, decode = _HELD, s.predict
                if first:
                    # The first decoder calls pay torch's lazy set-up (hundreds of ms): pay it
                    # here, on the thread that answers the clicks, not on the person's first click.
                    c = (image.width / 2, image.height / 2)
                    b = (image.width / 4, image.height / 4, image.width * 3 / 4, image.height * 3 / 4)
                    for kw in ({"points": [c], "labels": [1]}, {"box": b}, {"points": [c], "labels": [1], "box": b}) * 2:
                        out = decode(**kw)
                    mask_to_polygon(out[0] if isinstance(out, tuple) else out)
                return key, emb, gen, None, False
            except LabelerError as err:  # a missing checkpoint...: its sentence
                return key, None, gen, str(err), loading
            except Exception as err:  # noqa: BLE001 - reported, never raised in a thread
                return key, None, gen, f"{type(err).__name__}: {err}", loading

        self._worker = fut = self._thread.submit(job)
        fut.add_done_callback(lambda f: self._finished.emit(f.result()))

    def _pause_point(self) -> None:
        """A session's ``between_layers`` hook: the clicks waiting run now (model thread)."""
        self._thread.pause_point()

    def _done(self, result: tuple[str, Any, int, str | None, bool]) -> None:
        key, emb, gen, message, loading = result
        self._worker = None
        if gen != self._generation:
            self.queue.running = None
            self._pump()
            return
        is_current = key == self.queue.current
        if message is not None:
            self.queue.fail(key, message)
            if loading:
                self.broken = message
                self.session = None
            if loading or is_current:
                self.busy.emit(False)
                self.error.emit(message)
            self._pump()
            return
        if emb is _HELD:
            self._held = key
        self.queue.finish(key, emb)
        path = self._paths.get(key, key)
        self.encoded.emit(path)
        if is_current:
            # The look starts now: the first click on it never shares the CPU with a prefetch.
            self._planned_at = time.monotonic()
            self.busy.emit(False)
            self.ready.emit(path)
        self._pump()

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the job running now ends (tests, benchmarks, closing)."""
        if self._worker is None:
            return True
        return not futures.wait([self._worker], msecs / 1000).not_done

    def stop(self) -> None:
        """Drop the plan, wait for the running job and end the model thread (the window
        closes; a later image starts a new one)."""
        self._timer.stop()
        self._generation += 1
        self.queue.clear()
        self._thread.release()  # a held encoding goes on to its end at once
        self.wait()
        thread, self._thread = self._thread, ModelThread("sam")
        thread.close(30)

    def _click_job(self, points: Sequence[tuple[float, float]], labels: Sequence[int],
                   box: Sequence[float] | None) -> tuple[tuple[Any, ...], Callable[[], Any], bool] | None:
        """What answers these prompts on the current image: ``(key, job, held)``, the key naming
        the image, the model and the prompts exactly, ``held`` whether the session holds the
        image itself (its calls may change its state); None when not ready."""
        if not self.is_ready or self.session is None or (not points and box is None):
            return None
        key = self.queue.current
        assert key is not None
        emb = self.queue.get(key)
        session = self.session
        kw = {"points": [tuple(p) for p in points] or None, "labels": list(labels) or None,
              "box": list(box) if box is not None else None}

        def click() -> tuple[list[tuple[float, float]], float | None, float]:
            c0 = time.thread_time()
            out = session.predict(**kw) if emb is _HELD else session.decode(emb, **kw)  # type: ignore[attr-defined]
            mask, score = (out if isinstance(out, tuple) else (out, None))
            return mask_to_polygon(mask), score, (time.thread_time() - c0) * 1000

        prompt = (tuple(kw["points"] or ()), tuple(kw["labels"] or ()), tuple(kw["box"] or ()))
        return (key, self._generation, id(emb), prompt), click, emb is _HELD

    def answer_ahead(self, points: Sequence[tuple[float, float]], labels: Sequence[int],
                     box: Sequence[float] | None) -> bool:
        """Start answering a click the person is about to make (the pointer rests where it
        would add its point): the decoder runs now, on the model thread, and :meth:`predict`
        of the same prompts on the same image takes that answer instead of running it again
        (waiting for it if it is still running). It runs like a click, at the encoding
        ahead's next pause point, but does not hold that encoding afterwards: a pointer resting
        here and there must not keep the next image from being encoded. The last
        :data:`AHEAD_KEPT` answers are kept; the image changing drops them. Only for
        sessions that encode apart (their decoder is a function of the embedding and the
        prompts); False when nothing was started."""
        made = self._click_job(points, labels, box)
        if made is None or made[2]:
            return False
        key, job, _held = made
        if key in self._ahead:
            return True
        self._ahead[key] = self._thread.submit(job, urgent=True)
        while len(self._ahead) > AHEAD_KEPT:
            self._ahead.pop(next(iter(self._ahead)))
        return True

    def predict(self, points: Sequence[tuple[float, float]], labels: Sequence[int],
                box: Sequence[float] | None) -> list[tuple[float, float]]:
        """A polygon for the prompts (decoder only); empty when not ready or nothing found."""
        made = self._click_job(points, labels, box)
        if made is None:
            return []
        key, click, _held = made
        t0 = time.perf_counter()
        self._thread.hold(self.look_ms / 1000)  # the encoding ahead waits: more clicks may come
        ahead = self._ahead.get(key)
        if ahead is not None:
            poly, score, cpu = _answer(ahead)  # answered while the pointer rested (or being so)
            self.last_ahead = True
        elif self._thread.busy and getattr(self.session, "between_layers", None) is None:
            poly, score, cpu = click()  # an encoding that cannot pause runs: answer beside it
            self.last_ahead = False
        else:
            poly, score, cpu = _answer(self._thread.submit(click, urgent=True))
            self.last_ahead = False
        self.last_latency_ms = (time.perf_counter() - t0) * 1000
        self.last_cpu_ms, self.last_score = cpu, score
        return poly


class _Relay(QObject):
    done = Signal()


#: How long a click's answer is awaited plainly before the event loop runs meanwhile (seconds).
QUIET_WAIT_S = 0.15


def _answer(fut: Future[Any]) -> Any:
    """``fut.result()``: awaited plainly for :data:`QUIET_WAIT_S` (a click's answer mostly comes
    sooner), then with the event loop running (paints and timers; input waits). While the GUI
    thread waits plainly it takes neither a core nor the GIL from the model thread: a MobileSAM
    click after a look took 66 ms (median of 9) instead of 74 ms with the loop running from the
    start (bench/README.md, "GUI: lighter steps", 2026-12-02); nothing new is painted before
    the answer anyway."""
    if not fut.done():
        try:
            return fut.result(timeout=QUIET_WAIT_S)
        except futures.TimeoutError:
            pass
    if not fut.done():
        loop, relay = QEventLoop(), _Relay()
        relay.done.connect(loop.quit)
        fut.add_done_callback(lambda _f: relay.done.emit())
        if not fut.done():
            loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
    return fut.result()


_FILES: futures.ThreadPoolExecutor | None = None


def _files() -> futures.ThreadPoolExecutor:
    """The thread that decodes image files for the encoder (one, made on first use)."""
    global _FILES
    if _FILES is None:
        _FILES = futures.ThreadPoolExecutor(1, thread_name_prefix="sam-files")
    return _FILES


class SegmentBinding:
    """Connects a :class:`SamController` to the window: the segment tool's prompts and Enter,
    every opened image (and its neighbours) encoded once the tool was used, the model choice in
    the toolbar, and Find by Text (:mod:`labeler.gui.find_text`)."""

    def __init__(self, window: Any, factory: SessionFactory | None = None,
                 checkpoint: Path | None = None) -> None:
        sleep_when_idle()  # before any plugin loads torch (see SamController)
        self.window, self.canvas, self.session = window, window.canvas, window.session
        self.settings = window.settings
        self.show: Callable[[str, int], None] = window.statusBar().showMessage
        #: True once the tool was switched on: from then on every opened image is encoded.
        self.used = False
        self.choices = segmenter_choices(checkpoint if checkpoint is not None else find_checkpoint())
        if factory is not None:
            self.choices.insert(0, SegmenterChoice("given", "given session", factory))
        chosen = self.chosen()
        cache = int(self.settings.value(CACHE_SETTING, DEFAULT_CACHE_SIZE) or DEFAULT_CACHE_SIZE)
        self.ctl = SamController(chosen.factory if chosen else None, window, cache_size=max(1, cache))
        self.ctl.ready.connect(self._ready)
        self.ctl.busy.connect(self._busy)
        self.ctl.error.connect(self._failed)
        self.session.subscribe(CurrentChanged, lambda e: self._current_changed())
        self.combo = self._build_combo(chosen)
        #: Whether a click is answered ahead while the pointer rests (QSettings ``sam/answer_ahead``).
        self.ahead = str(self.settings.value(AHEAD_SETTING, "true")).lower() not in ("false", "0")
        self._rest = QTimer(window)
        self._rest.setSingleShot(True)
        self._rest.setInterval(AHEAD_REST_MS)
        self._rest.timeout.connect(self._answer_ahead)
        self.canvas.cursorMoved.connect(lambda _x, _y: self._rest.start() if self.ahead else None)
        from labeler.gui.find_text import FindByText

        self.find_text = FindByText(window)

    # -- the model choice ----------------------------------------------------------------------
    def chosen(self) -> SegmenterChoice | None:
        """The remembered choice (QSettings ``sam/model``), else the first one."""
        key = self.settings.value(MODEL_SETTING, "")
        return next((c for c in self.choices if c.key == key), self.choices[0] if self.choices else None)

    def _build_combo(self, chosen: SegmenterChoice | None) -> QComboBox:
        combo = QComboBox()
        combo.setObjectName("sam_model")
        combo.setToolTip("Segment Anything model (Ctrl+I). Official files go in $LABELER_MODELS "
                         "or ~/.cache/labeler/models (see docs/gui.md)")
        for c in self.choices:
            combo.addItem(c.label, c.key)
            combo.setItemData(combo.count() - 1, c.tooltip or c.label, Qt.ItemDataRole.ToolTipRole)
        if chosen is not None:
            combo.setCurrentIndex(self.choices.index(chosen))
        combo.currentIndexChanged.connect(lambda i: self.choose(self.choices[i].key))
        bar = self.window.findChild(QToolBar, "Tools")
        if bar is not None:
            bar.addSeparator()
            bar.addWidget(QLabel(" SAM model "))
            bar.addWidget(combo)
        return combo

    def choose(self, key: str) -> bool:
        """Use the model ``key`` (one of :attr:`choices`), remember it; False when unknown."""
        choice = next((c for c in self.choices if c.key == key), None)
        if choice is None:
            return False
        self.settings.setValue(MODEL_SETTING, key)
        if self.combo.currentData() != key:
            self.combo.blockSignals(True)
            self.combo.setCurrentIndex(self.choices.index(choice))
            self.combo.blockSignals(False)
        self.canvas.clear_sam()
        self.ctl.set_factory(choice.factory)
        self._current_changed()
        self.show(f"Segment Anything model: {choice.label}" + ("" if self.used else " (loads when the tool is used)"), 5000)
        return True

    # -- the tool ------------------------------------------------------------------------------
    def activate(self) -> bool:
        """The segment tool was chosen: False (and the reason shown) when no model can run."""
        if self.ctl.factory is None:
            self.session.error(self.ctl.unavailable_reason())
            return False
        if self.ctl.broken is not None:
            self.ctl.set_factory(self.ctl.factory)  # try again: the file may be there now
        self.used = True
        self._current_changed()
        return True

    def upcoming(self) -> list[Path]:
        """The images likely opened next, in that order: next, previous, next to review."""
        w = self.window
        row = w.current_row()
        if row is None:
            return []
        rows = w.files.visible_rows(row, 1, 1) + w.files.visible_rows(row, 1, -1)
        for r in range(row + 1, min(len(w.items), row + 200)):  # a bounded look, never the whole list
            if w._needs_review(r):
                rows.append(r)
                break
        return [w.items[r].image_path for r in dict.fromkeys(rows)]

    def _current_changed(self) -> None:
        doc = self.session.doc
        if self.used and doc is not None and self.ctl.available:
            self.ctl.set_image(doc.item.image_path, self.upcoming())

    def handles(self, gesture: Any) -> bool:
        """Run a gesture of the segment tool (prompts, Enter); False for any other gesture."""
        if isinstance(gesture, SegmentPrompt):
            self.prompt(gesture.points, gesture.labels, gesture.box)
        elif isinstance(gesture, SegmentAccepted):
            self.accept()
        else:
            return False
        return True

    def _failed(self, message: str) -> None:
        self.session.error(f"Segment Anything: {message}")
        if self.ctl.broken is not None and self.canvas.tool.needs_segmenter:
            self.window.set_mode("edit")  # the model cannot load: back to editing

    def _busy(self, busy: bool) -> None:
        self.canvas.sam_busy = busy
        self.canvas.update()

    def _ready(self, path: str) -> None:
        doc = self.session.doc
        if doc is None or str(doc.item.image_path) != path:
            return  # an image left meanwhile (or one that failed to open is on screen)
        self.show("Segment Anything ready: click the object", 3000)
        pts = self.canvas.sam_points
        if pts or self.canvas.sam_box:
            self.prompt([(x, y) for x, y, _ in pts], [lab for _, _, lab in pts], self.canvas.sam_box)

    def _answer_ahead(self) -> None:
        """The pointer rests on the image with the segment tool on: answer the click it would
        make (:meth:`SamController.answer_ahead`)."""
        if (not self.ahead or not self.canvas.tool.needs_segmenter or self.session.doc is None
                or not self.ctl.is_ready):
            return
        prompt = self.canvas.segment_tool.prompt_at_cursor()
        if prompt is not None:
            self.ctl.answer_ahead(prompt.points, prompt.labels, prompt.box)

    def prompt(self, points: list[Any], labels: list[int], box: Any) -> None:
        """New prompts: ask the segmenter (decoder only) and show its polygon."""
        self._rest.stop()  # the click came: a rest before it has nothing left to answer
        if self.session.doc is None or not self.ctl.is_ready:
            return
        try:
            poly = self.ctl.predict(points, labels, box)
        except Exception as err:  # noqa: BLE001 - a failing model is reported, the tool stays
            self.session.error(f"Segment Anything: {err}")
            return
        self.canvas.sam_preview = poly or None
        self.canvas.update()
        self.show(f"Segment Anything: {len(poly)} points in {self.ctl.last_latency_ms:.0f} ms — "
                  "Enter keeps it, Esc clears", 5000)

    def accept(self) -> None:
        """Keep the polygon: ask its label and add it as a shape."""
        pts = self.canvas.sam_preview
        if not pts or self.session.doc is None:
            return
        self.canvas.clear_sam()
        self.session.add_drawn("polygon", [tuple(p) for p in pts])
