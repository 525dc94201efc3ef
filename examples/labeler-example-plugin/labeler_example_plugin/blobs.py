"""``example_blobs``: suggest a rectangle around every bright (or strongly coloured) blob.

Threshold the image, find 4-connected components, keep those of a sensible size and suggest
their bounding boxes; the score is the blob's mean brightness (or colourfulness). Useful for
lights, markers, stars, cells on a dark background, coloured stickers on a grey one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from labeler.model import Source
from labeler.plugin_api import Autolabeler, Sample

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from labeler.predictions import Predictions


class BlobOptions(BaseModel):
    """Options of ``example_blobs`` (``-o threshold 0.6``; the GUI shows them as a form)."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(
        0.75, ge=0.0, le=1.0, description="Pixels at or above this value (0-1) belong to a blob."
    )
    channel: Literal["brightness", "saturation"] = Field(
        "brightness",
        description="What is thresholded: grey level, or colourfulness (max-min of R, G, B).",
    )
    min_area: int = Field(25, ge=1, description="Smallest blob kept, in pixels of the image.")
    max_area_fraction: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Blobs larger than this fraction of the image are background.",
    )
    label: str = Field("blob", min_length=1, description="Label of the suggested rectangles.")
    max_blobs: int = Field(
        50, ge=1, description="Keep at most this many blobs per image (best first)."
    )
    max_side: int = Field(
        512,
        ge=16,
        description="Images are shrunk to this longest side first (speed); boxes are scaled back.",
    )
    batch: int = Field(8, ge=1, description="Images handed to predict() at once.")


@dataclass(frozen=True)
class Blob:
    """One connected component: bounding box (x1, y1, x2, y2; x2/y2 exclusive), area, mean value."""

    x1: int
    y1: int
    x2: int
    y2: int
    area: int
    mean: float


def channel_values(image: Image.Image, channel: str) -> np.ndarray:
    """The (H, W) float array in [0, 1] that is thresholded."""
    import numpy as np

    if channel == "saturation":
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        return (rgb.max(axis=2) - rgb.min(axis=2)) / 255.0
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def find_blobs(values: np.ndarray, threshold: float, min_area: int = 1) -> list[Blob]:
    """4-connected components of ``values >= threshold``, with at least ``min_area`` pixels.

    Works on runs of pixels rather than pixels (numpy finds the runs of each row; a union-find
    joins runs that overlap in consecutive rows), so it needs no scipy and stays fast.
    """
    import numpy as np

    mask = np.asarray(values) >= threshold
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)
    ys, xs = np.nonzero(step == 1)  # run starts, row-major order
    _, xe = np.nonzero(step == -1)  # run ends (exclusive), same order
    n = len(xs)
    if n == 0:
        return []
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_start = np.searchsorted(ys, np.arange(h + 1)).tolist()
    xs_l, xe_l = xs.tolist(), xe.tolist()
    for y in range(1, h):
        i, i_end = row_start[y - 1], row_start[y]
        j, j_end = row_start[y], row_start[y + 1]
        while i < i_end and j < j_end:
            if xs_l[i] < xe_l[j] and xs_l[j] < xe_l[i]:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[rj] = ri
            if xe_l[i] < xe_l[j]:
                i += 1
            else:
                j += 1
    roots = np.array([find(i) for i in range(n)])
    _, comp = np.unique(roots, return_inverse=True)
    k = int(comp.max()) + 1
    lengths = (xe - xs).astype(np.float64)
    cumsum = np.zeros((h, w + 1), dtype=np.float64)
    cumsum[:, 1:] = np.cumsum(values, axis=1)
    run_sums = cumsum[ys, xe] - cumsum[ys, xs]
    area = np.bincount(comp, weights=lengths, minlength=k)
    total = np.bincount(comp, weights=run_sums, minlength=k)
    x1 = np.full(k, w)
    y1 = np.full(k, h)
    x2 = np.zeros(k, dtype=np.int64)
    y2 = np.zeros(k, dtype=np.int64)
    np.minimum.at(x1, comp, xs)
    np.minimum.at(y1, comp, ys)
    np.maximum.at(x2, comp, xe)
    np.maximum.at(y2, comp, ys + 1)
    return [
        Blob(
            int(x1[c]), int(y1[c]), int(x2[c]), int(y2[c]), int(area[c]), float(total[c] / area[c])
        )
        for c in range(k)
        if area[c] >= min_area
    ]


class BlobAutolabeler(Autolabeler):
    """Rectangles around bright or saturated connected blobs (numpy thresholding)."""

    name = "example_blobs"
    description = "Suggest rectangles around bright or strongly coloured blobs (no model needed)."
    Options = BlobOptions
    requires = ("numpy",)  # a core dependency of labeler, declared to show the habit
    shape_output = "rectangle"
    batch_size = 8
    options: BlobOptions

    #: Bump when the algorithm changes: it is part of config_key, so old results get redone.
    algorithm_version: ClassVar[str] = "1"

    def source(self) -> Source:
        return Source(
            plugin=self.name, model="numpy-threshold", model_version=self.algorithm_version
        )

    def predict(self, batch: Sequence[Sample]) -> list[Predictions]:
        return [self.predict_one(sample.image) for sample in batch]

    def predict_one(self, image: Image.Image) -> Predictions:
        """Blobs of one image, as predictions in the image's own pixel coordinates."""
        import numpy as np

        from labeler.predictions import Predictions

        opts = self.options
        width, height = image.size
        small = image
        if max(width, height) > opts.max_side:
            small = image.copy()
            small.thumbnail((opts.max_side, opts.max_side))
        sx, sy = width / small.width, height / small.height
        values = channel_values(small, opts.channel)
        min_small = max(1, int(opts.min_area / (sx * sy)))
        max_area = opts.max_area_fraction * small.width * small.height
        blobs = [b for b in find_blobs(values, opts.threshold, min_small) if b.area <= max_area]
        blobs.sort(key=lambda b: (-b.mean, -b.area, b.y1, b.x1))
        blobs = blobs[: opts.max_blobs]
        if not blobs:
            return Predictions.empty()
        xyxy = np.array([[b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy] for b in blobs])
        return Predictions(
            xyxy=xyxy,
            class_name=[opts.label] * len(blobs),
            confidence=[min(1.0, b.mean) for b in blobs],
        )
