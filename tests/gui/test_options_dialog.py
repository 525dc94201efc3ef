"""The plugin options form: built from the plugin's pydantic Options, validated inline,
remembered per plugin, and the options object handed to the plugin class."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QGroupBox, QLineEdit, QSpinBox

from labeler.gui.options_dialog import PluginOptionsDialog, remembered_options
from labeler.plugin_api import Autolabeler, Sample
from labeler.predictions import Predictions


class Inner(BaseModel):
    depth: int = Field(2, ge=1, le=8, description="How deep")


class DemoOptions(BaseModel):
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="Minimum score to keep a box")
    max_det: int = Field(100, ge=1, description="At most this many boxes")
    use_cls: bool = Field(True, description="Run the angle classifier")
    output: Literal["auto", "rectangle", "polygon"] = Field("auto", description="Shape type")
    label: str = Field("thing", description="Label of the boxes")
    model: Path = Field(Path("model.pt"), description="Checkpoint")
    imgsz: int | None = Field(None, description="Inference size (None: the model's)")
    classes: list[str] | None = Field(None, description="Only these classes")
    stage: Inner = Field(default_factory=Inner)

    @field_validator("label")
    @classmethod
    def _no_spaces(cls, v: str) -> str:
        if " " in v:
            raise ValueError("no spaces in a label")
        return v


class DemoDetector(Autolabeler):
    """Boxes everything (the options decide the label and the score)."""

    name = "demo_det"
    description = "A demonstration detector"
    Options = DemoOptions
    made: list[DemoOptions] = []
    gate: threading.Event | None = None

    def __init__(self, options=None) -> None:  # noqa: ANN001
        super().__init__(options)
        DemoDetector.made.append(self.options)

    def predict(self, batch: Sequence[Sample]) -> list[Predictions]:
        return [Predictions(xyxy=[[2, 2, 30, 30]], class_name=[self.options.label],
                            confidence=[self.options.threshold]) for _ in batch]


def _dialog(qtbot, tmp_path: Path) -> PluginOptionsDialog:  # noqa: ANN001
    settings = QSettings(str(tmp_path / "opts.ini"), QSettings.Format.IniFormat)
    dlg = PluginOptionsDialog(DemoDetector, "autolabelers", settings)
    qtbot.addWidget(dlg)
    return dlg


def test_form_widgets_follow_the_field_types(qtbot, tmp_path: Path) -> None:
    dlg = _dialog(qtbot, tmp_path)
    ed = dlg.form.editors
    kinds = {name: type(e.widget) for name, e in ed.items()}
    assert kinds == {"threshold": QDoubleSpinBox, "max_det": QSpinBox, "use_cls": QCheckBox,
                     "output": QComboBox, "label": QLineEdit, "model": QLineEdit, "imgsz": QLineEdit,
                     "classes": QLineEdit, "stage": QGroupBox}
    # defaults are filled in, bounds come from the constraints, descriptions are tooltips
    assert ed["threshold"].widget.value() == 0.5 and ed["threshold"].widget.maximum() == 1.0
    assert ed["max_det"].widget.minimum() == 1 and ed["use_cls"].widget.isChecked()
    assert [ed["output"].widget.itemText(i) for i in range(3)] == ["auto", "rectangle", "polygon"]
    assert ed["label"].widget.text() == "thing" and ed["model"].widget.text() == "model.pt"
    assert ed["threshold"].widget.toolTip().startswith("Minimum score")
    assert ed["stage"].form.editors["depth"].widget.maximum() == 8
    assert dlg.ok_button.isEnabled()
    opts = dlg.form.validate()[0]
    assert opts == DemoOptions()


def test_invalid_entries_show_inline_and_keep_the_dialog_open(qtbot, tmp_path: Path) -> None:
    dlg = _dialog(qtbot, tmp_path)
    dlg.show()
    ed = dlg.form.editors
    ed["label"].widget.setText("two words")
    ed["imgsz"].widget.setText("big")
    assert not dlg.ok_button.isEnabled()
    assert ed["label"].error.isVisibleTo(dlg) and "no spaces" in ed["label"].error.text()
    assert "integer" in ed["imgsz"].error.text()
    assert not ed["threshold"].error.isVisibleTo(dlg)
    dlg.accept()  # Enter on an invalid form: nothing happens, no exception
    assert dlg.isVisible() and dlg.result() == 0
    ed["label"].widget.setText("word")
    ed["imgsz"].widget.setText("640")
    assert dlg.ok_button.isEnabled() and not ed["label"].error.isVisibleTo(dlg)
    assert dlg.options.imgsz == 640


def test_values_are_remembered_per_plugin(qtbot, tmp_path: Path) -> None:
    dlg = _dialog(qtbot, tmp_path)
    ed = dlg.form.editors

    def answer() -> None:
        ed["threshold"].widget.setValue(0.8)
        ed["output"].widget.setCurrentIndex(2)
        ed["use_cls"].widget.setChecked(False)
        ed["classes"].widget.setText("cat, dog")
        ed["stage"].form.editors["depth"].widget.setValue(5)
        dlg.accept()

    QTimer.singleShot(0, answer)
    opts = dlg.ask()
    assert opts == DemoOptions(threshold=0.8, output="polygon", use_cls=False, classes=["cat", "dog"],
                               stage=Inner(depth=5))
    assert remembered_options(dlg.settings, "autolabelers", "demo_det")["threshold"] == 0.8
    again = PluginOptionsDialog(DemoDetector, "autolabelers", dlg.settings)
    qtbot.addWidget(again)
    assert again.form.validate()[0] == opts  # prefilled with the last values
    assert remembered_options(dlg.settings, "checks", "demo_det") == {}  # per plugin and kind
    again.restore_defaults()
    assert again.form.validate()[0] == DemoOptions()
    QTimer.singleShot(0, again.reject)
    assert again.ask() is None


def test_plugins_menu_runs_the_plugin_with_the_chosen_options(gui, window, gui_dataset: Path, qtbot) -> None:
    gui.open(gui_dataset)
    window.open_rel("d.jpg")
    DemoDetector.made.clear()
    asked: list[tuple[str, type]] = []

    def ask(kind: str, cls: type) -> BaseModel:
        asked.append((kind, cls))
        return DemoOptions(label="zebra", threshold=0.7)

    window.ask_options = ask
    with qtbot.waitSignal(window.pluginFinished, timeout=10000):
        assert window.run_plugin("autolabelers", "demo_det", current_only=True, cls=DemoDetector) is not None
    assert asked == [("autolabelers", DemoDetector)]
    assert DemoDetector.made[-1] == DemoOptions(label="zebra", threshold=0.7)  # cls(options)
    assert [(s.label, s.score) for s in window.doc.shapes] == [("zebra", 0.7)]
    # cancelling the form runs nothing
    window.ask_options = lambda kind, cls: None
    assert window.run_plugin("autolabelers", "demo_det", cls=DemoDetector) is None


def test_plugins_menu_entries_open_the_form(window) -> None:
    import pytest

    from labeler.gui.options_dialog import has_options
    from labeler.plugins import get_registry

    if not any(has_options(c) for c in get_registry().autolabelers.values()):
        pytest.skip("no installed autolabeler has options")
    texts = [a.text() for m in window.plugins_menu.findChildren(type(window.plugins_menu)) for a in m.actions()]
    texts += [a.text() for a in window.plugins_menu.actions()]
    # every plugin with options says so with an ellipsis (the example plugin is installed in the venv)
    assert any(t.startswith("Run on this image…") for t in texts), texts
