"""``orientation``: find pages whose content is rotated by 90, 180 or 270 degrees, and images
whose EXIF orientation tag makes them display rotated; fix them reversibly.

Detection (text documents) uses the OCR models inside ``rapidocr_onnxruntime``:

1. detect text lines (PP-OCRv4 det);
2. text-line geometry: lines much wider than tall mean the page is upright or upside down,
   lines much taller than wide mean it is turned by 90 or 270 degrees;
3. the direction: each (longest) line is cropped along its box, turned to lie horizontally
   (counter-clockwise for vertical lines), and given to the 0/180 text-direction classifier;
   the recogniser's confidence on the crop read both ways is a second vote. Votes are weighted
   by line length; the agreement of the votes is the confidence.

The fix (see ``docs/ocr.md``) writes the corrected image in place of the dataset image (same
name and format; PNG losslessly, JPEG at quality 95 with the EXIF orientation tag reset) after
moving the untouched original to ``<dataset root>/.labeler/originals/<rel path>`` (never
overwritten, never deleted); every shape rotates with the image; ``--undo`` moves the original
back and rotates the shapes back.
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from labeler import hookimpl
from labeler.dataset import Dataset, Item
from labeler.io.images import read_image_info
from labeler.model import Annotation, Issue, Shape, Source
from labeler.plugin_api import Check, Fixer, Sample

__version__ = "0.1.0"

#: Where the fix keeps original images, relative to the dataset root.
ORIGINALS_DIR = ".labeler/originals"

_EXIF_ORIENTATION = 0x0112


# -- geometry ----------------------------------------------------------------------------------
def rotate_point(x: float, y: float, size: tuple[int, int], degrees_cw: int) -> tuple[float, float]:
    """Map a point of an image of ``size`` (w, h) into that image rotated clockwise."""
    w, h = size
    d = degrees_cw % 360
    if d == 90:
        return (h - y, x)
    if d == 180:
        return (w - x, h - y)
    if d == 270:
        return (y, w - x)
    return (x, y)


def rotated_size(size: tuple[int, int], degrees_cw: int) -> tuple[int, int]:
    """(w, h) after a clockwise rotation."""
    return (size[1], size[0]) if degrees_cw % 180 == 90 else size


def _clean(v: float) -> float:
    # Keep coordinates tidy in the JSON (no 1e-13 residue from float subtraction).
    return round(float(v), 6) + 0.0


def rotate_shape(shape: Shape, size: tuple[int, int], degrees_cw: int) -> None:
    """Rotate one shape in place (points, and the PNG of mask shapes) with its image.

    An unedited suggestion stays one (its fingerprint is renewed)."""
    d = degrees_cw % 360
    if d == 0:
        return
    sealed = shape.meta is not None and shape.meta.made is not None and not shape.edited_since_made
    _rotate_geometry(shape, size, d)
    if sealed:
        shape.seal()


def _rotate_geometry(shape: Shape, size: tuple[int, int], d: int) -> None:
    if shape.shape_type == "mask" and shape.mask and len(shape.points) >= 2:
        from labeler.masks import decode_mask_png, encode_mask_png

        w, h = size
        crop = decode_mask_png(shape.mask)
        x1, y1 = (int(round(v)) for v in shape.points[0])
        ch, cw = crop.shape
        x2, y2 = x1 + cw - 1, y1 + ch - 1
        # Mask anchors are pixel indices: pixel (x, y) goes to (h-1-y, x) for 90 clockwise.
        if d == 90:
            nx1, ny1, nx2, ny2 = h - 1 - y2, x1, h - 1 - y1, x2
            crop = np.rot90(crop, k=-1)
        elif d == 180:
            nx1, ny1, nx2, ny2 = w - 1 - x2, h - 1 - y2, w - 1 - x1, h - 1 - y1
            crop = np.rot90(crop, k=2)
        else:
            nx1, ny1, nx2, ny2 = y1, w - 1 - x2, y2, w - 1 - x1
            crop = np.rot90(crop, k=1)
        shape.points = [(float(nx1), float(ny1)), (float(nx2), float(ny2))]
        shape.mask = encode_mask_png(np.ascontiguousarray(crop))
        return
    shape.points = [
        tuple(_clean(v) for v in rotate_point(x, y, size, d))  # type: ignore[misc]
        for x, y in shape.points
    ]


def rotate_annotation(ann: Annotation, size: tuple[int, int], degrees_cw: int) -> None:
    """Rotate every shape (and rejected-suggestion record) and swap the stored size."""
    for shape in ann.shapes:
        rotate_shape(shape, size, degrees_cw)
    for rej in ann.meta.rejected:
        rej.points = [rotate_point(x, y, size, degrees_cw) for x, y in rej.points]
    w, h = rotated_size(size, degrees_cw)
    ann.imageWidth, ann.imageHeight = w, h


# -- detection ---------------------------------------------------------------------------------
@dataclass
class OrientationResult:
    """What :func:`detect_orientation` found."""

    rotation: int  # clockwise degrees that make the page upright (0, 90, 180, 270)
    confidence: float  # in [0, 1]
    lines: int  # text lines used
    votes: dict[int, float] = field(default_factory=dict)  # rotation -> weight share

    @property
    def content_rotation(self) -> int:
        """How far the content is turned clockwise from upright."""
        return (360 - self.rotation) % 360


def detect_orientation(
    image: Any,
    engine: Any = None,
    max_lines: int = 12,
    use_rec: str = "auto",
    det_limit_side: int = 640,
    min_aspect: float = 1.5,
) -> OrientationResult:
    """Estimate the clockwise rotation that makes a text page upright (see module docstring).

    ``image``: PIL image or RGB array. ``use_rec``: "always", "never", or "auto" (only when
    the classifier's vote is not clear-cut). Returns rotation 0, confidence 0 without text.
    """
    from labeler.ocr_engine import crop_quad, get_engine, quad_size, to_array

    engine = engine or get_engine()
    arr = to_array(image)
    quads = engine.detect(arr, limit_side=det_limit_side)
    horizontal: list[tuple[float, np.ndarray]] = []
    vertical: list[tuple[float, np.ndarray]] = []
    for q in quads:
        # rapidocr orders detected boxes clockwise from the top-left in image terms, so the
        # p0->p1 edge is horizontal in the image whatever the text direction.
        w, h = quad_size(q)
        if w >= min_aspect * h:
            horizontal.append((w, q))
        elif h >= min_aspect * w:
            vertical.append((h, q))
    h_weight = sum(x for x, _ in horizontal)
    v_weight = sum(x for x, _ in vertical)
    if not horizontal and not vertical:
        return OrientationResult(0, 0.0, 0)
    is_vertical = v_weight > h_weight
    chosen = sorted(vertical if is_vertical else horizontal, key=lambda t: -t[0])[:max_lines]
    geometry = max(h_weight, v_weight) / (h_weight + v_weight)
    crops: list[np.ndarray] = []
    weights: list[float] = []
    for length, q in chosen:
        crop = crop_quad(arr, q)
        if crop is None:
            continue
        if is_vertical:
            crop = np.ascontiguousarray(np.rot90(crop, k=1))  # counter-clockwise: lies flat
        crops.append(crop)
        weights.append(length)
    if not crops:
        return OrientationResult(0, 0.0, 0)
    wts = np.asarray(weights, dtype=np.float64)
    wts /= wts.sum()
    # p_flip: probability that the flattened crops are upside down.
    cls = engine.classify(crops)
    p_cls = np.array([s if a == 180 else 1.0 - s for a, s in cls])
    p_flip = float((wts * p_cls).sum())
    if use_rec == "always" or (use_rec == "auto" and abs(p_flip - 0.5) < 0.45):
        flipped = [np.ascontiguousarray(np.rot90(c, k=2)) for c in crops]
        rec = engine.recognize(crops + flipped)
        n = len(crops)
        up = np.array([s for _, s in rec[:n]])
        down = np.array([s for _, s in rec[n:]])
        # A line reads better one way round: vote with the softmax of the two confidences.
        p_rec = np.exp(8 * down) / (np.exp(8 * up) + np.exp(8 * down))
        p_flip = 0.5 * p_flip + 0.5 * float((wts * p_rec).sum())
    flip = p_flip > 0.5
    # Vertical lines flattened counter-clockwise and then upright: the content was turned 90
    # clockwise, so the fix is 270; upside down after flattening: content at 270, fix 90.
    rotation = (90 if flip else 270) if is_vertical else (180 if flip else 0)
    direction = max(p_flip, 1.0 - p_flip)
    # Two-way vote -> [0, 1]; fewer lines and mixed line geometry lower the confidence.
    confidence = (2 * direction - 1) * geometry * min(1.0, len(crops) / 3)
    confidence = 0.5 + 0.5 * confidence if confidence > 0 else 0.0
    base = (0, 180) if not is_vertical else (270, 90)
    votes = {base[0]: round(1 - p_flip, 4), base[1]: round(p_flip, 4)}
    return OrientationResult(rotation, round(float(confidence), 4), len(crops), votes)


# -- the check ---------------------------------------------------------------------------------
class OrientationOptions(BaseModel):
    """Options of the orientation check."""

    model_config = ConfigDict(extra="forbid")

    min_confidence: float = Field(
        default=0.7, ge=0, le=1, description="Raise an issue only at or above this confidence."
    )
    min_lines: int = Field(default=2, ge=1, description="Text lines needed to decide at all.")
    max_lines: int = Field(default=12, ge=1, description="Longest text lines used per page.")
    use_rec: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Also vote with the recogniser's confidence on each line read both ways "
        "(auto: only when the direction classifier is not clear-cut).",
    )
    det_limit_side: int = Field(
        default=640, ge=64, description="Text detector input size (shorter side); lower is faster."
    )


class OrientationCheck(Check):
    """Pages whose text is rotated by 90, 180 or 270 degrees; images whose EXIF orientation
    makes them display rotated."""

    name = "orientation"
    description = "Rotated pages (90/180/270) and wrong EXIF orientation, from text direction"
    Options: ClassVar[type[BaseModel]] = OrientationOptions
    requires = ("rapidocr_onnxruntime", "cv2")
    extra = "ocr"
    needs_image = True

    def setup(self) -> None:
        from labeler.ocr_engine import get_engine

        self.engine = get_engine()

    def source(self) -> Source:
        from labeler.ocr_engine import rapidocr_version

        return Source(
            plugin=self.name,
            model="PP-OCRv4 det + ppocr mobile cls (rapidocr_onnxruntime)",
            model_version=rapidocr_version(),
        )

    def check_sample(self, sample: Sample) -> list[Issue]:
        """One issue with the proposed rotation, or none."""
        ann = sample.annotation
        # A fix already applied stays on record (its undo data lives in the issue); the page
        # it produced is upright, so do not look again.
        applied = [
            i.model_copy(deep=True)
            for i in ann.meta.issues
            if i.state == "fixed" and i.fixed_by == self.name
        ]
        if applied:
            return applied
        opts: OrientationOptions = self.options  # type: ignore[assignment]
        result = detect_orientation(
            sample.image,
            self.engine,
            max_lines=opts.max_lines,
            use_rec=opts.use_rec,
            det_limit_side=opts.det_limit_side,
        )
        if result.rotation == 0 or result.lines < opts.min_lines:
            return []
        if result.confidence < opts.min_confidence:
            return []
        tag = read_image_info(sample.item.image_path).orientation
        fix = {"action": "rotate", "degrees_cw": result.rotation}
        how = (
            f"rotate the image {result.rotation} degrees clockwise to make it upright "
            f"(confidence {result.confidence:.2f} from {result.lines} text lines)"
        )
        if tag != 1:
            fix["exif_orientation"] = tag
            return [
                Issue(
                    kind="exif_orientation",
                    score=result.confidence,
                    detail=f"the EXIF orientation tag ({tag}) makes this image display turned "
                    f"{result.content_rotation} degrees clockwise; {how} and reset the tag",
                    suggested_fix=fix,
                )
            ]
        return [
            Issue(
                kind="rotated",
                score=result.confidence,
                detail=f"the page is turned {result.content_rotation} degrees clockwise; {how}",
                suggested_fix=fix,
            )
        ]


# -- the fix -----------------------------------------------------------------------------------
_TRANSPOSE = {90: "ROTATE_270", 180: "ROTATE_180", 270: "ROTATE_90"}  # PIL turns anticlockwise


def encode_like(original: Path, img: Any) -> bytes:
    """Encode ``img`` in the format of the ``original`` file: PNG losslessly, JPEG at quality
    95; EXIF kept with its orientation tag reset to 1; ICC profile kept."""
    from PIL import Image

    with Image.open(original) as src:
        fmt = src.format or "PNG"
        info = dict(src.info)
        exif = src.getexif()
    kwargs: dict[str, Any] = {}
    if exif:
        exif[_EXIF_ORIENTATION] = 1
        kwargs["exif"] = exif.tobytes()
    if info.get("icc_profile"):
        kwargs["icc_profile"] = info["icc_profile"]
    if fmt == "JPEG":
        kwargs["quality"] = 95
        if img.mode not in ("RGB", "L", "CMYK"):
            img = img.convert("RGB")
    elif fmt == "WEBP":
        kwargs["lossless"] = True
    elif fmt == "PNG" and "transparency" in info:
        kwargs["transparency"] = info["transparency"]
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _original_path(dataset: Dataset, dest: Path) -> Path:
    """Where to keep an original: ``dest``, or ``<stem>.1<suffix>``, ``.2``, ... when taken
    (on disk, or by this transaction)."""
    n = 0
    target = dest
    while dataset.read_file(target) is not None:
        n += 1
        target = dest.with_name(f"{dest.stem}.{n}{dest.suffix}")
    return target


class OrientationFixer(Fixer):
    """Rotate the image (original kept under ``.labeler/originals/``) and its shapes."""

    name = "orientation"
    description = "Rotate rotated pages upright; original kept in .labeler/originals, undoable"
    kinds: ClassVar[tuple[str, ...]] = ("rotated", "exif_orientation")
    #: This fixer writes image files (the pipeline must not call it on a dry run).
    modifies_images: ClassVar[bool] = True

    def fix(self, dataset: Dataset, item: Item, annotation: Annotation, issue: Issue) -> bool:
        """Write the rotated image, keep the original, rotate the shapes; record the undo.

        The image, the kept original and the label file are one transaction (the pipeline
        commits them together): never a rotated image with unrotated shapes.
        """
        from PIL import Image, ImageOps

        degrees = int((issue.suggested_fix or {}).get("degrees_cw", 0)) % 360
        if degrees not in (90, 180, 270):
            return False
        path = item.image_path
        original = dataset.read_file(path)
        if original is None:
            raise ValueError(f"{path} is missing; not rotating")
        info = read_image_info(path)
        size = info.size
        stored = (annotation.imageWidth, annotation.imageHeight)
        if all(stored) and stored != size:
            raise ValueError(
                f"the annotation is {stored[0]}x{stored[1]} but the image is "
                f"{size[0]}x{size[1]}; not rotating"
            )
        with Image.open(io.BytesIO(original)) as src:
            src.load()
            shown = ImageOps.exif_transpose(src)  # the frame the shapes are in
            turned = shown.transpose(getattr(Image.Transpose, _TRANSPOSE[degrees]))
        data = encode_like(path, turned)
        kept = _original_path(dataset, dataset.root / ORIGINALS_DIR / PurePosixPath(item.rel))
        dataset.write_file(kept, original, expect=None)
        dataset.write_file(path, data, expect=original)
        before = [list(map(list, s.points)) for s in annotation.shapes]
        rotate_annotation(annotation, size, degrees)
        if annotation.imageData:
            annotation.imageData = base64.b64encode(data).decode("ascii")
        issue.undo = {
            "original": kept.relative_to(dataset.root).as_posix(),
            "degrees_cw": degrees,
            "size": list(size),
            "exif_orientation": info.orientation,
            "image_sha256": hashlib.sha256(data).hexdigest(),
            "points": before,
        }
        return True

    def describe(self, annotation: Annotation, issue: Issue, undo: bool = False) -> str:
        """``rotated: image 300x100 -> 100x300 (90 clockwise), 2 shape(s) turned with it``."""
        rec = issue.undo or {}
        degrees = int((rec if undo else issue.suggested_fix or {}).get("degrees_cw", 0)) % 360
        w, h = annotation.imageWidth or 0, annotation.imageHeight or 0
        nw, nh = rotated_size((w, h), degrees)
        turn = f"{(360 - degrees) % 360 if undo else degrees} clockwise"
        what = "original put back" if undo else "image"
        return (f"{issue.kind}: {what} {w}x{h} -> {nw}x{nh} ({turn}), "
                f"{len(annotation.shapes)} shape(s) turned with it")

    def undo(self, dataset: Dataset, item: Item, annotation: Annotation, issue: Issue) -> bool:
        """Put the original back and rotate the shapes back (one transaction, as the fix)."""
        rec = issue.undo or {}
        if "original" not in rec:
            return False
        original = dataset.root / PurePosixPath(rec["original"])
        kept = dataset.read_file(original)
        if kept is None:
            raise ValueError(f"the original image {original} is missing; cannot undo")
        path = item.image_path
        current = dataset.read_file(path)
        if current is not None and hashlib.sha256(current).hexdigest() != rec.get("image_sha256"):
            raise ValueError(
                f"{path} changed since the rotation; not replacing it (the original is at "
                f"{original})"
            )
        degrees = int(rec["degrees_cw"])
        size = tuple(rec["size"])
        turned = rotated_size(size, degrees)  # type: ignore[arg-type]
        dataset.write_file(path, kept, expect=current)
        dataset.remove_file(original)
        back = (360 - degrees) % 360
        previous = {
            tuple(map(tuple, pts)): pts for pts in rec.get("points", []) if isinstance(pts, list)
        }
        for shape in annotation.shapes:
            rotate_shape(shape, turned, back)  # type: ignore[arg-type]
            # Exact original coordinates where the shape is unchanged since the fix.
            for key, pts in previous.items():
                if len(key) == len(shape.points) and all(
                    abs(a[0] - b[0]) < 1e-3 and abs(a[1] - b[1]) < 1e-3
                    for a, b in zip(key, shape.points, strict=True)
                ):
                    shape.points = [(float(x), float(y)) for x, y in pts]
                    if shape.meta is not None and shape.meta.made is not None:
                        shape.seal()
                    break
        for rej in annotation.meta.rejected:
            rej.points = [rotate_point(x, y, turned, back) for x, y in rej.points]  # type: ignore[arg-type]
        annotation.imageWidth, annotation.imageHeight = int(size[0]), int(size[1])
        if annotation.imageData:
            annotation.imageData = base64.b64encode(kept).decode("ascii")
        return True


@hookimpl
def register_checks(register: Any) -> None:
    """The orientation check."""
    register(OrientationCheck)


@hookimpl
def register_fixers(register: Any) -> None:
    """The orientation fixer."""
    register(OrientationFixer)
