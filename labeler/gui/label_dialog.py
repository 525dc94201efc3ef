"""The label dialog: a name with completion from the dataset's classes, plus OCR text.

Like labelme's: type a few letters (completion suggests known classes), or pick one from the
list, Enter accepts, Esc cancels. The classes list shows each class's colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from labeler.gui.colors import label_color


@dataclass
class LabelAnswer:
    """What the user entered."""

    label: str
    text: str | None = None
    group_id: int | None = None


def color_icon(label: str, size: int = 12) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(label_color(label))
    return QIcon(pm)


class LabelDialog(QDialog):
    """Ask for a label (and OCR text); :meth:`ask` returns a :class:`LabelAnswer` or None."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Label")
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("Enter a label (completion from the dataset's classes)")
        self._model = QStringListModel(self)
        self.completer = QCompleter(self._model, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.edit.setCompleter(self.completer)
        self.text_edit = QLineEdit(self)
        self.text_edit.setPlaceholderText("OCR transcription (optional)")
        self.group = QSpinBox(self)
        self.group.setRange(-1, 999999)
        self.group.setSpecialValueText("none")
        self.group.setValue(-1)
        self.list = QListWidget(self)
        self.list.itemClicked.connect(lambda it: self.edit.setText(it.text()))
        self.list.itemDoubleClicked.connect(lambda it: (self.edit.setText(it.text()), self.accept()))
        self.edit.textEdited.connect(self._filter)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._accept_if_valid)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Text", self.text_edit)
        form.addRow("Group id", self.group)
        lay = QVBoxLayout(self)
        lay.addWidget(self.edit)
        lay.addLayout(form)
        lay.addWidget(self.list)
        lay.addWidget(buttons)
        self.resize(320, 360)

    def set_labels(self, labels: list[str]) -> None:
        """The known classes (completion and the pick list)."""
        self._model.setStringList(labels)
        self.list.clear()
        for lab in labels:
            QListWidgetItem(color_icon(lab), lab, self.list)

    def _filter(self, text: str) -> None:
        t = text.lower()
        for i in range(self.list.count()):
            it = self.list.item(i)
            it.setHidden(bool(t) and t not in it.text().lower())

    def _accept_if_valid(self) -> None:
        if self.edit.text().strip():
            self.accept()

    def ask(self, label: str = "", text: str | None = None, group_id: int | None = None,
            show_text: bool = False) -> LabelAnswer | None:
        """Show the dialog modally; None when cancelled."""
        self.edit.setText(label)
        self.edit.selectAll()
        self._filter("")
        self.text_edit.setText(text or "")
        self.text_edit.setVisible(True)
        self.text_edit.setEnabled(True)
        self.group.setValue(-1 if group_id is None else group_id)
        self.edit.setFocus()
        del show_text  # the text field is always shown: any shape may carry a transcription
        if self.exec() != QDialog.DialogCode.Accepted:
            return None
        return self.answer()

    def answer(self) -> LabelAnswer | None:
        """The current entries (None when the label is empty)."""
        label = self.edit.text().strip()
        if not label:
            return None
        gid = self.group.value()
        return LabelAnswer(label=label, text=self.text_edit.text() or None,
                           group_id=None if gid < 0 else gid)


def ask_conflict(parent: QWidget, doc: Any, state: str) -> str:
    """Ask what to do with a label file that changed on disk since it was opened: "merge"
    (the default button: the person's edits are kept), "overwrite", "reload" or "cancel"."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("File changed on disk")
    box.setText(f"{doc.item.label_path.name} was {state} on disk since you opened it "
                "(another program, or `labeler autolabel`, wrote it).")
    box.setInformativeText(
        "Merge keeps all your edits and adds what was saved meanwhile (new suggestions, "
        "findings, shapes). Overwrite keeps only your version; Reload drops your edits.")
    merge = box.addButton("Merge (keep my edits)", QMessageBox.ButtonRole.AcceptRole)
    over = box.addButton("Overwrite", QMessageBox.ButtonRole.DestructiveRole)
    reload = box.addButton("Reload from disk", QMessageBox.ButtonRole.ResetRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(merge)
    box.exec()
    return {merge: "merge", over: "overwrite", reload: "reload"}.get(box.clickedButton(), "cancel")


def ask_unsaved(parent: QWidget, n: int) -> str:
    """Closing with ``n`` unsaved images (autosave off): "save", "discard" or "cancel"."""
    b = QMessageBox.StandardButton
    ans = QMessageBox.question(parent, "Unsaved changes", f"{n} image(s) have unsaved changes. Save them?",
                               b.Save | b.Discard | b.Cancel)
    return {b.Save: "save", b.Discard: "discard"}.get(ans, "cancel")

