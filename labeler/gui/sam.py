"""Segment Anything in the canvas, against a small interface any plugin can provide.

A *segment session* is any object with::

    set_image(image)                       # PIL image or (H, W, 3) uint8; slow (the encoder)
    predict(points=..., labels=..., box=...)  # fast (the decoder): a (H, W) bool mask,
                                              # or (mask, score)

``labeler_plugins.sam.SamSession`` is one (opened through the ``register_segmenters`` hook);
tests use a fake. :class:`SamController` encodes the
image in a worker as soon as it opens, so a click only runs the decoder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from labeler.gui.workers import CallWorker
from labeler.io.images import open_image
from labeler.plugin_api import SegmentSession

#: Environment variable naming a SAM checkpoint for the GUI tool.
CHECKPOINT_ENV = "LABELER_SAM_CHECKPOINT"


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


def plugin_session_factory(checkpoint: Path | None, prefer: str = "sam") -> SessionFactory | None:
    """A factory opening a session of the segmenter a plugin registered through
    ``register_segmenters`` (``prefer`` first: the built-in ``sam``), or None when none is."""
    from labeler.plugins import collect_segmenters

    try:
        found = collect_segmenters()
    except Exception:  # noqa: BLE001 - plugins broken: the tool says it is not available
        return None
    if not found:
        return None
    seg = next((s for s in found if s.name == prefer), found[0])

    def make() -> SegmentSession:
        return seg.open(checkpoint)

    return make


def mask_to_polygon(mask: np.ndarray, tolerance: float = 1.0) -> list[tuple[float, float]]:
    """The largest outer contour of a mask as a polygon (empty when the mask is empty)."""
    from labeler.masks import mask_to_polygons

    polys = mask_to_polygons(np.asarray(mask, dtype=bool), tolerance=tolerance, min_area=4.0)
    if not polys:
        return []
    return [(round(float(x), 2), round(float(y), 2)) for x, y in polys[0]]


class SamController(QObject):
    """Owns a segment session; encodes each opened image in the background.

    ``ready`` is emitted when the current image's embedding is available; ``predict`` answers
    clicks from the decoder alone and returns a polygon.
    """

    ready = Signal(str)  # image path
    busy = Signal(bool)
    error = Signal(str)

    def __init__(self, factory: SessionFactory | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.factory = factory
        self.session: SegmentSession | None = None
        self.current: str | None = None  # path whose embedding the session holds
        self._wanted: str | None = None
        self._worker: CallWorker | None = None
        self.last_latency_ms = 0.0
        self.last_score: float | None = None

    @property
    def available(self) -> bool:
        return self.factory is not None

    @property
    def is_ready(self) -> bool:
        return self.session is not None and self.current is not None and self.current == self._wanted

    def set_image(self, path: Path) -> None:
        """Start encoding ``path`` (the latest request wins while a previous one runs)."""
        if self.factory is None:
            return
        self._wanted = str(path)
        if self._worker is not None:
            return  # _done picks up the latest wish
        if self.current == self._wanted and self.session is not None:
            self.ready.emit(self._wanted)
            return
        self._start(self._wanted)

    def _start(self, path: str) -> None:
        self.busy.emit(True)

        def job() -> str:
            first = self.session is None
            if self.session is None:
                assert self.factory is not None
                self.session = self.factory()
            image = open_image(path)
            self.session.set_image(image)
            if first:
                # The first decoder calls pay torch's lazy set-up (hundreds of ms): pay it here,
                # in the background, not on the user's first click.
                c = (image.width / 2, image.height / 2)
                b = (image.width / 4, image.height / 4, image.width * 3 / 4, image.height * 3 / 4)
                for kw in ({"points": [c], "labels": [1]}, {"box": b}, {"points": [c], "labels": [1], "box": b}) * 2:
                    self.session.predict(**kw)
            return path

        # No Qt parent: the thread is owned here and freed after wait() (a deleteLater racing the
        # controller's own destruction crashed the tests).
        self._worker = CallWorker(job)
        self._worker.done.connect(self._done)
        self._worker.error.connect(self._failed)
        self._worker.start()

    def _done(self, path: str) -> None:
        self._finish_worker()
        self.current = path
        if self._wanted is not None and self._wanted != path:
            self._start(self._wanted)
            return
        self.busy.emit(False)
        self.ready.emit(path)

    def _failed(self, message: str) -> None:
        self._finish_worker()
        self.busy.emit(False)
        self.factory = None if self.session is None else self.factory
        self.error.emit(message)

    def _finish_worker(self) -> None:
        if self._worker is not None:
            self._worker.wait()
            self._worker = None

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the current encoding ends (tests, benchmarks)."""
        if self._worker is None:
            return True
        return self._worker.wait(msecs)

    def predict(self, points: Sequence[tuple[float, float]], labels: Sequence[int],
                box: Sequence[float] | None) -> list[tuple[float, float]]:
        """A polygon for the prompts (decoder only); empty when not ready or nothing found."""
        if not self.is_ready or self.session is None or (not points and box is None):
            return []
        t0 = time.perf_counter()
        out = self.session.predict(points=list(points) or None, labels=list(labels) or None,
                                   box=list(box) if box is not None else None)
        mask, score = (out if isinstance(out, tuple) else (out, None))
        poly = mask_to_polygon(mask)
        self.last_latency_ms = (time.perf_counter() - t0) * 1000
        self.last_score = score
        return poly


class SegmentBinding:
    """Connects a :class:`SamController` to the canvas's segment tool and the session: each
    prompt gives a polygon preview; Enter (:meth:`accept`) keeps it as a shape."""

    def __init__(self, controller: SamController, canvas: Any, session: Any,
                 show: Callable[[str, int], None]) -> None:
        self.ctl, self.canvas, self.session, self.show = controller, canvas, session, show
        #: True once the tool was switched on: from then on every opened image is encoded.
        self.used = False
        controller.ready.connect(self._ready)
        controller.busy.connect(self._busy)
        controller.error.connect(lambda m: session.error(f"Segment Anything: {m}"))

    def _busy(self, busy: bool) -> None:
        self.canvas.sam_busy = busy
        self.canvas.update()

    def _ready(self, path: str) -> None:
        self.show("Segment Anything ready: click the object", 3000)
        pts = self.canvas.sam_points
        if pts or self.canvas.sam_box:
            self.prompt([(x, y) for x, y, _ in pts], [lab for _, _, lab in pts], self.canvas.sam_box)

    def prompt(self, points: list[Any], labels: list[int], box: Any) -> None:
        """New prompts: ask the segmenter (decoder only) and show its polygon."""
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

