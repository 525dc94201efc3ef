"""The generic ``suggested_fix`` actions a check can propose, applied and reverted.

A check stores a machine-applicable fix in :attr:`labeler.model.Issue.suggested_fix`:

- ``{"action": "relabel", "label": NEW, "from": OLD}``: the shape ``issue.shape_index`` (or,
  without one, the image-level label) becomes ``NEW``. ``"from"`` is the label the check
  judged; when the file no longer has it there (a person edited the shape since), the fix is
  refused instead of relabelling the wrong thing.
- ``{"action": "exclude", "reason": ...}``: the image is kept out of exports.
- ``{"action": "set_text", "text": ...}``: the OCR text of shape ``issue.shape_index``.

:func:`apply_suggested_fix` edits an annotation in place and stores in ``issue.undo`` what
:func:`undo_suggested_fix` needs. Both raise :class:`FixError` (with a sentence saying why)
when the annotation is not in the state the fix expects. The ``relabel`` fixer plugin and the
GUI's F key use these functions.
"""

from __future__ import annotations

from typing import Any

from labeler.errors import LabelerError
from labeler.model import Annotation, ImageLabel, Issue, ShapeMeta

#: Actions :func:`apply_suggested_fix` knows.
ACTIONS = ("relabel", "exclude", "set_text")


class FixError(LabelerError, ValueError):
    """A suggested fix cannot be applied (or reverted) to the annotation as it is now."""


def fix_action(issue: Issue) -> str | None:
    """The action of the issue's suggested fix (``"text"`` is read as ``"set_text"``)."""
    fix = issue.suggested_fix or {}
    action = fix.get("action")
    if action == "text":
        return "set_text"
    return str(action) if action in ACTIONS else None


def _shape(ann: Annotation, issue: Issue) -> Any:
    i = issue.shape_index
    if i is None or not 0 <= i < len(ann.shapes):
        raise FixError(f"{issue.kind} issue points at shape {i}, and the image has {len(ann.shapes)} shape(s)")
    return ann.shapes[i]


def apply_suggested_fix(ann: Annotation, issue: Issue) -> bool:
    """Apply ``issue.suggested_fix`` to ``ann``; True when something changed."""
    fix = issue.suggested_fix or {}
    action = fix_action(issue)
    if action == "relabel":
        new = str(fix.get("label") or "").strip()
        if not new:
            raise FixError(f"{issue.kind} issue proposes a relabel without a label")
        old = fix.get("from")
        if issue.shape_index is not None:
            shape = _shape(ann, issue)
            if old is not None and shape.label != old:
                raise FixError(
                    f"shape {issue.shape_index} is now {shape.label!r}, not {old!r} as when it was "
                    "checked: not relabelled (run the check again)"
                )
            issue.undo = {"label": shape.label, "new": new}
            if shape.label == new:
                return False
            shape.label = new
            return True
        labels = ann.meta.image_labels
        issue.undo = {"image_labels": [lab.model_dump(mode="json", exclude_none=True) for lab in labels], "new": new}
        if old is not None:
            hits = [lab for lab in labels if lab.label == old and lab.review != "rejected"]
            if not hits:
                raise FixError(f"the image is no longer labelled {old!r}: not relabelled (run the check again)")
            for lab in hits:
                lab.label = new
            return True
        ann.meta.image_labels = [ImageLabel(label=new)]
        return True
    if action == "exclude":
        issue.undo = {"exclude": ann.meta.exclude, "exclude_reason": ann.meta.exclude_reason}
        ann.meta.exclude = True
        ann.meta.exclude_reason = str(fix.get("reason") or issue.kind)
        return True
    if action == "set_text":
        if "text" not in fix:
            raise FixError(f"{issue.kind} issue proposes new text without the text")
        shape = _shape(ann, issue)
        if shape.meta is None:
            shape.meta = ShapeMeta()
        issue.undo = {"text": shape.meta.text}
        shape.meta.text = str(fix["text"])
        return True
    return False


def undo_suggested_fix(ann: Annotation, issue: Issue) -> bool:
    """Revert what :func:`apply_suggested_fix` did (from ``issue.undo``); True when something changed.

    A relabel is reverted only while the shape still carries the label the fix gave it.
    """
    before = issue.undo or {}
    action = fix_action(issue)
    if action == "relabel":
        if "label" in before:
            shape = _shape(ann, issue)
            new = before.get("new", (issue.suggested_fix or {}).get("label"))
            if shape.label != new:
                raise FixError(
                    f"shape {issue.shape_index} is now {shape.label!r}, not {new!r}: edited since the fix, not reverted"
                )
            shape.label = str(before["label"])
            return True
        if "image_labels" in before:
            ann.meta.image_labels = [
                ImageLabel.model_validate(lab) if isinstance(lab, dict) else ImageLabel(label=str(lab))
                for lab in before["image_labels"]
            ]
            return True
        return False
    if action == "exclude":
        ann.meta.exclude = bool(before.get("exclude", False))
        ann.meta.exclude_reason = before.get("exclude_reason")
        return True
    if action == "set_text" and "text" in before:
        shape = _shape(ann, issue)
        if shape.meta is None:
            shape.meta = ShapeMeta()
        shape.meta.text = before["text"]
        return True
    return False


def describe_fix(ann: Annotation, issue: Issue, undo: bool = False) -> str:
    """One line saying what applying (or with ``undo`` reverting) the issue's fix changes:
    ``shape 2 'cat' -> 'dog'``, ``include -> exclude (duplicate)``, ``text 'l0' -> 'lo'``."""
    fix = issue.suggested_fix or {}
    action = fix_action(issue)
    before = issue.undo or {}
    where = f"{issue.kind}: "
    if action == "relabel":
        new = str(fix.get("label") or "")
        if issue.shape_index is not None:
            i = issue.shape_index
            current = ann.shapes[i].label if 0 <= i < len(ann.shapes) else "?"
            if undo:
                return f"{where}shape {i} {current!r} -> {before.get('label')!r}"
            return f"{where}shape {i} {current!r} -> {new!r}"
        current_labels = ", ".join(ann.image_labels) or "(none)"
        if undo:
            old = [lab.get("label") for lab in before.get("image_labels", []) if isinstance(lab, dict)]
            return f"{where}image label {current_labels!r} -> {', '.join(map(str, old)) or '(none)'!r}"
        return f"{where}image label {current_labels!r} -> {new!r}"
    if action == "exclude":
        if undo:
            return f"{where}excluded -> {'excluded' if before.get('exclude') else 'included'}"
        return f"{where}{'excluded' if ann.meta.exclude else 'included'} -> excluded ({fix.get('reason') or issue.kind})"
    if action == "set_text":
        i = issue.shape_index
        current = ann.shapes[i].text if i is not None and 0 <= i < len(ann.shapes) else None
        target = before.get("text") if undo else fix.get("text")
        return f"{where}shape {i} text {current!r} -> {target!r}"
    other = ", ".join(f"{k}={v}" for k, v in fix.items() if k != "action")
    verb = "undo" if undo else str(fix.get("action") or "fix")
    return f"{where}{verb} {other}".rstrip()
