"""CSV classification lists: ``image,label`` rows.

Layout written by :func:`save_csv`::

    OUT/labels.csv                 # without a split
    OUT/train.csv, val.csv, test.csv
    OUT/images/NAME.jpg

The ``image`` column is relative to OUT (``images/NAME.jpg``). Several image-level labels
are joined with ``separator`` (a space by default) in one cell. :func:`load_csv` reads
``image,label`` (plus an optional ``split`` column) back into image-level labels.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from labeler.formats import (
    OutsideRootError,
    check_inside,
    flat_names,
    image_info_or_report,
    place_image,
    safe_join,
    skip_file,
    walk_files,
    warn_if_not_empty,
)
from labeler.interchange import ExportItem, ImportedImage, Report, safe_rel
from labeler.io.atomic import atomic_write_text
from labeler.model import Annotation

IMAGE_COLUMNS = ("image", "filename", "file_name", "file", "path", "image_path")
LABEL_COLUMNS = ("label", "labels", "class", "category", "tags")
SPLIT_FILES = ("train", "val", "valid", "validation", "test")


def save_csv(
    items: Sequence[ExportItem],
    out: Path,
    classes: Sequence[str],
    report: Report,
    *,
    separator: str = " ",
    hardlink: bool = True,
) -> None:
    """Write ``image,label`` CSV file(s) and copy the images to ``OUT/images/``."""
    out = Path(out)
    warn_if_not_empty(out / "images", report)
    allowed = set(classes)
    names = flat_names(e.item.rel for e in items)
    rows: dict[str, list[tuple[str, str]]] = {}
    unlabeled = 0
    n_shapes = 0
    for e in items:
        n_shapes += len(e.annotation.shapes)
        labels = list(dict.fromkeys(lab for lab in e.annotation.image_labels if lab in allowed))
        if not labels:
            unlabeled += 1
            continue
        bad = [lab for lab in labels if separator in lab or "\n" in lab or "\r" in lab]
        if bad:
            skip_file(report,
                f"{e.item.rel}: label {bad[0]!r} contains the separator {separator!r} or a "
                "line break; skipped (choose another separator)"
            )
            continue
        rel = f"images/{names[e.item.rel]}"
        try:
            place_image(e.item.image_path, safe_join(out, rel), hardlink=hardlink)
        except (OSError, ValueError) as err:
            skip_file(report, f"{e.item.image_path}: {err}")
            continue
        rows.setdefault(e.split or "", []).append((rel, separator.join(labels)))
        report.add("exported images")
        if len(labels) > 1:
            report.add("multi-label images")
    for split, split_rows in sorted(rows.items()):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["image", "label"])
        writer.writerows(split_rows)
        atomic_write_text(out / f"{split or 'labels'}.csv", buf.getvalue())
    if not rows:
        atomic_write_text(out / "labels.csv", "image,label\n")
    if unlabeled:
        report.add("skipped (no image label)", unlabeled)
        report.notes.append(f"csv: {unlabeled} image(s) without an image-level label skipped")
    if n_shapes:
        report.notes.append(f"csv: {n_shapes} shape(s) not exported (image-level labels only)")


def _pick(header: list[str], wanted: Sequence[str]) -> int | None:
    low = [h.strip().lower() for h in header]
    for name in wanted:
        if name in low:
            return low.index(name)
    return None


def find_csv_files(src: Path) -> list[Path]:
    """``src`` itself, or the ``*.csv`` files in the folder ``src``."""
    if src.is_file():
        return [src]
    return [p for p in walk_files(src, (".csv",), recursive=False) if p.is_file()]


def load_csv(src: Path, report: Report, separator: str = " ") -> Iterator[ImportedImage]:
    """Read ``image,label[,split]`` CSV file(s) into image-level labels.

    Image paths are relative to the CSV's folder and must stay inside it; rows naming the same
    image are merged (their labels added up). ``separator`` splits multi-label cells.
    """
    src = Path(src)
    files = find_csv_files(src)
    if not files:
        report.problem(f"{src}: no CSV file found")
        return
    root = src.parent if src.is_file() else src
    root_abs = Path(os.path.normpath(root.absolute()))
    merged: dict[str, tuple[Path, list[str]]] = {}
    splits_seen: set[str] = set()
    for path in files:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            report.problem(f"{path}: cannot read: {err}")
            continue
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header:
            report.problem(f"{path}: empty CSV")
            continue
        ci, li = _pick(header, IMAGE_COLUMNS), _pick(header, LABEL_COLUMNS)
        si = _pick(header, ("split", "subset", "set"))
        if path.stem.lower() in SPLIT_FILES:
            splits_seen.add(path.stem.lower())
        if ci is None or li is None:
            report.problem(f"{path}: header must have an 'image' and a 'label' column, got {header}")
            continue
        for lineno, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) <= max(ci, li):
                report.problem(f"{path}:{lineno}: {len(row)} column(s); row skipped")
                continue
            try:
                rel = safe_rel(row[ci].strip())
                image = check_inside(root, path.parent / rel)
            except (ValueError, OutsideRootError) as err:
                report.problem(f"{path}:{lineno}: {err}; row skipped")
                continue
            labels = [lab.strip() for lab in row[li].split(separator) if lab.strip()]
            key = image.relative_to(root_abs).as_posix()
            if si is not None and len(row) > si and row[si].strip():
                splits_seen.add(row[si].strip())
            if key in merged:
                merged[key][1].extend(lab for lab in labels if lab not in merged[key][1])
            else:
                merged[key] = (image, list(dict.fromkeys(labels)))
    if splits_seen:
        report.notes.append(
            f"csv: splits ({', '.join(sorted(splits_seen))}) are not kept: a labeler dataset has "
            "no splits; export with --split to make new ones"
        )
    for rel, (image, labels) in merged.items():
        if not image.is_file():
            skip_file(report, f"{image}: image not found; skipped")
            continue
        info = image_info_or_report(image, report, skip=True)
        if info is None:
            continue
        ann = Annotation(imagePath=image.name, imageWidth=info.width, imageHeight=info.height)
        ann.set_image_labels(labels)
        yield ImportedImage(source_image=image, rel=rel, annotation=ann)
