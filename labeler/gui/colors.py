"""Colours per class: a palette of well-separated colours for the dataset's classes, in
sorted order (the same dataset gets the same colours every session), and a colour derived
from the name for any class past the palette."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from PySide6.QtGui import QColor

#: Kelly's colours of maximum contrast (white and black left out): 20 classes that are easy to
#: tell apart, where colours derived from names often come out alike.
PALETTE = (
    "#F3C300", "#875692", "#F38400", "#A1CAF1", "#BE0032", "#C2B280", "#848482", "#008856",
    "#E68FAC", "#0067A5", "#F99379", "#604E97", "#F6A600", "#B3446C", "#DCD300", "#882D17",
    "#8DB600", "#654522", "#E25822", "#2B3D26",
)

_cache: dict[str, QColor] = {}
_assigned: dict[str, QColor] = {}


def assign_colors(classes: Sequence[str]) -> None:
    """Give classes palette colours: assigned ones keep theirs (a class added while labelling
    does not recolour the others), new ones take the free colours in the given order."""
    used = {c.name().upper() for c in _assigned.values()}
    free = [c for c in PALETTE if c.upper() not in used]
    for label in classes:
        if label not in _assigned and free:
            _assigned[label] = QColor(free.pop(0))


def reset_colors() -> None:
    """Forget the palette assignment (another dataset was opened)."""
    _assigned.clear()


def label_color(label: str) -> QColor:
    """The class's palette colour, else a saturated colour derived from its name."""
    if label in _assigned:
        return QColor(_assigned[label])
    color = _cache.get(label)
    if color is None:
        h = hashlib.md5(label.encode("utf-8")).digest()
        hue = int.from_bytes(h[:2], "big") % 360
        sat = 170 + h[2] % 70
        val = 200 + h[3] % 55
        color = QColor.fromHsv(hue, sat, val)
        _cache[label] = color
    return QColor(color)
