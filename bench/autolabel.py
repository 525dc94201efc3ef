"""``labeler autolabel --plugin yolo_sam`` vs ``ultralytics.data.annotator.auto_annotate``.

Same images (ultralytics' bus.jpg and zidane.jpg), same models (a random-init YOLOv8n and a
random-init SAM vit_b, saved once to files that both sides load), same boxes (``conf 0``,
``max_det 15``: a random detector always gives 15). A random-init vit_b costs exactly what a
real checkpoint costs. Each side runs in its own process, so that peak memory (ru_maxrss) is
its own; images per second count everything, model loading included (labeler's sides also
print the images per second after start-up: from both models loaded to the end).

    python bench/autolabel.py                       # default numerics (fp32) and the bf16 option
    python bench/autolabel.py --repeat 3            # 6 images per side: memory must not grow
    python bench/autolabel.py --profile             # where the time goes, stage by stage
    python bench/autolabel.py --device cuda         # on a GPU (images/s of each side)
    python bench/autolabel.py --sides labeler@mobile_sam,labeler-bf16@mobile_sam   # the lightest SAM

A side ``NAME@MODEL`` runs labeler with that SAM model type (random weights of its architecture,
built from ultralytics, saved once) instead of vit_b.

``--repeat N`` uses each image N times, each copy with one pixel changed, so that no side can
reuse an embedding across copies. Results: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_DET = 15
IMGSZ = 640
VIT_B_GFLOP = 970.0  # image encoder at 1024 px, forward


def make_models(work: Path) -> tuple[Path, Path]:
    """Random-init YOLOv8n and SAM vit_b, saved where both sides can load them."""
    import torch
    from segment_anything import sam_model_registry
    from ultralytics import YOLO

    det, sam = work / "yolov8n_random.pt", work / "sam_b.pt"  # ultralytics picks vit_b by the name
    if not det.exists():
        torch.manual_seed(0)
        YOLO("yolov8n.yaml").save(str(det))
    if not sam.exists():
        torch.manual_seed(0)
        torch.save(sam_model_registry["vit_b"](None).state_dict(), sam)
    return det, sam


def make_sam(work: Path, kind: str) -> Path:
    """Random-init SAM of model type ``kind`` (``vit_b``, ``mobile_sam``, ``sam2.1_t``...), saved
    as a state dict (the model type is told from its keys, as for the official files)."""
    if kind == "vit_b":
        return make_models(work)[1]
    import torch
    from labeler_plugins.sam import build_sam

    path = work / f"{kind}_random.pt"
    if not path.exists():
        torch.manual_seed(0)
        torch.save(build_sam(kind).state_dict(), path)
    return path


def make_images(work: Path, repeat: int) -> Path:
    """bus.jpg and zidane.jpg, ``repeat`` times, each copy one pixel different (PNG, lossless)."""
    import numpy as np
    from PIL import Image
    from ultralytics.utils import ASSETS

    folder = work / f"images_x{repeat}"
    if folder.exists():
        return folder
    folder.mkdir()
    for name in ("bus.jpg", "zidane.jpg"):
        arr = np.asarray(Image.open(ASSETS / name).convert("RGB")).copy()
        for k in range(repeat):
            if k:
                arr[0, 0, 0] = (int(arr[0, 0, 0]) + 1) % 256
            Image.fromarray(arr).save(folder / f"{Path(name).stem}_{k}.png")
    return folder


def run_ultralytics(images: Path, det: Path, sam: Path, out: Path, device: str = "cpu") -> dict:
    from ultralytics.data.annotator import auto_annotate

    t0 = time.perf_counter()
    auto_annotate(data=str(images), det_model=str(det), sam_model=str(sam), device=device,
                  conf=0.0, imgsz=IMGSZ, max_det=MAX_DET, output_dir=str(out))
    seconds = time.perf_counter() - t0
    lines = sum(len(p.read_text().splitlines()) for p in out.glob("*.txt"))
    return {"seconds": seconds, "objects": lines}


def run_labeler(images: Path, det: Path, sam: Path, precision: str, device: str = "cpu", threads: int | None = None) -> dict:
    from labeler_plugins.yolo_sam import YoloSamAutolabeler

    from labeler.dataset import open_dataset
    from labeler.engines.local import LocalEngine
    from labeler.pipeline import run_autolabel

    plugin = YoloSamAutolabeler({
        "yolo": {"model": str(det), "conf": 0.0, "max_det": MAX_DET, "imgsz": IMGSZ, "device": device, "batch": 1},
        "sam": {"checkpoint": str(sam), "device": device, "precision": precision, "min_area": 0, "threads": threads,
                "overlap_drop": 1.0},  # keep every mask, as auto_annotate does
    })
    engine = LocalEngine()
    t0 = time.perf_counter()
    summary = run_autolabel(open_dataset(images), plugin, engine=engine)
    end = time.perf_counter()
    if summary.failed:
        raise RuntimeError(summary.failed)
    ready = engine.ready_at or t0  # both models loaded (the plugin's setup done)
    return {"seconds": end - t0, "objects": sum(summary.per_class.values()), "startup_s": ready - t0,
            "images_per_s_after_startup": summary.processed / (end - ready)}


def side(args: argparse.Namespace) -> None:
    """One side, in this process; prints one JSON line."""
    import torch

    work = Path(args.work)
    det, sam = make_models(work)
    name, _, kind = args.side.partition("@")
    if kind:
        sam = make_sam(work, kind)
    images = make_images(work, args.repeat)
    n = len(list(images.glob("*.png")))
    before = resource.getrusage(resource.RUSAGE_SELF)
    if args.side == "ultralytics":
        out = work / "ultralytics_labels"
        shutil.rmtree(out, ignore_errors=True)
        res = run_ultralytics(images, det, sam, out, args.device)
    else:
        copy = work / f"labeler_{args.side}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(images, copy)  # no label files yet: a fresh run
        res = run_labeler(copy, det, sam, "bf16" if name == "labeler-bf16" else "fp32", args.device, args.threads)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    res.update(
        side=args.side, images=n, images_per_s=n / res["seconds"], threads=torch.get_num_threads(),
        peak_rss_mb=usage.ru_maxrss / 1024,
        # CPU seconds in user code and in the kernel (mostly page faults: zeroing fresh memory)
        cpu_user_s=usage.ru_utime - before.ru_utime, cpu_sys_s=usage.ru_stime - before.ru_stime,
        page_faults=usage.ru_minflt - before.ru_minflt,
    )
    print(json.dumps(res))


def _iou(a: Any, b: Any) -> float:
    """IoU of two boolean masks (1 when both are empty)."""
    import numpy as np

    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def mask_agreement(work: Path, device: str = "cpu", kind: str = "vit_b") -> dict:
    """Mask IoU of each encoder (fast fp32, fast bf16, segment-anything's bf16) against
    segment-anything's own fp32 encoder, same boxes: what the fast paths cost in masks. For
    another model type ``kind`` (``mobile_sam``...), against its own modules' fp32 forward
    (``encoder="reference"``: ultralytics' encoder and decoder)."""
    import numpy as np
    import torch
    from labeler_plugins.sam import SamSession
    from PIL import Image
    from ultralytics import YOLO

    det, sam = make_models(work)
    sam = make_sam(work, kind)
    yolo = YOLO(str(det))
    reference = SamSession.from_checkpoint(sam, device=device, encoder="reference")
    others = {
        "fast_fp32": SamSession.from_checkpoint(sam, device=device),
        "fast_bf16": SamSession.from_checkpoint(sam, device=device, precision="bf16"),
        "reference_bf16": SamSession.from_checkpoint(sam, device=device, precision="bf16", encoder="reference"),
    }
    ious: dict[str, list[float]] = {k: [] for k in others}
    changed: dict[str, list[float]] = {k: [] for k in others}
    for img_path in sorted(make_images(work, 1).glob("*.png")):
        img = np.asarray(Image.open(img_path).convert("RGB"))
        threads = torch.get_num_threads()
        boxes = yolo.predict(img[..., ::-1], conf=0.0, max_det=MAX_DET, imgsz=IMGSZ, device=device, verbose=False)[0].boxes.xyxy.cpu().numpy()
        torch.set_num_threads(threads)
        reference.set_image(img)
        ref, _ = reference.predict_boxes(boxes)
        for name, session in others.items():
            session.set_image(img)
            masks, _ = session.predict_boxes(boxes)
            for x, y in zip(ref, masks, strict=True):
                ious[name].append(_iou(x, y))
                changed[name].append(float(np.logical_xor(x, y).mean()))
    return {name: {"masks": len(v), "mean_iou": round(float(np.mean(v)), 4), "min_iou": round(float(np.min(v)), 4),
                   "pixels_changed": round(float(np.mean(changed[name])), 5)} for name, v in ious.items()}


def profile(work: Path, device: str = "cpu", rounds: int = 3) -> dict:
    """Time each stage of one image (bus.jpg) in-process: where the time goes. The image
    encoder is timed four ways (fp32 / bf16, fast / segment-anything's own operations),
    interleaved, best of ``rounds``: ratios hold even on a busy machine."""
    import numpy as np
    import torch
    from labeler_plugins.sam import SamSession
    from PIL import Image
    from ultralytics import YOLO

    from labeler.masks import mask_to_polygons

    det, sam = make_models(work)
    path = sorted(make_images(work, 1).glob("bus_*.png"))[0]
    out: dict = {}
    t = time.perf_counter()
    img = np.asarray(Image.open(path).convert("RGB"))
    out["read_image_s"] = time.perf_counter() - t
    threads = torch.get_num_threads()
    yolo = YOLO(str(det))
    yolo.predict(img[..., ::-1], conf=0.0, max_det=MAX_DET, imgsz=IMGSZ, device=device, verbose=False)  # warm up
    out["threads_after_ultralytics"] = torch.get_num_threads()
    torch.set_num_threads(threads)  # what the yolo plugin does after each predict
    t = time.perf_counter()
    boxes = yolo.predict(img[..., ::-1], conf=0.0, max_det=MAX_DET, imgsz=IMGSZ, device=device, verbose=False)[0].boxes.xyxy.cpu().numpy()
    out["yolo_s"] = time.perf_counter() - t
    torch.set_num_threads(threads)
    sessions = {
        f"{precision}_{encoder}": SamSession.from_checkpoint(sam, device=device, precision=precision, encoder=encoder)
        for precision in ("fp32", "bf16") for encoder in ("fast", "reference")
    }
    for session in sessions.values():
        session.encode(img[:64, :64])  # warm up
    best = dict.fromkeys(sessions, float("inf"))
    for _ in range(rounds):
        for name, session in sessions.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            session.encode(img)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            best[name] = min(best[name], time.perf_counter() - t)
    for name, seconds in best.items():
        out[f"sam_encoder_{name}_s"] = round(seconds, 3)
        out[f"sam_encoder_{name}_gflops"] = round(VIT_B_GFLOP / seconds)
    for precision in ("fp32", "bf16"):
        out[f"sam_encoder_{precision}_fast_speedup"] = round(best[f"{precision}_reference"] / best[f"{precision}_fast"], 2)
    session = sessions["fp32_fast"]
    session.set_image(img)
    t = time.perf_counter()
    masks, _ = session.predict_boxes(boxes)
    out[f"sam_decoder_{len(boxes)}_boxes_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for m in masks:
        mask_to_polygons(m, 1.0)
    out["masks_to_polygons_s"] = time.perf_counter() - t
    out["threads_sam"] = torch.get_num_threads()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="use each image this many times")
    parser.add_argument("--sides", default="ultralytics,labeler,labeler-bf16")
    parser.add_argument("--profile", action="store_true", help="time each stage instead")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    parser.add_argument("--threads", type=int, help="labeler's SAM threads (-o sam.threads; default: every core)")
    parser.add_argument("--rounds", type=int, default=3, help="--profile: encoder timings, best of this many")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--work", help="folder for models and images (default: a temp folder)")
    args = parser.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("LABELER_OFFLINE", "1")
    if args.side:
        side(args)
        return 0
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="labeler-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(work / "ultralytics"))
    make_models(work)
    if args.profile:
        print(json.dumps(profile(work, args.device, args.rounds), indent=2))
        return 0
    results = {}
    for name in args.sides.split(","):
        cmd = [sys.executable, __file__, "--side", name, "--work", str(work), "--repeat", str(args.repeat),
               "--device", args.device] + (["--threads", str(args.threads)] if args.threads else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            print(proc.stdout, proc.stderr, file=sys.stderr)
            return 1
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[name]
        warm = (f"  after start-up ({r['startup_s']:.1f} s) {r['images_per_s_after_startup']:.4f} images/s"
                if "startup_s" in r else "")
        print(f"{name:<22} {r['images']} images  {r['seconds']:7.1f} s  {r['images_per_s']:.4f} images/s{warm}  "
              f"peak {r['peak_rss_mb']:.0f} MB  ({r['objects']} objects)  CPU user {r['cpu_user_s']:.0f} s, "
              f"kernel {r['cpu_sys_s']:.0f} s, {r['page_faults'] / 1e6:.1f} M page faults", flush=True)
    base = results.get("ultralytics")
    if base:
        for name, r in results.items():
            if name != "ultralytics":
                cpu = (base["cpu_user_s"] + base["cpu_sys_s"]) / max(1e-9, r["cpu_user_s"] + r["cpu_sys_s"])
                print(f"{name} / auto_annotate throughput: {r['images_per_s'] / base['images_per_s']:.2f}x "
                      f"(CPU seconds: {cpu:.2f}x fewer; the figure that holds on a busy machine with --threads 1)")
    if "labeler-bf16" in results:
        print("masks against segment-anything's own fp32 encoder:", json.dumps(mask_agreement(work, args.device)))
    for kind in sorted({name.partition("@")[2] for name in results} - {""}):
        print(f"{kind} masks against its reference modules in fp32 (-o sam.encoder reference):",
              json.dumps(mask_agreement(work, args.device, kind)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
