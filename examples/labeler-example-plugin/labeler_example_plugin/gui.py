"""A dock for the desktop labeler: label counts of the image on screen, kept up to date."""

from __future__ import annotations

from collections import Counter
from typing import Any


def count_labels(annotation: Any) -> str:
    """``"cat: 2, dog: 1"`` for an annotation's shapes and image labels (no Qt needed)."""
    counts = Counter(s.label for s in annotation.shapes)
    counts.update(annotation.image_labels)
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no labels"


class LabelCountDock:
    """GUI extension: a dock that shows how many labels of each class the open image has."""

    name = "Example: label counts"

    def create(self, window: Any) -> Any:
        """Build the dock widget; Qt is imported here, never at plugin load."""
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QLabel

        label = QLabel("no image")
        label.setWordWrap(True)

        def refresh() -> None:
            doc = getattr(window, "doc", None)
            label.setText(count_labels(doc.annotation) if doc is not None else "no image")

        timer = QTimer(label)  # parented: stops with the widget
        timer.timeout.connect(refresh)
        timer.start(500)
        refresh()
        label.refresh = refresh  # type: ignore[attr-defined]  # lets tests update at once
        return label
