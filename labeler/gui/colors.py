"""Stable colours per class: the same label has the same colour in every image and session."""

from __future__ import annotations

import hashlib

from PySide6.QtGui import QColor

_cache: dict[str, QColor] = {}


def label_color(label: str) -> QColor:
    """A saturated colour derived from the label's name (stable across runs and machines)."""
    color = _cache.get(label)
    if color is None:
        h = hashlib.md5(label.encode("utf-8")).digest()
        hue = int.from_bytes(h[:2], "big") % 360
        sat = 170 + h[2] % 70
        val = 200 + h[3] % 55
        color = QColor.fromHsv(hue, sat, val)
        _cache[label] = color
    return QColor(color)
