"""The current image on the canvas: a cached decode at once, else one decoded in the background;
the full-size decode once the view zooms in past the screen-size one; neighbours prefetched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from labeler.dataset import Item
from labeler.gui.workers import ImageLoader


class ImageFeed(QObject):
    """Feeds the canvas the image of ``current()`` (an :class:`Item` or None)."""

    shown = Signal(str)  # rel, when the decoded image is on screen
    fullShown = Signal(str)  # rel, when the full-size decode replaced the screen-size one
    failed = Signal(str, str)  # rel, message

    def __init__(self, loader: ImageLoader, canvas: object, current: Callable[[], Item | None]) -> None:
        super().__init__(loader)
        self.loader, self.canvas, self.current = loader, canvas, current
        loader.loaded.connect(self._loaded)
        loader.failed.connect(self._failed)
        loader.fullLoaded.connect(self._full_loaded)
        canvas.fullResolutionWanted.connect(self._want_full)  # type: ignore[attr-defined]

    def show(self, item: Item, neighbours: list[Path]) -> None:
        """Show ``item``'s image (now when cached, else once decoded) and prefetch others."""
        cached = self.loader.cached(item.image_path)
        self.canvas.set_image(cached)  # type: ignore[attr-defined]
        if cached is not None:
            self.shown.emit(item.rel)
        else:
            self.loader.request(item.image_path)
        self.loader.prefetch(neighbours)

    def _is_current(self, key: str) -> Item | None:
        item = self.current()
        return item if item is not None and str(item.image_path) == key else None

    def _loaded(self, key: str, image: QImage) -> None:
        if item := self._is_current(key):
            self.canvas.set_image(image)  # type: ignore[attr-defined]
            self.shown.emit(item.rel)

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
