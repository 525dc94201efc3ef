"""The one place that runs plugins over a dataset and writes the results.

Batching, progress, resume, per-image error isolation, and the merge rules for machine output:

- a plugin's earlier *unreviewed* suggestions are replaced by its new ones (no stacking);
- shapes a person drew or accepted are never changed, and a new suggestion that duplicates one
  (same label, IoU >= ``match_iou``) is dropped, except an outline (polygon or mask) over a
  rectangle, which refines it (SAM turning boxes into masks);
- a suggestion a person rejected does not come back (same label, IoU >= ``match_iou``);
- a check replaces its own earlier findings; one a person dismissed stays dismissed.

Every plugin returns results; only this module (and :mod:`labeler.exporting`) writes files.
The CLI and the GUI both call it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labeler.dataset import Dataset, Item
from labeler.errors import FileProblem, ImageFileError, LabelerError, LabelFileError
from labeler.io.images import open_image
from labeler.io.labelfile import dumps_annotation
from labeler.model import (
    Annotation,
    ImageLabel,
    Issue,
    ProcessedRecord,
    RejectedShape,
    Shape,
    ShapeMeta,
    Source,
    utc_now,
)
from labeler.plugin_api import Autolabeler, Check, Finding, Fixer, Sample
from labeler.predictions import Predictions, box_iou

#: ``progress(done, total, message)``
ProgressFn = Callable[[int, int, str], None]


def _no_progress(done: int, total: int, message: str = "") -> None:
    return None


@dataclass
class RunSummary:
    """What a pipeline run did; printed by the CLI, returned to the GUI and scripts."""

    plugin: str
    total: int = 0
    processed: int = 0
    skipped_done: int = 0
    changed: int = 0
    per_class: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)  # "<file>: <reason>"
    seconds: float = 0.0
    interrupted: bool = False
    dry_run: bool = False
    changes: list[str] = field(default_factory=list)  # dry-run descriptions

    @property
    def images_per_second(self) -> float:
        """Throughput over the images actually processed."""
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (``--json``)."""
        return {
            "plugin": self.plugin,
            "images": self.total,
            "processed": self.processed,
            "already_done": self.skipped_done,
            "changed": self.changed,
            "per_class": dict(sorted(self.per_class.items())),
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 3),
            "interrupted": self.interrupted,
            "dry_run": self.dry_run,
        }


# -- merge rules ------------------------------------------------------------------------------
def _same_object(
    a_label: str, a: Shape | RejectedShape, b_label: str, b: Shape, iou: float
) -> bool:
    if a_label != b_label or not a.points or not b.points:
        return False
    try:
        ba = Shape(label=a_label, points=a.points, shape_type=a.shape_type).bbox()
        return box_iou(ba, b.bbox()) >= iou
    except ValueError:
        return False


def merge_suggestions(
    ann: Annotation,
    new_shapes: Sequence[Shape],
    plugin: str,
    match_iou: float = 0.5,
    new_image_labels: Sequence[ImageLabel] = (),
) -> tuple[int, int]:
    """Apply the merge rules for ``plugin``'s new suggestions to ``ann`` in place.

    Returns (suggestions removed, suggestions added).
    """

    def own_unreviewed(shape: Shape) -> bool:
        return (
            shape.review == "suggested"
            and shape.source is not None
            and shape.source.plugin == plugin
        )

    removed = sum(1 for s in ann.shapes if own_unreviewed(s))
    kept = [s for s in ann.shapes if not own_unreviewed(s)]
    others = [s for s in kept if s.review != "rejected"]
    added = 0
    for shape in new_shapes:
        if any(_same_object(r.label, r, shape.label, shape, match_iou) for r in ann.meta.rejected):
            continue
        if any(
            _same_object(s.label, s, shape.label, shape, match_iou)
            for s in others
            if not _refines(shape, s)
        ):
            continue
        kept.append(shape)
        added += 1
    ann.shapes = kept

    labels = ann.meta.image_labels
    own = [
        lab
        for lab in labels
        if lab.review == "suggested" and lab.source is not None and lab.source.plugin == plugin
    ]
    removed += len(own)
    labels = [lab for lab in labels if lab not in own]
    present = {lab.label for lab in labels}  # human, accepted, rejected or others' suggestions
    for lab in new_image_labels:
        if lab.label in present:
            continue
        labels.append(lab)
        added += 1
    ann.meta.image_labels = labels
    return removed, added


def _refines(new: Shape, existing: Shape) -> bool:
    """An outline (polygon or mask) for an object that so far has only a box is new information:
    SAM turning a person's rectangle into a mask must not be dropped as a duplicate."""
    return new.shape_type in ("polygon", "mask") and existing.shape_type == "rectangle"


def reject_shape(ann: Annotation, index: int) -> Shape:
    """Reject a suggestion: remove it from ``shapes`` and remember it so it does not come back."""
    shape = ann.shapes.pop(index)
    ann.meta.rejected.append(
        RejectedShape(
            label=shape.label,
            shape_type=shape.shape_type,
            points=list(shape.points),
            source=shape.source,
        )
    )
    return shape


def accept_shape(ann: Annotation, index: int) -> Shape:
    """Accept a suggestion: it becomes a trusted shape (score and source are kept)."""
    shape = ann.shapes[index]
    if shape.meta is None:
        shape.meta = ShapeMeta()
    shape.meta.review = "accepted"
    return shape


def _would_change(ann: Annotation, before: str | None, processed_by: str | None = None) -> int:
    """1 when saving ``ann`` would change its file (a dry run's count), else 0.

    ``processed_by``: a plugin whose run record is renewed on every run; its new time alone
    does not count as a change.
    """
    if before is None:
        return 1
    record = ann.meta.processed.get(processed_by) if processed_by else None
    if record is not None:
        old = (json.loads(before).get("labeler") or {}).get("processed", {}).get(processed_by) or {}
        if "at" in old:
            ann = ann.model_copy(deep=True)
            ann.meta.processed[processed_by].at = old["at"]  # type: ignore[index]
    return int(dumps_annotation(ann) != before)


def _save_if_changed(dataset: Dataset, item: Item, ann: Annotation, before: str | None) -> bool:
    after = dumps_annotation(ann)
    if before is not None and after == before:
        return False
    dataset.save(item, ann, after)
    return True


# -- autolabel --------------------------------------------------------------------------------
def run_autolabel(
    dataset: Dataset,
    plugin: Autolabeler,
    items: Sequence[Item] | None = None,
    redo: bool = False,
    dry_run: bool = False,
    match_iou: float = 0.5,
    progress: ProgressFn = _no_progress,
    should_stop: Callable[[], bool] = lambda: False,
    on_result: Callable[[Item, Annotation], None] | None = None,
) -> RunSummary:
    """Run an autolabeler over ``items`` (default: the whole dataset) and merge its suggestions.

    Images already processed with the same options and model are skipped unless ``redo``: an
    interrupted run resumes where it stopped. Each image's file is written atomically as soon as
    its batch is done. A failing image is recorded and skipped; the run goes on.
    """
    summary = RunSummary(plugin=plugin.name, dry_run=dry_run)
    items = list(items if items is not None else dataset.items)
    summary.total = len(items)
    start = time.perf_counter()
    plugin.setup()
    key = plugin.config_key()
    source = plugin.source()
    batch_size = max(1, plugin.effective_batch_size())
    done = 0
    pending: list[tuple[Sample, str | None]] = []

    def flush() -> None:
        nonlocal pending
        if not pending:
            return
        results = _predict_isolated(plugin, [s for s, _ in pending], summary)
        for (sample, before), preds in zip(pending, results, strict=True):
            if preds is None:
                continue
            _apply_predictions(
                dataset, sample, before, preds, plugin, key, source, match_iou, summary
            )
            if on_result is not None:
                on_result(sample.item, sample.annotation)
        pending = []

    try:
        for item in items:
            if should_stop():
                summary.interrupted = True
                break
            try:
                ann = dataset.load(item)
                before = dumps_annotation(ann) if ann is not None else None
                if ann is not None and not redo:
                    rec = ann.meta.processed.get(plugin.name)
                    if rec is not None and rec.config == key:
                        summary.skipped_done += 1
                        done += 1
                        progress(done, summary.total, item.rel)
                        continue
                image = open_image(item.image_path)
                if ann is None:
                    ann = dataset.new_annotation(item)
                else:
                    dataset.check_size(item, ann)
            except (LabelFileError, ImageFileError, OSError) as err:
                summary.failed.append(
                    str(err) if isinstance(err, LabelerError) else f"{item.rel}: {err}"
                )
                done += 1
                progress(done, summary.total, item.rel)
                continue
            pending.append((Sample(item=item, annotation=ann, image=image), before))
            if len(pending) >= batch_size:
                flush()
            done += 1
            progress(done, summary.total, item.rel)
        flush()
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.seconds = time.perf_counter() - start
    return summary


def _predict_isolated(
    plugin: Autolabeler, batch: list[Sample], summary: RunSummary
) -> list[Predictions | None]:
    """Predict a batch; if it fails, retry image by image so one bad image fails alone."""
    try:
        out = plugin.predict(batch)
        if len(out) != len(batch):
            raise RuntimeError(f"plugin returned {len(out)} results for {len(batch)} images")
        return list(out)
    except (KeyboardInterrupt, LabelerError):
        raise
    except Exception as err:  # noqa: BLE001 - plugin code may raise anything
        if len(batch) == 1:
            summary.failed.append(
                f"{batch[0].item.image_path}: {plugin.name} failed: {type(err).__name__}: {err}"
            )
            return [None]
    results: list[Predictions | None] = []
    for sample in batch:
        results.extend(_predict_isolated(plugin, [sample], summary))
    return results


def _apply_predictions(
    dataset: Dataset,
    sample: Sample,
    before: str | None,
    preds: Predictions,
    plugin: Autolabeler,
    key: str,
    source: Source,
    match_iou: float,
    summary: RunSummary,
) -> None:
    ann = sample.annotation
    shapes = preds.to_shapes(source, prefer=plugin.output_kind())
    labels = [
        ImageLabel(label=lab, score=round(float(score), 4), source=source, review="suggested")
        for lab, score in preds.image_labels
    ]
    _removed, added = merge_suggestions(ann, shapes, plugin.name, match_iou, labels)
    count = len(
        [s for s in ann.shapes if s.is_suggestion and s.source and s.source.plugin == plugin.name]
    )
    ann.meta.processed[plugin.name] = ProcessedRecord(at=utc_now(), config=key, count=count)
    for s in ann.shapes:
        if s.is_suggestion and s.source is not None and s.source.plugin == plugin.name:
            summary.per_class[s.label] += 1
    for lab in ann.meta.image_labels:
        if (
            lab.review == "suggested"
            and lab.source is not None
            and lab.source.plugin == plugin.name
        ):
            summary.per_class[lab.label] += 1
    summary.processed += 1
    if summary.dry_run:
        if _would_change(ann, before, plugin.name):
            summary.changes.append(f"{sample.item.rel}: {count} suggestion(s) from {plugin.name}")
            summary.changed += 1
        return
    try:
        if _save_if_changed(dataset, sample.item, ann, before):
            summary.changed += 1
    except LabelFileError as err:
        summary.failed.append(str(err))


# -- checks -----------------------------------------------------------------------------------
def _issue_key(issue: Issue) -> tuple[object, ...]:
    return (issue.kind, issue.shape_index, tuple(sorted(issue.related_files)))


def merge_findings(ann: Annotation, plugin: str, issues: Sequence[Issue]) -> None:
    """Replace ``plugin``'s earlier issues on ``ann``; keep a dismissal when the issue returns."""
    old = [i for i in ann.meta.issues if i.source is not None and i.source.plugin == plugin]
    dismissed = {_issue_key(i) for i in old if i.state == "dismissed"}
    fixed = {_issue_key(i): i for i in old if i.state == "fixed"}
    keep = [i for i in ann.meta.issues if i not in old]
    for issue in issues:
        k = _issue_key(issue)
        if k in dismissed:
            issue.state = "dismissed"
        elif k in fixed:
            # The fix is still applied (and recorded there for undo): keep that record.
            issue.state = "fixed"  # the finding says so too (not listed as a problem again)
            issue = fixed.pop(k)
        keep.append(issue)
    # A fixed issue the check no longer finds keeps its record: its undo data is still needed.
    keep.extend(fixed.values())
    ann.meta.issues = keep


def run_check(
    dataset: Dataset,
    plugin: Check,
    items: Sequence[Item] | None = None,
    dry_run: bool = False,
    progress: ProgressFn = _no_progress,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[RunSummary, list[Finding]]:
    """Run a check and write its findings into the label files (replacing its earlier ones)."""
    summary = RunSummary(plugin=plugin.name, dry_run=dry_run)
    start = time.perf_counter()
    items = list(items if items is not None else dataset.items)
    summary.total = len(items)
    plugin.setup()
    loaded: list[tuple[Item, Annotation]] = []
    befores: dict[str, str | None] = {}
    for item in items:
        try:
            # check_image: a label file whose stored size disagrees with its image is reported
            # and left alone (as autolabel and export do), never written into.
            ann = dataset.load(item, check_image=True)
            befores[item.rel] = dumps_annotation(ann) if ann is not None else None
            loaded.append((item, ann if ann is not None else dataset.new_annotation(item)))
        except (LabelFileError, ImageFileError) as err:
            summary.failed.append(str(err))
    source = plugin.source()
    findings: list[Finding] = []
    unchecked: set[str] = set()  # images that failed: their earlier findings are kept
    try:
        if plugin.scope == "dataset":
            try:
                plugin.skipped_images = []
                findings = list(plugin.run(dataset, loaded, lambda d, t: progress(d, t, "")))
                for skipped, problem in plugin.skipped_images:
                    summary.failed.append(f"{skipped.image_path}: {problem}")
                    unchecked.add(skipped.rel)
            except (KeyboardInterrupt, LabelerError):
                raise
            except Exception as err:  # noqa: BLE001 - plugin code may raise anything
                summary.failed.append(f"{plugin.name} failed: {type(err).__name__}: {err}")
                summary.seconds = time.perf_counter() - start
                return summary, []
        else:
            for n, (item, ann) in enumerate(loaded, 1):
                if should_stop():
                    summary.interrupted = True
                    break
                try:
                    image = open_image(item.image_path) if plugin.needs_image else None
                    sample = Sample(item=item, annotation=ann, image=image)  # type: ignore[arg-type]
                    findings.extend(Finding(item.rel, i) for i in plugin.check_sample(sample))
                except ImageFileError as err:
                    summary.failed.append(str(err))
                    unchecked.add(item.rel)
                except (KeyboardInterrupt, LabelerError):
                    raise
                except Exception as err:  # noqa: BLE001
                    summary.failed.append(
                        f"{item.image_path}: {plugin.name} failed: {type(err).__name__}: {err}"
                    )
                    unchecked.add(item.rel)
                progress(n, len(loaded), item.rel)
    except KeyboardInterrupt:
        summary.interrupted = True
    for f in findings:
        if f.issue.source is None:
            f.issue.source = source
    if summary.interrupted:
        summary.seconds = time.perf_counter() - start
        return summary, findings
    by_rel: dict[str, list[Issue]] = {}
    for f in findings:
        by_rel.setdefault(f.rel, []).append(f.issue)
    for item, ann in loaded:
        if item.rel in unchecked:
            continue  # not checked this time: keep what an earlier run found
        issues = by_rel.get(item.rel, [])
        summary.processed += 1
        if befores.get(item.rel) is None and not issues:
            continue  # never create a label file just to say "nothing found"
        merge_findings(ann, plugin.name, issues)
        if dry_run:
            if issues:
                summary.changes.append(f"{item.rel}: {len(issues)} issue(s)")
            summary.changed += _would_change(ann, befores.get(item.rel))
            continue
        try:
            if _save_if_changed(dataset, item, ann, befores.get(item.rel)):
                summary.changed += 1
        except LabelFileError as err:
            summary.failed.append(str(err))
    for f in findings:  # after merging: fixed and dismissed ones are not open problems
        if f.issue.state == "open":
            summary.per_class[f.issue.kind] += 1
    summary.seconds = time.perf_counter() - start
    return summary, findings


# -- fixes ------------------------------------------------------------------------------------
def run_fix(
    dataset: Dataset,
    plugin: Fixer,
    items: Sequence[Item] | None = None,
    undo: bool = False,
    kinds: Iterable[str] | None = None,
    min_score: float = 0.0,
    dry_run: bool = False,
    progress: ProgressFn = _no_progress,
) -> RunSummary:
    """Apply (or with ``undo`` revert) a fixer's fixes to the open issues it handles."""
    summary = RunSummary(plugin=plugin.name, dry_run=dry_run)
    start = time.perf_counter()
    items = list(items if items is not None else dataset.items)
    summary.total = len(items)
    wanted = set(kinds) if kinds else None
    for n, item in enumerate(items, 1):
        progress(n, len(items), item.rel)
        try:
            ann = dataset.load(item)
        except LabelFileError as err:
            summary.failed.append(str(err))
            continue
        if ann is None:
            continue
        before = dumps_annotation(ann)
        touched = 0
        broken = False
        for issue in ann.meta.issues:
            if wanted is not None and issue.kind not in wanted:
                continue
            try:
                if dry_run and plugin.modifies_images:
                    # Its fix writes image files: describe it, do not call it.
                    if undo and issue.state == "fixed" and issue.fixed_by == plugin.name or not undo and plugin.applies_to(issue) and (issue.score or 0.0) >= min_score:
                        touched += 1
                    continue
                if undo:
                    if issue.state != "fixed" or issue.fixed_by != plugin.name:
                        continue
                    if plugin.undo(dataset, item, ann, issue):
                        issue.state = "open"
                        issue.fixed_by = None
                        issue.undo = None
                        touched += 1
                else:
                    if not plugin.applies_to(issue) or (issue.score or 0.0) < min_score:
                        continue
                    if plugin.fix(dataset, item, ann, issue):
                        issue.state = "fixed"
                        issue.fixed_by = plugin.name
                        touched += 1
            except (LabelerError, OSError, ValueError) as err:
                summary.failed.append(f"{item.label_path}: {plugin.name}: {err}")
            except KeyboardInterrupt:
                raise
            except Exception as err:  # noqa: BLE001 - plugin code may raise anything
                # The annotation may be half-edited: this image is not saved, the run goes on.
                summary.failed.append(f"{item.label_path}: {plugin.name} failed: {type(err).__name__}: {err}")
                broken = True
                break
        if not touched or broken:
            continue
        summary.processed += 1
        verb = ("to revert" if undo else "to fix") if dry_run else ("undone" if undo else "fixed")
        summary.per_class[verb] += touched
        if dry_run:
            summary.changes.append(
                f"{item.rel}: {touched} issue(s) to {'revert' if undo else 'fix'}"
            )
            summary.changed += 1
            continue
        try:
            if _save_if_changed(dataset, item, ann, before):
                summary.changed += 1
        except LabelFileError as err:
            summary.failed.append(str(err))
    summary.seconds = time.perf_counter() - start
    return summary


def problem_text(err: BaseException, path: Path | None = None) -> str:
    """A one-line ``"<file>: <problem>"`` for any error."""
    if isinstance(err, FileProblem):
        return str(err)
    where = f"{path}: " if path is not None else ""
    return f"{where}{type(err).__name__}: {err}"
