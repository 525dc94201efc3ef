"""Binary masks <-> labelme ``mask`` shapes (base64 PNG of the bbox region) and polygons."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image


def encode_mask_png(mask: np.ndarray) -> str:
    """Base64 of a 1-bit PNG of ``mask`` (H, W) bool, as labelme stores it."""
    img = Image.fromarray(np.asarray(mask, dtype=bool))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_mask_png(b64: str) -> np.ndarray:
    """Inverse of :func:`encode_mask_png`: (H, W) bool array."""
    data = base64.b64decode(b64, validate=False)
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L")) > 0


def mask_to_shape_fields(mask: np.ndarray) -> tuple[list[tuple[float, float]], str | None]:
    """Full-image (H, W) mask -> (bbox corner points, base64 PNG of the bbox crop).

    labelme's convention: points are [[x1, y1], [x2, y2]] with the crop ``mask[y1:y2+1, x1:x2+1]``.
    Returns ``([], None)`` for an empty mask.
    """
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [], None
    x1, x2, y1, y2 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    crop = mask[y1 : y2 + 1, x1 : x2 + 1]
    return [(float(x1), float(y1)), (float(x2), float(y2))], encode_mask_png(crop)


def shape_mask_to_full(
    points: list[tuple[float, float]], b64: str, size: tuple[int, int]
) -> np.ndarray:
    """A labelme mask shape -> full-image (H, W) bool mask; ``size`` is (width, height)."""
    w, h = size
    crop = decode_mask_png(b64)
    x1, y1 = int(round(points[0][0])), int(round(points[0][1]))
    full = np.zeros((h, w), dtype=bool)
    ch, cw = crop.shape
    x2, y2 = min(w, x1 + cw), min(h, y1 + ch)
    if x1 < w and y1 < h and x2 > max(x1, 0) and y2 > max(y1, 0):
        full[max(y1, 0) : y2, max(x1, 0) : x2] = crop[max(0, -y1) : y2 - y1, max(0, -x1) : x2 - x1]
    return full


def polygon_to_mask(points: list[tuple[float, float]], size: tuple[int, int]) -> np.ndarray:
    """Rasterise a polygon to an (H, W) bool mask; ``size`` is (width, height)."""
    from PIL import ImageDraw

    img = Image.new("1", size, 0)
    if len(points) >= 3:
        ImageDraw.Draw(img).polygon([(float(x), float(y)) for x, y in points], fill=1, outline=1)
    return np.asarray(img, dtype=bool)


def mask_to_polygons(
    mask: np.ndarray, tolerance: float = 1.0, min_area: float = 4.0
) -> list[np.ndarray]:
    """Outer contours of a bool mask as simplified (K, 2) float polygons, largest first.

    Uses OpenCV (``findContours`` + ``approxPolyDP``), which ultralytics already installs;
    ``tolerance`` is the simplification distance in pixels.
    """
    try:
        import cv2
    except ImportError:
        from labeler.errors import MissingDependencyError

        raise MissingDependencyError(
            "turning masks into polygons needs OpenCV: pip install opencv-python-headless "
            "(or pip install 'labeler[yolo]')"
        ) from None
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polys = []
    for c in contours:
        area = float(cv2.contourArea(c))
        if area < min_area:
            continue
        approx = cv2.approxPolyDP(c, tolerance, True) if tolerance > 0 else c
        poly = approx.reshape(-1, 2).astype(np.float32)
        if len(poly) >= 3:
            polys.append((area, poly))
    polys.sort(key=lambda t: -t[0])
    return [p for _, p in polys]


def signed_area(points: Sequence[tuple[float, float]]) -> float:
    """Shoelace area; positive when the points go clockwise on screen (y down)."""
    s = 0.0
    n = len(points)
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        s += x1 * y2 - x2 * y1
    return s / 2.0


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: tuple[float, float], p2: tuple[float, float], q1: tuple[float, float], q2: tuple[float, float]) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and d1 * d2 < 0 and d3 * d4 < 0


def self_intersects(points: Sequence[tuple[float, float]]) -> bool:
    """True when two non-adjacent edges of the closed polygon cross."""
    n = len(points)
    if n < 4:
        return False
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing edge
            if _segments_cross(*edges[i], *edges[j]):
                return True
    return False
