"""labelme parity in the window: the linestrip tool, Keep Previous Annotation, File > Open File /
Save As / Change Output Dir / Delete File, the wheel setting, the remembered layout and last
image, and Enter in the file search box."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QComboBox, QToolBar

from labeler.cli import cli
from labeler.gui.main_window import MainWindow
from labeler.gui.options_dialog import preferences_dialog
from labeler.gui.shortcuts import ShortcutsDialog
from tests.gui.conftest import open_and_wait, widget_pos


def _labels(window: MainWindow) -> list[tuple[str, str]]:
    assert window.doc is not None
    return [(s.label, s.shape_type) for s in window.doc.shapes]


def test_linestrip_tool_draws_an_open_polyline_saved_and_exported_as_linestrip(gui, gui_dataset: Path, tmp_path: Path) -> None:
    w = gui.window
    gui.open(gui_dataset)
    toolbar_texts = [a.iconText() for a in w.findChild(QToolBar, "Tools").actions()]
    assert "LineStrip" in toolbar_texts and w.actions["mode_linestrip"].shortcut().toString() == "Ctrl+Shift+L"
    gui.qtbot.keyClick(w.canvas, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.canvas.mode == "linestrip" and w.actions["mode_linestrip"].isChecked()
    gui.click(20, 60)
    gui.key(Qt.Key.Key_Return)  # one point: not a linestrip yet, Enter does nothing
    assert w.canvas.is_drawing and _labels(w) == [("cat", "rectangle")]
    gui.click(60, 80)
    gui.label_next("road")
    gui.qtbot.mouseClick(w.canvas, Qt.MouseButton.LeftButton, pos=widget_pos(w, 100, 62))
    gui.qtbot.mouseDClick(w.canvas, Qt.MouseButton.LeftButton, pos=widget_pos(w, 100, 62))
    assert _labels(w) == [("cat", "rectangle"), ("road", "linestrip")]
    pts = w.doc.shapes[1].points  # type: ignore[union-attr]
    assert len(pts) == 3 and abs(pts[0][0] - 20) < 1 and abs(pts[2][0] - 100) < 1
    for x, y in [(5, 5), (30, 20)]:
        gui.click(x, y)
    gui.label_next("edge")
    gui.key(Qt.Key.Key_Return)  # Enter finishes with two points
    assert _labels(w)[-1] == ("edge", "linestrip") and len(w.doc.shapes[-1].points) == 2  # type: ignore[union-attr]
    assert w.save()
    data = json.loads((gui_dataset / "a.json").read_text(encoding="utf-8"))
    assert [s["shape_type"] for s in data["shapes"]] == ["rectangle", "linestrip", "linestrip"]
    # Export: labelme keeps linestrips; box formats skip them with a note (no area).
    out = tmp_path / "coco"
    res = CliRunner().invoke(cli, ["export", str(gui_dataset), "--to", "coco", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "'linestrip' shape(s) skipped (no area)" in res.output
    res = CliRunner().invoke(cli, ["export", str(gui_dataset), "--to", "labelme", "--out", str(tmp_path / "lm")])
    assert res.exit_code == 0, res.output
    exported = json.loads(next((tmp_path / "lm").rglob("a.json")).read_text(encoding="utf-8"))
    assert [s["shape_type"] for s in exported["shapes"]].count("linestrip") == 2
    dialog = ShortcutsDialog(w)
    rows = [dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())]
    assert "Create LineStrip" in rows and "Keep Previous Annotation" in rows and "Save As" in rows


def test_keep_previous_annotation_copies_shapes_into_an_unlabeled_image(gui, gui_dataset: Path) -> None:
    w = gui.window
    gui.open(gui_dataset)
    act = w.actions["toggle_keep_previous"]
    assert act.isCheckable() and not act.isChecked() and act in w.menuBar().actions()[1].menu().actions()
    assert w.open_rel("d.jpg") and _labels(w) == []  # off: d stays empty
    assert w.open_rel("a.jpg")
    gui.qtbot.keyClick(w, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert act.isChecked() and w.session.keep_previous and w.settings.value("keep_previous", type=bool)
    assert w.open_rel("d.jpg") and _labels(w) == [("cat", "rectangle")]
    assert w.doc.dirty and w.doc.shapes[0].is_human  # type: ignore[union-attr]
    assert "d.jpg *" in w.windowTitle()
    gui.qtbot.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _labels(w) == []  # one undo step
    gui.qtbot.keyClick(w.canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert w.open_rel("c.jpg") and _labels(w) == [("dog", "rectangle")]  # has its own: untouched
    assert json.loads((gui_dataset / "d.json").read_text(encoding="utf-8"))["shapes"][0]["label"] == "cat"


def test_open_file_save_as_change_output_dir_and_delete_file(gui, gui_dataset: Path, tmp_path: Path) -> None:
    w = gui.window
    fa = w.file_actions
    file_menu = [a.text().replace("&", "") for a in w.menuBar().actions()[0].menu().actions()]
    assert {"Open File…", "Save As…", "Change Output Dir…", "Delete File"} <= set(file_menu)
    # Open File: the folder of that image, with it shown.
    fa.ask_image = lambda: str(gui_dataset / "c.jpg")
    with gui.qtbot.waitSignal(w.imageShown, timeout=5000):
        w.actions["open_file"].trigger()
    assert w.dataset is not None and w.dataset.root == gui_dataset.resolve() and w.doc.item.rel == "c.jpg"  # type: ignore[union-attr]
    w.wait_for_scan()
    assert len(w.items) == 4 and w.files.view.currentIndex().data() and w.current_row() == 2
    assert not fa.open_file(str(gui_dataset / "c.json"))
    assert "not an image file" in w.errors[-1]
    # Save As: a copy elsewhere whose imagePath leads back to the image.
    copy = tmp_path / "copies" / "c-copy.json"
    copy.parent.mkdir()
    fa.ask_save_path = lambda suggested: str(copy) if suggested.endswith("c.json") else ""
    w.actions["save_as"].trigger()
    data = json.loads(copy.read_text(encoding="utf-8"))
    assert data["shapes"][0]["label"] == "dog" and (copy.parent / data["imagePath"]).resolve() == (gui_dataset / "c.jpg").resolve()
    # Change Output Dir: the same image, its labels now read from (and written to) another folder.
    out = tmp_path / "labels"
    out.mkdir()
    fa.ask_labels_dir = lambda start: str(out)
    w.actions["change_output_dir"].trigger()
    w.wait_for_scan()
    assert w.dataset.labels_dir == out.resolve() and w.doc.item.rel == "c.jpg" and _labels(w) == []  # type: ignore[union-attr]
    gui.label_next("bird")
    w.set_mode("rectangle")
    gui.drag((10, 10), (40, 30))
    assert w.save() and (out / "c.json").is_file()
    assert json.loads((gui_dataset / "c.json").read_text(encoding="utf-8"))["shapes"][0]["label"] == "dog"
    fa.ask_labels_dir = lambda start: str(gui_dataset)  # back to the JSON files beside the images
    w.actions["change_output_dir"].trigger()
    assert w.dataset.labels_dir is None and _labels(w) == [("dog", "rectangle")]  # type: ignore[union-attr]
    # Delete File: asks first; no means nothing happens; yes deletes, and Undo brings it back.
    asked: list[str] = []
    fa.confirm = lambda title, text: asked.append(text) or False  # type: ignore[func-returns-value]
    w.actions["delete_file"].trigger()
    assert asked and "c.json" in asked[0] and (gui_dataset / "c.json").is_file()
    fa.confirm = lambda title, text: True
    gui.qtbot.keyClick(w, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)
    assert not (gui_dataset / "c.json").exists() and _labels(w) == []
    w.save()
    assert not (gui_dataset / "c.json").exists()  # an emptied image gets no file back
    w.undo()
    assert _labels(w) == [("dog", "rectangle")] and w.save() and (gui_dataset / "c.json").is_file()


def _wheel(window: MainWindow, dy: int, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    c = window.canvas
    pos = QPointF(c.width() / 2, c.height() / 2)
    event = QWheelEvent(pos, QPointF(c.mapToGlobal(QPoint(int(pos.x()), int(pos.y())))), QPoint(0, 0),
                        QPoint(0, dy), Qt.MouseButton.NoButton, mods, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(c, event)


def test_wheel_setting_switches_to_labelme_scrolling_and_is_remembered(qtbot, gui, gui_dataset: Path, tmp_path: Path) -> None:
    w = gui.window
    gui.open(gui_dataset)
    c = w.canvas
    scale = c.scale
    _wheel(w, 120)
    assert c.scale > scale * 1.1  # the default: the wheel zooms
    dialog = preferences_dialog(w)
    combo = dialog.form.findChild(QComboBox)
    assert combo is not None and combo.currentData() == "zoom" and "labelme" in combo.toolTip()
    combo.setCurrentIndex(combo.findData("scroll"))
    w.file_actions.ask_preferences = lambda: (dialog.accept(), dialog.options)[1]
    w.actions["preferences"].trigger()
    assert c.wheel == "scroll"
    scale, y = c.scale, c.offset.y()
    _wheel(w, -120)
    assert c.scale == scale and c.offset.y() == y - 60  # scrolls: the image moves up
    _wheel(w, 120, Qt.KeyboardModifier.ControlModifier)
    assert c.scale > scale * 1.1  # Ctrl+wheel zooms
    w.settings.sync()
    again = MainWindow(settings=QSettings(w.settings.fileName(), QSettings.Format.IniFormat), max_side=512)
    qtbot.addWidget(again)
    assert again.canvas.wheel == "scroll"  # remembered
    again.close()


def test_layout_and_the_last_image_of_each_folder_are_remembered(qtbot, gui_dataset: Path, tmp_path: Path) -> None:
    path = str(tmp_path / "layout.ini")
    w = MainWindow(settings=QSettings(path, QSettings.Format.IniFormat), max_side=512)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    open_and_wait(qtbot, w, gui_dataset)
    assert w.doc.item.rel == "a.jpg"  # type: ignore[union-attr]
    w.removeDockWidget(w.review_dock)
    w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, w.review_dock)  # moved to the left
    w.classes_dock.hide()
    w.resize(w.width(), 560)  # (restoreGeometry keeps a window inside the 800x600 offscreen screen)
    height = w.height()  # (at least the docks' minimum heights)
    assert height < 700
    assert w.open_rel("c.jpg")
    w.close()
    w2 = MainWindow(settings=QSettings(path, QSettings.Format.IniFormat), max_side=512)
    qtbot.addWidget(w2)
    w2.show()
    qtbot.waitExposed(w2)
    assert w2.dockWidgetArea(w2.review_dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert not w2.classes_dock.isVisible() and w2.files_dock.isVisible()
    assert w2.height() == height  # not the default 900
    with qtbot.waitSignal(w2.imageShown, timeout=5000):
        assert w2.open_folder(gui_dataset)
    assert w2.doc.item.rel == "c.jpg"  # type: ignore[union-attr]  # the image last opened here
    w2.wait_for_scan()
    assert w2.current_row() == 2 and len(w2.items) == 4
    (gui_dataset / "c.jpg").unlink()  # gone since: the first image instead
    (gui_dataset / "c.json").unlink()
    assert w2.open_folder(gui_dataset) and w2.doc.item.rel == "a.jpg"  # type: ignore[union-attr]
    w2.wait_for_scan()
    w2.close()


def test_the_last_image_is_written_after_a_pause_not_on_every_next(qtbot, gui_dataset: Path, tmp_path: Path) -> None:
    """Paging writes nothing to the settings file (a write per image would fall on the frame
    being painted); the last image is written once the person stays on it, or at close."""
    from labeler.gui.file_actions import REMEMBER_MS

    path = str(tmp_path / "last.ini")
    settings = QSettings(path, QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, max_side=512)
    qtbot.addWidget(w)
    w.show()
    open_and_wait(qtbot, w, gui_dataset)
    root = str(w.dataset.root)  # type: ignore[union-attr]
    w.file_actions.write_last_image()
    before = settings.value("last_images")
    assert json.loads(before)[root] == "a.jpg"
    assert w.next_image() and w.next_image()
    assert settings.value("last_images") == before  # not while paging
    with qtbot.waitSignal(w.file_actions._remember_timer.timeout, timeout=REMEMBER_MS + 3000):
        pass
    assert json.loads(settings.value("last_images"))[root] == "c.jpg"
    assert w.next_image()
    w.close()  # at close, without waiting
    assert json.loads(QSettings(path, QSettings.Format.IniFormat).value("last_images"))[root] == "d.jpg"


def test_enter_in_the_search_box_opens_the_matches_one_after_another(gui, gui_dataset: Path) -> None:
    w = gui.window
    gui.open(gui_dataset)
    (gui_dataset / "b2.jpg").write_bytes((gui_dataset / "b.jpg").read_bytes())
    gui.open(gui_dataset)
    w.search.setFocus()
    gui.qtbot.keyClicks(w.search, "b")
    assert w.files.proxy.rowCount() == 2 and w.doc.item.rel == "a.jpg"  # type: ignore[union-attr]
    gui.qtbot.keyClick(w.search, Qt.Key.Key_Return)
    assert w.doc.item.rel == "b.jpg"  # type: ignore[union-attr]  # the first match
    gui.qtbot.keyClick(w.search, Qt.Key.Key_Return)
    assert w.doc.item.rel == "b2.jpg"  # type: ignore[union-attr]  # Enter again: the next one
    gui.qtbot.keyClick(w.search, Qt.Key.Key_Return)
    assert w.doc.item.rel == "b.jpg"  # type: ignore[union-attr]  # and round again
    gui.qtbot.keyClick(w.search, Qt.Key.Key_Down)
    assert w.doc.item.rel == "b2.jpg"  # type: ignore[union-attr]  # Down: the next match
    gui.qtbot.keyClick(w.search, Qt.Key.Key_Up)
    assert w.doc.item.rel == "b.jpg"  # type: ignore[union-attr]  # Up: the previous one
    gui.qtbot.keyClick(w.search, Qt.Key.Key_Up)
    assert w.doc.item.rel == "b2.jpg"  # type: ignore[union-attr]  # wrapping round
    assert w.search.text() == "b"  # the keys moved through the matches, typed nothing
    w.search.setText("nothing-matches")
    gui.qtbot.keyClick(w.search, Qt.Key.Key_Return)
    assert w.doc.item.rel == "b2.jpg" and "No image matches" in w.statusBar().currentMessage()  # type: ignore[union-attr]
