"""The ensemble autolabeler: fusion checked live against ensemble_boxes on real YOLO outputs
(the shipped scenes model at two input sizes), provenance, votes, weights, CLI end to end."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

os.environ.setdefault("YOLO_OFFLINE", "1")
pytest.importorskip("ultralytics")
ensemble_boxes = pytest.importorskip("ensemble_boxes")

from labeler_plugins.ensemble import (  # noqa: E402
    EnsembleAutolabeler,
    MemberBoxes,
    nms,
    weighted_boxes_fusion,
)

from labeler.cli import cli  # noqa: E402
from labeler.dataset import open_dataset  # noqa: E402
from labeler.errors import UsageError  # noqa: E402
from labeler.io.images import open_image  # noqa: E402
from labeler.plugin_api import Sample  # noqa: E402
from tests.conftest import SAMPLE  # noqa: E402

MODEL = SAMPLE / "models" / "scenes_yolo.pt"
SCENES = SAMPLE / "scenes"
CLASSES = {"ball": 0, "box": 1, "star": 2, "elephant": 3}


@pytest.fixture(scope="module", autouse=True)
def ultralytics_sandbox(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("ultralytics")))


def _member_opts(imgsz: int) -> dict[str, object]:
    return {"model": str(MODEL), "imgsz": imgsz, "conf": 0.05, "device": "cpu", "batch": 4}


@pytest.fixture(scope="module")
def ensemble() -> EnsembleAutolabeler:
    plugin = EnsembleAutolabeler({"members": "big=yolo,small=yolo", "big": _member_opts(320),
                                  "small": _member_opts(224)})
    plugin.setup()
    return plugin


@pytest.fixture(scope="module")
def member_boxes(ensemble: EnsembleAutolabeler) -> list[tuple[tuple[int, int], list[MemberBoxes]]]:
    """Both members' real boxes on six sample scenes."""
    ds = open_dataset(SCENES)
    items = [i for i in ds.items if i.rel in {f"scene_{n:04d}.jpg" for n in (3, 6, 9, 12, 15, 18)}]
    samples = [Sample(item=i, annotation=ds.load_or_new(i), image=open_image(i.image_path)) for i in items]
    per_image = ensemble.member_predictions(samples)
    assert sum(len(m.xyxy) for mb in per_image for m in mb) > 20  # enough boxes to compare on
    return [(s.image.size, mb) for s, mb in zip(samples, per_image, strict=True)]


def _reference_inputs(size: tuple[int, int], members: list[MemberBoxes]) -> tuple[list, list, list]:
    w, h = size
    scale = np.array([w, h, w, h], dtype=np.float64)
    return ([m.xyxy.astype(np.float64) / scale for m in members], [m.confidence.astype(np.float64) for m in members],
            [np.array([CLASSES[c] for c in m.class_name]) for m in members])


def _sorted(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((boxes[:, 1], boxes[:, 0], -np.round(scores, 5)))
    return boxes[order], scores[order]


@pytest.mark.parametrize("conf_type", ["avg", "max", "box_and_model_avg", "absent_model_aware_avg"])
@pytest.mark.parametrize("weights", [None, [2.0, 1.0]])
def test_wbf_equals_ensemble_boxes(member_boxes: list, conf_type: str, weights: list[float] | None) -> None:
    for size, members in member_boxes:
        boxes, scores, labels = _reference_inputs(size, members)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_b, ref_s, _ = ensemble_boxes.weighted_boxes_fusion(
                boxes, scores, labels, weights=weights, iou_thr=0.55, conf_type=conf_type)
        ours = weighted_boxes_fusion(members, weights, 0.55, 0.0, conf_type)
        w, h = size
        assert len(ours) == len(ref_b)
        a_b, a_s = _sorted(ours.xyxy / np.array([w, h, w, h]), ours.confidence)
        r_b, r_s = _sorted(ref_b, ref_s)
        np.testing.assert_allclose(a_b, r_b, atol=1e-4)
        np.testing.assert_allclose(a_s, r_s, atol=1e-4)


def test_nms_and_soft_nms_keep_what_ensemble_boxes_keeps(member_boxes: list) -> None:
    weights = [1.0, 3.0]
    for size, members in member_boxes:
        boxes, scores, labels = _reference_inputs(size, members)
        w, h = size
        ref_b, ref_s, _ = ensemble_boxes.nms(boxes, [s.copy() for s in scores], labels, iou_thr=0.5, weights=weights)
        ours = nms(members, weights, 0.5)
        a_b, a_s = _sorted(ours.xyxy / np.array([w, h, w, h]), ours.confidence)
        r_b, r_s = _sorted(ref_b, ref_s)
        np.testing.assert_allclose(a_b, r_b, atol=1e-4)
        # ensemble_boxes scales by w / sum(w), we by w / max(w): same order, scores x (4 / 3)
        np.testing.assert_allclose(a_s, r_s * sum(weights) / max(weights), atol=1e-4)
        ref_b, ref_s, _ = ensemble_boxes.soft_nms(boxes, [s.copy() for s in scores], labels, iou_thr=0.5,
                                                  sigma=0.5, thresh=0.001)
        soft = nms(members, None, 0.5, soft="gaussian", sigma=0.5, score_threshold=0.001)
        # ensemble_boxes returns the kept boxes with their undecayed scores; ours decay
        assert len(soft) == len(ref_b)
        got = {tuple(np.round(b / np.array([w, h, w, h]), 4)) for b in soft.xyxy}
        assert got == {tuple(np.round(b, 4)) for b in ref_b}
        assert (soft.confidence <= 1.0).all()


def test_provenance_votes_and_min_votes(member_boxes: list) -> None:
    size, members = max(member_boxes, key=lambda mb: sum(len(m.xyxy) for m in mb[1]))
    fused = weighted_boxes_fusion(members, None, 0.55)
    assert fused.meta is not None and len(fused.meta) == len(fused)
    votes = [m["votes"] for m in fused.meta]
    assert set(votes) <= {1, 2} and 2 in votes
    for meta in fused.meta:
        assert meta["members"] == sorted(meta["members"], key=["big", "small"].index)
        assert set(meta["member_scores"]) == set(meta["members"])
    both = weighted_boxes_fusion(members, None, 0.55, min_votes=2)
    assert len(both) == votes.count(2)
    assert all(m["votes"] == 2 for m in both.meta)


def test_score_averaging_and_weights() -> None:
    """Two members on one real scene object: agreement keeps the score, one member halves it
    (conf_type avg), and the heavier member pulls the fused box towards its own."""
    truth = json.loads((SAMPLE / "truth" / "scenes_ground_truth.json").read_text())
    obj = truth["images"]["scene_0003.jpg"]["objects"][0]
    box = np.array(obj["bbox_xyxy"], dtype=np.float64)
    shifted = box + np.array([6.0, 0.0, 6.0, 0.0])
    a = MemberBoxes("a", box[None], np.array([obj["label"]], dtype=object), np.array([0.8]))
    b = MemberBoxes("b", shifted[None], np.array([obj["label"]], dtype=object), np.array([0.8]))
    alone = MemberBoxes("b", np.zeros((0, 4)), np.zeros(0, dtype=object), np.zeros(0))
    agreed = weighted_boxes_fusion([a, b])
    assert len(agreed) == 1 and agreed.confidence[0] == pytest.approx(0.8)
    assert agreed.xyxy[0, 0] == pytest.approx(box[0] + 3.0)
    assert agreed.meta[0]["votes"] == 2
    single = weighted_boxes_fusion([a, alone])
    assert single.confidence[0] == pytest.approx(0.4)
    assert single.meta[0] == {"members": ["a"], "votes": 1, "member_scores": {"a": 0.8}}
    heavy_b = weighted_boxes_fusion([a, b], weights=[1.0, 3.0])
    assert heavy_b.xyxy[0, 0] == pytest.approx(box[0] + 6.0 * 3 / 4, abs=1e-3)
    kept = nms([a, b], weights=[1.0, 3.0])
    assert len(kept) == 1 and kept.xyxy[0, 0] == pytest.approx(shifted[0])  # b wins (0.8 x 3 / 3)
    assert kept.meta[0]["members"] == ["a", "b"] and kept.confidence[0] == pytest.approx(0.8)
    assert kept.meta[0]["member_scores"] == {"a": 0.8, "b": 0.8}


def test_options_errors() -> None:
    with pytest.raises(ValueError, match="two members are named 'yolo'"):
        EnsembleAutolabeler({"members": "yolo,yolo"})
    with pytest.raises(ValueError, match="2 weights for 1 members"):
        EnsembleAutolabeler({"members": "yolo", "weights": [1, 2]})
    with pytest.raises(ValueError, match="'c' is not an option of ensemble nor a member"):
        EnsembleAutolabeler({"members": "a=yolo", "c": {"conf": 0.3}})
    with pytest.raises(UsageError, match="ensemble member 'a' \\(yolo\\)"):
        EnsembleAutolabeler({"members": "a=yolo", "a": {"no_such_option": 1}})
    with pytest.raises(UsageError, match="unknown autolabeler 'nope'"):
        EnsembleAutolabeler({"members": "a=nope"})
    with pytest.raises(UsageError, match="needs members"):
        EnsembleAutolabeler().setup()


def test_cli_autolabel_writes_fused_boxes_with_provenance(tmp_path: Path) -> None:
    ds = tmp_path / "scenes"
    ds.mkdir()
    for n in (3, 6):
        shutil.copy(SCENES / f"scene_{n:04d}.jpg", ds)
    runner = CliRunner()
    args = ["autolabel", str(ds), "--plugin", "ensemble", "-o", "members", "big=yolo,small=yolo",
            "-o", "big.model", str(MODEL), "-o", "small.model", str(MODEL), "-o", "small.imgsz", "224",
            "-o", "big.device", "cpu", "-o", "small.device", "cpu", "-o", "min_votes", "2", "--no-progress"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    doc = json.loads((ds / "scene_0003.json").read_text())
    assert doc["shapes"], "the two sizes agree on at least one object"
    for shape in doc["shapes"]:
        meta = shape["labeler"]
        assert shape["shape_type"] == "rectangle"
        assert meta["source"]["plugin"] == "ensemble" and "big:yolo:" in meta["source"]["model"]
        assert meta["votes"] == 2 and meta["members"] == ["big", "small"]
        assert 0 < meta["score"] <= 1
    res = runner.invoke(cli, args)  # same options: nothing to redo
    assert res.exit_code == 0 and "2 already done" in res.output


def test_any_plugin_can_be_a_member(tmp_path: Path) -> None:
    """Two configurations of the example plugin's blob finder, fused through the pipeline."""
    from labeler.pipeline import run_autolabel

    shutil.copy(SCENES / "scene_0009.jpg", tmp_path)
    plugin = EnsembleAutolabeler({"members": "bright=example_blobs,coloured=example_blobs",
                                  "bright": {"threshold": 0.6},
                                  "coloured": {"channel": "saturation", "threshold": 0.3}})
    ds = open_dataset(tmp_path)
    summary = run_autolabel(ds, plugin)
    assert not summary.failed
    shapes = json.loads((tmp_path / "scene_0009.json").read_text())["shapes"]
    seen = {tuple(s["labeler"]["members"]) for s in shapes}
    assert all(s["labeler"]["votes"] == len(s["labeler"]["members"]) for s in shapes)
    assert seen == {("bright",), ("coloured",), ("bright", "coloured")}  # each alone, and together
    assert plugin.known_classes() is None  # the blob finder names no fixed classes
