"""The editing session on a small real dataset: documents, saving and conflicts, review
targeting, edits from gestures, classes, clipboard, fixes and plugin jobs (no Qt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labeler.editing.session import (
    ClassesChanged,
    CurrentChanged,
    DocumentChanged,
    ErrorReported,
    LabelAnswer,
    Message,
    OpenFailed,
    Saved,
    Session,
)
from labeler.editing.tools import ShapesMoved, VertexInserted, VertexRemoved
from labeler.model import Shape
from tests.editing.conftest import labelme_json, make_image, write_json

Answer = LabelAnswer  # the one answer type, Qt-free


@pytest.fixture
def session(gui_dataset: Path) -> Session:
    s = Session()
    s.open_dataset(gui_dataset)
    s.events = []  # type: ignore[attr-defined]
    s.subscribe(object, s.events.append)  # type: ignore[arg-type, attr-defined]
    return s


def item(s: Session, rel: str):  # noqa: ANN201
    assert s.dataset is not None
    return s.dataset.item(rel)


def test_open_keeps_documents_with_their_undo_and_autosaves_on_leaving(session: Session, gui_dataset: Path) -> None:
    a = session.open_item(item(session, "a.jpg"))
    assert a is not None and session.doc is a and session.view.document is a
    assert isinstance(session.events[-1], CurrentChanged)  # type: ignore[attr-defined]
    a.add_shape(Shape(label="dog", points=[(1, 1), (9, 9)], shape_type="rectangle"))
    assert any(isinstance(e, DocumentChanged) for e in session.events)  # type: ignore[attr-defined]
    assert session.wants_autosave() and session.classes == ["cat", "dog"]
    b = session.open_item(item(session, "b.jpg"))  # leaving a.jpg saves it
    assert b is not None and not a.dirty
    assert [s["label"] for s in json.loads((gui_dataset / "a.json").read_text())["shapes"]] == ["cat", "dog"]
    again = session.open_item(item(session, "a.jpg"))
    assert again is a and a.can_undo  # the same document, its history kept


def test_a_dirty_document_is_kept_when_autosave_is_off(session: Session) -> None:
    session.autosave = False
    a = session.open_item(item(session, "a.jpg"))
    a.remove_shapes([0])  # type: ignore[union-attr]
    session.open_item(item(session, "b.jpg"))
    assert session.unsaved() == [a]
    assert not session.wants_autosave()
    assert session.save_all() and session.unsaved() == []


def test_an_unreadable_label_file_is_reported_and_not_opened(session: Session, gui_dataset: Path) -> None:
    (gui_dataset / "d.json").write_text("{not json", encoding="utf-8")
    assert session.open_item(item(session, "d.jpg")) is None
    failed = [e for e in session.events if isinstance(e, OpenFailed)]  # type: ignore[attr-defined]
    assert failed and failed[0].rel == "d.jpg" and "d.json" in session.errors[-1]
    assert any(isinstance(e, ErrorReported) for e in session.events)  # type: ignore[attr-defined]


@pytest.mark.parametrize("choice, labels", [
    ("merge", {"cat", "wolf", "fox"}), ("overwrite", {"cat", "fox"}), ("reload", {"cat", "wolf"}),
])
def test_conflict_policy(session: Session, gui_dataset: Path, choice: str, labels: set[str]) -> None:
    asked: list[str] = []
    session.resolve_conflict = lambda doc, state: asked.append(state) or choice
    a = session.open_item(item(session, "a.jpg"))
    a.add_shape(Shape(label="fox", points=[(1, 1), (9, 9)], shape_type="rectangle"))  # type: ignore[union-attr]
    path = gui_dataset / "a.json"
    data = json.loads(path.read_text())  # another program adds a wolf meanwhile
    data["shapes"].append({**data["shapes"][0], "label": "wolf", "points": [[60, 60], [70, 70]]})
    path.write_text(json.dumps(data))
    assert session.save()
    assert asked == ["changed"]
    assert {s["label"] for s in json.loads(path.read_text())["shapes"]} == labels
    assert any(isinstance(e, Saved) for e in session.events)  # type: ignore[attr-defined]


def test_cancel_in_a_conflict_saves_nothing(session: Session, gui_dataset: Path) -> None:
    session.resolve_conflict = lambda doc, state: "cancel"
    a = session.open_item(item(session, "a.jpg"))
    a.remove_shapes([0])  # type: ignore[union-attr]
    (gui_dataset / "a.json").write_text((gui_dataset / "a.json").read_text() + " ")
    assert not session.save() and a.dirty  # type: ignore[union-attr]
    assert not session.leave_current()  # nor can we leave the image


def test_external_change_reloads_a_clean_document(session: Session, gui_dataset: Path) -> None:
    a = session.open_item(item(session, "a.jpg"))
    data = json.loads((gui_dataset / "a.json").read_text())
    data["shapes"][0]["label"] = "lynx"
    (gui_dataset / "a.json").write_text(json.dumps(data))
    session.check_external_change()
    assert a.shapes[0].label == "lynx"  # type: ignore[union-attr]
    assert any(isinstance(e, Message) and "reloaded" in e.text for e in session.events)  # type: ignore[attr-defined]


def test_review_targets_selected_then_highlighted_then_best(session: Session) -> None:
    b = session.open_item(item(session, "b.jpg"))  # dog 0.9, cat 0.3
    assert session.target_suggestion() == 0
    assert session.target_suggestion(highlighted=1) == 1
    session.view.select([1])
    assert session.target_suggestion(highlighted=0) == 1
    assert session.review(accept=False)  # the selected cat is rejected
    assert [s.label for s in b.shapes] == ["dog"]  # type: ignore[union-attr]
    assert session.view.selected == [0]  # the next suggestion is selected
    assert session.review(accept=True) and not b.shapes[0].is_suggestion  # type: ignore[union-attr]
    assert not session.review(accept=True)  # nothing left
    assert "No suggestion" in session.events[-1].text  # type: ignore[attr-defined]


def test_accept_above_and_next_suggestion(session: Session) -> None:
    b = session.open_item(item(session, "b.jpg"))
    session.next_suggestion()
    assert session.view.selected == [0]
    session.next_suggestion()
    assert session.view.selected == [1]
    assert session.accept_above(0.5) == 1
    assert [s.is_suggestion for s in b.shapes] == [False, True]  # type: ignore[union-attr]


def test_gestures_become_document_edits(session: Session) -> None:
    a = session.open_item(item(session, "a.jpg"))
    session.apply(ShapesMoved([0], 5, 5))
    assert a.shapes[0].points == [(15, 15), (55, 45)]  # type: ignore[union-attr]
    a.add_shape(Shape(label="p", points=[(0, 0), (10, 0), (0, 10)], shape_type="polygon"))  # type: ignore[union-attr]
    session.apply(VertexInserted(1, 1, 5, 0))
    assert len(a.shapes[1].points) == 4 and session.view.selected_vertex == (1, 1)  # type: ignore[union-attr]
    session.apply(VertexRemoved(1, 1))
    session.apply(VertexRemoved(1, 1))  # down to 3: refused, said why
    assert len(a.shapes[1].points) == 3  # type: ignore[union-attr]
    assert session.events[-1].text == "A polygon keeps at least 3 points"  # type: ignore[attr-defined]


def test_drawn_shapes_ask_the_label_and_add_classes(session: Session) -> None:
    answers = [Answer("bird", text="tweet"), None]
    session.ask_label = lambda *a, **k: answers.pop(0)
    a = session.open_item(item(session, "a.jpg"))
    assert session.add_drawn("point", [(3, 3)]) == 1
    assert a.shapes[1].label == "bird" and a.shapes[1].text == "tweet"  # type: ignore[union-attr]
    assert "bird" in session.classes and session.view.selected == [1]
    assert any(isinstance(e, ClassesChanged) and "bird" in e.classes for e in session.events)  # type: ignore[attr-defined]
    assert session.add_drawn("point", [(4, 4)]) is None and len(a.shapes) == 2  # type: ignore[union-attr]


def test_clipboard_between_images_and_image_labels(session: Session) -> None:
    session.open_item(item(session, "a.jpg"))
    session.select_all()
    assert session.copy() == 1
    d = session.open_item(item(session, "d.jpg"))
    session.paste()
    assert [s.label for s in d.shapes] == ["cat"] and session.view.selected == [0]  # type: ignore[union-attr]
    session.duplicate()
    assert len(d.shapes) == 2  # type: ignore[union-attr]
    session.delete()
    assert len(d.shapes) == 1  # type: ignore[union-attr]
    session.update_classes(["cat", "dog"])
    session.number_key(2, toggle=False)
    session.number_key(1, toggle=True)
    assert sorted(d.annotation.image_labels) == ["cat", "dog"]  # type: ignore[union-attr]
    session.number_key(1, toggle=False)  # exclusive: only cat
    assert d.annotation.image_labels == ["cat"]  # type: ignore[union-attr]


def test_apply_fix_and_dismiss(session: Session) -> None:
    c = session.open_item(item(session, "c.jpg"))  # a mislabel issue proposing "cat"
    assert session.apply_fix(0)
    assert c.shapes[0].label == "cat" and c.annotation.meta.issues[0].state == "fixed"  # type: ignore[union-attr]
    c.undo()  # type: ignore[union-attr]
    session.dismiss_issue(0)
    assert c.annotation.meta.issues[0].state == "dismissed"  # type: ignore[union-attr]


def test_plugin_jobs_save_first_and_merge_results_into_open_documents(session: Session, gui_dataset: Path) -> None:
    from labeler.plugin_api import Autolabeler
    from labeler.predictions import Predictions

    class Boxer(Autolabeler):
        name = "boxer"

        def predict(self, batch):  # noqa: ANN001, ANN201
            import numpy as np

            return [Predictions(xyxy=np.array([[20.0, 20.0, 30.0, 30.0]]), class_name=np.array(["owl"], dtype=object),
                                confidence=np.array([0.8])) for _ in batch]

    a = session.open_item(item(session, "a.jpg"))
    a.add_shape(Shape(label="dog", points=[(1, 1), (9, 9)], shape_type="rectangle"))  # type: ignore[union-attr]
    job = session.autolabel_job(Boxer(), [a.item], redo=True)  # type: ignore[union-attr]
    assert job is not None and not a.dirty  # saved before the run: plugins read the files  # type: ignore[union-attr]
    results = []
    summary = job(lambda *a: None, lambda: False, lambda it, ann: results.append((it, ann)))
    assert summary.processed == 1 and len(results) == 1
    shown, doc = session.merge_result(*results[0], plugin="boxer")
    assert doc is a and [s.label for s in a.shapes] == ["cat", "dog", "owl"]  # type: ignore[union-attr]
    assert shown is a.annotation and not a.dirty  # type: ignore[union-attr]


@pytest.mark.parametrize("broken", ["corrupt label file", "not an image"])
def test_a_failed_open_leaves_no_document_current(session: Session, gui_dataset: Path, broken: str) -> None:
    """Nothing of the image before stays to be edited by mistake; the title names the file."""
    if broken == "corrupt label file":
        (gui_dataset / "b.json").write_text("{ not json", encoding="utf-8")
        rel, named = "b.jpg", "b.json"
    else:
        (gui_dataset / "d.jpg").write_bytes(b"not an image")
        rel, named = "d.jpg", "d.jpg"
    a = session.open_item(item(session, "a.jpg"))
    assert session.title() == "labeler — a.jpg" and session.shown_rel == "a.jpg"
    assert session.open_item(item(session, rel)) is None
    assert session.doc is None and session.view.document is None
    assert isinstance(session.events[-2], CurrentChanged) and session.events[-2].doc is None  # type: ignore[attr-defined]
    assert session.failed is not None and session.failed[0] == rel and named in session.failed[1]
    assert session.title() == f"labeler — {rel} (cannot be opened)" and session.shown_rel == rel
    assert rel in session.unreadable
    session.select_all()
    session.delete()
    session.set_image_label("dog")
    assert [s.label for s in a.shapes] == ["cat"] and not a.dirty  # type: ignore[union-attr]
    assert session.open_item(item(session, "a.jpg")) is a
    assert session.failed is None and session.title() == "labeler — a.jpg"


def test_an_image_that_opens_again_is_no_longer_unreadable(session: Session, gui_dataset: Path) -> None:
    path = gui_dataset / "b.json"
    good = path.read_bytes()
    path.write_text("{ not json", encoding="utf-8")
    assert session.open_item(item(session, "b.jpg")) is None and "b.jpg" in session.unreadable
    path.write_bytes(good)
    assert session.open_item(item(session, "b.jpg")) is not None and session.unreadable == {}


def test_edits_are_autosaved_while_a_plugin_runs_and_merged_with_its_writes(session: Session,
                                                                           gui_dataset: Path) -> None:
    """During a run the saves go on (compare-and-swap writes); one that meets a file the run
    wrote keeps the person's edit and the run's result, without asking."""
    asked: list[str] = []
    session.resolve_conflict = lambda doc, state: asked.append(state) or "cancel"
    a = session.open_item(item(session, "a.jpg"))
    session.busy = True
    a.set_label([0], "lion")  # type: ignore[union-attr]
    assert session.wants_autosave()
    # the run writes a suggestion to a.json meanwhile
    data = json.loads((gui_dataset / "a.json").read_text())
    data["shapes"].append({"label": "owl", "points": [[1, 1], [5, 5]], "shape_type": "rectangle",
                           "labeler": {"review": "suggested", "score": 0.7, "source": {"plugin": "boxer"}}})
    (gui_dataset / "a.json").write_text(json.dumps(data))
    assert session.open_item(item(session, "b.jpg")) is not None  # leaving a.jpg saves it
    assert asked == [] and not a.dirty  # type: ignore[union-attr]
    labels = [s["label"] for s in json.loads((gui_dataset / "a.json").read_text())["shapes"]]
    assert labels == ["lion", "owl"]
    session.doc.set_reviewed(True)  # type: ignore[union-attr]
    session.autosave_now()
    assert json.loads((gui_dataset / "b.json").read_text())["labeler"]["reviewed"] is True


def test_the_label_question_knows_the_shape_it_is_about(session: Session) -> None:
    seen: list[object] = []
    session.ask_label = lambda *a, **k: seen.append(session.labeling_points) or Answer("owl")
    session.open_item(item(session, "d.jpg"))
    session.add_drawn("rectangle", [(5.0, 6.0), (20.0, 30.0)])
    session.view.select([0])
    session.edit_label()
    assert seen == [[(5.0, 6.0), (20.0, 30.0)]] * 2 and session.labeling_points is None


def test_keep_previous_copies_the_trusted_shapes_into_an_image_without_any(session: Session, gui_dataset: Path) -> None:
    b = session.open_item(item(session, "b.jpg"))
    session.keep_previous = True
    d = session.open_item(item(session, "d.jpg"))  # b has only suggestions: nothing to keep
    assert d is not None and d.shapes == []
    b = session.open_item(item(session, "b.jpg"))
    b.accept([0])  # type: ignore[union-attr]  # the dog becomes trusted, the cat stays a suggestion
    c = session.open_item(item(session, "c.jpg"))  # c has its own dog: left as it is
    assert [s.label for s in c.shapes] == ["dog"] and not c.dirty  # type: ignore[union-attr]
    session.open_item(item(session, "b.jpg"))
    d = session.open_item(item(session, "d.jpg"))
    assert d is not None and [(s.label, s.points) for s in d.shapes] == [("dog", [(5, 5), (40, 40)])]
    assert d.shapes[0].is_human and d.shapes[0].score is None and d.shapes[0].source is None
    assert d.dirty and d.undo_text == "Keep previous annotation"
    assert any(isinstance(e, Message) and "Kept 1 shape" in e.text for e in session.events)  # type: ignore[attr-defined]
    d.undo()
    assert d.shapes == [] and session.open_item(item(session, "a.jpg")) is not None
    assert not (gui_dataset / "d.json").exists()  # undone before leaving: nothing to save
    session.keep_previous = False
    d = session.open_item(item(session, "d.jpg"))
    assert d is not None and d.shapes == []  # off: nothing copied


def test_save_as_writes_a_labelme_copy_that_points_at_the_image(session: Session, gui_dataset: Path, tmp_path: Path) -> None:
    assert not session.save_as(tmp_path / "x.json")  # nothing open
    a = session.open_item(item(session, "a.jpg"))
    a.add_shape(Shape(label="road", shape_type="linestrip", points=[(1, 2), (30, 40), (60, 2)]))  # type: ignore[union-attr]
    out = tmp_path / "elsewhere" / "copy.json"
    out.parent.mkdir()
    assert session.save_as(out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["imagePath"] == "../ds/a.jpg" and (out.parent / data["imagePath"]).is_file()
    assert [(s["label"], s["shape_type"]) for s in data["shapes"]] == [("cat", "rectangle"), ("road", "linestrip")]
    assert data["shapes"][1]["points"] == [[1, 2], [30, 40], [60, 2]]
    on_disk = json.loads((gui_dataset / "a.json").read_text(encoding="utf-8"))
    assert len(on_disk["shapes"]) == 1 and a.dirty  # type: ignore[union-attr]  # the dataset's file: saved as usual
    (tmp_path / "taken.json").mkdir()  # a folder of that name: the write fails, named
    assert not session.save_as(tmp_path / "taken.json")
    assert "taken.json" in session.errors[-1]


def test_delete_label_file_removes_it_and_undo_brings_the_shapes_back(session: Session, gui_dataset: Path) -> None:
    a = session.open_item(item(session, "a.jpg"))
    assert a is not None and session.delete_label_file()
    assert not (gui_dataset / "a.json").exists() and a.shapes == [] and a.undo_text == "Delete label file"
    session.save()  # an image nobody labels gets no file
    assert not (gui_dataset / "a.json").exists()
    assert not session.delete_label_file()  # nothing left to delete
    a.undo()
    assert [s.label for s in a.shapes] == ["cat"] and a.dirty
    assert session.save() and json.loads((gui_dataset / "a.json").read_text(encoding="utf-8"))["shapes"][0]["label"] == "cat"


def test_delete_label_file_leaves_a_version_another_program_wrote_since(session: Session, gui_dataset: Path) -> None:
    """Delete File removes the version the person saw: when another program (labelme, a
    labeler run) rewrote the file after it was opened, it stays, and the person is told."""
    a = session.open_item(item(session, "a.jpg"))
    assert a is not None
    path = gui_dataset / "a.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["shapes"].append({**data["shapes"][0], "label": "dog"})  # the other program's edit
    path.write_text(json.dumps(data), encoding="utf-8")
    theirs = path.read_bytes()
    assert not session.delete_label_file()
    assert path.read_bytes() == theirs and [s.label for s in a.shapes] == ["cat"]
    assert "changed on disk since it was opened" in session.errors[-1] and "a.json" in session.errors[-1]
    a.reload()  # the person looks at the new version: now it may go
    assert session.delete_label_file() and not path.exists()


def test_remove_file_with_expect_refuses_a_changed_file(tmp_path: Path) -> None:
    from labeler.dataset import open_dataset
    from labeler.io.writes import ConcurrentChangeError

    make_image(tmp_path / "a.jpg", (20, 10))
    path = write_json(tmp_path / "a.json", labelme_json("a.jpg", (20, 10), []))
    ds = open_dataset(tmp_path)
    with pytest.raises(ConcurrentChangeError):
        ds.remove_file(path, expect=b"not what is there")
    assert path.exists()
    ds.remove_file(path, expect=path.read_bytes())
    assert not path.exists()
    ds.remove_file(path, expect=None)  # already gone: nothing to do


def test_a_document_read_ahead_is_opened_without_reading_its_file(session: Session, gui_dataset: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from labeler.editing import document as document_module

    session.open_item(item(session, "a.jpg"))
    session.events.clear()  # type: ignore[attr-defined]
    assert session.preload(item(session, "b.jpg"))
    assert session.doc is not None and session.doc.item.rel == "a.jpg"  # nothing shown
    assert session.events == []  # nor announced  # type: ignore[attr-defined]
    assert not session.preload(item(session, "b.jpg"))  # read once
    assert not session.preload(item(session, "a.jpg"))  # the current one is open already
    ahead = session.docs["b.jpg"]
    opened: list[str] = []
    real_open = document_module.Document.open
    monkeypatch.setattr(document_module.Document, "open",
                        classmethod(lambda cls, ds, it, info=None: opened.append(it.rel) or real_open(ds, it, info)))
    b = session.open_item(item(session, "b.jpg"))
    assert b is ahead and opened == []  # taken as read
    assert [s.label for s in b.shapes] == ["dog", "cat"] and not b.dirty
    assert isinstance(session.events[-1], CurrentChanged)  # type: ignore[attr-defined]


def test_a_file_changed_after_it_was_read_ahead_is_read_again(session: Session, gui_dataset: Path) -> None:
    session.open_item(item(session, "a.jpg"))
    assert session.preload(item(session, "c.jpg"))
    data = json.loads((gui_dataset / "c.json").read_text())
    data["shapes"][0]["label"] = "lynx"  # another program (labelme, a script) writes it meanwhile
    (gui_dataset / "c.json").write_text(json.dumps(data) + "\n")
    c = session.open_item(item(session, "c.jpg"))
    assert c is not None and [s.label for s in c.shapes] == ["lynx"]


def test_an_unreadable_file_is_not_read_ahead_and_its_open_still_reports(session: Session, gui_dataset: Path) -> None:
    (gui_dataset / "d.json").write_text("{not json", encoding="utf-8")
    session.open_item(item(session, "a.jpg"))
    assert not session.preload(item(session, "d.jpg"))
    assert session.errors == [] and "d.jpg" not in session.docs  # silent until the person opens it
    assert session.open_item(item(session, "d.jpg")) is None
    assert "d.json" in session.errors[-1]


def test_reading_ahead_never_drops_unsaved_work_or_the_open_document(gui_dataset: Path) -> None:
    s = Session(autosave=False, cache_size=2)
    s.open_dataset(gui_dataset)
    a = s.open_item(item(s, "a.jpg"))
    assert a is not None
    a.remove_shapes([0])  # unsaved
    b = s.open_item(item(s, "b.jpg"))
    assert not s.preload(item(s, "c.jpg"))  # no room beside the unsaved one and the open one
    assert list(s.docs.values()) == [a, b] and s.unsaved() == [a]
    s.cache_size = 3
    assert s.preload(item(s, "c.jpg")) and s.preload(item(s, "d.jpg"))
    assert list(s.docs) == ["a.jpg", "b.jpg", "d.jpg"]  # the older clean one read ahead went
    assert s.unsaved() == [a] and s.doc is b
