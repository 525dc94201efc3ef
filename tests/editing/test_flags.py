"""Image flags and label flags (labelme's --flags / --labelflags), shape description and
X-AnyLabeling's difficult: parsed, edited through the session as undo steps, saved in the
labelme JSON with unknown keys kept (no Qt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labeler.editing.flags import flags_for_label, parse_flags, parse_label_flags, shown_flags
from labeler.editing.session import LabelAnswer, Session
from labeler.errors import FileProblem, UsageError
from tests.editing.conftest import labelme_json, make_image, rect, write_json


def test_flags_from_a_list_or_a_file(tmp_path: Path) -> None:
    assert parse_flags("blurry, night,,blurry") == ["blurry", "night"]
    f = tmp_path / "flags.txt"
    f.write_text("occluded\n\n truncated \n", encoding="utf-8")
    assert parse_flags(str(f)) == ["occluded", "truncated"]
    assert parse_flags(None) == [] and parse_flags("") == []


def test_label_flags_from_json_yaml_or_a_file_and_matched_like_labelme(tmp_path: Path) -> None:
    lf = parse_label_flags('{"person-\\\\d+": ["male", "tall"], ".*": ["occluded"]}')
    assert flags_for_label(lf, "person-12") == ["male", "tall", "occluded"]
    assert flags_for_label(lf, "dog") == ["occluded"]
    f = tmp_path / "labelflags.yaml"
    f.write_text("dog: [black, brown]\n", encoding="utf-8")
    assert parse_label_flags(str(f)) == {"dog": ["black", "brown"]}
    assert flags_for_label({"dog": ["black"]}, "hotdog") == []  # re.match: from the start


def test_bad_label_flags_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--labelflags: expected a mapping"):
        parse_label_flags("[1, 2]")
    with pytest.raises(UsageError, match="not a regular expression"):
        parse_label_flags('{"(": ["x"]}')
    bad = tmp_path / "bad.json"
    bad.write_text('{"cat": "not a list"}', encoding="utf-8")
    with pytest.raises(FileProblem, match="bad.json"):
        parse_label_flags(str(bad))


def test_shown_flags_keep_saved_ones_not_configured() -> None:
    assert shown_flags(["a", "b"], {"b": True, "old": False, "note": "x"}) == {"a": False, "b": True, "old": False}


Answer = LabelAnswer  # the one answer type, Qt-free


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    make_image(root / "a.jpg", (120, 90), seed=1)
    write_json(root / "a.json", labelme_json(
        "a.jpg", (120, 90), [rect("cat", 10, 10, 50, 40, flags={"truncated": True, "note": "keep"},
                                  kie_linking=[], attributes={"color": "red"})],
        flags={"old": True}, otherTool={"x": 1}))
    return root


def open_session(root: Path) -> Session:
    s = Session()
    s.open_dataset(root)
    s.image_flags = ["blurry", "night"]
    s.label_flags = {"cat": ["occluded", "truncated"]}
    s.open_item(s.dataset.item("a.jpg"))  # type: ignore[union-attr]
    return s


def test_image_flags_saved_as_labelme_does_and_undoable(root: Path) -> None:
    s = open_session(root)
    assert s.shown_image_flags() == {"blurry": False, "night": False, "old": True}
    s.set_image_flag("night", True)
    assert s.save()
    data = json.loads((root / "a.json").read_text())
    assert data["flags"] == {"old": True, "blurry": False, "night": True}
    assert data["otherTool"] == {"x": 1}
    doc = s.doc
    assert doc is not None and doc.undo() and doc.annotation.flags == {"old": True}


def test_edit_label_sets_flags_description_difficult_keeping_unknown_keys(root: Path) -> None:
    s = open_session(root)
    asked = []

    def ask(label: str, text: str | None = None, group_id: int | None = None) -> Answer:
        asked.append(s.labeling)
        return Answer("cat", flags={"occluded": True, "truncated": True}, description="behind the sofa",
                      difficult=True)

    s.ask_label = ask
    s.edit_label(0)
    assert asked[0] is not None and asked[0].label == "cat" and s.labeling is None
    assert s.save()
    shape = json.loads((root / "a.json").read_text())["shapes"][0]
    assert shape["flags"] == {"truncated": True, "note": "keep", "occluded": True}
    assert shape["description"] == "behind the sofa" and shape["difficult"] is True
    assert shape["kie_linking"] == [] and shape["attributes"] == {"color": "red"}
    doc = s.doc
    assert doc is not None and doc.undo()
    assert doc.shapes[0].description == "" and "difficult" not in (doc.shapes[0].model_extra or {})


def test_an_unchanged_answer_changes_nothing_and_difficult_false_adds_no_key(root: Path) -> None:
    s = open_session(root)
    s.ask_label = lambda *a, **k: Answer("cat", flags={"occluded": False, "truncated": True},
                                         description="", difficult=False)
    s.edit_label(0)
    doc = s.doc
    assert doc is not None and not doc.dirty and not doc.can_undo


def test_several_shapes_get_only_what_changed(root: Path) -> None:
    s = open_session(root)
    doc = s.doc
    assert doc is not None
    with doc.edit("setup") as ann:
        second = ann.shapes[0].model_copy(deep=True)
        second.description = "mine"
        ann.shapes.append(second)
    s.view.select([0, 1])
    s.ask_label = lambda *a, **k: Answer("cat", flags={"truncated": True}, description="", difficult=True)
    s.edit_label()
    assert [sh.description for sh in doc.shapes] == ["", "mine"]  # description unchanged: kept
    assert all((sh.model_extra or {}).get("difficult") is True for sh in doc.shapes)


def test_a_drawn_shape_gets_its_attributes(root: Path) -> None:
    s = open_session(root)
    s.ask_label = lambda *a, **k: Answer("cat", flags={"occluded": True}, description="d", difficult=True)
    i = s.add_drawn("rectangle", [(60.0, 10.0), (90.0, 40.0)])
    assert i == 1 and s.save()
    shape = json.loads((root / "a.json").read_text())["shapes"][1]
    assert shape["flags"] == {"occluded": True} and shape["description"] == "d" and shape["difficult"] is True
    s.ask_label = lambda *a, **k: Answer("dog")  # only a label: the shape keeps its attributes
    j = s.add_drawn("rectangle", [(60.0, 50.0), (90.0, 80.0)])
    assert j == 2 and s.doc is not None and "difficult" not in (s.doc.shapes[j].model_extra or {})


def test_a_labelme_file_keeps_its_shape_and_key_order(tmp_path: Path) -> None:
    """What labelme 5 writes (flags from --flags, shape flags, description, mask: null) opens,
    is edited here and stays a file labelme reads: same keys, labelme's order, nothing of ours."""
    root = tmp_path / "lm"
    make_image(root / "p.jpg", (64, 48), seed=3)
    written_by_labelme = {
        "version": "5.4.1", "flags": {"blurry": False, "night": False},
        "shapes": [{"label": "person-1", "points": [[1.0, 2.0], [30.0, 40.0]], "group_id": None,
                    "description": "", "shape_type": "rectangle", "flags": {"male": False}, "mask": None}],
        "imagePath": "p.jpg", "imageData": None, "imageHeight": 48, "imageWidth": 64}
    path = write_json(root / "p.json", written_by_labelme)
    original = path.read_bytes()
    s = Session()
    s.open_dataset(root)
    s.image_flags = ["blurry", "night"]
    s.label_flags = parse_label_flags('{"person-\\\\d+": ["male"]}')
    doc = s.open_item(s.dataset.item("p.jpg"))  # type: ignore[union-attr]
    assert doc is not None and s.save() and path.read_bytes() == original  # untouched: not rewritten
    s.set_image_flag("blurry", True)
    s.ask_label = lambda *a, **k: Answer("person-1", flags={"male": True}, description="at the door")
    s.edit_label(0)
    assert s.save()
    data = json.loads(path.read_text())
    assert list(data) == list(written_by_labelme) and "labeler" not in data
    assert data["flags"] == {"blurry": True, "night": False}
    shape = data["shapes"][0]
    assert list(shape) == list(written_by_labelme["shapes"][0])
    assert shape["flags"] == {"male": True} and shape["description"] == "at the door" and "labeler" not in shape
