"""End-to-end window tests: a person's gestures on a small real dataset, offscreen."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence

from labeler.gui.main_window import MainWindow
from tests.gui.conftest import labelme_json, make_image, rect, write_json


def _shortcut(window: MainWindow, name: str) -> None:
    """Trigger a command the way its first shortcut would (offscreen key routing is flaky)."""
    act = window.actions[name]
    assert act.shortcut() != QKeySequence() or name in ("toggle_autosave",)
    act.trigger()


def test_open_draw_label_save_reopen(gui, window, gui_dataset: Path, qtbot, tmp_path: Path) -> None:
    gui.open(gui_dataset)
    assert window.doc.item.rel == "a.jpg" and window.canvas.has_image
    assert window.file_count.text() == "4 of 4 images"
    gui.click(0, 0)  # focus
    window.open_rel("d.jpg")
    qtbot.waitUntil(lambda: window.canvas.has_image)
    # rectangle: Ctrl+R, drag
    _shortcut(window, "mode_rectangle")
    gui.label_next("bird")
    gui.drag((10, 10), (60, 50))
    assert [s.shape_type for s in window.doc.shapes] == ["rectangle"]
    (x1, y1), (x2, y2) = window.doc.shapes[0].points
    assert abs(x1 - 10) < 1.5 and abs(y1 - 10) < 1.5 and abs(x2 - 60) < 1.5 and abs(y2 - 50) < 1.5
    assert window.windowTitle().endswith("d.jpg *")  # unsaved marker
    # polygon: Ctrl+N, click points, click the first one again to close
    _shortcut(window, "mode_polygon")
    gui.label_next("fish", text="HELLO")
    for x, y in [(70, 10), (110, 10), (110, 60), (70, 60)]:
        gui.click(x, y)
    gui.click(70, 10)
    shapes = window.doc.shapes
    assert [s.shape_type for s in shapes] == ["rectangle", "polygon"]
    assert len(shapes[1].points) == 4 and shapes[1].label == "fish" and shapes[1].text == "HELLO"
    window.answers.asked.clear()
    _shortcut(window, "save")
    assert not window.doc.dirty and not window.windowTitle().endswith("*")
    data = json.loads((gui_dataset / "d.json").read_text())
    assert [s["label"] for s in data["shapes"]] == ["bird", "fish"]
    assert data["shapes"][1]["labeler"]["text"] == "HELLO"
    # reopen in a fresh window: the shapes are there
    other = MainWindow(settings=QSettings(str(tmp_path / "s2.ini"), QSettings.Format.IniFormat), max_side=256)
    qtbot.addWidget(other)
    other.open_folder(gui_dataset)
    other.open_rel("d.jpg")
    assert [s.label for s in other.doc.shapes] == ["bird", "fish"]
    other.autosave = False
    other.close()


def test_point_line_circle_and_edit_vertex(gui, window, gui_dataset: Path) -> None:
    gui.open(gui_dataset)
    window.open_rel("d.jpg")
    for mode, gesture in (("mode_point", lambda: gui.click(30, 30)),
                          ("mode_line", lambda: gui.drag((10, 80), (100, 80))),
                          ("mode_circle", lambda: gui.drag((60, 40), (70, 40)))):
        _shortcut(window, mode)
        gui.label_next(mode)
        gesture()
    assert [s.shape_type for s in window.doc.shapes] == ["point", "line", "circle"]
    # drag the circle's rim point (a vertex) outwards: one undo step
    _shortcut(window, "mode_edit")
    window.canvas.select([2])
    gui.drag((70, 40), (80, 40))
    assert window.doc.shapes[2].points[1][0] > 76
    window.doc.undo()
    assert abs(window.doc.shapes[2].points[1][0] - 70) < 1.5


def test_move_undo_redo_delete_copy_paste(gui, window, gui_dataset: Path) -> None:
    gui.open(gui_dataset)
    before = list(window.doc.shapes[0].points)
    gui.drag((30, 25), (40, 35))  # drag the cat rectangle by its inside
    after = window.doc.shapes[0].points
    assert abs(after[0][0] - before[0][0] - 10) < 1.5 and abs(after[0][1] - before[0][1] - 10) < 1.5
    _shortcut(window, "undo")
    assert window.doc.shapes[0].points == before
    _shortcut(window, "redo")
    assert window.doc.shapes[0].points == after
    _shortcut(window, "copy")
    _shortcut(window, "delete")
    assert window.doc.shapes == []
    _shortcut(window, "undo")
    assert len(window.doc.shapes) == 1
    window.open_rel("d.jpg")  # paste into another image
    _shortcut(window, "paste")
    assert [s.label for s in window.doc.shapes] == ["cat"]
    gui.key(Qt.Key.Key_Right)  # nudge the pasted (selected) shape
    assert window.doc.shapes[0].points[0][0] == after[0][0] + 1


def test_autosave_on_leaving_image_and_undo_per_image(gui, window, gui_dataset: Path) -> None:
    gui.open(gui_dataset)
    window.doc.set_label([0], "lion")
    _shortcut(window, "next_image")
    assert window.doc.item.rel == "b.jpg"
    assert json.loads((gui_dataset / "a.json").read_text())["shapes"][0]["label"] == "lion"
    _shortcut(window, "prev_image")
    assert window.doc.can_undo  # the history of a.jpg is still there
    window.doc.undo()
    assert window.doc.shapes[0].label == "cat"


def test_review_accept_reject_keys_and_next(gui, window, gui_dataset: Path) -> None:
    gui.open(gui_dataset)
    _shortcut(window, "next_review")
    assert window.doc.item.rel == "b.jpg"
    assert window.review_panel.suggestions.count() == 2
    _shortcut(window, "accept_suggestion")  # nothing selected: the best-scoring one
    assert window.doc.shapes[0].review == "accepted"
    _shortcut(window, "reject_suggestion")
    assert len(window.doc.shapes) == 1 and window.doc.annotation.meta.rejected[0].label == "cat"
    _shortcut(window, "undo")
    assert window.doc.shapes[1].is_suggestion
    window.review_panel.threshold.setValue(0.2)
    _shortcut(window, "accept_above")
    assert all(s.review == "accepted" for s in window.doc.shapes)
    _shortcut(window, "mark_reviewed")  # marks and jumps to the next image to review
    assert window.doc.item.rel == "c.jpg"
    data = json.loads((gui_dataset / "b.json").read_text())
    assert data["labeler"]["reviewed"] is True


def test_issue_fix_a_key_away(gui, window, gui_dataset: Path) -> None:
    gui.open(gui_dataset)
    window.open_rel("c.jpg")
    assert window.review_panel.issues.count() == 1
    _shortcut(window, "apply_fix")
    assert window.doc.shapes[0].label == "cat"
    assert window.doc.annotation.meta.issues[0].state == "fixed"
    assert window.review_panel.issues.count() == 0
    _shortcut(window, "undo")
    assert window.doc.shapes[0].label == "dog"
    _shortcut(window, "dismiss_issue")
    assert window.doc.annotation.meta.issues[0].state == "dismissed"


def test_fix_of_a_shape_edited_since_the_check_is_refused(gui, window, gui_dataset: Path) -> None:
    data = json.loads((gui_dataset / "c.json").read_text())
    data["labeler"]["issues"][0]["suggested_fix"]["from"] = "wolf"  # judged as "wolf", now "dog"
    (gui_dataset / "c.json").write_text(json.dumps(data))
    gui.open(gui_dataset)
    window.open_rel("c.jpg")
    _shortcut(window, "apply_fix")
    assert window.doc.shapes[0].label == "dog"
    assert window.doc.annotation.meta.issues[0].state == "open" and not window.doc.dirty
    assert "now 'dog', not 'wolf'" in window.errors[-1]


def test_file_list_status_filters_and_search(gui, window, gui_dataset: Path) -> None:
    gui.open(gui_dataset)
    statuses = {it.rel: st.kind for it, st in zip(window.items, window.file_model.statuses, strict=True)}
    assert statuses == {"a.jpg": "labeled", "b.jpg": "suggestions", "c.jpg": "issues", "d.jpg": "unlabeled"}
    window.status_filter.setCurrentIndex(window.status_filter.findData("needs_review"))
    assert window.file_count.text() == "2 of 4 images"
    window.status_filter.setCurrentIndex(0)
    window.label_filter.setCurrentIndex(window.label_filter.findData("dog"))
    assert window.file_proxy.rowCount() == 2
    window.label_filter.setCurrentIndex(0)
    window.issue_filter.setCurrentIndex(window.issue_filter.findData("mislabel"))
    assert window.file_proxy.rowCount() == 1
    window.issue_filter.setCurrentIndex(0)
    window.search.setText("d.j")
    assert window.file_count.text() == "1 of 4 images"


def test_image_labels_with_number_keys(gui, window, gui_dataset: Path, qtbot) -> None:
    gui.open(gui_dataset)
    window.open_rel("d.jpg")
    assert window.classes == ["cat", "dog"]
    window._number_key(2, toggle=False)
    assert window.doc.annotation.image_labels == ["dog"]
    window._number_key(1, toggle=False)
    assert window.doc.annotation.image_labels == ["cat"]
    window._number_key(2, toggle=True)
    assert window.doc.annotation.image_labels == ["cat", "dog"]
    # the key itself reaches the shortcut
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_2)
    assert window.doc.annotation.image_labels in (["dog"], ["cat", "dog"])


def test_external_change_warning(gui, window, gui_dataset: Path) -> None:
    gui.open(gui_dataset)
    asked: list[str] = []
    window.resolve_conflict = lambda doc, state: asked.append(state) or "cancel"
    window.doc.set_label([0], "lion")
    path = gui_dataset / "a.json"
    data = json.loads(path.read_text())
    data["shapes"].append(data["shapes"][0] | {"label": "from-cli"})
    path.write_text(json.dumps(data))
    os.utime(path, ns=(5, 5))
    assert not window.save()
    assert asked == ["changed"]
    assert "from-cli" in path.read_text() and "lion" not in path.read_text()  # nothing overwritten
    window.resolve_conflict = lambda doc, state: "overwrite"
    assert window.save()
    assert "lion" in path.read_text()


def test_external_change_reloads_when_nothing_pending(gui, window, gui_dataset: Path) -> None:
    gui.open(gui_dataset)
    path = gui_dataset / "a.json"
    data = json.loads(path.read_text())
    data["shapes"][0]["label"] = "tiger"
    path.write_text(json.dumps(data))
    os.utime(path, ns=(7, 7))
    window.check_external_change()
    assert window.doc.shapes[0].label == "tiger" and not window.doc.dirty


def test_shortcuts_dialog_lists_commands(window) -> None:
    from labeler.gui.shortcuts import COMMANDS, ShortcutsDialog

    dlg = ShortcutsDialog(window)
    keys = {dlg.table.item(r, 0).text() for r in range(dlg.table.rowCount())}
    assert "Ctrl+R" in keys and "D" in keys and "Y" in keys
    assert len({k for c in COMMANDS for k in c.keys}) == sum(len(c.keys) for c in COMMANDS), "duplicate key"


def test_edit_label_changes_the_group_id_too(gui, window, gui_dataset: Path) -> None:
    from labeler.gui.label_dialog import LabelAnswer

    gui.open(gui_dataset)
    window.open_rel("a.jpg")
    window.canvas.select([0])
    window.answers.queue.append(LabelAnswer(label="cat", group_id=7))
    window.edit_label()
    assert window.answers.groups[-1] is None  # the dialog was shown the shape's group (none)
    assert window.doc.shapes[0].group_id == 7
    window.save()
    assert json.loads((gui_dataset / "a.json").read_text())["shapes"][0]["group_id"] == 7
    window.answers.queue.append(LabelAnswer(label="cat", group_id=7))
    window.edit_label()
    assert window.answers.groups[-1] == 7


def test_paging_on_after_the_open_image_leaves_the_filtered_list(gui, window, gui_dataset: Path, qtbot) -> None:
    """Fixing the last issue drops the image from an 'issues' filter: D and A still step,
    and showing an image without issues after one with a dismissed issue raises nothing."""
    make_image(gui_dataset / "e.jpg", (120, 90), seed=5)
    write_json(gui_dataset / "e.json", labelme_json("e.jpg", (120, 90), [rect("dog", 10, 10, 50, 50)], labeler={
        "issues": [{"kind": "outlier", "score": 0.7, "source": {"plugin": "fakecheck"}}]}))
    gui.open(gui_dataset)
    window.status_filter.setCurrentIndex(window.status_filter.findData("issues"))
    window.open_rel("c.jpg")
    _shortcut(window, "dismiss_issue")
    assert window.doc.item.rel == "c.jpg"
    _shortcut(window, "next_image")
    assert window.doc.item.rel == "e.jpg"
    _shortcut(window, "prev_image")  # c.jpg is filtered out now: back to nothing before it
    window.status_filter.setCurrentIndex(0)
    window.open_rel("a.jpg")  # no issues: the review panel empties without an error
    assert window.review_panel.issues.count() == 0


def test_paging_steps_over_an_unreadable_label_file(gui, window, gui_dataset: Path) -> None:
    (gui_dataset / "b.json").write_text("{ not json", encoding="utf-8")
    gui.open(gui_dataset)
    window.open_rel("a.jpg")
    _shortcut(window, "next_image")
    assert window.doc.item.rel == "c.jpg"  # b.jpg reported and skipped
    assert any("b.json" in e for e in window.errors)


def test_a_broken_image_says_so_on_the_canvas_and_in_the_list(gui, window, gui_dataset: Path, qtbot) -> None:
    """A label file whose image is broken opens (its shapes are there) and says why there is
    no picture; a broken image without a label file is reported and marked in the list."""
    write_json(gui_dataset / "d.json", labelme_json("d.jpg", (120, 90), [rect("dog", 10, 10, 50, 50)]))
    (gui_dataset / "d.jpg").write_bytes(b"definitely not a jpeg")
    gui.open(gui_dataset)
    window.open_rel("d.jpg")
    assert window.doc.item.rel == "d.jpg" and len(window.doc.shapes) == 1
    qtbot.waitUntil(lambda: bool(window.canvas.image_problem), timeout=5000)
    assert "d.jpg" in window.canvas.image_problem
    row = [i.rel for i in window.items].index("d.jpg")
    assert window.file_model.statuses[row].error


def test_undo_while_drawing_works_on_a_fresh_image(gui, window, gui_dataset: Path) -> None:
    gui.open(gui_dataset)
    window.open_rel("d.jpg")  # nothing to undo yet
    assert not window.actions["undo"].isEnabled()
    _shortcut(window, "mode_polygon")
    for x, y in [(70, 10), (110, 10), (110, 60)]:
        gui.click(x, y)
    assert window.actions["undo"].isEnabled()
    _shortcut(window, "undo")
    assert len(window.canvas.tool.points) == 2


def test_another_folder_opens_fitted_not_at_the_last_zoom(gui, window, gui_dataset: Path, tmp_path: Path) -> None:
    gui.open(gui_dataset)
    window.canvas.zoom_by(3.0)
    assert window.canvas.fit_mode is None
    other = tmp_path / "other"
    make_image(other / "x.jpg", (120, 90), seed=9)
    gui.open(other)
    assert window.canvas.fit_mode == "window"


def test_review_list_keeps_the_highlight_after_accept_above(gui, window, gui_dataset: Path) -> None:
    gui.open(gui_dataset)
    window.open_rel("b.jpg")
    window.canvas.select([1])  # the 0.3 cat
    window.accept_above(0.5)  # accepts the 0.9 dog only
    assert window.doc.shapes[0].review == "accepted" and window.doc.shapes[1].is_suggestion
    assert window.review_panel.current_suggestion() == 1


def test_the_datasets_classes_get_distinct_colours(gui, window, gui_dataset: Path, qtbot) -> None:
    from labeler.gui.colors import label_color

    gui.open(gui_dataset)
    qtbot.waitUntil(lambda: set(window.classes) >= {"cat", "dog"}, timeout=5000)
    colours = {c: label_color(c).name() for c in window.classes}
    assert len(set(colours.values())) == len(colours)
    window._add_class("zebra")  # a new class: the others keep theirs
    assert {c: label_color(c).name() for c in colours} == colours
    assert label_color("zebra").name() not in colours.values()


def test_open_recent_remembers_the_labels_folder(gui, window, tmp_path: Path) -> None:
    images, labels = tmp_path / "sep" / "images", tmp_path / "sep" / "labels"
    make_image(images / "a.jpg", (120, 90), seed=1)
    labels.mkdir(parents=True)
    write_json(labels / "a.json", labelme_json("../images/a.jpg", (120, 90), [rect("cat", 10, 10, 50, 40)]))
    assert window.open_folder(images, labels)
    other = tmp_path / "other"
    make_image(other / "x.jpg", (120, 90), seed=2)
    gui.open(other)
    entry = next(e for e in window._recent() if e.startswith(str(images)))
    assert window._open_recent(entry)
    assert window.dataset.labels_dir == labels
    window.open_rel("a.jpg")
    assert [s.label for s in window.doc.shapes] == ["cat"]


def test_paging_from_an_unreadable_first_image(gui, window, tmp_path: Path, qtbot) -> None:
    root = tmp_path / "ds"
    make_image(root / "a.jpg", (120, 90), seed=1)
    (root / "a.json").write_text('{"shapes": [', encoding="utf-8")
    make_image(root / "b.jpg", (120, 90), seed=2)
    window.open_folder(root)
    window.wait_for_scan()
    assert window.doc is None and not window.review_panel.accept_btn.isEnabled()
    _shortcut(window, "next_image")
    assert window.doc is not None and window.doc.item.rel == "b.jpg"


def test_conflict_merge_keeps_the_persons_edit_and_what_was_saved(gui, window, gui_dataset: Path) -> None:
    """The default answer to a changed file: keep every edit of ours, add theirs."""
    gui.open(gui_dataset)
    window.resolve_conflict = lambda doc, state: "merge"
    window.doc.set_label([0], "lion")
    path = gui_dataset / "a.json"
    data = json.loads(path.read_text())
    data["shapes"].append(data["shapes"][0] | {"label": "from-cli", "points": [[1, 1], [3, 3]]})
    data["shapes"].append(data["shapes"][0] | {
        "label": "suggested-box", "points": [[4, 4], [9, 9]], "shape_type": "rectangle",
        "labeler": {"review": "suggested", "score": 0.8, "source": {"plugin": "yolo"}}})
    path.write_text(json.dumps(data))
    assert window.save()
    labels = [s["label"] for s in json.loads(path.read_text())["shapes"]]
    assert labels[0] == "lion" and "from-cli" in labels and "suggested-box" in labels
    assert not window.doc.dirty and window.doc.external_change() is None


def test_opening_a_folder_finishes_an_interrupted_fix(gui, window, gui_dataset: Path) -> None:
    """A fix killed after its commit record: the GUI rolls it forward before showing anything."""
    staged = gui_dataset / ".a.json.99999999.00aa.tmp"
    data = json.loads((gui_dataset / "a.json").read_text())
    data["shapes"][0]["label"] = "from-the-fix"
    staged.write_text(json.dumps(data))
    journal = gui_dataset / ".labeler" / "journal"
    journal.mkdir(parents=True)
    (journal / "1-99999999-aa.json").write_text(json.dumps(
        {"id": "1", "state": "committed", "ops": [{"op": "write", "target": "a.json", "staged": staged.name}]}))
    gui.open(gui_dataset)
    window.open_rel("a.jpg")
    assert window.doc.shapes[0].label == "from-the-fix"
    assert not staged.exists() and not list(journal.iterdir())
