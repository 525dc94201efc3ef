"""Suggested fixes (labeler.fixes) and the ``relabel`` fixer, from a check's issues to the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from labeler.cli import cli
from labeler.dataset import open_dataset
from labeler.fixes import FixError, apply_suggested_fix, undo_suggested_fix
from labeler.model import Annotation, ImageLabel, Issue, Shape
from tests.conftest import labelme_json, make_image, rect, write_json


def _ann(*labels: str) -> Annotation:
    shapes = [Shape(label=lab, points=[(0, 0), (5, 5)], shape_type="rectangle") for lab in labels]
    return Annotation(imagePath="a.png", imageWidth=10, imageHeight=10, shapes=shapes)


def _relabel(new: str, old: str | None, shape_index: int | None = None) -> Issue:
    fix = {"action": "relabel", "label": new}
    if old is not None:
        fix["from"] = old
    return Issue(kind="mislabel", score=0.9, suggested_fix=fix, shape_index=shape_index)


def test_relabel_a_shape_and_undo() -> None:
    ann = _ann("dog", "cat")
    issue = _relabel("dog", "cat", 1)
    assert apply_suggested_fix(ann, issue)
    assert [s.label for s in ann.shapes] == ["dog", "dog"]
    assert undo_suggested_fix(ann, issue)
    assert [s.label for s in ann.shapes] == ["dog", "cat"]


def test_relabel_refuses_a_shape_edited_since_the_check() -> None:
    ann = _ann("dog", "horse")  # a person changed shape 1 after the check judged it as "cat"
    with pytest.raises(FixError, match="now 'horse', not 'cat'"):
        apply_suggested_fix(ann, _relabel("dog", "cat", 1))
    assert ann.shapes[1].label == "horse"
    with pytest.raises(FixError, match="shape 5"):
        apply_suggested_fix(ann, _relabel("dog", "cat", 5))


def test_undo_refuses_a_label_changed_after_the_fix() -> None:
    ann = _ann("cat")
    issue = _relabel("dog", "cat", 0)
    apply_suggested_fix(ann, issue)
    ann.shapes[0].label = "wolf"
    with pytest.raises(FixError, match="edited since the fix"):
        undo_suggested_fix(ann, issue)
    assert ann.shapes[0].label == "wolf"


def test_relabel_image_label_keeps_the_other_labels_and_their_details() -> None:
    ann = _ann()
    ann.meta.image_labels = [ImageLabel(label="cat", score=0.4), ImageLabel(label="indoor")]
    issue = _relabel("dog", "cat")
    assert apply_suggested_fix(ann, issue)
    assert ann.image_labels == ["dog", "indoor"]
    assert undo_suggested_fix(ann, issue)
    assert ann.image_labels == ["cat", "indoor"] and ann.meta.image_labels[0].score == 0.4


def test_exclude_and_set_text() -> None:
    ann = _ann("text")
    ex = Issue(kind="duplicate", suggested_fix={"action": "exclude", "reason": "copy of b.png"})
    assert apply_suggested_fix(ann, ex) and ann.meta.exclude and ann.meta.exclude_reason == "copy of b.png"
    assert undo_suggested_fix(ann, ex) and not ann.meta.exclude
    txt = Issue(kind="text_noise", suggested_fix={"action": "set_text", "text": "TOTAL"}, shape_index=0)
    assert apply_suggested_fix(ann, txt) and ann.shapes[0].text == "TOTAL"
    assert undo_suggested_fix(ann, txt) and ann.shapes[0].text is None


def _mislabeled_dataset(root: Path) -> None:
    root.mkdir()
    for i, (given, proposed, score) in enumerate([("cat", "dog", 0.95), ("cat", "dog", 0.6), ("dog", None, None)]):
        make_image(root / f"im{i}.png", (20, 20), (i * 40, 90, 90))
        issues = []
        if proposed:
            issues.append({"kind": "mislabel", "score": score, "shape_index": 0,
                           "suggested_fix": {"action": "relabel", "label": proposed, "from": given, "shape_index": 0}})
        write_json(root / f"im{i}.json", labelme_json(f"im{i}.png", (20, 20), [rect(given, 1, 1, 15, 15)],
                                                       labeler={"schema_version": 1, "issues": issues}))


def _labels(root: Path) -> list[str]:
    return [json.loads((root / f"im{i}.json").read_text())["shapes"][0]["label"] for i in range(3)]


def test_cli_relabel_fixer_min_score_dry_run_and_undo(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _mislabeled_dataset(root)
    run = CliRunner().invoke
    res = run(cli, ["fix", str(root), "--plugin", "relabel", "--min-score", "0.9", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "im0.png" in res.output and "1 file(s) would change" in res.output
    assert _labels(root) == ["cat", "cat", "dog"]
    res = run(cli, ["fix", str(root), "--plugin", "relabel", "--min-score", "0.9"])
    assert res.exit_code == 0, res.output
    assert _labels(root) == ["dog", "cat", "dog"]  # the unsure one (0.6) is left for review
    ann = open_dataset(root).load(open_dataset(root).item("im0.png"))
    assert ann is not None and ann.meta.issues[0].state == "fixed" and ann.meta.issues[0].fixed_by == "relabel"
    res = run(cli, ["fix", str(root), "--plugin", "relabel", "--undo"])
    assert res.exit_code == 0, res.output
    assert _labels(root) == ["cat", "cat", "dog"]


def test_cli_relabel_reports_a_shape_edited_since_the_check(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _mislabeled_dataset(root)
    data = json.loads((root / "im0.json").read_text())
    data["shapes"][0]["label"] = "horse"  # a person's edit after the check
    write_json(root / "im0.json", data)
    res = CliRunner().invoke(cli, ["fix", str(root), "--plugin", "relabel"])
    assert res.exit_code == 1
    assert "im0.json" in res.output and "now 'horse', not 'cat'" in res.output
    assert _labels(root) == ["horse", "dog", "dog"]  # the other file was still fixed
    res = CliRunner().invoke(cli, ["fix", str(root), "--plugin", "relabel", "--kind", "mislabl"])
    assert res.exit_code == 2 and "does not handle issue kind 'mislabl'" in res.output
