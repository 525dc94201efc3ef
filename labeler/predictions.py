"""Model output as one array-based type, converted to shapes only at the merge step.

Like supervision's ``Detections``: parallel numpy arrays, validated on creation; indexing with
a boolean mask or index array returns a filtered copy. Converters from other libraries' result
objects live with the plugins that use them (duck typing, no import here).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labeler.geometry import box_iou, rounded_points  # noqa: F401 - box_iou: its old home
from labeler.model import Shape, ShapeMeta, Source


@dataclass
class Predictions:
    """N predicted objects of one image.

    ``xyxy`` (N, 4) float boxes in image pixels; ``class_name`` (N,) str; ``confidence`` (N,)
    float; optional ``polygons`` (N lists of (K, 2) arrays), ``masks`` (N, H, W) bool,
    ``texts`` (N,) str (OCR), ``quads`` (N, 4, 2) oriented boxes, ``meta`` (N dicts of
    JSON-able values added to each shape's ``labeler`` metadata, e.g. the ensemble's
    provenance), and ``image_labels``: image-level (label, score) pairs for classifiers.
    """

    xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.float32))
    class_name: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=object))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.float32))
    polygons: list[np.ndarray] | None = None
    masks: np.ndarray | None = None
    texts: list[str] | None = None
    quads: np.ndarray | None = None
    meta: list[dict[str, Any]] | None = None
    image_labels: list[tuple[str, float]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.class_name = np.asarray(self.class_name, dtype=object).reshape(-1)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        if len(self.class_name) != n or len(self.confidence) != n:
            raise ValueError(
                f"xyxy has {n} rows but class_name has {len(self.class_name)} and "
                f"confidence {len(self.confidence)}"
            )
        if self.polygons is not None and len(self.polygons) != n:
            raise ValueError(f"{len(self.polygons)} polygons for {n} boxes")
        if self.masks is not None:
            self.masks = np.asarray(self.masks, dtype=bool)
            if self.masks.ndim != 3 or len(self.masks) != n:
                raise ValueError(f"masks must be (N, H, W) with N={n}, got {self.masks.shape}")
        if self.texts is not None and len(self.texts) != n:
            raise ValueError(f"{len(self.texts)} texts for {n} boxes")
        if self.quads is not None:
            self.quads = np.asarray(self.quads, dtype=np.float32).reshape(-1, 4, 2)
            if len(self.quads) != n:
                raise ValueError(f"{len(self.quads)} quads for {n} boxes")
        if self.meta is not None and len(self.meta) != n:
            raise ValueError(f"{len(self.meta)} meta dicts for {n} boxes")

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls) -> Predictions:
        """No objects."""
        return cls()

    def __getitem__(self, index: Any) -> Predictions:
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return Predictions(
            xyxy=self.xyxy[idx],
            class_name=self.class_name[idx],
            confidence=self.confidence[idx],
            polygons=[self.polygons[i] for i in idx] if self.polygons is not None else None,
            masks=self.masks[idx] if self.masks is not None else None,
            texts=[self.texts[i] for i in idx] if self.texts is not None else None,
            quads=self.quads[idx] if self.quads is not None else None,
            meta=[self.meta[i] for i in idx] if self.meta is not None else None,
            image_labels=list(self.image_labels),
            data=dict(self.data),
        )

    def to_shapes(self, source: Source, prefer: str = "auto") -> list[Shape]:
        """Convert to suggested shapes carrying score and source.

        ``prefer``: ``"auto"`` (polygon when there is one, else quad, else rectangle),
        ``"rectangle"``, ``"polygon"`` or ``"mask"`` (labelme mask shapes from ``masks``).
        """
        shapes: list[Shape] = []
        for i in range(len(self)):
            meta = ShapeMeta(
                score=round(float(self.confidence[i]), 4),
                source=source,
                review="suggested",
                text=self.texts[i] if self.texts is not None else None,
                **(self.meta[i] if self.meta is not None else {}),
            )
            label = str(self.class_name[i])
            x1, y1, x2, y2 = (float(v) for v in self.xyxy[i])
            if prefer == "mask" and self.masks is not None:
                from labeler.masks import mask_to_shape_fields

                points, b64 = mask_to_shape_fields(self.masks[i])
                if b64 is None:
                    continue
                shapes.append(
                    Shape(label=label, points=points, shape_type="mask", mask=b64, labeler=meta)
                )
                continue
            poly = self.polygons[i] if self.polygons is not None else None
            if prefer in ("auto", "polygon") and poly is not None and len(poly) >= 3:
                pts = rounded_points(np.asarray(poly))
                shapes.append(Shape(label=label, points=pts, shape_type="polygon", labeler=meta))
            elif prefer in ("auto", "polygon") and self.quads is not None:
                pts = rounded_points(self.quads[i])
                shapes.append(Shape(label=label, points=pts, shape_type="polygon", labeler=meta))
            else:
                pts = [(round(x1, 2), round(y1, 2)), (round(x2, 2), round(y2, 2))]
                shapes.append(Shape(label=label, points=pts, shape_type="rectangle", labeler=meta))
        return shapes


def _where(i: int, name: object) -> str:
    return f"object {i} ({name!s:.40})"


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is a {type(value).__name__}, not a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {value!r} cannot be written as UTF-8 (a lone surrogate)") from None
    return value


def _check_score(value: object, what: str) -> float:
    try:
        score = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(score) or not -1e-6 <= score <= 1 + 1e-6:
        raise ValueError(f"{what} {score} is not in [0, 1]")
    return min(max(score, 0.0), 1.0)


def _check_points(
    pts: np.ndarray, what: str, width: int, height: int
) -> np.ndarray:
    """Finite (K, 2) points, not far outside the image, clipped to it."""
    if not np.isfinite(pts).all():
        raise ValueError(f"{what} has a coordinate that is not a finite number")
    far_x = (pts[:, 0] < -width) | (pts[:, 0] > 2 * width)
    far_y = (pts[:, 1] < -height) | (pts[:, 1] > 2 * height)
    if (far_x | far_y).any():
        x, y = pts[np.flatnonzero(far_x | far_y)[0]]
        raise ValueError(
            f"{what} has the point ({x:g}, {y:g}), far outside the {width}x{height} image"
        )
    out = pts.copy()
    np.clip(out[:, 0], 0, width, out=out[:, 0])
    np.clip(out[:, 1], 0, height, out=out[:, 1])
    return out


def validate_predictions(
    preds: object, image_size: tuple[int, int], known_classes: Collection[str] | None = None
) -> Predictions:
    """Check a plugin's output for one image; return a safe copy or raise ValueError.

    ``image_size`` is (width, height) of ``Sample.image``. Refused, with one sentence naming
    the object: not a :class:`Predictions`, arrays of different lengths, a box, polygon or
    quad coordinate that is NaN or infinite, an inverted box (x2 < x1 or y2 < y1), a box that
    lies entirely outside the image or a point more than one image width or height outside
    it, masks whose (H, W) is not the image's, a confidence or image-label score outside
    [0, 1], a class name (or OCR text) that is not a string or not encodable as UTF-8, and,
    when ``known_classes`` is given, a class name not in it.

    Clipped, not refused: boxes, polygons and quads partly outside the image are clipped to
    it (0..width, 0..height); scores within 1e-6 of [0, 1] are clipped into it.
    """
    if not isinstance(preds, Predictions):
        raise ValueError(f"the plugin returned a {type(preds).__name__}, not Predictions")
    width, height = image_size
    known = set(known_classes) if known_classes is not None else None
    try:  # re-run the shape checks: fields may have been replaced after creation
        preds = Predictions(
            xyxy=preds.xyxy, class_name=preds.class_name, confidence=preds.confidence,
            polygons=preds.polygons, masks=preds.masks, texts=preds.texts, quads=preds.quads,
            meta=preds.meta, image_labels=list(preds.image_labels), data=dict(preds.data),
        )
    except (TypeError, ValueError) as err:
        raise ValueError(f"malformed predictions: {err}") from None
    n = len(preds)
    names = [_check_text(c, f"class name of object {i}") for i, c in enumerate(preds.class_name)]
    if known is not None:
        for i, name in enumerate(names):
            if name not in known:
                shown = ", ".join(sorted(known)[:20]) + (", ..." if len(known) > 20 else "")
                raise ValueError(f"{_where(i, name)}: class {name!r} is not one of the plugin's "
                                 f"classes ({shown})")
    xyxy = preds.xyxy.astype(np.float64)
    for i in range(n):
        where = _where(i, names[i])
        x1, y1, x2, y2 = xyxy[i]
        if not np.isfinite(xyxy[i]).all():
            raise ValueError(f"{where}: box ({x1}, {y1}, {x2}, {y2}) is not finite numbers")
        if x2 < x1 or y2 < y1:
            raise ValueError(f"{where}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) is inverted "
                             "(x2 < x1 or y2 < y1)")
        if x2 < 0 or y2 < 0 or x1 > width or y1 > height:
            raise ValueError(f"{where}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies entirely "
                             f"outside the {width}x{height} image")
        xyxy[i] = _check_points(xyxy[i].reshape(2, 2), f"{where}: box", width, height).reshape(4)
    confidence = [_check_score(c, f"{_where(i, names[i])}: confidence")
                  for i, c in enumerate(preds.confidence)]
    polygons = None
    if preds.polygons is not None:
        polygons = []
        for i, poly in enumerate(preds.polygons):
            try:
                pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
            except (TypeError, ValueError):
                raise ValueError(f"{_where(i, names[i])}: polygon is not (K, 2) numbers") from None
            polygons.append(_check_points(pts, f"{_where(i, names[i])}: polygon", width, height))
    quads = None
    if preds.quads is not None:
        quads = np.stack([_check_points(q.astype(np.float64), f"{_where(i, names[i])}: quad",
                                        width, height) for i, q in enumerate(preds.quads)]
                         ) if n else preds.quads
    if preds.masks is not None and n and preds.masks.shape[1:] != (height, width):
        h, w = preds.masks.shape[1:]
        raise ValueError(f"masks are {w}x{h} but the image is {width}x{height}")
    texts = None
    if preds.texts is not None:
        texts = [_check_text(t, f"text of {_where(i, names[i])}") for i, t in enumerate(preds.texts)]
    image_labels = []
    for j, pair in enumerate(preds.image_labels):
        try:
            label, score = pair
        except (TypeError, ValueError):
            raise ValueError(f"image label {j} is {pair!r}, not a (label, score) pair") from None
        label = _check_text(label, f"image label {j}")
        if known is not None and label not in known:
            raise ValueError(f"image label {label!r} is not one of the plugin's classes")
        image_labels.append((label, _check_score(score, f"score of image label {label!r}")))
    return Predictions(
        xyxy=xyxy, class_name=np.asarray(names, dtype=object), confidence=confidence,
        polygons=polygons, masks=preds.masks, texts=texts, quads=quads,
        meta=_check_meta(preds.meta), image_labels=image_labels, data=preds.data,
    )


#: ShapeMeta fields a plugin's per-object ``meta`` may not set (the pipeline owns them).
_RESERVED_META = frozenset({"score", "source", "review", "text", "made"})


def _check_meta(meta: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if meta is None:
        return None
    out = []
    for i, m in enumerate(meta):
        if not isinstance(m, dict):
            raise ValueError(f"meta of object {i} is a {type(m).__name__}, not a dict")
        taken = sorted(_RESERVED_META & set(m))
        if taken:
            raise ValueError(f"meta of object {i} sets {taken[0]!r}, which labeler writes itself")
        try:
            out.append(json.loads(json.dumps(m, allow_nan=False)))
        except (TypeError, ValueError) as err:
            raise ValueError(f"meta of object {i} is not JSON ({err})") from None
    return out


# -- predictions files ------------------------------------------------------------------------
#: The ``format`` value of a predictions file (see docs/checks.md, "Predictions file").
PREDICTIONS_FORMAT = "labeler-predictions"
PREDICTIONS_VERSION = 1


def predictions_to_json(preds: Predictions, **extra: Any) -> dict[str, Any]:
    """One image's entry of a predictions file: ``boxes``, ``labels``, ``scores`` (+ ``extra``)."""
    return {
        "boxes": [[round(float(v), 2) for v in box] for box in preds.xyxy],
        "labels": [str(c) for c in preds.class_name],
        "scores": [round(float(s), 4) for s in preds.confidence],
        **extra,
    }


def save_predictions_file(
    path: Path, images: dict[str, dict[str, Any]], source: Source | None = None, **meta: Any
) -> None:
    """Write a predictions file atomically: ``images`` maps an image's path relative to the
    dataset root (``/`` separators) to :func:`predictions_to_json` entries."""
    from labeler.io.atomic import atomic_write_text

    doc: dict[str, Any] = {"format": PREDICTIONS_FORMAT, "version": PREDICTIONS_VERSION}
    if source is not None:
        doc["source"] = source.model_dump(exclude_none=True)
    doc.update(meta)
    doc["images"] = images
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


@dataclass
class PredictionsFile:
    """A loaded predictions file: per-image :class:`Predictions`, the document's other keys,
    and, per image entry that was refused (the others load), why: ``"<file>: image 'a.jpg': ..."``."""

    path: Path
    images: dict[str, Predictions]
    meta: dict[str, Any]
    problems: dict[str, str] = field(default_factory=dict)


def load_predictions_file(path: Path) -> PredictionsFile:
    """Read a predictions file; raise :class:`~labeler.errors.FileProblem` when the file as a
    whole is unusable, and list (not raise) each bad image entry in ``problems``.

    A file written by ``save_predictions_file`` has ``format`` and ``version``; a hand-made
    one may leave them out.
    """
    from labeler.errors import FileProblem

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise FileProblem(path, f"not a readable predictions file ({type(err).__name__}: {err})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), dict):
        raise FileProblem(path, 'not a predictions file: expected {"images": {"a.jpg": {"boxes": ...}}}')
    if doc.get("format", PREDICTIONS_FORMAT) != PREDICTIONS_FORMAT:
        raise FileProblem(path, f"format {doc.get('format')!r} is not {PREDICTIONS_FORMAT!r}")
    version = doc.get("version", PREDICTIONS_VERSION)
    if not isinstance(version, int) or version > PREDICTIONS_VERSION:
        raise FileProblem(path, f"version {version!r} is newer than this labeler reads ({PREDICTIONS_VERSION})")
    images: dict[str, Predictions] = {}
    problems: dict[str, str] = {}
    for rel, entry in doc["images"].items():
        try:
            if not isinstance(entry, dict):
                raise ValueError("is not an object with boxes, labels and scores")
            boxes = np.asarray(entry.get("boxes", []), dtype=np.float64).reshape(-1, 4)
            labels = [_check_text(c, "label") for c in entry.get("labels", [])]
            scores = [_check_score(s, "score") for s in entry.get("scores", [])]
            if not np.isfinite(boxes).all():
                raise ValueError("a box coordinate is not a finite number")
            if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
                raise ValueError("a box is inverted (x2 < x1 or y2 < y1)")
            images[str(rel)] = Predictions(xyxy=boxes, class_name=labels, confidence=scores,
                                           data={"fold": entry.get("fold")})
        except (TypeError, ValueError) as err:
            problems[str(rel)] = f"{path}: image {str(rel)!r}: {err}"
    meta = {k: v for k, v in doc.items() if k != "images"}
    return PredictionsFile(Path(path), images, meta, problems)
