"""The label dialog: a name with completion from the dataset's classes, plus OCR text.

Like labelme's: type a few letters (completion suggests known classes), or pick one from the
list, Enter accepts, Esc cancels. While the completion list is open, its highlighted entry
(the first one, or the one Up/Down moved to) is what Enter takes; Esc closes the list to keep
what was typed. The classes list shows each class's colour. The dialog stands beside the
shape being labelled, not over it (:func:`labeler.editing.placement.place_beside`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QRect, QStringListModel, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from labeler.editing.flags import shape_attributes
from labeler.editing.placement import place_beside
from labeler.editing.session import LabelAnswer
from labeler.geometry import bounding_box
from labeler.gui.colors import label_color
from labeler.model import Shape

_ICONS: dict[tuple[int, int], QIcon] = {}


def color_icon(label: str, size: int = 12) -> QIcon:
    """A square of the label's colour (one icon per colour and size, made once)."""
    color = label_color(label)
    key = (color.rgba(), size)
    icon = _ICONS.get(key)
    if icon is None:
        pm = QPixmap(size, size)
        pm.fill(color)
        icon = _ICONS[key] = QIcon(pm)
    return icon


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
        # Installed after the completer's own filters, so they see Enter first: in the popup,
        # or in the field (where key events land when the popup does not hold the keyboard).
        self.completer.popup().installEventFilter(self)
        self.edit.installEventFilter(self)
        self.completer.completionModel().modelReset.connect(
            lambda: QTimer.singleShot(0, self.completer, self._highlight_first))
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
        self._build_attributes(form)
        lay = QVBoxLayout(self)
        lay.addWidget(self.edit)
        lay.addLayout(form)
        lay.addWidget(self.list)
        lay.addWidget(buttons)
        self.resize(320, 360)

    # -- labelme's flags and description, X-AnyLabeling's difficult ------------------------------
    def _build_attributes(self, form: QFormLayout) -> None:
        """The rows below the group id: description, difficult, and the label's flags."""
        self._attributes_form = form
        #: The shape whose label is asked (None: a new shape): its flags, description, difficult.
        self.context: Callable[[], Shape | None] = lambda: None
        #: The flags offered for a label (``--labelflags``); none by default.
        self.flags_for: Callable[[str], list[str]] = lambda label: []
        self.description = QPlainTextEdit(self)
        self.description.setPlaceholderText("Description (optional)")
        self.description.setTabChangesFocus(True)
        self.description.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 12)
        self.difficult = QCheckBox("Difficult", self)
        self.difficult.setToolTip("X-AnyLabeling's difficult flag (shape key \"difficult\")")
        self.flags_box = QWidget(self)
        self.flags_layout = QVBoxLayout(self.flags_box)
        self.flags_layout.setContentsMargins(0, 0, 0, 0)
        self.flag_boxes: dict[str, QCheckBox] = {}
        form.addRow("Description", self.description)
        form.addRow("", self.difficult)
        form.addRow("Flags", self.flags_box)
        self.edit.textChanged.connect(lambda text: self._show_flags(text.strip(), self.flags_state()))

    def _show_flags(self, label: str, state: dict[str, bool]) -> None:
        """The checkboxes of the flags offered for ``label`` (same-named ones keep their state)."""
        for box in self.flag_boxes.values():
            self.flags_layout.removeWidget(box)
            box.hide()  # at once: deleteLater waits for the event loop
            box.deleteLater()
        self.flag_boxes = {}
        for name in self.flags_for(label):
            box = QCheckBox(name, self.flags_box)
            box.setChecked(bool(state.get(name, False)))
            self.flags_layout.addWidget(box)
            box.show()  # at once too (a layout shows a new child on the next event loop turn)
            self.flag_boxes[name] = box
        self._attributes_form.setRowVisible(self.flags_box, bool(self.flag_boxes))

    def flags_state(self) -> dict[str, bool]:
        """The flag checkboxes shown now ({flag: checked})."""
        return {name: box.isChecked() for name, box in self.flag_boxes.items()}

    def _show_attributes(self) -> None:
        """Fill the flags, description and difficult of the shape being edited."""
        shape = self.context()
        flags, description, difficult = shape_attributes(shape) if shape is not None else ({}, "", False)
        self.description.setPlainText(description)
        self.difficult.setChecked(difficult)
        self._show_flags(self.edit.text().strip(), flags)

    def set_labels(self, labels: list[str]) -> None:
        """The known classes (completion and the pick list)."""
        self._model.setStringList(labels)
        self.list.clear()
        for lab in labels:
            QListWidgetItem(color_icon(lab), lab, self.list)

    def _highlight_first(self) -> None:
        """Highlight the first completion (what Enter takes) without typing it into the field."""
        popup = self.completer.popup()
        if popup.isVisible() and not popup.currentIndex().isValid() and popup.model().rowCount():
            self.completer.blockSignals(True)  # its "highlighted" would replace the typed text
            popup.setCurrentIndex(popup.model().index(0, 0))
            self.completer.blockSignals(False)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        """Enter in the open completion list takes the highlighted entry and accepts."""
        popup = self.completer.popup()
        if (obj in (popup, self.edit) and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and popup.isVisible()):
            index = popup.currentIndex()
            if not index.isValid() and popup.model().rowCount():
                index = popup.model().index(0, 0)
            popup.hide()
            if index.isValid():
                self.edit.setText(str(index.data()))
            self._accept_if_valid()
            return True
        return super().eventFilter(obj, event)

    def _filter(self, text: str) -> None:
        t = text.lower()
        for i in range(self.list.count()):
            it = self.list.item(i)
            it.setHidden(bool(t) and t not in it.text().lower())

    def _accept_if_valid(self) -> None:
        if self.edit.text().strip():
            self.accept()

    def ask(self, label: str = "", text: str | None = None, group_id: int | None = None,
            show_text: bool = False, near: QRect | None = None) -> LabelAnswer | None:
        """Show the dialog modally (beside ``near``, the shape's rectangle on screen, when
        given); None when cancelled."""
        self.edit.setText(label)
        self.edit.selectAll()
        self._filter("")
        self.text_edit.setText(text or "")
        self.text_edit.setVisible(True)
        self.text_edit.setEnabled(True)
        self.group.setValue(-1 if group_id is None else group_id)
        self._show_attributes()
        self.edit.setFocus()
        del show_text  # the text field is always shown: any shape may carry a transcription
        if near is not None:
            self.place_beside(near)
        if self.exec() != QDialog.DialogCode.Accepted:
            return None
        return self.answer()

    def place_beside(self, near: QRect) -> None:
        """Move the dialog next to ``near`` (global coordinates), inside that screen."""
        screen = QGuiApplication.screenAt(near.center()) or self.screen()
        area = screen.availableGeometry()
        frame, hint = self.frameGeometry(), self.sizeHint()  # not laid out yet the first time
        x, y = place_beside((near.x(), near.y(), near.width(), near.height()),
                            (max(frame.width(), self.width(), hint.width()),
                             max(frame.height(), self.height(), hint.height())),
                            (area.x(), area.y(), area.width(), area.height()))
        self.move(x, y)

    def answer(self) -> LabelAnswer | None:
        """The current entries (None when the label is empty)."""
        label = self.edit.text().strip()
        if not label:
            return None
        gid = self.group.value()
        return LabelAnswer(label=label, text=self.text_edit.text() or None,
                           group_id=None if gid < 0 else gid, flags=self.flags_state(),
                           description=self.description.toPlainText(), difficult=self.difficult.isChecked())


def on_screen(canvas: QWidget, points: list[tuple[float, float]] | None) -> QRect | None:
    """The rectangle (global coordinates) around ``points``, image coordinates of ``canvas``
    (which maps them with ``to_widget``); None without points."""
    if not points:
        return None
    x1, y1, x2, y2 = bounding_box(points)
    a = canvas.mapToGlobal(canvas.to_widget(x1, y1).toPoint())  # type: ignore[attr-defined]
    b = canvas.mapToGlobal(canvas.to_widget(x2, y2).toPoint())  # type: ignore[attr-defined]
    return QRect(a, b).normalized()


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

