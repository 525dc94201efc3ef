"""The generic ``suggested_fix`` actions a check can propose, applied and reverted.

A check stores a machine-applicable fix in :attr:`labeler.model.Issue.suggested_fix`:

- ``{"action": "relabel", "label": NEW, "from": OLD}``: the shape ``issue.shape_index`` (or,
  without one, the image-level label) becomes ``NEW``. ``"from"`` is the label the check
  judged; when the file no longer has it there (a person edited the shape since), the fix is
  refused instead of relabelling the wrong thing.
- ``{"action": "exclude", "reason": ...}``: the image is kept out of exports.
- ``{"action": "set_text", "text": ...}``: the OCR text of shape ``issue.shape_index``.
- ``{"action": "add_suggestion", "label": L, "box": [x1, y1, x2, y2], "score": S}``: a
  rectangle is added as a machine suggestion (review ``suggested``, with ``score`` and the
  issue's ``source``) for a person to accept or reject; undo removes it while it is still an
  unreviewed suggestion.
- ``{"action": "exclude_shape", "from": L, "fingerprint": F}``: shape ``issue.shape_index``
  is marked rejected (kept in the file, at the same index, but left out of exports, training
  and the canvas); undo restores its review state.
- ``{"action": "replace_box", "box": [x1, y1, x2, y2], "fingerprint": F}``: shape
  ``issue.shape_index`` becomes that rectangle; its old type, points and mask are kept in
  ``issue.undo``.

``fingerprint`` (:meth:`labeler.model.Shape.fingerprint`) is the shape as the check judged
it: a shape edited since is not touched (the fix is refused), as a relabel's ``"from"``.

:func:`apply_suggested_fix` edits an annotation in place and stores in ``issue.undo`` what
:func:`undo_suggested_fix` needs. Both raise :class:`FixError` (with a sentence saying why)
when the annotation is not in the state the fix expects. The ``relabel`` and
``detection_errors`` fixer plugins and the GUI's F key use these functions.
"""

from __future__ import annotations

from typing import Any

from labeler.errors import LabelerError
from labeler.model import Annotation, ImageLabel, Issue, Shape, ShapeMeta, Source

#: Actions :func:`apply_suggested_fix` knows.
ACTIONS = ("relabel", "exclude", "set_text", "add_suggestion", "exclude_shape", "replace_box")


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


def _fix_box(issue: Issue) -> tuple[float, float, float, float]:
    box = (issue.suggested_fix or {}).get("box")
    try:
        x1, y1, x2, y2 = (float(v) for v in box)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise FixError(f"{issue.kind} issue proposes a box {box!r}, not [x1, y1, x2, y2]") from None
    if not (x1 <= x2 and y1 <= y2):
        raise FixError(f"{issue.kind} issue proposes an inverted box {box!r}")
    return x1, y1, x2, y2


def _judged_shape(ann: Annotation, issue: Issue) -> Shape:
    """The issue's shape, refused when it changed since the check judged it."""
    shape = _shape(ann, issue)
    fix = issue.suggested_fix or {}
    old = fix.get("from")
    if old is not None and shape.label != old:
        raise FixError(f"shape {issue.shape_index} is now {shape.label!r}, not {old!r} as when it was "
                       "checked: not changed (run the check again)")
    made = fix.get("fingerprint")
    if made is not None and shape.fingerprint() != made:
        raise FixError(f"shape {issue.shape_index} ({shape.label!r}) was edited since the check: "
                       "not changed (run the check again)")
    return shape


def _fmt_box(box: object) -> str:
    try:
        return "[" + ", ".join(f"{float(v):.0f}" for v in box) + "]"  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return repr(box)


def _apply_shape_action(ann: Annotation, issue: Issue, action: str) -> bool:
    fix = issue.suggested_fix or {}
    if action == "add_suggestion":
        label = str(fix.get("label") or "").strip()
        if not label:
            raise FixError(f"{issue.kind} issue proposes a box without a label")
        x1, y1, x2, y2 = _fix_box(issue)
        source = Source.model_validate(fix["source"]) if isinstance(fix.get("source"), dict) else issue.source
        score = fix.get("score")
        shape = Shape(
            label=label, points=[(x1, y1), (x2, y2)], shape_type="rectangle",
            labeler=ShapeMeta(score=float(score) if score is not None else None, source=source,
                              review="suggested"),
        )
        shape.seal()
        ann.shapes.append(shape)
        issue.undo = {"fingerprint": shape.fingerprint()}
        return True
    shape = _judged_shape(ann, issue)
    if action == "exclude_shape":
        issue.undo = {"review": shape.review, "new": shape.fingerprint()}
        if shape.review == "rejected":
            return False
        shape.set_review("rejected")
        return True
    # replace_box
    x1, y1, x2, y2 = _fix_box(issue)
    issue.undo = {"points": [list(p) for p in shape.points], "shape_type": shape.shape_type,
                  "mask": shape.mask}
    shape.points = [(x1, y1), (x2, y2)]
    shape.shape_type = "rectangle"
    shape.mask = None
    issue.undo["new"] = shape.fingerprint()
    return True


def _undo_shape_action(ann: Annotation, issue: Issue, action: str, before: dict[str, Any]) -> bool:
    if action == "add_suggestion":
        made = before.get("fingerprint")
        hits = [i for i, s in enumerate(ann.shapes) if s.fingerprint() == made]
        if not hits:
            return True  # already gone (rejected or deleted by a person): nothing to remove
        shape = ann.shapes[hits[-1]]
        if not shape.is_suggestion:
            raise FixError(f"the suggested {shape.label!r} box was accepted since: not removed")
        del ann.shapes[hits[-1]]
        return True
    if "new" not in before:
        return False
    shape = _shape(ann, issue)
    if shape.fingerprint() != before["new"]:
        raise FixError(f"shape {issue.shape_index} ({shape.label!r}) was edited since the fix: not reverted")
    if action == "exclude_shape":
        shape.set_review(before.get("review"))
        if shape.meta is not None and not shape.meta.model_dump(exclude_none=True):
            shape.meta = None  # a person's shape had no labeler block before
        return True
    shape.points = [(float(x), float(y)) for x, y in before["points"]]
    shape.shape_type = str(before["shape_type"])
    shape.mask = before.get("mask")
    return True


def apply_suggested_fix(ann: Annotation, issue: Issue) -> bool:
    """Apply ``issue.suggested_fix`` to ``ann``; True when something changed."""
    fix = issue.suggested_fix or {}
    action = fix_action(issue)
    if action in ("add_suggestion", "exclude_shape", "replace_box"):
        return _apply_shape_action(ann, issue, action)
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
    if action in ("add_suggestion", "exclude_shape", "replace_box"):
        return _undo_shape_action(ann, issue, action, before)
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
    i = issue.shape_index
    current_shape = ann.shapes[i] if i is not None and 0 <= i < len(ann.shapes) else None
    if action == "add_suggestion":
        box = f"{fix.get('label')!r} {_fmt_box(fix.get('box'))}"
        if undo:
            return f"{where}suggested box {box} -> (removed)"
        score = fix.get("score")
        return f"{where}(no box) -> suggested box {box}" + (f" (score {float(score):.2f})" if score is not None else "")
    if action == "exclude_shape":
        label = current_shape.label if current_shape is not None else "?"
        if undo:
            return f"{where}shape {i} {label!r} excluded -> {before.get('review') or 'kept'}"
        return f"{where}shape {i} {label!r} kept -> excluded (review 'rejected')"
    if action == "replace_box":
        label = current_shape.label if current_shape is not None else "?"
        now = _fmt_box(current_shape.bbox()) if current_shape is not None and current_shape.points else "?"
        if undo:
            return f"{where}shape {i} {label!r} box {now} -> {before.get('shape_type')} {_fmt_box(_bbox_of(before.get('points')))}"
        return f"{where}shape {i} {label!r} box {now} -> {_fmt_box(fix.get('box'))}"
    other = ", ".join(f"{k}={v}" for k, v in fix.items() if k != "action")
    verb = "undo" if undo else str(fix.get("action") or "fix")
    return f"{where}{verb} {other}".rstrip()


def _bbox_of(points: object) -> list[float]:
    try:
        xs = [float(p[0]) for p in points]  # type: ignore[union-attr,index]
        ys = [float(p[1]) for p in points]  # type: ignore[union-attr,index]
        return [min(xs), min(ys), max(xs), max(ys)]
    except (TypeError, ValueError, IndexError):
        return []
