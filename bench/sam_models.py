"""Seconds per image of every SAM model type, through ``SamSession`` (what the ``sam`` plugin runs).

Each model is built with random weights (they cost exactly what real ones cost), then encodes
ultralytics' two photos (bus.jpg, zidane.jpg) and decodes three box prompts on each. On a
shared machine wall time depends on the other load (printed as load_avg); the process's CPU
seconds per image much less (on an idle machine wall ~ CPU seconds / threads). Mask
agreement with vit_b needs the real checkpoints, which are not on this machine, so this script
measures time only. Results: the table in docs/autolabel.md.

    python bench/sam_models.py                      # every type, fp32, CPU
    python bench/sam_models.py --types mobile_sam,sam2.1_t --device cuda --precision bf16
    python bench/sam_models.py --agreement DIR      # DIR holds the official checkpoints: mask IoU vs vit_b
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TYPES = ("vit_b", "vit_l", "vit_h", "mobile_sam", "sam2.1_t", "sam2.1_s", "sam2.1_b", "sam2.1_l")
BOXES = {"bus.jpg": [[50, 400, 250, 900], [220, 400, 350, 860], [0, 230, 800, 780]],
         "zidane.jpg": [[740, 40, 1140, 710], [120, 190, 1110, 710], [430, 430, 520, 720]]}


def images() -> dict[str, object]:
    """ultralytics' bundled photos as RGB arrays."""
    import numpy as np
    import ultralytics
    from PIL import Image

    assets = Path(ultralytics.__file__).parent / "assets"
    return {name: np.asarray(Image.open(assets / name).convert("RGB")) for name in BOXES}


def time_type(kind: str, device: str, precision: str, checkpoint: Path | None = None) -> dict[str, object]:
    """Build (or load) one model type and time set_image + predict_boxes on each photo."""
    import torch
    from labeler_plugins.sam import SamSession, load_sam

    torch.manual_seed(0)
    t0 = time.perf_counter()
    model, _ = load_sam(checkpoint, kind)
    build_s = time.perf_counter() - t0
    session = SamSession(model, device=device, precision=precision)
    per_image, cpu, masks = [], [], {}
    for name, arr in images().items():
        t, c = time.perf_counter(), time.process_time()
        session.set_image(arr)
        m, _ = session.predict_boxes(BOXES[name])
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        per_image.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        masks[name] = m
    params = sum(p.numel() for p in model.parameters())
    return {"type": kind, "params_M": round(params / 1e6, 1), "build_s": round(build_s, 1),
            "seconds_per_image": [round(s, 2) for s in per_image],
            "cpu_seconds_per_image": [round(s, 2) for s in cpu], "threads": session.threads, "masks": masks}


def main() -> None:
    """Run the measurements and print one JSON line per model type."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--agreement", type=Path, help="folder of official checkpoints: mask IoU against vit_b")
    args = ap.parse_args()
    from labeler_plugins.sam import CHECKPOINTS

    ref = None
    for kind in args.types.split(","):
        ckpt = args.agreement / CHECKPOINTS[kind] if args.agreement else None
        res = time_type(kind, args.device, args.precision, ckpt)
        masks = res.pop("masks")
        if args.agreement:
            if kind == "vit_b":
                ref = masks
            elif ref is not None:
                ious = [float((a & b).sum() / max(1, (a | b).sum())) for n in masks for a, b in zip(masks[n], ref[n], strict=True)]
                res["mask_iou_vs_vit_b"] = round(sum(ious) / len(ious), 3)
        res.update(device=args.device, precision=args.precision, load_avg=round(os.getloadavg()[0], 1))
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
