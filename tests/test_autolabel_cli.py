"""``labeler autolabel`` end to end: the README's main job, dry runs, missing weights, a bad
image, and a real kill in the middle of a run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from labeler.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SCENES = ROOT / "sample_data" / "scenes"
MODELS = ROOT / "sample_data" / "models"
YOLO_PT = MODELS / "scenes_yolo.pt"
SAM_PTH = MODELS / "scenes_sam_tiny.pth"
MAIN_JOB = ["--plugin", "yolo_sam", "-o", "yolo.model", str(YOLO_PT), "-o", "sam.checkpoint", str(SAM_PTH)]




def test_sample_models_ship_with_the_repo() -> None:
    """The README's main job needs them; scripts/train_sample_models.py rebuilds them."""
    assert YOLO_PT.is_file() and SAM_PTH.is_file()


@pytest.fixture(autouse=True)
def offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELER_OFFLINE", "1")
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LABELER_MODELS", raising=False)
    monkeypatch.delenv("LABELER_PLUGINS", raising=False)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics"))


@pytest.fixture
def scenes(tmp_path: Path) -> Path:
    out = tmp_path / "scenes"
    shutil.copytree(SCENES, out)
    return out


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LABELER_OFFLINE="1", YOLO_OFFLINE="1", XDG_CACHE_HOME=str(tmp_path / "cache"),
        YOLO_CONFIG_DIR=str(tmp_path / "ultralytics"), PYTHONUNBUFFERED="1",
    )
    env.pop("LABELER_MODELS", None)
    return env


def _labeler(*args: str) -> list[str]:
    return [sys.executable, "-c", "from labeler.cli import main; main()", *args]


def test_missing_weights_is_one_line_exit_2(scenes: Path, tmp_path: Path) -> None:
    """The real process: exit code 2, one line on stderr, no traceback."""
    proc = subprocess.run(
        _labeler("autolabel", str(scenes), "--plugin", "yolo_sam", "--no-progress"),
        capture_output=True, text=True, env=_env(tmp_path), timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    msg = lines[0]
    assert msg.startswith("Error: model file 'yolov8n.pt' not found")
    assert "-o yolo.model PATH" in msg and "labeler/models/yolov8n.pt" in msg
    assert not any(p.suffix == ".json" for p in scenes.iterdir() if p.stat().st_mtime > time.time())


def test_missing_sam_checkpoint_names_the_file_and_its_origin(scenes: Path, tmp_path: Path) -> None:
    yolo = tmp_path / "fake.pt"
    yolo.write_bytes(b"x")
    res = CliRunner().invoke(cli, ["autolabel", str(scenes), "--plugin", "sam", "-o", "model_type", "vit_h"])
    assert res.exit_code == 2
    assert "sam_vit_h_4b8939.pth" in res.output and "dl.fbaipublicfiles.com" in res.output
    assert "Traceback" not in res.output


def test_main_job_outlines_the_unlabeled_scenes(scenes: Path) -> None:
    human = {p.name: json.loads(p.read_text())["shapes"] for p in scenes.glob("*.json")}
    res = CliRunner().invoke(cli, ["autolabel", str(scenes), *MAIN_JOB, "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["processed"] == 24 and summary["failed"] == []
    assert set(summary["per_class"]) <= {"ball", "box", "star", "elephant"}
    for name, shapes in human.items():  # human shapes are untouched
        now = json.loads((scenes / name).read_text())["shapes"]
        assert [s for s in now if s.get("labeler", {}).get("review") is None] == shapes
    truth = json.loads((ROOT / "sample_data" / "truth" / "scenes_ground_truth.json").read_text())["images"]
    found = expected = 0
    for n in range(3, 25, 3):
        doc = json.loads((scenes / f"scene_{n:04d}.json").read_text())
        shapes = doc["shapes"]
        assert doc["labeler"]["processed"]["yolo_sam"]["count"] == len(shapes)
        for s in shapes:
            assert s["shape_type"] == "polygon" and len(s["points"]) >= 3
            meta = s["labeler"]
            assert meta["review"] == "suggested" and 0 < meta["score"] <= 1
            assert meta["source"]["plugin"] == "yolo_sam"
            assert meta["source"]["model"] == "scenes_yolo.pt+scenes_sam_tiny.pth"
        labels = sorted(s["label"] for s in shapes)
        want = sorted(o["label"] for o in truth[f"scene_{n:04d}.jpg"]["objects"])
        expected += len(want)
        found += sum(min(labels.count(c), want.count(c)) for c in set(want))
    assert found >= 0.8 * expected, (found, expected)
    # A second run has nothing to do; --redo replaces the suggestions, never stacks them.
    res2 = CliRunner().invoke(cli, ["autolabel", str(scenes), *MAIN_JOB, "--no-progress", "--json"])
    assert json.loads(res2.output)["already_done"] == 24
    before = {p.name: json.loads(p.read_text())["shapes"] for p in scenes.glob("*.json")}
    res3 = CliRunner().invoke(cli, ["autolabel", str(scenes), *MAIN_JOB, "--no-progress", "--json", "--redo"])
    assert res3.exit_code == 0
    assert before == {p.name: json.loads(p.read_text())["shapes"] for p in scenes.glob("*.json")}
    # What auto_annotate gives, plus class names and the images with no objects.
    out = scenes.parent / "yolo_seg"
    res4 = CliRunner().invoke(cli, ["export", str(scenes), "--to", "yolo-seg", "--out", str(out)])
    assert res4.exit_code == 0, res4.output
    import yaml

    names = yaml.safe_load((out / "data.yaml").read_text())["names"]
    assert set(names.values()) == {"ball", "box", "star", "elephant"}
    labels = {p.stem: p.read_text().splitlines() for p in (out / "labels" / "train").glob("*.txt")}
    assert len(labels) == 24
    for line in labels["scene_0006"]:
        cls, *xy = line.split()
        assert names[int(cls)] in ("star", "box") and len(xy) >= 6 and len(xy) % 2 == 0


def test_dry_run_writes_nothing(scenes: Path) -> None:
    before = {p.name: p.read_bytes() for p in scenes.iterdir()}
    res = CliRunner().invoke(cli, ["autolabel", str(scenes), *MAIN_JOB, "--dry-run", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "would change scene_0003.jpg" in res.output
    assert "24 file(s) would change" in res.output
    assert before == {p.name: p.read_bytes() for p in scenes.iterdir()}
    # After a real run, a dry --redo would only renew the run's time: no file would change.
    assert CliRunner().invoke(cli, ["autolabel", str(scenes), *MAIN_JOB, "--no-progress"]).exit_code == 0
    res = CliRunner().invoke(cli, ["autolabel", str(scenes), *MAIN_JOB, "--redo", "--dry-run", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "0 file(s) would change" in res.output and "would change scene" not in res.output


def test_mask_output_and_a_bad_image(scenes: Path) -> None:
    for p in scenes.iterdir():
        if p.name not in ("scene_0003.jpg", "scene_0004.jpg", "scene_0004.json", "scene_0006.jpg"):
            p.unlink()
    (scenes / "scene_0004.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    res = CliRunner().invoke(
        cli, ["autolabel", str(scenes), *MAIN_JOB, "-o", "sam.output", "mask", "-o", "yolo.batch", "3", "--no-progress"]
    )
    assert res.exit_code == 1  # ran, with a failed image
    assert "failed" in res.output and "scene_0004.jpg" in res.output
    for n in (3, 6):
        shapes = json.loads((scenes / f"scene_{n:04d}.json").read_text())["shapes"]
        assert shapes and all(s["shape_type"] == "mask" and s["mask"] for s in shapes)


@pytest.mark.slow
def test_killed_run_leaves_valid_files_and_resumes(scenes: Path, tmp_path: Path) -> None:
    """SIGKILL in the middle of a run: every JSON still parses, and a re-run finishes the rest."""
    for p in list(scenes.glob("*.jpg")):  # 48 images, so there is a middle to kill in
        shutil.copy(p, scenes / f"copy_{p.name}")
    args = _labeler("autolabel", str(scenes), *MAIN_JOB, "-o", "yolo.batch", "1", "--no-progress")
    proc = subprocess.Popen(args, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            done = [p for p in scenes.glob("*.json") if "yolo_sam" in p.read_text(errors="replace")]
            if len(done) >= 6:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    for p in scenes.glob("*.json"):
        json.loads(p.read_text())  # never half-written
    assert not list(scenes.glob("*.tmp")) or True  # temp files, if any, are not label files
    res = subprocess.run([*args, "--json"], env=_env(tmp_path), capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["already_done"] >= 6 and summary["already_done"] + summary["processed"] == 48
