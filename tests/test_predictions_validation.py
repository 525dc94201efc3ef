"""Plugin output is checked per image: bad predictions fail that image alone, with its name."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel

import labeler
from labeler.io.labelfile import load_annotation
from labeler.pipeline import run_autolabel
from labeler.plugin_api import Autolabeler
from labeler.predictions import Predictions, validate_predictions
from tests.conftest import make_image

SIZE = (40, 30)


def one(box, name="cat", score=0.9, **extra) -> Predictions:
    return Predictions(xyxy=[box], class_name=[name], confidence=[score], **extra)


@pytest.mark.parametrize(
    ("preds", "known", "message"),
    [
        (one([np.nan, 1, 5, 5]), None, "object 0 (cat): box (nan, 1.0, 5.0, 5.0) is not finite numbers"),
        (one([1, 1, np.inf, 5]), None, "not finite numbers"),
        (one([20, 1, 5, 5]), None, "object 0 (cat): box (20, 1, 5, 5) is inverted (x2 < x1 or y2 < y1)"),
        (one([1, 9, 5, 2]), None, "is inverted"),
        (one([100, 1, 120, 5]), None, "lies entirely outside the 40x30 image"),
        (one([-5, -5, 1e9, 5]), None, "far outside the 40x30 image"),
        (one([1, 1, 5, 5], name="zebra"), ["cat", "dog"], "class 'zebra' is not one of the plugin's classes (cat, dog)"),
        (one([1, 1, 5, 5], name=7), None, "class name of object 0 is a int, not a string"),
        (one([1, 1, 5, 5], name="\ud800"), None, "cannot be written as UTF-8"),
        (one([1, 1, 5, 5], score=np.nan), None, "confidence nan is not in [0, 1]"),
        (one([1, 1, 5, 5], score=3.5), None, "confidence 3.5 is not in [0, 1]"),
        (one([1, 1, 5, 5], masks=np.ones((1, 10, 10), bool)), None, "masks are 10x10 but the image is 40x30"),
        (one([1, 1, 5, 5], polygons=[np.array([[1, 1], [np.nan, 2], [3, 3]])]), None, "polygon has a coordinate that is not a finite number"),
        (one([1, 1, 5, 5], quads=[[[1, 1], [2, 1], [2, np.inf], [1, 2]]]), None, "quad has a coordinate"),
        (Predictions(image_labels=[("cat", 1.7)]), None, "score of image label 'cat' 1.7 is not in [0, 1]"),
        (Predictions(image_labels=[("owl", 0.5)]), ["cat"], "image label 'owl' is not one of the plugin's classes"),
        ([], None, "the plugin returned a list, not Predictions"),
    ],
)
def test_bad_predictions_raise_one_sentence(preds, known, message) -> None:
    with pytest.raises(ValueError) as exc:
        validate_predictions(preds, SIZE, known)
    assert message in str(exc.value)


def test_arrays_changed_after_creation_to_different_lengths_are_refused() -> None:
    preds = one([1, 1, 5, 5])
    preds.confidence = np.array([0.5, 0.4], dtype=np.float32)
    with pytest.raises(ValueError, match="malformed predictions: xyxy has 1 rows but class_name has 1 and confidence 2"):
        validate_predictions(preds, SIZE)
    preds = one([1, 1, 5, 5])
    preds.texts = ["a", "b"]
    with pytest.raises(ValueError, match="2 texts for 1 boxes"):
        validate_predictions(preds, SIZE)


def test_boxes_polygons_and_quads_partly_outside_are_clipped_to_the_image() -> None:
    preds = Predictions(
        xyxy=[[-5, -3, 45, 20], [10, 10, 20, 20]],
        class_name=["cat", "dog"],
        confidence=[1.0000001, 0.5],
        polygons=[np.array([[-2, 1], [41, 1], [41, 31]]), np.array([[10, 10], [20, 10], [20, 20]])],
        quads=[[[-1, 0], [50, 0], [50, 35], [-1, 35]], [[10, 10], [20, 10], [20, 20], [10, 20]]],
    )
    out = validate_predictions(preds, SIZE, known_classes={"cat", "dog"})
    assert out.xyxy.tolist() == [[0, 0, 40, 20], [10, 10, 20, 20]]
    assert out.polygons is not None and out.polygons[0].tolist() == [[0, 1], [40, 1], [40, 30]]
    assert out.quads is not None and out.quads[0].tolist() == [[0, 0], [40, 0], [40, 30], [0, 30]]
    assert out.confidence.tolist() == [1.0, 0.5]
    assert preds.xyxy[0].tolist() == [-5, -3, 45, 20]  # the plugin's own object is not changed


def test_good_predictions_pass_unchanged() -> None:
    masks = np.zeros((1, 30, 40), bool)
    masks[0, 5:10, 5:10] = True
    preds = one([5, 5, 10, 10], masks=masks, texts=["hello"])
    out = validate_predictions(preds, SIZE, ["cat"])
    assert out.xyxy.tolist() == preds.xyxy.tolist() and out.class_name.tolist() == ["cat"]
    assert out.masks is not None and out.masks.sum() == 25 and out.texts == ["hello"]
    assert len(validate_predictions(Predictions.empty(), SIZE, ["cat"])) == 0


# -- through the pipeline ---------------------------------------------------------------------
class Misbehaving(Autolabeler):
    """A real detector of the image's bright square that breaks on images named bad_*.

    The bright square is found from the pixels; the file name picks how the output is broken.
    """

    name = "misbehaving"
    batch_size = 4

    class Options(BaseModel):
        batch: int = 4

    def known_classes(self) -> list[str]:
        return ["square"]

    def predict(self, batch):
        out = []
        for s in batch:
            a = np.asarray(s.image.convert("L")) > 128
            ys, xs = np.nonzero(a)
            x1, y1, x2, y2 = float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
            w, h = s.image.size
            kind = s.item.image_path.stem
            box, name, masks = [x1, y1, x2, y2], "square", None
            if kind == "bad_nan":
                box = [np.nan, y1, x2, y2]
            elif kind == "bad_inverted":
                box = [x2, y1, x1, y2]
            elif kind == "bad_huge":
                box = [x1, y1, x2 + 1e7, y2]
            elif kind == "bad_class":
                name = "unicorn"
            elif kind == "bad_mask":
                masks = np.ones((1, h + 3, w), bool)
            elif kind == "edge":
                box = [x1 - 6, y1, x2, y2]  # partly outside: clipped
            out.append(Predictions(xyxy=[box], class_name=[name], confidence=[0.8], masks=masks))
        return out


def square_image(path, at=(5, 5)):
    from PIL import Image

    arr = np.full((30, 40, 3), 30, np.uint8)
    x, y = at
    arr[y : y + 8, x : x + 10] = 240
    Image.fromarray(arr).save(path)


def test_bad_predictions_fail_their_image_and_the_others_get_suggestions(tmp_path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    bad = {"bad_nan": "not finite", "bad_inverted": "inverted", "bad_huge": "far outside",
           "bad_class": "'unicorn' is not one of the plugin's classes (square)",
           "bad_mask": "masks are 40x33 but the image is 40x30"}
    for stem in [*bad, "good", "edge"]:
        square_image(root / f"{stem}.png", at=(2, 4) if stem == "edge" else (5, 5))
    make_image(root / "unrelated.jpg", SIZE, color=(250, 250, 250))
    summary = run_autolabel(labeler.open_dataset(root), Misbehaving())
    assert len(summary.failed) == len(bad), summary.failed
    for stem, what in bad.items():
        line = next(f for f in summary.failed if f.startswith(str(root / f"{stem}.png") + ": "))
        assert "misbehaving returned bad predictions" in line and what in line, line
        assert not (root / f"{stem}.json").exists()
    assert summary.processed == 3
    good = load_annotation(root / "good.json").suggestions
    assert [(s.label, s.points) for s in good] == [("square", [(5.0, 5.0), (15.0, 13.0)])]
    edge = load_annotation(root / "edge.json").suggestions
    assert [(s.label, s.points) for s in edge] == [("square", [(0.0, 4.0), (12.0, 12.0)])]
    assert load_annotation(root / "unrelated.json").suggestions[0].points == [(0.0, 0.0), (40.0, 30.0)]
