"""The yolo plugin through the pipeline, with a random-init YOLOv8n built in-process.

A random-init model's boxes are meaningless, but with ``conf 0`` it always returns
``max_det`` of them: enough to check provenance and the merge rules end to end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")

pytest.importorskip("ultralytics")
torch = pytest.importorskip("torch")

from labeler_plugins.yolo import YoloAutolabeler, predictions_from_ultralytics  # noqa: E402

from labeler.dataset import open_dataset  # noqa: E402
from labeler.errors import UsageError  # noqa: E402
from labeler.io.labelfile import load_annotation, save_annotation  # noqa: E402
from labeler.pipeline import reject_shape, run_autolabel  # noqa: E402
from tests.conftest import save_planted_pickle  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCENES = ROOT / "sample_data" / "scenes"


@pytest.fixture(scope="module", autouse=True)
def ultralytics_sandbox(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("ultralytics")))


@pytest.fixture(scope="module")
def tiny_yolo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init YOLOv8n saved as a .pt file (same weights for every test)."""
    from ultralytics import YOLO

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("yolo") / "tiny_yolo.pt"
    YOLO("yolov8n.yaml").save(str(path))
    return path


def _opts(model: Path, **kw: object) -> dict[str, object]:
    return {"model": str(model), "conf": 0.0, "max_det": 2, "imgsz": 64, "device": "cpu", "batch": 2, **kw}


@pytest.fixture
def scenes(tmp_path: Path) -> Path:
    """Four sample scenes: two labeled by a person (rectangles, polygons), two unlabeled."""
    out = tmp_path / "scenes"
    out.mkdir()
    for n in (1, 2, 3, 6):
        for ext in (".jpg", ".json"):
            src = SCENES / f"scene_{n:04d}{ext}"
            if src.exists():
                shutil.copy(src, out / src.name)
    return out


def _shapes(path: Path) -> list[dict]:
    return json.loads(path.read_text())["shapes"]


def test_suggestions_have_provenance_and_human_shapes_stay(tiny_yolo: Path, scenes: Path) -> None:
    human_before = {p.name: _shapes(p) for p in scenes.glob("*.json")}
    ds = open_dataset(scenes)
    plugin = YoloAutolabeler(_opts(tiny_yolo))
    summary = run_autolabel(ds, plugin)
    assert summary.processed == 4 and not summary.failed
    for path in scenes.glob("*.json"):
        shapes = _shapes(path)
        humans = [s for s in shapes if "labeler" not in s or s["labeler"].get("review") is None]
        assert humans == human_before.get(path.name, [])
        ann = load_annotation(path)
        assert "yolo" in ann.meta.processed
    ann = load_annotation(scenes / "scene_0003.json")  # unlabeled: suggestions only
    assert len(ann.shapes) == 2
    for s in ann.shapes:
        assert s.review == "suggested" and s.shape_type == "rectangle"
        assert s.source is not None and s.source.plugin == "yolo" and s.source.model == "tiny_yolo.pt"
        assert s.source.model_version and len(s.source.model_version) == 12
        assert s.score is not None and 0 <= s.score <= 1


def test_rerun_is_idempotent_and_resumes(tiny_yolo: Path, scenes: Path) -> None:
    ds = open_dataset(scenes)
    stop_after = iter(range(100))
    s1 = run_autolabel(ds, YoloAutolabeler(_opts(tiny_yolo, batch=1)), should_stop=lambda: next(stop_after) >= 2)
    assert s1.interrupted and s1.processed == 2
    s2 = run_autolabel(ds, YoloAutolabeler(_opts(tiny_yolo, batch=1)))
    assert s2.skipped_done == 2 and s2.processed == 2
    before = {p.name: p.read_bytes() for p in scenes.glob("*.json")}
    s3 = run_autolabel(ds, YoloAutolabeler(_opts(tiny_yolo)))
    assert s3.skipped_done == 4 and s3.changed == 0
    assert before == {p.name: p.read_bytes() for p in scenes.glob("*.json")}
    s4 = run_autolabel(ds, YoloAutolabeler(_opts(tiny_yolo)), redo=True)
    assert s4.processed == 4
    for p in scenes.glob("*.json"):  # the plugin's own suggestions are replaced, not stacked
        old = json.loads(before[p.name])["shapes"]
        assert _shapes(p) == old


def test_rejected_suggestion_does_not_come_back(tiny_yolo: Path, scenes: Path) -> None:
    ds = open_dataset(scenes)
    run_autolabel(ds, YoloAutolabeler(_opts(tiny_yolo, max_det=1)))
    path = scenes / "scene_0006.json"
    ann = load_annotation(path)
    assert len(ann.suggestions) == 1
    rejected = reject_shape(ann, ann.shapes.index(ann.suggestions[0]))
    save_annotation(ann, path)
    run_autolabel(ds, YoloAutolabeler(_opts(tiny_yolo, max_det=1)), redo=True)
    ann = load_annotation(path)
    assert ann.suggestions == []
    assert [r.label for r in ann.meta.rejected] == [rejected.label]


def test_bad_image_in_the_middle_of_a_batch(tiny_yolo: Path, scenes: Path) -> None:
    (scenes / "scene_0002.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    ds = open_dataset(scenes)
    summary = run_autolabel(ds, YoloAutolabeler(_opts(tiny_yolo, batch=4)))
    assert summary.processed == 3
    assert len(summary.failed) == 1 and "scene_0002.jpg" in summary.failed[0]
    assert "yolo" in load_annotation(scenes / "scene_0003.json").meta.processed


def test_classes_by_name_or_id(tiny_yolo: Path, tmp_path: Path) -> None:
    plugin = YoloAutolabeler(_opts(tiny_yolo, classes=["1", 0]))
    plugin.setup()
    assert plugin._class_ids == [1, 0]
    name = plugin.model.names[2]
    plugin2 = YoloAutolabeler(_opts(tiny_yolo, classes=[name]))
    plugin2.setup()
    assert plugin2._class_ids == [2]
    with pytest.raises(UsageError, match="not in the model"):
        YoloAutolabeler(_opts(tiny_yolo, classes=["unicorn"])).setup()


def test_a_config_is_a_random_init_with_the_library_version() -> None:
    src = YoloAutolabeler({"model": "yolov8n.yaml"}).source()
    assert src.model == "yolov8n.yaml" and (src.model_version or "").startswith("ultralytics-")


def _fake_result(**kw: object) -> SimpleNamespace:
    base = {"names": {0: "ball", 1: "box"}, "boxes": None, "masks": None, "obb": None}
    base.update(kw)
    return SimpleNamespace(**base)


class _Sized(SimpleNamespace):
    def __len__(self) -> int:
        return len(self.cls)


def _boxes(xyxy: list[list[float]], cls: list[int], conf: list[float]) -> _Sized:
    t = torch.tensor
    return _Sized(xyxy=t(xyxy).reshape(-1, 4), cls=t(cls, dtype=torch.float32), conf=t(conf))


def test_converts_segmentation_and_obb_results() -> None:
    boxes = _boxes([[0, 0, 10, 10], [5, 5, 20, 20]], [0, 1], [0.9, 0.5])
    masks = _Sized(xy=[np.array([[0, 0], [10, 0], [10, 10]]), np.array([[5, 5], [20, 5], [20, 20], [5, 20]])], cls=[0, 1])
    p = predictions_from_ultralytics(_fake_result(boxes=boxes, masks=masks))
    assert list(p.class_name) == ["ball", "box"] and p.polygons is not None and len(p.polygons[1]) == 4
    shapes = p.to_shapes(_src(), "auto")
    assert [s.shape_type for s in shapes] == ["polygon", "polygon"]
    quads = torch.tensor([[[0, 0], [10, 0], [10, 5], [0, 5]]], dtype=torch.float32)
    obb = _Sized(xyxy=torch.tensor([[0.0, 0, 10, 5]]), cls=torch.tensor([1.0]), conf=torch.tensor([0.8]), xyxyxyxy=quads)
    p2 = predictions_from_ultralytics(_fake_result(obb=obb))
    assert p2.quads is not None and p2.to_shapes(_src(), "auto")[0].shape_type == "polygon"
    assert len(predictions_from_ultralytics(_fake_result(boxes=_boxes([], [], [])))) == 0


def _src():  # type: ignore[no-untyped-def]
    from labeler.model import Source

    return Source(plugin="yolo")


def test_train_on_reviewed_labels(tiny_yolo: Path, scenes: Path, tmp_path: Path) -> None:
    """``train`` exports only trusted labels, trains, and returns metrics and weights."""
    ds = open_dataset(scenes)
    unlabeled = [i for i in ds.items if not i.has_labels]
    run_autolabel(ds, YoloAutolabeler(_opts(tiny_yolo)), items=unlabeled)  # suggestions: not trained on
    plugin = YoloAutolabeler()
    assert plugin.TrainOptions is not None
    opts = plugin.TrainOptions(
        model="yolov8n.yaml", epochs=1, imgsz=64, batch=2, device="cpu", val_fraction=0.0,
        project=str(tmp_path / "runs"), name="t",
    )
    seen: list[tuple[int, int]] = []
    result = plugin.train(ds, opts, lambda d, t: seen.append((d, t)))
    assert Path(result["weights"]).is_file()
    assert result["train_images"] == 2  # the two human-labeled scenes only
    assert "val_mAP50" in result and "val_mAP50-95" in result
    assert seen and seen[-1] == (1, 1) and all(d <= t for d, t in seen)
    again = YoloAutolabeler(_opts(Path(result["weights"])))
    (pred,) = again.predict([_first_sample(ds)])
    assert set(pred.class_name) <= {"ball", "box", "star", "elephant"}


def _first_sample(ds):  # type: ignore[no-untyped-def]
    from labeler.io.images import open_image
    from labeler.plugin_api import Sample

    item = ds.items[0]
    return Sample(item=item, annotation=ds.load_or_new(item), image=open_image(item.image_path))


def test_train_without_reviewed_labels_is_a_usage_error(tmp_path: Path) -> None:
    d = tmp_path / "empty"
    d.mkdir()
    shutil.copy(SCENES / "scene_0003.jpg", d)
    plugin = YoloAutolabeler()
    assert plugin.TrainOptions is not None
    with pytest.raises(UsageError, match="no reviewed labels"):
        plugin.train(open_dataset(d), plugin.TrainOptions(model="yolov8n.yaml"), lambda d, t: None)


def test_images_array_order_is_kept(tiny_yolo: Path, scenes: Path) -> None:
    """predict() returns one result per sample, in order, for a whole batch."""
    ds = open_dataset(scenes)
    from labeler.io.images import open_image
    from labeler.plugin_api import Sample

    samples = [Sample(item=i, annotation=ds.load_or_new(i), image=open_image(i.image_path)) for i in ds.items]
    preds = YoloAutolabeler(_opts(tiny_yolo, batch=4)).predict(samples)
    assert len(preds) == 4
    for s, p in zip(samples, preds, strict=True):
        assert (p.xyxy[:, 2] <= s.image.width + 1).all()


def test_cli_train_json_is_clean(scenes: Path, tmp_path: Path) -> None:
    """ultralytics' progress bars go to stderr: ``--json`` prints nothing but the result."""
    import json

    from click.testing import CliRunner

    from labeler.cli import cli

    ds = open_dataset(scenes)
    for item in ds.items:  # trust every label there is
        ann = ds.load(item)
        if ann is not None:
            ann.meta.reviewed = True
            ds.save(item, ann)
    res = CliRunner().invoke(cli, [
        "train", str(scenes), "--plugin", "yolo", "-o", "model", "yolov8n.yaml", "-o", "epochs", "1",
        "-o", "imgsz", "64", "-o", "batch", "2", "-o", "val_fraction", "0", "-o", "device", "cpu",
        "-o", "project", str(tmp_path / "runs"), "--json",
    ])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert Path(result["weights"]).is_file()


def _autolabel(scenes: Path, cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process, run from ``cwd``."""
    return subprocess.run(
        [sys.executable, "-c", "from labeler.cli import main; main()", "autolabel", str(scenes),
         "--plugin", "yolo", "--no-progress", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
    )


def test_a_planted_yolov8n_pt_is_never_unpickled(scenes: Path, tmp_path: Path) -> None:
    """A hostile yolov8n.pt in the current folder, the dataset folder or the models folder: the
    default model never loads it (its code would create the marker); exit 2 and one clear line."""
    marker = tmp_path / "pwned"
    work = tmp_path / "work"
    save_planted_pickle(work / "yolov8n.pt", marker)
    shutil.copy(work / "yolov8n.pt", scenes / "yolov8n.pt")
    env = {k: v for k, v in os.environ.items() if k != "LABELER_MODELS"}
    env.update(LABELER_OFFLINE="1", YOLO_OFFLINE="1", XDG_CACHE_HOME=str(tmp_path / "cache"),
               YOLO_CONFIG_DIR=str(tmp_path / "ultralytics"), PYTHONPATH=os.pathsep.join(sys.path))
    proc = _autolabel(scenes, work, env)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "model file 'yolov8n.pt' not found" in lines[0] and "./yolov8n.pt" in lines[0]
    assert not marker.exists()

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(work / "yolov8n.pt", models / "yolov8n.pt")
    proc = _autolabel(scenes, work, {**env, "LABELER_MODELS": str(models)})
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{models / 'yolov8n.pt'} does not match the official sha256" in lines[0]
    assert not marker.exists()
    assert not any(p.stat().st_mtime_ns > (work / "yolov8n.pt").stat().st_mtime_ns
                   for p in scenes.glob("*.json"))  # nothing was written


def test_a_file_with_an_official_name_is_used_when_given_as_a_path(
    tiny_yolo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(tiny_yolo, tmp_path / "yolov8n.pt")
    plugin = YoloAutolabeler({**_opts(tiny_yolo), "model": "./yolov8n.pt"})
    assert plugin.model_path() == tmp_path / "yolov8n.pt"
    plugin.setup()
    assert Path(plugin.model.ckpt_path) == tmp_path / "yolov8n.pt"  # ultralytics got the absolute path


def test_a_config_shadowed_by_a_file_in_the_current_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ultralytics would read ./yolov8.yaml for yolov8n.yaml and eval() its activation."""
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / "yolov8.yaml").write_text(
        f"nc: 1\nactivation: __import__('pathlib').Path({str(marker)!r}).touch() or nn.SiLU()\n"
        "backbone: [[-1, 1, Conv, [16, 3, 2]]]\nhead: [[[0], 1, Detect, [nc]]]\n"  # a loadable model
    )
    with pytest.raises(UsageError, match=r"yolov8.yaml would be read by ultralytics .*-o model ./yolov8.yaml"):
        YoloAutolabeler({"model": "yolov8n.yaml", "device": "cpu"}).setup()
    assert not marker.exists()
