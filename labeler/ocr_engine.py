"""A small shared wrapper around the OCR models that ship inside ``rapidocr_onnxruntime``.

One engine per process (:func:`get_engine`), created on first use, so the ``ocr`` autolabeler,
the ``ocr_cleanup`` check and the ``orientation`` check share the loaded models. rapidocr (and
OpenCV) are imported only when an engine is created, so importing this module is cheap.

Models (PP-OCRv4 detection and recognition, the mobile 0/180 text-direction classifier) are
files inside the installed wheel: nothing is downloaded. Images are RGB ``numpy`` arrays
(H, W, 3) uint8 in and out; the BGR order the models were trained on is handled here.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labeler.errors import MissingDependencyError
from labeler.geometry import (  # noqa: F401 - their old home
    angle_of,
    order_clockwise,
    polygon_to_quad,
    quad_size,
)

#: The direction classifier's certainty above which rapidocr turns a line before reading it
#: (its ``cls_thresh`` default).
CLS_THRESHOLD = 0.9

_lock = threading.Lock()
_engine: OcrEngine | None = None


@dataclass
class OcrLine:
    """One detected text line: its quad (4 points, clockwise from top-left), text and score."""

    quad: np.ndarray  # (4, 2) float32, image pixels
    text: str
    score: float


def rapidocr_version() -> str | None:
    """The installed ``rapidocr_onnxruntime`` version, or None."""
    try:
        return importlib.metadata.version("rapidocr_onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        return None


class OcrEngine:
    """Text detection, direction classification and recognition with rapidocr's bundled models.

    Use :func:`get_engine` rather than building one: loading takes about half a second.
    """

    def __init__(self, **rapidocr_kwargs: Any) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise MissingDependencyError(
                "OCR needs rapidocr_onnxruntime (its PP-OCR models ship inside the wheel): "
                "pip install 'labeler[ocr]'"
            ) from None
        from labeler.threads import capped

        cap = capped()  # a Ray worker's share of the machine: onnxruntime takes every core else
        if cap is not None:
            rapidocr_kwargs = {"intra_op_num_threads": cap, "inter_op_num_threads": 1,
                               **rapidocr_kwargs}
        self._ocr = RapidOCR(**rapidocr_kwargs)
        self._lock = threading.Lock()
        #: Model identity stamped on what plugins produce.
        self.model = "PP-OCRv4 (rapidocr_onnxruntime)"
        self.model_version = rapidocr_version() or "unknown"

    # -- whole-image -------------------------------------------------------------------------
    def detect(self, image: np.ndarray, limit_side: int | None = None) -> list[np.ndarray]:
        """Text-line quads (each (4, 2) float32, clockwise from top-left) in ``image`` (RGB).

        ``limit_side``: the detector's shorter-side size (default 736); smaller is faster.
        """
        bgr = _bgr(image)
        with self._lock:
            det = self._ocr.text_det
            old = det.limit_side_len
            if limit_side:
                det.limit_side_len = limit_side
            try:
                boxes, _ = self._ocr(bgr, use_det=True, use_cls=False, use_rec=False)
            finally:
                det.limit_side_len = old
        if not boxes:
            return []
        return [np.asarray(b, dtype=np.float32).reshape(4, 2) for b in boxes]

    def read(
        self, image: np.ndarray, min_score: float = 0.5, use_cls: bool = True
    ) -> list[OcrLine]:
        """Detect and recognise every text line of ``image`` (RGB); keep scores >= min_score."""
        bgr = _bgr(image)
        with self._lock:
            result, _ = self._ocr(
                bgr, use_det=True, use_cls=use_cls, use_rec=True, text_score=min_score
            )
        lines: list[OcrLine] = []
        for box, text, score in result or []:
            quad = np.asarray(box, dtype=np.float32).reshape(4, 2)
            lines.append(OcrLine(quad=quad, text=str(text), score=float(score)))
        if use_cls and lines:
            self._text_first(image, lines)
        return lines

    def _text_first(self, image: np.ndarray, lines: list[OcrLine]) -> None:
        """Start each upside-down line's quad at the text's own top-left corner.

        The detector orders corners clockwise from the top-left in image terms; for a line the
        direction classifier reads as turned 180 degrees (as sure as rapidocr needs to turn it
        before recognition) that corner is the text's bottom-right, so the quad is rotated by
        two corners: p0->p1 then runs along the top of the text, in reading direction, as in
        every labelme/ICDAR text box.
        """
        crops = [crop_quad(image, line.quad) for line in lines]
        todo = [i for i, c in enumerate(crops) if c is not None]
        directions = self.classify([crops[i] for i in todo])  # type: ignore[misc]
        for i, (degrees, prob) in zip(todo, directions, strict=True):
            if degrees == 180 and prob >= CLS_THRESHOLD:
                lines[i].quad = np.roll(lines[i].quad, 2, axis=0)

    # -- crops -------------------------------------------------------------------------------
    def classify(self, crops: Sequence[np.ndarray]) -> list[tuple[int, float]]:
        """Text direction of each crop (RGB, text running left to right or upside down):
        ``(0 or 180, probability)``."""
        if not crops:
            return []
        with self._lock:
            _, res, _ = self._ocr.text_cls([_bgr(c) for c in crops])
        return [(180 if "180" in str(label) else 0, float(score)) for label, score in res]

    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Recognise each crop (RGB, one upright text line): ``(text, confidence)``."""
        if not crops:
            return []
        with self._lock:
            res, _ = self._ocr.text_rec([_bgr(c) for c in crops])
        return [(str(r[0]), float(r[1])) for r in res]


def get_engine() -> OcrEngine:
    """The process-wide engine (created on first call; thread-safe)."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = OcrEngine()
        return _engine


def _bgr(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return np.ascontiguousarray(arr[:, :, 2::-1])


def to_array(image: Any) -> np.ndarray:
    """A PIL image or array -> RGB uint8 array (H, W, 3)."""
    arr = image if isinstance(image, np.ndarray) else np.asarray(image.convert("RGB"))
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return np.ascontiguousarray(arr[:, :, :3])


def crop_quad(
    image: np.ndarray, quad: Sequence[Sequence[float]], min_size: int = 2
) -> np.ndarray | None:
    """Perspective-warp the region inside ``quad`` (p0 top-left, clockwise) to an upright
    rectangle: p0->p1 becomes the top edge. Returns None for a degenerate quad."""
    import cv2

    pts = np.asarray(quad, dtype=np.float32).reshape(4, 2)
    width = int(round(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3]))))
    height = int(round(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2]))))
    if width < min_size or height < min_size:
        return None
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(pts, dst)
    if not np.all(np.isfinite(matrix)):
        return None
    return cv2.warpPerspective(
        image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )


def normalize_text(text: str) -> str:
    """Text as compared for the character error rate: no whitespace, case folded.

    The bundled recogniser often drops spaces in Latin text, so spaces are not compared.
    """
    return "".join(text.split()).casefold()


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance / len(reference) (1.0 when the reference is empty and hyp is not)."""
    ref, hyp = reference, hypothesis
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, rc in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, hc in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rc != hc))
        prev = cur
    return prev[-1] / len(ref)
