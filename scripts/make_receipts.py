#!/usr/bin/env python3
"""Render the ``sample_data/receipts/`` OCR sample set, deterministically.

Receipts are drawn from random text with the DejaVu fonts (``/usr/share/fonts/truetype/dejavu``)
and come with their ground truth as labelme polygon shapes: one 4-point shape labelled
``text`` per text segment, clockwise from the top-left corner, with the transcription in the
shape's ``labeler.text``. Then, on purpose:

- some pages are rotated by 90, 180 or 270 degrees (the shapes are rotated with them, so they
  stay right for the stored image);
- one JPEG carries a wrong EXIF orientation tag (the pixels are upright, the tag makes viewers
  show it rotated; the shapes are in the displayed frame, as labelme would have them);
- one JPEG is stored rotated with a correct EXIF tag (it displays upright: nothing to find);
- some label files get injected noise: broken polygons, self-intersections, reversed point
  order, points outside the image, duplicated boxes, empty and wrong transcriptions, tiny boxes;
- one image has no label file (for ``labeler autolabel --plugin ocr``).

What was injected is written to ``sample_data/truth/receipts_noise.json`` (outside the image
folder, so it is not taken for a label file)::

    python scripts/make_receipts.py [--out sample_data] [--seed 7]

The renderer (:func:`render_receipt`, :func:`rotate_page`) is also used by
``bench/orientation.py`` and ``bench/ocr_cleanup.py`` to make many pages.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = [
    "DejaVuSans.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerifCondensed.ttf",
]
LABELME_VERSION = "5.5.0"
DEFAULT_SEED = 7

STORES = [
    "GREEN LEAF MARKET", "CORNER BAKERY", "CITY HARDWARE", "BLUE OCEAN CAFE",
    "SUNRISE PHARMACY", "MAPLE BOOKSHOP", "RIVERSIDE DELI", "NORTH STAR FUELS",
]  # fmt: skip
STREETS = ["Main St", "Oak Avenue", "Harbour Rd", "Elm Street", "Station Sq", "Mill Lane"]
ITEMS = [
    "Milk 1L", "Bread loaf", "Coffee beans", "Apples 1kg", "Cheddar", "Orange juice",
    "Eggs x12", "Butter", "Pasta 500g", "Tomatoes", "Green tea", "Croissant", "Screws M4",
    "Batteries AA", "Notebook", "Pen set", "Bananas", "Yogurt", "Olive oil", "Rice 2kg",
    "Soap", "Toothpaste", "Chocolate", "Water 6x", "Sandwich", "Muffin", "Cappuccino",
]  # fmt: skip


@dataclass
class Segment:
    """One text segment: its transcription and its quad (4 points, clockwise from top-left)."""

    text: str
    quad: list[tuple[float, float]]


@dataclass
class Page:
    """A rendered page and its ground truth."""

    image: Image.Image
    segments: list[Segment] = field(default_factory=list)


def receipt_lines(rng: random.Random) -> list[tuple[str, str]]:
    """Random receipt content as (left, right) pairs; right may be empty, left "^" centres."""
    lines: list[tuple[str, str]] = []
    lines.append(("^" + rng.choice(STORES), ""))
    lines.append(("^" + f"{rng.randint(1, 250)} {rng.choice(STREETS)}", ""))
    lines.append(("^" + f"Tel {rng.randint(200, 999)}-{rng.randint(1000, 9999)}", ""))
    lines.append(
        (
            f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(19, 25)}",
            f"{rng.randint(7, 21):02d}:{rng.randint(0, 59):02d}",
        )
    )
    total = 0.0
    for name in rng.sample(ITEMS, rng.randint(4, 8)):
        qty = rng.choice([1, 1, 1, 2, 3])
        price = round(rng.uniform(0.5, 25.0), 2)
        total += qty * price
        left = f"{qty} x {name}" if qty > 1 else name
        lines.append((left, f"{qty * price:.2f}"))
    tax = round(total * 0.08, 2)
    lines.append(("SUBTOTAL", f"{total:.2f}"))
    lines.append(("TAX 8%", f"{tax:.2f}"))
    lines.append(("TOTAL", f"{total + tax:.2f}"))
    lines.append(("^" + rng.choice(["THANK YOU", "PLEASE COME AGAIN", "HAVE A NICE DAY"]), ""))
    return lines


def render_receipt(
    rng: random.Random,
    width: int | None = None,
    font_name: str | None = None,
    size: int | None = None,
    noise: float = 0.0,
    blur: float = 0.0,
    lines: list[tuple[str, str]] | None = None,
) -> Page:
    """Draw one upright receipt; return the image (RGB) and its text segments."""
    font_name = font_name or rng.choice(FONTS)
    size = size or rng.randint(15, 20)
    width = width or rng.choice([340, 360, 380, 400])
    font = ImageFont.truetype(str(FONT_DIR / font_name), size)
    lines = lines if lines is not None else receipt_lines(rng)
    margin = rng.randint(14, 22)
    gap = int(size * rng.uniform(0.55, 0.8))
    height = margin * 2 + len(lines) * (size + gap)
    paper = tuple(int(c) for c in (rng.randint(238, 252),) * 3)
    img = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(img)
    ink = (rng.randint(10, 60),) * 3
    segments: list[Segment] = []
    y = margin
    pad = 3

    def put(x: float, text: str) -> None:
        draw.text((x, y), text, font=font, fill=ink)
        x1, y1, x2, y2 = draw.textbbox((x, y), text, font=font)
        x1, y1, x2, y2 = x1 - pad, y1 - pad, x2 + pad, y2 + pad
        quad = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
        segments.append(Segment(text, [(float(a), float(b)) for a, b in quad]))

    for left, right in lines:
        if left.startswith("^"):
            text = left[1:]
            w = draw.textlength(text, font=font)
            put((width - w) / 2, text)
        else:
            put(margin, left)
            if right:
                w = draw.textlength(right, font=font)
                put(width - margin - w, right)
        y += size + gap
    if noise > 0 or blur > 0:
        img = degrade(img, rng, noise, blur)
    return Page(img, segments)


def degrade(img: Image.Image, rng: random.Random, noise: float, blur: float) -> Image.Image:
    """Scanner-like degradation: blur, grain, uneven lighting."""
    if blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(img).astype(np.float32)
    h, w = arr.shape[:2]
    gen = np.random.default_rng(rng.randint(0, 2**31))
    if noise > 0:
        arr += gen.normal(0, noise, size=arr.shape)
        shade = np.linspace(0, rng.uniform(-18, 18), w)[None, :, None]
        arr += shade
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def rotate_points(
    points: list[tuple[float, float]], size: tuple[int, int], degrees_cw: int
) -> list[tuple[float, float]]:
    """Map points of an image of ``size`` (w, h) into that image rotated clockwise."""
    w, h = size
    out = []
    for x, y in points:
        if degrees_cw == 90:
            out.append((h - y, x))
        elif degrees_cw == 180:
            out.append((w - x, h - y))
        elif degrees_cw == 270:
            out.append((y, w - x))
        else:
            out.append((x, y))
    return out


_TRANSPOSE_CW = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
                 270: Image.Transpose.ROTATE_90}  # fmt: skip


def rotate_page(page: Page, degrees_cw: int) -> Page:
    """The page rotated clockwise, segments included (quads keep their reading-order corners)."""
    if degrees_cw % 360 == 0:
        return page
    size = page.image.size
    img = page.image.transpose(_TRANSPOSE_CW[degrees_cw])
    segs = [Segment(s.text, rotate_points(s.quad, size, degrees_cw)) for s in page.segments]
    return Page(img, segs)


# -- the sample set ----------------------------------------------------------------------------
#: name -> (content rotation clockwise, format, EXIF case, noise kinds to inject)
PLAN: list[tuple[str, int, str, str, list[str]]] = [
    ("receipt_01", 0, "jpg", "", []),
    ("receipt_02", 0, "jpg", "", ["broken_polygon", "duplicate"]),
    ("receipt_03", 0, "png", "", ["self_intersection", "empty_text"]),
    ("receipt_04", 0, "jpg", "", ["point_order", "wrong_text"]),
    ("receipt_05", 0, "jpg", "", ["outside", "tiny_box"]),
    ("receipt_06", 0, "png", "", ["wrong_text", "duplicate", "dont_care"]),
    ("receipt_07", 0, "jpg", "", ["empty_text", "outside"]),
    ("receipt_08", 90, "jpg", "", []),
    ("receipt_09", 180, "jpg", "", ["duplicate"]),
    ("receipt_10", 270, "jpg", "", []),
    ("receipt_11", 90, "png", "", ["wrong_text"]),
    ("receipt_12", 180, "png", "", []),
    ("receipt_13", 270, "png", "", []),
    ("receipt_14", 0, "jpg", "wrong_tag", []),
    ("receipt_15", 0, "jpg", "right_tag", []),
    ("receipt_16", 0, "jpg", "", []),  # unlabeled
]
UNLABELED = {"receipt_16"}


def shape(text: str, quad: list[tuple[float, float]], **flags: bool) -> dict:
    """A labelme polygon shape with the transcription under ``labeler.text``."""
    return {
        "label": "text",
        "points": [[round(x, 2), round(y, 2)] for x, y in quad],
        "group_id": None,
        "description": "",
        "shape_type": "polygon",
        "flags": dict(flags),
        "labeler": {"text": text},
    }


def inject(kind: str, shapes: list[dict], size: tuple[int, int], rng: random.Random) -> dict:
    """Apply one kind of label noise to ``shapes`` in place; return what was done."""
    w, h = size
    # Pick a shape with ordinary text (not one already touched).
    candidates = [
        i for i, s in enumerate(shapes) if not s.get("_touched") and len(s["labeler"]["text"]) >= 4
    ]
    i = rng.choice(candidates)
    s = shapes[i]
    rec: dict = {"kind": kind, "shape_index": i, "text": s["labeler"]["text"]}
    if kind == "broken_polygon":
        s["points"] = s["points"][:2]
    elif kind == "self_intersection":
        p = s["points"]
        s["points"] = [p[0], p[2], p[1], p[3]]  # a bow tie
    elif kind == "point_order":
        s["points"] = list(reversed(s["points"]))  # counter-clockwise
    elif kind == "outside":
        # Stretch the box past the nearest side edge (annotation tools do this on drags).
        p = s["points"]
        xs = [q[0] for q in p]
        if min(xs) < w - max(xs):
            s["points"] = [[x - (min(xs) + 12) if x == min(xs) else x, y] for x, y in p]
        else:
            s["points"] = [[x + (w - max(xs) + 12) if x == max(xs) else x, y] for x, y in p]
    elif kind == "duplicate":
        dup = json.loads(json.dumps(s))
        dup["points"] = [
            [x + rng.uniform(-1.5, 1.5), y + rng.uniform(-1.5, 1.5)] for x, y in dup["points"]
        ]
        dup["points"] = [[round(x, 2), round(y, 2)] for x, y in dup["points"]]
        dup["_touched"] = True
        shapes.append(dup)
        rec["shape_index"] = len(shapes) - 1
        rec["duplicate_of"] = i
    elif kind == "empty_text":
        s["labeler"]["text"] = ""
    elif kind == "wrong_text":
        others = [
            t["labeler"]["text"] for t in shapes if t["labeler"]["text"] != s["labeler"]["text"]
        ]
        s["labeler"]["text"] = rng.choice([t for t in others if len(t) >= 4] or ["WRONG"])
        rec["wrong"] = s["labeler"]["text"]
    elif kind == "tiny_box":
        x, y = s["points"][0]
        tiny = shape(".", [(x + 2, y + 2), (x + 4, y + 2), (x + 4, y + 4), (x + 2, y + 4)])
        tiny["_touched"] = True
        shapes.append(tiny)
        rec["shape_index"] = len(shapes) - 1
        rec["text"] = "."
    elif kind == "dont_care":
        # Not noise: a legitimate don't-care region (ICDAR '###'); checks must not flag it.
        s["labeler"]["text"] = "###"
    else:
        raise ValueError(kind)
    s["_touched"] = True
    return rec


def save_image(img: Image.Image, path: Path, fmt: str, exif_orientation: int = 0) -> None:
    """JPEG (quality 85, optional EXIF orientation tag) or PNG, written byte-deterministically."""
    if fmt == "png":
        img.save(path, format="PNG", optimize=True)
        return
    kwargs: dict = {"quality": 85}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kwargs)
    path.write_bytes(buf.getvalue())


def make(out: Path, seed: int) -> None:
    """Write ``out/receipts/`` and ``out/truth/receipts_noise.json``."""
    folder = out / "receipts"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    truth: dict = {
        "description": "What scripts/make_receipts.py put into sample_data/receipts/. "
        "content_rotation: how far (degrees clockwise) the displayed page is rotated from "
        "upright; fix_rotation: the clockwise rotation that makes it upright. Noise shape "
        "indices refer to the shapes as written in the label file.",
        "seed": seed,
        "images": {},
    }
    for i, (name, rotation, fmt, exif_case, noise) in enumerate(PLAN):
        page = render_receipt(rng, font_name=FONTS[i % len(FONTS)], noise=4.0 if fmt == "jpg" else 0.0,
                              blur=0.4 if fmt == "jpg" else 0.0)  # fmt: skip
        displayed = rotate_page(page, rotation)
        stored_img, tag = displayed.image, 0
        content_rotation = rotation
        if exif_case == "wrong_tag":
            # Pixels upright, but tag 6 ("rotate 90 clockwise to display"): shown rotated.
            tag = 6
            displayed = rotate_page(page, 90)
            content_rotation = 90
        elif exif_case == "right_tag":
            # Pixels stored rotated 90 counter-clockwise, tag 6 brings them upright.
            tag = 6
            stored_img = page.image.transpose(Image.Transpose.ROTATE_90)
        file_name = f"{name}.{fmt}"
        save_image(stored_img, folder / file_name, fmt, tag)
        w, h = displayed.image.size
        shapes = [shape(s.text, s.quad) for s in displayed.segments]
        records = [inject(kind, shapes, (w, h), rng) for kind in noise]
        for s in shapes:
            s.pop("_touched", None)
        truth["images"][file_name] = {
            "content_rotation": content_rotation,
            "fix_rotation": (360 - content_rotation) % 360,
            "exif_orientation": tag or 1,
            "exif_case": exif_case or None,
            "labeled": name not in UNLABELED,
            "noise": [r for r in records if r["kind"] != "dont_care"],
            "dont_care": [r["shape_index"] for r in records if r["kind"] == "dont_care"],
            "segments": len(displayed.segments),
        }
        if name in UNLABELED:
            continue
        doc = {
            "version": LABELME_VERSION,
            "flags": {},
            "shapes": shapes,
            "imagePath": file_name,
            "imageData": None,
            "imageHeight": h,
            "imageWidth": w,
        }
        (folder / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (out / "truth" / "receipts_noise.json").write_text(
        json.dumps(truth, indent=2) + "\n", encoding="utf-8"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "sample_data"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    make(args.out, args.seed)
    print(f"wrote {args.out / 'receipts'} and {args.out / 'truth' / 'receipts_noise.json'}")


if __name__ == "__main__":
    main()
