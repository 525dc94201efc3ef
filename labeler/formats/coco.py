"""COCO instances JSON (object detection and instance segmentation).

Layout written by :func:`save_coco`::

    OUT/annotations/instances_{train,val,test}.json   # or instances.json without a split
    OUT/images/{train,val,test}/NAME.jpg               # or OUT/images/NAME.jpg

``file_name`` is relative to the split's image folder (as in COCO's ``train2017/``).
Categories have ids 1..N in class-list order; boxes are ``[x, y, w, h]`` in pixels;
polygons are ``segmentation`` lists; masks become polygons (OpenCV); ``iscrowd`` is 0.
:func:`load_coco` reads polygons, boxes and RLE (via pycocotools, when installed).
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from labeler.errors import MissingDependencyError
from labeler.formats import (
    AREA_TYPES,
    OutsideRootError,
    add_note_once,
    check_inside,
    export_size,
    flat_names,
    image_info_or_report,
    place_image,
    polygon_area,
    safe_join,
    skip_file,
    unsupported_note,
    walk_files,
    warn_if_not_empty,
)
from labeler.interchange import ExportItem, ImportedImage, Report, safe_rel, write_json
from labeler.io.labelfile import parse_json_bytes
from labeler.masks import mask_to_shape_fields
from labeler.model import Annotation, ImageMeta, Shape

_SPLIT_FROM_NAME = re.compile(r"^instances_(?P<split>.+)\.json$", re.IGNORECASE)


def _r(v: float) -> float:
    return round(float(v), 6)


# -- export -------------------------------------------------------------------------------------
def _shape_polygons(
    shape: Shape, size: tuple[int, int], report: Report, where: str
) -> list[list[tuple[float, float]]] | None:
    """Polygons of one shape clipped to the image; None when the shape cannot be exported."""
    width, height = size
    if shape.shape_type == "mask":
        from labeler.masks import mask_to_polygons, shape_mask_to_full

        if not shape.mask:
            return None
        try:
            full = shape_mask_to_full(shape.points, shape.mask, size)
            polys = [[(float(x), float(y)) for x, y in p] for p in mask_to_polygons(full)]
        except MissingDependencyError as err:
            add_note_once(report, f"coco: mask shapes skipped: {err}")
            report.problem(f"{where}: mask shape {shape.label!r} skipped: OpenCV is missing")
            return None
    else:
        polys = [shape.polygon()]
    out = []
    for poly in polys:
        clipped = [(min(max(x, 0.0), width), min(max(y, 0.0), height)) for x, y in poly]
        if len(clipped) >= 3 and polygon_area(clipped) > 0:
            out.append(clipped)
    return out


def build_coco(
    items: Sequence[tuple[ExportItem, str, tuple[int, int]]],
    classes: Sequence[str],
    report: Report,
    skipped: Counter[str] | None = None,
    category_ids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The COCO dict for ``(item, file_name, (width, height))`` triples.

    ``category_ids`` (see :func:`category_ids`) default to 1..N in class-list order.

    Shapes that share a ``group_id`` and a label become one annotation with several polygons.
    """
    skipped = skipped if skipped is not None else Counter()
    cat_ids = category_ids if category_ids is not None else {name: i + 1 for i, name in enumerate(classes)}
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for image_id, (e, file_name, (width, height)) in enumerate(items, start=1):
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        groups: dict[tuple[str, int], list[list[tuple[float, float]]]] = {}
        order: list[tuple[str, int | None, list[list[tuple[float, float]]]]] = []
        for shape in e.annotation.shapes:
            if shape.label not in cat_ids:
                report.add("shapes not in class list")
                continue
            if shape.shape_type not in AREA_TYPES or not shape.points:
                skipped[shape.shape_type if shape.shape_type not in AREA_TYPES else "without points"] += 1
                continue
            polys = _shape_polygons(shape, (width, height), report, e.item.rel)
            if not polys:
                if polys is not None:
                    report.add("degenerate shapes skipped")
                continue
            if shape.group_id is not None:
                key = (shape.label, shape.group_id)
                if key in groups:
                    groups[key].extend(polys)
                    continue
                groups[key] = polys
            order.append((shape.label, shape.group_id, polys))
        for label, _gid, polys in order:
            xs = [x for p in polys for x, _ in p]
            ys = [y for p in polys for _, y in p]
            x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": cat_ids[label],
                    "bbox": [_r(x1), _r(y1), _r(x2 - x1), _r(y2 - y1)],
                    "area": _r(sum(polygon_area(p) for p in polys)),
                    "iscrowd": 0,
                    "segmentation": [[_r(v) for xy in p for v in xy] for p in polys],
                }
            )
    return {
        "info": {"description": "exported by labeler", "version": "1.0"},
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": [
            {"id": cid, "name": name, "supercategory": ""}
            for name, cid in sorted(cat_ids.items(), key=lambda kv: kv[1])
        ],
    }


#: Key in the labeler metadata of an imported image: the COCO file's ``{name: category id}``.
COCO_IDS_KEY = "coco_category_ids"


def category_ids(
    items: Sequence[ExportItem], classes: Sequence[str], report: Report
) -> dict[str, int]:
    """COCO category ids for ``classes``: those a COCO import stored are kept, so that an
    import/export round trip keeps the ids; classes without one (or with a conflicting one)
    get new ids after the largest kept one. Without stored ids: 1..N in class-list order.
    A note says which way it went whenever stored ids exist."""
    stored: dict[str, set[int]] = {}
    for e in items:
        ids = (e.annotation.meta.model_extra or {}).get(COCO_IDS_KEY)
        if isinstance(ids, dict):
            for name, cid in ids.items():
                if isinstance(cid, int) and not isinstance(cid, bool) and cid > 0:
                    stored.setdefault(str(name), set()).add(cid)
    if not stored:
        return {name: i + 1 for i, name in enumerate(classes)}
    owners = Counter(cid for name in classes for cid in stored.get(name, ()) if len(stored[name]) == 1)
    out: dict[str, int] = {}
    for name in classes:
        ids = stored.get(name, set())
        if len(ids) == 1 and owners[next(iter(ids))] == 1:
            out[name] = next(iter(ids))
    new = [name for name in classes if name not in out]
    top = max(out.values(), default=0)
    for n, name in enumerate(new, start=1):
        out[name] = top + n
    if new:
        report.notes.append(
            f"coco: category ids of the imported COCO file kept where known; {len(new)} class(es) "
            f"got new ids ({', '.join(f'{n!r}={out[n]}' for n in new[:5])}"
            f"{' ...' if len(new) > 5 else ''}): mapped, new or conflicting names"
        )
    else:
        report.notes.append("coco: category ids kept from the imported COCO file")
    return {name: out[name] for name in classes}


def save_coco(
    items: Sequence[ExportItem],
    out: Path,
    classes: Sequence[str],
    report: Report,
    *,
    copy_images: bool = True,
    hardlink: bool = True,
) -> None:
    """Write COCO instances JSON (one per split) and, with ``copy_images``, the images.

    Without ``copy_images``, ``file_name`` is the image path relative to the dataset root and
    the JSON's ``info.image_root`` names that folder.
    """
    out = Path(out)
    warn_if_not_empty(out / "annotations", report)
    names = flat_names(e.item.rel for e in items)
    by_split: dict[str, list[tuple[ExportItem, str, tuple[int, int]]]] = {}
    roots: set[str] = set()
    for e in items:
        size = export_size(e, report)
        if size is None:
            continue
        if copy_images:
            sub = f"images/{e.split}" if e.split else "images"
            file_name = names[e.item.rel]
            try:
                place_image(e.item.image_path, safe_join(out, f"{sub}/{file_name}"), hardlink=hardlink)
            except (OSError, ValueError) as err:
                skip_file(report, f"{e.item.image_path}: {err}")
                continue
        else:
            file_name = e.item.rel
            depth = len(Path(e.item.rel).parts)
            roots.add(str(e.item.image_path.parents[depth - 1].resolve()))
        by_split.setdefault(e.split, []).append((e, file_name, size))
        report.add("exported images")
    skipped: Counter[str] = Counter()
    n_image_labels = sum(len(e.annotation.meta.image_labels) for e in items)
    ids = category_ids(items, classes, report)
    for split, triples in sorted(by_split.items()):
        data = build_coco(triples, classes, report, skipped, ids)
        if not copy_images and roots:
            data["info"]["image_root"] = sorted(roots)[0]
        name = f"instances_{split}.json" if split else "instances.json"
        write_json(out / "annotations" / name, data)
        report.add("objects", len(data["annotations"]))
    if not by_split:
        write_json(out / "annotations" / "instances.json", build_coco([], classes, report, category_ids=ids))
    unsupported_note(report, skipped, "coco")
    if n_image_labels:
        report.notes.append(
            f"coco: {n_image_labels} image-level label(s) not exported (COCO has no place for them)"
        )
    if not copy_images:
        report.notes.append(
            "coco: images not copied: file_name is relative to the dataset folder "
            f"({', '.join(sorted(roots)) or '-'})"
        )


# -- import -------------------------------------------------------------------------------------
def find_coco_files(src: Path) -> list[Path]:
    """The instances JSON files of ``src``: the file itself, ``annotations/*.json`` or ``*.json``."""
    if src.is_file():
        return [src]
    for folder in (src / "annotations", src):
        files = [p for p in walk_files(folder, (".json",), recursive=False) if p.is_file()]
        files = [p for p in files if _looks_like_coco(p)]
        if files:
            return files
    return []


def _looks_like_coco(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    return b'"images"' in head or b'"annotations"' in head or b'"categories"' in head


def _candidates(
    file_name: str, json_path: Path, root: Path, images: Path | None, split: str
) -> list[Path]:
    rel = Path(*Path(file_name).parts)
    if images is not None:
        return [images / rel]
    jdir = json_path.parent
    out = [jdir / rel, jdir.parent / rel, jdir / "images" / rel, jdir.parent / "images" / rel]
    if split:
        out += [jdir.parent / "images" / split / rel, jdir.parent / split / rel]
    out += [root / rel, root / "images" / rel]
    seen: list[Path] = []
    for p in out:
        if p not in seen:
            seen.append(p)
    return seen


def _decode_rle(seg: dict[str, Any], height: int, width: int) -> Any:
    from pycocotools import mask as mask_utils  # lazy: optional dependency

    rle = seg
    if isinstance(seg.get("counts"), list):
        rle = mask_utils.frPyObjects(seg, height, width)
    return mask_utils.decode(rle).astype(bool)


def _finite(value: float) -> bool:
    """True for a number that is neither NaN, infinite nor too large for a float."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _is_bbox_polygon(flat: Sequence[float], bbox: Sequence[float] | None) -> bool:
    if bbox is None or len(flat) != 8 or len(bbox) != 4:
        return False
    x, y, w, h = (float(v) for v in bbox)
    want = [x, y, x + w, y, x + w, y + h, x, y + h]
    return all(abs(float(a) - b) < 1e-4 for a, b in zip(flat, want, strict=True))


def coco_annotation_shapes(
    ann: dict[str, Any],
    label: str,
    size: tuple[int, int],
    report: Report,
    where: str,
    next_group: int,
) -> tuple[list[Shape], int]:
    """Shapes of one COCO annotation; returns them and the next free group id."""
    width, height = size
    bbox = ann.get("bbox")
    if bbox is not None and (
        not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, int | float) for v in bbox)
    ):
        report.problem(f"{where}: annotation {ann.get('id')}: bad bbox {bbox!r}; skipped")
        return [], next_group
    if bbox is not None:
        if not all(_finite(v) for v in bbox):
            report.problem(
                f"{where}: annotation {ann.get('id')}: bbox {bbox!r} is not finite numbers; skipped"
            )
            return [], next_group
        if bbox[2] < 0 or bbox[3] < 0:
            report.problem(
                f"{where}: annotation {ann.get('id')}: bbox {bbox!r} has a negative width or "
                "height; skipped"
            )
            return [], next_group
    seg = ann.get("segmentation")
    flags: dict[str, Any] = {"iscrowd": True} if ann.get("iscrowd") else {}
    if isinstance(seg, dict):
        try:
            mask = _decode_rle(seg, height, width)
        except ImportError:
            add_note_once(
                report,
                "coco: RLE segmentations imported as boxes: pycocotools is not installed "
                "(pip install pycocotools)",
            )
            mask = None
        except Exception as err:  # noqa: BLE001 - malformed RLE from a foreign file
            report.problem(f"{where}: annotation {ann.get('id')}: bad RLE ({err}); box kept")
            mask = None
        if mask is not None:
            points, b64 = mask_to_shape_fields(mask)
            if b64 is None:
                report.add("empty masks skipped")
                return [], next_group
            return [Shape(label=label, points=points, shape_type="mask", mask=b64, flags=flags)], next_group
    elif isinstance(seg, list) and seg:
        polys = [p for p in seg if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]
        if len(polys) != len(seg):
            report.problem(f"{where}: annotation {ann.get('id')}: {len(seg) - len(polys)} bad polygon(s) skipped")
        if len(polys) == 1 and _is_bbox_polygon(polys[0], bbox):
            x, y, w, h = (float(v) for v in bbox)  # type: ignore[union-attr]
            return [
                Shape(label=label, points=[(x, y), (x + w, y + h)], shape_type="rectangle", flags=flags)
            ], next_group
        shapes = []
        gid = next_group if len(polys) > 1 else None
        for p in polys:
            try:
                points = [(float(p[i]), float(p[i + 1])) for i in range(0, len(p), 2)]
                shapes.append(Shape(label=label, points=points, shape_type="polygon", group_id=gid, flags=flags))
            except (TypeError, ValueError, OverflowError):
                report.problem(
                    f"{where}: annotation {ann.get('id')}: polygon with non-numeric or non-finite "
                    "coordinates skipped"
                )
        if shapes:
            return shapes, next_group + (1 if gid is not None else 0)
    if bbox is None:
        report.problem(f"{where}: annotation {ann.get('id')}: no bbox and no segmentation; skipped")
        return [], next_group
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        report.problem(f"{where}: annotation {ann.get('id')}: empty bbox; skipped")
        return [], next_group
    return [Shape(label=label, points=[(x, y), (x + w, y + h)], shape_type="rectangle", flags=flags)], next_group


def load_coco(src: Path, report: Report, images: Path | None = None) -> Iterator[ImportedImage]:
    """Read COCO instances JSON file(s) and their images.

    ``src`` is a JSON file or a folder (``annotations/*.json`` or ``*.json``). Images are
    looked up under ``images`` when given, else beside the JSON, in ``images/`` (with the
    split from ``instances_SPLIT.json``), or relative to the folder above ``annotations/``.
    ``file_name`` values that are absolute or contain ``..`` are refused; nothing outside the
    source folder (or ``images``) is read.
    """
    src = Path(src)
    files = find_coco_files(src)
    if not files:
        report.problem(f"{src}: no COCO instances JSON found")
        return
    root = src.parent if src.is_file() else src
    if root.name == "annotations":
        root = root.parent
    allowed = Path(images) if images is not None else root
    multi = len(files) > 1
    for json_path in files:
        try:
            # Not a label file: read as untrusted JSON, but not written back (no tree check).
            data = parse_json_bytes(json_path.read_bytes(), check_tree=False)
        except (OSError, ValueError) as err:
            report.problem(f"{json_path}: cannot read COCO JSON: {err}")
            continue
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            report.problem(f"{json_path}: not a COCO instances file (no 'images' list)")
            continue
        m = _SPLIT_FROM_NAME.match(json_path.name)
        split = m.group("split") if m else ""
        cats: dict[Any, str] = {}
        for c in data.get("categories") or []:
            if isinstance(c, dict) and "id" in c:
                cats[c["id"]] = str(c.get("name", c["id"]))
        names = Counter(cats.values())  # kept for the export: ids survive a round trip
        file_ids = {
            name: cid for cid, name in cats.items()
            if names[name] == 1 and isinstance(cid, int) and not isinstance(cid, bool)
        }
        by_image: dict[Any, list[dict[str, Any]]] = {}
        for a in data.get("annotations") or []:
            if isinstance(a, dict):
                by_image.setdefault(a.get("image_id"), []).append(a)
        if any("caption" in a for anns in by_image.values() for a in anns[:1]):
            report.notes.append(f"{json_path.name}: captions are not imported")
        for img in data["images"]:
            if not isinstance(img, dict) or not isinstance(img.get("file_name"), str):
                report.problem(f"{json_path}: image entry without file_name skipped")
                continue
            file_name = img["file_name"]
            where = f"{json_path}: {file_name}"
            try:
                file_name = safe_rel(file_name)
            except ValueError as err:
                skip_file(report, f"{json_path}: {err}; image skipped")
                continue
            found = None
            for cand in _candidates(file_name, json_path, root, images, split):
                try:
                    check_inside(allowed, cand)
                except OutsideRootError:
                    continue
                if cand.is_file():
                    found = cand
                    break
            if found is None:
                skip_file(report, f"{where}: image not found; skipped")
                continue
            info = image_info_or_report(found, report, skip=True)
            if info is None:
                continue
            w, h = img.get("width"), img.get("height")
            if isinstance(w, int) and isinstance(h, int) and (w, h) != info.size:
                skip_file(report,
                    f"{where}: width x height is {w}x{h} but the image is "
                    f"{info.width}x{info.height}; skipped"
                )
                continue
            shapes: list[Shape] = []
            next_group = 1
            for a in by_image.get(img.get("id"), []):
                label = cats.get(a.get("category_id"))
                if label is None:
                    report.problem(f"{where}: annotation {a.get('id')}: unknown category_id {a.get('category_id')!r}; skipped")
                    continue
                new, next_group = coco_annotation_shapes(a, label, info.size, report, where, next_group)
                shapes.extend(new)
            rel = file_name
            if multi:  # keep the files of several JSONs apart: train/..., val/...
                rel = f"{split or json_path.stem}/{rel}"
            ann = Annotation(
                imagePath=os.path.basename(rel), imageWidth=info.width, imageHeight=info.height, shapes=shapes
            )
            if file_ids:
                ann.meta = ImageMeta(**{COCO_IDS_KEY: dict(file_ids)})
            yield ImportedImage(source_image=found, rel=rel, annotation=ann)
