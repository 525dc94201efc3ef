"""Draw one picture per ``detection_errors`` finding kind for docs/checks.md.

Builds a small real scene (ultralytics' bus.jpg with drawings from ``sample_data/sketches``
pasted at known places), labels it with one error of each kind, writes a predictions file
standing for a model that found every drawing, runs the check through the pipeline, and
draws each finding from what the check wrote into the JSON: the labelled box (orange, solid,
from ``shapes[shape_index]``) and the predicted box (cyan, dashed, from
``suggested_fix["box"]``), with the kind, score and fix as a caption.

    python scripts/render_detection_errors_pictures.py     # -> docs/images/detection_errors_*.png
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".shim"))

SCALE = 2  # drawn at twice the scene's size


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default()


def build_scene(folder: Path) -> tuple[Path, Path]:
    """The scene, its labels (one error of each kind) and a predictions file."""
    import ultralytics

    from labeler.predictions import save_predictions_file

    truth = json.loads((ROOT / "sample_data" / "truth" / "sketches_noise.json").read_text())["images"]
    objects = [("sketch_0001.png", (10, 10, 74, 74)), ("sketch_0003.png", (100, 20, 164, 84)),
               ("sketch_0002.png", (190, 30, 254, 94)), ("sketch_0005.png", (30, 140, 94, 204))]
    img = Image.open(Path(ultralytics.__file__).parent / "assets" / "bus.jpg").convert("RGB").resize((320, 240))
    labels = []
    for sketch, box in objects:
        drawing = Image.open(ROOT / "sample_data" / "sketches" / sketch).convert("L").resize((64, 64))
        mask = Image.fromarray((np.asarray(drawing) < 128).astype(np.uint8) * 255)
        img.paste(Image.new("RGB", (64, 64), (250, 200, 0)), box[:2], mask)
        labels.append(truth[sketch]["true_label"])
    img.save(folder / "bus.png")

    def rect(label: str, box: tuple[float, ...]) -> dict:
        return {"label": label, "points": [list(box[:2]), list(box[2:])], "shape_type": "rectangle",
                "group_id": None, "flags": {}, "description": ""}

    shapes = [rect(labels[0], objects[0][1]),
              rect(labels[0], objects[2][1]),  # swapped: a horse labelled as the first class
              rect(labels[1], (120, 45, 184, 109)),  # badly located
              rect(labels[0], (200, 150, 260, 200))]  # spurious; object 3 not labelled: missing
    (folder / "bus.json").write_text(json.dumps({
        "version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "bus.png", "imageData": None,
        "imageHeight": 240, "imageWidth": 320}))
    preds = {"bus.png": {"boxes": [[b[0] + 2, b[1] - 1, b[2] + 1, b[3] + 2] for _, b in objects],
                         "labels": labels, "scores": [0.91, 0.88, 0.86, 0.9]}}
    save_predictions_file(folder / "preds.json", preds)
    return folder, folder / "preds.json"


def dashed_rectangle(draw: ImageDraw.ImageDraw, box: list[float], colour: tuple[int, int, int], width: int = 3) -> None:
    """A dashed rectangle (how suggestions are drawn in the GUI)."""
    x1, y1, x2, y2 = box
    dash = 8
    for (ax, ay), (bx, by) in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = max(abs(bx - ax), abs(by - ay))
        steps = max(1, int(length // dash))
        for i in range(0, steps, 2):
            t0, t1 = i / steps, min(1.0, (i + 1) / steps)
            draw.line([(ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)],
                      fill=colour, width=width)


def render(root: Path, out_dir: Path) -> list[Path]:
    """One PNG per finding kind, drawn from the check's issues in ``root/bus.json``."""
    from labeler.io.labelfile import load_annotation

    ann = load_annotation(root / "bus.json")
    base = Image.open(root / "bus.png").convert("RGB").resize((320 * SCALE, 240 * SCALE), Image.LANCZOS)
    written = []
    for issue in ann.meta.issues:
        img = base.copy()
        draw = ImageDraw.Draw(img)
        fix = issue.suggested_fix or {}
        if issue.shape_index is not None:
            shape = ann.shapes[issue.shape_index]
            box = [v * SCALE for v in shape.bbox()]
            draw.rectangle(box, outline=(255, 120, 0), width=4)
            draw.text((box[0] + 4, box[1] + 2), f"label: {shape.label}", fill=(255, 120, 0), font=_font(18),
                      stroke_width=2, stroke_fill=(0, 0, 0))
        if fix.get("box"):
            box = [v * SCALE for v in fix["box"]]
            dashed_rectangle(draw, box, (0, 230, 255))
            text = f"predicted: {fix.get('label', '')} {float(fix.get('score', 0)):.2f}"
            draw.text((box[0] + 4, box[3] - 22), text, fill=(0, 230, 255), font=_font(18),
                      stroke_width=2, stroke_fill=(0, 0, 0))
        caption = f"{issue.kind}  score {issue.score:.2f}  ->  fix: {fix.get('action')}"
        bar = Image.new("RGB", (img.width, 34), (30, 30, 30))
        ImageDraw.Draw(bar).text((10, 6), caption, fill=(255, 255, 255), font=_font(20))
        full = Image.new("RGB", (img.width, img.height + bar.height))
        full.paste(img, (0, 0))
        full.paste(bar, (0, img.height))
        path = out_dir / f"detection_errors_{issue.kind}.png"
        full.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)  # small files
        written.append(path)
    return written


def main() -> None:
    from labeler_plugins.detection_errors import DetectionErrors

    from labeler.dataset import open_dataset
    from labeler.pipeline import run_check

    out_dir = ROOT / "docs" / "images"
    with tempfile.TemporaryDirectory() as tmp:
        root, preds = build_scene(Path(tmp))
        summary, _ = run_check(open_dataset(root), DetectionErrors({"predictions": str(preds)}))
        if summary.failed:
            raise SystemExit("\n".join(summary.failed))
        for path in render(root, out_dir):
            print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
