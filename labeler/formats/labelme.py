"""labelme / X-AnyLabeling folders: one JSON per image.

:func:`save_labelme` writes a cleaned copy of a dataset (only the selected images, with the
class mapping applied and rejected shapes gone) as ``OUT/[split/]REL`` images and JSON files
beside them. :func:`load_labelme` reads a labelme or X-AnyLabeling folder: the image beside the
JSON, or only embedded ``imageData`` (decoded and written out). X-AnyLabeling's four-point
``rectangle`` shapes become labelme's two-point rectangles, and its OCR text (``description``)
is kept as labeler's ``text``. Unknown keys are kept. The source is never modified.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from labeler.errors import FileProblem
from labeler.formats import (
    export_size,
    place_image,
    safe_join,
    skip_file,
    walk_files,
    warn_if_not_empty,
)
from labeler.interchange import ExportItem, ImportedImage, Report
from labeler.io.atomic import atomic_write_text
from labeler.io.labelfile import check_image_path, dumps_annotation, load_annotation
from labeler.model import Annotation, Shape, ShapeMeta

#: Shape keys that only X-AnyLabeling writes; any of them marks a file as X-AnyLabeling's.
XANYLABELING_SHAPE_KEYS = frozenset({"kie_linking", "difficult", "attributes", "score", "direction"})
_PIL_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp"}


# -- export -------------------------------------------------------------------------------------
def _strip_ours(ann: Annotation) -> None:
    """Remove labeler's keys (top level and per shape) for plain labelme files."""
    ann.meta = type(ann.meta)()
    ann.model_fields_set.discard("meta")
    for shape in ann.shapes:
        shape.meta = None
        shape.model_fields_set.discard("meta")


def save_labelme(
    items: Sequence[ExportItem],
    out: Path,
    classes: Sequence[str],
    report: Report,
    *,
    plain: bool = False,
    keep_image_data: bool = False,
    hardlink: bool = True,
) -> None:
    """Copy images and their (filtered, mapped) JSON files to ``OUT/[split/]REL``.

    ``plain`` drops labeler's own keys; ``keep_image_data`` keeps embedded ``imageData``.
    """
    out = Path(out)
    warn_if_not_empty(out, report)
    for e in items:
        if export_size(e, report) is None:
            continue
        rel = f"{e.split}/{e.item.rel}" if e.split else e.item.rel
        try:
            img_dest = safe_join(out, rel)
            ann = e.annotation.model_copy(deep=True)
            ann.imagePath = img_dest.name
            if not keep_image_data and ann.imageData is not None:
                ann.imageData = None
            if plain:
                _strip_ours(ann)
            place_image(e.item.image_path, img_dest, hardlink=hardlink)
            atomic_write_text(img_dest.with_suffix(".json"), dumps_annotation(ann))
        except (OSError, ValueError) as err:
            skip_file(report, f"{e.item.image_path}: {err}")
            continue
        report.add("exported images")
        report.add("shapes", len(ann.shapes))


# -- import -------------------------------------------------------------------------------------
def _is_xanylabeling(data: Annotation) -> bool:
    extra = data.model_extra or {}
    if "text" in extra:
        return True
    return any(XANYLABELING_SHAPE_KEYS & set(s.model_extra or {}) for s in data.shapes)


def normalize_rectangle(shape: Shape) -> bool:
    """Turn an axis-aligned four-point ``rectangle`` into labelme's two corner points.

    Returns True when the shape changed. Rotated four-point rectangles are left as they are.
    """
    pts = shape.points
    if shape.shape_type != "rectangle" or len(pts) != 4:
        return False
    xs = sorted({round(x, 6) for x, _ in pts})
    ys = sorted({round(y, 6) for _, y in pts})
    if len(xs) > 2 or len(ys) > 2:
        return False
    x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
    corners = {(x1, y1), (x2, y1), (x2, y2), (x1, y2)}
    if {(round(x, 6), round(y, 6)) for x, y in pts} != corners:
        return False
    shape.points = [(x1, y1), (x2, y2)]
    return True


def adapt_xanylabeling(ann: Annotation, report: Report) -> None:
    """X-AnyLabeling conventions -> labeler's: 2-point rectangles, OCR text in ``meta.text``."""
    for shape in ann.shapes:
        if normalize_rectangle(shape):
            report.add("4-point rectangles converted")
        desc = (shape.description or "").strip()
        if desc and shape.text is None:
            if shape.meta is None:
                shape.meta = ShapeMeta()
            shape.meta.text = shape.description
            report.add("OCR texts kept")


def _decode_image_data(b64: str, label_file: Path) -> tuple[bytes, str]:
    """Decode embedded ``imageData``; returns the bytes and a file suffix from the format."""
    from PIL import Image

    try:
        raw = base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError) as err:
        raise FileProblem(label_file, f"imageData is not base64: {err}") from None
    try:
        with Image.open(io.BytesIO(raw)) as img:
            fmt = img.format or ""
            img.verify()
    except Exception as err:  # noqa: BLE001 - Pillow raises many kinds
        # ImportError: ultralytics, once imported, patches Image.open to try pi_heif on unknown data
        unknown = isinstance(err, (Image.UnidentifiedImageError, ImportError))
        what = "not an image" if unknown else str(err)
        raise FileProblem(label_file, f"imageData is not a readable image ({what})") from None
    return raw, _PIL_SUFFIX.get(fmt, ".png")


def _label_files(src: Path) -> Iterator[Path]:
    yield from walk_files(src, suffixes=(".json",))


def load_labelme(src: Path, report: Report) -> Iterator[ImportedImage]:
    """Read a labelme/X-AnyLabeling folder (recursively) without changing anything in it.

    Each JSON goes to ``REL_DIR/STEM.EXT`` (its own folder and stem, the image's extension).
    Files that are not labelme JSON are reported and skipped.
    """
    from labeler.io.images import read_image_info

    src = Path(src)
    root = src.parent if src.is_file() else src
    files = [src] if src.is_file() else list(_label_files(src))
    tmpdir = tempfile.mkdtemp(prefix="labeler-import-")
    try:
        for label_file in files:
            try:
                ann = load_annotation(label_file, allowed_root=root)
            except FileProblem as err:
                skip_file(report, str(err))
                continue
            if "shapes" not in ann.model_fields_set and "imagePath" not in ann.model_fields_set:
                report.add("non-labelme JSON skipped")
                continue
            image: Path | None = None
            try:
                resolved = check_image_path(label_file, ann.imagePath, root)
            except FileProblem as err:  # already checked by load_annotation; kept for safety
                report.problem(str(err))
                continue
            if resolved is not None and resolved.is_file():
                image = resolved
            elif ann.imageData:
                try:
                    raw, suffix = _decode_image_data(ann.imageData, label_file)
                except FileProblem as err:
                    skip_file(report, str(err))
                    continue
                name = PurePosixPath(ann.imagePath.replace("\\", "/")).suffix or suffix
                image = Path(tmpdir, f"{len(os.listdir(tmpdir))}{name}")
                image.write_bytes(raw)
                report.add("images decoded from imageData")
            if image is None:
                skip_file(report, f"{label_file}: image {ann.imagePath!r} not found and no imageData; skipped")
                continue
            try:
                info = read_image_info(image)
            except FileProblem as err:
                skip_file(report, f"{label_file}: {err}")
                continue
            w, h = ann.imageWidth, ann.imageHeight
            if w is not None and h is not None and (w, h) != info.size:
                skip_file(report,
                    f"{label_file}: imageWidth x imageHeight is {w}x{h} but the image is "
                    f"{info.width}x{info.height}; skipped"
                )
                continue
            ann.imageWidth, ann.imageHeight = info.width, info.height
            if ann.imageData is not None:
                ann.imageData = None
            if _is_xanylabeling(ann):
                adapt_xanylabeling(ann, report)
            rel_dir = label_file.parent.relative_to(root).as_posix()
            name = f"{label_file.stem}{image.suffix}"
            rel = name if rel_dir in ("", ".") else f"{rel_dir}/{name}"
            yield ImportedImage(source_image=image, rel=rel, annotation=ann)
            if image.parent == Path(tmpdir):
                with contextlib.suppress(OSError):
                    image.unlink()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
