"""An interactive segmenter for the GUI's click-to-segment tool: the bright blob under a click.

No model: the region of pixels at least as bright as the clicked one's half, connected to it
(inside the prompt box when one is drawn). Shows the ``register_segmenters`` contract:
``open(checkpoint)`` returns a session with ``set_image(image)`` and ``predict(...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


class BlobSession:
    """Segments the connected bright region around the first positive click (or in the box)."""

    def __init__(self) -> None:
        self.gray: Any = None

    def set_image(self, image: Any) -> None:
        """Keep a grey copy of the image (PIL image or (H, W, 3) array)."""
        import numpy as np

        arr = np.asarray(image.convert("L") if hasattr(image, "convert") else image, dtype=np.float32)
        self.gray = arr.mean(axis=2) if arr.ndim == 3 else arr

    def predict(self, points: Sequence[Sequence[float]] | None = None,
                labels: Sequence[int] | None = None,
                box: Sequence[float] | None = None) -> tuple[Any, float]:
        """A (H, W) bool mask of the blob and a score of 1.0 (0.0 when nothing was found)."""
        import numpy as np

        if self.gray is None:
            raise RuntimeError("set_image() first")
        h, w = self.gray.shape
        allowed = np.ones((h, w), dtype=bool)
        if box is not None:
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            allowed[:] = False
            allowed[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = True
        pos = [p for p, lab in zip(points or [], labels or [1] * len(points or []), strict=False) if lab]
        if pos:
            seed = (min(max(int(pos[0][1]), 0), h - 1), min(max(int(pos[0][0]), 0), w - 1))
        elif box is not None and allowed.any():
            inside = np.where(allowed, self.gray, -1.0)
            seed = np.unravel_index(int(np.argmax(inside)), inside.shape)
        else:
            return np.zeros((h, w), dtype=bool), 0.0
        bright = allowed & (self.gray >= self.gray[seed] / 2)
        mask = np.zeros((h, w), dtype=bool)
        stack = [seed]
        while stack:  # 4-connected flood fill
            y, x = stack.pop()
            if 0 <= y < h and 0 <= x < w and bright[y, x] and not mask[y, x]:
                mask[y, x] = True
                stack += [(y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)]
        return mask, 1.0 if mask.any() else 0.0


class BlobSegmenter:
    """What the plugin registers: a name and ``open(checkpoint)`` (no model file needed)."""

    name = "example_blob"

    def open(self, checkpoint: Path | None) -> BlobSession:
        """A new session (``checkpoint`` is ignored: there is no model)."""
        return BlobSession()
