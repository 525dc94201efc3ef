"""Dataset formats: plain ``load_*``/``save_*`` functions, one module per format.

The importer and exporter plugins in ``labeler_plugins.formats`` are thin wrappers around
these functions. Exporters receive already filtered, mapped and split
:class:`~labeler.plugin_api.ExportItem` s (see :mod:`labeler.exporting`); they only write.
Importers yield :class:`~labeler.plugin_api.ImportedImage` s; :func:`labeler.exporting.run_import`
writes them.

This package holds the helpers every format shares: safe destination paths, unique flat file
names, copying (or hard-linking) images, reading image sizes with errors collected in a
:class:`~labeler.plugin_api.Report`, and geometry helpers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from labeler.errors import FileProblem, ImageFileError
from labeler.geometry import NO_AREA_TYPES, polygon_area
from labeler.interchange import ExportItem, Report, safe_rel
from labeler.io.atomic import short_name, temp_sibling
from labeler.io.images import IMAGE_EXTENSIONS, ImageInfo, read_image_info
from labeler.model import Shape

__all__ = [
    "AREA_TYPES",
    "NO_AREA_TYPES",
    "SPLIT_DIR_NAMES",
    "OutsideRootError",
    "add_note_once",
    "check_inside",
    "skip_file",
    "walk_files",
    "clip_box",
    "export_size",
    "flat_names",
    "image_info_or_report",
    "is_image_file",
    "mask_extent",
    "place_image",
    "polygon_area",
    "safe_join",
    "safe_name",
    "unsupported_note",
    "warn_if_not_empty",
]

#: Folder names read as a split by importers (``valid`` is Roboflow's spelling).
SPLIT_DIR_NAMES = frozenset({"train", "val", "valid", "validation", "test"})

#: Characters never allowed in a single path component we create from a label.
_BAD_COMPONENT = re.compile(r"[\\/\x00-\x1f]")


class OutsideRootError(ValueError):
    """A path from a foreign dataset points outside the folder it must stay in."""


def is_image_file(path: str | Path) -> bool:
    """True when the file name has one of labeler's image extensions (case-insensitive)."""
    return os.path.splitext(str(path))[1].lower() in IMAGE_EXTENSIONS


def walk_files(
    src: Path, suffixes: tuple[str, ...] | None = None, images: bool = False, skip: Path | None = None,
    recursive: bool = True,
) -> Iterator[Path]:
    """Files under ``src`` in a stable order, as every loader walks a folder: hidden files and
    folders (``.git``, ``.labeler``, macOS's ``._*`` copies...) and ``__pycache__`` skipped,
    symbolic links to folders not followed; ``suffixes`` (lower case, with the dot) or
    ``images`` narrow the files, the folder ``skip`` is left out, and ``recursive=False`` lists
    only the files directly in ``src`` (a format's top-level ``*.json`` or ``*.csv``)."""
    for dirpath, dirnames, filenames in os.walk(src):
        if not recursive:
            dirnames[:] = []
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and d != "__pycache__" and (skip is None or Path(dirpath, d) != skip)
        )
        for f in sorted(filenames):
            if f.startswith("."):
                continue
            if images and not is_image_file(f):
                continue
            if suffixes is not None and not f.lower().endswith(suffixes):
                continue
            yield Path(dirpath, f)


def skip_file(report: Report, message: str) -> None:
    """Report a file (or entry) that cannot be used and count it as skipped: the one way every
    loader says "report and skip", so their counts agree."""
    report.problem(message)
    report.add("skipped")


def check_inside(root: Path, path: Path) -> Path:
    """Return ``path`` normalised, or raise :class:`OutsideRootError` when it leaves ``root``.

    The check is lexical (``..`` and absolute paths), as for ``imagePath`` in label files.
    """
    root_n = Path(os.path.normpath(root.absolute()))
    path_n = Path(os.path.normpath(path.absolute()))
    try:
        path_n.relative_to(root_n)
    except ValueError:
        raise OutsideRootError(f"{path} is outside {root_n}") from None
    return path_n


def safe_join(out: Path, rel: str) -> Path:
    """``out / rel`` for a relative, ``..``-free ``rel`` that stays inside ``out``.

    Raises ValueError otherwise (also when a symlinked folder inside ``out`` leads outside).
    """
    rel = safe_rel(rel)
    dest = out / Path(*PurePosixPath(rel).parts)
    out_r = out.resolve()
    parent_r = dest.parent.resolve()
    if parent_r != out_r and out_r not in parent_r.parents:
        raise ValueError(f"unsafe path {rel!r}: leads outside {out}")
    return dest


def safe_name(name: str) -> str | None:
    """``name`` when usable as one folder/file name component, else None."""
    if not name or name.strip() != name or name in (".", "..") or _BAD_COMPONENT.search(name):
        return None
    return name


#: Longest flat export name, in UTF-8 bytes (file systems allow 255; room for suffixes).
MAX_NAME_BYTES = 200


def flat_names(rels: Iterable[str]) -> dict[str, str]:
    """Map dataset-relative image paths to unique flat file names.

    The file name is kept where its stem is unique (case-insensitively: YOLO pairs images and
    label files by stem, and some file systems ignore case). Colliding names get their folder
    path folded in (``a/x.jpg`` -> ``a__x.jpg``), then a counter if still needed.
    """
    rels = sorted(set(rels))
    stems = Counter(PurePosixPath(r).stem.lower() for r in rels)
    out: dict[str, str] = {}
    used: set[str] = set()
    for rel in rels:
        p = PurePosixPath(rel)
        name = p.name if stems[p.stem.lower()] == 1 else "__".join(p.parts)
        stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:  # folded deep paths: keep the name legal
            digest = hashlib.sha1(rel.encode("utf-8")).hexdigest()[:8]
            stem = f"{short_name(stem, MAX_NAME_BYTES - 40)}_{digest}"
            name = stem + suffix
        candidate, n = name, 1
        while candidate.lower().rsplit(".", 1)[0] in used:
            candidate = f"{stem}_{n}{suffix}"
            n += 1
        used.add(candidate.lower().rsplit(".", 1)[0])
        out[rel] = candidate
    return out


def place_image(src: Path, dest: Path, hardlink: bool = True) -> str:
    """Put a copy of ``src`` at ``dest``: a hard link when possible, else a byte copy.

    The source is never moved or modified; a symbolic link is followed (the file it points to
    is linked or copied, never the link). The destination appears atomically (temp file and
    rename). Returns ``"linked"``, ``"copied"`` or ``"same"`` (``dest`` already is ``src``).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    src = Path(os.path.realpath(src))  # a symbolic link: export the file, never the link
    with contextlib.suppress(OSError):
        if dest.exists() and os.path.samefile(src, dest):
            return "same"
    tmp = temp_sibling(dest)
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    how = "copied"
    try:
        if hardlink:
            try:
                os.link(src, tmp)
                how = "linked"
            except OSError:
                shutil.copyfile(src, tmp)
        else:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return how


def image_info_or_report(path: Path, report: Report, skip: bool = False) -> ImageInfo | None:
    """Header facts of ``path`` (EXIF-corrected size), or None with the problem recorded; with
    ``skip`` the image is counted as skipped too (:func:`skip_file`: a loader leaving it out)."""
    try:
        return read_image_info(path)
    except ImageFileError as err:
        message = str(err)
    except OSError as err:
        message = f"{path}: {err}"
    if skip:
        skip_file(report, message)
    else:
        report.problem(message)
    return None


def export_size(item: ExportItem, report: Report) -> tuple[int, int] | None:
    """(width, height) of an export item's image, checked against its annotation.

    Returns None (problem recorded, the item counted as skipped: :func:`skip_file`) when the
    image cannot be read or its size disagrees with the annotation's
    ``imageWidth``/``imageHeight`` (normalised coordinates would be wrong).
    """
    info = image_info_or_report(item.item.image_path, report, skip=True)
    if info is None:
        return None
    ann = item.annotation
    stored = (ann.imageWidth, ann.imageHeight)
    if stored != (None, None) and stored != info.size:  # 0 or -5 is a wrong size too
        skip_file(
            report,
            str(
                FileProblem(
                    item.item.label_path,
                    f"imageWidth x imageHeight is {ann.imageWidth}x{ann.imageHeight} but the "
                    f"image is {info.width}x{info.height}; not exported",
                )
            )
        )
        return None
    return info.size


def add_note_once(report: Report, note: str) -> None:
    """Append ``note`` to ``report.notes`` unless it is already there."""
    if note not in report.notes:
        report.notes.append(note)


def warn_if_not_empty(folder: Path, report: Report) -> None:
    """Note that ``folder`` already had files: an export adds to it and deletes nothing."""
    try:
        has = folder.is_dir() and any(folder.iterdir())
    except OSError:
        has = False
    if has:
        report.notes.append(
            f"{folder} was not empty: files from an earlier export that this one did not "
            "overwrite are still there (export into an empty folder for a clean dataset)"
        )


def mask_extent(shape: Shape) -> tuple[float, float, float, float]:
    """Pixel extent (x1, y1, x2, y2) of a labelme ``mask`` shape: anchor plus the PNG's size.

    Falls back to :meth:`Shape.bbox` when the PNG cannot be decoded.
    """
    if shape.mask and shape.points:
        try:
            from labeler.masks import decode_mask_png

            crop = decode_mask_png(shape.mask)
            x1, y1 = shape.points[0]
            ch, cw = crop.shape
            return (float(x1), float(y1), float(x1) + cw, float(y1) + ch)
        except Exception:  # noqa: BLE001 - a broken PNG: the stored points are all we have
            pass
    return shape.bbox()


def clip_box(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[float, float, float, float]:
    """Clip an (x1, y1, x2, y2) box to the image."""
    x1, y1, x2, y2 = box
    return (
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    )


#: Shape types exported as their bounding box by detection formats.
AREA_TYPES = frozenset(
    {"rectangle", "polygon", "circle", "mask", "oriented_rectangle", "rotation", "quadrilateral"}
)


def unsupported_note(report: Report, counter: Counter[str], fmt: str,
                     chosen: dict[str, str] | None = None) -> None:
    """Summarise skipped shape types in one note per type (``chosen``: the types an option
    skipped, and that option)."""
    for stype, n in sorted(counter.items()):
        why = (chosen or {}).get(stype) or ("no area" if stype in NO_AREA_TYPES else "not supported")
        report.notes.append(f"{fmt}: {n} {stype!r} shape(s) skipped ({why})")
