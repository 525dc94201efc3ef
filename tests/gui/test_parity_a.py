"""labelme / X-AnyLabeling parity in the window: the Labels dock (counts, hide a label), the
shapes' checkboxes, Brightness/Contrast (screen only, kept for the next image, Reset), image
flags (Flags dock) and the label dialog's flags, description and difficult box."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QColor

from labeler.gui.label_dialog import LabelDialog
from labeler.model import Shape
from tests.editing.conftest import labelme_json, rect, write_json
from tests.gui.conftest import click, open_and_wait, widget_pos


@pytest.fixture
def grey_dataset(tmp_path: Path) -> Path:
    """Two uniformly grey images: a.jpg with two cats and a dog (and keys of other tools),
    b.jpg with one dog."""
    root = tmp_path / "grey"
    root.mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (120, 90), (100, 100, 100)).save(root / f"{name}.png")
    write_json(root / "a.json", labelme_json("a.png", (120, 90), [
        rect("cat", 10, 10, 40, 40), rect("dog", 60, 10, 100, 40, attributes={"color": "red"}),
        rect("cat", 10, 50, 40, 80)], otherTool={"keep": True}))
    write_json(root / "b.json", labelme_json("b.png", (120, 90), [rect("dog", 10, 10, 50, 50)]))
    return root


def pixel(window, x: float, y: float) -> QColor:  # noqa: ANN001
    """The colour the canvas shows at image point (x, y)."""
    window.canvas.repaint()
    p = widget_pos(window, x, y)
    return window.canvas.grab().toImage().pixelColor(QPoint(p.x(), p.y()))


def rows(panel) -> dict[str, tuple[str, bool]]:  # noqa: ANN001
    """{name: (text, checked)} of a checkable list."""
    out = {}
    for k in range(panel.count()):
        it = panel.item(k)
        out[it.data(Qt.ItemDataRole.UserRole)] = (it.text(), it.checkState() == Qt.CheckState.Checked)
    return out


def test_labels_dock_counts_and_hides_a_label(qtbot, window, grey_dataset: Path) -> None:
    open_and_wait(qtbot, window, grey_dataset)
    labels = window.controls.labels
    assert rows(labels) == {"cat": ("cat   2", True), "dog": ("dog   1", True)}
    shown = pixel(window, 25, 25)
    assert shown != pixel(window, 110, 85)  # the cat's fill is painted over the grey
    labels.item(0).setCheckState(Qt.CheckState.Unchecked)  # hide "cat", as a click would
    assert pixel(window, 25, 25) == pixel(window, 110, 85) and pixel(window, 25, 65) == pixel(window, 110, 85)
    click(qtbot, window, 25, 25)
    assert window.canvas.selected == []  # a hidden shape is not hit
    click(qtbot, window, 80, 25)
    assert window.canvas.selected == [1]  # the dog still is
    panel = window.shape_panel
    assert [panel.item(k).checkState() == Qt.CheckState.Checked for k in range(panel.count())] == [False, True, False]
    window.session.select_all()
    assert window.canvas.selected == [1]
    window.open_rel("b.json".replace(".json", ".png"))
    assert rows(labels) == {"cat": ("cat   0", False), "dog": ("dog   1", True)}  # still hidden, listed
    # Counts follow edits.
    window.doc.add_shape(Shape(label="dog", points=[(60, 60), (80, 80)], shape_type="rectangle"))
    assert rows(labels)["dog"] == ("dog   2", True)
    window.save()
    assert "visible" not in (grey_dataset / "b.json").read_text()


def test_a_shape_checkbox_hides_one_shape_and_nothing_is_written(qtbot, window, grey_dataset: Path) -> None:
    before = (grey_dataset / "a.json").read_bytes()
    open_and_wait(qtbot, window, grey_dataset)
    panel = window.shape_panel
    assert all(panel.item(k).flags() & Qt.ItemFlag.ItemIsUserCheckable for k in range(panel.count()))
    panel.item(1).setCheckState(Qt.CheckState.Unchecked)  # the dog
    assert pixel(window, 80, 25) == pixel(window, 110, 85)
    assert pixel(window, 25, 25) != pixel(window, 110, 85)
    click(qtbot, window, 80, 25)
    assert window.canvas.selected == []
    assert rows(window.controls.labels)["dog"] == ("dog   1", True)  # the label itself is shown
    assert not window.doc.dirty and window.save()
    assert (grey_dataset / "a.json").read_bytes() == before
    panel.item(1).setCheckState(Qt.CheckState.Checked)
    click(qtbot, window, 80, 25)
    assert window.canvas.selected == [1]


def test_brightness_contrast_changes_the_screen_only_and_stays_for_the_next_image(
        qtbot, window, grey_dataset: Path) -> None:
    image_bytes = (grey_dataset / "a.png").read_bytes()
    open_and_wait(qtbot, window, grey_dataset)
    assert pixel(window, 110, 85).red() == 100
    window.actions["brightness_contrast"].trigger()
    dlg = window.controls.dialog
    assert dlg is not None and dlg.isVisible()
    assert window.actions["brightness_contrast"].shortcut().toString() == "Ctrl+Shift+B"
    dlg.brightness.setValue(150)
    assert window.session.view.adjust.brightness == 1.5
    assert pixel(window, 110, 85).red() == 150 and dlg.brightness_value.text() == "150 %"
    dlg.contrast.setValue(200)  # a uniform image stays at its mean under any contrast
    assert pixel(window, 110, 85).red() == 150
    with qtbot.waitSignal(window.imageShown, timeout=5000):
        window.next_image()
    assert window.doc.item.rel == "b.png" and pixel(window, 110, 85).red() == 150  # kept
    assert (grey_dataset / "a.png").read_bytes() == image_bytes and not window.doc.dirty
    dlg.reset_button.click()
    assert pixel(window, 110, 85).red() == 100 and dlg.brightness.value() == 100


def test_image_flags_in_the_flags_dock_are_saved_and_undone(qtbot, window, grey_dataset: Path) -> None:
    window.session.image_flags = ["blurry", "night"]
    open_and_wait(qtbot, window, grey_dataset)
    flags = window.controls.flags
    assert window.controls.flags_dock.isVisible()
    assert rows(flags) == {"blurry": ("blurry", False), "night": ("night", False)}
    flags.item(1).setCheckState(Qt.CheckState.Checked)
    assert window.doc.dirty and window.save()
    data = json.loads((grey_dataset / "a.json").read_text())
    assert data["flags"] == {"blurry": False, "night": True} and data["otherTool"] == {"keep": True}
    assert data["shapes"][1]["attributes"] == {"color": "red"}
    window.undo()
    assert rows(flags)["night"] == ("night", False)


def test_the_flags_dock_is_hidden_without_flags(qtbot, window, grey_dataset: Path) -> None:
    open_and_wait(qtbot, window, grey_dataset)
    assert not window.controls.flags_dock.isVisible()


def test_label_dialog_offers_the_label_flags_description_and_difficult(qtbot) -> None:
    dlg = LabelDialog()
    qtbot.addWidget(dlg)
    dlg.flags_for = lambda label: {"person": ["occluded", "truncated"], "dog": ["occluded"]}.get(label, [])
    shape = Shape(label="person", points=[(0, 0), (5, 5)], shape_type="rectangle",
                  flags={"truncated": True}, description="old", difficult=True)
    dlg.context = lambda: shape

    def answer() -> None:
        assert list(dlg.flag_boxes) == ["occluded", "truncated"] and dlg.flag_boxes["truncated"].isChecked()
        assert dlg.description.toPlainText() == "old" and dlg.difficult.isChecked()
        dlg.flag_boxes["occluded"].setChecked(True)
        dlg.edit.setText("dog")  # another label: its flags, same-named ones keep their state
        assert list(dlg.flag_boxes) == ["occluded"] and dlg.flag_boxes["occluded"].isChecked()
        dlg.description.setPlainText("new")
        dlg.difficult.setChecked(False)
        dlg.accept()

    QTimer.singleShot(0, answer)
    got = dlg.ask("person")
    assert got is not None and got.label == "dog"
    assert got.flags == {"occluded": True} and got.description == "new" and got.difficult is False
    dlg.context = lambda: None
    QTimer.singleShot(0, dlg.accept)
    got = dlg.ask("cat")
    assert got is not None and got.flags == {} and got.description == "" and got.difficult is False


def test_edit_label_in_the_real_dialog_saves_flags_description_difficult(qtbot, window, grey_dataset: Path) -> None:
    """Through the window's own label dialog: what is set there reaches the labelme JSON,
    keys of other tools stay, and one undo takes it all back."""
    window.session.label_flags = {"d.g": ["sleeping"]}  # a pattern, as labelme's --labelflags
    window.ask_label = window._ask_label_dialog
    open_and_wait(qtbot, window, grey_dataset)
    dlg = window.label_dialog

    def answer() -> None:
        dlg.flag_boxes["sleeping"].setChecked(True)
        dlg.description.setPlainText("under the table")
        dlg.difficult.setChecked(True)
        dlg.accept()

    QTimer.singleShot(0, answer)
    window.edit_label(1)
    assert window.save()
    shape = json.loads((grey_dataset / "a.json").read_text())["shapes"][1]
    assert shape["flags"] == {"sleeping": True} and shape["description"] == "under the table"
    assert shape["difficult"] is True and shape["attributes"] == {"color": "red"}
    window.undo()
    s = window.doc.shapes[1]
    assert s.flags == {} and s.description == "" and "difficult" not in (s.model_extra or {})


def test_label_dialog_flag_rows_are_replaced_at_once(qtbot) -> None:
    """Typing another label swaps the flag checkboxes without waiting for the event loop
    (no old box left drawn under a new one)."""
    dlg = LabelDialog()
    qtbot.addWidget(dlg)
    dlg.flags_for = lambda label: ["occluded"] if label else []
    dlg.show()
    dlg.edit.setText("a")
    old = dlg.flag_boxes["occluded"]
    dlg.edit.setText("ab")
    assert not old.isVisible() and dlg.flag_boxes["occluded"] is not old
    assert dlg.flag_boxes["occluded"].isVisible()
    visible = [b for b in dlg.flags_box.findChildren(type(old)) if b.isVisible()]
    assert len(visible) == 1


def test_a_flags_dock_the_person_closed_stays_closed(qtbot, window, grey_dataset: Path) -> None:
    window.session.image_flags = ["blurry"]
    open_and_wait(qtbot, window, grey_dataset)
    assert window.controls.flags_dock.isVisible()
    window.controls.flags_dock.close()
    window.session.set_image_flag("blurry", True)  # an edit refreshes the docks
    window.next_image()
    assert not window.controls.flags_dock.isVisible()
    assert rows(window.controls.flags) == {"blurry": ("blurry", False)}  # b.png's flags, still listed


def test_labeler_gui_flags_and_labelflags_reach_the_window(
    qtbot, grey_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``labeler gui DIR --flags ... --labelflags ...`` from the command line to the window
    (labelme's options): the Flags dock offers the image flags on the first image and the
    label dialog the shape flags of a label's pattern."""
    from click.testing import CliRunner
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    import labeler.gui.main_window as main_window
    from labeler.cli import cli

    monkeypatch.setenv("QT_NO_GUI_THREADPOOL", "1")  # run_gui sets it: restored after the test
    real = main_window.MainWindow
    opened: list[main_window.MainWindow] = []

    def window_with_test_settings(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the window's own signature
        kwargs.setdefault("settings", QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        w = real(*args, **kwargs)
        qtbot.addWidget(w)
        opened.append(w)
        return w

    seen: dict[str, object] = {}

    def event_loop(*_args: object) -> int:  # the window is up: look at it as a person would, then quit
        w = opened[0]
        qtbot.waitUntil(lambda: w.doc is not None, timeout=10000)
        w.controls.refresh()
        seen["dock"] = w.controls.flags_dock.isVisible()
        panel = w.controls.flags
        seen["rows"] = [panel.item(k).text() for k in range(panel.count())]
        seen["person"] = w.label_dialog.flags_for("person")
        seen["cat"] = w.label_dialog.flags_for("cat")
        w.close()
        return 0

    monkeypatch.setattr(main_window, "MainWindow", window_with_test_settings)
    monkeypatch.setattr(QApplication, "exec", event_loop)
    res = CliRunner().invoke(cli, ["gui", str(grey_dataset), "--flags", "blurry,night",
                                   "--labelflags", '{"pers.n": ["occluded"], ".*": ["truncated"]}'])
    assert res.exit_code == 0, res.output
    assert seen == {"dock": True, "rows": ["blurry", "night"], "person": ["occluded", "truncated"],
                    "cat": ["truncated"]}
