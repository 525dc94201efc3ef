"""Bugs seen in the window under Xvfb (issue 11), each driven as a person would drive it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtWidgets import QPushButton

from labeler.gui.label_dialog import LabelAnswer, LabelDialog
from labeler.gui.main_window import MainWindow
from tests.gui.conftest import labelme_json, make_image, rect, widget_pos, write_json
from tests.gui.test_workers import FakeDetector


def _click_row(qtbot, window: MainWindow, rel: str) -> None:  # noqa: ANN001
    """Click ``rel`` in the file list, as a person would."""
    view = window.files.view
    idx = window.file_proxy.mapFromSource(window.file_model.index(window._rows[rel]))
    assert idx.isValid(), f"{rel} is not listed"
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(idx).center())


def _highlighted(window: MainWindow) -> list[str]:
    """The rels the file list highlights (current row and selection)."""
    view = window.files.view
    rows = {i.row() for i in view.selectionModel().selectedIndexes()}
    if view.currentIndex().isValid():
        rows.add(view.currentIndex().row())
    return sorted(window.file_proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 2) for r in rows)


# -- 1. an unreadable file leaves nothing of the previous image to edit --------------------------
@pytest.mark.parametrize("broken", ["corrupt label file", "not an image"])
def test_clicking_an_unreadable_file_clears_the_previous_image(gui, window, gui_dataset: Path, qtbot,
                                                               broken: str) -> None:
    if broken == "corrupt label file":
        (gui_dataset / "b.json").write_text("{ not json", encoding="utf-8")
        rel, named = "b.jpg", "b.json"
    else:
        (gui_dataset / "d.jpg").write_bytes(b"this is a text file, not a JPEG")
        rel, named = "d.jpg", "d.jpg"
    gui.open(gui_dataset)
    assert window.doc.item.rel == "a.jpg" and window.canvas.has_image and window.shape_panel.count() == 1
    before = (gui_dataset / "a.json").read_bytes()
    _click_row(qtbot, window, rel)
    assert window.doc is None
    assert not window.canvas.has_image and window.canvas.view.document is None
    assert named in (window.canvas.image_problem or "")  # the placeholder says why
    assert rel in window.windowTitle() and "a.jpg" not in window.windowTitle()
    assert window.shape_panel.count() == 0 and window.review_panel.issues.count() == 0
    assert not any(window.class_panel.item(i).checkState() == Qt.CheckState.Checked
                   for i in range(window.class_panel.count()))
    assert named in window.statusBar().currentMessage() and named in window.errors[-1]
    assert _highlighted(window) == [rel]
    # editing actions do nothing to the image shown before
    for name in ("select_all", "delete", "paste", "duplicate", "accept_suggestion"):
        window.actions[name].trigger()
    window.set_image_label("cat")
    assert [s.label for s in window.session.docs["a.jpg"].shapes] == ["cat"]
    assert not window.session.docs["a.jpg"].dirty
    assert (gui_dataset / "a.json").read_bytes() == before
    # D / A step on from the file that failed, not from the image shown before
    window.actions["next_image" if rel == "b.jpg" else "prev_image"].trigger()
    assert window.doc.item.rel == "c.jpg" and _highlighted(window) == ["c.jpg"]
    window.open_rel("a.jpg")  # and the previous image opens again as it was
    assert window.doc.item.rel == "a.jpg" and window.windowTitle().endswith("a.jpg")


# -- 2. the list's highlight is the open image ---------------------------------------------------
def test_highlight_follows_the_open_image_after_f_in_a_filtered_list(gui, window, gui_dataset: Path) -> None:
    make_image(gui_dataset / "e.jpg", (120, 90), seed=5)
    write_json(gui_dataset / "e.json", labelme_json("e.jpg", (120, 90), [rect("dog", 10, 10, 50, 50)], labeler={
        "issues": [{"kind": "outlier", "score": 0.7, "source": {"plugin": "fakecheck"}}]}))
    gui.open(gui_dataset)
    window.status_filter.setCurrentIndex(window.status_filter.findData("issues"))
    window.open_rel("c.jpg")
    assert _highlighted(window) == ["c.jpg"]
    window.actions["apply_fix"].trigger()  # its last issue fixed: c.jpg leaves the filtered list
    assert window.doc.item.rel == "c.jpg" and window.doc.shapes[0].label == "cat"
    assert "c.jpg" not in [it.rel for it in window.files.listed_items()]
    assert _highlighted(window) == []  # not e.jpg, which is not the open image
    window.actions["next_image"].trigger()
    assert window.doc.item.rel == "e.jpg" and _highlighted(window) == ["e.jpg"]


def test_highlight_follows_a_duplicates_thumbnail(gui, window, gui_dataset: Path, qtbot) -> None:
    path = gui_dataset / "c.json"
    data = json.loads(path.read_text())
    data["labeler"]["issues"].append({"kind": "duplicate", "score": 1.0, "source": {"plugin": "duplicates"},
                                      "related_files": ["a.jpg", "c.jpg"], "detail": "same picture"})
    path.write_text(json.dumps(data))
    gui.open(gui_dataset)
    for status in ("issues", ""):  # a.jpg hidden by the filter, then listed
        window.status_filter.setCurrentIndex(window.status_filter.findData(status))
        window.open_rel("c.jpg")
        window.review_panel.issues.setCurrentRow(1)
        assert _highlighted(window) == ["c.jpg"]
        thumbs = [b for b in window.review_panel.related.findChildren(QPushButton) if "a.jpg" in b.toolTip()]
        qtbot.mouseClick(thumbs[0], Qt.MouseButton.LeftButton)
        assert window.doc.item.rel == "a.jpg"
        assert _highlighted(window) == ([] if status else ["a.jpg"])


def test_an_unreadable_file_after_a_duplicate_leaves_no_thumbnails_tick_or_zoom(
    gui, window, gui_dataset: Path, qtbot
) -> None:
    """Seen in the screenshot of an unreadable file: the previous image's duplicate thumbnails,
    its "reviewed" tick and a zoom of 72324% (the 1x1 placeholder fitted) stayed on screen."""
    path = gui_dataset / "c.json"
    data = json.loads(path.read_text())
    data["labeler"]["issues"] = [{"kind": "duplicate", "score": 1.0, "source": {"plugin": "duplicates"},
                                  "related_files": ["a.jpg", "c.jpg"], "detail": "same picture"}]
    data["labeler"]["reviewed"] = True
    path.write_text(json.dumps(data))
    (gui_dataset / "d.jpg").write_bytes(b"this is a text file, not a JPEG")
    gui.open(gui_dataset)
    window.open_rel("c.jpg")
    panel = window.review_panel
    assert not panel.related_scroll.isHidden() and panel.reviewed.isChecked()
    assert window.zoom_label.text().endswith("%")
    _click_row(qtbot, window, "d.jpg")
    assert window.doc is None
    assert panel.related_scroll.isHidden()
    qtbot.waitUntil(lambda: not panel.related.findChildren(QPushButton))  # deleted, not only hidden
    assert not panel.reviewed.isChecked() and not panel.reviewed.isEnabled()
    assert window.zoom_label.text() == ""
    window.open_rel("a.jpg")
    window.open_rel("d.jpg")  # opened by name (search, Go menu), not clicked: highlighted too
    assert window.doc is None and _highlighted(window) == ["d.jpg"]
    window.open_rel("c.jpg")  # back on an image: all of it again
    assert not panel.related_scroll.isHidden() and panel.reviewed.isChecked() and panel.reviewed.isEnabled()
    assert window.zoom_label.text().endswith("%")


# -- 3. the label dialog stands beside the shape ---------------------------------------------------
def _labelled_with_real_dialog(window: MainWindow, draw) -> tuple[QRect, QRect]:  # noqa: ANN001
    """Draw (or relabel) with the real label dialog; returns (its frame, the screen)."""
    window.ask_label = window._ask_label_dialog
    seen: dict[str, QRect] = {}
    dlg = window.label_dialog

    def answer() -> None:
        if not dlg.isVisible():
            QTimer.singleShot(20, answer)
            return
        seen["dialog"] = dlg.frameGeometry()
        seen["screen"] = dlg.screen().availableGeometry()
        dlg.edit.setText("bird")
        dlg.accept()

    QTimer.singleShot(0, answer)
    draw()
    return seen["dialog"], seen["screen"]


@pytest.mark.parametrize("where", ["middle", "right edge"])
def test_label_dialog_is_beside_the_shape_not_over_it(gui, window, gui_dataset: Path, qtbot, where: str) -> None:
    gui.open(gui_dataset)
    window.open_rel("d.jpg")
    if where == "right edge":  # the window at the screen's right edge: no room on the right
        screen = window.screen().availableGeometry()
        window.move(screen.right() - window.frameGeometry().width() + 1, screen.top())
        qtbot.wait(50)
    window.actions["mode_rectangle"].trigger()
    a, b = ((20, 20), (70, 60)) if where == "middle" else ((80, 20), (118, 80))
    c = window.canvas
    shape = QRect(c.mapToGlobal(widget_pos(window, *a)), c.mapToGlobal(widget_pos(window, *b)))
    dialog, screen = _labelled_with_real_dialog(window, lambda: gui.drag(a, b))
    assert [s.label for s in window.doc.shapes] == ["bird"]
    assert shape.width() > 20 and not dialog.intersects(shape)
    assert screen.contains(dialog)
    # relabelling (edit label) puts it beside the shape too
    window.canvas.select([0])
    dialog, screen = _labelled_with_real_dialog(window, window.actions["edit_label"].trigger)
    assert not dialog.intersects(shape) and screen.contains(dialog)


# -- 4. Enter in the completion list takes the highlighted entry ---------------------------------
@pytest.mark.parametrize("receiver", ["popup", "field"])  # the keys land in either, by platform
@pytest.mark.parametrize(("keys", "expected"), [
    ([], "cat"),  # the first completion is highlighted
    ([Qt.Key.Key_Down], "caterpillar"),  # the one moved to
    ([Qt.Key.Key_Escape], "ca"),  # Esc closes the list: what was typed, a new class
])
def test_enter_in_the_completion_list_takes_the_highlighted_class(qtbot, keys: list[Qt.Key], expected: str,
                                                                   receiver: str) -> None:
    dlg = LabelDialog()
    qtbot.addWidget(dlg)
    dlg.set_labels(["cat", "caterpillar", "dog"])
    popup = dlg.completer.popup()
    shown: list[str] = []

    def type_and_enter() -> None:
        qtbot.keyClicks(dlg.edit, "ca")
        qtbot.waitUntil(popup.isVisible, timeout=3000)
        qtbot.wait(20)
        shown.append(popup.currentIndex().data() or "")
        for key in keys:
            qtbot.keyClick(popup, key)
        target = popup if popup.isVisible() and receiver == "popup" else dlg.edit
        qtbot.keyClick(target, Qt.Key.Key_Return)
        if dlg.isVisible():  # not accepted: end the test's wait
            QTimer.singleShot(0, dlg.reject)

    QTimer.singleShot(0, type_and_enter)
    got = dlg.ask("")
    assert shown == ["cat"]  # the entry Enter takes is highlighted from the start
    assert got is not None and got.label == expected
    assert not popup.isVisible()


# -- 5. relabelling by hand settles the mislabel issue ----------------------------------------------
def test_relabel_by_hand_resolves_the_mislabel_issue(gui, window, gui_dataset: Path) -> None:
    gui.open(gui_dataset)
    window.open_rel("c.jpg")
    assert window.review_panel.issues.count() == 1
    window.canvas.select([0])
    window.answers.queue.append(LabelAnswer(label="dog"))  # the same class: still questioned
    window.actions["edit_label"].trigger()
    assert window.doc.annotation.meta.issues[0].state == "open"
    window.answers.queue.append(LabelAnswer(label="wolf"))  # another class than the check proposed
    window.actions["edit_label"].trigger()
    issue = window.doc.annotation.meta.issues[0]
    assert window.doc.shapes[0].label == "wolf" and (issue.state, issue.fixed_by) == ("fixed", "person")
    assert window.review_panel.issues.count() == 0
    assert window.save()
    saved = json.loads((gui_dataset / "c.json").read_text())["labeler"]["issues"][0]
    assert (saved["state"], saved["fixed_by"]) == ("fixed", "person")
    window.actions["undo"].trigger()  # one step: the label and the issue come back together
    assert window.doc.shapes[0].label == "dog" and window.doc.annotation.meta.issues[0].state == "open"


# -- 6. edits made while a plugin runs are saved like any other -----------------------------------
def test_edits_during_a_plugin_run_are_saved_and_merged_with_its_results(gui, window, gui_dataset: Path,
                                                                        qtbot) -> None:
    gui.open(gui_dataset)
    FakeDetector.gate = gate = threading.Event()
    try:
        assert window.run_autolabeler("fakedet", current_only=False, plugin=FakeDetector()) is not None
        window.doc.set_label([0], "lion")  # a.jpg, while the run waits
        window.actions["next_image"].trigger()  # leaving it saves it, as without a run
        assert window.doc.item.rel == "b.jpg"
        assert [s["label"] for s in json.loads((gui_dataset / "a.json").read_text())["shapes"]] == ["lion"]
        window.actions["next_image"].trigger()
        window.doc.set_label([0], "fox")  # c.jpg: autosaved after the pause, during the run
        qtbot.waitUntil(lambda: not window.doc.dirty, timeout=5000)
        assert json.loads((gui_dataset / "c.json").read_text())["shapes"][0]["label"] == "fox"
        with qtbot.waitSignal(window.pluginFinished, timeout=10000):
            gate.set()
    finally:
        gate.set()
        FakeDetector.gate = None
        qtbot.waitUntil(lambda: window.worker is None, timeout=10000)
    qtbot.waitUntil(lambda: not window.session.unsaved(), timeout=5000)
    for name, first in (("a.json", "lion"), ("c.json", "fox")):  # both the edit and the results
        shapes = json.loads((gui_dataset / name).read_text())["shapes"]
        assert shapes[0]["label"] == first and ("bird", "suggested") in [
            (s["label"], s.get("labeler", {}).get("review")) for s in shapes], name
    assert [s.label for s in window.doc.shapes][:1] == ["fox"] and window.doc.external_change() is None


# -- 7. an invalid file's classes are not the dataset's ---------------------------------------------
def test_classes_of_an_invalid_label_file_are_not_listed(gui, window, tmp_path: Path, qtbot) -> None:
    root = tmp_path / "ds"
    make_image(root / "a.jpg", (120, 90), seed=1)  # the first image, opened at once: invalid
    write_json(root / "a.json", labelme_json("a.jpg", (120, 90), [rect("zebra", 10, 10, 50, 40) | {"points": "oops"}]))
    make_image(root / "b.jpg", (120, 90), seed=2)
    write_json(root / "b.json", labelme_json("b.jpg", (120, 90), [rect("cat", 10, 10, 50, 40)]))
    make_image(root / "c.jpg", (120, 90), seed=3)
    write_json(root / "c.json", labelme_json("c.jpg", (120, 90), [
        rect("okapi", 10, 10, 50, 40), rect("dog", 1, 1, 5, 5) | {"group_id": "not a number"}]))
    assert window.open_folder(root)
    window.wait_for_scan()
    assert window.doc is None and any("a.json" in e for e in window.errors)
    _click_row(qtbot, window, "c.jpg")  # invalid too, found when clicked
    qtbot.wait(50)
    window.wait_for_scan()
    panel = [window.class_panel.item(i).data(Qt.ItemDataRole.UserRole) for i in range(window.class_panel.count())]
    assert window.classes == panel == ["cat"]
    for rel in ("a.jpg", "c.jpg"):  # and the list keeps saying why
        assert window.file_model.statuses[window._rows[rel]].error


# -- 8. saving keeps the file's key order ------------------------------------------------------------
def _key_orders(path: Path) -> tuple[list[str], list[list[str]]]:
    data = json.loads(path.read_text())
    return list(data), [list(s) for s in data["shapes"]]


@pytest.mark.parametrize("order", ["labelme", "unusual"])
def test_saving_keeps_the_key_order_of_the_file(gui, window, gui_dataset: Path, order: str) -> None:
    shape = {"label": "cat", "points": [[10, 10], [50, 40]], "group_id": None, "description": "",
             "shape_type": "rectangle", "flags": {}, "mask": None}  # labelme 5's own order
    top = labelme_json("a.jpg", (120, 90), [shape])
    if order == "unusual":
        shape = {"flags": {}, "shape_type": "rectangle", "x_note": "kept", "points": shape["points"],
                 "label": "cat", "description": "", "group_id": None}
        top = {"imageWidth": 120, "shapes": [shape], "x_extra": {"b": 1, "a": 2}, "imagePath": "a.jpg",
               "imageHeight": 90, "version": "5.4.1", "flags": {}, "imageData": None}
    path = write_json(gui_dataset / "a.json", top)
    keys, shape_keys = _key_orders(path)
    gui.open(gui_dataset)
    gui.drag((30, 25), (40, 35))  # move the shape: an edit, then save
    assert window.doc.dirty and window.save()
    saved_keys, saved_shape_keys = _key_orders(path)
    assert saved_keys == keys and saved_shape_keys == shape_keys
    window.canvas.select([0])
    window.answers.queue.append(LabelAnswer(label="cat", text="TXT"))  # adds a new key: at the end
    window.actions["edit_label"].trigger()
    window.doc.set_reviewed(True)
    assert window.save()
    saved_keys, saved_shape_keys = _key_orders(path)
    assert saved_keys == [*keys, "labeler"] and saved_shape_keys == [[*shape_keys[0], "labeler"]]

