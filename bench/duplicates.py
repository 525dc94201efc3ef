"""Benchmark: precision and recall of ``duplicates`` per transform, and images per second.

Builds a dataset folder of distinct originals, then injects one transformed copy of a random
subset of them per transform: horizontal/vertical flip, rotation by 90/180/270, rescale to half
and to double size, JPEG recompression (quality 40), a 5% and a 10% crop (each side: 2.5% and
5%), and a byte-identical copy. It runs the ``duplicates`` check through the pipeline and counts,
per transform, the injected copies grouped with their original (recall); precision is over every
flagged image (a flag on an image not injected, or grouped with the wrong original, is a false
positive).

Originals: animal-mnist silhouettes (hard: thousands of similar drawings of 10 animals,
upscaled to 64x64 like ``sample_data/sketches``; its own pixel-identical pairs removed) and the photos bundled with scikit-image
(backgrounds are photographic). Both need only packages (see ../shared/OFFLINE.md).

    pip install animal-mnist scikit-image
    nice -n 10 python bench/duplicates.py                       # 2000 originals + copies
    python bench/duplicates.py --originals 500 --copies 20 --json out.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import pickle
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labeler.dataset import open_dataset  # noqa: E402
from labeler.pipeline import run_check  # noqa: E402
from plugins.duplicates import Duplicates  # noqa: E402


def _crop(im: Image.Image, frac: float) -> Image.Image:
    w, h = im.size
    dx, dy = int(round(w * frac / 2)), int(round(h * frac / 2))
    return im.crop((dx, dy, w - dx, h - dy))


TRANSFORMS = {
    "flip_h": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "flip_v": lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    "rot90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "rot180": lambda im: im.transpose(Image.Transpose.ROTATE_180),
    "rot270": lambda im: im.transpose(Image.Transpose.ROTATE_270),
    "rescale_0.5": lambda im: im.resize((max(8, im.width // 2), max(8, im.height // 2)), Image.Resampling.BICUBIC),
    "rescale_2": lambda im: im.resize((im.width * 2, im.height * 2), Image.Resampling.BICUBIC),
    "jpeg_q40": None,  # saved as JPEG quality 40
    "crop_5pct": lambda im: _crop(im, 0.05),
    "crop_10pct": lambda im: _crop(im, 0.10),
    "exact": None,  # byte copy
}


def animal_originals(n: int, seed: int) -> list[Image.Image]:
    import importlib.util

    spec = importlib.util.find_spec("animal_mnist")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install animal-mnist")
    with gzip.open(Path(spec.origin).parent / "data" / "Animal_MNIST" / "animal_data_version_3.gz") as f:
        data = pickle.load(f)
    # animal-mnist itself holds 284 pixel-identical pairs: keep one of each, so that every
    # original is distinct and a flag between two originals is a real false positive.
    unique: dict[bytes, int] = {}
    for i, im in enumerate(data):
        unique.setdefault(im.tobytes(), i)
    pool = np.array(sorted(unique.values()))
    pick = np.random.default_rng(seed).choice(pool, n, replace=False)
    return [Image.fromarray(255 - data[i]).resize((64, 64), Image.Resampling.BICUBIC).convert("RGB") for i in pick]


def photo_originals() -> list[Image.Image]:
    from skimage import data

    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "page",
                 "text", "horse", "hubble_deep_field", "immunohistochemistry", "motorcycle_left",
                 "clock", "checkerboard", "brick", "grass", "gravel", "retina"):
        try:
            arr = getattr(data, name)()
        except Exception:  # noqa: BLE001 - some need a download; skip those
            continue
        if arr.dtype != np.uint8:
            arr = (255 * (arr.astype(float) / max(float(arr.max()), 1e-9))).astype(np.uint8)
        im = Image.fromarray(arr).convert("RGB")
        im.thumbnail((320, 320))
        out.append(im)
    return out


def build(root: Path, originals: list[Image.Image], copies: int, seed: int) -> dict[str, tuple[str, str]]:
    """Write originals and copies; return copy name -> (transform, original name)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for i, im in enumerate(originals):
        name = f"orig_{i:05d}.png"
        im.save(root / name)
        names.append(name)
    truth: dict[str, tuple[str, str]] = {}
    for t, fn in TRANSFORMS.items():
        for j in rng.choice(len(originals), min(copies, len(originals)), replace=False):
            src = names[j]
            if t == "exact":
                name = f"copy_{t}_{j:05d}.png"
                (root / name).write_bytes((root / src).read_bytes())
            elif t == "jpeg_q40":
                name = f"copy_{t}_{j:05d}.jpg"
                originals[j].save(root / name, quality=40)
            else:
                name = f"copy_{t}_{j:05d}.png"
                fn(originals[j]).save(root / name)  # type: ignore[misc]
            truth[name] = (t, src)
    return truth


def evaluate(root: Path, truth: dict[str, tuple[str, str]], options: dict) -> dict:
    ds = open_dataset(root)
    start = time.perf_counter()
    _summary, findings = run_check(ds, Duplicates(options), dry_run=True)
    secs = time.perf_counter() - start
    # Group membership from the findings: every flagged image names its group.
    group_of: dict[str, frozenset[str]] = {}
    for f in findings:
        members = frozenset([f.rel, *f.issue.related_files])
        for m in members:
            group_of[m] = group_of.get(m, frozenset()) | members
    flagged = {f.rel for f in findings}
    hit = Counter()
    for name, (t, src) in truth.items():
        if src in group_of.get(name, ()):
            hit[t] += 1
    per_t = Counter(t for t, _ in truth.values())
    # A flag is right when the image is an injected copy grouped with its original, or an
    # original that has injected copies in its group (the representative may be either).
    def correct(rel: str) -> bool:
        if rel in truth:
            return truth[rel][1] in group_of.get(rel, ())
        return any(truth.get(m, ("", ""))[1] == rel for m in group_of.get(rel, ()))

    tp = sum(correct(r) for r in flagged)
    return {
        "images": len(ds),
        "seconds": round(secs, 2),
        "images_per_second": round(len(ds) / secs, 1),
        "flagged": len(flagged),
        "precision": round(tp / max(len(flagged), 1), 4),
        "recall": round(sum(hit.values()) / max(len(truth), 1), 4),
        "recall_per_transform": {t: round(hit[t] / per_t[t], 3) for t in TRANSFORMS if per_t[t]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--originals", type=int, default=2000, help="animal-mnist originals")
    ap.add_argument("--copies", type=int, default=50, help="copies per transform")
    ap.add_argument("--max-distance", type=int, default=None, help="override the check's default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    opts = {} if args.max_distance is None else {"max_distance": args.max_distance}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, originals, copies in (
            ("animal-mnist", animal_originals(args.originals, args.seed), args.copies),
            ("skimage-photos", photo_originals(), 3),
        ):
            root = Path(tmp) / name
            truth = build(root, originals, copies, args.seed)
            results[name] = res = evaluate(root, truth, opts)
            print(f"\n{name}: {res['images']} images ({len(originals)} originals, {len(truth)} copies), "
                  f"{res['seconds']} s = {res['images_per_second']} images/s")
            print(f"  flagged {res['flagged']}, precision {res['precision']:.3f}, recall {res['recall']:.3f}")
            print("  recall per transform: " + ", ".join(f"{t} {r:.2f}" for t, r in res["recall_per_transform"].items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
