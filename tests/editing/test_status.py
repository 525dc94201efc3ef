"""The file list's status agrees with the model on what an unreviewed suggestion is."""

from __future__ import annotations

import json
from pathlib import Path

from labeler.gui.status import status_of_annotation, status_of_file
from labeler.io.labelfile import load_annotation
from tests.editing.conftest import labelme_json, make_image, rect, write_json


def test_status_counts_suggestions_by_the_models_rule(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg", (120, 90))
    sugg = {"source": {"plugin": "fake"}, "review": "suggested", "score": 0.5}
    fresh = rect("dog", 5, 5, 40, 40, labeler=dict(sugg))
    edited = rect("cat", 60, 20, 100, 70, labeler={**sugg, "made": "0123456789ab"})  # not its fingerprint
    path = write_json(tmp_path / "a.json", labelme_json("a.jpg", (120, 90), [
        fresh, edited, rect("owl", 1, 1, 4, 4, labeler={**sugg, "review": "rejected"}), rect("cow", 1, 1, 9, 9)]))
    ann = load_annotation(path)
    expected = sum(s.is_suggestion for s in ann.shapes)
    status = status_of_file(path)
    assert status.suggestions == expected == status_of_annotation(ann).suggestions
    assert status.labels == frozenset({"dog", "cat", "cow"})  # a rejected one is not a label
    assert status.needs_review


def test_a_shape_the_model_refuses_still_counts(tmp_path: Path) -> None:
    bad = {"label": "x", "points": "nonsense", "shape_type": "rectangle",
           "labeler": {"review": "suggested"}}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(labelme_json("b.jpg", (10, 10), [bad])), encoding="utf-8")
    assert status_of_file(path).suggestions == 1
