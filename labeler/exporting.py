"""Import and export: the parts every format shares.

Export: pick the images (excluded and flagged ones out, ``--only-reviewed``), apply a class
list or mapping, assign a seeded, stratified split, then hand :class:`ExportItem` s to the
format's exporter. Import: run a format's importer and write images and label files into a new
dataset folder (atomically, never overwriting existing label files unless asked).
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from labeler.dataset import Dataset, Item
from labeler.errors import FileProblem, ImageFileError, LabelerError, UsageError, near_name_hint
from labeler.geometry import box_iou
from labeler.interchange import ExportItem, Report, safe_rel, write_json  # noqa: F401 - old home
from labeler.io.atomic import atomic_write_bytes, check_writable_folder, temp_sibling
from labeler.io.images import check_image_file, not_regular_reason
from labeler.io.labelfile import encode_annotation
from labeler.io.writes import ConcurrentChangeError, DatasetLock, replace_if_unchanged
from labeler.model import Annotation, Shape
from labeler.plugin_api import Exporter, Importer
from labeler.review import ProgressFn

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class ExportOptions:
    """Selection and mapping options shared by every export format."""

    only_reviewed: bool = False
    include_excluded: bool = False
    exclude_flagged: Sequence[str] = ()  # issue kinds, or "any" for every open issue
    classes: Sequence[str] | None = None  # fixed class order; others dropped and reported
    mapping: dict[str, str | None] | None = None  # old -> new; None/"" drops the class
    split: Sequence[float] | None = None  # fractions for train, val[, test]
    seed: int = 0
    min_score: float | None = None  # unreviewed suggestions scoring less (or unscored) left out


def parse_split(text: str | None) -> list[float] | None:
    """``"0.8,0.2"`` or ``"80,10,10"`` -> fractions that sum to 1 (train, val[, test])."""
    if not text:
        return None
    try:
        parts = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UsageError(f"--split {text!r}: expected numbers like 0.8,0.1,0.1") from None
    if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise UsageError(f"--split {text!r}: give 1 to 3 non-negative fractions (train,val,test)")
    total = sum(parts)
    if abs(total - 1) > 1e-3 and abs(total - 100) > 0.1:
        raise UsageError(
            f"--split {text!r} adds up to {total:g}: give fractions that add up to 1 (0.8,0.2) "
            "or percentages that add up to 100 (80,10,10)"
        )
    return [p / total for p in parts]


#: Suffixes that make a --classes or --map value a file name, not a class name.
_LIST_FILE_SUFFIXES = (".txt", ".names", ".yaml", ".yml", ".json", ".csv")


def _refuse_missing_file(option: str, value: str, path: Path) -> None:
    """A value that names a file (a folder in it, or a list file's suffix) but is no file is
    refused: read as class names it would export a dataset of one class named
    ``classes.txt``, every image a negative."""
    if path.is_file() or "," in value or "=" in value:
        return
    if "/" in value or os.sep in value or path.suffix.lower() in _LIST_FILE_SUFFIXES:
        why = "is a folder" if path.is_dir() else "no such file"
        raise UsageError(f"{option} {value}: {why} (give a file of class names, or names separated by commas)")


def read_class_list(value: str | None) -> list[str] | None:
    """``--classes``: a comma-separated list, or a file (one name per line, or YAML/JSON list
    or a YOLO ``data.yaml`` with ``names``)."""
    if not value:
        return None
    path = Path(value)
    _refuse_missing_file("--classes", value, path)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in (".yaml", ".yml", ".json"):
            data = yaml.safe_load(text)
            if isinstance(data, dict) and "names" in data:
                data = data["names"]
            if isinstance(data, dict):
                return [str(data[k]) for k in sorted(data, key=int)]
            if isinstance(data, list):
                return [str(x) for x in data]
            raise UsageError(f"{path}: expected a list of class names")
        return [
            line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
        ]
    names = [c.strip() for c in value.split(",") if c.strip()]
    if len(set(names)) != len(names):
        raise UsageError(f"--classes {value!r}: a class is listed twice")
    return names


def read_mapping(value: str | None) -> dict[str, str | None] | None:
    """``--map``: ``old=new,old2=new2`` (empty ``new`` drops the class), or a YAML/JSON file."""
    if not value:
        return None
    path = Path(value)
    _refuse_missing_file("--map", value, path)
    if path.is_file():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise UsageError(f"{path}: expected a mapping old_name: new_name")
        return {str(k): (str(v) if v not in (None, "") else None) for k, v in data.items()}
    out: dict[str, str | None] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise UsageError(f"--map {value!r}: expected old=new pairs separated by commas")
        old, new = part.split("=", 1)
        out[old.strip()] = new.strip() or None
    return out


def _primary_class(ann: Annotation) -> str:
    labels = ann.image_labels or [s.label for s in ann.shapes]
    if not labels:
        return ""
    return Counter(labels).most_common(1)[0][0]


def assign_splits(items: Sequence[ExportItem], fractions: Sequence[float], seed: int) -> None:
    """Seeded, stratified split: within each primary class, shuffle and cut by ``fractions``."""
    groups: dict[str, list[ExportItem]] = defaultdict(list)
    for it in items:
        groups[_primary_class(it.annotation)].append(it)
    rng = random.Random(seed)
    names = SPLIT_NAMES[: len(fractions)]
    for cls in sorted(groups):
        group = sorted(groups[cls], key=lambda e: e.item.rel)
        rng.shuffle(group)
        n = len(group)
        # Largest-remainder rounding keeps each class's split sizes as close as possible.
        raw = [f * n for f in fractions]
        counts = [int(r) for r in raw]
        for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)[
            : n - sum(counts)
        ]:
            counts[i] += 1
        pos = 0
        for name, c in zip(names, counts, strict=True):
            for it in group[pos : pos + c]:
                it.split = name
            pos += c


def drop_boxes_with_outlines(
    shapes: list[Shape], iou: float = 0.5
) -> tuple[list[Shape], int, int]:
    """One object, one label: a rectangle and an outline (polygon or mask) of the same class
    over it (box IoU >= ``iou``: SAM's outline of a box) are exported once.

    Pairs are matched one to one, best overlap first. The outline is kept, and the box
    dropped, unless the box is a person's (drawn or accepted) and the outline an unreviewed
    suggestion: machine output never replaces a person's label, so then the box is kept and
    the outline left out until someone accepts it. Returns (shapes, boxes replaced by their
    outlines, unreviewed outlines left out).
    """
    outlines = [
        i for i, s in enumerate(shapes)
        if (s.shape_type == "polygon" and len(s.points) >= 3) or (s.shape_type == "mask" and s.points)
    ]
    boxes = [i for i, s in enumerate(shapes) if s.shape_type == "rectangle" and len(s.points) >= 2]
    if not outlines or not boxes:
        return shapes, 0, 0
    pairs = []
    for b in boxes:
        for o in outlines:
            if shapes[o].label == shapes[b].label:
                overlap = box_iou(shapes[o].bbox(), shapes[b].bbox())
                if overlap >= iou:
                    pairs.append((overlap, b, o))
    drop: set[int] = set()
    used: set[int] = set()
    replaced = left_out = 0
    for _overlap, b, o in sorted(pairs, key=lambda t: -t[0]):
        if b in used or o in used:
            continue
        used.update((b, o))
        if shapes[b].is_trusted and not shapes[o].is_trusted:
            drop.add(o)
            left_out += 1
        else:
            drop.add(b)
            replaced += 1
    return [s for i, s in enumerate(shapes) if i not in drop], replaced, left_out


#: labelme's reserved class names (labels.txt conventions): ``__ignore__`` marks regions to
#: ignore and ``_background_`` the background class; labelme's own converters never export
#: them as classes, and neither does labeler (unless ``--classes`` lists them).
LABELME_RESERVED_CLASSES = ("__ignore__", "_background_")


def _image_source_problem(dataset: Dataset, item: Item) -> str | None:
    """Why an item's image must not be exported as it is (a link leading outside the
    dataset), or None. Special files never get here: the scan lists them apart."""
    if not item.image_path.is_symlink():
        return None
    target = item.image_path.resolve()
    if not target.is_relative_to(dataset.root.resolve()):
        return f"symbolic link to {target}, outside the dataset; not exported"
    return None


def _export_rel(rel: str, taken: set[str]) -> str:
    """``rel`` with backslashes (legal in a POSIX file name, a folder separator to every
    Windows tool and to labeler's own importers) replaced by ``_``, unique among ``taken``."""
    new = rel.replace("\\", "_")
    stem, dot, suffix = new.rpartition(".")
    n = 1
    while new in taken:
        new = f"{stem}_{n}{dot}{suffix}" if dot else f"{new}_{n}"
        n += 1
    return new


def check_exclude_kinds(kinds: Sequence[str], known: set[str]) -> None:
    """Refuse ``--exclude`` kinds that no issue in the dataset has and no fixer handles."""
    if not kinds or set(kinds) <= known | {"any"}:
        return
    from labeler.plugins import get_registry

    known = known | {k for cls in get_registry().fixers.values() for k in cls.kinds}
    for kind in kinds:
        if kind != "any" and kind not in known:
            hint = near_name_hint(kind, known)
            raise UsageError(
                f"--exclude {kind!r}: unknown issue kind (known: any, {', '.join(sorted(known)) or '-'})"
                + (f"; {hint}" if hint else "")
            )


def select_for_export(
    dataset: Dataset, options: ExportOptions, report: Report, progress: ProgressFn | None = None
) -> tuple[list[ExportItem], list[str]]:
    """Load, filter and map the dataset; return the items to export and the class list
    (``progress(done, total, name)`` after each image is read)."""
    errors: list[FileProblem] = []
    out: list[ExportItem] = []
    dropped: Counter[str] = Counter()
    reserved: Counter[str] = Counter()
    keep_reserved = set(options.classes or ()) & set(LABELME_RESERVED_CLASSES)
    flagged = set(options.exclude_flagged)
    seen_kinds: set[str] = set()
    taken_rels = {it.rel for it in dataset.items}
    renamed: list[tuple[str, str]] = []
    for path in dataset.scan().not_regular:
        errors.append(ImageFileError(path, not_regular_reason(path) or "not a regular file"))
    seen_labels: set[str] = set()  # every class in the folder, before --map and --classes
    place = {it.rel: n for n, it in enumerate(dataset.items, 1)}
    read = 0
    for item, ann in dataset.annotations(errors=errors):
        read += 1
        if progress is not None:
            progress(place.get(item.rel, 0), len(place), item.rel)
        seen_kinds.update(i.kind for i in ann.meta.issues)
        seen_labels.update(s.label for s in ann.shapes)
        seen_labels.update(lab.label for lab in ann.meta.image_labels)
        if ann.meta.exclude and not options.include_excluded:
            report.add("excluded")
            continue
        open_kinds = {i.kind for i in ann.open_issues}
        if flagged and (("any" in flagged and open_kinds) or (open_kinds & flagged)):
            report.add("flagged")
            continue
        shapes = [s for s in ann.shapes if s.review != "rejected"]
        labels = [lab for lab in ann.meta.image_labels if lab.review != "rejected"]
        if options.min_score is not None and not options.only_reviewed:
            low = [s for s in shapes if s.is_suggestion and not _scores_at_least(s.score, options.min_score)]
            low_labels = [lab for lab in labels
                          if lab.review == "suggested" and not _scores_at_least(lab.score, options.min_score)]
            if low or low_labels:
                report.add(f"unreviewed suggestions left out (score below {options.min_score:g})",
                           len(low) + len(low_labels))
                shapes = [s for s in shapes if all(s is not x for x in low)]
                labels = [lab for lab in labels if all(lab is not x for x in low_labels)]
        if options.only_reviewed:
            pending = [s for s in shapes if not s.is_trusted] or [
                lab for lab in labels if lab.review == "suggested"
            ]
            if pending and not ann.meta.reviewed:
                report.add("not reviewed")
                continue
            shapes = [s for s in shapes if s.is_trusted]
            labels = [lab for lab in labels if lab.review in (None, "accepted")]
        if options.mapping:
            mapped_shapes = []
            for s in shapes:
                if s.label in options.mapping:
                    new = options.mapping[s.label]
                    if new is None:
                        dropped[s.label] += 1
                        continue
                    s = s.model_copy(update={"label": new})
                mapped_shapes.append(s)
            shapes = mapped_shapes
            mapped_labels = []
            for lab in labels:
                if lab.label in options.mapping:
                    new = options.mapping[lab.label]
                    if new is None:
                        dropped[lab.label] += 1
                        continue
                    lab = lab.model_copy(update={"label": new})
                mapped_labels.append(lab)
            labels = mapped_labels
        if options.classes is not None:
            allowed = set(options.classes)
            for s in shapes:
                if s.label not in allowed:
                    dropped[s.label] += 1
            for lab in labels:
                if lab.label not in allowed:
                    dropped[lab.label] += 1
            shapes = [s for s in shapes if s.label in allowed]
            labels = [lab for lab in labels if lab.label in allowed]
        for name in set(LABELME_RESERVED_CLASSES) - keep_reserved:
            n = sum(s.label == name for s in shapes) + sum(lab.label == name for lab in labels)
            if n:
                reserved[name] += n
                shapes = [s for s in shapes if s.label != name]
                labels = [lab for lab in labels if lab.label != name]
        blank = [s for s in shapes if not s.label.strip()] + [lab for lab in labels if not lab.label.strip()]
        if blank:  # a class named "" cannot be trained on (and is lost in CSV)
            report.add("labels left out: empty class name", len(blank))
            shapes = [s for s in shapes if s.label.strip()]
            labels = [lab for lab in labels if lab.label.strip()]
        shapes, merged, left_out = drop_boxes_with_outlines(shapes)
        if merged:
            report.add("boxes replaced by their outlines", merged)
        if left_out:
            report.add("unreviewed outlines of a person's box left out (accept them to export them)", left_out)
        link_problem = _image_source_problem(dataset, item)
        if link_problem is not None:
            errors.append(ImageFileError(item.image_path, link_problem))
            continue
        try:
            check_image_file(item.image_path)  # a truncated or non-image file is not exported
        except ImageFileError as err:
            errors.append(err)
            continue
        view = ann.model_copy(deep=True)
        view.shapes = [s.model_copy(deep=True) for s in shapes]
        view.meta.image_labels = [lab.model_copy(deep=True) for lab in labels]
        if "\\" in item.rel:
            new_rel = _export_rel(item.rel, taken_rels)
            taken_rels.add(new_rel)
            renamed.append((item.rel, new_rel))
            item = dataclasses.replace(item, rel=new_rel)
        out.append(ExportItem(item=item, annotation=view))
    check_exclude_kinds(sorted(flagged), seen_kinds)
    unlabeled = sum(not it.has_labels for it in dataset.items) if read < len(place) else 0
    if unlabeled:  # not labeled yet: no one said they have no objects (no negatives)
        report.add("images without a label file (left out)", unlabeled)
    for err in errors:
        report.problem(str(err))
    for name, n in sorted(reserved.items()):
        report.notes.append(
            f"class {name!r} not exported ({n} label(s)): labelme's reserved name, skipped as "
            "labelme's own converters skip it (list it in --classes to export it)"
        )
    if renamed:
        sample = ", ".join(f"{a!r} -> {b!r}" for a, b in renamed[:3])
        more = f" and {len(renamed) - 3} more" if len(renamed) > 3 else ""
        report.notes.append(
            f"{len(renamed)} image name(s) with a backslash renamed in the export, in the files "
            f"and in every annotation alike ({sample}{more}): Windows tools and importers read a "
            "backslash as a folder separator"
        )
    for label, n in sorted(dropped.items()):
        report.notes.append(
            f"class {label!r} not exported ({n} label(s)): not in the class list/mapping"
        )
    exported = {s.label for e in out for s in e.annotation.shapes}
    exported |= {lab.label for e in out for lab in e.annotation.meta.image_labels}
    report.notes.extend(unmatched_class_notes(options, seen_labels, exported))
    classes = list(options.classes) if options.classes is not None else sorted(exported)
    if options.split:
        assign_splits(out, options.split, options.seed)
    return out, classes


def unmatched_class_notes(options: ExportOptions, seen: set[str], exported: set[str]) -> list[str]:
    """Notes for ``--map`` names no label in the folder has and ``--classes`` names no exported
    label has, each with its near name: a mistyped name maps or keeps nothing (``--map
    kity=cat`` leaves every 'kitty' as it was), which the export would otherwise not say.

    Not refused: one mapping file or class list (a model's data.yaml) often serves several
    folders, and a class with no object here is a real, empty class of the list.
    """
    notes = []
    for old in sorted(options.mapping or ()):
        if old not in seen:
            hint = near_name_hint(old, seen)
            notes.append(f"--map {old!r}: no label in the folder has this class, nothing renamed"
                         + (f"; {hint}" if hint else ""))
    empty = []
    renamed = options.mapping or {}
    for name in options.classes or ():
        if name not in exported:
            hint = (f"--map renames it to {renamed[name]!r}: --classes takes the new names"
                    if renamed.get(name)  # an old name: --classes lists the names after --map
                    else near_name_hint(name, (seen | exported) - set(options.classes or ())))
            if hint:
                notes.append(f"--classes {name!r}: no exported label has this class; {hint}")
            else:
                empty.append(name)
    if empty:  # a model's 80-class list on a 3-class folder: one line
        more = f" and {len(empty) - 10} more" if len(empty) > 10 else ""
        notes.append(f"--classes: {len(empty)} class(es) with no exported label, kept as empty "
                     f"classes: {', '.join(map(repr, empty[:10]))}{more}")
    return notes


def _scores_at_least(score: float | None, minimum: float) -> bool:
    """An unscored suggestion cannot claim any score: it counts as below every minimum."""
    return score is not None and score >= minimum


def exported_parts(exporter: Exporter) -> str:
    """What of an annotation ``exporter`` writes: "shapes", "image_labels" or "all" (labelme)."""
    if exporter.format == "labelme":
        return "all"
    return "image_labels" if exporter.task == "classification" else "shapes"


def count_unreviewed(items: Sequence[ExportItem], parts: str) -> Counter[str]:
    """Unreviewed suggestions per plugin among the ``parts`` (see :func:`exported_parts`) of
    the items handed to an exporter."""
    found: Counter[str] = Counter()
    for it in items:
        if parts in ("shapes", "all"):
            found.update(s.source.plugin if s.source else "(unknown)"
                         for s in it.annotation.shapes if s.is_suggestion)
        if parts in ("image_labels", "all"):
            found.update(lab.source.plugin if lab.source else "(unknown)"
                         for lab in it.annotation.meta.image_labels if lab.review == "suggested")
    return found


class _Reported(list):  # type: ignore[type-arg]
    """The items handed to an exporter, calling ``progress`` as the exporter's first pass over
    them goes (exporters take a plain sequence: the plugin API has no progress argument)."""

    def __init__(self, items: Sequence[ExportItem], progress: ProgressFn) -> None:
        super().__init__(items)
        self._progress: ProgressFn | None = progress

    def __iter__(self) -> Iterator[ExportItem]:
        progress, self._progress = self._progress, None
        for n, e in enumerate(super().__iter__(), 1):
            if progress is not None:
                progress(n, len(self), e.item.rel)
            yield e


@contextmanager
def out_folder(out: Path, option: str = "--out") -> Iterator[None]:
    """:func:`check_writable_folder` for the duration of a run, and the folders it made
    removed again if still empty at the end (a refused or interrupted run, an import that
    found nothing): a mistyped option must not leave an empty output folder behind."""
    made: list[Path] = []
    p = Path(out).absolute()
    while not os.path.lexists(p) and p != p.parent:
        made.append(p)
        p = p.parent
    check_writable_folder(out, option)
    try:
        yield
    finally:
        for d in made:  # deepest first; one with something in it stays, and so do its parents
            try:
                d.rmdir()
            except OSError:
                break


def _has_files(folder: Path) -> bool:
    """Whether ``folder`` holds any file (in any subfolder)."""
    return folder.is_dir() and any(files for _, _, files in os.walk(folder))


def run_export(dataset: Dataset, exporter: Exporter, out: Path, options: ExportOptions,
               reading: ProgressFn | None = None, writing: ProgressFn | None = None) -> Report:
    """Select, map, split, then write ``dataset`` in ``exporter``'s format under ``out``
    (``reading`` / ``writing``: ``progress(done, total, name)`` of the two passes)."""
    report = Report()
    out = Path(out)
    if out.resolve() == dataset.root.resolve():
        raise UsageError(f"--out {out} must not be the dataset folder itself")
    if out.resolve().is_relative_to(dataset.root.resolve()):
        raise UsageError(
            f"--out {out} is inside the dataset {dataset.root}: its images would be read as part "
            f"of the dataset next time; export next to it, e.g. --out {dataset.root.parent / (dataset.root.name + '-export')}"
        )
    with out_folder(out):
        items, classes = select_for_export(dataset, options, report, reading)
        try:
            exporter.export(_Reported(items, writing) if writing else items, out, classes, report)
        except (KeyboardInterrupt, LabelerError):
            raise
        except Exception as err:  # noqa: BLE001 - plugin code may raise anything
            report.problem(f"{out}: exporter {exporter.format!r} failed: {type(err).__name__}: {err}")
    exported = report.counts.get("exported images")
    if exported is None and (getattr(exporter, "counts_images", False) or not _has_files(out)):
        exported = 0  # it counts the images it writes and wrote none, or wrote nothing at all
    if exported is None:  # the exporter did not count them itself
        report.counts.setdefault("images", len(items))
    elif exported == 0 and report.problems:
        report.notes.append("nothing exported")  # the problems above say why
    elif exported == 0:
        report.problem(f"{out}: nothing exported (see the counts and notes)")
    report.counts.setdefault("classes", len(classes))
    for plugin, n in sorted(count_unreviewed(items, exported_parts(exporter)).items()):
        report.add(f"unreviewed suggestions from {plugin}", n)
    return report


def run_import(
    importer: Importer, src: Path, out: Path, overwrite: bool = False, copy_images: bool = True
) -> Report:
    """Read ``src`` with ``importer`` and write a labeler dataset under ``out``.

    Existing label files in ``out`` are kept (reported) unless ``overwrite``.
    """
    report = Report()
    src, out = Path(src), Path(out)
    if not src.exists():
        raise UsageError(f"{src}: not found")
    with out_folder(out):
        _import_into(importer, src, out, report, overwrite, copy_images)
    return report


def _import_into(importer: Importer, src: Path, out: Path, report: Report, overwrite: bool,
                 copy_images: bool) -> None:
    """:func:`run_import`'s writing, inside its output folder's guard."""
    lock = DatasetLock(out.absolute())
    for imported in importer.read(src, report):
        try:
            rel = safe_rel(imported.rel)
        except ValueError as err:
            report.problem(f"{imported.source_image}: {err}")
            continue
        dest_img = out / rel
        dest_json = dest_img.with_suffix(".json")
        if dest_json.exists() and not overwrite:
            report.problem(f"{dest_json}: already exists (use --overwrite to replace it)")
            report.add("skipped")
            continue
        try:
            if copy_images and imported.source_image.resolve() != dest_img.resolve():
                dest_img.parent.mkdir(parents=True, exist_ok=True)
                tmp = temp_sibling(dest_img)
                shutil.copyfile(imported.source_image, tmp)
                tmp.replace(dest_img)
            ann = imported.annotation
            ann.imagePath = dest_img.name
            data = encode_annotation(ann, dest_json)
            with lock:  # OUT may be open in the GUI or another labeler already
                if overwrite:
                    atomic_write_bytes(dest_json, data)
                else:  # created only if still absent: never replaces a file made meanwhile
                    replace_if_unchanged(dest_json, data, None)
        except ConcurrentChangeError:
            report.problem(f"{dest_json}: created by another program meanwhile; kept")
            report.add("skipped")
            continue
        except (OSError, LabelerError) as err:
            report.problem(str(err) if isinstance(err, LabelerError) else f"{dest_img}: {err}")
            continue
        report.add("images")
        report.add("shapes", len(ann.shapes))
