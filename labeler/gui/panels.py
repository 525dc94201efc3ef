"""Side panels: the shapes of the image, the classes (image-level labels), review and issues.

Panels render the open :class:`~labeler.gui.document.Document` and emit what the user asked
for; the window turns requests into document edits (undo stays in the model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImageReader, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from labeler.editing.view_state import Visibility
from labeler.gui.document import Document
from labeler.gui.label_dialog import color_icon
from labeler.model import Issue, Shape


def shape_text(shape: Shape) -> str:
    """One line describing a shape in lists."""
    text = shape.label
    if shape.text:
        text += f" “{shape.text}”"
    if shape.is_suggestion:
        src = shape.source.plugin if shape.source else "?"
        score = f" {shape.score:.2f}" if shape.score is not None else ""
        text += f"   [suggested{score} · {src}]"
    elif shape.review == "accepted":
        text += "   [accepted]"
    return text


def issue_text(issue: Issue) -> str:
    score = f" {issue.score:.2f}" if issue.score is not None else ""
    fix = issue.suggested_fix or {}
    action = f" → {fix.get('action')}" if fix.get("action") else ""
    if fix.get("label"):
        action += f" {fix['label']}"
    src = f" ({issue.source.plugin})" if issue.source else ""
    return f"{issue.kind}{score}{action}{src}\n{issue.detail}".rstrip()


class PlaceholderList(QListWidget):
    """A list that says what would be there when it is empty (instead of a blank box)."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.placeholder = placeholder

    def paintEvent(self, event: Any) -> None:  # noqa: N802
        super().paintEvent(event)
        if self.count() == 0 and self.placeholder:
            p = QPainter(self.viewport())
            p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            p.drawText(self.viewport().rect().adjusted(8, 8, -8, -8),
                       int(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap),
                       self.placeholder)
            p.end()


class ShapeListPanel(PlaceholderList):
    """The shapes of the image (labelme's "Polygon Labels"), selection synced with the canvas."""

    selectionRequested = Signal(list)
    editRequested = Signal(int)
    visibilityToggled = Signal(int, bool)  # shape index, shown (its checkbox)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("No shapes on this image yet: draw one (Ctrl+R rectangle, Ctrl+N polygon…)", parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self._updating = False
        self.itemSelectionChanged.connect(self._selection)
        self.itemDoubleClicked.connect(lambda it: self.editRequested.emit(it.data(Qt.ItemDataRole.UserRole)))
        #: Which shapes are shown (the editor view's); each row has a checkbox when set.
        self.visibility: Visibility | None = None
        self.itemChanged.connect(self._checked)

    def show_document(self, doc: Document | None, selected: list[int]) -> None:
        self._updating = True
        self.clear()
        if doc is not None:
            for i, s in enumerate(doc.shapes):
                if s.review == "rejected":
                    continue
                it = QListWidgetItem(color_icon(s.label), shape_text(s), self)
                it.setData(Qt.ItemDataRole.UserRole, i)
                if self.visibility is not None:
                    it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    it.setCheckState(Qt.CheckState.Checked if self.visibility.shows(i, s) else Qt.CheckState.Unchecked)
                if s.is_suggestion:
                    f = it.font()
                    f.setItalic(True)
                    it.setFont(f)
                it.setSelected(i in selected)
        self._updating = False

    def select_rows(self, selected: list[int]) -> None:
        self._updating = True
        for k in range(self.count()):
            it = self.item(k)
            it.setSelected(it.data(Qt.ItemDataRole.UserRole) in selected)
        self._updating = False

    def _checked(self, it: QListWidgetItem) -> None:
        if not self._updating and self.visibility is not None:
            self.visibilityToggled.emit(it.data(Qt.ItemDataRole.UserRole), it.checkState() == Qt.CheckState.Checked)

    def _selection(self) -> None:
        if not self._updating:
            self.selectionRequested.emit(sorted(it.data(Qt.ItemDataRole.UserRole) for it in self.selectedItems()))


class ClassPanel(PlaceholderList):
    """The dataset's classes; checked ones are this image's image-level labels (keys 1-9)."""

    toggled = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("No classes yet: they appear as the dataset's labels are read", parent)
        self._updating = False
        self.itemChanged.connect(self._changed)

    def show_classes(self, classes: list[str], doc: Document | None) -> None:
        self._updating = True
        self.clear()
        present = set(doc.annotation.image_labels) if doc is not None else set()
        suggested = {lab.label: lab for lab in doc.annotation.meta.image_labels
                     if lab.review == "suggested"} if doc is not None else {}
        for k, name in enumerate(classes):
            key = f"{k + 1}  " if k < 9 else "    "
            extra = ""
            if name in suggested and suggested[name].score is not None:
                extra = f"   [suggested {suggested[name].score:.2f}]"
            elif name in suggested:
                extra = "   [suggested]"
            it = QListWidgetItem(color_icon(name), f"{key}{name}{extra}", self)
            it.setData(Qt.ItemDataRole.UserRole, name)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Checked if name in present else Qt.CheckState.Unchecked)
        self._updating = False

    def _changed(self, it: QListWidgetItem) -> None:
        if not self._updating:
            self.toggled.emit(it.data(Qt.ItemDataRole.UserRole))


class ReviewPanel(QWidget):
    """Suggestions and issues of the open image, with accept/reject/fix buttons."""

    acceptRequested = Signal()
    rejectRequested = Signal()
    acceptAboveRequested = Signal(float)
    nextRequested = Signal()
    reviewedToggled = Signal(bool)
    suggestionSelected = Signal(int)
    fixRequested = Signal()
    dismissRequested = Signal()
    #: the issue now shown (or None): the canvas draws the box it proposes, if any
    issueShown = Signal(object)
    openRequested = Signal(str)  # rel of a related image (duplicate groups)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._updating = False
        self.summary = QLabel("No image")
        self.summary.setWordWrap(True)
        self.suggestions = PlaceholderList("No suggestions on this image")
        self.suggestions.setMinimumHeight(60)
        self.suggestions.currentRowChanged.connect(self._suggestion_row)
        self.accept_btn = QPushButton("Accept (Y)")
        self.reject_btn = QPushButton("Reject (X)")
        self.accept_btn.clicked.connect(self.acceptRequested)
        self.reject_btn.clicked.connect(self.rejectRequested)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(0.5)
        self.threshold.setPrefix("≥ ")
        self.above_btn = QPushButton("Accept all (Shift+Y)")
        self.above_btn.clicked.connect(lambda: self.acceptAboveRequested.emit(self.threshold.value()))
        self.next_btn = QPushButton("Next to review (N)")
        self.next_btn.clicked.connect(self.nextRequested)
        self.reviewed = QCheckBox("Image reviewed (Ctrl+Enter)")
        self.reviewed.toggled.connect(lambda v: None if self._updating else self.reviewedToggled.emit(v))
        self.issues = PlaceholderList("No open issues on this image")
        self.issues.setMinimumHeight(60)
        self.issues.setWordWrap(True)
        self.issues.currentRowChanged.connect(lambda _r: None if self._updating else self._show_related())
        self.fix_btn = QPushButton("Apply fix (F)")
        self.dismiss_btn = QPushButton("Dismiss (Shift+F)")
        self.fix_btn.clicked.connect(self.fixRequested)
        self.dismiss_btn.clicked.connect(self.dismissRequested)
        self.related = QWidget()
        self.related_layout = QHBoxLayout(self.related)
        self.related_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.related)
        scroll.setFixedHeight(150)
        self.related_scroll = scroll

        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(QLabel("<b>Suggestions</b>"))
        lay.addWidget(self.suggestions, 2)
        row = QHBoxLayout()
        row.addWidget(self.accept_btn)
        row.addWidget(self.reject_btn)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.threshold)
        row.addWidget(self.above_btn)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.next_btn)
        row.addWidget(self.reviewed)
        lay.addLayout(row)
        lay.addWidget(QLabel("<b>Issues</b>"))
        lay.addWidget(self.issues, 2)
        row = QHBoxLayout()
        row.addWidget(self.fix_btn)
        row.addWidget(self.dismiss_btn)
        lay.addLayout(row)
        lay.addWidget(scroll)
        scroll.hide()
        self._rows: list[int] = []  # suggestion row -> shape index
        self._issue_rows: list[int] = []
        self._doc: Document | None = None

    # -- content -----------------------------------------------------------------------------
    def show_document(self, doc: Document | None) -> None:
        self._updating = True
        self._doc = doc
        keep_issue = self.issues.currentRow()
        self._rows = []  # first: clearing the lists emits row changes that read these
        self._issue_rows = []
        self.suggestions.clear()
        self.issues.clear()
        self.reviewed.setEnabled(doc is not None)
        if doc is None:  # nothing of the previous image stays: its buttons, tick and duplicates
            self.summary.setText("No image")
            for w in (self.accept_btn, self.reject_btn, self.above_btn, self.fix_btn, self.dismiss_btn):
                w.setEnabled(False)
            self.reviewed.setChecked(False)
            self._updating = False
            self._show_related()
            return
        ann = doc.annotation
        for i, s in enumerate(ann.shapes):
            if s.is_suggestion:
                it = QListWidgetItem(color_icon(s.label), shape_text(s), self.suggestions)
                it.setData(Qt.ItemDataRole.UserRole, i)
                self._rows.append(i)
        for lab in ann.meta.image_labels:
            if lab.review == "suggested":
                score = f" {lab.score:.2f}" if lab.score is not None else ""
                it = QListWidgetItem(color_icon(lab.label), f"image: {lab.label}{score}", self.suggestions)
                it.setData(Qt.ItemDataRole.UserRole, f"image:{lab.label}")
                self._rows.append(-1)
        for k, issue in enumerate(ann.meta.issues):
            if issue.state == "open":
                QListWidgetItem(issue_text(issue), self.issues)
                self._issue_rows.append(k)
        n_s, n_i = len(self._rows), len(self._issue_rows)
        self.summary.setText(
            f"{n_s} suggestion(s) to review, {n_i} open issue(s)"
            + (" — reviewed ✓" if ann.meta.reviewed else "")
            + (" — excluded from export" if ann.meta.exclude else ""))
        self.reviewed.setChecked(ann.meta.reviewed)
        for w in (self.accept_btn, self.reject_btn, self.above_btn):
            w.setEnabled(n_s > 0)
        for w in (self.fix_btn, self.dismiss_btn):
            w.setEnabled(n_i > 0)
        if n_i:
            self.issues.setCurrentRow(min(max(keep_issue, 0), n_i - 1))
        self._updating = False
        self._show_related()

    def select_shape(self, index: int | None) -> None:
        """Highlight the suggestion row of shape ``index`` (from the canvas selection)."""
        self._updating = True
        row = self._rows.index(index) if index is not None and index in self._rows else -1
        self.suggestions.setCurrentRow(row)
        self._updating = False

    def current_suggestion(self) -> int | str | None:
        """Shape index, ``"image:<label>"`` for an image-level suggestion, or None."""
        it = self.suggestions.currentItem()
        return it.data(Qt.ItemDataRole.UserRole) if it is not None else None

    def current_issue(self) -> int | None:
        """Index in ``meta.issues`` of the selected open issue (the first one by default)."""
        row = self.issues.currentRow()
        if not self._issue_rows:
            return None
        return self._issue_rows[row if 0 <= row < len(self._issue_rows) else 0]

    def _suggestion_row(self, row: int) -> None:
        if self._updating or not (0 <= row < len(self._rows)) or self._rows[row] < 0:
            return
        self.suggestionSelected.emit(self._rows[row])

    def _show_related(self) -> None:
        """Duplicate groups (issues with related files) show the images side by side."""
        while self.related_layout.count():
            w = self.related_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        k = self.current_issue()
        doc = self._doc
        issues = doc.annotation.meta.issues if doc is not None else []
        self.issueShown.emit(issues[k] if k is not None and k < len(issues) else None)
        if doc is None or k is None or k >= len(issues) or not issues[k].related_files:
            self.related_scroll.hide()
            return
        issue = doc.annotation.meta.issues[k]
        paths = [(doc.item.rel, doc.item.image_path)] + [
            (rel, doc.dataset.root / rel) for rel in issue.related_files[:6]]
        for rel, path in paths:
            self.related_layout.addWidget(self._thumb(rel, path, current=rel == doc.item.rel))
        self.related_layout.addStretch(1)
        self.related_scroll.show()

    def _thumb(self, rel: str, path: Path, current: bool) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(2, 2, 2, 2)
        pic = QPushButton()
        pic.setFlat(True)
        reader = QImageReader(str(path))
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid():
            reader.setScaledSize(size.scaled(QSize(110, 100), Qt.AspectRatioMode.KeepAspectRatio))
        img = reader.read()
        if not img.isNull():
            pm = QPixmap.fromImage(img)
            pic.setIcon(pm)
            pic.setIconSize(pm.size())
        else:
            pic.setText("missing")
        pic.setToolTip(f"Open {rel}")
        pic.clicked.connect(lambda: self.openRequested.emit(rel))
        if current:
            pic.setToolTip(f"{rel} (the open image)")
        name = QLabel(("▶ " if current else "") + Path(rel).name)
        name.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(pic)
        lay.addWidget(name)
        return box
