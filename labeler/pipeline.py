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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from labeler.dataset import Change, Dataset, Item
from labeler.engines.streams import write_behind
from labeler.engines.work import CheckResult, Job, Prediction, failure_text
from labeler.errors import FileProblem, ImageFileError, LabelerError, LabelFileError
from labeler.io.labelfile import annotation_from_bytes, dumps_annotation
from labeler.io.writes import MAX_ATTEMPTS, ConcurrentChangeError, Transaction, read_bytes_or_none
from labeler.model import (
    Annotation,
    ImageLabel,
    Issue,
    ProcessedRecord,
    Source,
    utc_now,
)
from labeler.plugin_api import Autolabeler, Check, Finding, Fixer
from labeler.predictions import Predictions
from labeler.review import (  # noqa: F401 - accept_shape, reject_shape: their old home
    ProgressFn,
    accept_shape,
    mark_fixed,
    mark_unfixed,
    merge_findings,
    merge_suggestions,
    own_suggestions,
    reject_shape,
)
from labeler.timeouts import DEFAULT_TIMEOUT_S, time_limit

if TYPE_CHECKING:
    from labeler.engines import Engine



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
    #: Fixes: the issues the fixer was asked to fix (or undo), changed or not.
    matched_issues: int = 0

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
    timeout: float | None = DEFAULT_TIMEOUT_S,
    engine: Engine | None = None,
) -> RunSummary:
    """Run an autolabeler over ``items`` (default: the whole dataset) and merge its suggestions.

    Images already processed with the same options and model are skipped unless ``redo``: an
    interrupted run resumes where it stopped. Each image's file is written as soon as its batch
    is done, through the dataset's write path: the suggestions are merged onto the file as it
    is at that moment (a person's edit saved during the run is kept). A failing image, or one
    the plugin takes more than ``timeout`` seconds on, is recorded and skipped; the run goes on.

    ``engine`` runs the plugin (default: :class:`~labeler.engines.local.LocalEngine`, in this
    process, pipelined; :class:`~labeler.engines.ray_engine.RayEngine`: a Ray cluster). Whatever
    the engine, this function plans the run and merges and writes every result.
    """
    if engine is None:
        from labeler.engines.local import LocalEngine

        engine = LocalEngine()
    summary = RunSummary(plugin=plugin.name, dry_run=dry_run)
    items = list(items if items is not None else dataset.items)
    summary.total = len(items)
    start = time.perf_counter()
    key = plugin.config_key()
    source = plugin.source()
    done = 0

    def plan() -> Iterator[Job]:
        for item in items:
            if should_stop():
                summary.interrupted = True
                return
            yield _plan_autolabel(dataset, item, plugin.name, key, redo, dry_run)

    def record(answers: list[tuple[Job, Prediction | None]]) -> None:
        nonlocal done
        ready: list[tuple[Job, Predictions]] = []
        for job, preds in answers:
            if job.done:
                summary.skipped_done += 1
            elif job.failure is not None:
                summary.failed.append(job.failure)
            elif isinstance(preds, str):
                summary.failed.append(preds)
            elif preds is not None:
                ready.append((job, preds))
        merged = _apply_predictions(dataset, ready, plugin, key, source, match_iou, summary)
        if on_result is not None:
            for (job, _preds), ann in zip(ready, merged, strict=True):
                if ann is not None:
                    on_result(job.item, ann)
        for job, _preds in answers:
            done += 1
            progress(done, summary.total, job.item.rel)

    try:
        write_behind(
            engine.autolabel(dataset, plugin, plan(), timeout), record, engine.write_depth
        )
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.seconds = time.perf_counter() - start
    return summary


def _plan_autolabel(
    dataset: Dataset, item: Item, plugin: str, key: str, redo: bool, dry_run: bool
) -> Job:
    """Read the item's label file; done when ``plugin`` already processed it with ``key``.
    (``before``, the file's text, only a dry run needs: a real run re-reads under the lock.)"""
    try:
        ann = dataset.load(item)
    except (LabelFileError, ImageFileError, OSError) as err:
        return Job(item, failure=failure_text(err, item))
    before = dumps_annotation(ann) if ann is not None and dry_run else None
    rec = ann.meta.processed.get(plugin) if ann is not None else None
    done = not redo and rec is not None and rec.config == key
    return Job(item, ann, before, done=done)


def _apply_predictions(
    dataset: Dataset,
    answers: list[tuple[Job, Predictions]],
    plugin: Autolabeler,
    key: str,
    source: Source,
    match_iou: float,
    summary: RunSummary,
) -> list[Annotation | None]:
    """Merge each image's predictions onto its file as it is now (the files written together:
    :meth:`Dataset.update_many`); per image the annotation written (or, in a dry run, the one
    that would be), None when the image failed."""
    out: list[Annotation | None] = [None] * len(answers)
    pending: list[tuple[int, Job, Callable[[Annotation | None], Annotation]]] = []
    for n, (job, preds) in enumerate(answers):
        change = _suggestion_change(dataset, job, preds, plugin, key, source, match_iou, summary)
        if change is None:
            continue
        if summary.dry_run:
            ann = change(job.annotation.model_copy(deep=True) if job.annotation else None)
            summary.processed += 1
            _count_suggestions(ann, plugin.name, summary)
            if _would_change(ann, job.before, plugin.name):
                count = ann.meta.processed[plugin.name].count
                summary.changes.append(f"{job.item.rel}: {count} suggestion(s) from {plugin.name}")
                summary.changed += 1
            out[n] = ann
            continue
        pending.append((n, job, change))
    if not pending:
        return out
    kept: dict[int, Annotation] = {}

    def keeping(n: int, change: Callable[[Annotation | None], Annotation]) -> Change:
        def keep(current: Annotation | None) -> Annotation:
            kept[n] = change(current)
            return kept[n]

        return keep

    results = dataset.update_many([(job.item, keeping(n, change)) for n, job, change in pending])
    for (n, job, _change), result in zip(pending, results, strict=True):
        if isinstance(result, (LabelFileError, OSError)):
            summary.failed.append(problem_text(result, job.item.label_path))
            continue
        if isinstance(result, Exception):
            raise result
        summary.changed += int(result)
        summary.processed += 1
        if n in kept:
            _count_suggestions(kept[n], plugin.name, summary)
            out[n] = kept[n]
    return out


def _suggestion_change(
    dataset: Dataset, job: Job, preds: Predictions, plugin: Autolabeler, key: str,
    source: Source, match_iou: float, summary: RunSummary,
) -> Callable[[Annotation | None], Annotation] | None:
    """The change that merges ``preds`` onto an image's annotation (as it is when applied);
    None when the plugin's output cannot be turned into shapes (the image fails)."""
    item = job.item
    try:
        # Plugin output is turned into shapes here, inside this image's isolation.
        shapes = preds.to_shapes(source, prefer=plugin.output_kind())
        labels = [
            ImageLabel(label=str(lab), score=round(float(score), 4), source=source, review="suggested")
            for lab, score in preds.image_labels
        ]
    except Exception as err:  # noqa: BLE001 - hostile plugin output
        summary.failed.append(f"{item.image_path}: {plugin.name} returned unusable output: "
                              f"{type(err).__name__}: {err}")
        return None

    calls = 0

    def change(current: Annotation | None) -> Annotation:
        nonlocal calls
        if current is None:
            current = dataset.new_annotation(item)
        elif current is not job.annotation:
            dataset.check_size(item, current)
        calls += 1  # a second call (the file changed meanwhile) must not share the first's shapes
        merge_suggestions(
            current,
            shapes if calls == 1 else [s.model_copy(deep=True) for s in shapes],
            plugin.name,
            match_iou,
            labels if calls == 1 else [lab.model_copy(deep=True) for lab in labels],
        )
        count = len(own_suggestions(current, plugin.name)[0])
        current.meta.processed[plugin.name] = ProcessedRecord(at=utc_now(), config=key, count=count)
        return current

    return change


def _count_suggestions(ann: Annotation, plugin: str, summary: RunSummary) -> None:
    shapes, labels = own_suggestions(ann, plugin)
    for s in [*shapes, *labels]:
        summary.per_class[s.label] += 1


# -- checks -----------------------------------------------------------------------------------
def run_check(
    dataset: Dataset,
    plugin: Check,
    items: Sequence[Item] | None = None,
    dry_run: bool = False,
    progress: ProgressFn = _no_progress,
    should_stop: Callable[[], bool] = lambda: False,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    engine: Engine | None = None,
) -> tuple[RunSummary, list[Finding]]:
    """Run a check and write its findings into the label files (replacing its earlier ones).

    Each file is written through the dataset's write path: findings are merged onto the file
    as it is then. A file whose shapes a person changed during the run keeps its edit and is
    reported (shape findings would point at the wrong shapes); image-level findings merge onto
    anything. A check that takes more than ``timeout`` seconds on one image (a dataset-wide
    check: per image of the dataset) fails it.

    A per-image check runs on ``engine`` (default: the local one) and each image's findings are
    written as soon as it is checked, so an interrupted run keeps what it did; a dataset-wide
    check sees every image at once and writes at the end (its per-image part, such as
    embeddings, runs on ``engine`` when it uses :meth:`Check.map_batches`).
    """
    summary = RunSummary(plugin=plugin.name, dry_run=dry_run)
    start = time.perf_counter()
    items = list(items if items is not None else dataset.items)
    summary.total = len(items)
    if plugin.scope != "dataset":
        if engine is None:
            from labeler.engines.local import LocalEngine

            engine = LocalEngine()
        findings = _check_images(
            dataset, plugin, items, dry_run, progress, should_stop, timeout, engine, summary
        )
        _count_open(findings, summary)
        summary.seconds = time.perf_counter() - start
        return summary, findings
    plugin.run_engine = engine  # its per-image part (Check.map_batches) runs there
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
        try:
            plugin.skipped_images = []
            with time_limit(timeout * max(1, len(loaded)) if timeout else None):
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
        _record_findings(
            dataset, plugin.name, item, ann, befores.get(item.rel), by_rel.get(item.rel, []),
            summary,
        )
    _count_open(findings, summary)
    summary.seconds = time.perf_counter() - start
    return summary, findings


def _check_images(
    dataset: Dataset, plugin: Check, items: Sequence[Item], dry_run: bool, progress: ProgressFn,
    should_stop: Callable[[], bool], timeout: float | None, engine: Engine, summary: RunSummary,
) -> list[Finding]:
    """A per-image check over ``items`` on ``engine``, each image's findings written as it
    comes back (an image that failed keeps what an earlier run found)."""
    findings: list[Finding] = []
    source: list[Source] = []  # after the engine set the plugin up
    done = 0

    def plan() -> Iterator[Job]:
        for item in items:
            if should_stop():
                summary.interrupted = True
                return
            try:
                # check_image: a label file whose stored size disagrees with its image is
                # reported and left alone (as autolabel and export do), never written into.
                ann = dataset.load(item, check_image=True)
                before = dumps_annotation(ann) if ann is not None else None
                job = Job(item, ann if ann is not None else dataset.new_annotation(item), before)
            except (LabelFileError, ImageFileError) as err:
                job = Job(item, failure=str(err))
            yield job

    def record(answers: list[tuple[Job, CheckResult | None]]) -> None:
        nonlocal done
        for job, result in answers:
            done += 1
            if job.failure is not None or isinstance(result, str):
                summary.failed.append(job.failure or str(result))
            else:
                issues = list(result or [])
                if not source:
                    source.append(plugin.source())
                for issue in issues:
                    if issue.source is None:
                        issue.source = source[0]
                findings.extend(Finding(job.item.rel, i) for i in issues)
                assert job.annotation is not None
                _record_findings(
                    dataset, plugin.name, job.item, job.annotation, job.before, issues, summary
                )
            progress(done, summary.total, job.item.rel)

    try:
        write_behind(engine.check(dataset, plugin, plan(), timeout), record, engine.write_depth)
    except KeyboardInterrupt:
        summary.interrupted = True
    return findings


def _record_findings(
    dataset: Dataset, plugin: str, item: Item, ann: Annotation, before: str | None,
    issues: list[Issue], summary: RunSummary,
) -> None:
    """Merge one checked image's findings into its file (a dry run: count what would change)."""
    summary.processed += 1
    if before is None and not issues:
        return  # never create a label file just to say "nothing found"
    if summary.dry_run:
        merge_findings(ann, plugin, issues)
        if _would_change(ann, before):  # a rerun that finds what is recorded changes nothing
            summary.changed += 1
            summary.changes.append(f"{item.rel}: {len(issues)} issue(s)" if issues
                                   else f"{item.rel}: no issue found now (the earlier ones closed)")
        return
    try:
        if _write_findings(dataset, item, ann, plugin, issues):
            summary.changed += 1
    except (LabelFileError, OSError) as err:
        summary.failed.append(problem_text(err, item.label_path))


def _count_open(findings: list[Finding], summary: RunSummary) -> None:
    for f in findings:  # after merging: fixed and dismissed ones are not open problems
        if f.issue.state == "open":
            summary.per_class[f.issue.kind] += 1


def _shapes_key(ann: Annotation) -> list[tuple[str, str, str]]:
    return [(s.label, s.shape_type, s.fingerprint()) for s in ann.shapes]


def _write_findings(
    dataset: Dataset, item: Item, checked: Annotation, plugin: str, issues: list[Issue]
) -> bool:
    """Merge ``issues`` onto the item's file as it is now; True when it was written."""
    checked_shapes = _shapes_key(checked)
    by_shape = any(i.shape_index is not None for i in issues) or any(
        i.shape_index is not None for i in checked.meta.issues
        if i.source is not None and i.source.plugin == plugin
    )
    attempt: list[Issue] = []

    def change(current: Annotation | None) -> Annotation | None:
        if current is None:
            if not issues:
                return None
            current = dataset.new_annotation(item)
        else:
            dataset.check_size(item, current)
            if by_shape and _shapes_key(current) != checked_shapes:
                raise ConcurrentChangeError(
                    item.label_path,
                    "its shapes changed during the check; left as the person saved it "
                    "(run the check again)",
                )
        attempt[:] = [i.model_copy(deep=True) for i in issues]
        merge_findings(current, plugin, attempt)
        return current

    written = dataset.update(item, change)
    for original, merged in zip(issues, attempt, strict=False):
        original.state = merged.state  # fixed and dismissed ones are not counted as open
    return written


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
    """Apply (or with ``undo`` revert) a fixer's fixes to the open issues it handles.

    Each image is one transaction (:meth:`Dataset.transaction`): the fixer works on the label
    file as it is under the dataset lock, and everything it writes (a rotated image, a kept
    original) is committed together with the label file, or not at all. A dry run describes
    every change as ``old -> new`` and writes nothing.
    """
    summary = RunSummary(plugin=plugin.name, dry_run=dry_run)
    start = time.perf_counter()
    items = list(items if items is not None else dataset.items)
    summary.total = len(items)
    wanted = set(kinds) if kinds else None

    def selected(issue: Issue) -> bool:
        if wanted is not None and issue.kind not in wanted:
            return False
        if undo:
            return issue.state == "fixed" and issue.fixed_by == plugin.name
        return plugin.applies_to(issue) and (issue.score or 0.0) >= min_score

    for n, item in enumerate(items, 1):
        progress(n, len(items), item.rel)
        try:
            if dry_run:
                _fix_dry(dataset, item, plugin, undo, selected, summary)
            else:
                for attempt in range(MAX_ATTEMPTS):
                    # Another program saved the file meanwhile: fix what it saved instead.
                    try:
                        with dataset.transaction() as txn:
                            _fix_item(dataset, item, plugin, undo, selected, summary, txn)
                        break
                    except ConcurrentChangeError:
                        if attempt == MAX_ATTEMPTS - 1:
                            raise
        except _Broken:
            continue
        except (LabelFileError, OSError) as err:
            summary.failed.append(problem_text(err, item.label_path))
    summary.seconds = time.perf_counter() - start
    return summary


class _Broken(Exception):
    """A fixer crashed on this image: its transaction is discarded, the run goes on."""


def _fix_dry(
    dataset: Dataset, item: Item, plugin: Fixer, undo: bool,
    selected: Callable[[Issue], bool], summary: RunSummary,
) -> None:
    ann = dataset.load(item)
    if ann is None:
        return
    lines = [plugin.describe(ann, issue, undo=undo) for issue in ann.meta.issues if selected(issue)]
    summary.matched_issues += len(lines)
    if not lines:
        return
    summary.processed += 1
    summary.changed += 1
    summary.per_class["to revert" if undo else "to fix"] += len(lines)
    summary.changes.extend(f"{item.rel}: {line}" for line in lines)


def _fix_item(
    dataset: Dataset, item: Item, plugin: Fixer, undo: bool,
    selected: Callable[[Issue], bool], summary: RunSummary, txn: Transaction,
) -> None:
    """Fix one image inside its transaction (the dataset lock is held)."""
    dataset.load(item)  # the shared-label-file refusal, and a missing file reads as None
    raw = read_bytes_or_none(item.label_path)
    if raw is None:
        return
    ann = annotation_from_bytes(item.label_path, raw, dataset.root)
    before = dumps_annotation(ann)
    touched = 0
    for index, issue in enumerate(ann.meta.issues):
        if not selected(issue):
            continue
        summary.matched_issues += 1
        mark = txn.savepoint()
        backup = ann.model_copy(deep=True)
        try:
            if undo:
                changed = plugin.undo(dataset, item, ann, issue)
                if changed:
                    mark_unfixed(issue)
            else:
                changed = plugin.fix(dataset, item, ann, issue)
                if changed:
                    mark_fixed(issue, plugin.name)
            touched += bool(changed)
        except (LabelerError, OSError, ValueError) as err:
            # Refused: this issue's staged files and edits are dropped; the others go on.
            txn.rollback_to(mark)
            ann = backup
            issue = ann.meta.issues[index]
            summary.failed.append(f"{item.label_path}: {plugin.name}: {err}")
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - plugin code may raise anything
            summary.failed.append(
                f"{item.label_path}: {plugin.name} failed: {type(err).__name__}: {err}"
            )
            raise _Broken from err  # the transaction is discarded: nothing of it is written
    if not touched:
        txn.rollback_to(0)
        return
    text = dumps_annotation(ann)
    if text != before or txn.ops:
        dataset.save(item, ann, text, expect=raw)
        txn.commit_hooks.append(lambda: _count_fixed(summary, touched, undo))


def _count_fixed(summary: RunSummary, touched: int, undo: bool) -> None:
    summary.processed += 1
    summary.changed += 1
    summary.per_class["undone" if undo else "fixed"] += touched


def problem_text(err: BaseException, path: Path | None = None) -> str:
    """A one-line ``"<file>: <problem>"`` for any error."""
    if isinstance(err, (FileProblem, ConcurrentChangeError)):
        return str(err)
    where = f"{path}: " if path is not None else ""
    return f"{where}{type(err).__name__}: {err}"
