"""``relabel``: apply the label a check proposes for a likely mislabeled image or shape.

``clip_outliers`` raises ``mislabel`` (and, with a CLIP model, ``prompt_mismatch``) issues; a
``mislabel`` carries the suggested fix ``{"action": "relabel", "label": NEW, "from": OLD}`` only
when the check's calibrated probability that NEW is the true label reaches its ``fix_threshold``
(0.8), so the default run applies only those. This fixer applies them from the command line, the
way the GUI's F key does one at a time::

    labeler check DIR --plugin clip_outliers
    labeler fix DIR --plugin relabel --kind mislabel --dry-run
    labeler fix DIR --plugin relabel --kind mislabel
    labeler fix DIR --plugin relabel --undo

At that default, on data with 10% of labels flipped, it fixed about half to two thirds of the
wrong labels and broke under 1% of the right ones (``bench/README_checks.md``).

A shape that a person relabelled since the check ran is left alone (the fix names the label it
judged); ``--undo`` reverts only labels nobody changed since. See :mod:`labeler.fixes`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from labeler import hookimpl
from labeler.fixes import fix_action
from labeler.model import Issue
from labeler.plugin_api import SuggestedFixer


class Relabel(SuggestedFixer):
    """Gives shapes and images the label their ``relabel`` suggested fix proposes (reversible)."""

    name = "relabel"
    description = "Apply the labels clip_outliers proposes (only for sure mislabels: P(new label right) >= 0.8)."
    kinds: ClassVar[tuple[str, ...]] = ("mislabel", "prompt_mismatch")

    def applies_to(self, issue: Issue) -> bool:
        """Open issues whose suggested fix is a relabel (any kind listed in ``kinds``)."""
        return issue.state == "open" and issue.kind in self.kinds and fix_action(issue) == "relabel"


@hookimpl
def register_fixers(register: Any) -> None:
    """Provide the ``relabel`` fixer."""
    register(Relabel)
