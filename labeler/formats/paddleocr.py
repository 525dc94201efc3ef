"""PaddleOCR text-detection labels (PPOCRLabel's ``Label.txt``, PaddleOCR's
``train_label.txt``/``det_gt_*.txt``): one line per image, tab-separated::

    images/receipt_01.jpg\t[{"transcription": "TOTAL", "points": [[x1, y1], ... [x4, y4]], "difficult": false}]

``###`` (or ``"difficult": true`` / ``"illegibility": true``) marks a region the trainer
ignores. Image paths are relative to the label file's folder (PPOCRLabel) or to its parent
(PaddleOCR's data-dir convention); both are tried.

Read: every ``*.txt`` under the source whose lines look like the above. Written:
``Label.txt`` and ``images/`` (under ``<split>/`` when splitting), 4-point regions.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from labeler.formats import (
    check_inside,
    export_size,
    flat_names,
    image_info_or_report,
    place_image,
    safe_join,
    skip_file,
    walk_files,
)
from labeler.formats.icdar import (
    DONT_CARE,
    all_finite,
    export_regions,
    split_prefix,
    text_shape,
)
from labeler.interchange import ExportItem, ImportedImage, Report
from labeler.io.atomic import atomic_write_text
from labeler.model import Annotation, Shape


def parse_line(line: str) -> tuple[str, list] | None:
    """``(image path, regions)`` of one label line, or None when it is not one."""
    if "\t" not in line:
        return None
    path, _, rest = line.partition("\t")
    try:
        regions = json.loads(rest)
    except (ValueError, RecursionError):  # invalid JSON, a number Python refuses, too deep
        return None
    if not isinstance(regions, list):
        return None
    return path.strip(), regions


def region_shape(region: dict, label: str = "text") -> Shape | None:
    """One PaddleOCR region -> a text polygon (None without 3 valid points)."""
    try:
        pts = [(float(p[0]), float(p[1])) for p in region.get("points") or []]
    except (TypeError, ValueError, IndexError):
        return None
    if len(pts) < 3 or not all_finite(pts):
        return None
    text = str(region.get("transcription") or "")
    difficult = bool(region.get("difficult")) or bool(region.get("illegibility"))
    return text_shape(pts, text, label=label, illegible=difficult and text != DONT_CARE)


def _label_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    return list(walk_files(src, suffixes=(".txt",)))


def load_paddleocr(src: Path, report: Report, label: str = "text") -> Iterator[ImportedImage]:
    """Read PaddleOCR detection label files under ``src`` (or the file ``src``)."""
    src = Path(src)
    root = src.parent if src.is_file() else src
    seen: set[str] = set()
    for path in _label_files(src):
        try:
            lines = path.read_bytes().decode("utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            report.problem(f"{path}: cannot read: {err}")
            continue
        parsed = [(n, parse_line(line)) for n, line in enumerate(lines, 1) if line.strip()]
        if not parsed or not any(p is not None for _, p in parsed):
            continue  # not a PaddleOCR label file (a README, a class list...)
        for n, item in parsed:
            where = f"{path}:{n}"
            if item is None:
                report.problem(f"{where}: expected '<image path>\\t<JSON list of regions>'")
                continue
            rel_path, regions = item
            image = None
            for base in (path.parent, path.parent.parent):
                cand = base / rel_path
                if cand.is_file():
                    image = cand
                    break
            if image is None:
                skip_file(report, f"{where}: image {rel_path!r} not found")
                continue
            try:
                check_inside(root, image)
            except ValueError as err:  # refused paths count as skipped, as in every loader
                skip_file(report, f"{where}: {err}")
                continue
            info = image_info_or_report(image, report, skip=True)
            if info is None:
                continue
            shapes = []
            for k, region in enumerate(regions):
                shape = region_shape(region, label) if isinstance(region, dict) else None
                if shape is None:
                    report.problem(f"{where}: region {k} has fewer than 3 valid points")
                    continue
                shapes.append(shape)
            rel = os.path.relpath(image, root).replace(os.sep, "/")
            if rel in seen:
                report.problem(f"{where}: {rel} listed again; the later entry is skipped")
                continue
            seen.add(rel)
            ann = Annotation(
                imagePath=image.name, imageWidth=info.width, imageHeight=info.height, shapes=shapes
            )
            yield ImportedImage(source_image=image, rel=rel, annotation=ann)


def save_paddleocr(
    items: Sequence[ExportItem], out: Path, report: Report, hardlink: bool = True
) -> None:
    """Write ``Label.txt`` + ``images/`` (per split when splitting); 4-point regions."""
    out = Path(out)
    names = flat_names(e.item.rel for e in items)
    lines: dict[str, list[str]] = {}
    skipped: Counter[str] = Counter()
    for e in items:
        size = export_size(e, report)
        if size is None:
            continue
        prefix = split_prefix(e.split)
        name = names[e.item.rel]
        regions = [
            {
                "transcription": text,
                "points": [[int(round(x)), int(round(y))] for x, y in quad],
                "difficult": text == DONT_CARE,
            }
            for quad, text in export_regions(e.annotation.shapes, report, "paddleocr", skipped, size)
        ]
        try:
            place_image(e.item.image_path, safe_join(out, f"{prefix}images/{name}"), hardlink)
        except (OSError, ValueError) as err:
            skip_file(report, f"{e.item.image_path}: {err}")
            continue
        lines.setdefault(prefix, []).append(
            f"images/{name}\t{json.dumps(regions, ensure_ascii=False)}"
        )
        report.add("exported images")
        report.add("text regions", len(regions))
    for prefix, rows in lines.items():
        atomic_write_text(safe_join(out, f"{prefix}Label.txt"), "".join(r + "\n" for r in rows))
    for kind, n in sorted(skipped.items()):
        report.notes.append(f"paddleocr: {n} {kind} not exported")
