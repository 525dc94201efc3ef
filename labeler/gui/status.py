"""Per-image status for the file list, read cheaply from the label file (no Qt, no pydantic).

Validating every file with pydantic would take minutes on a 100,000-image folder; the file list
only needs a few facts, which parsing the JSON gives (with the same checks for hostile JSON as
loading: :func:`labeler.io.labelfile.parse_json_bytes`). Whether a shape is still an unreviewed
suggestion is the model's rule, asked of the few shapes marked "suggested".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labeler.io.labelfile import parse_json_bytes
from labeler.model import Annotation, Shape

#: Status names, in the order the filter menu shows them.
STATUSES = ("unlabeled", "labeled", "suggestions", "issues", "reviewed", "excluded", "error")


@dataclass(frozen=True)
class ItemStatus:
    """What the file list shows and filters on for one image."""

    labeled: bool = False
    suggestions: int = 0
    issues: int = 0
    reviewed: bool = False
    excluded: bool = False
    error: str = ""
    labels: frozenset[str] = field(default_factory=frozenset)
    issue_kinds: frozenset[str] = field(default_factory=frozenset)

    @property
    def needs_review(self) -> bool:
        """Suggestions or open issues wait for a person."""
        return bool(self.suggestions or self.issues) and not self.reviewed

    @property
    def kind(self) -> str:
        """The one status the list's icon shows (most urgent first)."""
        if self.error:
            return "error"
        if self.issues:
            return "issues"
        if self.suggestions:
            return "suggestions"
        if self.reviewed:
            return "reviewed"
        if self.excluded:
            return "excluded"
        return "labeled" if self.labeled else "unlabeled"

    def matches(self, status: str) -> bool:
        """Whether the image belongs under the filter ``status`` (one of :data:`STATUSES`)."""
        return {
            "unlabeled": not self.labeled and not self.error,
            "labeled": self.labeled,
            "suggestions": self.suggestions > 0,
            "issues": self.issues > 0,
            "reviewed": self.reviewed,
            "excluded": self.excluded,
            "error": bool(self.error),
        }.get(status, True)


UNLABELED = ItemStatus()


def _meta(shape_or_doc: dict[str, Any]) -> dict[str, Any]:
    meta = shape_or_doc.get("labeler")
    return meta if isinstance(meta, dict) else {}


def _is_suggestion(raw: dict[str, Any]) -> bool:
    """The model's rule (:attr:`labeler.model.Shape.is_suggestion`, e.g. a suggestion edited in
    another program counts as accepted), asked only of shapes marked "suggested": few, so the
    list stays fast. A shape the model refuses still counts (the file shows an error on open)."""
    try:
        shape = Shape.model_validate(raw)
    except ValueError:
        return True
    # Read as a loaded file is read (Annotation.mark_loaded: edited since made -> accepted).
    return Annotation(shapes=[shape]).mark_loaded().shapes[0].is_suggestion


def status_from_dict(data: dict[str, Any]) -> ItemStatus:
    """Status of a parsed label file."""
    shapes = data.get("shapes") or []
    meta = _meta(data)
    labels: set[str] = set()
    suggestions = 0
    for s in shapes if isinstance(shapes, list) else []:
        if not isinstance(s, dict):
            continue
        review = _meta(s).get("review")
        if review == "rejected":
            continue
        if review == "suggested" and _is_suggestion(s):
            suggestions += 1
        if isinstance(s.get("label"), str):
            labels.add(s["label"])
    image_labels = meta.get("image_labels") or []
    for lab in image_labels if isinstance(image_labels, list) else []:
        if isinstance(lab, dict) and isinstance(lab.get("label"), str) and lab.get("review") != "rejected":
            labels.add(lab["label"])
            if lab.get("review") == "suggested":
                suggestions += 1
    issues = [i for i in meta.get("issues") or [] if isinstance(i, dict) and i.get("state", "open") == "open"]
    return ItemStatus(
        labeled=bool(labels),
        suggestions=suggestions,
        issues=len(issues),
        reviewed=bool(meta.get("reviewed")),
        excluded=bool(meta.get("exclude")),
        labels=frozenset(labels),
        issue_kinds=frozenset(str(i.get("kind", "")) for i in issues),
    )


def status_of_file(path: Path) -> ItemStatus:
    """Status of one label file (a missing file is "unlabeled"; a bad one is "error")."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return UNLABELED
    except OSError as err:
        return ItemStatus(error=str(err))
    try:
        data = parse_json_bytes(raw)  # refuses what loading the file would refuse
    except ValueError as err:
        return ItemStatus(error=str(err))
    if not isinstance(data, dict):
        return ItemStatus(error="top level is not an object")
    return status_from_dict(data)


def status_of_annotation(ann: Annotation) -> ItemStatus:
    """Status of an annotation held in memory (the open document)."""
    return status_from_dict(ann.to_dict())
