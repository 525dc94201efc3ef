"""The Qt-free document model: undo/redo, review, dirty state, external-change detection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labeler.dataset import open_dataset
from labeler.editing.document import Document, ExternalChangeError
from labeler.geometry import shape_distance
from labeler.model import Shape


def _doc(root: Path, rel: str) -> Document:
    ds = open_dataset(root)
    return Document.open(ds, ds.item(rel))


def test_undo_redo_and_dirty(gui_dataset: Path) -> None:
    doc = _doc(gui_dataset, "a.jpg")
    events: list[str] = []
    doc.subscribe(events.append)
    assert not doc.dirty
    doc.add_shape(Shape(label="dog", points=[(1, 1), (9, 9)], shape_type="rectangle"))
    doc.move_shapes([1], 5, 5)
    assert doc.shapes[1].points == [(6, 6), (14, 14)]
    assert doc.dirty and doc.undo_text.startswith("Move")
    assert doc.undo() and doc.shapes[1].points == [(1, 1), (9, 9)]
    assert doc.undo() and len(doc.shapes) == 1
    assert not doc.dirty  # back to what is on disk
    assert doc.redo() and doc.redo() and doc.shapes[1].points == [(6, 6), (14, 14)]
    assert not doc.redo()
    assert events.count("shapes") == 2 and events.count("all") == 4


def test_failed_edit_restores_and_records_nothing(gui_dataset: Path) -> None:
    doc = _doc(gui_dataset, "a.jpg")
    with pytest.raises(RuntimeError), doc.edit("broken") as ann:
        ann.shapes.clear()
        raise RuntimeError("boom")
    assert len(doc.shapes) == 1 and not doc.can_undo
    with doc.edit("no-op"):
        pass
    assert not doc.can_undo


def test_accept_reject_and_accept_above(gui_dataset: Path) -> None:
    doc = _doc(gui_dataset, "b.jpg")
    assert doc.accept_above(0.5) == 1
    assert doc.shapes[0].review == "accepted" and doc.shapes[1].review == "suggested"
    assert doc.reject([1]) == 1
    assert len(doc.shapes) == 1 and doc.annotation.meta.rejected[0].label == "cat"
    doc.undo()
    assert doc.shapes[1].is_suggestion and not doc.annotation.meta.rejected


def test_save_is_atomic_and_refuses_external_change(gui_dataset: Path) -> None:
    doc = _doc(gui_dataset, "a.jpg")
    doc.set_label([0], "lion")
    # someone else writes the file meanwhile (labeler autolabel, another labeler, an editor)
    path = gui_dataset / "a.json"
    data = json.loads(path.read_text())
    data["shapes"][0]["label"] = "tiger"
    path.write_text(json.dumps(data))
    os.utime(path, ns=(1, 1))
    assert doc.external_change() == "changed"
    with pytest.raises(ExternalChangeError):
        doc.save()
    assert json.loads(path.read_text())["shapes"][0]["label"] == "tiger"  # not overwritten
    assert doc.save(force=True)
    assert json.loads(path.read_text())["shapes"][0]["label"] == "lion"
    assert doc.external_change() is None and not doc.dirty


def test_touch_without_content_change_is_not_a_conflict(gui_dataset: Path) -> None:
    doc = _doc(gui_dataset, "a.jpg")
    doc.set_label([0], "lion")
    os.utime(gui_dataset / "a.json", ns=(10**18, 10**18))
    assert doc.external_change() is None
    assert doc.save()


def test_unlabeled_image_gets_no_file_until_labeled(gui_dataset: Path) -> None:
    doc = _doc(gui_dataset, "d.jpg")
    assert not doc.save() and not (gui_dataset / "d.json").exists()
    doc.toggle_image_label("cat")
    assert doc.save() and (gui_dataset / "d.json").exists()
    reread = _doc(gui_dataset, "d.jpg")
    assert reread.annotation.image_labels == ["cat"]


def test_merge_result_keeps_unsaved_edits(gui_dataset: Path) -> None:
    doc = _doc(gui_dataset, "a.jpg")
    doc.set_label([0], "lion")  # unsaved edit
    result = doc.annotation.model_copy(deep=True)
    result.shapes = [Shape(label="bird", points=[(1, 1), (5, 5)], shape_type="rectangle",
                           labeler={"review": "suggested", "score": 0.7, "source": {"plugin": "p"}})]
    doc.merge_result(result, "p")
    assert [s.label for s in doc.shapes] == ["lion", "bird"]
    assert doc.dirty
    doc.undo()
    assert [s.label for s in doc.shapes] == ["lion"]


def test_fix_is_one_undoable_step(gui_dataset: Path) -> None:
    doc = _doc(gui_dataset, "c.jpg")

    def relabel(ann, issue):  # noqa: ANN001
        ann.shapes[0].label = "cat"
        return True

    assert doc.apply_fix(0, relabel, "test")
    assert doc.shapes[0].label == "cat" and doc.annotation.meta.issues[0].state == "fixed"
    doc.undo()
    assert doc.shapes[0].label == "dog" and doc.annotation.meta.issues[0].state == "open"


def test_shape_distance() -> None:
    r = Shape(label="a", points=[(0, 0), (10, 10)], shape_type="rectangle")
    assert shape_distance(r, 5, 5) == 0 and shape_distance(r, 13, 5) == pytest.approx(3)
    c = Shape(label="a", points=[(0, 0), (3, 4)], shape_type="circle")
    assert shape_distance(c, 0, 7) == pytest.approx(2)
    line = Shape(label="a", points=[(0, 0), (10, 0)], shape_type="line")
    assert shape_distance(line, 5, 2) == pytest.approx(2)


def test_relabel_by_hand_resolves_the_findings_on_that_shape_only(gui_dataset: Path) -> None:
    doc = _doc(gui_dataset, "c.jpg")
    doc.annotation.meta.issues[0].shape_index = 0
    doc.set_label([0], "dog")  # the same class: the finding still stands
    assert doc.annotation.meta.issues[0].state == "open" and not doc.can_undo
    doc.set_label([0], "wolf")
    issue = doc.annotation.meta.issues[0]
    assert (issue.state, issue.fixed_by, issue.undo) == ("fixed", "person", None)
    doc.undo()  # one step
    assert doc.shapes[0].label == "dog" and doc.annotation.meta.issues[0].state == "open"


@pytest.mark.parametrize("order", ["labelme", "unusual"])
def test_saving_keeps_the_key_order_it_was_read_with(gui_dataset: Path, order: str) -> None:
    shape = {"label": "cat", "points": [[10, 10], [50, 40]], "group_id": None, "description": "",
             "shape_type": "rectangle", "flags": {}, "mask": None}
    data: dict = {"version": "5.4.1", "flags": {}, "shapes": [shape], "imagePath": "a.jpg",
                  "imageData": None, "imageHeight": 90, "imageWidth": 120}
    if order == "unusual":
        shape = {"x_attr": [1], "shape_type": "rectangle", "label": "cat", "flags": {},
                 "points": [[10, 10], [50, 40]]}
        data = {"shapes": [shape], "x_top": {"z": 1, "a": 0}, "imageWidth": 120, "imageHeight": 90,
                "imagePath": "a.jpg", "version": "5.4.1"}
    path = gui_dataset / "a.json"
    path.write_text(json.dumps(data, indent=2))
    doc = _doc(gui_dataset, "a.jpg")
    doc.move_shapes([0], 1, 1)
    doc.add_shape(Shape(label="dog", points=[(1, 1), (9, 9)], shape_type="rectangle"))
    assert doc.save()
    saved = json.loads(path.read_text())
    assert list(saved) == list(data) and list(saved["shapes"][0]) == list(shape)
    assert saved["x_top"] == data["x_top"] if order == "unusual" else "x_top" not in saved
    assert list(saved["shapes"][1])[:3] == ["label", "points", "group_id"]  # a new shape: labelme's order
