"""Per-image pixel properties from one small decode, and dataset image statistics.

Both the ``image_quality`` check and ``labeler stats --images`` read each image once, reduced
(JPEG decodes at 1/2, 1/4 or 1/8 scale through ``Image.draft``; other formats are shrunk with
``Image.reduce``) to at most :data:`WORK_SIDE` pixels on the long side, and compute everything
from that one small array:

- brightness percentiles (per-pixel brightness ``sqrt(0.241 R^2 + 0.691 G^2 + 0.068 B^2) / 255``,
  the formula cleanvision uses), histogram entropy, edge strength of a 64-pixel grey copy (as
  cleanvision's blurriness), whether the image is grayscale;
- running per-channel sums for the mean and standard deviation used to normalise training
  inputs (:class:`ImageStatistics`).

The width and height always come from the file header (EXIF orientation applied), never from
the reduced copy.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, UnidentifiedImageError

from labeler.errors import ImageFileError
from labeler.io.images import MAX_PIXELS, not_regular_reason

#: Long side, in pixels, of the reduced copy every property is computed on.
WORK_SIDE = 256
#: Long side of the grey copy the edge strength (blurriness) is measured on, as cleanvision's.
BLUR_SIDE = 64
_EXIF_ORIENTATION = 0x0112
#: EXIF orientation -> the transpose that shows the image upright (as ``ImageOps.exif_transpose``).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: File modes that hold one channel: such files are grayscale whatever their pixels.
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass
class SmallImage:
    """One image, decoded once and reduced: ``pixels`` is (H, W) uint8 for one-channel files,
    else (H, W, 3) RGB; ``size`` is the full (width, height) from the header."""

    pixels: np.ndarray
    size: tuple[int, int]
    mode: str

    @property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8, grey repeated over the channels for one-channel files."""
        if self.pixels.ndim == 2:
            return np.repeat(self.pixels[:, :, None], 3, axis=2)
        return self.pixels


def decode_small(path: str | Path, max_side: int = WORK_SIDE) -> SmallImage:
    """Decode ``path`` once at a reduced scale (long side at most ``max_side``).

    Raises :class:`ImageFileError` (naming the file) for unreadable, truncated or oversized
    images, as :func:`labeler.io.images.open_image` does.
    """
    path = Path(path)
    special = not_regular_reason(path)
    if special is not None:
        raise ImageFileError(path, special)
    # One open: header checks, reduced decode, then the EXIF tag (free once loaded; reading
    # it before the load would decode a whole PNG just to look for an eXIf chunk).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                mode = img.mode
                w, h = img.size
                check_pixel_count(path, w, h)
                if img.format == "JPEG":
                    img.draft(img.mode, (max_side, max_side))
                img.load()
                try:
                    orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
                except Exception:  # noqa: BLE001 - broken EXIF: treat as upright
                    orientation = 1
                small = _reduce(img, max_side)
    except ImageFileError:
        raise
    except FileNotFoundError:
        raise ImageFileError(path, "file not found") from None
    except (UnidentifiedImageError, ImportError):
        raise ImageFileError(path, "not an image (or unsupported format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageFileError(path, f"cannot decode image: {err}") from None
    if orientation in _TRANSPOSE:
        small = small.transpose(_TRANSPOSE[orientation])
        if orientation in (5, 6, 7, 8):
            w, h = h, w
    if mode in GRAY_MODES:
        pixels = np.asarray(small.convert("L"))
    else:
        pixels = np.asarray(small.convert("RGB"))
    return SmallImage(pixels=np.ascontiguousarray(pixels), size=(w, h), mode=mode)


def check_pixel_count(path: Path, w: int, h: int) -> None:
    """Refuse empty and oversized (decompression bomb) images, as ``open_image`` does."""
    if w <= 0 or h <= 0:
        raise ImageFileError(path, f"invalid image size {w}x{h}")
    if w * h > MAX_PIXELS:
        raise ImageFileError(path, f"image is {w}x{h} = {w * h:,} pixels, over the limit of "
                                   f"{MAX_PIXELS:,} (possible decompression bomb)")


def _plain(img: Image.Image) -> Image.Image:
    """8-bit L or RGB before reducing: 16-bit and float grey scaled to 8 bits (values above
    255 read as 16-bit), palettes expanded, alpha dropped (as cleanvision reads the colour
    channels only; reducing with alpha would darken transparent pixels)."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.size and arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode in ("L", "RGB"):
        return img
    return img.convert("L" if img.mode in GRAY_MODES else "RGB")


def _reduce(img: Image.Image, max_side: int) -> Image.Image:
    """An integer ``reduce`` (box average, fast) then a thumbnail to ``max_side``."""
    img = _plain(img)
    factor = max(img.size) // max_side
    if factor >= 2:
        img = img.reduce(factor)
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return img


def brightness(pixels: np.ndarray) -> np.ndarray:
    """Per-pixel brightness in [0, 1] (cleanvision's weighting of R, G, B)."""
    if pixels.ndim == 2:
        return pixels.astype(np.float32) / 255.0
    p = pixels.astype(np.float32)
    return np.sqrt(0.241 * p[..., 0] ** 2 + 0.691 * p[..., 1] ** 2 + 0.068 * p[..., 2] ** 2) / 255.0


def entropy(pixels: np.ndarray) -> float:
    """Shannon entropy (bits) of the image histogram, as PIL's ``Image.entropy``: one-channel
    images over 256 bins, RGB over the 768 bins of the three channel histograms together."""
    if pixels.ndim == 2:
        hist = np.bincount(pixels.ravel(), minlength=256)
    else:
        hist = np.concatenate([np.bincount(pixels[..., c].ravel(), minlength=256) for c in range(3)])
    p = hist[hist > 0] / hist.sum()
    return max(0.0, float(-(p * np.log2(p)).sum()))


def edge_strength(pixels: np.ndarray, size: tuple[int, int]) -> tuple[float, float]:
    """(standard deviation of the edge image, standard deviation of the grey histogram) of a
    grey copy at most :data:`BLUR_SIDE` pixels on its long side, sized from the full ``size``
    the way cleanvision sizes it."""
    w, h = size
    ratio = max(w, h) / BLUR_SIDE
    img = Image.fromarray(pixels)
    if ratio > 1:
        target = (max(int(w // ratio), 1), max(int(h // ratio), 1))
        img = img.resize(target, Image.Resampling.BICUBIC)
    grey = img.convert("L")
    edges = np.asarray(grey.filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    hist = np.asarray(grey.histogram(), dtype=np.float64)
    return float(edges.std()), float(hist.std())


def channel_spread(pixels: np.ndarray) -> float:
    """The largest difference between two colour channels at any pixel (0 for grey pixels)."""
    if pixels.ndim == 2:
        return 0.0
    p = pixels.astype(np.int16)
    rg = np.abs(p[..., 0] - p[..., 1]).max(initial=0)
    gb = np.abs(p[..., 1] - p[..., 2]).max(initial=0)
    return float(max(rg, gb))


def grayscale_rule(mode: str, spread: float, tolerance: float) -> bool:
    """The one rule for "grayscale": a one-channel file mode, or colour channels that differ
    by at most ``tolerance`` levels (of 255) at every pixel (``spread``: :func:`channel_spread`)."""
    return mode in GRAY_MODES or spread <= tolerance


def is_grayscale(small: SmallImage, tolerance: float) -> bool:
    """:func:`grayscale_rule` for a decoded image."""
    return grayscale_rule(small.mode, channel_spread(small.pixels), tolerance)


@dataclass
class ImageProperties:
    """What the quality check scores: raw measurements of one image."""

    size: tuple[int, int]
    mode: str
    brightness_p5: float
    brightness_p99: float
    entropy: float
    edge_std: float
    hist_std: float
    channel_spread: float

    def is_grayscale(self, tolerance: float) -> bool:
        """:func:`grayscale_rule` for these measurements."""
        return grayscale_rule(self.mode, self.channel_spread, tolerance)

    @property
    def aspect_ratio(self) -> float:
        """min(w / h, h / w): 1 for squares, towards 0 for long strips."""
        w, h = self.size
        return min(w / h, h / w)

    @property
    def area_sqrt(self) -> float:
        """sqrt(width * height), the size measure of the odd-size rule."""
        return math.sqrt(self.size[0] * self.size[1])


def measure(small: SmallImage) -> ImageProperties:
    """All raw properties of one reduced image."""
    b = brightness(small.pixels)
    p5, p99 = np.percentile(b, [5, 99])
    edge_std, hist_std = edge_strength(small.pixels, small.size)
    return ImageProperties(
        size=small.size, mode=small.mode, brightness_p5=float(p5), brightness_p99=float(p99),
        entropy=entropy(small.pixels), edge_std=edge_std, hist_std=hist_std,
        channel_spread=channel_spread(small.pixels),
    )


@dataclass
class ImageStatistics:
    """Running per-channel sums over many images, for normalisation mean and std.

    Every pixel of every (reduced) image counts once, in [0, 1]; one-channel images count the
    same value in R, G and B. ``gray`` is the luma (ITU-R 601, PIL's ``L``), the single channel
    figure to use when a set is grayscale.
    """

    grayscale_tolerance: float = 2.0
    n: int = 0
    pixels: int = 0
    sums: np.ndarray = field(default_factory=lambda: np.zeros(4))
    squares: np.ndarray = field(default_factory=lambda: np.zeros(4))
    sizes: list[tuple[int, int]] = field(default_factory=list)
    grayscale: int = 0

    def add(self, small: SmallImage) -> None:
        """Count one image."""
        levels = np.arange(256, dtype=np.float64) / 255.0
        rgb = small.rgb
        grey = small.pixels if small.pixels.ndim == 2 else np.asarray(Image.fromarray(rgb).convert("L"))
        planes = [rgb[..., 0], rgb[..., 1], rgb[..., 2], grey]
        for c, plane in enumerate(planes):
            hist = np.bincount(plane.ravel(), minlength=256)
            self.sums[c] += hist @ levels
            self.squares[c] += hist @ (levels * levels)
        self.pixels += grey.size
        self.n += 1
        self.sizes.append(small.size)
        self.grayscale += is_grayscale(small, self.grayscale_tolerance)

    def to_dict(self) -> dict[str, Any]:
        """Mean/std per channel, the single-channel figure, sizes and aspect ratios."""
        if not self.n:
            return {"images": 0}
        mean = self.sums / self.pixels
        std = np.sqrt(np.maximum(self.squares / self.pixels - mean * mean, 0.0))
        w = np.array([s[0] for s in self.sizes], dtype=np.float64)
        h = np.array([s[1] for s in self.sizes], dtype=np.float64)
        aspect = w / h
        share = self.grayscale / self.n
        return {
            "images": self.n,
            "mean": [round(float(v), 4) for v in mean[:3]],
            "std": [round(float(v), 4) for v in std[:3]],
            "gray_mean": round(float(mean[3]), 4),
            "gray_std": round(float(std[3]), 4),
            "grayscale_images": self.grayscale,
            "grayscale_share": round(share, 4),
            "normalize": (
                {"mean": [round(float(mean[3]), 4)], "std": [round(float(std[3]), 4)], "channels": 1}
                if share == 1.0 else
                {"mean": [round(float(v), 4) for v in mean[:3]], "std": [round(float(v), 4) for v in std[:3]],
                 "channels": 3}
            ),
            "width": _quantiles(w),
            "height": _quantiles(h),
            "aspect_ratio": _quantiles(aspect),
            "aspect_histogram": _histogram(aspect, ASPECT_BINS),
            "size_histogram": _histogram(np.maximum(w, h), SIZE_BINS),
            "computed_at": f"long side <= {WORK_SIDE} px",
        }


#: Bin edges of the aspect-ratio (width / height) histogram.
ASPECT_BINS = (0.0, 0.5, 0.67, 0.8, 0.95, 1.05, 1.25, 1.5, 2.0, math.inf)
#: Bin edges (pixels) of the long-side histogram.
SIZE_BINS = (0, 64, 128, 256, 512, 1024, 2048, 4096, math.inf)


def _quantiles(v: np.ndarray) -> dict[str, float]:
    q = np.percentile(v, [0, 5, 50, 95, 100])
    return {k: round(float(x), 3) for k, x in zip(("min", "p5", "median", "p95", "max"), q, strict=True)}


def _histogram(v: np.ndarray, edges: tuple[float, ...]) -> list[dict[str, Any]]:
    counts, _ = np.histogram(v, bins=np.array(edges, dtype=np.float64))
    out = []
    for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True):
        label = f">= {lo:g}" if math.isinf(hi) else f"{lo:g}-{hi:g}"
        out.append({"bin": label, "count": int(n)})
    return out
