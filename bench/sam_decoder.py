"""The SAM mask decoder: segment-anything's (and ultralytics' copy, MobileSAM's) against
labeler's (``plugins/sam_decoder.py``), side by side in one run on the same prompts.

Random weights (a decoder costs the same with any weights), one 64 x 64 embedding:

1. 15 boxes on one image (what ``yolo_sam`` asks per image with ``max_det 15``): CPU seconds
   of ``predict_masks`` on all 15 at once (every mask token upscaled), and of the path
   ``SamSession.decode_boxes`` takes (``forward`` with ``multimask_output=False``,
   ``--per-call`` boxes per call; the fast side's image side, computed once per image with the
   encoding, counted in), best of ``--rounds``, one torch thread (CPU time holds on a busy
   machine), reference and fast alternated;
2. one click through ``SamSession.decode`` (the GUI's path: decoder, upscaling to the image,
   threshold), wall milliseconds, median of ``--rounds``, on 1 and on every thread.

    python bench/sam_decoder.py [--models vit_b,mobile_sam] [--rounds 5] [--per-call 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="vit_b,mobile_sam")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--boxes", type=int, default=15)
    parser.add_argument("--per-call", type=int, default=5, help="boxes per decoder call (decode_boxes: 5 at 1080 x 810)")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from labeler_plugins import sam as samplug
    from labeler_plugins import sam_decoder

    samplug.keep_freed_memory()  # as every SamSession does (else the first model's boxes run without it)
    threads = torch.get_num_threads()
    out: dict[str, object] = {"load_before": os.getloadavg()[0], "threads": threads}
    rng = np.random.default_rng(0)
    xy = rng.integers(10, 500, (args.boxes, 2))
    wh = rng.integers(20, 400, (args.boxes, 2))
    boxes = torch.tensor(np.hstack([xy, xy + wh]), dtype=torch.float32)
    image = rng.integers(0, 255, (810, 1080, 3), dtype=np.uint8)
    for kind in args.models.split(","):
        torch.manual_seed(0)
        model = samplug.build_sam(kind).eval()
        fast = copy.deepcopy(model.mask_decoder)
        assert sam_decoder.install_fast_decoder(fast)
        emb = torch.randn(1, 256, 64, 64)
        torch.set_num_threads(1)
        with torch.inference_mode():
            sparse, dense = model.prompt_encoder(points=None, boxes=boxes, masks=None)
            pe = model.prompt_encoder.get_dense_pe()
            best = {"reference": float("inf"), "fast": float("inf")}
            for _ in range(args.rounds):
                for name, dec in (("reference", model.mask_decoder), ("fast", fast)):
                    t = time.process_time()
                    dec.predict_masks(emb, pe, sparse, dense)
                    best[name] = min(best[name], time.process_time() - t)
            chunks = {"reference": float("inf"), "fast": float("inf")}
            for _ in range(args.rounds):
                for name, dec in (("reference", model.mask_decoder), ("fast", fast)):
                    t = time.process_time()
                    if name == "fast":
                        dec._labeler_side = sam_decoder.image_side(dec, emb, pe, dense)
                    for i in range(0, args.boxes, args.per_call):
                        dec(emb, pe, sparse[i : i + args.per_call], dense[i : i + args.per_call], multimask_output=False)
                    chunks[name] = min(chunks[name], time.process_time() - t)
            fast._labeler_side = None
        res: dict[str, object] = {f"{args.boxes}_boxes_cpu_s": {k: round(v, 3) for k, v in best.items()},
                                  "speedup": round(best["reference"] / best["fast"], 2),
                                  f"{args.boxes}_boxes_{args.per_call}_per_call_cpu_s":
                                      {k: round(v, 3) for k, v in chunks.items()},
                                  "speedup_per_call": round(chunks["reference"] / chunks["fast"], 2)}
        torch.set_num_threads(threads)
        for encoder in ("reference", "fast"):
            session = samplug.SamSession(copy.deepcopy(model), device="cpu", encoder=encoder)
            e = session.encode(image)
            for n in sorted({1, threads}):
                session.decoder_threads = n
                session.decode(e, points=[(540, 405)], labels=[1])  # warm up
                ms = []
                for _ in range(args.rounds):
                    t = time.perf_counter()
                    session.decode(e, points=[(540, 405)], labels=[1])
                    ms.append((time.perf_counter() - t) * 1000)
                res[f"click_{encoder}_{n}_threads_ms"] = round(statistics.median(ms), 1)
        out[kind] = res
        print(kind, json.dumps(res), flush=True)
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
