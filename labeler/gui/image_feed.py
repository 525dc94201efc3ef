"""The current image on the canvas: a cached decode at once, else one decoded in the background;
the full-size decode once the view zooms in past the screen-size one; neighbours prefetched.
Each decode comes with its frame (the image pre-scaled to the fitted canvas, made in the
loader's thread: :mod:`labeler.editing.display`); when the canvas's size or fit changes, the
shown image's frame is made again in the background.

An image shown from the cache while no decode runs has its neighbours' decodes started once its
frame is painted and the event loop goes idle: started at once, a decode thread would compete
with that frame for the CPU and the GIL. While decodes run (paging quickly), they are queued at
once, so that no decode thread waits. Each neighbour's document is read ahead too (``preload``,
:meth:`labeler.editing.session.Session.preload`) once its image is decoded, or at that idle
moment when its decode was cached already: the next image then opens without reading its label
file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QAbstractEventDispatcher, QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QImage

from labeler.dataset import Item
from labeler.gui.workers import ImageLoader
from labeler.io.images import ImageInfo

#: Reads an item's document ahead (the session's ``preload``).
Preload = Callable[[Item, ImageInfo | None], object]


class ImageFeed(QObject):
    """Feeds the canvas the image of ``current()`` (an :class:`Item` or None)."""

    shown = Signal(str)  # rel, when the decoded image is on screen
    fullShown = Signal(str)  # rel, when the full-size decode replaced the screen-size one
    failed = Signal(str, str)  # rel, message

    def __init__(self, loader: ImageLoader, canvas: object, current: Callable[[], Item | None],
                 preload: Preload | None = None) -> None:
        super().__init__(loader)
        self.loader, self.canvas, self.current, self.preload = loader, canvas, current, preload
        self._ahead: dict[str, Item] = {}  # neighbours whose documents are still to read ahead
        loader.loaded.connect(self._loaded)
        loader.failed.connect(self._failed)
        loader.fullLoaded.connect(self._full_loaded)
        loader.frameLoaded.connect(self._frame_loaded)
        loader.viewport = canvas.viewport()  # type: ignore[attr-defined]
        canvas.zoomChanged.connect(self._view_changed)  # type: ignore[attr-defined]
        canvas.fullResolutionWanted.connect(self._want_full)  # type: ignore[attr-defined]
        self._after_paint: list[Path] = []  # neighbours to decode once the shown image is painted
        self._painted = False
        self._later = QTimer(self, singleShot=True, interval=100)  # no paint, or never idle
        self._later.timeout.connect(self._prefetch_now)
        canvas.installEventFilter(self)  # type: ignore[attr-defined]
        dispatcher = QAbstractEventDispatcher.instance()
        if dispatcher is not None:
            dispatcher.aboutToBlock.connect(self._idle)

    def show(self, item: Item, neighbours: list[Item]) -> None:
        """Show ``item``'s image (now when cached, else once decoded) and prefetch the
        ``neighbours``' images and documents."""
        if self._painted:  # the last image shown from the cache is on screen: its turn now
            self._prefetch_now()
        self._ahead = {str(n.image_path): n for n in neighbours}
        paths = [n.image_path for n in neighbours]
        cached = self.loader.cached(item.image_path)
        self.canvas.set_image(cached, frame=self.loader.cached_frame(item.image_path))  # type: ignore[attr-defined]
        if cached is not None:
            self.loader.request_frame(item.image_path)  # when it has none for this view yet
            self.shown.emit(item.rel)
        else:  # waiting for this decode anyway: the neighbours' queue behind it
            self.loader.request(item.image_path)
        if cached is not None and not self.loader.busy:
            self._after_paint, self._painted = paths, False
            self._later.start()
        else:
            self._after_paint = []
            self.loader.prefetch(paths)

    def prefetch(self, neighbours: list[Item]) -> None:
        """Prefetch the images and documents of the shown image's ``neighbours`` now (the
        folder's list came after the image was shown)."""
        self._ahead.update((str(n.image_path), n) for n in neighbours)
        paths = [n.image_path for n in neighbours]
        self.loader.prefetch(paths)
        self._read_cached_ahead(paths)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Notes the canvas's paint (the prefetch :meth:`show` held back may start after it)."""
        if event.type() == QEvent.Type.Paint:
            self._painted = True
        return False

    def _idle(self) -> None:
        if self._painted and self._after_paint:
            self._prefetch_now()

    def _prefetch_now(self) -> None:
        self._later.stop()
        paths, self._after_paint = self._after_paint, []
        self.loader.prefetch(paths)
        self._read_cached_ahead(paths)

    def _read_cached_ahead(self, paths: list[Path]) -> None:
        for path in paths:  # decoded already: no decode will come to read their documents after
            if self.loader.cached(path) is not None:
                self._read_ahead(str(path))

    def _read_ahead(self, key: str) -> None:
        item = self._ahead.pop(key, None)
        if item is not None and self.preload is not None and self._is_current(key) is None:
            self.preload(item, self.loader.info(item.image_path))

    @staticmethod
    def stamp(item: Item) -> tuple[int, int] | None:
        """The image file's (mtime, size): tells whether a fix rewrote it."""
        try:
            st = item.image_path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def refresh(self, item: Item) -> None:
        """Decode ``item``'s image again (its file was rewritten)."""
        self.loader.forget(item.image_path)
        self.show(item, [])

    def _is_current(self, key: str) -> Item | None:
        item = self.current()
        return item if item is not None and str(item.image_path) == key else None

    def _loaded(self, key: str, image: QImage) -> None:
        if item := self._is_current(key):
            self.canvas.set_image(image, frame=self.loader.cached_frame(item.image_path))  # type: ignore[attr-defined]
            self.shown.emit(item.rel)
        else:
            self._read_ahead(key)

    def _view_changed(self, _scale: float) -> None:
        viewport = self.canvas.viewport()  # type: ignore[attr-defined]
        if viewport != self.loader.viewport:
            self.loader.viewport = viewport
            if (item := self.current()) is not None:
                self.loader.request_frame(item.image_path)

    def _frame_loaded(self, key: str, frame: QImage) -> None:
        if self._is_current(key) and self.canvas.has_image:  # type: ignore[attr-defined]
            self.canvas.set_frame(frame)  # type: ignore[attr-defined]

    def _want_full(self) -> None:
        item = self.current()
        if item is not None:
            self.loader.request_full(item.image_path)

    def _full_loaded(self, key: str, image: QImage) -> None:
        if (item := self._is_current(key)) and self.canvas.has_image:  # type: ignore[attr-defined]
            self.canvas.set_full_image(image)  # type: ignore[attr-defined]
            self.fullShown.emit(item.rel)

    def _failed(self, key: str, message: str) -> None:
        if item := self._is_current(key):
            self.canvas.set_image(None, problem=message)  # type: ignore[attr-defined]
            self.failed.emit(item.rel, message)
