#!/usr/bin/env python3
"""Rebuild labeler's sample data from its sources, deterministically.

Two small data sets are written under ``--out`` (default: ``sample_data/`` next to this
``scripts/`` folder):

``sketches/``
    An image-classification set: 120 silhouette drawings (10 animal classes x 12) taken from
    the Animal-MNIST data set that ships inside the PyPI package ``animal-mnist`` (MIT), inverted
    to dark-on-light and upscaled from 28x28 to 64x64 PNG, plus 6 injected problems for the
    data-quality checks: 6 wrong labels, 4 horizontally flipped near-duplicates and 2
    byte-identical duplicates (126 images in all). Each image has a labelme-compatible
    ``<stem>.json`` with its class in ``labeler.image_labels``. ``NOISE.md`` and ``truth/sketches_noise.json``
    list every injected problem with the true answer.

``scenes/``
    An object-detection / segmentation set: 24 synthetic RGB JPEG scenes (320x240 to 480x360)
    on textured backgrounds, each with 2-6 objects of four classes: ``ball`` (red circle),
    ``box`` (blue rotated square), ``star`` (yellow five-pointed star) and ``elephant`` (a dark
    Animal-MNIST elephant silhouette rendered large). 16 scenes have a ``<stem>.json``
    (rectangles on some, polygons on others, both kinds on a few); 8 have none (unlabeled, for
    auto-labeling). ``truth/scenes_ground_truth.json`` holds the full boxes and polygons of all 24 scenes.

Everything is drawn from a seeded ``numpy.random.Generator``, so two runs with the same seed
and the same library versions give byte-identical files. Needs ``numpy``, ``pillow``,
``animal-mnist`` (its data files only; its loader, which imports tensorflow, is not used) and
``scikit-image`` (to trace silhouette outlines)::

    pip install numpy pillow animal-mnist scikit-image
    python scripts/make_sample_data.py [--out sample_data] [--seed 1234] [--only sketches]
"""

from __future__ import annotations

import argparse
import colorsys
import gzip
import importlib
import json
import os
import pickle
import shutil
import sys
from pathlib import Path

DEFAULT_SEED = 1234
LABELME_VERSION = "5.5.0"
EXPECTED_ANIMAL_MNIST = "0.4"

# Animal-MNIST label ids, in the order the package's README lists them (alphabetical); checked
# by eye against a montage of the drawings of each id.
ANIMAL_CLASSES = [
    "bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra",
]  # fmt: skip

SKETCH_SIZE = 64
SKETCHES_PER_CLASS = 12
# Wrong labels to inject: (true class, label written instead), all plausible confusions.
MISLABELS = [
    ("dog", "cat"),
    ("cow", "horse"),
    ("sheep", "cow"),
    ("bear", "dog"),
    ("horse", "cow"),
    ("giraffe", "horse"),
]
N_FLIPPED = 4
N_EXACT_DUPLICATES = 2

N_SCENES = 24
SCENE_SIZES = [(320, 240), (360, 270), (400, 300), (448, 336), (480, 360)]
SCENE_CLASSES = ["ball", "box", "star", "elephant"]
SUPERSAMPLE = 4  # geometric shapes are drawn at 4x and box-filtered down (anti-aliasing)

PIP_NAMES = {
    "numpy": "numpy",
    "PIL": "pillow",
    "animal_mnist": "animal-mnist",
    "skimage": "scikit-image",
}


def require(module: str):
    """Import ``module`` or exit with a message naming the pip package to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pip_name = PIP_NAMES.get(module.split(".")[0], module)
        sys.exit(
            f"error: this script needs the Python package '{pip_name}' "
            f"(module '{module}' could not be imported).\n"
            f"Install it with:  pip install {pip_name}"
        )


# Imported in main(), after argument parsing, so that --help works without them.
np = Image = ImageDraw = None


def load_core_modules() -> None:
    global np, Image, ImageDraw
    np = require("numpy")
    Image = require("PIL.Image")
    ImageDraw = require("PIL.ImageDraw")


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON atomically (temp file then ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def save_image(path: Path, img, **kwargs) -> None:
    """Save a PIL image atomically; the format comes from the final suffix."""
    tmp = path.with_name(path.name + ".tmp")
    fmt = {".png": "PNG", ".jpg": "JPEG"}[path.suffix.lower()]
    img.save(tmp, format=fmt, **kwargs)
    os.replace(tmp, path)


def labelme_doc(image_name: str, width: int, height: int, shapes: list, labeler: dict) -> dict:
    return {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": image_name,
        "imageData": None,
        "imageHeight": int(height),
        "imageWidth": int(width),
        "labeler": labeler,
    }


def labelme_shape(label: str, points, shape_type: str) -> dict:
    return {
        "label": label,
        "points": [[round(float(x), 2), round(float(y), 2)] for x, y in points],
        "group_id": None,
        "description": "",
        "shape_type": shape_type,
        "flags": {},
        "mask": None,
    }


def clear_generated(folder: Path, patterns: list[str]) -> None:
    """Remove files an earlier run wrote (only names this script generates)."""
    for pattern in patterns:
        for p in sorted(folder.glob(pattern)):
            if p.is_file():
                p.unlink()


def load_animal_mnist():
    """Return (images uint8 [N,28,28], labels int [N]) from the animal-mnist package data."""
    pkg = require("animal_mnist")
    try:
        from importlib.metadata import version

        pkg_version = version("animal-mnist")
    except Exception:  # pragma: no cover - metadata missing
        pkg_version = "unknown"
    if pkg_version != EXPECTED_ANIMAL_MNIST:
        print(
            f"warning: animal-mnist {pkg_version} is installed; the shipped sample data was "
            f"made with {EXPECTED_ANIMAL_MNIST}, so the output may differ.",
            file=sys.stderr,
        )
    data_dir = Path(pkg.__file__).resolve().parent / "data" / "Animal_MNIST"
    with gzip.open(data_dir / "animal_data_version_3.gz", "rb") as f:
        images = pickle.load(f)
    with gzip.open(data_dir / "animal_label_version_3.gz", "rb") as f:
        labels = pickle.load(f)
    images = np.asarray(images, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.int64)
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        sys.exit(f"error: unexpected animal-mnist data shapes {images.shape}, {labels.shape}")
    return images, labels, pkg_version


# --------------------------------------------------------------------------------------------
# sketches: image classification with injected label noise and duplicates
# --------------------------------------------------------------------------------------------


def pick_distinct(rng, pool, images, n: int, chosen_arrays: list) -> list[int]:
    """Pick ``n`` indices from ``pool`` whose drawings are not (flipped) near-copies of each
    other or of ``chosen_arrays``, and that are not nearly empty."""
    picked: list[int] = []
    for idx in rng.permutation(pool):
        a = images[idx].astype(np.float32)
        if (a > 127).mean() < 0.08:  # nearly empty drawing
            continue
        too_close = False
        for b in chosen_arrays:
            if min(np.abs(a - b).mean(), np.abs(a[:, ::-1] - b).mean()) < 12.0:
                too_close = True
                break
        if too_close:
            continue
        picked.append(int(idx))
        chosen_arrays.append(a)
        if len(picked) == n:
            return picked
    raise RuntimeError("not enough distinct drawings")


def sketch_image(arr28):
    """28x28 white-on-black drawing -> 64x64 dark-on-light grayscale PIL image."""
    img = Image.fromarray(255 - arr28)
    return img.resize((SKETCH_SIZE, SKETCH_SIZE), Image.Resampling.BICUBIC)


def make_sketches(out: Path, rng, images, labels, pkg_version: str) -> dict:
    folder = out / "sketches"
    folder.mkdir(parents=True, exist_ok=True)
    clear_generated(folder, ["sketch_*.png", "sketch_*.json", "*.tmp"])

    chosen_arrays: list = []
    originals = []  # dicts: source index, true class
    for cls_id, cls in enumerate(ANIMAL_CLASSES):
        pool = np.flatnonzero(labels == cls_id)
        for idx in pick_distinct(rng, pool, images, SKETCHES_PER_CLASS, chosen_arrays):
            originals.append({"kind": "original", "source_index": idx, "true_label": cls})

    # Choose which originals carry the injected problems (disjoint roles).
    order = [int(i) for i in rng.permutation(len(originals))]
    used: set[int] = set()

    def take(pred) -> int:
        for i in order:
            if i not in used and pred(originals[i]):
                used.add(i)
                return i
        raise RuntimeError("no candidate left")

    for true_cls, wrong in MISLABELS:
        i = take(lambda o, c=true_cls: o["true_label"] == c)
        originals[i]["label"] = wrong
    extras = []
    flip_classes: set[str] = set()
    for _ in range(N_FLIPPED):
        i = take(lambda o: o["true_label"] not in flip_classes)
        flip_classes.add(originals[i]["true_label"])
        extras.append({"kind": "flipped", "of": i, "true_label": originals[i]["true_label"]})
    for _ in range(N_EXACT_DUPLICATES):
        i = take(lambda o: True)
        extras.append({"kind": "duplicate", "of": i, "true_label": originals[i]["true_label"]})
    for o in originals:
        o.setdefault("label", o["true_label"])
    for e in extras:
        e["label"] = e["true_label"]
        e["source_index"] = originals[e["of"]]["source_index"]

    # Shuffle everything together so that names give nothing away, then name the files.
    entries = originals + extras
    for pos, k in enumerate(rng.permutation(len(entries)), start=1):
        entries[int(k)]["name"] = f"sketch_{pos:04d}.png"
    for e in extras:
        e["of_name"] = originals[e["of"]]["name"]

    # Write originals first so that exact duplicates can copy their bytes.
    for e in sorted(entries, key=lambda e: (e["kind"] == "duplicate", e["name"])):
        path = folder / e["name"]
        if e["kind"] == "duplicate":
            tmp = path.with_name(path.name + ".tmp")
            shutil.copyfile(folder / e["of_name"], tmp)
            os.replace(tmp, path)
        else:
            img = sketch_image(images[e["source_index"]])
            if e["kind"] == "flipped":
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            save_image(path, img, optimize=False)
        doc = labelme_doc(
            e["name"], SKETCH_SIZE, SKETCH_SIZE, [],
            {"schema_version": 1, "image_labels": [{"label": e["label"]}]},
        )  # fmt: skip
        write_json(path.with_suffix(".json"), doc)

    by_name = sorted(entries, key=lambda e: e["name"])
    mislabeled = [
        {"image": e["name"], "label": e["label"], "true_label": e["true_label"]}
        for e in by_name
        if e["label"] != e["true_label"]
    ]
    flipped = [
        {"image": e["name"], "original": e["of_name"], "transform": "horizontal_flip"}
        for e in by_name
        if e["kind"] == "flipped"
    ]
    duplicates = [
        {"image": e["name"], "original": e["of_name"]} for e in by_name if e["kind"] == "duplicate"
    ]
    noise = {
        "description": "Problems injected on purpose into sample_data/sketches by "
        "scripts/make_sample_data.py; a data-quality check should find them.",
        "source": f"animal-mnist {pkg_version} (PyPI), animal_data_version_3.gz",
        "classes": ANIMAL_CLASSES,
        "num_images": len(entries),
        "mislabeled": mislabeled,
        "flipped_near_duplicates": flipped,
        "exact_duplicates": duplicates,
        "images": {
            e["name"]: {
                "label": e["label"],
                "true_label": e["true_label"],
                "source_index": e["source_index"],
                "kind": e["kind"],
            }
            for e in by_name
        },
    }
    write_json(folder.parent / "truth" / "sketches_noise.json", noise)
    write_text(folder / "NOISE.md", noise_markdown(noise))
    return noise


def noise_markdown(noise: dict) -> str:
    lines = [
        "# Injected problems in `sketches/`",
        "",
        "Generated by `scripts/make_sample_data.py`; do not edit by hand (rerun the script).",
        f"The set has {noise['num_images']} images of {len(noise['classes'])} classes "
        f"({', '.join(noise['classes'])}). Machine-readable copy: `../truth/sketches_noise.json` "
        "(its `images` map also gives every file's true class and Animal-MNIST index).",
        "",
        f"## Wrong labels ({len(noise['mislabeled'])})",
        "",
        "The JSON beside the image says `label`; the drawing is really `true label`.",
        "",
        "| image | label | true label |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {m['image']} | {m['label']} | {m['true_label']} |" for m in noise["mislabeled"]]
    lines += [
        "",
        f"## Horizontally flipped near-duplicates ({len(noise['flipped_near_duplicates'])})",
        "",
        "Mirror images of another file in the set (same, correct label).",
        "",
        "| image | mirror of |",
        "| --- | --- |",
    ]
    lines += [f"| {f['image']} | {f['original']} |" for f in noise["flipped_near_duplicates"]]
    lines += [
        "",
        f"## Exact duplicates ({len(noise['exact_duplicates'])})",
        "",
        "Byte-identical copies of another file under a different name (same, correct label).",
        "",
        "| image | copy of |",
        "| --- | --- |",
    ]
    lines += [f"| {d['image']} | {d['original']} |" for d in noise["exact_duplicates"]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# scenes: object detection / segmentation
# --------------------------------------------------------------------------------------------


def hsv(h: float, s: float, v: float):
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def background(rng, w: int, h: int):
    """A textured, low-saturation background, float32 [h, w, 3] in 0..1."""
    base_h = rng.uniform(0, 1)
    cols = [
        hsv(base_h + rng.uniform(-0.15, 0.15), rng.uniform(0.05, 0.35), rng.uniform(0.5, 0.92))
        for _ in range(3)
    ]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = rng.choice(["gradient", "stripes", "blobs", "grain"])
    if kind in ("gradient", "stripes"):
        ang = rng.uniform(0, np.pi)
        proj = xx * np.cos(ang) + yy * np.sin(ang)
        if kind == "gradient":
            t = (proj - proj.min()) / max(float(proj.max() - proj.min()), 1e-6)
        else:
            period = rng.uniform(14, 44)
            t = np.clip(np.sin(proj * 2 * np.pi / period) * 2.5 + 0.5, 0, 1)
        img = cols[0] * (1 - t[..., None]) + cols[1] * t[..., None]
    elif kind == "blobs":
        gh, gw = max(2, h // 48), max(2, w // 48)
        idx = rng.integers(0, 3, size=(gh, gw))
        small = np.stack(cols)[idx]
        small = Image.fromarray((small * 255).astype(np.uint8))
        img = np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), np.float32) / 255
    else:  # grain: a base colour with two scales of smoothed noise
        coarse = rng.normal(0, 1, size=(h // 8 + 1, w // 8 + 1)).astype(np.float32)
        coarse = Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)
        n = np.asarray(coarse, np.float32) * 0.06 + rng.normal(0, 0.03, size=(h, w))
        img = cols[0][None, None, :] * (1 + n[..., None])
    return np.clip(img, 0, 1).astype(np.float32), str(kind)


def poly_alpha(points, w: int, h: int):
    """Anti-aliased coverage of a polygon (pixel-corner coordinates), float32 [h, w]."""
    s = SUPERSAMPLE
    big = Image.new("L", (w * s, h * s), 0)
    ImageDraw.Draw(big).polygon([(x * s, y * s) for x, y in points], fill=255)
    small = big.resize((w, h), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255


def regular_points(cx, cy, radii, n, rot):
    ang = rot + np.arange(n) * 2 * np.pi / n
    r = np.resize(np.asarray(radii, np.float64), n)
    return [(cx + ri * np.cos(a), cy + ri * np.sin(a)) for ri, a in zip(r, ang, strict=True)]


def trace_polygon(alpha, max_points: int = 40, min_points: int = 10):
    """Outer outline of a soft mask as a simplified polygon in pixel-corner coordinates."""
    measure = require("skimage.measure")
    padded = np.pad(alpha, 1)
    contours = measure.find_contours(padded, 0.5)
    contour = max(contours, key=len)
    tol = 0.6
    approx = measure.approximate_polygon(contour, tol)
    while len(approx) - 1 > max_points:
        tol *= 1.25
        approx = measure.approximate_polygon(contour, tol)
    while len(approx) - 1 < min_points and tol > 0.05:
        tol *= 0.7
        approx = measure.approximate_polygon(contour, tol)
    approx = approx[:-1]  # drop the repeated closing point
    # find_contours gives (row, col) of pixel centres in the padded array; pixel (r, c) covers
    # [c, c + 1) x [r, r + 1) in labelme's coordinates, so its centre is (c + 0.5, r + 0.5).
    return [(c - 1 + 0.5, r - 1 + 0.5) for r, c in approx]


def render_object(rng, cls: str, w: int, h: int, elephants):
    """Draw one object at a random place; return alpha [h,w], colour [h,w,3], geometry."""
    m = min(w, h)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    if cls == "ball":
        r = rng.uniform(0.10, 0.19) * m
        cx, cy = rng.uniform(r + 2, w - r - 2), rng.uniform(r + 2, h - r - 2)
        outline = regular_points(cx, cy, [r], 24, rng.uniform(0, 2 * np.pi))
        alpha = poly_alpha(regular_points(cx, cy, [r], 180, 0.0), w, h)
        col = hsv(rng.uniform(-0.03, 0.04), rng.uniform(0.75, 0.95), rng.uniform(0.75, 0.95))
        hx, hy = cx - 0.35 * r, cy - 0.35 * r  # highlight: simple radial shading
        d = np.sqrt((xx - hx) ** 2 + (yy - hy) ** 2) / (1.6 * r)
        shade = np.clip(1.15 - 0.6 * d, 0.45, 1.15)[..., None]
        colour = np.clip(col[None, None, :] * shade, 0, 1)
        bbox = (cx - r, cy - r, cx + r, cy + r)
    elif cls in ("box", "star"):
        if cls == "box":
            half = rng.uniform(0.09, 0.17) * m
            radii, n = [half * np.sqrt(2)], 4
            col = hsv(rng.uniform(0.57, 0.65), rng.uniform(0.6, 0.9), rng.uniform(0.55, 0.85))
        else:
            outer = rng.uniform(0.12, 0.21) * m
            radii, n = [outer, outer * rng.uniform(0.42, 0.5)], 10
            col = hsv(rng.uniform(0.12, 0.16), rng.uniform(0.75, 0.95), rng.uniform(0.88, 1.0))
        rot = rng.uniform(0, 2 * np.pi)
        rel = regular_points(0.0, 0.0, radii, n, rot)
        xs, ys = [p[0] for p in rel], [p[1] for p in rel]
        cx = rng.uniform(-min(xs) + 2, w - max(xs) - 2)
        cy = rng.uniform(-min(ys) + 2, h - max(ys) - 2)
        outline = [(cx + x, cy + y) for x, y in rel]
        alpha = poly_alpha(outline, w, h)
        ang = rng.uniform(0, 2 * np.pi)  # linear shading across the shape
        t = ((xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)) / (2 * radii[0])
        colour = np.clip(col[None, None, :] * (1 + 0.25 * t)[..., None], 0, 1)
        bbox = (cx + min(xs), cy + min(ys), cx + max(xs), cy + max(ys))
    else:  # elephant silhouette from Animal-MNIST
        arr = elephants[int(rng.integers(len(elephants)))]
        if rng.random() < 0.5:
            arr = arr[:, ::-1]
        rows, cols_ = np.flatnonzero(arr.max(1) > 60), np.flatnonzero(arr.max(0) > 60)
        crop = arr[rows[0] : rows[-1] + 1, cols_[0] : cols_[-1] + 1]
        ow = rng.uniform(0.32, 0.5) * m
        oh = ow * crop.shape[0] / crop.shape[1]
        if oh > 0.6 * m:
            ow, oh = ow * 0.6 * m / oh, 0.6 * m
        tw, th = max(8, round(ow)), max(8, round(oh))
        pad = 2  # room for the soft edge
        small = Image.fromarray(np.pad(crop, 1)).resize(
            (tw + 2 * pad, th + 2 * pad), Image.Resampling.BICUBIC
        )
        a = np.asarray(small, np.float32) / max(float(crop.max()), 1.0)
        a = np.clip((a - 0.45) * 4.0 + 0.5, 0, 1)  # solid body, crisp but anti-aliased edge
        parts = require("skimage.measure").label(a > 0.02, connectivity=2)
        if parts.max() > 1:  # drop stray specks of the drawing: keep the largest part
            sizes = np.bincount(parts.ravel(), weights=a.ravel())
            sizes[0] = 0
            a = np.where(parts == int(np.argmax(sizes)), a, 0).astype(np.float32)
        x0 = int(rng.integers(2, w - a.shape[1] - 2))
        y0 = int(rng.integers(2, h - a.shape[0] - 2))
        alpha = np.zeros((h, w), np.float32)
        alpha[y0 : y0 + a.shape[0], x0 : x0 + a.shape[1]] = a
        outline = trace_polygon(alpha)
        ys_, xs_ = np.nonzero(alpha >= 0.5)
        bbox = (xs_.min(), ys_.min(), xs_.max() + 1.0, ys_.max() + 1.0)
        col = hsv(rng.uniform(0.04, 0.1), rng.uniform(0.1, 0.3), rng.uniform(0.16, 0.3))
        tex = rng.normal(0, 0.05, size=(h, w)).astype(np.float32)
        colour = np.clip(col[None, None, :] * (1 + tex[..., None]), 0, 1)
    bbox = tuple(float(v) for v in bbox)
    return alpha, colour, {"label": cls, "bbox": bbox, "polygon": outline}


def make_scene(rng, index: int, elephants):
    w, h = SCENE_SIZES[int(rng.integers(len(SCENE_SIZES)))]
    canvas, bg_kind = background(rng, w, h)
    n_target = int(rng.integers(2, 7))
    allow_overlap = rng.random() < 0.5
    visible: list = []  # per placed object: the part of it not covered by later objects
    areas: list = []
    objects: list = []
    attempts = 0
    while len(objects) < n_target and attempts < 300:
        attempts += 1
        cls = SCENE_CLASSES[int(rng.integers(len(SCENE_CLASSES)))]
        alpha, colour, geom = render_object(rng, cls, w, h, elephants)
        mask = alpha >= 0.5
        # New objects go on top. Keep every object at least 85% visible (in total, over all
        # the objects that cover it) so that the amodal labels stay honest.
        remaining = [np.logical_and(v, ~mask) for v in visible]
        hit = any(r.sum() < v.sum() for r, v in zip(remaining, visible, strict=True))
        if hit and (
            not allow_overlap
            or any(r.sum() < 0.85 * a for r, a in zip(remaining, areas, strict=True))
        ):
            continue
        visible = remaining + [mask]
        areas.append(int(mask.sum()))
        objects.append(geom)
        canvas = canvas * (1 - alpha[..., None]) + colour * alpha[..., None]
    canvas = canvas + rng.normal(0, 0.012, size=canvas.shape).astype(np.float32)
    img = Image.fromarray(np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8))
    return img, objects, bg_kind


def scene_shapes(objects, mode: str) -> list:
    shapes = []
    for k, o in enumerate(objects):
        use_rect = mode == "rectangle" or (mode == "mixed" and k % 2 == 0)
        if use_rect:
            x0, y0, x1, y1 = o["bbox"]
            shapes.append(labelme_shape(o["label"], [(x0, y0), (x1, y1)], "rectangle"))
        else:
            shapes.append(labelme_shape(o["label"], o["polygon"], "polygon"))
    return shapes


def make_scenes(out: Path, rng, images, labels) -> dict:
    folder = out / "scenes"
    folder.mkdir(parents=True, exist_ok=True)
    clear_generated(folder, ["scene_*.jpg", "scene_*.json", "*.tmp"])
    elephants = images[labels == ANIMAL_CLASSES.index("elephant")]
    # Solid, reasonably large silhouettes only (some drawings have grey inner detail).
    elephants = [
        e for e in elephants if (e > 60).mean() > 0.15 and (e > 200).sum() >= 0.72 * (e > 60).sum()
    ]

    # Every third scene stays unlabeled; the labeled ones get rectangles, polygons or both.
    labeled = [i for i in range(1, N_SCENES + 1) if i % 3 != 0]
    modes = ["rectangle"] * 6 + ["polygon"] * 7 + ["mixed"] * (len(labeled) - 13)
    mode_of = dict(zip(labeled, [modes[int(k)] for k in rng.permutation(len(modes))], strict=True))

    truth = {
        "description": "Full ground truth of sample_data/scenes (all 24 scenes, boxes and "
        "polygons of every object, labeled or not), written by scripts/make_sample_data.py. "
        "Labels are amodal: the whole outline even where another object covers up to 15%.",
        "classes": SCENE_CLASSES,
        "images": {},
    }
    seeds = rng.integers(0, 2**63 - 1, size=N_SCENES)
    for i in range(1, N_SCENES + 1):
        scene_rng = np.random.default_rng(int(seeds[i - 1]))
        img, objects, bg_kind = make_scene(scene_rng, i, elephants)
        name = f"scene_{i:04d}.jpg"
        save_image(folder / name, img, quality=88, optimize=False, progressive=False)
        mode = mode_of.get(i)
        if mode is not None:
            doc = labelme_doc(name, img.width, img.height, scene_shapes(objects, mode),
                              {"schema_version": 1})  # fmt: skip
            write_json(folder / f"scene_{i:04d}.json", doc)
        truth["images"][name] = {
            "width": img.width,
            "height": img.height,
            "background": bg_kind,
            "annotated_as": mode or "unlabeled",
            "objects": [
                {
                    "label": o["label"],
                    "bbox_xyxy": [round(v, 2) for v in o["bbox"]],
                    "polygon": [[round(float(x), 2), round(float(y), 2)] for x, y in o["polygon"]],
                }
                for o in objects
            ],
        }
    write_json(folder.parent / "truth" / "scenes_ground_truth.json", truth)
    return truth


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    default_out = Path(__file__).resolve().parent.parent / "sample_data"
    parser = argparse.ArgumentParser(
        description="Rebuild labeler's sample data (sketches/ and scenes/) deterministically.",
        epilog="Needs: pip install numpy pillow animal-mnist scikit-image",
    )
    parser.add_argument(
        "--out", type=Path, default=default_out, help=f"output folder (default: {default_out})"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--only", choices=["sketches", "scenes"], help="rebuild only one of the two sets"
    )
    args = parser.parse_args(argv)

    load_core_modules()
    if args.only in (None, "scenes"):
        require("skimage.measure")  # fail early, before writing anything
    images, labels, pkg_version = load_animal_mnist()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    # Independent streams so that rebuilding one set never changes the other.
    sketch_seed, scene_seed = np.random.SeedSequence(args.seed).spawn(2)
    if args.only in (None, "sketches"):
        noise = make_sketches(out, np.random.default_rng(sketch_seed), images, labels, pkg_version)
        print(
            f"sketches: {noise['num_images']} images in {out / 'sketches'} "
            f"({len(noise['mislabeled'])} wrong labels, "
            f"{len(noise['flipped_near_duplicates'])} flipped near-duplicates, "
            f"{len(noise['exact_duplicates'])} exact duplicates)"
        )
    if args.only in (None, "scenes"):
        truth = make_scenes(out, np.random.default_rng(scene_seed), images, labels)
        n_obj = sum(len(v["objects"]) for v in truth["images"].values())
        n_lab = sum(v["annotated_as"] != "unlabeled" for v in truth["images"].values())
        print(
            f"scenes: {len(truth['images'])} images in {out / 'scenes'} "
            f"({n_lab} with a JSON, {n_obj} objects in all)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
