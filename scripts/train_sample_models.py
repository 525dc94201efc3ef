"""Train the sample model bundle in ``sample_data/models/`` from the labeled sample scenes.

- ``scenes_yolo.pt``: a small YOLOv8 detector (YOLOv8n layout at width 0.125, ~0.9 M params)
  trained from random init by ``labeler train`` (the yolo plugin's ``train``) on the reviewed
  labels of ``sample_data/scenes``, i.e. the 16 labeled scenes.
- ``scenes_sam_tiny.pth``: a reduced Segment Anything (segment_anything.modeling's own
  modules; 256 px input, see ``labeler_plugins.sam.SAMPLE_TINY_CONFIG``) trained to turn a box
  (or a click) into the object's mask, on the ground-truth outlines of the same 16 scenes.

The 8 unlabeled scenes (numbers divisible by 3) are never used for training; the script ends
by scoring both models on them against ``sample_data/truth/scenes_ground_truth.json``.

Usage (about 10 minutes on 2 CPU cores; keep the machine usable with nice)::

    nice -n 10 python scripts/train_sample_models.py               # both models
    nice -n 10 python scripts/train_sample_models.py --only sam    # one of them
    python scripts/train_sample_models.py --only eval              # just the scores
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCENES = ROOT / "sample_data" / "scenes"
TRUTH = ROOT / "sample_data" / "truth" / "scenes_ground_truth.json"
OUT = ROOT / "sample_data" / "models"
YOLO_FILE = "scenes_yolo.pt"
SAM_FILE = "scenes_sam_tiny.pth"

sys.path.insert(0, str(ROOT))  # run from a checkout without installing


def held_out(name: str) -> bool:
    """The unlabeled scenes (scene_0003, 0006, ...) are kept for evaluation only."""
    return int(name.split("_")[1].split(".")[0]) % 3 == 0


# -- YOLO ------------------------------------------------------------------------------------
YOLO_YAML = """\
# YOLOv8 detection layout at width 0.125 (ultralytics' yolov8.yaml, smaller scale)
nc: 4
scales:
  t: [0.33, 0.125, 1024]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 3, C2f, [128, True]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 6, C2f, [256, True]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [-1, 6, C2f, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 3, C2f, [1024, True]]
  - [-1, 1, SPPF, [1024, 5]]
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 6], 1, Concat, [1]]
  - [-1, 3, C2f, [512]]
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 4], 1, Concat, [1]]
  - [-1, 3, C2f, [256]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, 12], 1, Concat, [1]]
  - [-1, 3, C2f, [512]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, 9], 1, Concat, [1]]
  - [-1, 3, C2f, [1024]]
  - [[15, 18, 21], 1, Detect, [nc]]
"""


def train_yolo(epochs: int, work: Path) -> dict:
    from labeler_plugins.yolo import YoloAutolabeler

    from labeler.dataset import open_dataset

    cfg = work / "yolov8t.yaml"
    cfg.write_text(YOLO_YAML)
    plugin = YoloAutolabeler()
    assert plugin.TrainOptions is not None
    opts = plugin.TrainOptions(
        model=str(cfg), epochs=epochs, imgsz=320, batch=4, val_fraction=0.2, seed=0,
        device="cpu", project=str(work / "runs"), name="scenes",
        extra={"close_mosaic": 5, "fliplr": 0.5, "flipud": 0.5, "degrees": 10.0, "patience": 0},
    )
    t0 = time.time()
    result = plugin.train(open_dataset(SCENES), opts, lambda d, t: print(f"  yolo epoch {d}/{t}", flush=True))
    print(f"yolo trained in {time.time() - t0:.0f} s: {result}")
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result["weights"], OUT / YOLO_FILE)
    return result


# -- SAM -------------------------------------------------------------------------------------
def load_scene_objects(names: list[str]) -> list[tuple[np.ndarray, list[dict]]]:
    from PIL import Image

    from labeler.masks import polygon_to_mask

    truth = json.loads(TRUTH.read_text())["images"]
    out = []
    for name in names:
        img = np.asarray(Image.open(SCENES / name).convert("RGB"))
        objs = []
        for o in truth[name]["objects"]:
            mask = polygon_to_mask([tuple(p) for p in o["polygon"]], (img.shape[1], img.shape[0]))
            objs.append({"label": o["label"], "mask": mask})
        out.append((img, objs))
    return out


def _augment(rng: random.Random, img: np.ndarray, masks: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    k = rng.randrange(4)
    flip = rng.random() < 0.5
    def geo(a: np.ndarray) -> np.ndarray:
        a = np.rot90(a, k)
        return a[:, ::-1] if flip else a
    img = geo(img).astype(np.float32)
    # Colour jitter: brightness, contrast, a little per-channel gain.
    img = (img - 128.0) * rng.uniform(0.75, 1.25) + 128.0 + rng.uniform(-25, 25)
    img = img * np.array([rng.uniform(0.9, 1.1) for _ in range(3)], dtype=np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img), [np.ascontiguousarray(geo(m)) for m in masks]


def train_sam(
    steps: int, batch: int, seed: int = 0, threads: int = 1, resume: bool = False, lr: float = 3e-3,
    bce_weight: float = 5.0,
) -> None:
    import torch
    import torch.nn.functional as F
    from labeler_plugins.sam import (
        SAMPLE_TINY_CONFIG,
        build_sam_from_config,
        save_config_checkpoint,
    )
    from segment_anything.utils.transforms import ResizeLongestSide

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = random.Random(seed)
    names = sorted(p.name for p in SCENES.glob("scene_*.jpg") if not held_out(p.name))
    data = load_scene_objects(names)
    model = build_sam_from_config(SAMPLE_TINY_CONFIG)
    if resume and (OUT / SAM_FILE).exists():  # continue from the saved model (more steps)
        from labeler_plugins.sam import load_sam

        model, _ = load_sam(OUT / SAM_FILE)
        print(f"sam: resuming from {OUT / SAM_FILE}")
    size = SAMPLE_TINY_CONFIG["img_size"]
    tf = ResizeLongestSide(size)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"sam: {len(data)} scenes, {sum(len(o) for _, o in data)} objects, {n_params / 1e6:.2f} M params")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    t0 = time.time()
    for step in range(steps):
        xs, prompts = [], []
        for _ in range(batch):
            img, objs = data[rng.randrange(len(data))]
            img, masks = _augment(rng, img, [o["mask"] for o in objs])
            h, w = img.shape[:2]
            resized = tf.apply_image(img)
            xs.append(torch.as_tensor(resized).permute(2, 0, 1).float())
            boxes, points, targets = [], [], []
            for m in masks:
                ys, xs_ = np.nonzero(m)
                if len(xs_) < 16:
                    continue
                x1, y1, x2, y2 = xs_.min(), ys.min(), xs_.max() + 1, ys.max() + 1
                bw, bh = x2 - x1, y2 - y1
                # Box noise like SAM's training: up to 10% of the side, at most 20 px.
                jit = [rng.gauss(0, 0.05) * s for s in (bw, bh, bw, bh)]
                jit = [max(-20, min(20, j)) for j in jit]
                box = [x1 + jit[0], y1 + jit[1], x2 + jit[2], y2 + jit[3]]
                boxes.append(box)
                k = rng.randrange(len(xs_))
                points.append([xs_[k] + 0.5, ys[k] + 0.5])
                t = np.zeros((size, size), dtype=np.float32)
                mr = tf.apply_image(m.astype(np.uint8) * 255) > 127
                t[: mr.shape[0], : mr.shape[1]] = mr
                targets.append(t)
            prompts.append((np.array(boxes, np.float32), np.array(points, np.float32), np.stack(targets), (h, w)))
        x = torch.stack([F.pad(t, (0, size - t.shape[2], 0, size - t.shape[1])) for t in xs])
        feats = model.image_encoder(model.preprocess(x))
        pe = model.prompt_encoder.get_dense_pe()
        loss_mask = torch.zeros(())
        loss_iou = torch.zeros(())
        for i, (boxes, points, targets, hw) in enumerate(prompts):
            use_points = rng.random() < 0.25  # some clicks too, for the GUI's point prompts
            if use_points:
                coords = torch.as_tensor(tf.apply_coords(points, hw))[:, None, :]
                sparse, dense = model.prompt_encoder(points=(coords, torch.ones(len(points), 1, dtype=torch.int64)), boxes=None, masks=None)
            else:
                sparse, dense = model.prompt_encoder(points=None, boxes=torch.as_tensor(tf.apply_boxes(boxes, hw)), masks=None)
            low, iou = model.mask_decoder(
                image_embeddings=feats[i : i + 1], image_pe=pe, sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense, multimask_output=False,
            )
            logits = F.interpolate(low, (size, size), mode="bilinear", align_corners=False)[:, 0]
            tgt = torch.as_tensor(targets)
            prob = logits.sigmoid()
            bce = F.binary_cross_entropy_with_logits(logits, tgt)
            inter = (prob * tgt).flatten(1).sum(1)
            dice = 1 - (2 * inter + 1) / (prob.flatten(1).sum(1) + tgt.flatten(1).sum(1) + 1)
            with torch.no_grad():
                pred = (logits > 0).float()
                true_iou = (pred * tgt).flatten(1).sum(1) / ((pred + tgt).clamp(max=1).flatten(1).sum(1) + 1e-6)
            loss_mask = loss_mask + bce_weight * bce + dice.mean()
            loss_iou = loss_iou + F.mse_loss(iou[:, 0], true_iou)
        loss = (loss_mask + loss_iou) / len(prompts)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 10 == 0 or step == steps - 1:
            print(f"  sam step {step}/{steps} loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    OUT.mkdir(parents=True, exist_ok=True)
    save_config_checkpoint(model, SAMPLE_TINY_CONFIG, OUT / SAM_FILE)
    print(f"sam trained in {time.time() - t0:.0f} s -> {OUT / SAM_FILE}")


# -- evaluation on the held-out scenes ----------------------------------------------------------
def _iou(a: np.ndarray, b: np.ndarray) -> float:
    u = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / u) if u else 0.0


def evaluate() -> dict:
    from labeler_plugins.sam import SamSession
    from PIL import Image

    from labeler.masks import polygon_to_mask
    from labeler.predictions import box_iou

    truth = json.loads(TRUTH.read_text())["images"]
    names = sorted(n for n in truth if held_out(n))
    result: dict = {"held_out_scenes": len(names)}
    if (OUT / SAM_FILE).exists():
        session = SamSession.from_checkpoint(OUT / SAM_FILE, device="cpu")
        ious, box_ious = [], []
        for name in names:
            img = Image.open(SCENES / name).convert("RGB")
            session.set_image(img)
            objs = truth[name]["objects"]
            masks, _ = session.predict_boxes([o["bbox_xyxy"] for o in objs])
            for o, m in zip(objs, masks, strict=True):
                gt = polygon_to_mask([tuple(p) for p in o["polygon"]], img.size)
                x1, y1, x2, y2 = (round(v) for v in o["bbox_xyxy"])
                box = np.zeros_like(gt)
                box[y1:y2, x1:x2] = True
                ious.append(_iou(m, gt))
                box_ious.append(_iou(box, gt))
        result["sam_mask_iou_from_true_boxes"] = round(float(np.mean(ious)), 3)
        result["box_as_mask_iou_baseline"] = round(float(np.mean(box_ious)), 3)
    if (OUT / YOLO_FILE).exists():
        from ultralytics import YOLO

        model = YOLO(str(OUT / YOLO_FILE))
        tp = fp = n_true = 0
        for name in names:
            objs = truth[name]["objects"]
            n_true += len(objs)
            r = model.predict(str(SCENES / name), conf=0.25, imgsz=320, device="cpu", verbose=False)[0]
            used: set[int] = set()
            for b, c in zip(r.boxes.xyxy.tolist(), r.boxes.cls.tolist(), strict=True):
                label = r.names[int(c)]
                best = max(
                    ((box_iou(b, o["bbox_xyxy"]), j) for j, o in enumerate(objs) if o["label"] == label and j not in used),
                    default=(0.0, -1),
                )
                if best[0] >= 0.5:
                    used.add(best[1])
                    tp += 1
                else:
                    fp += 1
        result["yolo_precision@0.5"] = round(tp / max(tp + fp, 1), 3)
        result["yolo_recall@0.5"] = round(tp / max(n_true, 1), 3)
        result["yolo_true_objects"] = n_true
    for f in (YOLO_FILE, SAM_FILE):
        if (OUT / f).exists():
            result[f"{f}_bytes"] = (OUT / f).stat().st_size
    print(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["yolo", "sam", "eval"], help="train one model (or only evaluate)")
    parser.add_argument("--yolo-epochs", type=int, default=80)
    parser.add_argument("--sam-steps", type=int, default=600)
    parser.add_argument("--sam-batch", type=int, default=8)
    parser.add_argument("--sam-resume", action="store_true", help="continue training the saved SAM")
    parser.add_argument("--sam-lr", type=float, default=3e-3)
    parser.add_argument("--sam-bce-weight", type=float, default=5.0, help="weight of the BCE term (dice has 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 behaves best on a shared CPU)")
    args = parser.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="labeler-sample-models-"))
    os.environ.setdefault("YOLO_CONFIG_DIR", str(work / "ultralytics"))
    try:
        if args.only in (None, "sam"):
            train_sam(args.sam_steps, args.sam_batch, threads=args.threads, resume=args.sam_resume, lr=args.sam_lr,
                      bce_weight=args.sam_bce_weight)
        if args.only in (None, "yolo"):
            import torch

            torch.set_num_threads(args.threads)
            train_yolo(args.yolo_epochs, work)
        evaluate()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
