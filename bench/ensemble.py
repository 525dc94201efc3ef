"""Bench: the ``ensemble`` autolabeler's fusions against their members, and against the
reference implementation ``ensemble_boxes``, by COCO mAP on held-out scenes with full truth.

The scenes are drawn by ``scripts/make_sample_data.py``'s scene generator with another seed
(never seen in training), so every object has its true box. The members are the shipped
``sample_data/models/scenes_yolo.pt`` run at different input sizes (``-o NAME.imgsz``), as
``labeler autolabel --plugin ensemble -o members y256=yolo,y320=yolo,y416=yolo`` runs them;
each member predicts once (conf 0.01) and every fusion reuses those boxes:

- each member alone, then our WBF, NMS and soft-NMS over all members (and WBF with
  ``min_votes 2``), through ``EnsembleAutolabeler.fuse``;
- ``ensemble_boxes.weighted_boxes_fusion`` / ``nms`` / ``soft_nms`` on the same boxes
  (normalised to [0, 1]), to show the fusions agree (largest coordinate and score difference).

mAP is pycocotools' COCOeval (bbox, area ranges all; mAP@[.5:.95] and mAP@.5).

    python bench/ensemble.py                 # 120 scenes, about two minutes on 2 CPU cores
    python bench/ensemble.py --scenes 300 --json bench/results/ensemble.json

Needs ``pip install 'labeler[yolo,bench]'`` and, for the scene generator, ``pip install
--no-deps animal-mnist`` (its elephant drawings).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "sample_data" / "models" / "scenes_yolo.pt"
SIZES = (256, 320, 416)


def make_scenes(folder: Path, n: int, seed: int) -> dict[str, list[dict]]:
    """``n`` scenes as JPEGs under ``folder``; returns {file name: [{label, bbox_xyxy}]}."""
    spec = importlib.util.spec_from_file_location("make_sample_data", ROOT / "scripts" / "make_sample_data.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.load_core_modules()
    images, labels, _ = gen.load_animal_mnist()
    elephants = images[labels == gen.ANIMAL_CLASSES.index("elephant")]
    elephants = [e for e in elephants if (e > 60).mean() > 0.15 and (e > 200).sum() >= 0.72 * (e > 60).sum()]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for i in range(n):
        img, objects, _ = gen.make_scene(np.random.default_rng(int(rng.integers(2**62))), i, elephants)
        name = f"held_{i:04d}.jpg"
        img.save(folder / name, quality=88)
        truth[name] = [{"label": o["label"], "bbox_xyxy": [float(v) for v in o["bbox"]]} for o in objects]
    return truth


def coco_map(truth: dict[str, list[dict]], preds: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
             classes: list[str]) -> tuple[float, float]:
    """(mAP@[.5:.95], mAP@.5) of ``preds`` {image: (xyxy, class names, scores)}."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = sorted(truth)
    gt = {"images": [{"id": i, "file_name": n} for i, n in enumerate(names)],
          "categories": [{"id": c, "name": n} for c, n in enumerate(classes)], "annotations": []}
    dets = []
    for i, n in enumerate(names):
        for o in truth[n]:
            x1, y1, x2, y2 = o["bbox_xyxy"]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i, "iscrowd": 0,
                                      "category_id": classes.index(o["label"]), "bbox": [x1, y1, x2 - x1, y2 - y1],
                                      "area": (x2 - x1) * (y2 - y1)})
        xyxy, cls, score = preds.get(n, (np.zeros((0, 4)), np.zeros(0), np.zeros(0)))
        for b, c, s in zip(xyxy, cls, score, strict=True):
            dets.append({"image_id": i, "category_id": classes.index(str(c)), "score": float(s),
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        if not dets:
            return 0.0, 0.0
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])


def main(argv: list[str] | None = None) -> None:
    """Generate the scenes, run the members once, fuse, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=120)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="ultralytics_"))
    import ensemble_boxes
    from labeler_plugins.ensemble import EnsembleAutolabeler, MemberBoxes

    from labeler.dataset import open_dataset
    from labeler.io.images import open_image
    from labeler.plugin_api import Sample

    work = Path(tempfile.mkdtemp(prefix="ensemble_bench_"))
    truth = make_scenes(work, args.scenes, args.seed)
    classes = ["ball", "box", "star", "elephant"]
    names = [f"y{s}" for s in SIZES]
    member_opts = {n: {"model": str(MODEL), "imgsz": s, "conf": 0.01, "device": "cpu", "batch": 8}
                   for n, s in zip(names, SIZES, strict=True)}
    ens = EnsembleAutolabeler({"members": ",".join(f"{n}=yolo" for n in names), **member_opts})
    t0 = time.perf_counter()
    ens.setup()
    ds = open_dataset(work)
    samples = [Sample(item=i, annotation=ds.new_annotation(i), image=open_image(i.image_path)) for i in ds.items]
    per_image: list[list[MemberBoxes]] = []
    for start in range(0, len(samples), 8):
        per_image.extend(ens.member_predictions(samples[start:start + 8]))
    predict_s = time.perf_counter() - t0
    rels = [s.item.rel for s in samples]
    sizes = {s.item.rel: s.image.size for s in samples}
    results: list[dict] = []

    def score(name: str, preds: dict, seconds: float | None = None, **extra: object) -> None:
        m, m50 = coco_map(truth, preds, classes)
        results.append({"method": name, "mAP": round(m, 4), "mAP50": round(m50, 4),
                        "boxes": int(sum(len(p[0]) for p in preds.values())),
                        **({"fuse_ms_per_image": round(1000 * seconds / len(rels), 2)} if seconds is not None else {}),
                        **extra})

    for k, n in enumerate(names):
        score(f"member {n} (imgsz {SIZES[k]})",
              {r: (mb[k].xyxy, mb[k].class_name, mb[k].confidence) for r, mb in zip(rels, per_image, strict=True)})

    ref_fns = {"wbf": lambda b, s, lab: ensemble_boxes.weighted_boxes_fusion(b, s, lab, iou_thr=0.55),
               "nms": lambda b, s, lab: ensemble_boxes.nms(b, s, lab, iou_thr=0.55),
               "soft_nms": lambda b, s, lab: ensemble_boxes.soft_nms(b, s, lab, iou_thr=0.55, sigma=0.5,
                                                                     thresh=0.001)}
    for method, min_votes in (("wbf", 1), ("wbf", 2), ("nms", 1), ("soft_nms", 1)):
        fuser = EnsembleAutolabeler({"members": ",".join(f"{n}=yolo" for n in names), **member_opts,
                                     "method": method, "min_votes": min_votes, "iou_threshold": 0.55})
        t = time.perf_counter()
        fused = {r: fuser.fuse(mb) for r, mb in zip(rels, per_image, strict=True)}
        ours_s = time.perf_counter() - t
        ours = {r: (p.xyxy, p.class_name, p.confidence) for r, p in fused.items()}
        label = f"ensemble {method}" + (f" min_votes {min_votes}" if min_votes > 1 else "")
        if min_votes > 1:
            score(label, ours, ours_s)
            continue
        ref: dict = {}
        diff = 0.0
        t = time.perf_counter()
        for r, mb in zip(rels, per_image, strict=True):
            w, h = sizes[r]
            scale = np.array([w, h, w, h], dtype=np.float64)
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                b, s, lab = ref_fns[method]([m.xyxy.astype(np.float64) / scale for m in mb],
                                            [m.confidence.astype(np.float64) for m in mb],
                                            [np.array([classes.index(c) for c in m.class_name]) for m in mb])
            ref[r] = (np.asarray(b) * scale, np.array([classes[int(c)] for c in lab], dtype=object), np.asarray(s))
        ref_s = time.perf_counter() - t
        for r in rels:
            a, b = ours[r], ref[r]
            if len(a[0]) != len(b[0]):
                diff = float("inf")
                continue
            oa, ob = (np.lexsort(np.round(x[0], 2).T[::-1]) for x in (a, b))
            box_d = np.abs(a[0][oa] - b[0][ob]).max(initial=0)
            # ensemble_boxes' soft_nms returns the kept boxes' undecayed scores: boxes only
            score_d = np.abs(a[2][oa] - b[2][ob]).max(initial=0) if method != "soft_nms" else 0.0
            diff = max(diff, float(box_d), float(score_d))
        score(label, ours, ours_s, max_difference_to_ensemble_boxes=round(diff, 6))
        score(f"ensemble_boxes {method}", ref, ref_s)
    objects = sum(len(v) for v in truth.values())
    print(f"{len(rels)} held-out scenes, {objects} objects; members predicted in {predict_s:.1f} s "
          f"({len(names)} members)\n")
    print("| method | mAP@[.5:.95] | mAP@.5 | boxes | fusion ms/image | max diff to ensemble_boxes |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['method']} | {r['mAP']:.4f} | {r['mAP50']:.4f} | {r['boxes']} | "
              f"{r.get('fuse_ms_per_image', '')} | {r.get('max_difference_to_ensemble_boxes', '')} |")
    if args.json:
        args.json.write_text(json.dumps({"scenes": len(rels), "objects": objects, "members": member_opts,
                                         "results": results}, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
