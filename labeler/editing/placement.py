"""Where a small window (the label dialog) stands so that it does not cover a shape.

Plain rectangles ``(x, y, width, height)`` in screen pixels, no Qt: the dialog is placed
beside the shape being labelled (right, else left, else below, else above), inside the screen;
when no side has room, where it covers the least of the shape.
"""

from __future__ import annotations

Rect = tuple[int, int, int, int]

#: Pixels between the shape and the dialog.
GAP = 12


def _inside(x: int, y: int, w: int, h: int, bounds: Rect) -> tuple[int, int]:
    bx, by, bw, bh = bounds
    return max(bx, min(x, bx + bw - w)), max(by, min(y, by + bh - h))


def _overlap(a: Rect, b: Rect) -> int:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def place_beside(target: Rect, size: tuple[int, int], bounds: Rect, gap: int = GAP) -> tuple[int, int]:
    """Top-left corner for a window of ``size`` next to ``target`` (not over it), within
    ``bounds`` (the screen's available area)."""
    tx, ty, tw, th = target
    w, h = size
    cy, cx = ty + th // 2 - h // 2, tx + tw // 2 - w // 2
    sides = [(tx + tw + gap, cy), (tx - gap - w, cy), (cx, ty + th + gap), (cx, ty - gap - h)]
    best: tuple[int, int] | None = None
    best_cover = -1
    for x, y in sides:
        px, py = _inside(x, y, w, h, bounds)
        cover = _overlap((px, py, w, h), target)
        if cover == 0:
            return px, py
        if best is None or cover < best_cover:
            best, best_cover = (px, py), cover
    assert best is not None
    return best
