#!/usr/bin/env python3
"""Orientation accuracy of the ``orientation`` check over many rendered pages at all four
rotations, with images per second.

Pages are rendered from random text with the DejaVu fonts in several fonts, sizes and layouts
(receipts, and letter-like pages of paragraphs), then degraded as scanners do (grain, uneven
light, blur). Each page is shown at 0, 90, 180 and 270 degrees; the check must find the
rotation that makes it upright. Run from the repository root::

    nice -n 10 .venv/bin/python bench/orientation.py --pages 24 [--use-rec auto] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from make_receipts import FONT_DIR, FONTS, ITEMS, degrade, render_receipt  # noqa: E402

WORDS = [
    "the",
    "invoice",
    "payment",
    "order",
    "delivery",
    "customer",
    "account",
    "number",
    "reference",
    "please",
    "note",
    "that",
    "all",
    "prices",
    "include",
    "tax",
    "and",
    "shipping",
    "within",
    "ten",
    "working",
    "days",
    "contact",
    "our",
    "office",
    "for",
    "returns",
    "or",
    "questions",
    "about",
    "this",
    "statement",
    "thank",
    "you",
    "for",
    "your",
    "business",
    "signed",
] + [w.split()[0] for w in ITEMS]


def render_letter(rng: random.Random, font_name: str, size: int) -> Image.Image:
    """A letter-like page: a title and paragraphs of left-aligned lines."""
    font = ImageFont.truetype(str(FONT_DIR / font_name), size)
    width = rng.choice([520, 600, 680])
    margin = rng.randint(24, 40)
    lines = []
    for _ in range(rng.randint(2, 4)):
        for _ in range(rng.randint(2, 5)):
            lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9))))
        lines.append("")
    height = margin * 2 + (len(lines) + 2) * int(size * 1.5)
    img = Image.new("RGB", (width, height), (rng.randint(235, 255),) * 3)
    draw = ImageDraw.Draw(img)
    y = margin
    draw.text(
        (margin, y), "Statement " + str(rng.randint(1000, 9999)), font=font, fill=(20, 20, 20)
    )
    y += int(size * 2.2)
    for line in lines:
        # Wrap at the page width.
        while line and draw.textlength(line, font=font) > width - 2 * margin:
            line = line.rsplit(" ", 1)[0]
        draw.text((margin, y), line, font=font, fill=(30, 30, 30))
        y += int(size * 1.5)
    return img


def make_pages(n: int, seed: int) -> list[tuple[str, Image.Image]]:
    rng = random.Random(seed)
    pages = []
    for i in range(n):
        font = FONTS[i % len(FONTS)]
        size = rng.choice([14, 16, 18, 22])
        noise, blur = rng.choice([(0, 0), (5, 0.5), (9, 1.0)])
        if i % 2 == 0:
            img = render_receipt(rng, font_name=font, size=size).image
            layout = "receipt"
        else:
            img = render_letter(rng, font, size)
            layout = "letter"
        if noise or blur:
            img = degrade(img, rng, noise, blur)
        pages.append((f"{layout}/{font}/{size}px/noise{noise}", img))
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--use-rec", default="auto", choices=["auto", "always", "never"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from labeler_plugins.orientation import detect_orientation

    from labeler.ocr_engine import get_engine

    engine = get_engine()
    pages = make_pages(args.pages, args.seed)
    confusion: Counter[tuple[int, int]] = Counter()
    by_layout: Counter[tuple[str, bool]] = Counter()
    wrong = []
    confident_right = confident_total = 0
    start = time.perf_counter()
    for desc, img in pages:
        for content in (0, 90, 180, 270):
            shown = img.rotate(-content, expand=True)
            expected = (360 - content) % 360
            r = detect_orientation(shown, engine, use_rec=args.use_rec)
            confusion[(expected, r.rotation)] += 1
            ok = r.rotation == expected
            by_layout[(desc.split("/")[0], ok)] += 1
            if r.confidence >= 0.7:
                confident_total += 1
                confident_right += ok
            if not ok:
                wrong.append(
                    {
                        "page": desc,
                        "expected": expected,
                        "got": r.rotation,
                        "confidence": r.confidence,
                    }
                )
    seconds = time.perf_counter() - start
    total = sum(confusion.values())
    right = sum(v for (e, g), v in confusion.items() if e == g)
    result = {
        "images": total,
        "accuracy": round(right / total, 4),
        "per_rotation": {
            str(e): round(
                confusion[(e, e)] / max(1, sum(v for (x, _), v in confusion.items() if x == e)), 4
            )
            for e in (0, 90, 180, 270)
        },
        "per_layout": {
            lay: round(
                by_layout[(lay, True)] / max(1, by_layout[(lay, True)] + by_layout[(lay, False)]), 4
            )
            for lay in ("receipt", "letter")
        },
        "confident_share": round(confident_total / total, 4),
        "precision_when_confident": round(confident_right / max(1, confident_total), 4),
        "seconds": round(seconds, 1),
        "images_per_second": round(total / seconds, 3),
        "use_rec": args.use_rec,
        "errors": wrong,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
