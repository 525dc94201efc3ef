"""Draw auto-labeled scenes: the README's picture of the main job.

Runs ``yolo_sam`` with the sample models on a temporary copy of ``sample_data/scenes`` (or
reads an already auto-labeled folder with ``--dataset``), then draws the suggested outlines
(filled, per class colour), their boxes, class and score on a few scenes nobody labeled::

    python scripts/render_autolabel_picture.py                       # docs/images/autolabel_scenes.png
    python scripts/render_autolabel_picture.py --dataset /tmp/scenes --out /tmp/pic.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLOURS = {"ball": (230, 60, 40), "box": (40, 110, 240), "star": (245, 200, 20), "elephant": (150, 80, 200)}
DEFAULT_SCENES = ["scene_0003", "scene_0006", "scene_0009", "scene_0012", "scene_0015", "scene_0018"]


def autolabel_copy(work: Path) -> Path:
    from labeler_plugins.yolo_sam import YoloSamAutolabeler

    from labeler.dataset import open_dataset
    from labeler.pipeline import run_autolabel

    dest = work / "scenes"
    shutil.copytree(ROOT / "sample_data" / "scenes", dest)
    plugin = YoloSamAutolabeler(
        {
            "yolo": {"model": str(ROOT / "sample_data" / "models" / "scenes_yolo.pt")},
            "sam": {"checkpoint": str(ROOT / "sample_data" / "models" / "scenes_sam_tiny.pth")},
        }
    )
    summary = run_autolabel(open_dataset(dest), plugin)
    print(f"autolabeled {summary.processed} images: {dict(summary.per_class)}")
    return dest


def draw_scene(image_path: Path, label_path: Path, tile_w: int):  # type: ignore[no-untyped-def]
    from PIL import Image, ImageDraw, ImageFont

    from labeler.io.labelfile import load_annotation
    from labeler.masks import shape_mask_to_full

    img = Image.open(image_path).convert("RGB")
    ann = load_annotation(label_path)
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    od = ImageDraw.Draw(overlay)
    for s in ann.shapes:
        if not s.is_suggestion:
            continue
        col = COLOURS.get(s.label, (0, 200, 120))
        if s.shape_type == "polygon":
            od.polygon([tuple(p) for p in s.points], fill=(*col, 110), outline=(*col, 255))
        elif s.shape_type == "mask" and s.mask:
            m = shape_mask_to_full(s.points, s.mask, img.size)
            layer = Image.new("RGBA", img.size, (*col, 110))
            overlay.paste(layer, (0, 0), Image.fromarray(m.astype("uint8") * 255))
    img = Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")
    scale = tile_w / img.width
    img = img.resize((tile_w, round(img.height * scale)), Image.Resampling.LANCZOS)
    d = ImageDraw.Draw(img)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 13)
    except OSError:
        font = ImageFont.load_default()
    for s in ann.shapes:
        if not s.is_suggestion:
            continue
        col = COLOURS.get(s.label, (0, 200, 120))
        x1, y1, x2, y2 = (v * scale for v in s.bbox())
        if s.shape_type == "polygon":
            d.line([(x * scale, y * scale) for x, y in [*s.points, s.points[0]]], fill=col, width=2)
        d.rectangle((x1, y1, x2, y2), outline=(255, 255, 255), width=1)
        text = f"{s.label} {s.score:.2f}" if s.score is not None else s.label
        tw = d.textlength(text, font=font)
        ty = max(0, y1 - 16)
        d.rectangle((x1, ty, x1 + tw + 6, ty + 16), fill=col)
        d.text((x1 + 3, ty + 1), text, fill=(255, 255, 255) if s.label != "star" else (0, 0, 0), font=font)
    d.text((6, img.height - 18), image_path.name, fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return img


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="an auto-labeled folder (default: run yolo_sam on a copy)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "autolabel_scenes.png")
    parser.add_argument("--scenes", default=",".join(DEFAULT_SCENES), help="scene names, comma-separated")
    parser.add_argument("--columns", type=int, default=3)
    parser.add_argument("--tile-width", type=int, default=400)
    args = parser.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from PIL import Image

    work = Path(tempfile.mkdtemp(prefix="labeler-picture-"))
    os.environ.setdefault("YOLO_CONFIG_DIR", str(work / "ultralytics"))
    try:
        folder = args.dataset or autolabel_copy(work)
        tiles = [
            draw_scene(folder / f"{n}.jpg", folder / f"{n}.json", args.tile_width)
            for n in args.scenes.split(",")
        ]
        cols = args.columns
        rows = (len(tiles) + cols - 1) // cols
        cell_h = max(t.height for t in tiles)
        gap = 6
        sheet = Image.new("RGB", (cols * args.tile_width + (cols + 1) * gap, rows * cell_h + (rows + 1) * gap), (255, 255, 255))
        for i, t in enumerate(tiles):
            r, c = divmod(i, cols)
            sheet.paste(t, (gap + c * (args.tile_width + gap), gap + r * (cell_h + gap)))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(args.out, optimize=True)
        print(f"wrote {args.out} ({sheet.width}x{sheet.height})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
