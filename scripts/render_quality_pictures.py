"""Render docs/images/quality_<kind>.png: one picture per ``image_quality`` issue kind.

Each picture is a scikit-image photo made dark, light, blurry, grey, cut to a strip, shrunk
or flattened (the variations of ``bench/image_quality.py``), checked by the real
``image_quality`` check among plain photos, and captioned with the finding it raised.

    python scripts/render_quality_pictures.py     # needs scikit-image (pip install 'labeler[bench]')
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "images"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TILE = 220


def main() -> None:
    """Write the seven pictures."""
    import importlib.util

    from labeler_plugins.image_quality import KINDS, ImageQuality

    from labeler.dataset import open_dataset
    from labeler.pipeline import run_check

    spec = importlib.util.spec_from_file_location("bench_image_quality", ROOT / "bench" / "image_quality.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    photos = bench.base_images()
    rng = np.random.default_rng(3)
    work = Path(tempfile.mkdtemp(prefix="quality_pictures_"))
    made = {}
    for name, photo in photos.items():  # the rest of the set: photos 320 px on the long side
        photo.thumbnail((320, 320))
        photo.convert("RGB").save(work / f"plain_{name}.jpg", quality=90)
    picks = {"dark": "coffee", "light": "chelsea", "blurry": "astronaut", "gray_rgb": "rocket",
             "strip": "immunohistochemistry", "tiny": "astronaut", "flat": "coffee"}
    for variant, photo in picks.items():
        im = bench.VARIANTS[variant][0](photos[photo], rng)
        if variant == "light":  # the bench draws 0.85-0.97; the picture shows a clear case
            im = Image.blend(photos[photo].convert("RGB"), Image.new("RGB", im.size, "white"), 0.96)
        path = work / f"{variant}.png"
        im.save(path)
        made[bench.VARIANTS[variant][1]] = path.name
    _, findings = run_check(open_dataset(work), ImageQuality(), dry_run=True)
    font = ImageFont.truetype(FONT, 12)
    bold = ImageFont.truetype(FONT.replace("Sans.ttf", "Sans-Bold.ttf"), 13)
    OUT.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        rel = made[kind]
        found = next(f for f in findings if f.rel == rel and f.issue.kind == kind)
        with Image.open(work / rel) as src:
            im = src.convert("RGB")
        shown = im.copy()
        if kind != "odd_size":  # the tiny image is shown at its real size
            shown.thumbnail((TILE, TILE))
        lines = textwrap.wrap(found.issue.detail, 34)
        canvas = Image.new("RGB", (TILE + 16, TILE + 28 + 16 * len(lines) + 8), "white")
        draw = ImageDraw.Draw(canvas)
        x = 8 + (TILE - shown.width) // 2
        y = 8 + (TILE - shown.height) // 2
        canvas.paste(shown, (x, y))
        draw.rectangle((x - 1, y - 1, x + shown.width, y + shown.height), outline="#999")
        if kind == "odd_size":
            draw.text((8, 8), f"shown at its real size, {im.width}x{im.height}", fill="#555", font=font)
        draw.text((8, TILE + 12), f"{kind}  score {found.issue.score:.2f}", fill="#b00", font=bold)
        for i, line in enumerate(lines):
            draw.text((8, TILE + 30 + 16 * i), line, fill="#222", font=font)
        canvas.save(OUT / f"quality_{kind}.png", optimize=True)
        print(OUT / f"quality_{kind}.png")


if __name__ == "__main__":
    main()
