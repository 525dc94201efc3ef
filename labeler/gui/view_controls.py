"""labelme's view controls: the Labels dock (how many shapes of each label, a checkbox to hide
a label), the shapes' own checkboxes, the Flags dock (image flags, ``labeler gui --flags``) and
the Brightness/Contrast dialog (View menu, Ctrl+Shift+B).

What is hidden and how bright the image looks is view state (:mod:`labeler.editing.view_state`,
kept in the session's editor view): it is never written to a label file or an image. Image
flags are edits of the document (undoable, saved in the file's top-level ``flags``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QListWidgetItem,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from labeler.editing.flags import flags_for_label
from labeler.editing.session import CurrentChanged, DocumentChanged
from labeler.editing.view_state import ImageAdjust, Visibility, label_counts
from labeler.gui.document import Document
from labeler.gui.label_dialog import color_icon
from labeler.gui.panels import PlaceholderList

_CHECK = {True: Qt.CheckState.Checked, False: Qt.CheckState.Unchecked}


class _CheckList(PlaceholderList):
    """A list of checkable rows, each carrying a name; emits ``toggled(name, checked)``."""

    toggled = Signal(str, bool)

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(placeholder, parent)
        self._updating = False
        self.itemChanged.connect(self._changed)

    def show_rows(self, rows: list[tuple[str, str, bool, bool]]) -> None:
        """Rows of (name, text, checked, with a colour icon)."""
        self._updating = True
        self.clear()
        for name, text, checked, icon in rows:
            it = QListWidgetItem(color_icon(name), text, self) if icon else QListWidgetItem(text, self)
            it.setData(Qt.ItemDataRole.UserRole, name)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(_CHECK[checked])
        self._updating = False

    def row_states(self) -> dict[str, bool]:
        """{name: checked} of every row."""
        return {self.item(k).data(Qt.ItemDataRole.UserRole): self.item(k).checkState() == Qt.CheckState.Checked
                for k in range(self.count())}

    def _changed(self, it: QListWidgetItem) -> None:
        if not self._updating:
            self.toggled.emit(it.data(Qt.ItemDataRole.UserRole), it.checkState() == Qt.CheckState.Checked)


class LabelListPanel(_CheckList):
    """The labels of the open image with their shape counts; unchecked labels are hidden."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("No shapes on this image", parent)

    def show_document(self, doc: Document | None, visibility: Visibility) -> None:
        counts = label_counts(doc.shapes) if doc is not None else {}
        for label in visibility.hidden_labels:  # a hidden label stays listed, to show it again
            counts.setdefault(label, 0)
        self.show_rows([(label, f"{label}   {n}", label not in visibility.hidden_labels, True)
                        for label, n in sorted(counts.items())])


class FlagsPanel(_CheckList):
    """labelme's Flags dock: checkboxes of the whole image (saved in the file's ``flags``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("No image flags: start with labeler gui DIR --flags a,b", parent)


class BrightnessContrastDialog(QDialog):
    """Two sliders (0-300 %) over an :class:`ImageAdjust`; ``changed`` after each move."""

    changed = Signal()

    def __init__(self, adjust: ImageAdjust, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Brightness / Contrast")
        self.adjust = adjust
        self.brightness, self.contrast = self._slider(), self._slider()
        self.brightness_value, self.contrast_value = QLabel(), QLabel()
        form = QFormLayout()
        for name, slider, value in (("Brightness", self.brightness, self.brightness_value),
                                    ("Contrast", self.contrast, self.contrast_value)):
            row = QWidget()
            lay = QVBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(slider)
            lay.addWidget(value)
            form.addRow(name, row)
        note = QLabel("Only how the image is shown: the file is never changed. "
                      "The setting stays for the next images.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Reset | QDialogButtonBox.StandardButton.Close)
        self.reset_button = buttons.button(QDialogButtonBox.StandardButton.Reset)
        self.reset_button.clicked.connect(self.reset)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(note)
        lay.addWidget(buttons)
        self.show_values()
        self.brightness.valueChanged.connect(self._moved)
        self.contrast.valueChanged.connect(self._moved)
        self.resize(360, 0)

    @staticmethod
    def _slider() -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal)
        s.setRange(0, 300)
        s.setPageStep(10)
        return s

    def show_values(self) -> None:
        """Put the sliders where the adjustment is."""
        for slider, factor in ((self.brightness, self.adjust.brightness), (self.contrast, self.adjust.contrast)):
            slider.blockSignals(True)
            slider.setValue(round(factor * 100))
            slider.blockSignals(False)
        self.brightness_value.setText(f"{self.brightness.value()} %")
        self.contrast_value.setText(f"{self.contrast.value()} %")

    def _moved(self) -> None:
        self.adjust.brightness = self.brightness.value() / 100
        self.adjust.contrast = self.contrast.value() / 100
        self.show_values()
        self.changed.emit()

    def reset(self) -> None:
        """Back to the image as it is (100 %, 100 %)."""
        self.adjust.reset()
        self.show_values()
        self.changed.emit()


class ViewControls:
    """Builds the Labels and Flags docks, wires the shapes' checkboxes and the label dialog's
    flags, and owns the Brightness/Contrast dialog (the window's ``brightness_contrast``
    command is this object's method)."""

    def __init__(self, window: Any) -> None:
        self.window = window
        self.session = s = window.session
        self.view = s.view
        self.labels = LabelListPanel()
        self.labels.toggled.connect(self.set_label_visible)
        self.flags = FlagsPanel()
        self.flags.toggled.connect(s.set_image_flag)
        area = Qt.DockWidgetArea.RightDockWidgetArea
        self.labels_dock = window._dock("Labels", self.labels, area)
        self.flags_dock = window._dock("Flags", self.flags, area)
        window.shape_panel.visibility = self.view.visibility
        window.shape_panel.visibilityToggled.connect(self.set_shape_visible)
        window.label_dialog.context = lambda: s.labeling
        window.label_dialog.flags_for = lambda label: flags_for_label(s.label_flags, label)
        self.dialog: BrightnessContrastDialog | None = None
        self._flags_wanted: bool | None = None
        s.subscribe(CurrentChanged, lambda _e: self.refresh())
        s.subscribe(DocumentChanged, lambda _e: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Show the open image's label counts and flags."""
        self.labels.show_document(self.session.doc, self.view.visibility)
        shown = self.session.shown_image_flags() if self.session.doc is not None else {}
        self.flags.show_rows([(name, name, value, False) for name, value in shown.items()])
        wanted = bool(self.session.image_flags or shown)
        if wanted != self._flags_wanted:  # only then: a dock the person closed stays closed
            self._flags_wanted = wanted
            self.flags_dock.setVisible(wanted)

    def set_label_visible(self, label: str, visible: bool) -> None:
        """Show or hide every shape of ``label`` (on this and the next images)."""
        self.view.visibility.set_label_visible(label, visible)
        self._shown_changed()

    def set_shape_visible(self, index: int, visible: bool) -> None:
        """Show or hide one shape of the open image."""
        self.view.visibility.set_shape_visible(index, visible, self.view.shapes)
        self._shown_changed()

    def _shown_changed(self) -> None:
        view, w = self.view, self.window
        if any(not view.is_shown(i) for i in view.selected):  # a hidden shape is not selected
            w.canvas.select([i for i in view.selected if view.is_shown(i)])
        w.shape_panel.show_document(self.session.doc, view.selected)
        self.labels.show_document(self.session.doc, view.visibility)
        w.canvas.update()

    def brightness_contrast(self) -> BrightnessContrastDialog:
        """Open (or raise) the Brightness/Contrast dialog."""
        if self.dialog is None:
            self.dialog = BrightnessContrastDialog(self.view.adjust, self.window)
            self.dialog.changed.connect(self.window.canvas.update)
        self.dialog.show_values()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog
