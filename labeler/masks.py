"""Binary masks <-> labelme ``mask`` shapes (base64 PNG of the bbox region) and polygons."""

from __future__ import annotations

import base64
import binascii
import heapq
import io
import math
import re
import struct
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from PIL import Image, PngImagePlugin

from labeler.geometry import self_intersects, signed_area  # noqa: F401 - their old home
from labeler.io.images import MAX_PIXELS


def encode_mask_png(mask: np.ndarray) -> str:
    """Base64 of a 1-bit PNG of ``mask`` (H, W) bool, as labelme stores it."""
    img = Image.fromarray(np.asarray(mask, dtype=bool))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


#: A mask PNG with more pixels than this is refused before it is decoded (the limit of images).
MAX_MASK_PIXELS = MAX_PIXELS
#: The PNG stored in a mask shape may differ from its box by this many pixels (rounding).
MASK_SIZE_TOLERANCE = 1

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BASE64_ALPHABET = re.compile(rb"[^A-Za-z0-9+/]")


def mask_png_size(b64: str) -> tuple[int, int] | None:
    """(width, height) from the header of a base64 mask PNG, without decoding any pixel.

    None when the text does not start like a PNG (:func:`decode_mask_png` says what is wrong).
    """
    head = _BASE64_ALPHABET.sub(b"", b64[:128].encode("ascii", "replace"))[:32]
    try:
        raw = base64.b64decode(head)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 24 or raw[:8] != _PNG_SIGNATURE or raw[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", raw[16:24])
    return int(width), int(height)


def mask_box_size(points: Sequence[tuple[float, float]]) -> tuple[int, int]:
    """(width, height) of the PNG a mask shape's two corner points call for (labelme's rule:
    the crop ``mask[y1:y2+1, x1:x2+1]`` with the corners truncated to integers)."""
    (x1, y1), (x2, y2) = points[0], points[1]
    return int(x2) - int(x1) + 1, int(y2) - int(y1) + 1


def mask_size_problem(
    points: Sequence[tuple[float, float]], b64: str, image_size: tuple[int, int] | None = None
) -> str | None:
    """Why a mask shape's PNG must not be decoded, or None: over :data:`MAX_MASK_PIXELS`,
    larger than the image (``image_size``, (width, height), when known), or a size that
    disagrees with the box of its two corner points (labelme itself fails on it).

    Reads the PNG header only; a text that is not a PNG is left to :func:`decode_mask_png`.
    """
    size = mask_png_size(b64)
    if size is None:
        return None
    w, h = size
    if w * h > MAX_MASK_PIXELS:
        return f"mask PNG is {w}x{h} pixels, over the {MAX_MASK_PIXELS} pixel limit"
    if image_size is not None:
        iw, ih = image_size
        if w > iw + MASK_SIZE_TOLERANCE or h > ih + MASK_SIZE_TOLERANCE:
            return f"mask PNG is {w}x{h} pixels, larger than the {iw}x{ih} image"
    if len(points) >= 2:
        bw, bh = mask_box_size(points)
        if abs(bw - w) > MASK_SIZE_TOLERANCE or abs(bh - h) > MASK_SIZE_TOLERANCE:
            (x1, y1), (x2, y2) = points[0], points[1]
            return (
                f"mask PNG is {w}x{h} pixels but the shape's box ({x1:g}, {y1:g})-({x2:g}, {y2:g}) "
                f"is {bw}x{bh}"
            )
    return None


def decode_mask_png(b64: str, max_pixels: int = MAX_MASK_PIXELS) -> np.ndarray:
    """Inverse of :func:`encode_mask_png`: (H, W) bool array.

    Only PNG is read, and one with more than ``max_pixels`` pixels raises ValueError before any
    pixel is decoded (a small PNG can declare gigantic dimensions). Anything else that is not a
    PNG raises ValueError; a truncated one, OSError.
    """
    data = base64.b64decode(b64, validate=False)
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("mask is not a PNG image")
    # PIL's PNG reader itself, not Image.open: no other format is probed, and no hook another
    # library puts on Image.open (ultralytics installs one that pip-installs HEIF support).
    try:
        img = PngImagePlugin.PngImageFile(io.BytesIO(data))
    except (SyntaxError, EOFError, struct.error) as err:  # PIL's words for a broken header
        raise ValueError(f"mask is not a valid PNG ({err})") from None
    with img:
        w, h = img.size
        if w * h > max_pixels:
            raise ValueError(f"mask PNG is {w}x{h} pixels, over the {max_pixels} pixel limit")
        try:
            if img.mode == "1":
                return np.asarray(img, dtype=bool)
            return np.asarray(img.convert("L")) > 0
        except (SyntaxError, EOFError, struct.error) as err:
            raise ValueError(f"mask is not a valid PNG ({err})") from None


def mask_to_shape_fields(mask: np.ndarray) -> tuple[list[tuple[float, float]], str | None]:
    """Full-image (H, W) mask -> (bbox corner points, base64 PNG of the bbox crop).

    labelme's convention: points are [[x1, y1], [x2, y2]] with the crop ``mask[y1:y2+1, x1:x2+1]``.
    Returns ``([], None)`` for an empty mask.
    """
    box = mask_bbox(mask)
    if box is None:
        return [], None
    x1, y1, x2, y2 = box[0], box[1], box[2] - 1, box[3] - 1
    crop = mask[y1 : y2 + 1, x1 : x2 + 1]
    return [(float(x1), float(y1)), (float(x2), float(y2))], encode_mask_png(crop)


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of a bool (H, W) mask's set pixels, x1 and y1 exclusive (one past the
    last pixel); None for an empty mask. Row and column ``any`` passes: a few times faster than
    ``np.nonzero`` on a full-image mask."""
    m = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(m[y0:y1].any(axis=0))
    return int(cols[0]), y0, int(cols[-1]) + 1, y1


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


def _by_area(contours: Sequence[np.ndarray], area_of: Callable[[np.ndarray], float],
             min_area: float) -> Iterator[tuple[float, np.ndarray]]:
    """``(area, contour)`` largest first (equal areas in OpenCV's order), down to ``min_area``,
    computing areas only as far as they are asked for: a fragmented mask (thousands of specks
    around the object) has thousands of contours, and a caller that wants the largest one
    should not pay for every area. A closed pixel chain of n points has a perimeter of at most
    n sqrt(2), so an area of at most n^2 / (2 pi) (the isoperimetric inequality): contours
    come in longest first, and one is only measured once its bound could beat the largest
    area not yet given out. The same order as measuring every contour and sorting."""
    order = sorted(range(len(contours)), key=lambda i: -len(contours[i]))
    heap: list[tuple[float, int]] = []  # (-area, OpenCV's index)
    j = 0
    while True:
        while j < len(order) and (not heap or len(contours[order[j]]) ** 2 / (2 * math.pi) >= -heap[0][0]):
            heapq.heappush(heap, (-float(area_of(contours[order[j]])), order[j]))
            j += 1
        if not heap or -heap[0][0] < min_area:
            return  # every contour not measured yet has a smaller area than this one
        area, i = heapq.heappop(heap)
        yield -area, contours[i]


def mask_to_polygons(
    mask: np.ndarray, tolerance: float = 1.0, min_area: float = 4.0, limit: int | None = None,
    box: tuple[int, int, int, int] | None = None,
) -> list[np.ndarray]:
    """Outer contours of a bool mask as simplified (K, 2) float polygons, largest first.

    Uses OpenCV (``findContours`` + ``approxPolyDP``), which ultralytics already installs;
    ``tolerance`` is the simplification distance in pixels. ``limit``: only the largest so many
    (the others are never simplified). Contours are traced in the mask's bounding box with a
    one-pixel margin (the same contours as on the whole image, for a fraction of the scan);
    ``box``: that box (:func:`mask_bbox`) when the caller has it already.
    """
    try:
        import cv2
    except ImportError:
        from labeler.errors import MissingDependencyError

        raise MissingDependencyError(
            "turning masks into polygons needs OpenCV: pip install opencv-python-headless "
            "(or pip install 'labeler[yolo]')"
        ) from None
    box = box if box is not None else mask_bbox(mask)
    if box is None:
        return []
    h, w = np.shape(mask)[:2]
    x0, y0, x1, y1 = max(0, box[0] - 1), max(0, box[1] - 1), min(w, box[2] + 1), min(h, box[3] + 1)
    m = np.ascontiguousarray(np.asarray(mask)[y0:y1, x0:x1], dtype=np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE, offset=(x0, y0))
    polys = []
    for _area, c in _by_area(contours, cv2.contourArea, min_area):
        if limit is not None and len(polys) >= limit:
            break
        approx = cv2.approxPolyDP(c, tolerance, True) if tolerance > 0 else c
        poly = approx.reshape(-1, 2).astype(np.float32)
        if len(poly) >= 3:
            polys.append(poly)
    return polys
