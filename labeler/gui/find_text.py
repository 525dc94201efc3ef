"""Find by Text: type the names of the objects to find; the ``text_boxes`` plugin (an
open-vocabulary YOLOE / YOLO-World detector) suggests their boxes on the open image or on the
listed images, as any plugin run does (:mod:`labeler.gui.plugin_runs`): suggestions to review.
With "Outline with Segment Anything" ticked it runs ``text_sam`` instead: the same boxes, each
outlined by the ``sam`` plugin (its options remembered from its own form, else its defaults).

The detector and text-encoder files are the ``text_boxes`` options remembered from its form
(Plugins ▸ Autolabel: text_boxes), else its defaults, resolved like every model file
(``$LABELER_MODELS``, ``~/.cache/labeler/models``); a missing file is the run's one error.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QWidget,
)

from labeler.gui.options_dialog import remember_options, remembered_options

#: The plugin Find by Text runs, and the QSettings key of the last names typed.
PLUGIN, CLASSES_SETTING = "text_boxes", "find_text/classes"
#: The plugin run when the boxes are outlined by SAM, and the setting of that choice.
OUTLINE_PLUGIN, OUTLINE_SETTING = "text_sam", "find_text/outline"


class FindTextDialog(QDialog):
    """Names to find (comma-separated) and where: this image or the listed images."""

    def __init__(self, classes: str = "", current_only: bool = True, parent: QWidget | None = None,
                 outline: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find by Text")
        self.names = QLineEdit(classes)
        self.names.setPlaceholderText("person, bus, traffic light")
        self.scope = QComboBox()
        self.scope.addItems(["This image", "The listed images"])
        self.scope.setCurrentIndex(0 if current_only else 1)
        self.outline = QCheckBox("Outline with Segment Anything (polygons, text_sam)")
        self.outline.setChecked(outline)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Find")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Objects to find", self.names)
        form.addRow("Look in", self.scope)
        form.addRow("", self.outline)
        form.addRow(buttons)
        self.resize(440, self.sizeHint().height())

    def ask(self) -> tuple[str, bool, bool] | None:
        """(names, current_only, outline), or None when cancelled or nothing was typed."""
        if self.exec() != QDialog.DialogCode.Accepted or not self.names.text().strip():
            return None
        return self.names.text().strip(), self.scope.currentIndex() == 0, self.outline.isChecked()


class FindByText:
    """The Find by Text action (top of the Plugins menu) and what it runs."""

    def __init__(self, window: Any) -> None:
        self.window = window
        #: Called as ``ask(classes, current_only)``; returns (classes, current_only[, outline])
        #: or None (the dialog by default, its outline box as last time; tests replace it).
        self.ask = lambda classes, current_only: FindTextDialog(
            classes, current_only, window, outline=window.settings.value(OUTLINE_SETTING, False, type=bool)).ask()
        self.action = QAction("Find by &Text…", window)
        self.action.setToolTip("Suggest boxes for objects named in text (the text_boxes plugin: "
                               "an open-vocabulary detector)")
        self.action.triggered.connect(lambda _checked=False: self.run())
        menu = window.plugins_menu
        if menu.actions():
            first = menu.actions()[0]
            menu.insertAction(first, self.action)
            menu.insertSeparator(first)
        else:  # no plugin could be listed: the entry is there all the same
            menu.addAction(self.action)

    def run(self, classes: str | None = None, current_only: bool | None = None, outline: bool | None = None) -> Any:
        """Run ``text_boxes`` (``text_sam`` with ``outline``) for ``classes`` (asked when None)
        on the open image or the listed images; returns the plugin worker, or None when nothing
        started (the reason is shown)."""
        w = self.window
        if w.dataset is None:
            return None
        if classes is None or current_only is None:
            answer = self.ask(str(w.settings.value(CLASSES_SETTING, "") or ""), True if current_only is None else current_only)
            if answer is None:
                return None
            classes, current_only, *rest = answer
            outline = bool(rest[0]) if rest else outline
        outline = bool(outline) if outline is not None else False
        from labeler.plugins import get_registry

        try:
            registry = get_registry()
            boxes = registry.get("autolabelers", PLUGIN).Options.model_validate(
                {**remembered_options(w.settings, "autolabelers", PLUGIN), "classes": classes})
            if outline:
                cls = registry.get("autolabelers", OUTLINE_PLUGIN)
                sam = remembered_options(w.settings, "autolabelers", "sam")
                plugin = cls(cls.Options.model_validate({"text_boxes": boxes.model_dump(mode="json"), "sam": sam}))
            else:
                plugin = registry.get("autolabelers", PLUGIN)(boxes)
        except Exception as err:  # noqa: BLE001 - not installed, bad names: one line for the person
            w.session.error(f"Find by Text: {err}")
            return None
        w.settings.setValue(CLASSES_SETTING, classes)
        w.settings.setValue(OUTLINE_SETTING, outline)
        remember_options(w.settings, "autolabelers", PLUGIN, boxes)
        name = OUTLINE_PLUGIN if outline else PLUGIN
        return w.runs.run_autolabeler(name, current_only=current_only, plugin=plugin)
