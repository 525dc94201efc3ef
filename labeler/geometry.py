"""Plane geometry of shapes, in one place: areas, IoU, hit testing, per-type point rules.

Everything here works on image coordinates (x right, y down) and plain point sequences or
:class:`~labeler.model.Shape` objects; no Qt, and numpy / OpenCV only inside the functions that
need them. The validator, the exporters, the pipeline's merge, the OCR plugins and the editing
layer (hit testing, vertex editing) all use these functions, so that "how many points a polygon
keeps" or "what overlaps what" has one answer.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from labeler.model import Shape

Point = tuple[float, float]
Box = tuple[float, float, float, float]

# -- per-shape-type rules ------------------------------------------------------------------------
#: Fewest points a shape of each type needs to be drawable (``labeler validate`` reports fewer).
MIN_POINTS: dict[str, int] = {
    "polygon": 3,
    "rectangle": 2,
    "circle": 2,
    "line": 2,
    "linestrip": 2,
    "point": 1,
    "points": 1,
    "mask": 2,
    "oriented_rectangle": 4,
    "rotation": 4,
    "quadrilateral": 4,
}
#: Shape types whose number of points is fixed by the type (a line has two ends, always).
FIXED_POINTS: dict[str, int] = {"rectangle": 2, "circle": 2, "line": 2, "point": 1, "mask": 2}
#: Shapes whose points can be added or removed one by one (as in labelme), with the fewest
#: points each keeps.
VERTEX_EDITABLE: dict[str, int] = {"polygon": 3, "linestrip": 2}
#: Shape types whose vertices can be dragged one by one in the editor.
DRAGGABLE_VERTEX_TYPES = frozenset(
    {"polygon", "line", "linestrip", "point", "points", "circle", "rectangle"})
#: Shape types drawn as open paths (no inside: a click inside is not a hit).
OPEN_TYPES = frozenset({"line", "linestrip", "points"})
#: Shape types that have no area (skipped by box and polygon formats).
NO_AREA_TYPES = frozenset({"point", "points", "line", "linestrip"})


def can_add_vertex(shape: Shape) -> bool:
    """Polygons and linestrips take extra points; rectangles, circles, lines do not."""
    return shape.shape_type in VERTEX_EDITABLE


def can_remove_vertex(shape: Shape) -> bool:
    """A polygon keeps at least 3 points, a linestrip 2."""
    least = VERTEX_EDITABLE.get(shape.shape_type)
    return least is not None and len(shape.points) > least


def too_few_points(shape_type: str, n: int) -> bool:
    """True when ``n`` points cannot make a ``shape_type`` (see :data:`MIN_POINTS`)."""
    need = MIN_POINTS.get(shape_type)
    return need is not None and n < need


def normalize_rectangle(a: Point, b: Point) -> list[Point]:
    """Two corners as (top-left, bottom-right), whatever the order they were drawn in."""
    return [(min(a[0], b[0]), min(a[1], b[1])), (max(a[0], b[0]), max(a[1], b[1]))]


def drag_vertex(shape_type: str, points: Sequence[Point], j: int, p: Point) -> list[Point]:
    """Points after dragging vertex ``j`` to ``p`` (moving a circle's centre keeps its radius)."""
    pts = list(points)
    pts[j] = p
    if shape_type == "circle" and j == 0 and len(pts) >= 2:
        ox, oy = points[0]
        pts[1] = (points[1][0] + p[0] - ox, points[1][1] + p[1] - oy)
    return pts


# -- areas -----------------------------------------------------------------------------------
def signed_area(points: Sequence[Point]) -> float:
    """Shoelace area; positive when the points go clockwise on screen (y down)."""
    s = 0.0
    n = len(points)
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        s += x1 * y2 - x2 * y1
    return s / 2.0


def polygon_area(points: Sequence[Point]) -> float:
    """Area of a simple polygon (shoelace formula), always >= 0."""
    return abs(signed_area(points))


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and d1 * d2 < 0 and d3 * d4 < 0


def self_intersects(points: Sequence[Point]) -> bool:
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


def bounding_box(points: Sequence[Point]) -> Box:
    """Axis-aligned (xmin, ymin, xmax, ymax) of a non-empty point list."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def clip_points(points: Sequence[Point], width: float, height: float) -> list[Point]:
    """Clamp every point into the image."""
    return [(min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))) for x, y in points]


def rounded_points(points: Any, ndigits: int = 2) -> list[list[float]]:
    """``[[round(float(x), ndigits), round(float(y), ndigits)] for x, y in points]``: the same
    floats, bit for bit, at numpy's speed when rounding changes no value (traced masks' integer
    pixels, points already rounded); see :func:`exactly_rounded`."""
    fast = exactly_rounded(points, ndigits)
    if fast is not None:
        return fast
    return [[round(float(x), ndigits), round(float(y), ndigits)] for x, y in points]


def exactly_rounded(points: Any, ndigits: int = 2) -> list[list[float]] | None:
    """``points`` as ``[[x, y], ...]`` floats when Python's ``round(v, ndigits)`` leaves every
    coordinate as it is, else None (then a per-point ``round`` gives the answer).

    ``points`` is a numeric ``(n, 2)`` array, or a sequence of 2-tuples of Python floats (any
    other element type answers None, so that callers that round ints keep their ints). Exact:
    numpy's ``round`` is ``rint(v * 10**d) / 10**d``, so a value it leaves unchanged is the
    float nearest some decimal ``k / 10**d``; below ``10**(14 - d)`` that float lies far closer
    to it than half a unit of the last decimal, so Python's correctly rounded ``round`` gives
    the same float back. A mask's polygon has thousands of vertices: the comprehension cost
    about 1.3 microseconds per point, this about 0.3.
    """
    import numpy as np

    if isinstance(points, np.ndarray):
        if points.dtype.kind not in "iuf":
            return None
        arr = points
    else:
        try:
            n = len(points)
            if not n or set(map(len, points)) != {2}:
                return None
            if set(map(type, itertools.chain.from_iterable(points))) != {float}:
                return None
        except TypeError:
            return None
        arr = np.fromiter(itertools.chain.from_iterable(points), np.float64, count=2 * n)
        arr = arr.reshape(n, 2)
    if arr.ndim != 2 or arr.shape[1] != 2 or not arr.size or not 0 <= ndigits <= 8:
        return None
    values = arr.astype(np.float64, copy=False)
    if not (np.abs(values) < 10.0 ** (14 - ndigits)).all():  # also refuses NaN and infinities
        return None
    if arr.dtype.kind == "f" and not np.array_equal(np.round(values, ndigits), values):
        return None
    return values.tolist()


# -- overlap ---------------------------------------------------------------------------------
def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every (x1, y1, x2, y2) box in ``a`` (N, 4) with every box in ``b`` (M, 4): (N, M)."""
    import numpy as np

    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def boxes_overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when two (x1, y1, x2, y2) boxes share some area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def polygon_iou(a: Sequence[Point], b: Sequence[Point]) -> float:
    """IoU of two polygons, rasterised at 1/4 pixel on their joint bounding box (OpenCV)."""
    import cv2
    import numpy as np

    pa, pb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    lo = np.minimum(pa.min(axis=0), pb.min(axis=0))
    hi = np.maximum(pa.max(axis=0), pb.max(axis=0))
    scale = 4.0
    size = np.ceil((hi - lo) * scale).astype(int) + 2
    if size[0] * size[1] > 4_000_000:  # huge regions: a coarser grid is plenty
        scale = 4.0 * math.sqrt(4_000_000 / (size[0] * size[1]))
        size = np.ceil((hi - lo) * scale).astype(int) + 2
    ma = np.zeros((size[1], size[0]), dtype=np.uint8)
    mb = np.zeros_like(ma)
    cv2.fillPoly(ma, [np.round((pa - lo) * scale).astype(np.int32)], 1)
    cv2.fillPoly(mb, [np.round((pb - lo) * scale).astype(np.int32)], 1)
    inter = int(np.logical_and(ma, mb).sum())
    union = int(np.logical_or(ma, mb).sum())
    return inter / union if union else 0.0


# -- hit testing -----------------------------------------------------------------------------
def point_in_polygon(poly: Sequence[Point], x: float, y: float) -> bool:
    """Even-odd rule."""
    inside = False
    j = len(poly) - 1
    for i in range(len(poly)):
        xi, yi = poly[i]
        xj, yj = poly[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / ((yj - yi) or 1e-12) + xi:
            inside = not inside
        j = i
    return inside


def project_on_segment(a: Point, b: Point, x: float, y: float) -> Point:
    """The point of segment ``a``-``b`` closest to (x, y)."""
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    n = dx * dx + dy * dy
    t = 0.0 if n == 0 else max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / n))
    return (ax + t * dx, ay + t * dy)


def segment_distance(a: Point, b: Point, x: float, y: float) -> float:
    """Distance from (x, y) to the segment ``a``-``b``."""
    q = project_on_segment(a, b, x, y)
    return math.hypot(q[0] - x, q[1] - y)


def shape_distance(shape: Shape, x: float, y: float) -> float:
    """Distance from (x, y) to the shape's outline or point (0 inside closed shapes)."""
    pts = shape.points
    if not pts:
        return math.inf
    if shape.shape_type == "point" or len(pts) == 1:
        return math.hypot(pts[0][0] - x, pts[0][1] - y)
    if shape.shape_type == "circle" and len(pts) >= 2:
        (cx, cy), (px, py) = pts[0], pts[1]
        r = math.hypot(px - cx, py - cy)
        return max(0.0, math.hypot(x - cx, y - cy) - r)
    poly = shape.polygon()
    closed = shape.shape_type not in OPEN_TYPES
    if closed and len(poly) >= 3 and point_in_polygon(poly, x, y):
        return 0.0
    segs = list(zip(poly, poly[1:] + (poly[:1] if closed else []), strict=False))
    return min(segment_distance(a, b, x, y) for a, b in segs) if segs else math.inf


def nearest_vertex(points: Sequence[Point], x: float, y: float) -> tuple[int, float] | None:
    """(index, distance) of the point of ``points`` nearest to (x, y); None when empty."""
    best: tuple[int, float] | None = None
    for j, (px, py) in enumerate(points):
        d = math.hypot(px - x, py - y)
        if best is None or d < best[1]:
            best = (j, d)
    return best


def nearest_edge(shape: Shape, x: float, y: float) -> tuple[float, int, Point] | None:
    """(distance, insert position, closest point) of the edge of a polygon/linestrip nearest to
    (x, y); the new vertex goes at ``insert position`` (between its two ends)."""
    if not can_add_vertex(shape) or len(shape.points) < 2:
        return None
    pts = list(shape.points)
    edges = list(zip(range(len(pts)), pts, pts[1:], strict=False))
    if shape.shape_type == "polygon":
        edges.append((len(pts) - 1, pts[-1], pts[0]))
    best: tuple[float, int, Point] | None = None
    for k, a, b in edges:
        q = project_on_segment(a, b, x, y)
        d = math.hypot(q[0] - x, q[1] - y)
        if best is None or d < best[0]:
            best = (d, k + 1, q)
    return best


# -- quadrilaterals (text regions) -----------------------------------------------------------
def order_around_center(points: Sequence[Point]) -> list[Point]:
    """The points sorted clockwise around their centroid, starting with the original first."""
    cx = sum(p[0] for p in points) / len(points)
    cy = sum(p[1] for p in points) / len(points)
    ordered = sorted(points, key=lambda p: math.atan2(p[1] - cy, p[0] - cx))
    k = ordered.index(points[0])
    return ordered[k:] + ordered[:k]


def quad_size(quad: Any) -> tuple[float, float]:
    """(length along p0->p1, length along p0->p3) of a quad: text-line width and height."""
    import numpy as np

    p = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    w = (np.linalg.norm(p[0] - p[1]) + np.linalg.norm(p[3] - p[2])) / 2
    h = (np.linalg.norm(p[0] - p[3]) + np.linalg.norm(p[1] - p[2])) / 2
    return float(w), float(h)


def order_clockwise(quad: Any) -> np.ndarray:
    """Order 4 points clockwise (in image coordinates, y down) starting at the top-left one."""
    import numpy as np

    pts = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    center = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - center[1], pts[:, 0] - center[0])
    pts = pts[np.argsort(angles)]  # increasing angle = clockwise on screen (y down)
    start = int(np.argmin(pts[:, 0] + pts[:, 1]))
    return np.roll(pts, -start, axis=0).astype(np.float32)


def polygon_to_quad(points: Any) -> np.ndarray:
    """A text polygon of any length -> its minimum-area rectangle, clockwise from the
    top-left corner (OpenCV)."""
    import cv2
    import numpy as np

    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    if len(pts) == 4:
        return pts
    rect = cv2.minAreaRect(pts)
    box = cv2.boxPoints(rect).astype(np.float32)
    return order_clockwise(box)


def angle_of(quad: Any) -> float:
    """Direction of the p0->p1 edge, in degrees (0 = left to right)."""
    import numpy as np

    p = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    return math.degrees(math.atan2(p[1][1] - p[0][1], p[1][0] - p[0][0]))


def min_side(points: Sequence[Point]) -> float:
    """Shorter side of the minimum-area rectangle around the points (the text height; OpenCV)."""
    import cv2
    import numpy as np

    (_, _), (w, h), _ = cv2.minAreaRect(np.asarray(points, dtype=np.float32))
    return float(min(w, h))
