"""``detection_errors`` on real photos with real drawings pasted at known places.

Backgrounds are the two photos the ultralytics wheel ships (bus.jpg, zidane.jpg), objects are
drawings of ``sample_data/sketches`` (animal-mnist) pasted at known boxes. A predictions file
stands for a model that found every object (boxes a few pixels off, confidence 0.9, plus a
low-confidence stray box); the labels carry one injected error of each kind.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from labeler_plugins.detection_errors import (
    DetectionErrors,
    DetectionErrorsFixer,
    fit_calibration,
    isotonic_fit,
    score_boxes,
)
from PIL import Image

from labeler.cli import cli
from labeler.dataset import open_dataset
from labeler.fixes import FixError, apply_suggested_fix, describe_fix, undo_suggested_fix
from labeler.io.labelfile import load_annotation, save_annotation
from labeler.model import Annotation, Issue
from labeler.pipeline import run_check, run_fix
from labeler.predictions import load_predictions_file, save_predictions_file
from tests.conftest import SAMPLE

ultralytics = pytest.importorskip("ultralytics")
ASSETS = Path(ultralytics.__file__).parent / "assets"

#: (sketch file, its true class, box) per photo; boxes in a 320x240 copy of the photo.
OBJECTS = {
    "bus.jpg": [("sketch_0001.png", "bird", (10, 10, 74, 74)), ("sketch_0003.png", "sheep", (100, 20, 164, 84)),
                ("sketch_0002.png", "horse", (190, 30, 254, 94)), ("sketch_0005.png", "x", (30, 140, 94, 204))],
    "zidane.jpg": [("sketch_0004.png", "y", (20, 20, 84, 84)), ("sketch_0006.png", "z", (200, 120, 264, 184))],
}


def _true_label(sketch: str) -> str:
    truth = json.loads((SAMPLE / "truth" / "sketches_noise.json").read_text())
    return truth["images"][sketch]["true_label"]


def _rect(label: str, box: tuple[float, ...]) -> dict:
    return {"label": label, "points": [list(box[:2]), list(box[2:])], "shape_type": "rectangle",
            "group_id": None, "flags": {}, "description": ""}


@pytest.fixture
def scenes(tmp_path: Path) -> tuple[Path, Path]:
    """Two photos with pasted drawings; labels with one error of each kind on bus.jpg; the
    predictions file. Returns (dataset root, predictions file)."""
    root = tmp_path / "ds"
    root.mkdir()
    preds: dict[str, dict] = {}
    for photo, objects in OBJECTS.items():
        img = Image.open(ASSETS / photo).convert("RGB").resize((320, 240))
        boxes, labels, scores = [], [], []
        truth = []
        for sketch, _, box in objects:
            label = _true_label(sketch)
            drawing = Image.open(SAMPLE / "sketches" / sketch).convert("L").resize((64, 64))
            mask = Image.fromarray((np.asarray(drawing) < 128).astype(np.uint8) * 255)
            img.paste(Image.new("RGB", (64, 64), (250, 200, 0)), box[:2], mask)
            truth.append((label, box))
            boxes.append([box[0] + 2, box[1] - 1, box[2] + 1, box[3] + 2])  # a model is a few px off
            labels.append(label)
            scores.append(0.9)
        boxes.append([250, 200, 300, 235])  # a stray low-confidence box
        labels.append(truth[0][0])
        scores.append(0.05)
        img.save(root / photo.replace(".jpg", ".png"))
        preds[photo.replace(".jpg", ".png")] = {"boxes": boxes, "labels": labels, "scores": scores}
        shapes = [_rect(lab, box) for lab, box in truth]
        if photo == "bus.jpg":
            other = truth[0][0] if truth[2][0] != truth[0][0] else truth[1][0]
            shapes = [
                shapes[0],  # right
                _rect(other, truth[2][1]),  # swapped class (object 2)
                _rect(truth[1][0], (120, 45, 184, 109)),  # badly located (object 1, IoU ~0.4)
                _rect(truth[0][0], (200, 150, 260, 200)),  # spurious: nothing there
            ]  # object 3 is not labeled: missing
        doc = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": photo.replace(".jpg", ".png"),
               "imageData": None, "imageHeight": 240, "imageWidth": 320}
        (root / photo.replace(".jpg", ".json")).write_text(json.dumps(doc))
    pred_file = tmp_path / "preds.json"
    save_predictions_file(pred_file, preds)
    return root, pred_file


def _issues(root: Path, name: str = "bus.json") -> list[Issue]:
    return load_annotation(root / name).meta.issues


def test_each_error_type_is_found_with_its_fix(scenes: tuple[Path, Path]) -> None:
    root, preds = scenes
    ds = open_dataset(root)
    summary, findings = run_check(ds, DetectionErrors({"predictions": str(preds)}))
    assert not summary.failed, summary.failed
    issues = {i.kind: i for i in _issues(root)}
    assert sorted(issues) == ["badly_located", "missing_box", "spurious_box", "swapped_class"]
    assert len(_issues(root)) == 4  # the right label and the stray box raise nothing
    assert _issues(root, "zidane.json") == []  # all right there
    miss = issues["missing_box"]
    assert miss.shape_index is None and miss.score == pytest.approx(0.9)
    assert miss.suggested_fix["action"] == "add_suggestion"
    assert miss.suggested_fix["box"] == [32, 139, 95, 206]
    assert miss.suggested_fix["label"] == _true_label("sketch_0005.png")
    swap = issues["swapped_class"]
    assert swap.shape_index == 1 and swap.suggested_fix["action"] == "relabel"
    assert swap.suggested_fix["label"] == _true_label("sketch_0002.png") and swap.score == pytest.approx(0.9)
    bad = issues["badly_located"]
    assert bad.shape_index == 2 and bad.suggested_fix["action"] == "replace_box"
    assert bad.suggested_fix["box"] == [102, 19, 165, 86]
    assert 0.2 < bad.suggested_fix["iou"] < 0.5 and bad.score == pytest.approx(0.9 * (1 - bad.suggested_fix["iou"]), abs=1e-3)
    spur = issues["spurious_box"]
    assert spur.shape_index == 3 and spur.suggested_fix["action"] == "exclude_shape" and spur.score >= 0.95
    for issue in issues.values():  # one image score, from all its findings
        assert issue.image_score == pytest.approx(1 - np.prod([1 - i.score for i in issues.values()]), abs=1e-3)
        assert issue.source is not None and issue.source.plugin == "detection_errors"
        assert issue.source.model == "preds.json"  # the file gives no source of its own: its name


def test_fixes_apply_and_undo_round_trip(scenes: tuple[Path, Path]) -> None:
    root, preds = scenes
    ds = open_dataset(root)
    run_check(ds, DetectionErrors({"predictions": str(preds)}))
    before = load_annotation(root / "bus.json")
    summary = run_fix(ds, DetectionErrorsFixer())
    assert not summary.failed and summary.per_class["fixed"] == 4
    after = load_annotation(root / "bus.json")
    assert after.shapes[1].label == _true_label("sketch_0002.png")  # relabelled
    assert after.shapes[2].points == [(102, 19), (165, 86)]  # box replaced
    assert after.shapes[3].review == "rejected"  # spurious: kept, excluded from exports
    added = after.shapes[4]
    assert added.is_suggestion and added.points == [(32, 139), (95, 206)] and added.score == pytest.approx(0.9)
    assert all(i.state == "fixed" for i in after.meta.issues)
    summary = run_fix(ds, DetectionErrorsFixer(), undo=True)
    assert not summary.failed and summary.per_class["undone"] == 4
    undone = load_annotation(root / "bus.json")
    assert [s.model_dump() for s in undone.shapes] == [s.model_dump() for s in before.shapes]
    assert all(i.state == "open" for i in undone.meta.issues)


def test_a_shape_edited_since_the_check_is_not_touched(scenes: tuple[Path, Path]) -> None:
    root, preds = scenes
    ds = open_dataset(root)
    run_check(ds, DetectionErrors({"predictions": str(preds)}))
    ann = load_annotation(root / "bus.json")
    ann.shapes[2].points = [(121, 46), (185, 110)]  # a person moved the badly located box
    save_annotation(ann, root / "bus.json")
    summary = run_fix(ds, DetectionErrorsFixer(), kinds=["badly_located"])
    assert len(summary.failed) == 1 and "edited since the check" in summary.failed[0]
    assert load_annotation(root / "bus.json").shapes[2].points == [(121, 46), (185, 110)]


def test_undo_of_an_accepted_suggestion_is_refused() -> None:
    ann = Annotation(imagePath="a.png", imageWidth=100, imageHeight=100)
    issue = Issue(kind="missing_box", suggested_fix={"action": "add_suggestion", "label": "cat", "box": [1, 2, 30, 40], "score": 0.8})
    assert apply_suggested_fix(ann, issue) and ann.shapes[0].is_suggestion
    assert "suggested box 'cat' [1, 2, 30, 40]" in describe_fix(ann, issue)
    ann.shapes[0].set_review("accepted")
    with pytest.raises(FixError, match="accepted since"):
        undo_suggested_fix(ann, issue)
    ann.shapes[0].set_review("suggested")
    assert undo_suggested_fix(ann, issue) and ann.shapes == []


def test_rejected_boxes_and_pending_suggestions_are_not_missing() -> None:
    labels = np.array([[0, 0, 10, 10]])
    preds = np.array([[0, 0, 10, 10], [50, 50, 70, 70], [80, 80, 95, 95], [50, 51, 70, 71]])
    s = score_boxes(labels, ["a"], preds, ["a", "b", "b", "a"], np.array([0.9, 0.8, 0.7, 0.6]),
                    ignore_boxes=np.array([[80, 80, 95, 95]]))
    assert s.match.tolist() == [0]
    assert s.missing[1] == pytest.approx(0.8)
    assert np.isnan(s.missing[2])  # ignored (rejected or waiting for review)
    assert np.isnan(s.missing[3])  # the same place as prediction 1: one candidate
    assert np.isnan(s.missing[0])  # matched


def test_confidence_is_calibrated_to_the_share_that_labels_confirm() -> None:
    kx, ky = isotonic_fit(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 1.0, 0.0, 1.0]))
    assert np.all(np.diff(ky) >= 0) and np.interp(0.25, kx, ky) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    images = []
    for _ in range(40):  # a timid model: confidences under 0.4, yet the upper half is always right
        labels = np.array([[0, 0, 20, 20], [50, 50, 70, 70]])
        preds = np.array([[1, 1, 20, 21], [50, 50, 70, 70], [80, 80, 99, 99]])
        conf = np.array([rng.uniform(0.2, 0.4), rng.uniform(0.2, 0.4), rng.uniform(0.01, 0.1)])
        images.append((labels, ["a", "b"], preds, ["a", "b", "a"], conf))
    calib = fit_calibration(images)
    assert calib.predictions == 120
    assert calib(np.array([0.3]))[0] == pytest.approx(1.0) and calib(np.array([0.05]))[0] == pytest.approx(0.0)
    assert len(fit_calibration(images[:5]).knots_x) == 0  # 15 predictions: too few, raw confidences


def test_cli_check_dry_run_fix_and_undo(scenes: tuple[Path, Path], tmp_path: Path) -> None:
    root, preds = scenes
    runner = CliRunner()
    res = runner.invoke(cli, ["check", str(root), "--plugin", "detection_errors", "-o", "predictions", str(preds),
                              "--no-progress", "--report", str(tmp_path / "f.json")])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "f.json").read_text())
    assert sorted(f["kind"] for f in report["findings"]) == ["badly_located", "missing_box", "spurious_box", "swapped_class"]
    for kind in ("missing_box", "spurious_box", "swapped_class", "badly_located"):
        res = runner.invoke(cli, ["fix", str(root), "--plugin", "detection_errors", "--kind", kind, "--dry-run"])
        assert res.exit_code == 0 and kind in res.output and "->" in res.output, res.output
    assert load_annotation(root / "bus.json").shapes[1].label != _true_label("sketch_0002.png")  # dry run
    res = runner.invoke(cli, ["fix", str(root), "--plugin", "detection_errors"])
    assert res.exit_code == 0, res.output
    assert len(load_annotation(root / "bus.json").shapes) == 5
    res = runner.invoke(cli, ["fix", str(root), "--plugin", "detection_errors", "--undo"])
    assert res.exit_code == 0, res.output
    assert len(load_annotation(root / "bus.json").shapes) == 4


def test_a_bad_predictions_entry_fails_that_image_only(scenes: tuple[Path, Path]) -> None:
    root, preds = scenes
    doc = json.loads(preds.read_text())
    doc["images"]["zidane.png"]["boxes"][0] = [50, 50, 10, 10]  # inverted
    preds.write_text(json.dumps(doc))
    assert "inverted" in load_predictions_file(preds).problems["zidane.png"]
    summary, _ = run_check(open_dataset(root), DetectionErrors({"predictions": str(preds)}))
    assert len(summary.failed) == 1 and "zidane.png" in summary.failed[0] and str(preds) in summary.failed[0]
    assert len(_issues(root)) == 4  # bus.png judged all the same


def test_without_predictions_the_check_says_what_to_run(scenes: tuple[Path, Path]) -> None:
    root, _ = scenes
    res = CliRunner().invoke(cli, ["check", str(root), "--plugin", "detection_errors", "--no-progress"])
    assert res.exit_code == 2 and "--folds" in res.output


@pytest.mark.slow
def test_train_folds_writes_out_of_fold_predictions_that_the_check_reuses(
    scenes: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``labeler train --folds 2`` (random-init YOLOv8n, 1 epoch): every labeled image is
    predicted once by the model of the other fold; the check then reads that file by default."""
    pytest.importorskip("torch")
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics"))
    root, _ = scenes
    for i in range(4):  # 6 labeled images: 3 per fold
        for ext in (".png", ".json"):
            src = root / f"bus{ext}" if i % 2 == 0 else root / f"zidane{ext}"
            shutil.copy(src, root / f"copy{i}{ext}")
    for p in root.glob("copy*.json"):
        doc = json.loads(p.read_text())
        doc["imagePath"] = p.with_suffix(".png").name
        p.write_text(json.dumps(doc))
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, [
        "train", str(root), "--plugin", "yolo", "--folds", "2", "--json", "-o", "model", "yolov8n.yaml",
        "-o", "epochs", "1", "-o", "imgsz", "64", "-o", "device", "cpu", "-o", "batch", "4",
        "-o", "project", str(tmp_path / "runs"), "-o", "val_fraction", "0"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    path = Path(result["predictions"])
    assert path.parent.parent == root / ".labeler" / "oof"
    loaded = load_predictions_file(path)
    assert sorted(loaded.images) == sorted(it.rel for it in open_dataset(root).items)
    folds = {rel: p.data["fold"] for rel, p in loaded.images.items()}
    assert set(folds.values()) == {0, 1}
    assert [f["held_out"] for f in result["folds"]] == [list(folds.values()).count(k) for k in (0, 1)]
    assert all(f["train_images"] + f["held_out"] == 6 for f in result["folds"])
    assert loaded.meta["out_of_fold"] is True and loaded.meta["folds"] == 2
    written = os.stat(path).st_mtime_ns
    res = CliRunner().invoke(cli, ["check", str(root), "--plugin", "detection_errors", "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    assert str(path) in res.stderr  # the note names the file it reused
    assert json.loads(res.stdout)["processed"] == 6
    assert os.stat(path).st_mtime_ns == written  # the check read it, trained nothing


def test_a_model_given_with_o_model_predicts_each_image(scenes: tuple[Path, Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``-o model best.pt``: the check runs that YOLO model itself (here a random-init one,
    whose boxes are noise: every label is unsupported, so each is flagged spurious)."""
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics"))
    from ultralytics import YOLO

    torch.manual_seed(0)
    weights = tmp_path / "random_yolo.pt"
    YOLO("yolov8n.yaml").save(str(weights))
    root, _ = scenes
    summary, findings = run_check(open_dataset(root), DetectionErrors(
        {"model": str(weights), "imgsz": 64, "device": "cpu", "min_conf": 0.0}))
    assert not summary.failed and summary.processed == 2
    issues = _issues(root) + _issues(root, "zidane.json")
    assert issues and all(i.source is not None and i.source.model == "random_yolo.pt" for i in issues)
    assert {i.shape_index for i in _issues(root, "zidane.json") if i.kind == "spurious_box"} == {0, 1}
