"""Two programs writing one folder, and real processes killed at every file commit.

Writers here are real processes: labeler commands (``python -m labeler ...``), scripts calling
the pipeline, and a labelme-like writer that takes no lock (bench/concurrency.py's roles).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labeler.dataset import open_dataset
from labeler.io.images import read_image_info
from tests.conftest import labelme_json, make_image, rect, write_json
from tests.test_orientation import make_dataset as make_rotated_page

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_concurrency", ROOT / "bench" / "concurrency.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _labeler(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labeler", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def _tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (labeler's own folder included)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "lock"}


def _leftovers(root: Path) -> list[str]:
    journal = root / ".labeler" / "journal"
    found = [str(p) for p in root.rglob("*.tmp")]
    if journal.is_dir():
        found += [str(p) for p in journal.iterdir()]
    return found


# -- pipeline against pipeline ------------------------------------------------------------------
SLOW_AUTOLABEL = textwrap.dedent("""
    import sys, time
    from labeler.dataset import open_dataset
    from labeler.pipeline import run_autolabel
    from labeler.plugin_api import Autolabeler
    from labeler.predictions import Predictions

    name, label, x = sys.argv[2], sys.argv[3], float(sys.argv[4])

    class Slow(Autolabeler):
        def predict(self, batch):
            time.sleep(0.05 * len(batch))
            return [Predictions(xyxy=[[x, 2.0, x + 10, 12.0]], class_name=[label], confidence=[0.8])
                    for _ in batch]

    Slow.name = name
    summary = run_autolabel(open_dataset(sys.argv[1]), Slow())
    assert not summary.failed, summary.failed
""")


def test_two_autolabel_runs_on_one_folder_keep_both_results(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for i in range(12):
        make_image(root / f"img{i:02d}.png", seed=i)
    write_json(root / "img00.json", labelme_json("img00.png", (64, 48), [rect("person", 30, 30, 60, 45)]))
    script = tmp_path / "slow.py"
    script.write_text(SLOW_AUTOLABEL)
    runs = [subprocess.Popen([sys.executable, str(script), str(root), name, label, x])
            for name, label, x in (("first", "cat", "1"), ("second", "dog", "40"))]
    assert [p.wait(120) for p in runs] == [0, 0]
    for item, ann in open_dataset(root).annotations():
        plugins = sorted(s.source.plugin for s in ann.shapes if s.source)
        assert plugins == ["first", "second"], item.rel
        assert sorted(ann.meta.processed) == ["first", "second"], item.rel
    first = open_dataset(root).load(open_dataset(root).item("img00.png"))
    assert first is not None and first.shapes[0].label == "person"  # the person's box stays


# -- pipeline against writers that do and do not lock ------------------------------------------
@pytest.mark.parametrize("job", ["autolabel", "check", "fix"])
def test_no_saved_edit_is_lost_to_a_running_job(tmp_path: Path, job: str) -> None:
    """A labelme-like writer (no lock) and a GUI-like one edit files while the job runs."""
    row = _bench().run_one(job, tmp_path, images=12, seconds=3.0, writers=2, delay=0.01)
    assert row["runs"] >= 1 and row["saved"] > 20
    assert row["lost"] == 0, row["lost_examples"]
    assert row["failed_images"] == 0


def test_the_measurement_catches_a_writer_that_loses_edits(tmp_path: Path) -> None:
    """The same count on a job that writes back the copy it read (what labeler did before)."""
    row = _bench().run_one("naive", tmp_path, images=6, seconds=3.0, writers=2, delay=0.02)
    assert row["lost"] > 0


def test_a_shape_edit_during_a_check_is_kept_and_reported(tmp_path: Path) -> None:
    """A check reads a file, looks at the image, then writes: a person's edit in between stays."""
    from labeler.model import Issue
    from labeler.pipeline import run_check
    from labeler.plugin_api import Check

    root = tmp_path / "ds"
    for i in range(3):
        make_image(root / f"img{i}.png", seed=i)
        write_json(root / f"img{i}.json", labelme_json(f"img{i}.png", (64, 48), [rect("cat", 1, 1, 9, 9)]))

    class SmallBox(Check):
        name = "smallbox"

        def check_sample(self, sample):
            # The person saves the file while the check looks at its image (after it was read,
            # before the findings are written).
            rel = sample.item.rel[:-4]
            doc = json.loads((root / f"{rel}.json").read_text())
            if rel == "img0":
                doc["shapes"] = [rect("dog", 1, 1, 9, 9)]  # relabelled the shape
            elif rel == "img1":
                doc["flags"] = {"checked_by_hand": True}  # an image-level edit only
            write_json(root / f"{rel}.json", doc)
            return [Issue(kind="small", shape_index=0, score=0.5)]

    summary, _ = run_check(open_dataset(root), SmallBox())
    assert any("img0.json" in f and "changed during the check" in f for f in summary.failed)
    img0 = json.loads((root / "img0.json").read_text())
    assert img0["shapes"][0]["label"] == "dog" and "labeler" not in img0  # kept, not annotated
    img1 = json.loads((root / "img1.json").read_text())
    assert img1["flags"] == {"checked_by_hand": True} and img1["labeler"]["issues"][0]["kind"] == "small"


def test_a_suggestion_edited_in_labelme_survives_a_rerun(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_image(root / "img.png")
    script = tmp_path / "slow.py"
    script.write_text(SLOW_AUTOLABEL)
    assert subprocess.run([sys.executable, str(script), str(root), "boxer", "cat", "1"]).returncode == 0
    doc = json.loads((root / "img.json").read_text())
    # In labelme: move the suggested box and rename it; labelme keeps the "labeler" block.
    doc["shapes"][0]["points"] = [[5.0, 5.0], [30.0, 30.0]]
    doc["shapes"][0]["label"] = "lynx"
    write_json(root / "img.json", doc)
    script2 = tmp_path / "redo.py"
    script2.write_text(SLOW_AUTOLABEL.replace("run_autolabel(open_dataset(sys.argv[1]), Slow())",
                                              "run_autolabel(open_dataset(sys.argv[1]), Slow(), redo=True)"))
    assert subprocess.run([sys.executable, str(script2), str(root), "boxer", "cat", "1"]).returncode == 0
    shapes = json.loads((root / "img.json").read_text())["shapes"]
    assert [(s["label"], s["labeler"]["review"]) for s in shapes] == [("lynx", "accepted"), ("cat", "suggested")]
    assert shapes[0]["points"] == [[5.0, 5.0], [30.0, 30.0]]


# -- the GUI against a pipeline -------------------------------------------------------------
def test_gui_save_after_a_pipeline_write_merges_and_keeps_the_persons_edit(tmp_path: Path) -> None:
    from labeler.editing.document import Document, ExternalChangeError

    root = tmp_path / "ds"
    make_image(root / "img.png")
    write_json(root / "img.json", labelme_json("img.png", (64, 48), [rect("person", 30, 30, 60, 45)]))
    ds = open_dataset(root)
    doc = Document.open(ds, ds.items[0])
    with doc.edit("draw") as ann:  # the person draws a box, not saved yet
        from labeler.model import Shape

        ann.shapes.append(Shape(label="bike", shape_type="rectangle", points=[(2, 30), (20, 45)]))
    script = tmp_path / "slow.py"
    script.write_text(SLOW_AUTOLABEL)
    assert subprocess.run([sys.executable, str(script), str(root), "boxer", "cat", "1"]).returncode == 0
    with pytest.raises(ExternalChangeError):
        doc.save()  # never a silent overwrite of what the pipeline wrote
    assert doc.merge_from_disk()
    shapes = json.loads((root / "img.json").read_text())["shapes"]
    assert sorted(s["label"] for s in shapes) == ["bike", "cat", "person"]
    # and a pipeline run after the GUI saved keeps what the GUI saved
    assert subprocess.run([sys.executable, str(script), str(root), "other", "dog", "40"]).returncode == 0
    shapes = json.loads((root / "img.json").read_text())["shapes"]
    assert sorted(s["label"] for s in shapes) == ["bike", "cat", "dog", "person"]


# -- crashes and full disks in a multi-file fix -----------------------------------------------
def _two_pages(root: Path) -> None:
    make_rotated_page(root / "a")
    make_rotated_page(root / "b", fmt="jpg")


def _consistent(root: Path) -> None:
    """Each page is either untouched or rotated with its shapes, exactly once."""
    for sub in ("a", "b"):
        ds = open_dataset(root / sub)
        item = ds.items[0]
        ann = ds.load(item)
        assert ann is not None
        w, h = read_image_info(item.image_path).size
        assert (ann.imageWidth, ann.imageHeight) == (w, h), sub
        fixed = ann.meta.issues[0].state == "fixed"
        assert (w, h) == ((40, 60) if fixed else (60, 40)), sub
        originals = list((root / sub / ".labeler" / "originals").rglob("*")) if fixed else []
        assert not fixed or [p.name for p in originals if p.is_file()] == [item.image_path.name]


def _fix_all(root: Path, env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess[str]]:
    return [_labeler("fix", str(root / sub), "--plugin", "orientation", "--no-progress", env=env)
            for sub in ("a", "b")]


def test_kill_at_every_file_commit_of_the_orientation_fix(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    _two_pages(pristine)
    reference = tmp_path / "reference"
    shutil.copytree(pristine, reference)
    trace = tmp_path / "trace.txt"
    done = _fix_all(reference, {"LABELER_CRASH_AT": "1000000", "LABELER_FAULT_TRACE": str(trace)})
    assert [r.returncode for r in done] == [0, 0], [r.stderr for r in done]
    points = trace.read_text().splitlines()
    per_page = len(points) // 2
    assert per_page >= 6 and any("journal committed" in p for p in points), points
    expected = {sub: _tree(reference / sub) for sub in ("a", "b")}
    for n in range(1, per_page + 1):
        work = tmp_path / f"kill{n}"
        shutil.copytree(pristine, work)
        killed = _labeler("fix", str(work / "a"), "--plugin", "orientation", "--no-progress",
                          env={"LABELER_CRASH_AT": str(n)})
        assert killed.returncode == -signal.SIGKILL, (n, killed.stderr)
        after = _labeler("validate", str(work / "a"))  # any command rolls it forward or back
        assert after.returncode == 0, (n, after.stdout, after.stderr)
        assert not _leftovers(work / "a"), (n, points[n - 1], _leftovers(work / "a"))
        _consistent(work)
        again = _fix_all(work)
        assert [r.returncode for r in again] == [0, 0], (n, [r.stderr for r in again])
        for sub in ("a", "b"):  # rotated once, never twice: the same bytes as an unbroken run
            got = _tree(work / sub)
            want = expected[sub]
            assert {k: v for k, v in got.items() if not k.endswith(".json")} == \
                {k: v for k, v in want.items() if not k.endswith(".json")}, (n, points[n - 1])
            assert _shapes(work / sub) == _shapes(reference / sub), (n, points[n - 1])


def _shapes(root: Path) -> list:
    doc = json.loads(next(root.glob("*.json")).read_text())
    return [(s["label"], s["points"]) for s in doc["shapes"]]


def test_a_full_disk_at_any_point_of_the_fix_changes_nothing(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    _two_pages(pristine)
    trace = tmp_path / "trace.txt"
    probe = tmp_path / "probe"
    shutil.copytree(pristine, probe)
    _fix_all(probe, {"LABELER_CRASH_AT": "1000000", "LABELER_FAULT_TRACE": str(trace)})
    per_page = len(trace.read_text().splitlines()) // 2
    # Before the commit record the transaction is dropped; after it, the renames done so far
    # are put back from their backups: either way the page is as it was.
    for n in range(1, per_page + 1):
        work = tmp_path / f"full{n}"
        shutil.copytree(pristine, work)
        before = _tree(work / "a")
        r = _labeler("fix", str(work / "a"), "--plugin", "orientation", "--no-progress",
                     env={"LABELER_ENOSPC_AT": str(n)})
        assert not _leftovers(work / "a"), (n, _leftovers(work / "a"))
        assert r.returncode == 1 and "No space left on device" in r.stdout + r.stderr, (n, r.stdout, r.stderr)
        assert _tree(work / "a") == before, n
        _consistent(work)


def test_two_orientation_fixes_at_once_rotate_each_page_once(tmp_path: Path) -> None:
    for attempt in range(5):
        root = tmp_path / f"try{attempt}"
        _two_pages(root)
        runs = [subprocess.Popen([sys.executable, "-m", "labeler", "fix", str(root / "a"),
                                  "--plugin", "orientation", "--no-progress"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(2)]
        assert [p.wait(120) for p in runs] == [0, 0]
        _consistent(root)
        ann = open_dataset(root / "a").load(open_dataset(root / "a").items[0])
        assert ann is not None and ann.meta.issues[0].state == "fixed"
