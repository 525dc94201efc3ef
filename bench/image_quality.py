"""Bench: the ``image_quality`` check against cleanvision on the same images.

Builds a set of real photos (scikit-image's ``skimage.data``) and variations of them made
dark, light, blurred, greyscaled (as one-channel files and as RGB files with equal channels),
cropped to a strip, shrunk or enlarged, and flattened (low information), written as JPEG and
PNG under a temporary folder; runs cleanvision's ``Imagelab`` (image-property issues only)
and labeler's check on them; prints per kind how often the two agree (image flagged or not)
and how many images per second each processes.

    python bench/image_quality.py                 # 1,000 images, a few minutes
    python bench/image_quality.py --images 10000  # the 10,000-image run in bench/README_checks.md

Needs ``pip install 'labeler[bench]'`` (cleanvision, scikit-image).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

KINDS = ("dark", "light", "blurry", "grayscale", "odd_size", "odd_aspect_ratio", "low_information")
#: skimage.data photos that ship with the package (no download).
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "page", "text", "moon",
          "horse", "hubble_deep_field", "immunohistochemistry", "retina", "logo", "cell", "clock",
          "grass", "gravel", "brick", "colorwheel")


def base_images() -> dict[str, Image.Image]:
    """The bundled skimage photos as PIL images (RGB or L as they come)."""
    import skimage.data

    out = {}
    for name in PHOTOS:
        arr = getattr(skimage.data, name)()
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        if arr.dtype != np.uint8:
            arr = (255 * (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-9)).astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[..., :3]
        out[name] = Image.fromarray(arr)
    return out


def _rgb(im: Image.Image) -> Image.Image:
    return im.convert("RGB")


#: Variation name -> (what it does to an image, the kind it should raise or None).
VARIANTS: dict[str, tuple[Callable[[Image.Image, np.random.Generator], Image.Image], str | None]] = {
    "plain": (lambda im, r: _rgb(im), None),
    "dark": (lambda im, r: ImageEnhance.Brightness(_rgb(im)).enhance(r.uniform(0.05, 0.3)), "dark"),
    "light": (lambda im, r: Image.blend(_rgb(im), Image.new("RGB", im.size, "white"), r.uniform(0.85, 0.97)),
              "light"),
    "blurry": (lambda im, r: _rgb(im).filter(ImageFilter.GaussianBlur(r.uniform(0.02, 0.05) * max(im.size))),
               "blurry"),
    "gray_l": (lambda im, r: im.convert("L"), "grayscale"),
    "gray_rgb": (lambda im, r: im.convert("L").convert("RGB"), "grayscale"),
    "strip": (lambda im, r: _rgb(im).crop((0, 0, im.width, max(8, int(im.width * r.uniform(0.12, 0.3))))),
              "odd_aspect_ratio"),
    "tiny": (lambda im, r: _rgb(im).resize((24, 24)), "odd_size"),
    "huge": (lambda im, r: _rgb(im).resize((im.width * 4, im.height * 4)), "odd_size"),
    "flat": (lambda im, r: Image.new("RGB", im.size, tuple(int(v) for v in r.integers(0, 255, 3))),
             "low_information"),
}


def make_dataset(folder: Path, n: int, seed: int = 0) -> dict[str, str]:
    """Write ``n`` images (variations of the photos, JPEG and PNG) under ``folder``.

    Returns {file name: variant}. Plain copies are about half of the set, each photo resized
    by a random factor so that sizes vary as in a real collection."""
    rng = np.random.default_rng(seed)
    bases = list(base_images().items())
    names = list(VARIANTS)
    weights = np.array([10.0 if v == "plain" else 1.0 for v in names])
    weights /= weights.sum()
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for i in range(n):
        photo, im = bases[i % len(bases)]
        variant = names[int(rng.choice(len(names), p=weights))]
        s = rng.uniform(0.6, 1.0)
        im = im.resize((max(8, int(im.width * s)), max(8, int(im.height * s))), Image.Resampling.BILINEAR)
        out = VARIANTS[variant][0](im, rng)
        ext = ".jpg" if i % 2 else ".png"
        name = f"{i:05d}_{photo}_{variant}{ext}"
        out.save(folder / name, **({"quality": 90} if ext == ".jpg" else {"compress_level": 1}))
        made[name] = variant
    return made


def run_cleanvision(folder: Path) -> tuple[dict[str, set[str]], float]:
    """cleanvision's image-property issues: {kind: flagged file names}, seconds."""
    from cleanvision import Imagelab

    t0 = time.perf_counter()
    lab = Imagelab(data_path=str(folder))
    lab.find_issues({k: {} for k in KINDS}, n_jobs=1, verbose=False)
    seconds = time.perf_counter() - t0
    issues = lab.issues
    flagged = {k: {Path(p).name for p in issues.index[issues[f"is_{k}_issue"]]} for k in KINDS}
    return flagged, seconds


def run_labeler(folder: Path) -> tuple[dict[str, set[str]], float]:
    """labeler's check over the same folder (dry run: nothing written)."""
    from labeler_plugins.image_quality import ImageQuality

    from labeler.dataset import open_dataset
    from labeler.pipeline import run_check

    t0 = time.perf_counter()
    summary, findings = run_check(open_dataset(folder), ImageQuality(), dry_run=True)
    seconds = time.perf_counter() - t0
    flagged: dict[str, set[str]] = {k: set() for k in (*KINDS, "grayscale_one_channel")}
    for f in findings:
        flagged[f.issue.kind].add(Path(f.rel).name)
        if f.issue.kind == "grayscale" and "one-channel" in f.issue.detail:
            flagged["grayscale_one_channel"].add(Path(f.rel).name)
    if summary.failed:
        print("failed:", summary.failed[:5], file=sys.stderr)
    return flagged, seconds


def main(argv: list[str] | None = None) -> None:
    """Build the set, run both, print the table (and write it as JSON with --json)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--folder", type=Path, default=None, help="Where to write the images (default: a temp dir).")
    ap.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = ap.parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="iq_bench_"))
    made = make_dataset(folder, args.images)
    print(f"{len(made)} images in {folder}")
    lab, lab_s = run_labeler(folder)
    cv, cv_s = run_cleanvision(folder)
    names = sorted(made)
    rows = []
    print("\n| kind | labeler flagged | cleanvision flagged | both | agreement | injected found (labeler / cleanvision) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for k in (*KINDS, "grayscale_one_channel"):
        a, b = lab[k], cv[k.replace("_one_channel", "")]
        agree = sum((n in a) == (n in b) for n in names) / len(names)
        injected = {n for n, v in made.items() if VARIANTS[v][1] == k}
        if k == "grayscale_one_channel":
            injected = {n for n, v in made.items() if v == "gray_l"}
        rows.append({"kind": k, "labeler": len(a), "cleanvision": len(b), "both": len(a & b),
                     "agreement": round(agree, 4), "injected": len(injected),
                     "injected_labeler": len(injected & a), "injected_cleanvision": len(injected & b)})
        print(f"| {k} | {len(a)} | {len(b)} | {len(a & b)} | {agree:.3f} | "
              f"{len(injected & a)} / {len(injected & b)} of {len(injected)} |")
    speed = {"labeler_images_per_s": round(len(names) / lab_s, 1),
             "cleanvision_images_per_s": round(len(names) / cv_s, 1),
             "labeler_s": round(lab_s, 1), "cleanvision_s": round(cv_s, 1)}
    print(f"\n| tool | seconds | images/s |\n| --- | --- | --- |\n"
          f"| labeler image_quality | {lab_s:.1f} | {speed['labeler_images_per_s']} |\n"
          f"| cleanvision 0.3.7 (n_jobs=1) | {cv_s:.1f} | {speed['cleanvision_images_per_s']} |")
    if args.json:
        args.json.write_text(json.dumps({"images": len(names), "kinds": rows, **speed}, indent=2) + "\n")
    if args.folder is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
