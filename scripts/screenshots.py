"""Render screenshots of the desktop labeler on the sample data into ``docs/images/gui_*.png``.

Runs offscreen (``QT_QPA_PLATFORM=offscreen``) or under Xvfb (``xvfb-run python
scripts/screenshots.py``). Works on a copy of ``sample_data`` in a temporary folder, with a few
suggestions and issues added so that the review panels have something to show; the sample data
itself is never changed.

    python scripts/screenshots.py                 # all shots
    python scripts/screenshots.py --out /tmp/shots
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"


def _suggest(shape_type: str, label: str, points: list, score: float, plugin: str = "yolo") -> dict:
    return {"label": label, "points": points, "group_id": None, "description": "", "shape_type": shape_type,
            "flags": {}, "labeler": {"score": score, "source": {"plugin": plugin, "model": "scenes_yolo.pt"},
                                     "review": "suggested"}}


def prepare(tmp: Path) -> tuple[Path, Path]:
    """Copies of the sample sets, with suggestions (scenes) and issues (sketches)."""
    scenes = tmp / "scenes"
    sketches = tmp / "sketches"
    shutil.copytree(SAMPLE / "scenes", scenes)
    shutil.copytree(SAMPLE / "sketches", sketches)
    truth = json.loads((SAMPLE / "truth" / "scenes_ground_truth.json").read_text())["images"]
    # scene_0003 is unlabeled: pretend a detector suggested its objects (one box a bit off).
    objs = truth["scene_0003.jpg"]["objects"]
    shapes = []
    for k, o in enumerate(objs):
        x1, y1, x2, y2 = o["bbox_xyxy"]
        score = [0.93, 0.81, 0.47, 0.66, 0.88, 0.72][k % 6]
        if k % 2:
            shapes.append(_suggest("polygon", o["label"], o["polygon"], score, "yolo_sam"))
        else:
            shapes.append(_suggest("rectangle", o["label"], [[x1, y1], [x2, y2]], score))
    doc = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "scene_0003.jpg", "imageData": None,
           "imageHeight": truth["scene_0003.jpg"]["height"], "imageWidth": truth["scene_0003.jpg"]["width"]}
    (scenes / "scene_0003.json").write_text(json.dumps(doc, indent=2))
    # sketches: a duplicate group and a mislabel, as the checks would raise them.
    noise = json.loads((SAMPLE / "truth" / "sketches_noise.json").read_text())
    dup = noise["exact_duplicates"][0]
    path = sketches / dup["image"].replace(".png", ".json")
    data = json.loads(path.read_text())
    data.setdefault("labeler", {})["issues"] = [{
        "kind": "duplicate", "score": 1.0, "detail": f"byte-identical to {dup['original']}",
        "suggested_fix": {"action": "exclude", "reason": "duplicate"},
        "related_files": [dup["original"]],
        "source": {"plugin": "duplicates"}}]
    path.write_text(json.dumps(data, indent=2))
    mis = noise["mislabeled"][0]
    path = sketches / mis["image"].replace(".png", ".json")
    data = json.loads(path.read_text())
    data.setdefault("labeler", {})["issues"] = [{
        "kind": "mislabel", "score": 0.91, "detail": f"labeled {mis['label']} but looks like a {mis['true_label']}",
        "suggested_fix": {"action": "relabel", "label": mis["true_label"]}, "source": {"plugin": "clip_outliers"}}]
    path.write_text(json.dumps(data, indent=2))
    return scenes, sketches


def _mixed_scene(folder: Path) -> str:
    """A labeled scene with both rectangles and polygons (the richest first shot)."""
    best = ("scene_0001.jpg", 0)
    for path in sorted(folder.glob("*.json")):
        shapes = json.loads(path.read_text())["shapes"]
        kinds = {s["shape_type"] for s in shapes}
        score = len(kinds) * 10 + len(shapes)
        if score > best[1] and not any("labeler" in s for s in shapes):
            best = (path.with_suffix(".jpg").name, score)
    return best[0]


def _box_iou(poly: list, box: list) -> float:
    if len(poly) < 3:
        return 0.0
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    a = (min(xs), min(ys), max(xs), max(ys))
    ix = max(0.0, min(a[2], box[2]) - max(a[0], box[0]))
    iy = max(0.0, min(a[3], box[3]) - max(a[1], box[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return inter / union if union > 0 else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from labeler.gui.main_window import MainWindow
    from labeler.gui.sam import find_checkpoint, plugin_session_factory
    from labeler.gui.shortcuts import ShortcutsDialog

    app = QApplication.instance() or QApplication(sys.argv[:1])
    args.out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="labeler-shots-") as tmpdir:
        tmp = Path(tmpdir)
        scenes, sketches = prepare(tmp)
        settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
        ckpt = find_checkpoint()
        w = MainWindow(settings=settings, sam_factory=plugin_session_factory(ckpt), autosave=False)
        w.resize(1440, 900)
        w.show()

        def settle(ms: int = 150) -> None:
            w.loader.wait(5000)
            for _ in range(max(1, ms // 10)):
                app.processEvents()
                w.loader.wait(50)

        def shot(name: str) -> None:
            settle()
            path = args.out / f"gui_{name}.png"
            w.grab().save(str(path))
            written.append(path)

        w.open_folder(scenes)
        w.wait_for_scan()
        w.open_rel(_mixed_scene(scenes))
        w.canvas.select([0])
        shot("main")

        w.open_rel("scene_0003.jpg")
        w.review_panel.threshold.setValue(0.6)
        w.next_suggestion()
        w.next_suggestion()
        shot("review")

        if ckpt is not None:
            w.open_rel("scene_0006.jpg")
            w.mode_sam()
            w.sam.wait(120000)
            settle(300)
            truth = json.loads((SAMPLE / "truth" / "scenes_ground_truth.json").read_text())["images"]
            obj = truth["scene_0006.jpg"]["objects"][0]
            x1, y1, x2, y2 = obj["bbox_xyxy"]
            w.canvas.sam_box = (x1 - 4, y1 - 4, x2 + 4, y2 + 4)
            w.canvas._emit_sam()
            poly = w.canvas.sam_preview or []
            if _box_iou(poly, obj["bbox_xyxy"]) > 0.5:
                shot("sam")
            else:
                print(f"note: {ckpt.name} did not segment the prompted {obj['label']}; no gui_sam.png",
                      file=sys.stderr)
            w.canvas.clear_sam()
            w.mode_edit()

        w.open_folder(sketches)
        w.wait_for_scan()
        w.status_filter.setCurrentIndex(w.status_filter.findData("issues"))
        noise = json.loads((SAMPLE / "truth" / "sketches_noise.json").read_text())
        w.open_rel(noise["exact_duplicates"][0]["image"])
        shot("issues")

        dlg = ShortcutsDialog(w)
        dlg.show()
        settle()
        path = args.out / "gui_shortcuts.png"
        dlg.grab().save(str(path))
        written.append(path)
        dlg.close()
        w.close()
    for p in written:
        print(p.relative_to(REPO) if p.is_relative_to(REPO) else p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
