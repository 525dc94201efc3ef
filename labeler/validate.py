"""``labeler validate``: check every file of a dataset without changing any."""

from __future__ import annotations

import binascii
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labeler.dataset import Dataset
from labeler.errors import FileProblem, ImageFileError, LabelFileReadError
from labeler.geometry import MIN_POINTS, self_intersects, signed_area
from labeler.io.images import ImageInfo, not_regular_reason, open_image, read_image_info
from labeler.io.labelfile import check_image_path
from labeler.masks import decode_mask_png
from labeler.model import KNOWN_SHAPE_TYPES, Annotation, Shape

#: Points may stick out of the image by this many pixels before a warning.
OUTSIDE_TOLERANCE = 1.0


@dataclass
class ValidationResult:
    """Errors make a file unusable; warnings are worth a look."""

    images: int = 0
    label_files: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "images": self.images,
            "label_files": self.label_files,
            "ok": not self.errors,
            "errors": self.errors,
            "warnings": self.warnings,
        }


def shape_problems(shape: Shape, index: int, size: tuple[int, int] | None) -> list[str]:
    """Warnings about one shape: unknown type, too few points, points outside the image..."""
    where = f"shapes[{index}] ({shape.label!r})"
    out: list[str] = []
    if not shape.label.strip():
        out.append(f"{where}: empty label")
    if shape.shape_type not in KNOWN_SHAPE_TYPES:
        out.append(f"{where}: unknown shape_type {shape.shape_type!r} (kept as is)")
    need = MIN_POINTS.get(shape.shape_type)
    if need is not None and len(shape.points) < need:
        out.append(
            f"{where}: {shape.shape_type} needs at least {need} point(s), has {len(shape.points)}"
        )
        return out
    if shape.shape_type == "rectangle" and len(shape.points) >= 2:
        x1, y1, x2, y2 = shape.bbox()
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            out.append(f"{where}: rectangle has zero width or height")
    if shape.shape_type == "polygon" and len(shape.points) >= 3:
        pts = shape.points
        if signed_area(pts) == 0:
            if self_intersects(pts):
                out.append(f"{where}: polygon crosses itself (its points are out of order)")
            else:
                out.append(f"{where}: polygon has zero area")
    if shape.shape_type == "mask":
        if not shape.mask:
            out.append(f"{where}: mask shape without mask data")
        else:
            try:
                decode_mask_png(shape.mask)
            except (binascii.Error, OSError, ValueError) as err:
                out.append(f"{where}: mask is not a valid base64 PNG ({err})")
    if size is not None and shape.points and shape.shape_type != "circle":
        w, h = size
        tol = OUTSIDE_TOLERANCE
        bad = [
            p
            for p in shape.points
            if p[0] < -tol or p[1] < -tol or p[0] > w + tol or p[1] > h + tol
        ]
        if bad:
            x, y = bad[0]
            out.append(
                f"{where}: {len(bad)} point(s) outside the {w}x{h} image, e.g. ({x:g}, {y:g})"
            )
    if shape.score is not None and not (0.0 <= shape.score <= 1.0 and math.isfinite(shape.score)):
        out.append(f"{where}: score {shape.score} is not in [0, 1]")
    return out


def validate_annotation(
    ds: Dataset, label_path: Path, ann: Annotation, info: ImageInfo | None, image_path: Path | None
) -> tuple[list[str], list[str]]:
    """(errors, warnings) about one loaded annotation against its image."""
    errors: list[str] = []
    warnings: list[str] = []
    size = info.size if info else None
    if info is not None and image_path is not None:
        try:
            from labeler.dataset import Item

            ds.check_size(Item(image_path, label_path, image_path.name), ann, info)
        except LabelFileReadError as err:
            errors.append(str(err))
    if image_path is not None and ann.imagePath:
        resolved = check_image_path(label_path, ann.imagePath, ds.root)
        if resolved is not None and resolved.name != image_path.name:
            warnings.append(
                f"{label_path}: imagePath {ann.imagePath!r} names another file than {image_path.name!r} "
                "(labeler pairs by file name)"
            )
    for i, shape in enumerate(ann.shapes):
        warnings.extend(f"{label_path}: {p}" for p in shape_problems(shape, i, size))
    return errors, warnings


def validate_dataset(
    ds: Dataset, decode: bool = True, progress: Callable[[int, int, str], None] | None = None
) -> ValidationResult:
    """Check every image (header, or full decode with ``decode``) and every label file."""
    result = ValidationResult()
    scan = ds.scan()
    result.images = len(scan.items)
    for label, images in scan.conflicts.items():
        names = ", ".join(p.name for p in images)
        result.errors.append(f"{label}: one label file for several images ({names}); rename one")
    for orphan in scan.orphan_labels:
        result.warnings.append(f"{orphan}: label file without an image (not used)")
    for path in scan.not_regular:
        result.errors.append(f"{path}: {not_regular_reason(path) or 'not a regular file'}")
    for n, item in enumerate(scan.items, 1):
        if progress is not None:
            progress(n, result.images, item.rel)
        info: ImageInfo | None = None
        try:
            info = read_image_info(item.image_path)
            if decode:
                open_image(item.image_path, mode=None).close()
        except ImageFileError as err:
            result.errors.append(str(err))
        if not item.label_path.is_file():
            continue
        result.label_files += 1
        try:
            ann = ds.load(item)
        except FileProblem as err:
            result.errors.append(str(err))
            continue
        if ann is None:
            continue
        errs, warns = validate_annotation(ds, item.label_path, ann, info, item.image_path)
        result.errors.extend(errs)
        result.warnings.extend(warns)
    return result
