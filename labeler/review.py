"""The review rules: the one place that accepts and rejects machine suggestions.

A suggestion is a shape (or an image-level label) a plugin made, with ``review: suggested``
(see ``docs/format.md``). A person, the GUI or ``labeler review`` settles it:

- **accept**: it becomes a trusted label; score and source are kept;
- **reject**: a shape is removed from ``shapes`` and remembered in ``meta.rejected`` (so no
  plugin suggests the same object again, and labelme never shows it); an image-level label
  stays in ``image_labels`` with ``review: rejected`` (so it is not suggested again either);
- **reviewed**: the image is marked done (``meta.reviewed``), which is what
  ``export --only-reviewed`` and ``train`` look at;
- **relabelled by hand**: a person giving a shape another class settles the open findings
  that questioned its label (:func:`resolve_relabelled`), as the GUI's edit-label does.

Headless review (:func:`review_dataset`) selects suggestions by plugin, label, shape type and
score, writes every file through :meth:`labeler.dataset.Dataset.update` (the change is
applied to the file as it is on disk at that moment), and records what it changed under
``<dataset>/.labeler/review/<timestamp>.json`` so that :func:`undo_review` can revert it.

The merge rules for machine output live here too (:func:`merge_suggestions`,
:func:`merge_findings`): the pipeline, the GUI's documents and the disk merge use them.

This module has no Qt and no CLI: the GUI and ``labeler review`` both call it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from labeler.dataset import Dataset, Item
from labeler.errors import FileProblem, ImageFileError, LabelFileError, near_name_hint
from labeler.geometry import box_iou
from labeler.io.writes import state_dir
from labeler.model import (
    KNOWN_SHAPE_TYPES,
    Annotation,
    ImageLabel,
    Issue,
    RejectedShape,
    Shape,
    ShapeMeta,
)

#: ``progress(done, total, message)``: the one progress callback type of the dataset-wide runs
ProgressFn = Callable[[int, int, str], None]

#: Where review runs record what they changed, inside ``<dataset>/.labeler``.
REVIEW_DIR = "review"
#: Version of the run record's layout.
RECORD_VERSION = 1
#: Score histogram: ten buckets of width 0.1 (the last one includes 1.0).
BUCKETS = tuple(f"{i / 10:.1f}-{(i + 1) / 10:.1f}" for i in range(10))
NO_SCORE = "no score"

Kind = Literal["shape", "image_label", "reviewed"]


def _no_progress(done: int, total: int, message: str = "") -> None:
    return None


# -- the own-unreviewed rule and a fix's state ---------------------------------------------------
def own_unreviewed(item: Shape | ImageLabel, plugin: str) -> bool:
    """Whether ``item`` is ``plugin``'s own suggestion that nobody has reviewed: the only
    shapes and image labels a plugin's new run may replace or count as its output. A
    suggestion a person accepted, edited (in labeler or in another program) or rejected is
    not: it stays theirs."""
    return item.review == "suggested" and item.source is not None and item.source.plugin == plugin


def own_suggestions(ann: Annotation, plugin: str) -> tuple[list[Shape], list[ImageLabel]]:
    """``plugin``'s unreviewed shape and image-label suggestions in ``ann`` (see
    :func:`own_unreviewed`)."""
    return ([s for s in ann.shapes if own_unreviewed(s, plugin)],
            [lab for lab in ann.meta.image_labels if own_unreviewed(lab, plugin)])


def mark_fixed(issue: Issue, by: str) -> None:
    """The state of an issue a fixer (``by``: the plugin's name) has just fixed."""
    issue.state, issue.fixed_by = "fixed", by


def mark_unfixed(issue: Issue) -> None:
    """The state of an issue whose fix was just undone: open again, as before the fix."""
    issue.state, issue.fixed_by, issue.undo = "open", None, None


# -- merge rules (autolabel, check, the GUI) ------------------------------------------------------------------------------
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

    removed = sum(1 for s in ann.shapes if own_unreviewed(s, plugin))
    kept = [s for s in ann.shapes if not own_unreviewed(s, plugin)]
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
        shape.seal()
        kept.append(shape)
        added += 1
    ann.shapes = kept

    labels = ann.meta.image_labels
    own = [lab for lab in labels if own_unreviewed(lab, plugin)]
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


def _issue_key(issue: Issue) -> tuple[object, ...]:
    """What makes a finding the same finding on a rerun: its kind, its shape, the other files
    involved, and a box it proposes (two missing boxes on one image are two findings)."""
    box = (issue.suggested_fix or {}).get("box")
    box_key = tuple(round(float(v), 1) for v in box) if isinstance(box, list | tuple) else None
    return (issue.kind, issue.shape_index, tuple(sorted(issue.related_files)), box_key)


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


def questions_label(issue: Issue) -> bool:
    """True when ``issue`` says its shape carries the wrong class: a ``mislabel`` finding
    (clip_outliers) or any finding whose proposed fix is a relabel (relabel, detection_errors'
    ``swapped_class``)."""
    return issue.kind == "mislabel" or (issue.suggested_fix or {}).get("action") == "relabel"


def resolve_relabelled(ann: Annotation, index: int, old_label: str, by: str = "person") -> int:
    """A person gave shape ``index`` another class than ``old_label``: the open findings that
    questioned its label are settled (state ``fixed``, ``fixed_by`` ``by``; no undo data, so no
    fixer reverts a person's choice). Returns how many were resolved."""
    if not 0 <= index < len(ann.shapes) or ann.shapes[index].label == old_label:
        return 0
    done = 0
    for issue in ann.meta.issues:
        if issue.state == "open" and issue.shape_index == index and questions_label(issue):
            issue.state, issue.fixed_by = "fixed", by
            done += 1
    return done



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


def accept_image_label(ann: Annotation, index: int) -> ImageLabel:
    """Accept an image-level suggestion (score and source are kept)."""
    lab = ann.meta.image_labels[index]
    lab.review = "accepted"
    return lab


def reject_image_label(ann: Annotation, index: int) -> ImageLabel:
    """Reject an image-level suggestion: it stays in the file as ``rejected``, so the merge
    rules never suggest it again and it is never exported."""
    lab = ann.meta.image_labels[index]
    lab.review = "rejected"
    return lab


def is_pending(ann: Annotation) -> bool:
    """True when a shape or image-level label of ``ann`` still waits for review."""
    return any(s.is_suggestion for s in ann.shapes) or any(
        lab.review == "suggested" for lab in ann.meta.image_labels
    )


def mark_reviewed(ann: Annotation) -> bool:
    """Mark the image as reviewed when nothing in it is pending; True when that changed it."""
    if ann.meta.reviewed or is_pending(ann):
        return False
    ann.meta.reviewed = True
    return True


# -- selection --------------------------------------------------------------------------------
def _names(values: Iterable[str] | None) -> frozenset[str] | None:
    """``["a,b", "c"]`` -> {a, b, c}; None or nothing -> None (no narrowing)."""
    if values is None:
        return None
    out = frozenset(v.strip() for value in values for v in value.split(",") if v.strip())
    return out or None


@dataclass(frozen=True)
class Selection:
    """Which suggestions a review step applies to. Every given criterion must hold.

    ``plugins``, ``labels``, ``shape_types``: sets of names (None: any). ``at_least``: score
    >= it; ``below``: score < it. A suggestion without a score matches neither bound. With
    ``shape_types`` given, image-level labels (which have no shape type) are never selected.
    """

    plugins: frozenset[str] | None = None
    labels: frozenset[str] | None = None
    shape_types: frozenset[str] | None = None
    at_least: float | None = None
    below: float | None = None

    @classmethod
    def of(
        cls,
        plugins: Iterable[str] | None = None,
        labels: Iterable[str] | None = None,
        shape_types: Iterable[str] | None = None,
        at_least: float | None = None,
        below: float | None = None,
    ) -> Selection:
        """Build a selection; names may be given repeated or comma-separated."""
        return cls(_names(plugins), _names(labels), _names(shape_types), at_least, below)

    def _common(self, label: str, plugin: str | None, score: float | None) -> bool:
        if self.plugins is not None and plugin not in self.plugins:
            return False
        if self.labels is not None and label not in self.labels:
            return False
        if self.at_least is not None and (score is None or score < self.at_least):
            return False
        return not (self.below is not None and (score is None or score >= self.below))

    def matches_shape(self, shape: Shape) -> bool:
        """True for a pending shape suggestion this selection covers."""
        if not shape.is_suggestion:
            return False
        if self.shape_types is not None and shape.shape_type not in self.shape_types:
            return False
        return self._common(shape.label, _plugin_of(shape.source), shape.score)

    def matches_image_label(self, lab: ImageLabel) -> bool:
        """True for a pending image-level suggestion this selection covers."""
        if lab.review != "suggested" or self.shape_types is not None:
            return False
        return self._common(lab.label, _plugin_of(lab.source), lab.score)


def _plugin_of(source: Any) -> str | None:
    return source.plugin if source is not None else None


def select_shapes(ann: Annotation, selection: Selection) -> list[int]:
    """Indices of the shape suggestions ``selection`` covers."""
    return [i for i, s in enumerate(ann.shapes) if selection.matches_shape(s)]


def select_image_labels(ann: Annotation, selection: Selection) -> list[int]:
    """Indices (in ``meta.image_labels``) of the image-level suggestions ``selection`` covers."""
    return [i for i, lab in enumerate(ann.meta.image_labels) if selection.matches_image_label(lab)]


# -- what a review changes --------------------------------------------------------------------
@dataclass
class ReviewChange:
    """One change a review made to one file; what the run record keeps for undo."""

    kind: Kind
    index: int  # in ``shapes`` / ``meta.image_labels`` of the file before the run
    label: str = ""
    old: str = ""  # review state before ("suggested"; "false" for the reviewed flag)
    new: str = ""
    plugin: str | None = None
    score: float | None = None
    fingerprint: str | None = None  # Shape.fingerprint() of a shape
    shape: dict[str, Any] | None = None  # a rejected shape as it was in the file, to restore

    def describe(self, rel: str) -> str:
        """``img.jpg: shape 3 'cat' 0.91 suggested -> accepted``."""
        if self.kind == "reviewed":
            return f"{rel}: marked reviewed"
        what = "shape" if self.kind == "shape" else "image label"
        score = f" {self.score:.2f}" if self.score is not None else ""
        return f"{rel}: {what} {self.index} {self.label!r}{score} {self.old} -> {self.new}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (run records, ``--json``)."""
        data = {
            "kind": self.kind, "index": self.index, "label": self.label, "old": self.old,
            "new": self.new, "plugin": self.plugin, "score": self.score,
            "fingerprint": self.fingerprint, "shape": self.shape,
        }
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReviewChange:
        """Read one entry of a run record."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def review_annotation(
    ann: Annotation,
    accept: Selection | None = None,
    reject: Selection | None = None,
    reviewed: bool = False,
) -> list[ReviewChange]:
    """Accept what ``accept`` selects, reject what ``reject`` selects, and with ``reviewed``
    mark the image reviewed when nothing is left pending; edits ``ann`` in place.

    A suggestion both selections cover is accepted. Returns the changes, indices as they
    were before (rejected shapes carry their full JSON, to be restored by undo).
    """
    changes: list[ReviewChange] = []
    accepted = set(select_shapes(ann, accept)) if accept is not None else set()
    rejected = set(select_shapes(ann, reject)) - accepted if reject is not None else set()
    as_written = ann.to_dict()["shapes"] if rejected else []
    for i in sorted(accepted | rejected):
        s = ann.shapes[i]
        changes.append(ReviewChange(
            kind="shape", index=i, label=s.label, old="suggested",
            new="accepted" if i in accepted else "rejected", plugin=_plugin_of(s.source),
            score=s.score, fingerprint=s.fingerprint(),
            shape=as_written[i] if i in rejected else None,
        ))
    for i in sorted(accepted):
        accept_shape(ann, i)
    for i in sorted(rejected, reverse=True):
        reject_shape(ann, i)
    labs_ok = set(select_image_labels(ann, accept)) if accept is not None else set()
    labs_no = set(select_image_labels(ann, reject)) - labs_ok if reject is not None else set()
    for i in sorted(labs_ok | labs_no):
        lab = ann.meta.image_labels[i]
        changes.append(ReviewChange(
            kind="image_label", index=i, label=lab.label, old="suggested",
            new="accepted" if i in labs_ok else "rejected", plugin=_plugin_of(lab.source),
            score=lab.score,
        ))
        (accept_image_label if i in labs_ok else reject_image_label)(ann, i)
    if reviewed and mark_reviewed(ann):
        changes.append(ReviewChange(kind="reviewed", index=-1, old="false", new="true"))
    return changes


def undo_annotation(
    ann: Annotation, changes: Sequence[ReviewChange], new_block: bool = False
) -> tuple[int, list[str]]:
    """Revert ``changes`` (one file's part of a run record) on ``ann`` in place.

    Only what is still in the state the run left it is reverted: a shape a person has since
    edited, deleted or restored is left alone. ``new_block``: the run added the file's
    top-level ``"labeler"`` block; it is removed again when nothing is left in it. Returns
    (changes reverted, a description of each change left alone).
    """
    reverted = 0
    left: list[str] = []
    # Rejected shapes first, back at their old places (ascending): then the accepted ones
    # are at their old indices again when nothing else changed.
    for ch in sorted((c for c in changes if c.kind == "shape" and c.new == "rejected"),
                     key=lambda c: c.index):
        at = _find_rejected(ann, ch)
        if at is None or ch.shape is None:
            left.append(f"shape {ch.index} {ch.label!r} is no longer in the rejected list")
            continue
        ann.meta.rejected.pop(at)
        shape = Shape.model_validate(ch.shape)
        shape._from_file = True  # written back with exactly the keys it had
        ann.shapes.insert(min(ch.index, len(ann.shapes)), shape)
        reverted += 1
    for ch in (c for c in changes if c.kind == "shape" and c.new == "accepted"):
        at = _find_shape(ann, ch)
        if at is None:
            left.append(f"shape {ch.index} {ch.label!r} is no longer an accepted, unchanged shape")
            continue
        ann.shapes[at].set_review("suggested")
        reverted += 1
    for ch in (c for c in changes if c.kind == "image_label"):
        at = _find_image_label(ann, ch)
        if at is None:
            left.append(f"image label {ch.label!r} is no longer {ch.new}")
            continue
        ann.meta.image_labels[at].review = ch.old  # type: ignore[assignment]
        reverted += 1
    for _ch in (c for c in changes if c.kind == "reviewed"):
        if ann.meta.reviewed:
            ann.meta.reviewed = False
            reverted += 1
        else:
            left.append("image is no longer marked reviewed")
    if new_block and reverted and not has_image_meta(ann):
        ann.model_fields_set.discard("meta")  # written back without an empty "labeler" block
    return reverted, left


def has_image_meta(ann: Annotation) -> bool:
    """True when the file's top-level ``"labeler"`` block carries any data."""
    return bool(ann.meta.model_dump(exclude_defaults=True))


def _find_rejected(ann: Annotation, ch: ReviewChange) -> int | None:
    """The (last) ``meta.rejected`` entry that is the shape ``ch`` rejected."""
    for i in range(len(ann.meta.rejected) - 1, -1, -1):
        r = ann.meta.rejected[i]
        probe = Shape(label=r.label, shape_type=r.shape_type, points=r.points)
        if probe.fingerprint() == ch.fingerprint and _plugin_of(r.source) == ch.plugin:
            return i
    return None


def _find_shape(ann: Annotation, ch: ReviewChange) -> int | None:
    """The accepted shape ``ch`` accepted: at its index, else the first with its fingerprint."""
    def same(i: int) -> bool:
        s = ann.shapes[i]
        return (s.review == ch.new and s.fingerprint() == ch.fingerprint
                and _plugin_of(s.source) == ch.plugin)

    if 0 <= ch.index < len(ann.shapes) and same(ch.index):
        return ch.index
    return next((i for i in range(len(ann.shapes)) if same(i)), None)


def _find_image_label(ann: Annotation, ch: ReviewChange) -> int | None:
    labels = ann.meta.image_labels

    def same(i: int) -> bool:
        return (labels[i].label == ch.label and labels[i].review == ch.new
                and _plugin_of(labels[i].source) == ch.plugin)

    if 0 <= ch.index < len(labels) and same(ch.index):
        return ch.index
    return next((i for i in range(len(labels)) if same(i)), None)


# -- what is pending --------------------------------------------------------------------------
def score_bucket(score: float | None) -> str:
    """The histogram bucket of a score (``"0.8-0.9"``; 1.0 is in ``"0.9-1.0"``)."""
    if score is None:
        return NO_SCORE
    return BUCKETS[min(9, max(0, int(score * 10)))]


@dataclass
class PendingSummary:
    """Suggestions waiting for review: per plugin, per label, per score bucket, per image."""

    suggestions: int = 0
    per_plugin: Counter[str] = field(default_factory=Counter)
    per_label: Counter[str] = field(default_factory=Counter)
    per_bucket: Counter[str] = field(default_factory=Counter)
    per_image: dict[str, int] = field(default_factory=dict)
    image_labels: int = 0  # how many of ``suggestions`` are image-level labels

    def add(self, rel: str, ann: Annotation, selection: Selection | None = None) -> None:
        """Count the pending suggestions of one image (those ``selection`` covers)."""
        sel = selection or Selection()
        found = [(s.label, _plugin_of(s.source), s.score) for s in ann.shapes
                 if sel.matches_shape(s)]
        labs = [(lab.label, _plugin_of(lab.source), lab.score) for lab in ann.meta.image_labels
                if sel.matches_image_label(lab)]
        for label, plugin, score in found + labs:
            self.per_plugin[plugin or "(unknown)"] += 1
            self.per_label[label] += 1
            self.per_bucket[score_bucket(score)] += 1
        n = len(found) + len(labs)
        if n:
            self.per_image[rel] = n
            self.suggestions += n
            self.image_labels += len(labs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``labeler review --json``)."""
        buckets = {b: self.per_bucket.get(b, 0) for b in BUCKETS}
        if self.per_bucket.get(NO_SCORE):
            buckets[NO_SCORE] = self.per_bucket[NO_SCORE]
        return {
            "suggestions": self.suggestions,
            "image_labels": self.image_labels,
            "images": len(self.per_image),
            "per_plugin": dict(sorted(self.per_plugin.items())),
            "per_label": dict(sorted(self.per_label.items())),
            "score_histogram": buckets,
            "per_image": dict(self.per_image),
        }


def pending_summary(
    dataset: Dataset, selection: Selection | None = None, failed: list[str] | None = None,
    progress: ProgressFn = _no_progress,
) -> PendingSummary:
    """What waits for review in ``dataset`` (narrowed by ``selection``); unreadable files are
    appended to ``failed`` as ``"<file>: <problem>"``."""
    summary = PendingSummary()
    items = dataset.items
    for n, item in enumerate(items, 1):
        progress(n, len(items), item.rel)
        try:
            ann = dataset.load(item)
        except (LabelFileError, ImageFileError) as err:
            if failed is not None:
                failed.append(str(err))
            continue
        if ann is not None:
            summary.add(item.rel, ann, selection)
    return summary


@dataclass
class NameCheck:
    """What :func:`check_names` found: ``refused``, a line per name nothing knows (a typo);
    ``absent``, a line per known name that selects nothing in this dataset."""

    refused: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)


def check_names(
    dataset: Dataset, selection: Selection, known_plugins: Iterable[str] = (),
    progress: ProgressFn = _no_progress,
) -> NameCheck:
    """Check each ``--plugin``, ``--label`` and ``--shape-type`` name of ``selection`` against
    what ``dataset`` has (shapes, image-level labels and rejected shapes, in any review state).

    A name nothing here has is *refused* with its near name: a typo (``--label bal``) would
    select nothing, and an accept or reject run would change nothing without saying why. A
    plugin that is installed (``known_plugins``) but made nothing here, or a shape type labelme
    knows that no shape here has, is *absent*: said, not refused (the line names the plugins
    whose suggestions are here). Files that cannot be read are left to the run that follows
    (it reports them).
    """
    found = NameCheck()
    if not (selection.plugins or selection.labels or selection.shape_types):
        return found
    plugins: set[str] = set()
    labels: set[str] = set()
    types: set[str] = set()
    items = dataset.items
    for n, item in enumerate(items, 1):
        progress(n, len(items), item.rel)
        try:
            ann = dataset.load(item)
        except (LabelFileError, ImageFileError):
            continue
        if ann is None:
            continue
        for s in ann.shapes:
            labels.add(s.label)
            types.add(s.shape_type)
            plugins.add(_plugin_of(s.source) or "")
        for lab in ann.meta.image_labels:
            labels.add(lab.label)
            plugins.add(_plugin_of(lab.source) or "")
        for r in ann.meta.rejected:
            labels.add(r.label)
            types.add(r.shape_type)
            plugins.add(_plugin_of(r.source) or "")
    plugins.discard("")
    here = ", ".join(sorted(plugins)) or "none"
    for option, names, seen, known, refused, absent in (
        ("--plugin", selection.plugins, plugins, set(known_plugins),
         "no suggestion here comes from it and no installed plugin has that name",
         f"no suggestion here comes from it (suggestions here come from: {here})"),
        ("--label", selection.labels, labels, set(),
         "no shape or image-level label here has that class", ""),
        ("--shape-type", selection.shape_types, types, set(KNOWN_SHAPE_TYPES),
         "no shape here has that type and labelme knows no such type", "no shape here has that type"),
    ):
        for name in sorted(names or ()):
            if name in seen:
                continue
            if name in known:
                found.absent.append(f"{option} {name!r}: {absent}")
                continue
            hint = near_name_hint(name, seen | known)
            found.refused.append(f"{option} {name!r}: {refused}" + (f"; {hint}" if hint else ""))
    return found


# -- whole-dataset runs -----------------------------------------------------------------------
@dataclass
class ReviewSummary:
    """What a review (or undo) run did; printed by the CLI."""

    images: int = 0
    files_changed: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # accepted, rejected, reviewed, ...
    changes: list[str] = field(default_factory=list)  # one line per change
    left_alone: list[str] = field(default_factory=list)  # undo: what could not be reverted
    failed: list[str] = field(default_factory=list)  # "<file>: <problem>"
    dry_run: bool = False
    record: Path | None = None
    pending: PendingSummary = field(default_factory=PendingSummary)  # after the run
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json``)."""
        return {
            "images": self.images,
            "files_changed": self.files_changed,
            "counts": dict(sorted(self.counts.items())),
            "changes": self.changes,
            "left_alone": self.left_alone,
            "failed": self.failed,
            "dry_run": self.dry_run,
            "record": str(self.record) if self.record else None,
            "pending": self.pending.to_dict(),
            "seconds": round(self.seconds, 3),
        }


def review_dir(dataset: Dataset) -> Path:
    """``<dataset>/.labeler/review``: one record per review run."""
    return state_dir(dataset.root) / REVIEW_DIR


def _count(summary: ReviewSummary, changes: Sequence[ReviewChange]) -> None:
    for ch in changes:
        summary.counts["marked reviewed" if ch.kind == "reviewed" else ch.new] += 1


def review_dataset(
    dataset: Dataset,
    accept: Selection | None = None,
    reject: Selection | None = None,
    reviewed: bool = False,
    dry_run: bool = False,
    items: Sequence[Item] | None = None,
    progress: ProgressFn = _no_progress,
    before_write: Callable[[Item], None] | None = None,
    command: dict[str, Any] | None = None,
) -> ReviewSummary:
    """Review every image of ``dataset`` (or ``items``) with :func:`review_annotation`.

    Each file is read once to see whether it has anything to change; then the change is
    applied through :meth:`Dataset.update` to the file as it is on disk at that moment (an
    edit saved meanwhile is kept; ``before_write(item)`` is called just before, for tests and
    callers that need a hook there). A file that cannot be read or written is reported and
    skipped; the run goes on. Unless ``dry_run``, what changed is recorded in
    ``.labeler/review/<timestamp>.json`` (``command``: the options, kept in the record).
    """
    start = time.perf_counter()
    summary = ReviewSummary(dry_run=dry_run)
    items = list(items if items is not None else dataset.items)
    summary.images = len(items)
    record: dict[str, Any] = {
        "version": RECORD_VERSION, "at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "command": command or {}, "files": {}, "undone": None,
    }
    path = _new_record_path(dataset)
    checkpoint = 64
    try:
        for n, item in enumerate(items, 1):
            progress(n, len(items), item.rel)
            try:
                ann = dataset.load(item)
            except (LabelFileError, ImageFileError) as err:
                summary.failed.append(str(err))
                continue
            if ann is None:
                continue  # never create a label file to review
            planned = review_annotation(ann, accept, reject, reviewed)
            if dry_run or not planned:
                summary.pending.add(item.rel, ann)
                summary.changes.extend(c.describe(item.rel) for c in planned)
                _count(summary, planned)
                summary.files_changed += bool(planned)
                continue
            if before_write is not None:
                before_write(item)
            try:
                written, done, after, new_block = _review_item(dataset, item, accept, reject, reviewed)
            except (LabelFileError, OSError) as err:
                summary.failed.append(_problem(err, item))
                continue
            if after is not None:
                summary.pending.add(item.rel, after)
            if written and done:
                summary.files_changed += 1
                summary.changes.extend(c.describe(item.rel) for c in done)
                _count(summary, done)
                record["files"][item.rel] = {
                    "changes": [c.to_dict() for c in done], "new_block": new_block}
                if len(record["files"]) >= checkpoint:  # a killed run still leaves a record
                    _write_record(path, record)
                    checkpoint *= 2  # doubling: the rewrites cost O(files) in all
    finally:
        if record["files"] and not dry_run:
            _write_record(path, record)
            summary.record = path
        summary.seconds = time.perf_counter() - start
    return summary


def _review_item(
    dataset: Dataset, item: Item, accept: Selection | None, reject: Selection | None,
    reviewed: bool,
) -> tuple[bool, list[ReviewChange], Annotation | None, bool]:
    """Review one file as it is on disk now: (written, changes, the annotation after, whether
    the file had no top-level ``"labeler"`` block before)."""
    done: list[ReviewChange] = []
    after: list[Annotation] = []
    block: list[bool] = []

    def change(current: Annotation | None) -> Annotation | None:
        # Called again on the new content when another program saves the file meanwhile.
        done[:], after[:], block[:] = [], [], []
        if current is None:
            return None
        block[:] = ["meta" not in current.model_fields_set]
        done[:] = review_annotation(current, accept, reject, reviewed)
        after[:] = [current]
        return current if done else None

    written = dataset.update(item, change)
    return written, done, after[0] if after else None, bool(block and block[0])


def undo_review(
    dataset: Dataset, dry_run: bool = False, progress: ProgressFn = _no_progress
) -> ReviewSummary | None:
    """Revert the last review run that was not undone yet; None when there is none.

    Only shapes still in the state that run left them are reverted; the others are listed
    in ``left_alone``. Files that cannot be read stay in the record, so a later undo retries
    them; once nothing is left the record is marked undone (the next undo reverts the run
    before it).
    """
    start = time.perf_counter()
    found = last_record(dataset)
    if found is None:
        return None
    path, record = found
    summary = ReviewSummary(dry_run=dry_run, record=path)
    files: dict[str, dict[str, Any]] = record.get("files", {})
    summary.images = len(files)
    retry: dict[str, dict[str, Any]] = {}
    by_rel = {it.rel: it for it in dataset.items}
    for n, (rel, entry) in enumerate(sorted(files.items()), 1):
        progress(n, len(files), rel)
        changes = [ReviewChange.from_dict(e) for e in entry.get("changes", [])]
        new_block = bool(entry.get("new_block"))
        item = by_rel.get(rel)
        if item is None:
            summary.left_alone.append(f"{rel}: the image is no longer in the dataset")
            continue
        outcome: list[tuple[int, list[str]]] = []

        def change(current: Annotation | None, changes: list[ReviewChange] = changes,
                   outcome: list[tuple[int, list[str]]] = outcome,
                   new_block: bool = new_block) -> Annotation | None:
            if current is None:
                outcome[:] = [(0, ["the label file is gone"])]
                return None
            outcome[:] = [undo_annotation(current, changes, new_block)]
            return current if outcome[0][0] else None

        try:
            if dry_run:
                ann = dataset.load(item)
                change(ann)
            else:
                dataset.update(item, change)
        except (LabelFileError, OSError) as err:
            summary.failed.append(_problem(err, item))
            retry[rel] = entry
            continue
        reverted, left = outcome[0] if outcome else (0, [])
        summary.left_alone.extend(f"{rel}: {why}" for why in left)
        summary.counts["reverted"] += reverted
        summary.files_changed += bool(reverted)
        if reverted and reverted == len(changes):  # each one, as the run listed it, undone
            summary.changes.extend(f"{c.describe(rel)}: reverted" for c in changes)
        elif reverted:  # some were left alone (listed as such)
            summary.changes.append(f"{rel}: {reverted} of {len(changes)} change(s) reverted")
    if not dry_run:
        record.setdefault("undo_log", []).append({
            "at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "reverted": summary.counts["reverted"], "left_alone": summary.left_alone,
        })
        record["files"] = retry
        if not retry:
            record["undone"] = record["undo_log"][-1]["at"]
        _write_record(path, record)
    summary.seconds = time.perf_counter() - start
    return summary


def last_record(dataset: Dataset) -> tuple[Path, dict[str, Any]] | None:
    """The newest review record not undone yet, with its content (unreadable ones skipped)."""
    folder = review_dir(dataset)
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.json"), reverse=True):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and not record.get("undone") and record.get("files"):
            return path, record
    return None


def _new_record_path(dataset: Dataset) -> Path:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return review_dir(dataset) / f"{stamp}-{os.getpid()}.json"


def _write_record(path: Path, record: dict[str, Any]) -> None:
    from labeler.io.atomic import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def _problem(err: BaseException, item: Item) -> str:
    if isinstance(err, FileProblem):
        return str(err)
    return f"{item.label_path}: {type(err).__name__}: {err}"

