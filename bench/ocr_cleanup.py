#!/usr/bin/env python3
"""Precision and recall of the ``ocr_cleanup`` check on injected OCR label noise, with images
per second.

Receipts are rendered from random text (several fonts, sizes, scanner noise; a quarter of them
turned 90/180/270 degrees with their labels), each labelled with exact quads and
transcriptions, then label noise is injected with ``scripts/make_receipts.py``'s ``inject``:
broken polygons, self-intersections, reversed point order, points outside the image,
duplicated boxes, empty and wrong transcriptions, tiny boxes. A finding is a true positive when
it names an injected shape with the matching kind. Run from the repository root::

    nice -n 10 .venv/bin/python bench/ocr_cleanup.py --images 20 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from make_receipts import FONTS, inject, render_receipt, rotate_page, shape  # noqa: E402

NOISE_KINDS = [
    "broken_polygon", "self_intersection", "point_order", "outside", "duplicate",
    "empty_text", "wrong_text", "tiny_box",
]  # fmt: skip
#: injected kind -> the issue kind ocr_cleanup should raise
EXPECTED_KIND = {
    "broken_polygon": "too_few_points",
    "outside": "points_outside",
    "wrong_text": "transcription_mismatch",
}


def make_dataset(folder: Path, n: int, seed: int) -> dict[str, list[dict]]:
    """Write ``n`` noisy receipts (PNG + labelme JSON); return the injected noise per image."""
    rng = random.Random(seed)
    truth: dict[str, list[dict]] = {}
    for i in range(n):
        page = render_receipt(
            rng,
            font_name=FONTS[i % len(FONTS)],
            noise=rng.choice([0, 4, 8]),
            blur=rng.choice([0, 0.5]),
        )
        rotation = rng.choice([0, 0, 0, 90, 180, 270])
        page = rotate_page(page, rotation)
        w, h = page.image.size
        shapes = [shape(s.text, s.quad) for s in page.segments]
        kinds = rng.sample(NOISE_KINDS, rng.randint(1, 3))
        records = [inject(k, shapes, (w, h), rng) for k in kinds]
        for s in shapes:
            s.pop("_touched", None)
        name = f"page_{i:03d}.png"
        page.image.save(folder / name)
        doc = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": name,
               "imageData": None, "imageHeight": h, "imageWidth": w}  # fmt: skip
        (folder / name).with_suffix(".json").write_text(json.dumps(doc))
        truth[name] = records
    return truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from labeler_plugins.ocr_cleanup import OcrCleanupCheck

    from labeler.dataset import open_dataset
    from labeler.pipeline import run_check

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        truth = make_dataset(folder, args.images, args.seed)
        check = OcrCleanupCheck()
        check.setup()  # load the models before timing
        start = time.perf_counter()
        summary, findings = run_check(open_dataset(folder), check, dry_run=True)
        seconds = time.perf_counter() - start
    expected = {
        (name, r["shape_index"], EXPECTED_KIND.get(r["kind"], r["kind"]))
        for name, recs in truth.items()
        for r in recs
    }
    got = {(f.rel, f.issue.shape_index, f.issue.kind) for f in findings}
    tp = got & expected
    per_kind = {}
    for kind in sorted({k for _, _, k in expected | got}):
        e = {x for x in expected if x[2] == kind}
        g = {x for x in got if x[2] == kind}
        per_kind[kind] = {
            "injected": len(e),
            "found": len(g),
            "precision": round(len(e & g) / len(g), 3) if g else None,
            "recall": round(len(e & g) / len(e), 3) if e else None,
        }
    result = {
        "images": args.images,
        "injected": len(expected),
        "findings": len(got),
        "precision": round(len(tp) / max(1, len(got)), 4),
        "recall": round(len(tp) / max(1, len(expected)), 4),
        "per_kind": per_kind,
        "false_positives": sorted(got - expected),
        "missed": sorted(expected - got),
        "seconds": round(seconds, 1),
        "images_per_second": round(args.images / seconds, 3),
        "failed": summary.failed,
    }
    print(json.dumps(result, indent=2, default=list))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=list) + "\n")


if __name__ == "__main__":
    main()
