"""Model output as one array-based type, converted to shapes only at the merge step.

Like supervision's ``Detections``: parallel numpy arrays, validated on creation; indexing with
a boolean mask or index array returns a filtered copy. Converters from other libraries' result
objects live with the plugins that use them (duck typing, no import here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labeler.model import Shape, ShapeMeta, Source


@dataclass
class Predictions:
    """N predicted objects of one image.

    ``xyxy`` (N, 4) float boxes in image pixels; ``class_name`` (N,) str; ``confidence`` (N,)
    float; optional ``polygons`` (N lists of (K, 2) arrays), ``masks`` (N, H, W) bool,
    ``texts`` (N,) str (OCR), ``quads`` (N, 4, 2) oriented boxes, and ``image_labels``:
    image-level (label, score) pairs for classifiers.
    """

    xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.float32))
    class_name: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=object))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.float32))
    polygons: list[np.ndarray] | None = None
    masks: np.ndarray | None = None
    texts: list[str] | None = None
    quads: np.ndarray | None = None
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
                pts = [(round(float(x), 2), round(float(y), 2)) for x, y in np.asarray(poly)]
                shapes.append(Shape(label=label, points=pts, shape_type="polygon", labeler=meta))
            elif prefer in ("auto", "polygon") and self.quads is not None:
                pts = [(round(float(x), 2), round(float(y), 2)) for x, y in self.quads[i]]
                shapes.append(Shape(label=label, points=pts, shape_type="polygon", labeler=meta))
            else:
                pts = [(round(x1, 2), round(y1, 2)), (round(x2, 2), round(y2, 2))]
                shapes.append(Shape(label=label, points=pts, shape_type="rectangle", labeler=meta))
        return shapes


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
