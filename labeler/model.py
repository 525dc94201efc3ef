"""The core annotation model: one labelme-compatible document per image.

Everything labelme and X-AnyLabeling write is read as is; keys we do not know, at the top
level and per shape, are kept and written back unchanged (pydantic ``extra="allow"``).
labeler's own additions live under a ``"labeler"`` key, top level and per shape, which
labelme keeps as "other data" and otherwise ignores.  See ``docs/format.md``.

This module has no I/O, no Qt and no torch.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

#: Version of labeler's own keys in the file. Bump it only with a migration in
#: ``labeler.migrations`` (see docs/format.md, "Schema versions").
SCHEMA_VERSION = 1

#: The labelme version string written into files labeler creates. labelme 5.x to 7.x opens it.
LABELME_VERSION = "5.5.0"

#: Shape types of labelme 3.x-7.x and X-AnyLabeling. Other values are kept but reported.
KNOWN_SHAPE_TYPES = frozenset(
    {
        "polygon",
        "rectangle",
        "oriented_rectangle",
        "rotation",
        "point",
        "line",
        "circle",
        "linestrip",
        "points",
        "mask",
        "cuboid",
        "quadrilateral",
    }
)

ReviewState = Literal["suggested", "accepted", "rejected"]
IssueState = Literal["open", "fixed", "dismissed"]


def utc_now() -> str:
    """Return the current UTC time as an ISO 8601 string (seconds precision)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def finite_points(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``points`` unchanged, or ValueError when a coordinate is NaN or infinite."""
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError("points must be finite numbers")
    return points


class _Keep(BaseModel):
    """Base for models that keep unknown keys and accept field names and aliases."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_assignment=False)


class _KeyOrder(_Keep):
    """A labelme-level object (a file, a shape) that remembers the order of the keys it was
    read with, so that saving a file read from disk keeps them in their places."""

    _keys: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_key_order(cls, value: Any, handler: Any) -> Any:
        model = handler(value)
        if type(value) is dict and isinstance(model, _KeyOrder) and model.__pydantic_private__ is not None:
            model.__pydantic_private__["_keys"] = tuple(value)  # the fast way to set a private attribute
        return model

    def _in_read_order(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with the keys this object was read with first, in that order; new keys
        follow in labeler's order (only for an object read from a file)."""
        private = self.__pydantic_private__ or {}
        keys = private.get("_keys")
        if not keys or not private.get("_from_file") or tuple(data) == keys:
            return data
        ordered = {k: data[k] for k in keys if k in data}
        ordered.update(data)  # the keys already there keep their places; new ones are appended
        return ordered


class Source(_Keep):
    """Where a machine-made shape, label or issue came from."""

    plugin: str = Field(description="Name of the plugin that produced it, e.g. 'yolo'.")
    model: str | None = Field(default=None, description="Model file or name, e.g. 'yolov8n.pt'.")
    model_version: str | None = Field(
        default=None, description="Model version or content hash (first 12 hex digits of sha256)."
    )


class ShapeMeta(_Keep):
    """labeler's additions to one shape (stored under the shape's ``"labeler"`` key)."""

    score: float | None = Field(default=None, description="Model confidence in [0, 1].")
    source: Source | None = Field(default=None, description="Producer of a machine shape.")
    review: ReviewState | None = Field(
        default=None,
        description="None for a human shape; 'suggested' until a person accepts or rejects it.",
    )
    text: str | None = Field(default=None, description="OCR transcription of a text region.")
    made: str | None = Field(
        default=None,
        description="Fingerprint of the suggestion as the plugin made it (label, type, points). "
        "A suggestion that no longer matches it was edited by a person in another program "
        "(labelme) and counts as accepted.",
    )


class Shape(_KeyOrder):
    """One labelme shape. Unknown keys (``line_color``, ``attributes``, ...) are kept."""

    label: str
    points: list[tuple[float, float]] = Field(default_factory=list)
    group_id: int | None = None
    description: str | None = ""  # labelme's key order: description before shape_type
    shape_type: str = "polygon"
    flags: dict[str, Any] | None = Field(default_factory=dict)
    mask: str | None = Field(
        default=None, description="Base64 PNG of the bbox region (mask shapes)."
    )
    meta: ShapeMeta | None = Field(default=None, alias="labeler")
    _from_file: bool = PrivateAttr(default=False)

    @field_validator("points", mode="before")
    @classmethod
    def _points(cls, value: Any) -> Any:
        if value is None:
            return []
        return value

    @field_validator("points")
    @classmethod
    def _finite(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return finite_points(value)

    @field_validator("shape_type", mode="before")
    @classmethod
    def _shape_type(cls, value: Any) -> Any:
        # labelme 3.x files have no shape_type (or null): they were polygons.
        return "polygon" if value is None else value

    @model_validator(mode="after")
    def _mask_size(self) -> Shape:
        # Checked on the PNG header only: a gigantic or mis-sized mask is refused before any
        # command decodes it (labelme itself fails on a mask that does not fit its box).
        if self.shape_type == "mask" and self.mask:
            from labeler.masks import mask_size_problem

            problem = mask_size_problem(self.points, self.mask)
            if problem is not None:
                raise ValueError(problem)
        return self

    # -- our additions, as convenient properties ---------------------------------------------
    @property
    def review(self) -> ReviewState | None:
        """The review state, or None for a shape a person drew."""
        return self.meta.review if self.meta else None

    @property
    def score(self) -> float | None:
        """Model confidence of a machine shape."""
        return self.meta.score if self.meta else None

    @property
    def source(self) -> Source | None:
        """Producer of a machine shape."""
        return self.meta.source if self.meta else None

    @property
    def text(self) -> str | None:
        """OCR transcription, if any."""
        return self.meta.text if self.meta else None

    @property
    def is_human(self) -> bool:
        """True for a shape a person drew (no review state)."""
        return self.review is None

    @property
    def is_suggestion(self) -> bool:
        """True for a machine suggestion nobody has reviewed yet."""
        return self.review == "suggested"

    @property
    def is_trusted(self) -> bool:
        """True for shapes a person made or accepted: the ones safe to train on."""
        return self.review in (None, "accepted")

    def set_review(self, state: ReviewState | None) -> None:
        """Set the review state (creates the ``labeler`` block when needed)."""
        if self.meta is None:
            self.meta = ShapeMeta()
        self.meta.review = state

    def fingerprint(self) -> str:
        """A short hash of the label, shape type and points (to 2 decimals)."""
        import hashlib

        from labeler.geometry import exactly_rounded

        points = exactly_rounded(self.points)  # the same lists, at numpy's speed
        if points is None:
            points = [[round(x, 2), round(y, 2)] for x, y in self.points]
        key = [self.label, self.shape_type, points]
        return hashlib.sha1(repr(key).encode("utf-8", "surrogatepass")).hexdigest()[:12]

    def seal(self) -> None:
        """Record the fingerprint of a machine suggestion as made (see ``ShapeMeta.made``)."""
        if self.meta is not None and self.meta.review == "suggested":
            self.meta.made = self.fingerprint()

    @property
    def edited_since_made(self) -> bool:
        """True for a suggestion whose label or geometry changed since its plugin made it."""
        return bool(self.meta and self.meta.made and self.meta.made != self.fingerprint())

    def bbox(self) -> tuple[float, float, float, float]:
        """Axis-aligned (xmin, ymin, xmax, ymax) of the shape's geometry."""
        pts = self.points
        if not pts:
            raise ValueError(f"shape {self.label!r} has no points")
        if self.shape_type == "circle" and len(pts) >= 2:
            (cx, cy), (px, py) = pts[0], pts[1]
            r = math.hypot(px - cx, py - cy)
            return (cx - r, cy - r, cx + r, cy + r)
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        return (min(xs), min(ys), max(xs), max(ys))

    def polygon(self) -> list[tuple[float, float]]:
        """The shape's outline as a polygon (rectangles and circles are expanded)."""
        if self.shape_type in ("rectangle", "mask") and len(self.points) == 2:
            x1, y1, x2, y2 = self.bbox()
            return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
        if self.shape_type == "circle" and len(self.points) >= 2:
            (cx, cy), (px, py) = self.points[0], self.points[1]
            r = math.hypot(px - cx, py - cy)
            n = 24
            return [
                (cx + r * math.cos(2 * math.pi * i / n), cy + r * math.sin(2 * math.pi * i / n))
                for i in range(n)
            ]
        return list(self.points)


class ImageLabel(_Keep):
    """An image-level class label (classification datasets)."""

    label: str
    score: float | None = None
    source: Source | None = None
    review: ReviewState | None = None


class Issue(_Keep):
    """A problem a check raised on an image (a "finding"), kept in the file for review."""

    kind: str = Field(description="What is wrong, e.g. 'mislabel', 'outlier', 'duplicate'.")
    score: float | None = Field(default=None, description="How sure the check is, in [0, 1].")
    source: Source | None = None
    detail: str = Field(default="", description="One human-readable sentence.")
    suggested_fix: dict[str, Any] | None = Field(
        default=None,
        description="A machine-applicable fix, e.g. {'action': 'relabel', 'label': 'cat'}.",
    )
    related_files: list[str] = Field(
        default_factory=list, description="Other images involved, relative to the dataset root."
    )
    shape_index: int | None = Field(default=None, description="Index of the shape concerned.")
    state: IssueState = "open"
    fixed_by: str | None = Field(default=None, description="Fixer that applied the fix.")
    undo: dict[str, Any] | None = Field(
        default=None, description="What the fixer needs to revert its fix."
    )


class RejectedShape(_Keep):
    """A suggestion a person rejected; remembered so the same plugin does not suggest it again."""

    label: str
    shape_type: str = "polygon"
    points: list[tuple[float, float]] = Field(default_factory=list)
    source: Source | None = None

    @field_validator("points")
    @classmethod
    def _finite(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return finite_points(value)


class ProcessedRecord(_Keep):
    """Record that a plugin ran on this image (also when it found nothing)."""

    at: str = Field(description="When it ran (UTC, ISO 8601).")
    config: str = Field(default="", description="Hash of the plugin options and model.")
    count: int = 0


class ImageMeta(_Keep):
    """labeler's additions to the whole image (stored under the top-level ``"labeler"`` key)."""

    schema_version: int = SCHEMA_VERSION
    image_labels: list[ImageLabel] = Field(default_factory=list)
    issues: list[Issue] = Field(default_factory=list)
    exclude: bool = Field(default=False, description="Leave this image out of exports.")
    exclude_reason: str | None = None
    reviewed: bool = Field(default=False, description="A person marked this image as done.")
    rejected: list[RejectedShape] = Field(default_factory=list)
    processed: dict[str, ProcessedRecord] = Field(default_factory=dict)


class Annotation(_KeyOrder):
    """One image's annotation document (a labelme JSON file).

    >>> ann = Annotation(imagePath="a.jpg", imageHeight=10, imageWidth=20)
    >>> ann.add_shape(Shape(label="cat", points=[(1, 1), (5, 5)], shape_type="rectangle"))
    >>> [s.label for s in ann.shapes]
    ['cat']
    """

    version: str = LABELME_VERSION
    flags: dict[str, Any] | None = Field(default_factory=dict)
    shapes: list[Shape] = Field(default_factory=list)
    imagePath: str = ""  # noqa: N815 - labelme's key
    imageData: str | None = None  # noqa: N815
    imageHeight: int | None = None  # noqa: N815
    imageWidth: int | None = None  # noqa: N815
    meta: ImageMeta = Field(default_factory=ImageMeta, alias="labeler")
    _from_file: bool = PrivateAttr(default=False)

    @field_validator("shapes", mode="before")
    @classmethod
    def _shapes(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("meta", mode="before")
    @classmethod
    def _meta(cls, value: Any) -> Any:
        return ImageMeta() if value is None else value

    @model_validator(mode="after")
    def _masks_fit_the_image(self) -> Annotation:
        # Each mask already agrees with its own box (Shape); here: no larger than the image.
        if self.imageWidth and self.imageHeight and self.imageWidth > 0 and self.imageHeight > 0:
            for i, shape in enumerate(self.shapes):
                if shape.shape_type == "mask" and shape.mask:
                    from labeler.masks import mask_size_problem

                    size = (self.imageWidth, self.imageHeight)
                    problem = mask_size_problem(shape.points, shape.mask, size)
                    if problem is not None:
                        raise ValueError(f"shapes[{i}].mask: {problem}")
        return self

    # -- convenience -------------------------------------------------------------------------
    def add_shape(self, shape: Shape) -> None:
        """Append a shape."""
        self.shapes.append(shape)

    @property
    def image_labels(self) -> list[str]:
        """Image-level class names that are not rejected."""
        return [lab.label for lab in self.meta.image_labels if lab.review != "rejected"]

    def set_image_labels(self, labels: Iterable[str]) -> None:
        """Replace the image-level labels with human labels."""
        self.meta.image_labels = [ImageLabel(label=lab) for lab in labels]

    @property
    def suggestions(self) -> list[Shape]:
        """Shapes waiting for review."""
        return [s for s in self.shapes if s.is_suggestion]

    @property
    def open_issues(self) -> list[Issue]:
        """Issues not yet fixed or dismissed."""
        return [i for i in self.meta.issues if i.state == "open"]

    def labels(self) -> list[str]:
        """Every class name used on this image: shape labels and image labels."""
        return [s.label for s in self.shapes if s.review != "rejected"] + self.image_labels

    @property
    def is_labeled(self) -> bool:
        """True when the image has at least one shape or image-level label."""
        return bool(self.shapes) or bool(self.image_labels)

    def mark_loaded(self) -> Annotation:
        """Remember that this document came from a file, so saving keeps its key set.

        A suggestion a person changed in another program (labelme keeps our ``labeler`` block
        on shapes it edits) is theirs now: it is read as accepted, so no rerun replaces it.
        """
        self._from_file = True
        for shape in self.shapes:
            shape._from_file = True
            if shape.is_suggestion and shape.edited_since_made:
                shape.set_review("accepted")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dictionary: a file read from disk keeps its key order (new keys
        last); a new one has labelme's key order first, our additions last."""
        return dump_annotation(self)


def _meta_dict(meta: BaseModel) -> dict[str, Any]:
    return meta.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _dump_shape(shape: Shape) -> dict[str, Any]:
    full = not shape._from_file
    data = shape.model_dump(by_alias=True, exclude={"meta"}, exclude_unset=not full, mode="json")
    if "points" in data or full:
        data["points"] = [[float(x), float(y)] for x, y in shape.points]
    if shape.meta is not None:
        meta = _meta_dict(shape.meta)
        if meta or "meta" in shape.model_fields_set:
            data["labeler"] = meta
    return shape._in_read_order(data)


def dump_annotation(ann: Annotation) -> dict[str, Any]:
    """Serialise an annotation to a JSON-ready dict (see :meth:`Annotation.to_dict`).

    A document read from a file is written back with the keys it had (plus ours when they
    carry data), so that loading and saving an untouched file changes nothing in it.
    """
    full = not ann._from_file
    data = ann.model_dump(
        by_alias=True, exclude={"meta", "shapes"}, exclude_unset=not full, mode="json"
    )
    ordered: dict[str, Any] = {}
    for key in ("version", "flags"):
        if key in data:
            ordered[key] = data.pop(key)
    ordered["shapes"] = [_dump_shape(s) for s in ann.shapes]
    ordered.update(data)
    meta = _meta_dict(ann.meta)
    if meta or "meta" in ann.model_fields_set:
        ordered["labeler"] = {"schema_version": SCHEMA_VERSION, **meta}
    return ann._in_read_order(ordered)
