"""The ocr_cleanup check and fixer: geometry findings and safe repairs (no model), undo, and the
transcription check with the bundled recogniser on the sample receipts (slow)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from labeler_plugins.ocr_cleanup import (
    OcrCleanupCheck,
    OcrCleanupFixer,
    order_around_center,
    self_intersects,
    signed_area,
)
from PIL import Image

from labeler.dataset import open_dataset
from labeler.model import Annotation, Issue, Shape, ShapeMeta
from labeler.ocr_engine import normalize_text
from labeler.pipeline import run_check, run_fix
from labeler.plugin_api import Sample
from tests.conftest import SAMPLE, labelme_json, write_json

RECEIPTS = SAMPLE / "receipts"
TRUTH = json.loads((SAMPLE / "truth" / "receipts_noise.json").read_text(encoding="utf-8"))
W, H = 200, 100


def text(points: list[tuple[float, float]], t: str | None = "HELLO", **kw: object) -> dict:
    """A labelme text polygon dict."""
    return {"label": "text", "points": [list(p) for p in points], "shape_type": "polygon",
            "flags": kw.get("flags", {}), "labeler": {"text": t} if t is not None else {}}  # fmt: skip


def box(x: float, y: float, w: float = 60, h: float = 16) -> list[tuple[float, float]]:
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


NOISY = [
    text(box(10, 10)),  # 0 fine
    text(box(10, 30)[:2]),  # 1 too few points
    text([(80, 10), (140, 26), (140, 10), (80, 26)]),  # 2 crossed quad (bow tie)
    text(list(reversed(box(80, 30)))),  # 3 counter-clockwise
    text([(-8, 50), (60, 50), (60, 66), (-8, 66)]),  # 4 outside on the left
    text([(10.5, 10.5), (70.5, 10.5), (70.5, 26.5), (10.5, 26.5)]),  # 5 duplicate of 0
    text(box(150, 80, 3, 3)),  # 6 tiny
    text(box(120, 50), t=""),  # 7 empty transcription
    text(box(120, 75), t="###"),  # 8 don't care: fine
    text([(5, 90), (50, 90), (95, 90)]),  # 9 zero area
    text(box(150, 5, 40, 14), flags={"illegible": True}, t=""),  # 10 illegible: fine
]


def sample_for(shapes: list[dict], tmp_path: Path) -> Sample:
    doc = labelme_json("x.png", (W, H), shapes)
    ann = Annotation.model_validate(doc)
    img = Image.new("RGB", (W, H), "white")
    return Sample(item=None, annotation=ann, image=img)  # type: ignore[arg-type]


def kinds(issues: list) -> dict[int | None, str]:
    return {i.shape_index: i.kind for i in issues}


# -- helpers -----------------------------------------------------------------------------------
def test_geometry_helpers() -> None:
    quad = box(0, 0)
    assert signed_area(quad) > 0 and signed_area(list(reversed(quad))) < 0
    bow = [quad[0], quad[2], quad[1], quad[3]]
    assert self_intersects(bow) and not self_intersects(quad)
    assert order_around_center(bow) == quad


# -- the check without the recogniser ----------------------------------------------------------
def test_every_kind_of_geometry_noise_is_found(tmp_path: Path) -> None:
    check = OcrCleanupCheck({"recognize": False})
    check.setup()
    found = kinds(check.check_sample(sample_for(NOISY, tmp_path)))
    assert found == {
        1: "too_few_points",
        2: "self_intersection",
        3: "point_order",
        4: "points_outside",
        5: "duplicate",
        6: "tiny_box",
        7: "empty_text",
        9: "zero_area",
    }


def test_only_text_regions_are_checked(tmp_path: Path) -> None:
    shapes = [
        {"label": "logo", "points": [[0, 0], [5, 0]], "shape_type": "polygon"},  # not text
        {"label": "text", "points": [[-5, -5], [30, 20]], "shape_type": "rectangle"},
    ]
    check = OcrCleanupCheck({"recognize": False})
    check.setup()
    issues = check.check_sample(sample_for(shapes, tmp_path))
    assert sorted((i.shape_index, i.kind) for i in issues) == [(1, "empty_text"), (1, "points_outside")]
    clip = next(i for i in issues if i.kind == "points_outside")
    assert clip.suggested_fix and clip.suggested_fix["points"] == [[0.0, 0.0], [30.0, 20.0]]


def test_safe_repairs_apply_and_undo_exactly(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    Image.new("RGB", (W, H), "white").save(root / "x.png")
    write_json(root / "x.json", labelme_json("x.png", (W, H), NOISY))
    before = json.loads((root / "x.json").read_text())
    ds = open_dataset(root)
    check = OcrCleanupCheck({"recognize": False})
    run_check(ds, check)
    summary = run_fix(ds, OcrCleanupFixer())
    assert summary.per_class["fixed"] == 3 and not summary.failed  # clip, reorder x2
    ann = ds.load(ds.items[0])
    assert ann is not None
    assert ann.shapes[2].points == box(80, 10)
    assert ann.shapes[3].points == box(80, 30)  # clockwise, starting top-left again
    assert signed_area(ann.shapes[3].points) > 0
    assert min(x for x, _ in ann.shapes[4].points) == 0
    assert ann.shapes[7].text == ""  # text fixes need -o text true
    # Nothing was deleted.
    assert len(ann.shapes) == len(NOISY)
    # A rerun of the check keeps the record of the applied fixes, so undo still works.
    run_check(ds, check)
    fixed = [i for i in ds.load(ds.items[0]).meta.issues if i.state == "fixed"]  # type: ignore[union-attr]
    assert len(fixed) == 3
    assert not run_fix(ds, OcrCleanupFixer(), undo=True).failed
    after = json.loads((root / "x.json").read_text())
    assert [s["points"] for s in after["shapes"]] == [s["points"] for s in before["shapes"]]


def test_text_fixes_are_opt_in(tmp_path: Path) -> None:
    ann = Annotation.model_validate(labelme_json("x.png", (W, H), [text(box(10, 10), t="")]))
    fix = {"action": "set_text", "text": "HI", "expect": ""}
    issue = Issue(kind="empty_text", shape_index=0, suggested_fix=fix)
    assert not OcrCleanupFixer().applies_to(issue)
    fixer = OcrCleanupFixer({"text": True})
    assert fixer.applies_to(issue)
    assert fixer.fix(None, None, ann, issue)  # type: ignore[arg-type]
    assert ann.shapes[0].text == "HI"
    assert fixer.undo(None, None, ann, issue)  # type: ignore[arg-type]
    assert ann.shapes[0].text == ""


def test_a_shape_that_changed_since_the_check_is_not_touched(tmp_path: Path) -> None:
    check = OcrCleanupCheck({"recognize": False})
    check.setup()
    sample = sample_for([text(list(reversed(box(10, 10))))], tmp_path)
    issue = check.check_sample(sample)[0]
    sample.annotation.shapes[0] = Shape(label="text", points=box(50, 50), labeler=ShapeMeta(text="x"))
    with pytest.raises(ValueError, match="changed since the check"):
        OcrCleanupFixer().fix(None, None, sample.annotation, issue)  # type: ignore[arg-type]


# -- with the recogniser -----------------------------------------------------------------------
@pytest.mark.slow
def test_wrong_and_empty_transcriptions_on_sample_receipts(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    names = ["receipt_03.png", "receipt_06.png"]  # an empty text; a wrong text and a duplicate
    for name in names:
        for f in RECEIPTS.glob(Path(name).stem + ".*"):
            shutil.copy2(f, root / f.name)
    summary, findings = run_check(open_dataset(root), OcrCleanupCheck())
    assert not summary.failed
    got = {(f.rel, f.issue.shape_index, f.issue.kind) for f in findings}
    kind_map = {"wrong_text": "transcription_mismatch", "broken_polygon": "too_few_points"}
    expected = {
        (name, n["shape_index"], kind_map.get(n["kind"], n["kind"]))
        for name in names
        for n in TRUTH["images"][name]["noise"]
    }
    assert got == expected
    for f in findings:
        if f.issue.kind == "transcription_mismatch":
            truth = next(n for n in TRUTH["images"][f.rel]["noise"] if n["kind"] == "wrong_text")
            assert f.issue.suggested_fix and f.issue.suggested_fix["action"] == "set_text"
            assert normalize_text(f.issue.suggested_fix["text"]) == normalize_text(truth["text"])
