"""UFO-style JSON of receipt and document OCR competitions (one JSON for many images)::

    {"images": {"receipt_01.jpg": {
        "img_w": 360, "img_h": 480, "tags": [], "paragraphs": {}, "chars": {}, "relations": {},
        "words": {"0001": {"points": [[x, y], ...], "transcription": "TOTAL",
                           "illegibility": false, "language": ["en"],
                           "orientation": "Horizontal", "tags": [], "confidence": null}}}}}

Read: ``*.json`` files under the source folder whose top level has an ``images`` mapping;
images are looked up beside the JSON, in an ``images/`` folder beside it, then anywhere under
the source. Each word becomes a text polygon (any number of points >= 3) with its
transcription; ``illegibility`` becomes the shape flag ``illegible``; ``language``,
``orientation``, ``tags``, ``confidence`` and the word id are kept under the shape's
``labeler.ocr`` and written back on export. Image-level keys other than the words are kept
under the annotation's ``labeler.ufo``.

Written: ``ufo.json`` and ``images/`` (under ``<split>/`` when splitting).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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
    all_finite,
    export_text,
    images_under,
    is_dont_care,
    region_points,
    split_prefix,
    text_shape,
)
from labeler.interchange import ExportItem, ImportedImage, Report, write_json
from labeler.io.labelfile import parse_json_bytes
from labeler.model import Annotation, Shape

#: Word keys kept under ``labeler.ocr`` on import and written back on export.
WORD_KEYS = ("language", "orientation", "tags", "confidence")
_IMAGE_SKIP = ("words", "img_w", "img_h")


def _is_ufo(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("images"), dict)


def word_shape(word_id: str, word: dict[str, Any], label: str = "text") -> Shape | None:
    """One UFO word -> a text polygon, or None when it has fewer than 3 points."""
    points = word.get("points") or []
    try:
        pts = [(float(p[0]), float(p[1])) for p in points]
    except (TypeError, ValueError, IndexError):
        return None
    if len(pts) < 3 or not all_finite(pts):
        return None
    extra = {k: word[k] for k in WORD_KEYS if k in word}
    extra["id"] = word_id
    return text_shape(
        pts,
        str(word.get("transcription") or ""),
        label=label,
        illegible=bool(word.get("illegibility")),
        extra=extra,
    )


def load_ufo(src: Path, report: Report, label: str = "text") -> Iterator[ImportedImage]:
    """Read every UFO JSON under ``src`` (or ``src`` itself when it is a JSON file)."""
    src = Path(src)
    files = [src] if src.is_file() else list(walk_files(src, suffixes=(".json",)))
    root = src.parent if src.is_file() else src
    by_name: dict[str, Path] | None = None
    for path in files:
        try:
            data = parse_json_bytes(path.read_bytes(), check_tree=False)
        except (OSError, ValueError) as err:
            if src.is_file():
                report.problem(f"{path}: not readable JSON: {err}")
            continue
        if not _is_ufo(data):
            continue
        for name, entry in data["images"].items():
            where = f"{path}: image {name!r}"
            if not isinstance(entry, dict):
                report.problem(f"{where}: expected an object")
                continue
            image = None
            for cand in (path.parent / name, path.parent / "images" / name):
                if cand.is_file():
                    image = cand
                    break
            if image is None:
                if by_name is None:
                    by_name = {}
                    for p in images_under(root):
                        by_name.setdefault(p.name, p)
                image = by_name.get(Path(name).name)
            if image is None:
                skip_file(report, f"{where}: image file not found")
                continue
            try:
                check_inside(root, image)
            except ValueError as err:
                skip_file(report, f"{where}: {err}")
                continue
            info = image_info_or_report(image, report, skip=True)
            if info is None:
                continue
            shapes = []
            words = entry.get("words") or {}
            if not isinstance(words, dict):
                report.problem(f"{where}: 'words' is not an object")
                words = {}
            for wid, word in words.items():
                shape = word_shape(str(wid), word, label) if isinstance(word, dict) else None
                if shape is None:
                    report.problem(f"{where}: word {wid!r} has fewer than 3 valid points")
                    continue
                shapes.append(shape)
            ann = Annotation(
                imagePath=image.name, imageWidth=info.width, imageHeight=info.height, shapes=shapes
            )
            kept = {k: v for k, v in entry.items() if k not in _IMAGE_SKIP}
            if kept:
                setattr(ann.meta, "ufo", kept)  # noqa: B010 - an extra key of ImageMeta
            size = (entry.get("img_w"), entry.get("img_h"))
            if all(size) and tuple(size) != info.size:
                report.problem(
                    f"{where}: img_w x img_h is {size[0]}x{size[1]} but the image is "
                    f"{info.width}x{info.height}"
                )
            # Destination: the image's name, under the JSON's folder (an images/ folder dropped).
            base = path.parent.relative_to(root) if path.parent.is_relative_to(root) else Path()
            rel = (base / Path(name).name).as_posix()
            yield ImportedImage(source_image=image, rel=rel, annotation=ann)


def build_entry(ann: Annotation, size: tuple[int, int], report: Report) -> dict[str, Any]:
    """One image's UFO entry."""
    kept = getattr(ann.meta, "ufo", None)
    entry: dict[str, Any] = {"paragraphs": {}, "words": {}, "chars": {}, "img_w": size[0],
                             "img_h": size[1], "tags": [], "relations": {}}  # fmt: skip
    if isinstance(kept, dict):
        entry.update({k: v for k, v in kept.items() if k not in _IMAGE_SKIP})
    used: set[str] = set()
    n = 0
    for shape in ann.shapes:
        pts = region_points(shape)
        if pts is None:
            continue
        extra = dict(getattr(shape.meta, "ocr", None) or {}) if shape.meta else {}
        wid = str(extra.pop("id", "") or "")
        while not wid or wid in used:
            n += 1
            wid = f"{n:04d}"
        used.add(wid)
        # UFO keeps the transcription of an illegible word; '###' only when there is none.
        has_text = bool(shape.text and shape.text.strip())
        text = shape.text if has_text else export_text(shape, report, "ufo")
        word = {
            "transcription": text,
            "points": [[round(x, 2), round(y, 2)] for x, y in pts],
            "orientation": extra.get("orientation", "Horizontal"),
            "language": extra.get("language"),
            "tags": extra.get("tags", []),
            "confidence": extra.get("confidence"),
            "illegibility": is_dont_care(shape),
        }
        entry["words"][wid] = word
    return entry


def save_ufo(items: Sequence[ExportItem], out: Path, report: Report, hardlink: bool = True) -> None:
    """Write ``ufo.json`` and ``images/`` (per split when splitting)."""
    out = Path(out)
    names = flat_names(e.item.rel for e in items)
    docs: dict[str, dict[str, Any]] = {}
    skipped: Counter[str] = Counter()
    for e in items:
        size = export_size(e, report)
        if size is None:
            continue
        prefix = split_prefix(e.split)
        name = names[e.item.rel]
        try:
            place_image(e.item.image_path, safe_join(out, f"{prefix}images/{name}"), hardlink)
        except (OSError, ValueError) as err:
            skip_file(report, f"{e.item.image_path}: {err}")
            continue
        for shape in e.annotation.shapes:
            if region_points(shape) is None:
                skipped[shape.shape_type] += 1
        entry = build_entry(e.annotation, size, report)
        docs.setdefault(prefix, {})[name] = entry
        report.add("exported images")
        report.add("text regions", len(entry["words"]))
    for prefix, images in docs.items():
        write_json(safe_join(out, f"{prefix}ufo.json"), {"images": images})
    for kind, n in sorted(skipped.items()):
        report.notes.append(f"ufo: {n} {kind} not exported")
