"""The annotation model: labelme fields, our additions, exact round trips."""

from __future__ import annotations

import json

import pytest

from labeler.io.labelfile import load_annotation, save_annotation
from labeler.model import Annotation, ImageLabel, Issue, Shape, ShapeMeta, Source
from tests.conftest import COMPAT

COMPAT_FILES = sorted(COMPAT.glob("*.json"))


def test_compat_fixtures_exist() -> None:
    assert len(COMPAT_FILES) >= 15


@pytest.mark.parametrize("path", COMPAT_FILES, ids=lambda p: p.stem)
def test_every_labelme_and_xanylabeling_file_round_trips_unchanged(path, tmp_path) -> None:
    """Read then write: every key, known or not, top level and per shape, survives."""
    original = json.loads(path.read_text(encoding="utf-8"))
    ann = load_annotation(path)
    out = tmp_path / path.name
    save_annotation(ann, out)
    assert json.loads(out.read_text(encoding="utf-8")) == original


def test_unknown_keys_survive_edits(tmp_path) -> None:
    src = COMPAT / "labelme_roundtrip_unknown_keys.json"
    original = json.loads(src.read_text(encoding="utf-8"))
    ann = load_annotation(src)
    ann.shapes[0].set_review("accepted")
    ann.meta.issues.append(Issue(kind="outlier", score=0.9, detail="far from its class"))
    save_annotation(ann, tmp_path / "x.json")
    data = json.loads((tmp_path / "x.json").read_text(encoding="utf-8"))
    for key, value in original.items():
        if key != "shapes":
            assert data[key] == value
    for before, after in zip(original["shapes"], data["shapes"], strict=True):
        for key, value in before.items():
            assert after[key] == value
    assert data["shapes"][0]["labeler"]["review"] == "accepted"
    assert data["labeler"]["schema_version"] == 1
    assert data["labeler"]["issues"][0]["kind"] == "outlier"


def test_new_file_has_every_key_labelme_needs(tmp_path) -> None:
    ann = Annotation(imagePath="a.jpg", imageWidth=10, imageHeight=8)
    ann.add_shape(Shape(label="cat", points=[(1, 1), (5, 5)], shape_type="rectangle"))
    save_annotation(ann, tmp_path / "a.json")
    data = json.loads((tmp_path / "a.json").read_text())
    assert set(data) >= {"version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"}
    shape = data["shapes"][0]
    # labelme >= 5.9 requires shape_type, string description, bool flags, int-or-null group_id
    assert shape["shape_type"] == "rectangle"
    assert shape["description"] == ""
    assert shape["flags"] == {}
    assert shape["group_id"] is None
    assert "labeler" not in shape  # a human shape carries none of our keys
    assert "labeler" not in data  # nothing of ours to say


def test_machine_shape_provenance_round_trip(tmp_path) -> None:
    src = Source(plugin="yolo", model="best.pt", model_version="abc123")
    ann = Annotation(imagePath="a.jpg")
    ann.add_shape(Shape(label="car", points=[(0, 0), (4, 4)], shape_type="rectangle",
                        labeler=ShapeMeta(score=0.87, source=src, review="suggested", text="ABC")))
    ann.meta.image_labels.append(ImageLabel(label="street"))
    save_annotation(ann, tmp_path / "a.json")
    back = load_annotation(tmp_path / "a.json")
    s = back.shapes[0]
    assert (s.score, s.review, s.text) == (0.87, "suggested", "ABC")
    assert s.source == src
    assert s.is_suggestion and not s.is_trusted
    assert back.image_labels == ["street"]


def test_labelme_3x_without_shape_type_reads_as_polygon() -> None:
    ann = load_annotation(COMPAT / "labelme_3x_polygon.json")
    assert all(s.shape_type == "polygon" for s in ann.shapes)


def test_geometry_helpers() -> None:
    r = Shape(label="a", points=[(10, 20), (2, 4)], shape_type="rectangle")
    assert r.bbox() == (2, 4, 10, 20)
    assert len(r.polygon()) == 4
    c = Shape(label="a", points=[(10, 10), (13, 14)], shape_type="circle")
    assert c.bbox() == (5, 5, 15, 15)
    with pytest.raises(ValueError):
        Shape(label="a", points=[(float("nan"), 1)])
