"""YOLO (ultralytics) detection and segmentation datasets.

Layout written by :func:`save_yolo`::

    OUT/data.yaml
    OUT/images/{train,val,test}/NAME.jpg
    OUT/labels/{train,val,test}/NAME.txt     # one object per line

Detection lines are ``cls cx cy w h``; segmentation lines ``cls x1 y1 x2 y2 ...``; all
coordinates normalised to [0, 1] by the image width and height, 6 decimals.
:func:`load_yolo` reads either kind (auto-detected per line) from the ``images/`` +
``labels/`` layout, with or without split subfolders, or from image/label pairs side by side.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import yaml

from labeler.errors import MissingDependencyError
from labeler.formats import (
    AREA_TYPES,
    add_note_once,
    check_inside,
    clip_box,
    export_size,
    flat_names,
    image_info_or_report,
    mask_extent,
    place_image,
    safe_join,
    skip_file,
    unsupported_note,
    walk_files,
)
from labeler.interchange import ExportItem, ImportedImage, Report
from labeler.io.atomic import atomic_write_text
from labeler.model import Annotation, Shape

#: Names :func:`find_class_names` looks for, in order.
YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
CLASS_LIST_NAMES = ("classes.txt", "obj.names", "labels/classes.txt")


# -- geometry ----------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    return f"{min(max(v, 0.0), 1.0):.6f}"


def detect_line(cls_id: int, box: tuple[float, float, float, float], width: int, height: int) -> str:
    """``cls cx cy w h`` for an (x1, y1, x2, y2) pixel box (already clipped to the image)."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    w, h = (x2 - x1) / width, (y2 - y1) / height
    return f"{cls_id} {_fmt(cx)} {_fmt(cy)} {_fmt(w)} {_fmt(h)}"


def seg_line(cls_id: int, polygon: Sequence[tuple[float, float]], width: int, height: int) -> str:
    """``cls x1 y1 x2 y2 ...`` for a pixel polygon (clipped to the image)."""
    coords = " ".join(f"{_fmt(x / width)} {_fmt(y / height)}" for x, y in polygon)
    return f"{cls_id} {coords}"


def _mask_polygons(
    shape: Shape, size: tuple[int, int], tolerance: float
) -> list[list[tuple[float, float]]]:
    """Outer polygons of a labelme mask shape, largest first (needs OpenCV)."""
    from labeler.masks import mask_to_polygons, shape_mask_to_full

    if not shape.mask or not shape.points:
        return []
    full = shape_mask_to_full(shape.points, shape.mask, size)
    return [[(float(x), float(y)) for x, y in poly] for poly in mask_to_polygons(full, tolerance)]


# -- export -------------------------------------------------------------------------------------
def shapes_to_lines(
    shapes: Sequence[Shape],
    class_ids: dict[str, int],
    size: tuple[int, int],
    report: Report,
    *,
    segment: bool = False,
    rectangles: Literal["polygon", "skip"] = "polygon",
    masks: Literal["polygon", "skip"] = "polygon",
    mask_parts: Literal["largest", "all"] = "largest",
    mask_tolerance: float = 1.0,
    skipped: Counter[str] | None = None,
    where: str = "",
) -> list[str]:
    """The label-file lines of one image's shapes (detection boxes, or polygons with ``segment``).

    Shapes whose class is not in ``class_ids`` are left out; points and lines are counted in
    ``skipped``; masks need OpenCV for ``segment`` (a clear problem is recorded without it).
    """
    width, height = size
    skipped = skipped if skipped is not None else Counter()
    lines: list[str] = []
    for shape in shapes:
        cid = class_ids.get(shape.label)
        if cid is None:
            report.add("shapes not in class list")
            continue
        stype = shape.shape_type
        if stype not in AREA_TYPES or not shape.points:
            skipped[stype if stype not in AREA_TYPES else "without points"] += 1
            continue
        if stype == "polygon" and len(shape.points) < 3:  # as coco and yolo-seg: not an area
            report.add("degenerate shapes skipped")
            continue
        if not segment:
            box = mask_extent(shape) if stype == "mask" else shape.bbox()
            x1, y1, x2, y2 = clip_box(box, width, height)
            if x2 - x1 <= 0 or y2 - y1 <= 0:
                report.add("degenerate shapes skipped")
                continue
            if box != (x1, y1, x2, y2):
                report.add("shapes clipped to the image")
            lines.append(detect_line(cid, (x1, y1, x2, y2), width, height))
            continue
        polys: list[list[tuple[float, float]]]
        if stype == "mask":
            if masks == "skip":
                skipped["mask"] += 1
                continue
            try:
                polys = _mask_polygons(shape, size, mask_tolerance)
            except MissingDependencyError as err:
                add_note_once(report, f"mask shapes skipped: {err}")
                report.problem(f"{where}: mask shape {shape.label!r} skipped: OpenCV is missing")
                continue
            if mask_parts == "largest" and len(polys) > 1:
                report.add("mask parts dropped (kept the largest)", len(polys) - 1)
                polys = polys[:1]
        elif stype == "rectangle" and rectangles == "skip":
            skipped["rectangle"] += 1
            continue
        else:
            polys = [shape.polygon()]
        for poly in polys:
            if len(poly) < 3:
                report.add("degenerate shapes skipped")
                continue
            clipped = [(min(max(x, 0.0), width), min(max(y, 0.0), height)) for x, y in poly]
            if clipped != list(poly):
                report.add("shapes clipped to the image")
            lines.append(seg_line(cid, clipped, width, height))
    return lines


def data_yaml_text(out: Path, splits: Sequence[str], classes: Sequence[str]) -> str:
    """The ``data.yaml`` ultralytics reads: ``path``, ``train``, ``val``, (``test``), ``names``."""
    data: dict[str, object] = {"path": str(out.resolve())}
    data["train"] = "images/train"
    data["val"] = "images/val" if "val" in splits else "images/train"
    if "test" in splits:
        data["test"] = "images/test"
    data["names"] = dict(enumerate(classes))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def save_yolo(
    items: Sequence[ExportItem],
    out: Path,
    classes: Sequence[str],
    report: Report,
    *,
    segment: bool = False,
    rectangles: Literal["polygon", "skip"] = "polygon",
    masks: Literal["polygon", "skip"] = "polygon",
    mask_parts: Literal["largest", "all"] = "largest",
    mask_tolerance: float = 1.0,
    hardlink: bool = True,
) -> None:
    """Write a YOLO detection (or, with ``segment``, segmentation) dataset under ``out``.

    Without a split everything goes to ``train`` and ``val`` points at ``train`` as well.
    Images without shapes get an empty label file (negatives). Images are hard-linked when
    possible, else copied; never moved.
    """
    out = Path(out)
    fmt = "yolo-seg" if segment else "yolo"
    class_ids = {name: i for i, name in enumerate(classes)}
    written: set[Path] = set()
    names = flat_names(e.item.rel for e in items)
    skipped: Counter[str] = Counter()
    used_splits: set[str] = set()
    n_image_labels = 0
    for e in items:
        split = e.split or "train"
        size = export_size(e, report)
        if size is None:
            continue
        n_image_labels += len(e.annotation.meta.image_labels)
        lines = shapes_to_lines(
            e.annotation.shapes,
            class_ids,
            size,
            report,
            segment=segment,
            rectangles=rectangles,
            masks=masks,
            mask_parts=mask_parts,
            mask_tolerance=mask_tolerance,
            skipped=skipped,
            where=e.item.rel,
        )
        if not lines and any(s.label in class_ids for s in e.annotation.shapes):
            # its objects were all skipped (-o rectangles skip, degenerate shapes): an empty
            # label file would make it a negative, trained as "nothing here"
            report.add("images left out: none of their objects could be written (not negatives)")
            continue
        name = names[e.item.rel]
        try:
            img_dest = safe_join(out, f"images/{split}/{name}")
            txt_dest = safe_join(out, f"labels/{split}/{Path(name).stem}.txt")
            place_image(e.item.image_path, img_dest, hardlink=hardlink)
            atomic_write_text(txt_dest, "".join(line + "\n" for line in lines))
            written.update((img_dest.resolve(), txt_dest.resolve()))
        except (OSError, ValueError) as err:
            skip_file(report, f"{e.item.image_path}: {err}")
            continue
        used_splits.add(split)
        report.add("exported images")
        report.add("objects", len(lines))
        if not lines:
            report.add("negatives (empty label file)")
    unsupported_note(report, skipped, fmt, chosen={k: f"-o {k}s skip" for k, v in
                                                   (("rectangle", rectangles), ("mask", masks)) if v == "skip"})
    if n_image_labels:
        report.notes.append(
            f"{fmt}: {n_image_labels} image-level label(s) not exported (YOLO has no place for them)"
        )
    if not any(e.split for e in items):
        report.notes.append(
            f"{fmt}: no split given: every image is in images/train and data.yaml's val points "
            "at train too (use --split 0.8,0.2 for a real validation set)"
        )
    elif "val" not in used_splits:
        report.notes.append(f"{fmt}: the split has no val images: val points at train")
    for split in ("train", "val", "test"):
        if split in used_splits or split == "train":
            for kind in ("images", "labels"):  # checked: a symlinked folder must not lead out
                try:
                    safe_join(out, f"{kind}/{split}/x").parent.mkdir(parents=True, exist_ok=True)
                except ValueError as err:
                    report.problem(str(err))
    atomic_write_text(out / "data.yaml", data_yaml_text(out, sorted(used_splits), classes))
    stale_files_note(out, written, report, fmt)


def stale_files_note(out: Path, written: set[Path], report: Report, fmt: str) -> None:
    """Note the image and label files under ``out/images`` and ``out/labels`` that this export
    did not write (an earlier export's: another split, an image since excluded), by folder:
    ultralytics reads every image of a split folder, with its label file, whatever data.yaml's
    last writer meant."""
    stale: Counter[str] = Counter()
    for kind in ("images", "labels"):
        for dirpath, _dirs, files in os.walk(out / kind):
            for f in files:
                if Path(dirpath, f).resolve() not in written:
                    stale[Path(dirpath).relative_to(out).as_posix()] += 1
    if stale:
        where = ", ".join(f"{d} ({n})" for d, n in sorted(stale.items()))
        report.notes.append(
            f"{fmt}: {sum(stale.values())} file(s) from an earlier export are still in {where}: this "
            "export did not write them, and a training run reads every image of a split folder; "
            "export into an empty folder for a clean dataset"
        )


# -- import -------------------------------------------------------------------------------------
def _names_from_yaml(path: Path) -> list[str] | dict[int, str] | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or "names" not in data:
        return None
    names = data["names"]
    if isinstance(names, list):
        return [str(n) for n in names]
    if isinstance(names, dict):
        try:
            return {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            return None
    return None


def find_class_names(src: Path, report: Report) -> dict[int, str] | None:
    """Class id -> name from ``data.yaml`` (or another YAML with ``names``) or ``classes.txt``.

    Returns None (with a note) when the dataset has no class list: names are then the ids.
    """
    candidates = [src / n for n in YAML_NAMES]
    candidates += [p for p in walk_files(src, (".yaml", ".yml"), recursive=False) if p not in candidates]
    for path in candidates:
        if path.is_file():
            names = _names_from_yaml(path)
            if names is not None:
                report.notes.append(f"yolo: class names from {path.name}")
                return dict(enumerate(names)) if isinstance(names, list) else names
    for rel in CLASS_LIST_NAMES:
        path = src / rel
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            report.notes.append(f"yolo: class names from {rel}")
            return dict(enumerate(line.strip() for line in lines if line.strip()))
    report.notes.append("yolo: no data.yaml or classes.txt found: class names are the class ids")
    return None


def label_path_for(image: Path, root: Path) -> Path:
    """ultralytics' rule: the last ``/images/`` becomes ``/labels/``, suffix ``.txt``.

    Only folders below ``root`` count. Without an ``images`` folder there, the label file
    sits beside the image.
    """
    parts = list(image.relative_to(root).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return root.joinpath(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def parse_label_lines(
    text: str,
    size: tuple[int, int],
    names: dict[int, str] | None,
    report: Report,
    where: str,
) -> list[Shape]:
    """Shapes from the lines of one YOLO label file; bad lines are reported and skipped.

    Five fields are a box (``cls cx cy w h``), an odd number of at least seven a polygon.
    """
    width, height = size
    shapes: list[Shape] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        n = len(fields)

        def bad(why: str, _lineno: int = lineno) -> None:
            report.problem(f"{where}:{_lineno}: {why}; line skipped")
            report.add("bad label lines")

        if n != 5 and (n < 7 or n % 2 == 0):
            bad(f"{n} fields (expected 5 for a box or 1 + 2k, k >= 3, for a polygon)")
            continue
        try:
            cls_f = float(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            bad("not a number")
            continue
        if not all(math.isfinite(v) for v in values) or not math.isfinite(cls_f):
            bad("not a finite number")
            continue
        if cls_f != int(cls_f) or cls_f < 0:
            bad(f"class id {fields[0]!r} is not a non-negative integer")
            continue
        cls_id = int(cls_f)
        if names is not None and cls_id not in names:
            bad(f"class id {cls_id} out of range (the class list has {len(names)} names)")
            continue
        label = names[cls_id] if names is not None else str(cls_id)
        if n == 5:
            cx, cy, w, h = values
            if w <= 0 or h <= 0:
                bad("box with zero or negative size")
                continue
            coords = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        else:
            coords = values
        if any(v < -1e-3 or v > 1 + 1e-3 for v in coords):
            bad("coordinates outside [0, 1] (not normalised?)")
            continue
        if n == 5:
            x1, y1, x2, y2 = coords
            points = [(x1 * width, y1 * height), (x2 * width, y2 * height)]
            shapes.append(Shape(label=label, points=points, shape_type="rectangle"))
        else:
            points = [(values[i] * width, values[i + 1] * height) for i in range(0, len(values), 2)]
            shapes.append(Shape(label=label, points=points, shape_type="polygon"))
    return shapes


def _images_under(folder: Path, skip: Path | None = None) -> Iterator[Path]:
    yield from walk_files(folder, images=True, skip=skip)


def load_yolo(src: Path, report: Report) -> Iterator[ImportedImage]:
    """Read a YOLO dataset (detection and/or segmentation lines) under ``src``.

    Images come from ``src/images`` (any depth: split folders are kept in the destination
    path) or, without one, from ``src`` itself with each label file beside its image.
    Nothing outside ``src`` is read.
    """
    src = Path(src)
    names = find_class_names(src, report)
    images_dir = src / "images"
    base = images_dir if images_dir.is_dir() else src
    skip = src / "labels" if base == src else None
    seen_labels: set[Path] = set()
    for image in _images_under(base, skip):
        rel = image.relative_to(base).as_posix()
        label_file = label_path_for(image, src)
        try:
            check_inside(src, label_file)
        except ValueError as err:
            report.problem(f"{image}: {err}")
            continue
        seen_labels.add(label_file)
        info = image_info_or_report(image, report, skip=True)
        if info is None:
            continue
        shapes: list[Shape] = []
        if label_file.is_file():
            try:
                text = label_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                skip_file(report, f"{label_file}: cannot read: {err}")
                continue
            shapes = parse_label_lines(text, info.size, names, report, str(label_file))
        else:
            report.add("images without a label file")
        ann = Annotation(
            imagePath=image.name, imageWidth=info.width, imageHeight=info.height, shapes=shapes
        )
        yield ImportedImage(source_image=image, rel=rel, annotation=ann)
    labels_root = src / "labels" if images_dir.is_dir() else None
    if labels_root is not None and labels_root.is_dir():
        orphans = [
            p
            for p in walk_files(labels_root, suffixes=(".txt",))
            if p not in seen_labels and p.name != "classes.txt"
        ]
        if orphans:
            report.notes.append(
                f"yolo: {len(orphans)} label file(s) without an image, e.g. {orphans[0]}"
            )
