"""Background work: image decoding with prefetch, label-file status scans, plugin runs.

Everything slow runs off the GUI thread and reports through signals, so the window never
freezes. Workers never touch widgets; receivers live in the GUI thread and Qt queues the calls.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRectF, QRunnable, QThread, QThreadPool, Signal
from PySide6.QtGui import QImage, QPainter

from labeler.dataset import SKIP_DIRS, Dataset, Item
from labeler.editing.display import Viewport
from labeler.errors import LabelerError
from labeler.gui.status import ItemStatus, status_of_file
from labeler.io.images import IMAGE_EXTENSIONS, ImageInfo, open_image, read_image_info


def pil_to_qimage(img: Any) -> QImage:
    """An RGB (or L) PIL image as a QImage that owns its memory."""
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    fmt = QImage.Format.Format_RGB888 if img.mode == "RGB" else QImage.Format.Format_Grayscale8
    data = img.tobytes()
    bpl = img.width * (3 if img.mode == "RGB" else 1)
    return QImage(data, img.width, img.height, bpl, fmt).copy()


def decode_for_display(path: Path, max_side: int | None) -> QImage:
    """Decode ``path`` (EXIF-corrected) no larger than needed for a ``max_side`` screen.

    JPEGs are decoded at a reduced DCT scale (much faster than decoding fully then shrinking):
    the largest 1/2, 1/4 or 1/8 scale whose longest side still covers ``max_side``. The result
    is converted to the screen's pixel format here, off the GUI thread.
    """
    return _decode(path, max_side)[0]


def _decode(path: Path, max_side: int | None) -> tuple[QImage, ImageInfo]:
    info = read_image_info(path)
    draft = None
    if max_side:
        long, short = max(info.size), min(info.size)
        if long > max_side:
            # draft() keeps both sides >= the request; asking (m, m) with m the short side at
            # the target scale is independent of the EXIF rotation applied afterwards.
            m = max(1, int(short * max_side / long))
            draft = (m, m)
    img = open_image(path, mode=None, draft_size=draft)
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    return pil_to_qimage(img).convertToFormat(QImage.Format.Format_RGB32), info


def scaled_frame(image: QImage, size: tuple[int, int] | None) -> QImage | None:
    """``image`` scaled to ``size`` (a frame: see :mod:`labeler.editing.display`) the way the
    canvas paints a scaled image (bilinear), so a frame looks as the paint without it did."""
    if size is None:
        return None
    frame = QImage(size[0], size[1], QImage.Format.Format_RGB32)
    p = QPainter(frame)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    p.drawImage(QRectF(0, 0, size[0], size[1]), image, QRectF(image.rect()))
    p.end()
    return frame


def _emit(signal: Any, *args: Any) -> None:
    """Emit from a decode thread; the window may have been closed (its loader deleted) meanwhile."""
    with contextlib.suppress(RuntimeError):  # "Signal source has been deleted": nobody waits for it
        signal.emit(*args)


class _LoaderSignals(QObject):
    loaded = Signal(str, QImage, object)  # key, decode, (frame | None, its Viewport, ImageInfo)
    failed = Signal(str, str)
    framed = Signal(str, object)  # key, (frame, its Viewport)


class _DecodeTask(QRunnable):
    def __init__(self, path: Path, max_side: int | None, signals: _LoaderSignals,
                 viewport: Callable[[], Viewport | None] = lambda: None) -> None:
        super().__init__()
        self.path = path
        self.max_side = max_side
        self.signals = signals
        self.viewport = viewport

    def run(self) -> None:
        try:
            image, info = _decode(self.path, self.max_side)
            vp = self.viewport()  # the canvas's now, not when the task was queued
            frame = scaled_frame(image, vp.frame_size(info.width, info.height, image.width())) if vp else None
        except Exception as err:  # noqa: BLE001 - reported to the user, never raised in a thread
            _emit(self.signals.failed, str(self.path), str(err))
            return
        _emit(self.signals.loaded, str(self.path), image, (frame, vp, info))


class _FrameTask(QRunnable):
    """Scales a cached decode to a new viewport (the canvas was resized)."""

    def __init__(self, key: str, image: QImage, info: ImageInfo, viewport: Viewport,
                 current: Callable[[], Viewport | None], signals: _LoaderSignals) -> None:
        super().__init__()
        self.key, self.image, self.info, self.vp, self.current = key, image, info, viewport, current
        self.signals = signals

    def run(self) -> None:
        if self.current() != self.vp:  # resized again meanwhile: a later task makes that one
            _emit(self.signals.framed, self.key, (None, self.vp))
            return
        size = self.vp.frame_size(self.info.width, self.info.height, self.image.width())
        _emit(self.signals.framed, self.key, (scaled_frame(self.image, size), self.vp))


class ImageLoader(QObject):
    """Decodes images in a small thread pool and keeps the last few in an LRU cache.

    ``request(path)`` decodes (unless cached or already queued) and emits ``loaded``;
    ``prefetch(paths)`` warms the cache for the images the user will likely open next.
    The cache is bounded, so memory stays flat while paging through a folder.

    With a :attr:`viewport` (the canvas's, while it fits its images), each decode also makes
    the frame of that viewport (:mod:`labeler.editing.display`) in its thread:
    :meth:`cached_frame`; ``request_frame(path)`` makes a cached image's frame again for a new
    viewport and emits ``frameLoaded``. The header facts read for the decode are kept too
    (:meth:`info`), so opening the image's document needs no second read.

    ``request_full(path)`` decodes at full size (for zooming in past the screen-size decode)
    and emits ``fullLoaded``; only the last full-size image is kept (``full_cache_size``).
    """

    loaded = Signal(str, QImage)
    failed = Signal(str, str)
    fullLoaded = Signal(str, QImage)
    frameLoaded = Signal(str, QImage)

    def __init__(self, max_side: int | None = 2048, cache_size: int = 8, threads: int = 2,
                 parent: QObject | None = None, full_cache_size: int = 1) -> None:
        super().__init__(parent)
        self.max_side = max_side
        self.cache_size = cache_size
        self.full_cache_size = full_cache_size
        self._viewport: list[Viewport | None] = [None]  # a plain box: read by the decode threads
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._extra: dict[str, tuple[QImage | None, Viewport | None, ImageInfo]] = {}  # frame, info
        self._pending: set[str] = set()
        self._frame_pending: set[tuple[str, Viewport]] = set()
        self._full_cache: OrderedDict[str, QImage] = OrderedDict()
        self._full_pending: set[str] = set()
        self._full_signals = _LoaderSignals()
        self._full_signals.loaded.connect(self._on_full_loaded)
        self._full_signals.failed.connect(self._on_full_failed)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._signals = _LoaderSignals()
        self._signals.loaded.connect(self._on_loaded)
        self._signals.failed.connect(self._on_failed)
        self._signals.framed.connect(self._on_framed)

    @property
    def viewport(self) -> Viewport | None:
        """The canvas the decodes are framed for (None: no frames, e.g. zoomed in by hand)."""
        return self._viewport[0]

    @viewport.setter
    def viewport(self, value: Viewport | None) -> None:
        self._viewport[0] = value

    def cached(self, path: Path) -> QImage | None:
        """The decoded image if it is in the cache (marks it recently used)."""
        key = str(path)
        img = self._cache.get(key)
        if img is not None:
            self._cache.move_to_end(key)
        return img

    def cached_frame(self, path: Path) -> QImage | None:
        """The cached image's frame for the current :attr:`viewport` (None: none made yet)."""
        frame, vp, _info = self._extra.get(str(path), (None, None, None))
        return frame if vp is not None and vp == self.viewport else None

    def info(self, path: Path) -> ImageInfo | None:
        """The header facts (size after EXIF orientation) of a cached image."""
        extra = self._extra.get(str(path))
        return extra[2] if extra is not None else None

    @property
    def busy(self) -> bool:
        """Whether decodes are queued or running."""
        return bool(self._pending or self._full_pending)

    def forget(self, path: Path) -> None:
        """Drop the decodes of ``path`` (its file was rewritten: a fix turned the image)."""
        self._cache.pop(str(path), None)
        self._extra.pop(str(path), None)
        self._full_cache.pop(str(path), None)

    def _task(self, path: Path) -> _DecodeTask:
        return _DecodeTask(path, self.max_side, self._signals, lambda box=self._viewport: box[0])

    def request(self, path: Path, priority: int = 10) -> None:
        """Decode ``path`` in the background unless cached or already on its way."""
        key = str(path)
        if key in self._cache:
            self._cache.move_to_end(key)
            self.loaded.emit(key, self._cache[key])
            return
        if key in self._pending:
            return
        self._pending.add(key)
        self._pool.start(self._task(path), priority)

    def prefetch(self, paths: Sequence[Path]) -> None:
        """Decode these in the background, at low priority, without announcing them."""
        for p in paths:
            key = str(p)
            if key not in self._cache and key not in self._pending:
                self._pending.add(key)
                self._pool.start(self._task(p), 0)

    def request_frame(self, path: Path) -> None:
        """Make the cached image's frame for the current :attr:`viewport` in the background
        (ahead of prefetches); emits ``frameLoaded`` unless the viewport changed meanwhile."""
        key, vp = str(path), self.viewport
        extra, image = self._extra.get(key), self._cache.get(key)
        if vp is None or extra is None or image is None or extra[1] == vp or (key, vp) in self._frame_pending:
            return
        self._frame_pending.add((key, vp))
        self._pool.start(_FrameTask(key, image, extra[2], vp, lambda box=self._viewport: box[0], self._signals), 15)

    def _on_framed(self, key: str, result: tuple[QImage | None, Viewport]) -> None:
        frame, vp = result
        self._frame_pending.discard((key, vp))
        extra = self._extra.get(key)
        if frame is None or extra is None or vp != self.viewport:
            return
        self._extra[key] = (frame, vp, extra[2])
        self.frameLoaded.emit(key, frame)

    def request_full(self, path: Path) -> None:
        """Decode ``path`` at full size in the background (ahead of prefetches); emits
        ``fullLoaded`` (at once when it is the cached full-size image)."""
        key = str(path)
        if key in self._full_cache:
            self._full_cache.move_to_end(key)
            self.fullLoaded.emit(key, self._full_cache[key])
            return
        if key in self._full_pending:
            return
        self._full_pending.add(key)
        self._pool.start(_DecodeTask(path, None, self._full_signals), 20)

    def cached_full(self, path: Path) -> QImage | None:
        """The full-size decode of ``path`` if it is the one kept."""
        return self._full_cache.get(str(path))

    def _on_full_loaded(self, key: str, image: QImage, _extra: object = None) -> None:
        self._full_pending.discard(key)
        self._full_cache[key] = image
        self._full_cache.move_to_end(key)
        while len(self._full_cache) > self.full_cache_size:
            self._full_cache.popitem(last=False)
        self.fullLoaded.emit(key, image)

    def _on_full_failed(self, key: str, message: str) -> None:
        self._full_pending.discard(key)
        self.failed.emit(key, message)

    def _on_loaded(self, key: str, image: QImage,
                   extra: tuple[QImage | None, Viewport | None, ImageInfo]) -> None:
        self._pending.discard(key)
        self._cache[key] = image
        self._extra[key] = extra
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._extra.pop(self._cache.popitem(last=False)[0], None)
        self.loaded.emit(key, image)

    def _on_failed(self, key: str, message: str) -> None:
        self._pending.discard(key)
        self.failed.emit(key, message)

    def clear(self) -> None:
        """Forget cached images (another folder was opened)."""
        self._cache.clear()
        self._extra.clear()
        self._full_cache.clear()

    def wait(self, msecs: int = 5000) -> bool:
        """Wait for queued decodes (tests, shutdown)."""
        return self._pool.waitForDone(msecs)


def first_item(dataset: Dataset) -> Item | None:
    """The dataset's first image, found without listing the whole folder.

    Follows the order of the walk of :meth:`Dataset.scan` (names sorted, hidden names and
    skipped folders left out), stopping at the first image, so the window can show it while
    the full listing of a 100,000-image folder runs in the background. Sorting the names, not
    directory entries, and looking only at the entries before the first image keeps it quick.
    """
    path = _first_image(dataset, dataset.root)
    return None if path is None else Item(path, dataset.label_path_for(path), path.relative_to(dataset.root).as_posix())


def _first_image(dataset: Dataset, folder: Path) -> Path | None:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in names:
        if name.startswith("."):
            continue
        path = folder / name
        try:
            is_dir = stat.S_ISDIR(os.lstat(path).st_mode)
        except OSError:
            continue
        if is_dir:
            if name not in SKIP_DIRS and path != dataset.labels_dir and (found := _first_image(dataset, path)):
                return found
        elif os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
            return path
    return None


class ListWorker(QThread):
    """Lists a dataset folder (:meth:`Dataset.scan`) in the background."""

    listed = Signal(object)  # list[Item]
    failed = Signal(str)

    def __init__(self, dataset: Dataset, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dataset = dataset

    def run(self) -> None:
        try:
            items = self.dataset.items
        except Exception as err:  # noqa: BLE001 - shown in the window
            self.failed.emit(str(err))
            return
        self.listed.emit(items)


class StatusScanner(QThread):
    """Reads every label file's status in the background and reports it in batches."""

    batch = Signal(list)  # list[tuple[int, ItemStatus]]

    def __init__(self, items: Sequence[Item], parent: QObject | None = None, chunk: int = 500) -> None:
        super().__init__(parent)
        self.items = list(items)
        self.chunk = chunk
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the scan to end soon."""
        self._stop.set()

    def run(self) -> None:
        out: list[tuple[int, ItemStatus]] = []
        for row, item in enumerate(self.items):
            if self._stop.is_set():
                return
            out.append((row, status_of_file(item.label_path)))
            if len(out) >= self.chunk:
                self.batch.emit(out)
                out = []
                self.msleep(1)  # leave the GIL to the GUI thread now and then
        if out:
            self.batch.emit(out)


#: A job run by :class:`PluginWorker`: ``job(progress, should_stop, on_result) -> summary``.
Job = Callable[[Callable[[int, int, str], None], Callable[[], bool], Callable[[Any, Any], None]], Any]


class PluginWorker(QThread):
    """Runs a plugin job (a :mod:`labeler.pipeline` call) with progress, results and cancel."""

    progress = Signal(int, int, str)
    result = Signal(object, object)  # (Item, Annotation) as each image is done
    done = Signal(object)  # the RunSummary (or whatever the job returns)
    error = Signal(str)

    def __init__(self, job: Job, title: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.title = title
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop after the current image (the pipeline checks between images)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            summary = self.job(
                lambda d, t, m="": self.progress.emit(d, t, m),
                self._cancel.is_set,
                lambda item, ann: self.result.emit(item, ann.model_copy(deep=True)),
            )
        except LabelerError as err:  # expected (missing weights, bad option...): its sentence
            self.error.emit(str(err))
            return
        except Exception as err:  # noqa: BLE001 - shown in the window
            self.error.emit(f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=4)}")
            return
        self.done.emit(summary)
