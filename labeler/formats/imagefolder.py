"""torchvision ``ImageFolder`` classification layout: one folder per class.

Layout written by :func:`save_imagefolder`::

    OUT/{train,val,test}/CLASS/NAME.jpg     # with a split
    OUT/CLASS/NAME.jpg                      # without

Each image has exactly one image-level label (``labeler.image_labels``); images with none or
several are reported and skipped. :func:`load_imagefolder` reads the same layout back (split
folders ``train``/``val``/``valid``/``test`` are recognised) into image-level labels.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from labeler.errors import UsageError
from labeler.formats import (
    SPLIT_DIR_NAMES,
    flat_names,
    image_info_or_report,
    is_image_file,
    place_image,
    safe_join,
    safe_name,
    skip_file,
    walk_files,
    warn_if_not_empty,
)
from labeler.interchange import ExportItem, ImportedImage, Report
from labeler.model import Annotation

#: torchvision's ``IMG_EXTENSIONS`` (``torchvision.datasets.folder``), lower case.
TORCHVISION_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _sample(names: list[str], n: int = 3) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def save_imagefolder(
    items: Sequence[ExportItem],
    out: Path,
    classes: Sequence[str],
    report: Report,
    *,
    empty_class_dirs: bool = False,
    hardlink: bool = True,
) -> None:
    """Write ``OUT/[split/]class/image`` from the image-level labels of ``items``.

    ``empty_class_dirs`` creates a folder for every class in every split, so that each split
    numbers the classes the same way (torchvision then needs ``allow_empty=True``).
    """
    out = Path(out)
    warn_if_not_empty(out, report)
    allowed = set(classes)
    names = flat_names(e.item.rel for e in items)
    unlabeled: list[str] = []
    multi: list[str] = []
    per_split: dict[str, set[str]] = defaultdict(set)
    n_shapes = 0
    for e in items:
        labels = [lab for lab in e.annotation.image_labels if lab in allowed]
        n_shapes += len(e.annotation.shapes)
        if not labels:
            unlabeled.append(e.item.rel)
            continue
        if len(set(labels)) > 1:
            multi.append(e.item.rel)
            report.problem(f"{e.item.rel}: {len(set(labels))} image labels ({', '.join(sorted(set(labels)))}); ImageFolder needs exactly one; skipped")
            continue
        label = labels[0]
        if safe_name(label) is None:
            skip_file(report, f"{e.item.rel}: class {label!r} cannot be a folder name; skipped")
            continue
        if os.path.splitext(e.item.rel)[1].lower() not in TORCHVISION_EXTENSIONS:
            skip_file(report, f"{e.item.rel}: torchvision's ImageFolder does not read this extension; skipped")
            continue
        rel = f"{e.split}/{label}/{names[e.item.rel]}" if e.split else f"{label}/{names[e.item.rel]}"
        try:
            place_image(e.item.image_path, safe_join(out, rel), hardlink=hardlink)
        except (OSError, ValueError) as err:
            skip_file(report, f"{e.item.image_path}: {err}")
            continue
        per_split[e.split].add(label)
        report.add("exported images")
    if unlabeled:
        report.add("skipped (no image label)", len(unlabeled))
        report.notes.append(
            f"imagefolder: {len(unlabeled)} image(s) without an image-level label skipped "
            f"({_sample(unlabeled)})"
        )
    if multi:
        report.add("skipped (several image labels)", len(multi))
    if n_shapes:
        report.notes.append(f"imagefolder: {n_shapes} shape(s) not exported (image-level labels only)")
    used = sorted(set().union(*per_split.values())) if per_split else []
    if empty_class_dirs:
        for split in per_split:
            for label in used:
                if safe_name(label):
                    safe_join(out, f"{split}/{label}" if split else label).mkdir(parents=True, exist_ok=True)
    else:
        for split, present in sorted(per_split.items()):
            missing = sorted(set(used) - present)
            if split and missing:
                report.notes.append(
                    f"imagefolder: split {split!r} has no images of {_sample(missing)}: "
                    "torchvision would number its classes differently from the other splits "
                    "(use the empty_class_dirs option, or pass the train set's class_to_idx)"
                )


def load_imagefolder(src: Path, report: Report) -> Iterator[ImportedImage]:
    """Read ``SRC/[split/]class/**/image`` into image-level labels (torchvision's rules).

    Files directly in ``SRC`` (or in a split folder) have no class and are ignored, as are
    files whose extension is not an image extension.
    """
    src = Path(src)
    if not src.is_dir():
        raise UsageError(f"{src}: an imagefolder import reads a folder of class folders")
    src_real = src.resolve()
    top = sorted(d for d in src.iterdir() if d.is_dir() and not d.name.startswith("."))
    if top and all(d.name.lower() in SPLIT_DIR_NAMES for d in top):
        roots = [(d, d.name) for d in top]
    else:
        roots = [(src, "")]
    if not any(d.is_dir() and not d.name.startswith(".") for root, _ in roots for d in root.iterdir()):
        loose = sum(1 for p in src.iterdir() if p.is_file() and is_image_file(p.name))
        raise UsageError(
            f"{src}: no class folders (SRC/CLASS/image.jpg)"
            + (f"; its {loose} image(s) lie in SRC itself: is {src} one class folder? "
               f"Import its parent folder {src.parent}" if loose else "")
        )
    ignored = 0
    for root, _split in roots:
        for class_dir in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
            label = class_dir.name
            if not class_dir.resolve().is_relative_to(src_real):
                report.problem(f"{class_dir}: symbolic link to {class_dir.resolve()}, outside {src}; skipped")
                continue
            for path in walk_files(class_dir):
                f = path.name
                if not is_image_file(f):
                    ignored += 1
                    continue
                if not path.resolve().is_relative_to(src_real):
                    skip_file(report, f"{path}: symbolic link to {path.resolve()}, outside {src}; skipped")
                    continue
                info = image_info_or_report(path, report, skip=True)
                if info is None:
                    continue
                ann = Annotation(imagePath=f, imageWidth=info.width, imageHeight=info.height)
                ann.set_image_labels([label])
                rel = path.relative_to(src).as_posix()
                yield ImportedImage(source_image=path, rel=rel, annotation=ann)
        loose = [p for p in root.iterdir() if p.is_file()]
        ignored += len(loose)
    if ignored:
        report.notes.append(f"imagefolder: {ignored} file(s) ignored (not an image, or not in a class folder)")
