"""Benchmark: ``detection_errors`` against ``cleanlab.object_detection`` on the SAME out-of-fold
YOLO predictions, on a detection set with known injected label errors.

Data: animal-mnist silhouettes (real drawings, 3 classes) pasted at random positions and scales,
each filled with a random colour and texture, onto random crops of scikit-image's photos
(astronaut, coffee, chelsea, rocket, ... : real backgrounds). The true boxes are known. Then
a known share of label errors is injected (default 8% of objects each):

- ``missing_box``: the object's box is deleted from the labels;
- ``spurious_box``: a box is added where there is no object (random class, size and place);
- ``swapped_class``: the box keeps its place and gets another class;
- ``badly_located``: the box is shifted and resized to an IoU of 0.25-0.6 with the truth.

Out-of-fold predictions come from ``labeler train DIR --plugin yolo --folds K`` (a random-init
YOLOv8n from ``yolov8n.yaml``: no pretrained weights offline), run through the CLI, so the
bench also exercises what a user runs. Both methods then read that one predictions file.

Scored per error type, over all boxes of the dataset (candidates: labels for the three label
kinds, predictions for missing): average precision (AP) of each method's per-type box score,
and precision / recall / F1 of its flags (for labeler: the issues ``labeler check --plugin
detection_errors`` writes at its defaults; for cleanlab: the per-box issue masks its
``find_label_issues`` computes, i.e. ``_find_label_issues_per_box`` on its per-type scores with
its thresholds). cleanlab has no "spurious" type: its badly-located score is what flags a box
with nothing under it, so it is scored against spurious boxes too. "All" pools every flagged
box against every injected error (type-agnostic); image-level F1 compares
``find_label_issues``'s image mask with images holding a labeler issue.

    pip install 'labeler[yolo,bench]' animal-mnist
    nice -n 10 python bench/detection_errors.py                      # ~20 min on 2 cores
    python bench/detection_errors.py --images 120 --epochs 10 --folds 2   # a quick look

Writes ``bench/results/detection_errors.json`` and prints the side-by-side table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labeler.geometry import box_iou_matrix  # noqa: E402
from labeler.predictions import load_predictions_file  # noqa: E402

CLASSES = ("bird", "elephant", "giraffe")
ANIMAL_IDS = {"bird": 1, "elephant": 5, "giraffe": 6}
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
          "retina", "camera", "coins", "grass", "gravel", "brick", "clock", "horse")
KINDS = ("missing_box", "spurious_box", "swapped_class", "badly_located")


def load_silhouettes() -> dict[str, np.ndarray]:
    """animal-mnist drawings of the bench's classes, as (n, 28, 28) uint8 (object bright)."""
    import importlib.util

    spec = importlib.util.find_spec("animal_mnist")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install animal-mnist")
    folder = Path(spec.origin).parent / "data" / "Animal_MNIST"
    with gzip.open(folder / "animal_data_version_3.gz") as f:
        images = np.asarray(pickle.load(f))
    with gzip.open(folder / "animal_label_version_3.gz") as f:
        labels = np.asarray(pickle.load(f), dtype=np.int64)
    return {name: images[labels == cid] for name, cid in ANIMAL_IDS.items()}


def load_backgrounds() -> list[np.ndarray]:
    """scikit-image's bundled photos as RGB uint8 arrays."""
    import skimage.data

    out = []
    for name in PHOTOS:
        im = np.asarray(getattr(skimage.data, name)())
        if im.ndim == 2:
            im = np.stack([im] * 3, axis=-1)
        out.append(im[..., :3].astype(np.uint8))
    return out


def paste_scene(rng: np.random.Generator, backgrounds: list[np.ndarray], shapes: dict[str, np.ndarray],
                size: int = 128, max_objects: int = 4) -> tuple[Image.Image, list[tuple[str, list[float]]]]:
    """One scene: a random crop of a photo with 1..max_objects pasted silhouettes (no overlap)."""
    bg = backgrounds[rng.integers(len(backgrounds))]
    h, w = bg.shape[:2]
    side = int(rng.integers(min(h, w) // 3, min(h, w) + 1))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    canvas = np.asarray(Image.fromarray(bg[y0:y0 + side, x0:x0 + side]).resize((size, size), Image.BILINEAR)).copy()
    objects: list[tuple[str, list[float]]] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        name = CLASSES[rng.integers(len(CLASSES))]
        drawing = shapes[name][rng.integers(len(shapes[name]))]
        s = int(rng.integers(size // 5, size // 2.4))
        mask = np.asarray(Image.fromarray(drawing).resize((s, s), Image.BILINEAR)) > 110
        ys, xs = np.nonzero(mask)
        if len(xs) < 20:
            continue
        mask = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        mh, mw = mask.shape
        for _try in range(20):
            x, y = int(rng.integers(0, size - mw + 1)), int(rng.integers(0, size - mh + 1))
            box = [float(x), float(y), float(x + mw), float(y + mh)]
            if not objects or box_iou_matrix(np.array([box]), np.array([b for _, b in objects])).max() == 0:
                break
        else:
            continue
        colour = rng.integers(0, 256, 3)
        texture = rng.uniform(0.75, 1.0, (mh, mw, 1))
        patch = canvas[y:y + mh, x:x + mw]
        patch[mask] = (colour * texture)[mask].astype(np.uint8)
        objects.append((name, box))
    return Image.fromarray(canvas), objects


def inject(rng: np.random.Generator, objects: list[tuple[str, list[float]]], size: int,
           rates: dict[str, float]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Labels with errors, and the truth about each error (``{"kind", "box", ...}``)."""
    labels: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    for name, box in objects:
        u = rng.random()
        edges = np.cumsum([rates["missing_box"], rates["swapped_class"], rates["badly_located"]])
        if u < edges[0]:
            truth.append({"kind": "missing_box", "box": box, "label": name})
            continue
        if u < edges[1]:
            other = [c for c in CLASSES if c != name][rng.integers(len(CLASSES) - 1)]
            labels.append({"label": other, "box": box, "error": "swapped_class", "true": name})
            continue
        if u < edges[2]:
            x1, y1, x2, y2 = box
            bw, bh = x2 - x1, y2 - y1
            for _try in range(50):
                dx, dy = rng.uniform(-0.6, 0.6) * bw, rng.uniform(-0.6, 0.6) * bh
                sx, sy = rng.uniform(0.6, 1.5), rng.uniform(0.6, 1.5)
                cx, cy = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy
                nb = [max(0.0, cx - bw * sx / 2), max(0.0, cy - bh * sy / 2),
                      min(size, cx + bw * sx / 2), min(size, cy + bh * sy / 2)]
                iou = float(box_iou_matrix(np.array([nb]), np.array([box]))[0, 0])
                if 0.25 <= iou <= 0.6:
                    break
            labels.append({"label": name, "box": nb, "error": "badly_located", "true_box": box})
            continue
        labels.append({"label": name, "box": box, "error": None})
    # spurious boxes: about rates["spurious_box"] per object, where no object is
    for _ in range(rng.binomial(len(objects), rates["spurious_box"])):
        for _try in range(30):
            s = rng.integers(size // 6, size // 2.5, 2)
            x, y = rng.integers(0, size - s[0]), rng.integers(0, size - s[1])
            nb = [float(x), float(y), float(x + s[0]), float(y + s[1])]
            if not objects or box_iou_matrix(np.array([nb]), np.array([b for _, b in objects])).max() < 0.05:
                labels.append({"label": CLASSES[rng.integers(len(CLASSES))], "box": nb, "error": "spurious_box"})
                break
    return labels, truth


def write_dataset(out: Path, n: int, seed: int, rates: dict[str, float], size: int = 128) -> dict[str, Any]:
    """Write ``n`` scenes with labelme JSON (errors injected) under ``out``; return the truth."""
    rng = np.random.default_rng(seed)
    shapes, backgrounds = load_silhouettes(), load_backgrounds()
    out.mkdir(parents=True, exist_ok=True)
    truth: dict[str, Any] = {}
    for i in range(n):
        img, objects = paste_scene(rng, backgrounds, shapes, size)
        labels, missing = inject(rng, objects, size, rates)
        rel = f"scene_{i:04d}.jpg"
        img.save(out / rel, quality=92)
        doc = {
            "version": "5.5.0", "flags": {}, "imagePath": rel, "imageData": None,
            "imageHeight": size, "imageWidth": size,
            "shapes": [{"label": lab["label"], "points": [lab["box"][:2], lab["box"][2:]],
                        "shape_type": "rectangle", "group_id": None, "flags": {}, "description": ""}
                       for lab in labels],
            # A person labelled every image (also those left with no box): all are trained on.
            "labeler": {"schema_version": 1, "reviewed": True},
        }
        (out / f"scene_{i:04d}.json").write_text(json.dumps(doc))
        truth[rel] = {"labels": labels, "missing": missing, "objects": objects}
    return truth


# -- evaluation -------------------------------------------------------------------------------
def average_precision(scores: np.ndarray, positive: np.ndarray, n_positive: int | None = None) -> float:
    """AP of a ranking (area under the precision-recall step curve); ``n_positive``: the
    positives that exist, also those no candidate stands for (missed objects)."""
    n_pos = int(positive.sum()) if n_positive is None else n_positive
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = positive[order].astype(float)
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / n_pos)


def prf(flag: np.ndarray, positive: np.ndarray, n_positive: int | None = None) -> tuple[float, float, float]:
    """Precision, recall and F1 of boolean flags."""
    n_pos = int(positive.sum()) if n_positive is None else n_positive
    tp = int((flag & positive).sum())
    p = tp / max(int(flag.sum()), 1)
    r = tp / max(n_pos, 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def cleanlab_inputs(rels: list[str], truth: dict[str, Any], preds: dict[str, Any]) -> tuple[list, list]:
    """labels / predictions in cleanlab's object-detection format (class ids over CLASSES)."""
    labels, predictions = [], []
    for rel in rels:
        labs = truth[rel]["labels"]
        labels.append({"bboxes": np.array([lab["box"] for lab in labs], dtype=np.float32).reshape(-1, 4),
                       "labels": np.array([CLASSES.index(lab["label"]) for lab in labs], dtype=np.int64),
                       "image_name": rel})
        p = preds.get(rel)
        per_class = []
        for c in CLASSES:
            if p is None or len(p) == 0:
                per_class.append(np.zeros((0, 5), dtype=np.float32))
                continue
            sel = np.array([str(n) == c for n in p.class_name])
            per_class.append(np.hstack([p.xyxy[sel], p.confidence[sel, None]]).astype(np.float32))
        predictions.append(np.array(per_class, dtype=object))
    return labels, predictions


def run_cleanlab(labels: list, predictions: list) -> dict[str, Any]:
    """Per-type box scores (lower = more likely an issue) and cleanlab's per-box issue masks,
    computed the way ``find_label_issues`` computes them, and its image-level mask."""
    from cleanlab.object_detection import filter as clf
    from cleanlab.object_detection import rank as clr

    t0 = time.perf_counter()
    aux = clr._get_valid_inputs_for_compute_scores(clf.ALPHA, labels, predictions)
    per_class_ap = clf._get_per_class_ap(labels, predictions)
    lab_list = [clr._separate_label(lab)[1] for lab in labels]
    pred_list = [clr._separate_prediction(p)[1] for p in predictions]
    pred_thr = clf._process_class_list(pred_list, per_class_ap)
    lab_thr = clf._process_class_list(lab_list, per_class_ap)
    over = clr.compute_overlooked_box_scores(alpha=clf.ALPHA, high_probability_threshold=clf.HIGH_PROBABILITY_THRESHOLD, auxiliary_inputs=aux)
    badloc = clr.compute_badloc_box_scores(alpha=clf.ALPHA, low_probability_threshold=clf.LOW_PROBABILITY_THRESHOLD, auxiliary_inputs=aux)
    swap = clr.compute_swap_box_scores(alpha=clf.ALPHA, high_probability_threshold=clf.HIGH_PROBABILITY_THRESHOLD, auxiliary_inputs=aux)
    copy = [np.array(s, dtype=float) for s in over], [np.array(s, dtype=float) for s in badloc], [np.array(s, dtype=float) for s in swap]
    over_flag = clf._find_label_issues_per_box([s.copy() for s in copy[0]], pred_thr, clf.OVERLOOKED_THRESHOLD_FACTOR)
    bad_flag = clf._find_label_issues_per_box([s.copy() for s in copy[1]], lab_thr, clf.BADLOC_THRESHOLD_FACTOR)
    swap_flag = clf._find_label_issues_per_box([s.copy() for s in copy[2]], lab_thr, clf.SWAP_THRESHOLD_FACTOR)
    image_mask = clf.find_label_issues(labels, predictions)
    return {"overlooked": copy[0], "badloc": copy[1], "swap": copy[2], "overlooked_flag": over_flag,
            "badloc_flag": bad_flag, "swap_flag": swap_flag, "image_mask": np.asarray(image_mask, bool),
            "seconds": time.perf_counter() - t0}


def evaluate(rels: list[str], truth: dict[str, Any], preds: dict[str, Any], ours: dict[str, list[dict]],
             cl: dict[str, Any], ours_scores: dict[str, Any]) -> dict[str, Any]:
    """Both methods' AP and P/R/F1 per type, pooled F1 and image-level F1."""
    # Label candidates: every label box of every image.
    rows: dict[str, list[Any]] = {k: [] for k in ("err", "our_sp", "our_sw", "our_bl", "our_kind",
                                                    "cl_bl", "cl_sw", "cl_bl_flag", "cl_sw_flag")}
    miss_rows: dict[str, list[Any]] = {k: [] for k in ("pos", "ours", "cl", "our_flag", "cl_flag")}
    n_missing = 0
    img_truth, img_ours, img_cl = [], [], []
    for i, rel in enumerate(rels):
        labs = truth[rel]["labels"]
        s = ours_scores[rel]
        flagged = {f["shape_index"]: f["kind"] for f in ours.get(rel, []) if f.get("shape_index") is not None}
        our_missing = [f for f in ours.get(rel, []) if f["kind"] == "missing_box"]
        for j, lab in enumerate(labs):
            rows["err"].append(lab["error"])
            rows["our_sp"].append(s.spurious[j])
            rows["our_sw"].append(s.swapped[j])
            rows["our_bl"].append(s.badly_located[j])
            rows["our_kind"].append(flagged.get(j))
            rows["cl_bl"].append(1 - np.nan_to_num(cl["badloc"][i][j], nan=1.0) if len(cl["badloc"][i]) > j else 0.0)
            rows["cl_sw"].append(1 - np.nan_to_num(cl["swap"][i][j], nan=1.0) if len(cl["swap"][i]) > j else 0.0)
            rows["cl_bl_flag"].append(bool(cl["badloc_flag"][i][j]) if len(cl["badloc_flag"][i]) > j else False)
            rows["cl_sw_flag"].append(bool(cl["swap_flag"][i][j]) if len(cl["swap_flag"][i]) > j else False)
        # Missing: candidates are predictions; positive when it finds a deleted object (one each).
        p = preds.get(rel)
        gone = truth[rel]["missing"]
        n_missing += len(gone)
        if p is not None and len(p):
            hit = np.zeros(len(p), bool)
            if gone:
                iou = box_iou_matrix(p.xyxy, np.array([g["box"] for g in gone]))
                taken: set[int] = set()
                # each deleted object is found by its best-ranked prediction (ours and theirs rank alike here)
                for q in np.argsort(-p.confidence):
                    g = int(iou[q].argmax())
                    if iou[q, g] >= 0.5 and g not in taken:
                        hit[q] = True
                        taken.add(g)
            # cleanlab lists an image's predicted boxes class by class: back to the file's order
            names = np.array([str(n) for n in p.class_name])
            cl_order = np.concatenate([np.flatnonzero(names == c) for c in CLASSES])
            ov = np.full(len(p), np.nan)
            ov_flag = np.zeros(len(p), bool)
            raw = np.asarray(cl["overlooked"][i], dtype=float)
            raw_flag = np.asarray(cl["overlooked_flag"][i], bool)
            if len(raw) == len(cl_order):
                ov[cl_order] = raw
                ov_flag[cl_order] = raw_flag
            our_boxes = np.array([f["suggested_fix"]["box"] for f in our_missing]).reshape(-1, 4)
            for q in range(len(p)):
                miss_rows["pos"].append(hit[q])
                m = s.missing[q]
                miss_rows["ours"].append(0.0 if np.isnan(m) else m)
                miss_rows["cl"].append(0.0 if np.isnan(ov[q]) else 1 - ov[q])
                miss_rows["cl_flag"].append(bool(ov_flag[q]))
                miss_rows["our_flag"].append(bool(len(our_boxes)) and bool(
                    (box_iou_matrix(p.xyxy[q:q + 1], our_boxes) > 0.99).any()))
        img_truth.append(bool(gone) or any(lab["error"] for lab in labs))
        img_ours.append(bool(ours.get(rel)))
        img_cl.append(bool(cl["image_mask"][i]))
    err = np.array(rows["err"], dtype=object)
    our_kind = np.array(rows["our_kind"], dtype=object)
    out: dict[str, Any] = {"per_type": {}, "counts": {}}
    label_types = {
        "spurious_box": ("our_sp", "cl_bl", "cl_bl_flag"),
        "swapped_class": ("our_sw", "cl_sw", "cl_sw_flag"),
        "badly_located": ("our_bl", "cl_bl", "cl_bl_flag"),
    }
    mp = np.array(miss_rows["pos"], bool)
    out["counts"]["missing_box"] = n_missing
    out["per_type"]["missing_box"] = {
        "labeler": {"ap": average_precision(np.array(miss_rows["ours"]), mp, n_missing),
                    **dict(zip(("precision", "recall", "f1"), prf(np.array(miss_rows["our_flag"], bool), mp, n_missing), strict=True))},
        "cleanlab": {"ap": average_precision(np.array(miss_rows["cl"]), mp, n_missing),
                     **dict(zip(("precision", "recall", "f1"), prf(np.array(miss_rows["cl_flag"], bool), mp, n_missing), strict=True))},
    }
    for kind, (ours_key, cl_key, cl_flag) in label_types.items():
        pos = err == kind
        out["counts"][kind] = int(pos.sum())
        out["per_type"][kind] = {
            "labeler": {"ap": average_precision(np.array(rows[ours_key], float), pos),
                        **dict(zip(("precision", "recall", "f1"), prf(our_kind == kind, pos), strict=True))},
            "cleanlab": {"ap": average_precision(np.array(rows[cl_key], float), pos),
                         **dict(zip(("precision", "recall", "f1"), prf(np.array(rows[cl_flag], bool), pos), strict=True))},
        }
    # Pooled, type-agnostic: every flagged box against every injected error.
    lab_err = err != None  # noqa: E711 - object array
    ours_lab_flag = our_kind != None  # noqa: E711
    cl_lab_flag = np.array(rows["cl_bl_flag"], bool) | np.array(rows["cl_sw_flag"], bool)
    n_err = int(lab_err.sum()) + n_missing

    def pooled(lab_flag: np.ndarray, miss_flag: np.ndarray) -> dict[str, float]:
        tp = int((lab_flag & lab_err).sum()) + int((miss_flag & mp).sum())
        flagged = int(lab_flag.sum()) + int(miss_flag.sum())
        p, r = tp / max(flagged, 1), tp / max(n_err, 1)
        return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "flagged": flagged}

    out["all"] = {"labeler": pooled(ours_lab_flag, np.array(miss_rows["our_flag"], bool)),
                  "cleanlab": pooled(cl_lab_flag, np.array(miss_rows["cl_flag"], bool)), "errors": n_err}
    it, io, ic = np.array(img_truth), np.array(img_ours), np.array(img_cl)
    out["images"] = {"labeler": dict(zip(("precision", "recall", "f1"), prf(io, it), strict=True)),
                     "cleanlab": dict(zip(("precision", "recall", "f1"), prf(ic, it), strict=True)),
                     "with_errors": int(it.sum()), "total": len(rels)}
    return out


def table(res: dict[str, Any]) -> str:
    """The side-by-side markdown table (cleanlab as it is, and fed the calibrated confidences)."""
    def prf3(d: dict[str, float]) -> str:
        return f"{d['precision']:.2f} / {d['recall']:.2f} / {d['f1']:.2f}"

    lines = ["| error type | injected | AP labeler | AP cleanlab | AP cleanlab, calibrated conf | "
             "P / R / F1 labeler | P / R / F1 cleanlab | P / R / F1 cleanlab, calibrated conf |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for kind in KINDS:
        row = res["per_type"][kind]
        a, b, c = row["labeler"], row["cleanlab"], row["cleanlab_calibrated"]
        note = " (cleanlab: badloc)" if kind == "spurious_box" else ""
        lines.append(f"| {kind}{note} | {res['counts'][kind]} | {a['ap']:.3f} | {b['ap']:.3f} | {c['ap']:.3f} | "
                     f"{prf3(a)} | {prf3(b)} | {prf3(c)} |")
    a, b, c = res["all"]["labeler"], res["all"]["cleanlab"], res["all"]["cleanlab_calibrated"]
    lines.append(f"| **all types** (box flags) | {res['all']['errors']} | | | | **{prf3(a)}** | **{prf3(b)}** | **{prf3(c)}** |")
    a, b, c = res["images"]["labeler"], res["images"]["cleanlab"], res["images"]["cleanlab_calibrated"]
    lines.append(f"| images with an error | {res['images']['with_errors']} of {res['images']['total']} | | | | "
                 f"{prf3(a)} | {prf3(b)} | {prf3(c)} |")
    return "\n".join(lines)


def labeler_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the labeler CLI of this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", "from labeler.cli import main; main()", *args],
                          env=env, text=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--rate", type=float, default=0.08, help="share of objects per error type")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--imgsz", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=None, help="dataset folder (default: a temp folder)")
    ap.add_argument("--predictions", type=Path, default=None, help="reuse this predictions file (no training)")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "detection_errors.json")
    args = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="bench-yolo-cfg-"))
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-deterr-")) / "scenes"
    rates = dict.fromkeys(KINDS, args.rate)
    truth_file = work.parent / "truth.json"
    if truth_file.is_file() and (work / "scene_0000.jpg").is_file():
        truth = json.loads(truth_file.read_text())
    else:
        truth = write_dataset(work, args.images, args.seed, rates)
        truth_file.write_text(json.dumps(truth))
    rels = sorted(truth)
    t0 = time.perf_counter()
    pred_path = args.predictions
    if pred_path is None:
        r = labeler_cli("train", str(work), "--plugin", "yolo", "--folds", str(args.folds), "--json",
                        "-o", "model", "yolov8n.yaml", "-o", "epochs", str(args.epochs), "-o", "imgsz",
                        str(args.imgsz), "-o", "device", "cpu", "-o", "batch", "16", "-o", "project",
                        str(work.parent / "runs"), "-o", "val_fraction", "0.1",
                        "-o", "extra", json.dumps({"mosaic": 0.0, "close_mosaic": 0}))
        if r.returncode != 0:
            raise SystemExit(f"labeler train failed:\n{r.stdout}\n{r.stderr[-3000:]}")
        pred_path = Path(json.loads(r.stdout)["predictions"])
    train_s = time.perf_counter() - t0
    preds = load_predictions_file(pred_path).images
    t0 = time.perf_counter()
    r = labeler_cli("check", str(work), "--plugin", "detection_errors", "-o", "predictions", str(pred_path),
                    "--report", str(work.parent / "findings.json"), "--no-progress")
    if r.returncode not in (0, 1):
        raise SystemExit(f"labeler check failed:\n{r.stdout}\n{r.stderr[-3000:]}")
    check_s = time.perf_counter() - t0
    ours: dict[str, list[dict]] = {}
    for f in json.loads((work.parent / "findings.json").read_text())["findings"]:
        ours.setdefault(f["image"], []).append(f)
    from plugins.detection_errors import DetectionErrorsOptions, score_images

    inputs = []
    for rel in rels:
        labs = truth[rel]["labels"]
        p = preds.get(rel)
        if p is not None:  # predictions as the check sees them (its min_conf)
            p = preds[rel] = p[np.flatnonzero(p.confidence >= DetectionErrorsOptions().min_conf)]
        inputs.append((np.array([lab["box"] for lab in labs]).reshape(-1, 4), [lab["label"] for lab in labs],
                       p.xyxy if p is not None else np.zeros((0, 4)), list(p.class_name) if p is not None else [],
                       p.confidence if p is not None else np.zeros(0), np.zeros((0, 4))))
    scored, calib = score_images(inputs, DetectionErrorsOptions())
    ours_scores = dict(zip(rels, scored, strict=True))
    labels, predictions = cleanlab_inputs(rels, truth, preds)
    cl = run_cleanlab(labels, predictions)
    res = evaluate(rels, truth, preds, ours, cl, ours_scores)
    # cleanlab again, on the confidences detection_errors calibrates (same boxes, same order):
    # how much of the difference is the calibration, how much the scoring.
    from labeler.predictions import Predictions

    calibrated = {rel: Predictions(xyxy=p.xyxy, class_name=p.class_name, confidence=calib(p.confidence))
                  for rel, p in preds.items()}
    cl_cal = run_cleanlab(*cleanlab_inputs(rels, truth, calibrated))
    res_cal = evaluate(rels, truth, calibrated, ours, cl_cal, ours_scores)
    for kind in KINDS:
        res["per_type"][kind]["cleanlab_calibrated"] = res_cal["per_type"][kind]["cleanlab"]
    res["all"]["cleanlab_calibrated"] = res_cal["all"]["cleanlab"]
    res["images"]["cleanlab_calibrated"] = res_cal["images"]["cleanlab"]
    res["setup"] = {"images": len(rels), "rate_per_type": args.rate, "folds": args.folds, "epochs": args.epochs,
                    "imgsz": args.imgsz, "seed": args.seed, "classes": list(CLASSES),
                    "train_seconds": round(train_s, 1), "check_seconds": round(check_s, 2),
                    "cleanlab_seconds": round(cl["seconds"], 2), "predictions": str(pred_path)}
    print(table(res))
    a, b = res["all"]["labeler"]["f1"], res["all"]["cleanlab"]["f1"]
    c = res["all"]["cleanlab_calibrated"]["f1"]
    ratio = f"{a / b:.2f}x" if b > 0 else "cleanlab flags no box"
    print(f"\nF1 over all types: labeler {a:.3f}, cleanlab {b:.3f} ({ratio}), "
          f"cleanlab on calibrated confidences {c:.3f}" + (f" ({a / c:.2f}x)" if c > 0 else ""))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=2, default=float) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
