"""``example_exclude``: apply the ``exclude`` fix the example checks suggest, reversibly.

The image file is never touched: the image is only marked ``exclude`` (with the reason) in its
label file, which every exporter honours. The state before the fix is kept in ``issue.undo``.
"""

from __future__ import annotations

from labeler.dataset import Dataset, Item
from labeler.model import Annotation, Issue
from labeler.plugin_api import Fixer


class ExcludeFixer(Fixer):
    """Leave flagged images out of exports (``labeler fix --undo`` puts them back)."""

    name = "example_exclude"
    description = "Exclude images flagged too dark, low-contrast or duplicate from export."
    kinds = ("too_dark", "low_contrast", "duplicate")

    def applies_to(self, issue: Issue) -> bool:
        return super().applies_to(issue) and (issue.suggested_fix or {}).get("action") == "exclude"

    def _holders(self, ann: Annotation, issue: Issue) -> list[Issue]:
        """Other issues this fixer has fixed on the same image (they also want it excluded)."""
        return [
            i
            for i in ann.meta.issues
            if i is not issue and i.state == "fixed" and i.fixed_by == self.name
        ]

    def fix(self, dataset: Dataset, item: Item, annotation: Annotation, issue: Issue) -> bool:
        meta = annotation.meta
        if self._holders(annotation, issue):
            # Already excluded by one of our fixes: that one owns the state to restore.
            issue.undo = {"owner": False}
            return True
        issue.undo = {"owner": True, "exclude": meta.exclude, "exclude_reason": meta.exclude_reason}
        meta.exclude = True
        meta.exclude_reason = str((issue.suggested_fix or {}).get("reason") or issue.kind)
        return True

    def undo(self, dataset: Dataset, item: Item, annotation: Annotation, issue: Issue) -> bool:
        record = issue.undo or {}
        if not record.get("owner"):
            return True  # nothing of ours to revert; the issue just becomes open again
        holders = self._holders(annotation, issue)
        if holders:
            # Another fix still wants the image excluded: hand it what to restore in the end.
            holders[0].undo = dict(record)
            reason = (holders[0].suggested_fix or {}).get("reason")
            annotation.meta.exclude_reason = str(reason or holders[0].kind)
            return True
        annotation.meta.exclude = bool(record.get("exclude", False))
        annotation.meta.exclude_reason = record.get("exclude_reason")
        return True
