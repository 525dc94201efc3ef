"""What the person chose to see, never written to a label file: which labels and shapes are
hidden (labelme's Label List and shape checkboxes) and the brightness / contrast the image is
shown with (labelme's Image > Brightness/Contrast). Qt-free; the canvas and panels read it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labeler.model import Shape


def label_counts(shapes: Sequence[Shape]) -> dict[str, int]:
    """How many shapes of each label an image has (rejected suggestions do not count),
    labels in alphabetical order."""
    counts = Counter(s.label for s in shapes if s.review != "rejected")
    return dict(sorted(counts.items()))


class Visibility:
    """Hidden labels (kept while paging through images) and hidden shapes of the open image.

    Hidden shapes are tracked by index; :meth:`sync` follows them when the document's shape
    list changes (a deletion shifts the indices, an undo brings fresh copies back): a shape is
    found again by identity, else by its fingerprint (label, type, points).
    """

    def __init__(self) -> None:
        self.hidden_labels: set[str] = set()
        self.hidden_shapes: set[int] = set()
        self._known: list[Shape] = []  # the shape objects the indices refer to

    def shows(self, index: int, shape: Shape) -> bool:
        """True when shape ``index`` is neither hidden itself nor by its label."""
        return shape.label not in self.hidden_labels and index not in self.hidden_shapes

    def set_label_visible(self, label: str, visible: bool) -> None:
        (self.hidden_labels.discard if visible else self.hidden_labels.add)(label)

    def set_shape_visible(self, index: int, visible: bool, shapes: Sequence[Shape]) -> None:
        """Show or hide shape ``index``; showing a shape of a hidden label shows the label
        again (as a checked box in labelme's list would)."""
        self.sync(shapes)
        if visible:
            self.hidden_shapes.discard(index)
            if 0 <= index < len(shapes):
                self.hidden_labels.discard(shapes[index].label)
        elif 0 <= index < len(shapes):
            self.hidden_shapes.add(index)

    def forget_shapes(self) -> None:
        """Another image is open: its shapes all start visible (hidden labels stay hidden)."""
        self.hidden_shapes.clear()
        self._known = []

    def sync(self, shapes: Sequence[Shape]) -> None:
        """Follow the hidden shapes to their new indices after an edit of the shape list."""
        if not self.hidden_shapes:
            self._known = list(shapes)
            return
        if len(shapes) == len(self._known) and all(a is b for a, b in zip(shapes, self._known, strict=True)):
            return
        position = {id(s): i for i, s in enumerate(shapes)}
        prints: dict[str, list[int]] = {}
        for i, s in enumerate(shapes):
            prints.setdefault(s.fingerprint(), []).append(i)
        moved: set[int] = set()
        for old in sorted(self.hidden_shapes):
            if old >= len(self._known):
                continue
            obj = self._known[old]
            new = position.get(id(obj))
            if new is None or shapes[new] is not obj:
                free = [i for i in prints.get(obj.fingerprint(), []) if i not in moved]
                new = free[0] if free else None
            if new is not None:
                moved.add(new)
        self.hidden_shapes = moved
        self._known = list(shapes)


@dataclass
class ImageAdjust:
    """Brightness and contrast factors of the displayed image (1.0: as it is), the factors of
    PIL's ``ImageEnhance.Brightness`` and ``ImageEnhance.Contrast``, as labelme uses them."""

    brightness: float = 1.0
    contrast: float = 1.0

    @property
    def is_identity(self) -> bool:
        return self.brightness == 1.0 and self.contrast == 1.0

    def reset(self) -> None:
        self.brightness = self.contrast = 1.0

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """A new ``uint8`` array (H, W, 3 or more channels, RGB first): brightness, then
        contrast around the mean grey of the brightened image (what labelme shows). Channels
        after the third (alpha) are kept."""
        if self.is_identity:
            return rgb.copy()
        out = rgb.copy()
        bright = np.floor(np.clip(rgb[..., :3].astype(np.float32) * self.brightness, 0, 255))
        if self.contrast != 1.0:
            # PIL's Contrast: blend with a grey image of the mean luminance (ITU-R 601-2).
            grey = np.clip((bright[..., 0] * 299 + bright[..., 1] * 587 + bright[..., 2] * 114) / 1000, 0, 255)
            mean = float(np.floor(grey.mean() + 0.5)) if grey.size else 0.0
            bright = np.clip(mean + self.contrast * (bright - mean), 0, 255)
        out[..., :3] = np.floor(bright + 0.5).astype(np.uint8)
        return out
