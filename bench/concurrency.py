#!/usr/bin/env python3
"""Edits saved vs edits lost while labeler's autolabel, check and fix run on the same folder.

For each job, a dataset of small real images is written, then for ``--seconds`` seconds:

- ``--writers`` processes edit label files the way people do: one like labelme (read the JSON,
  add a rectangle, write a temp file and rename it; no lock, it knows nothing of labeler) and
  the others like labeler's GUI (:meth:`labeler.dataset.Dataset.update`). Each logs the edits
  it saved. The labelme-like writer and the GUI-like ones edit disjoint halves of the folder
  (two programs that do not lock each other lose each other's edits, whoever they are);
- one process runs the job over and over on the whole folder: ``autolabel`` (a plugin that
  takes ``--delay`` seconds per image, so that it holds a stale copy while people save),
  ``check`` (reads every file first, writes at the end), ``fix`` / ``fix --undo`` alternately
  (the relabel fixer), and, for comparison, ``naive``: the same autolabel written the way a
  script without labeler's write path does it (read, predict, write the copy it read back).

At the end every logged edit is looked up in the files: **saved** (there) or **lost**.
Then the cost of the write path per image: ``Dataset.update`` (lock, re-read, compare,
replace) against a plain atomic ``save_annotation`` of the same files.

Run from the repository root::

    python bench/concurrency.py --seconds 60 --writers 3          # about 4 minutes
    python bench/concurrency.py --seconds 5 --jobs autolabel,naive   # a quick look

The roles (``--role ...``) are what the processes run; tests/test_concurrency.py uses them too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

JOBS = ("autolabel", "check", "fix", "naive")


# -- the dataset -------------------------------------------------------------------------------
def make_dataset(root: Path, images: int) -> None:
    """``images`` 48x32 PNGs with a labelme JSON each: one person's box, an image label, and an
    open mislabel issue whose fix the relabel fixer applies."""
    import numpy as np
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(images):
        arr = rng.integers(0, 255, size=(32, 48, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / f"img_{i:04d}.png")
        doc = {
            "version": "5.4.1", "flags": {}, "imagePath": f"img_{i:04d}.png", "imageData": None,
            "imageHeight": 32, "imageWidth": 48,
            "shapes": [{"label": "person", "points": [[2, 2], [20, 20]], "shape_type": "rectangle",
                        "group_id": None, "description": "", "flags": {}, "mask": None}],
            "labeler": {"schema_version": 1, "image_labels": [{"label": "cat"}], "issues": [{
                "kind": "mislabel", "score": 0.99, "source": {"plugin": "clip_outliers"},
                "suggested_fix": {"action": "relabel", "label": "dog", "from": "cat"}}]},
        }
        (root / f"img_{i:04d}.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")


# -- the roles ---------------------------------------------------------------------------------
def _slow_plugin(delay: float) -> Any:
    from labeler.plugin_api import Autolabeler
    from labeler.predictions import Predictions

    class SlowBoxes(Autolabeler):
        name = "slowboxes"

        def predict(self, batch: Any) -> list[Predictions]:
            time.sleep(delay * len(batch))
            return [Predictions(xyxy=[[25.0, 5.0, 45.0, 30.0]], class_name=["thing"],
                                confidence=[0.9]) for _ in batch]

    return SlowBoxes()


def _image_check(delay: float) -> Any:
    from labeler.model import Issue
    from labeler.plugin_api import Check

    class Brightness(Check):
        name = "brightness"
        needs_image = True

        def check_sample(self, sample: Any) -> list[Issue]:
            time.sleep(delay)
            return [Issue(kind="dark", score=0.5, detail="mean brightness under 128")]

    return Brightness()


def role_job(job: str, root: Path, seconds: float, delay: float) -> dict[str, Any]:
    """Run ``job`` over the folder again and again for ``seconds``."""
    from labeler_plugins.relabel import Relabel  # type: ignore[import-not-found]

    from labeler.dataset import open_dataset
    from labeler.pipeline import run_autolabel, run_check, run_fix

    end = time.monotonic() + seconds
    runs = failed = 0
    undo = False
    while time.monotonic() < end:
        ds = open_dataset(root)
        ds.recover()
        if job == "autolabel":
            s = run_autolabel(ds, _slow_plugin(delay), redo=True)
        elif job == "check":
            s, _ = run_check(ds, _image_check(delay))
        elif job == "fix":
            s = run_fix(ds, Relabel(), undo=undo)
            undo = not undo
            time.sleep(delay * len(ds))
        elif job == "naive":
            s = _naive_autolabel(ds, delay)
        else:
            raise SystemExit(f"unknown job {job!r}")
        runs += 1
        failed += len(s.failed)
    return {"job": job, "runs": runs, "failed_images": failed}


def _naive_autolabel(ds: Any, delay: float) -> Any:
    """What a script does without the write path: read, predict, write the copy it read."""
    from labeler.io.labelfile import save_annotation
    from labeler.model import Shape, ShapeMeta, Source
    from labeler.pipeline import RunSummary

    summary = RunSummary(plugin="naive")
    for item in ds.items:
        ann = ds.load(item)
        time.sleep(delay)
        ann.shapes = [s for s in ann.shapes if not s.is_suggestion]
        ann.shapes.append(Shape(label="thing", shape_type="rectangle", points=[(25, 5), (45, 30)],
                                labeler=ShapeMeta(review="suggested", score=0.9,
                                                  source=Source(plugin="naive"))))
        save_annotation(ann, item.label_path)
    return summary


def role_writer(kind: str, root: Path, seconds: float, seed: int, log: Path, part: int) -> None:
    """Edit label files of half ``part`` (0 or 1) of the folder; log every edit saved."""
    from labeler.dataset import open_dataset
    from labeler.model import Shape

    rng = random.Random(seed)
    files = sorted(root.glob("*.json"))
    files = [f for i, f in enumerate(files) if i % 2 == part]
    ds = open_dataset(root)
    items = {it.label_path: it for it in ds.items}
    saved: list[dict[str, str]] = []
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        path = rng.choice(files)
        label = f"edit-{seed}-{n}"
        n += 1
        if kind == "labelme":  # no lock; atomic save like labelme's
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            data["shapes"].append({"label": label, "points": [[3, 3], [9, 9]],
                                   "shape_type": "rectangle", "group_id": None,
                                   "description": "", "flags": {}, "mask": None})
            tmp = path.with_name(f".{path.name}~lm{os.getpid()}")
            tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
            os.replace(tmp, path)
        else:  # like labeler's GUI: through the write path

            def add(ann: Any, label: str = label) -> Any:
                ann.shapes.append(Shape(label=label, shape_type="rectangle",
                                        points=[(3, 3), (9, 9)]))
                return ann

            ds.update(items[path], add)
        saved.append({"file": path.name, "label": label})
        time.sleep(rng.uniform(0.005, 0.03))
    log.write_text(json.dumps(saved), encoding="utf-8")


# -- the run -----------------------------------------------------------------------------------
def _spawn(*args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / ".shim")]))
    return subprocess.Popen([sys.executable, __file__, *args], env=env)


def count_edits(root: Path, logs: list[Path]) -> tuple[int, int, list[str]]:
    """(saved, lost, the lost ones) of the edits the writers logged."""
    labels: dict[str, set[str]] = {}
    for path in root.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        labels[path.name] = {s["label"] for s in data.get("shapes", [])}
    saved = lost = 0
    missing = []
    for log in logs:
        for edit in json.loads(log.read_text(encoding="utf-8")):
            if edit["label"] in labels.get(edit["file"], set()):
                saved += 1
            else:
                lost += 1
                missing.append(f"{edit['file']}: {edit['label']}")
    return saved, lost, missing


def run_one(job: str, work: Path, images: int, seconds: float, writers: int,
            delay: float) -> dict[str, Any]:
    """One job against the writers; returns its row."""
    import shutil

    root = work / job
    shutil.rmtree(root, ignore_errors=True)
    make_dataset(root, images)
    logs = [work / f"{job}-writer{w}.json" for w in range(writers)]
    procs = [_spawn("--role", "writer", "--kind", "labelme" if w == 0 else "gui",
                    "--root", str(root), "--seconds", str(seconds), "--seed", str(w),
                    "--log", str(logs[w]), "--part", "0" if w == 0 else "1")
             for w in range(writers)]
    result_file = work / f"{job}-result.json"
    procs.append(_spawn("--role", "job", "--job", job, "--root", str(root), "--seconds",
                        str(seconds), "--delay", str(delay), "--log", str(result_file)))
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"{job}: a process failed ({codes})")
    saved, lost, missing = count_edits(root, logs)
    info = json.loads(result_file.read_text(encoding="utf-8"))
    return {"job": job, "runs": info["runs"], "saved": saved, "lost": lost,
            "failed_images": info["failed_images"], "lost_examples": missing[:3]}


def lock_cost(work: Path, images: int, repeat: int = 3) -> tuple[float, float]:
    """(µs per image for Dataset.update, µs per image for a plain atomic save)."""
    import shutil

    from labeler.dataset import open_dataset
    from labeler.io.labelfile import save_annotation

    root = work / "cost"
    shutil.rmtree(root, ignore_errors=True)
    make_dataset(root, images)
    ds = open_dataset(root)
    items = ds.items
    best_update = best_plain = float("inf")
    for r in range(repeat):
        t = time.perf_counter()
        for it in items:
            ds.update(it, lambda a, r=r: (a.flags.__setitem__("n", r) or a))
        best_update = min(best_update, (time.perf_counter() - t) / len(items))
        anns = [ds.load(it) for it in items]
        t = time.perf_counter()
        for it, a in zip(items, anns, strict=True):
            a.flags["m"] = r
            save_annotation(a, it.label_path)
        best_plain = min(best_plain, (time.perf_counter() - t) / len(items))
    return best_update * 1e6, best_plain * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--writers", type=int, default=3)
    p.add_argument("--images", type=int, default=40)
    p.add_argument("--delay", type=float, default=0.01, help="seconds per image of the job")
    p.add_argument("--jobs", default=",".join(JOBS))
    p.add_argument("--work", type=Path, default=Path("/tmp/labeler-bench-concurrency"))
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    p.add_argument("--role", choices=("job", "writer"), help=argparse.SUPPRESS)
    p.add_argument("--job", help=argparse.SUPPRESS)
    p.add_argument("--kind", help=argparse.SUPPRESS)
    p.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.role == "writer":
        role_writer(a.kind, a.root, a.seconds, a.seed, a.log, a.part)
        return 0
    if a.role == "job":
        a.log.write_text(json.dumps(role_job(a.job, a.root, a.seconds, a.delay)), encoding="utf-8")
        return 0
    a.work.mkdir(parents=True, exist_ok=True)
    rows = [run_one(job, a.work, a.images, a.seconds, a.writers, a.delay)
            for job in a.jobs.split(",")]
    update_us, plain_us = lock_cost(a.work, a.images)
    print(f"{a.images} images, {a.writers} writers (1 labelme-like, {a.writers - 1} GUI-like), "
          f"{a.seconds:g} s per job, job delay {a.delay:g} s/image")
    print(f"{'job':<10} {'runs':>5} {'edits saved':>12} {'edits lost':>11} {'failed images':>14}")
    for r in rows:
        name = r["job"] + (" *" if r["job"] == "naive" else "")
        print(f"{name:<10} {r['runs']:>5} {r['saved']:>12} {r['lost']:>11} {r['failed_images']:>14}")
    print("* naive: the same autolabel writing back the copy it read (no write path), for comparison")
    print(f"write path per image: {update_us:.0f} us (lock, re-read, compare, replace) vs "
          f"{plain_us:.0f} us plain atomic save: {update_us / plain_us:.2f}x")
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "update_us": update_us, "plain_us": plain_us},
                                     indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
