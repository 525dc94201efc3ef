"""ICDAR 2015 incidental-text format, plus what the OCR formats share.

One text file per image, ``gt_<image stem>.txt``, one region per line::

    x1,y1,x2,y2,x3,y3,x4,y4,transcription

Four corners clockwise from the text's top-left, integer pixels; the transcription is the rest
of the line (it may contain commas); ``###`` marks a don't-care region. Files may start with a
UTF-8 BOM. Layout read: images and ``gt_*.txt`` files anywhere under the source folder (paired
by stem; ``<stem>.txt`` is accepted too). Layout written: ``images/`` and ``gt/`` (under a
split folder when splitting).

In labeler a text region is a shape (``polygon``, ``quadrilateral`` or ``rectangle``) with its
transcription in ``labeler.text``; a don't-care region has the text ``###`` or the shape flag
``illegible``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from labeler.formats import (
    add_note_once,
    export_size,
    flat_names,
    image_info_or_report,
    place_image,
    safe_join,
    skip_file,
    walk_files,
    warn_if_not_empty,
)
from labeler.interchange import ExportItem, ImportedImage, Report
from labeler.io.atomic import atomic_write_text
from labeler.model import Annotation, Shape, ShapeMeta

#: Transcription of a don't-care region.
DONT_CARE = "###"
#: Shape flags that mark an illegible / don't-care region.
DONT_CARE_FLAGS = ("illegible", "dont_care", "ignore")
TEXT_SHAPE_TYPES = ("polygon", "quadrilateral", "rectangle")

Point = tuple[float, float]


# -- shared by the OCR formats -----------------------------------------------------------------
def all_finite(points: Sequence[Sequence[float]]) -> bool:
    """True when no coordinate is NaN or infinite (``float("nan")`` reads them happily)."""
    return all(math.isfinite(c) for p in points for c in p)


def text_shape(
    points: Sequence[Sequence[float]],
    text: str,
    label: str = "text",
    illegible: bool = False,
    extra: dict | None = None,
) -> Shape:
    """A labelme polygon for one text region (``illegible`` becomes a shape flag)."""
    flags = {"illegible": True} if illegible else {}
    meta = ShapeMeta(text=text, **({"ocr": extra} if extra else {}))
    return Shape(
        label=label,
        points=[(float(x), float(y)) for x, y in points],
        shape_type="polygon",
        flags=flags,
        labeler=meta,
    )


def is_dont_care(shape: Shape) -> bool:
    """Text ``###`` or an illegible / don't-care flag."""
    if (shape.text or "").strip() == DONT_CARE:
        return True
    flags = shape.flags or {}
    return any(bool(flags.get(f)) for f in DONT_CARE_FLAGS)


def region_points(shape: Shape) -> list[Point] | None:
    """The outline of a text-region shape (rectangles as 4 corners), or None for others."""
    if shape.shape_type not in TEXT_SHAPE_TYPES:
        return None
    pts = [(float(x), float(y)) for x, y in shape.polygon()]
    return pts if len(pts) >= 3 else None


def to_quad(points: Sequence[Point]) -> list[Point]:
    """4 points for formats that need a quadrilateral: as is when there are 4, else the
    minimum-area rectangle (clockwise from the top-left corner)."""
    if len(points) == 4:
        return [(float(x), float(y)) for x, y in points]
    try:
        from labeler.ocr_engine import polygon_to_quad

        return [(float(x), float(y)) for x, y in polygon_to_quad(points)]
    except ImportError:  # no OpenCV: the axis-aligned box
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        return [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))]


def export_text(shape: Shape, report: Report, fmt: str) -> str:
    """The transcription to write: ``###`` for don't-care and for regions without text."""
    if is_dont_care(shape):
        return DONT_CARE
    if shape.text is None or not shape.text.strip():
        add_note_once(
            report, f"{fmt}: text regions without a transcription are written as '###' (don't care)"
        )
        report.add("regions without text (written as ###)")
        return DONT_CARE
    return shape.text


def split_prefix(split: str) -> str:
    """Folder prefix of a split ('' when not splitting)."""
    return f"{split}/" if split else ""


def images_under(folder: Path) -> Iterator[Path]:
    """Image files under ``folder``, sorted, hidden folders skipped."""
    yield from walk_files(folder, images=True)


def _num(v: float) -> str:
    return str(int(round(v)))


# -- ICDAR 2015 --------------------------------------------------------------------------------
def one_line(text: str, report: Report) -> str:
    """A transcription fit for a line-based gt file: line breaks become spaces (counted)."""
    parts = text.splitlines()  # \n, \r\n, \r and the other breaks a reader splits on
    if len(parts) <= 1 and text == (parts[0] if parts else ""):
        return text
    report.add("transcriptions with line breaks (written with spaces)")
    add_note_once(
        report,
        "icdar2015: line breaks in transcriptions are written as spaces (one region, one line)",
    )
    return " ".join(parts)


def format_line(quad: Sequence[Point], text: str) -> str:
    """One ICDAR 2015 line."""
    return ",".join(_num(c) for p in quad for c in p) + "," + text


def parse_gt(text: str, where: str, report: Report, label: str = "text") -> list[Shape]:
    """Parse one ``gt_*.txt`` file; bad lines are reported (file and line) and skipped."""
    shapes: list[Shape] = []
    for n, line in enumerate(text.lstrip("\ufeff").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rstrip("\r").split(",", 8)
        if len(parts) < 8:
            report.problem(f"{where}:{n}: expected x1,y1,...,x4,y4,transcription")
            continue
        try:
            coords = [float(v) for v in parts[:8]]
        except ValueError:
            report.problem(f"{where}:{n}: coordinates are not numbers")
            continue
        if not all_finite([coords]):
            report.problem(f"{where}:{n}: coordinates are not finite numbers")
            continue
        transcription = parts[8] if len(parts) > 8 else ""
        points = [(coords[i], coords[i + 1]) for i in range(0, 8, 2)]
        shapes.append(text_shape(points, transcription, label=label))
    return shapes


def load_icdar(src: Path, report: Report, label: str = "text") -> Iterator[ImportedImage]:
    """Read an ICDAR 2015 dataset: images and ``gt_<stem>.txt`` files under ``src``."""
    src = Path(src)
    gts: dict[str, list[Path]] = {}
    for txt in walk_files(src, suffixes=(".txt",)):
        stem = txt.stem
        key = stem[3:] if stem.lower().startswith("gt_") else stem
        gts.setdefault(key, []).append(txt)
    used: set[Path] = set()
    for image in images_under(src):
        rel = image.relative_to(src).as_posix()
        found = gts.get(image.stem, [])
        # Prefer gt_<stem>.txt; with several candidates, the one nearest the image.
        found = sorted(found, key=lambda p: (not p.name.lower().startswith("gt_"), len(p.parts)))
        info = image_info_or_report(image, report, skip=True)
        if info is None:
            continue
        shapes: list[Shape] = []
        if found:
            gt = found[0]
            used.add(gt)
            try:
                text = gt.read_bytes().decode("utf-8-sig")
            except (OSError, UnicodeDecodeError) as err:
                skip_file(report, f"{gt}: cannot read: {err}")
                continue
            shapes = parse_gt(text, str(gt), report, label)
        else:
            report.add("images without a gt file")
        ann = Annotation(
            imagePath=image.name, imageWidth=info.width, imageHeight=info.height, shapes=shapes
        )
        yield ImportedImage(source_image=image, rel=rel, annotation=ann)
    orphans = [p for ps in gts.values() for p in ps if p not in used and p.name.startswith("gt_")]
    if orphans:
        report.notes.append(
            f"icdar2015: {len(orphans)} gt file(s) without an image, e.g. {orphans[0]}"
        )


def export_regions(
    shapes: Sequence[Shape], report: Report, fmt: str, skipped: Counter[str],
    size: tuple[int, int] | None = None,
) -> list[tuple[list[tuple[float, float]], str]]:
    """(quad, transcription) of every text region among ``shapes``, for the quad formats.

    Shapes that are not regions are counted in ``skipped`` (by type and why); polygons with other than
    4 points become their minimum-area rectangle (noted once in ``report``).
    """
    out = []
    for shape in shapes:
        pts = region_points(shape)
        if pts is None:
            if shape.shape_type in TEXT_SHAPE_TYPES:
                skipped[f"{shape.shape_type} shape(s) with fewer than 3 points"] += 1
            else:
                skipped[f"{shape.shape_type} shape(s) (not a text region)"] += 1
            continue
        if len(pts) != 4:
            add_note_once(
                report,
                f"{fmt}: polygons with other than 4 points are written as their "
                "minimum-area rectangle",
            )
        quad = to_quad(pts)
        if size is not None:  # as the YOLO export does: points inside the image, counted
            w, h = size
            clipped = [(min(max(x, 0.0), w - 1.0), min(max(y, 0.0), h - 1.0)) for x, y in quad]
            if clipped != quad:
                report.add("regions clipped to the image")
                quad = clipped
        if len(quad) == 4:
            from labeler.geometry import self_intersects, signed_area

            if self_intersects(quad):
                report.add("crossed quads written as they are (labeler check --plugin ocr_cleanup)")
            elif signed_area(quad) < 0:
                report.add("counter-clockwise quads written as they are (labeler check --plugin ocr_cleanup)")
        out.append((quad, export_text(shape, report, fmt)))
    return out


def save_icdar(
    items: Sequence[ExportItem], out: Path, report: Report, hardlink: bool = True
) -> None:
    """Write ``images/`` and ``gt/gt_<stem>.txt`` (under ``<split>/`` when splitting)."""
    out = Path(out)
    warn_if_not_empty(out, report)
    names = flat_names(e.item.rel for e in items)
    skipped: Counter[str] = Counter()
    for e in items:
        prefix = split_prefix(e.split)
        size = export_size(e, report)
        if size is None:
            continue
        lines = [
            format_line(quad, one_line(text, report))
            for quad, text in export_regions(e.annotation.shapes, report, "icdar2015", skipped, size)
        ]
        name = names[e.item.rel]
        try:
            place_image(e.item.image_path, safe_join(out, f"{prefix}images/{name}"), hardlink)
            gt = safe_join(out, f"{prefix}gt/gt_{Path(name).stem}.txt")
            atomic_write_text(gt, "".join(line + "\n" for line in lines))
        except (OSError, ValueError) as err:
            skip_file(report, f"{e.item.image_path}: {err}")
            continue
        report.add("exported images")
        report.add("text regions", len(lines))
    for kind, n in sorted(skipped.items()):
        report.notes.append(f"icdar2015: {n} {kind} not exported")
