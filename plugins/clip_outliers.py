"""``clip_outliers``: likely mislabels, outliers and ambiguous samples, from image embeddings.

Each labeled thing is embedded (the whole image for image-level labels, the crop of each box or
polygon for detection sets) with the embedder :func:`labeler.embeddings.make_embedder` picks
(CLIP when its weights are there, else the packaged EfficientNet-Lite0, said so in the output).
Then, on the vectors alone (see ``docs/checks.md``):

- ``mislabel``: out-of-fold class probabilities from two classifiers that never saw the sample
  (a cosine k-nearest-neighbour vote and a logistic regression), averaged, calibrated with one
  temperature and then with a cross-fitted isotonic map against the given labels; a uniform
  label-noise model (noise rate estimated on the most confident half) gives the posterior
  probability that the given label is wrong. That posterior is the score; flagged when it reaches
  ``threshold`` (default 0.5: more likely wrong than right, on any dataset) and another class is
  the most likely. The suggested relabel (``suggested_fix``) is attached only when the posterior
  probability that the most likely class is the true one reaches ``fix_threshold`` (0.8);
  weaker flags are left for a person, without a fix.
- ``outlier``: far from everything (distance to its nearest neighbours) *and* far from its own
  class (distance to the class centre), both as robust z-scores over the dataset; flagged when
  both pass ``outlier_z`` (3.5, the usual modified-z cut-off). Score 0.5 at the cut-off, towards 1
  beyond.
- ``ambiguous``: the given label and another class nearly tied (runner-up / top probability at
  least ``ambiguous_ratio``); the score is that ratio.
- ``prompt_mismatch`` (CLIP only): zero-shot probabilities from the prompts
  ``"a photo of a {label}"`` disagree with the label, scored ``1 - p(given label)``.

Everything is blockwise (neighbour search in blocks of rows), so 50,000 images fit in bounded
memory; vectors are cached on disk by file content and model.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from labeler import hookimpl
from labeler.dataset import Dataset, Item
from labeler.model import Annotation, Issue, Source
from labeler.plugin_api import Check, Finding, Progress

__version__ = "0.1.0"


class ClipOutliersOptions(BaseModel):
    """Options of ``clip_outliers`` (``-o NAME VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    embedder: str = Field(
        "auto",
        description="auto (CLIP if weights are available, else EfficientNet-Lite0), clip, "
        "efficientnet_lite0, timm:ARCH or torchvision:ARCH (with checkpoint).",
    )
    checkpoint: str | None = Field(None, description="Local weights file (CLIP or backbone).")
    clip_model: str = Field("ViT-B-32", description="open_clip architecture.")
    clip_pretrained: str = Field("laion2b_s34b_b79k", description="open_clip weights tag (cached or downloaded).")
    allow_download: bool = Field(True, description="Let CLIP weights download when online.")
    image_size: int | None = Field(None, ge=16, description="Input size of backbone embedders (default: model's).")
    batch: int = Field(32, ge=1, description="Images per forward pass (bounds memory).")
    target: Literal["auto", "image", "shapes"] = Field(
        "auto", description="What to embed: image labels, shape crops, or auto (both where present)."
    )
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="Mislabel score to flag: P(label wrong).")
    fix_threshold: float = Field(
        0.8, ge=0.0, le=1.0,
        description="Propose a relabel only when P(suggested label is the true one) reaches this.",
    )
    k: int = Field(10, ge=1, description="Neighbours for the kNN vote and outlier distance.")
    folds: int = Field(5, ge=2, description="Folds of the out-of-fold classifier.")
    classifier: Literal["auto", "both", "knn", "logreg"] = Field(
        "auto", description="Out-of-fold classifier(s); auto drops logreg on very large class x image counts."
    )
    outlier_z: float = Field(3.5, gt=0, description="Robust z-score an outlier must pass (both distances).")
    ambiguous_ratio: float = Field(0.7, gt=0, le=1.0, description="Runner-up / top probability to call ambiguous.")
    prompt: str = Field("a photo of a {label}", description="CLIP prompt template for the text check.")
    min_class_size: int = Field(3, ge=2, description="Classes smaller than this are not judged for mislabels.")
    crop_padding: float = Field(0.1, ge=0.0, le=1.0, description="Extra margin around shape crops (fraction of size).")
    min_crop: int = Field(8, ge=1, description="Shapes smaller than this (pixels) are skipped.")
    seed: int = Field(0, description="Seed of the fold split.")


# -- numerics (pure numpy / scikit-learn; used by the benchmark too) --------------------------
def reduce_dims(x: np.ndarray, max_dim: int = 256, seed: int = 0) -> np.ndarray:
    """PCA to ``max_dim`` (then re-normalised) when vectors are longer: faster, same neighbours."""
    n, d = x.shape
    if d <= max_dim or n <= max_dim:
        return x
    from sklearn.decomposition import PCA

    # Fitted on at most 20,000 rows and applied in blocks: memory stays a few copies of a block.
    rows = np.random.default_rng(seed).choice(n, min(n, 20_000), replace=False)
    pca = PCA(n_components=max_dim, svd_solver="randomized", random_state=seed).fit(x[np.sort(rows)])
    z = np.empty((n, max_dim), dtype=np.float32)
    for s in range(0, n, 8192):
        z[s : s + 8192] = pca.transform(x[s : s + 8192])
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    return z


def knn_blockwise(x: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k nearest neighbours of every row (itself excluded): ``(indices, similarities)``.

    Memory: one block of rows at a time, about ``2**24`` similarities (64 MB, with its negated
    copy and the int64 partition indices about 300 MB at any ``n``).
    """
    n = x.shape[0]
    k = min(k, n - 1)
    idx = np.zeros((n, max(k, 0)), dtype=np.int64)
    sim = np.zeros((n, max(k, 0)), dtype=np.float32)
    if k <= 0:
        return idx, sim
    block = max(1, min(block, (1 << 24) // max(n, 1)))
    for s in range(0, n, block):
        e = min(n, s + block)
        sims = x[s:e] @ x.T
        sims[np.arange(e - s), np.arange(s, e)] = -np.inf
        np.negative(sims, out=sims)
        part = np.argpartition(sims, k - 1, axis=1)[:, :k]
        np.negative(sims, out=sims)
        vals = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-vals, axis=1)
        idx[s:e] = np.take_along_axis(part, order, axis=1)
        sim[s:e] = np.take_along_axis(vals, order, axis=1)
    return idx, sim


def fold_ids(y: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Stratified fold number of each sample (classes spread evenly over folds)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rng.shuffle(members)
        out[members] = (np.arange(len(members)) + rng.integers(folds)) % folds
    return out


def knn_probabilities(nbr_idx: np.ndarray, nbr_sim: np.ndarray, y: np.ndarray, n_classes: int,
                      temperature: float = 0.05) -> np.ndarray:
    """Leave-one-out class probabilities from the neighbours' labels, similarity-weighted.

    A soft vote (weights ``exp(sim / temperature)``) with one pseudo-count spread over classes.
    """
    n, k = nbr_idx.shape
    w = np.exp((nbr_sim - nbr_sim[:, :1]) / temperature) if k else np.zeros((n, 0))
    p = np.full((n, n_classes), 1.0 / n_classes)
    rows = np.repeat(np.arange(n), k)
    np.add.at(p, (rows, y[nbr_idx].ravel()), w.ravel())
    return p / p.sum(axis=1, keepdims=True)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of ``y`` (calibration)."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        p = _softmax(logits / math.exp(log_t))
        return float(-np.log(np.maximum(p[rows, y], 1e-12)).mean())

    res = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return math.exp(float(res.x))


def logreg_oof_probabilities(x: np.ndarray, y: np.ndarray, n_classes: int, folds: int,
                             seed: int = 0, max_iter: int = 200) -> np.ndarray:
    """Out-of-fold logistic-regression probabilities, temperature-calibrated."""
    from sklearn.linear_model import LogisticRegression

    fid = fold_ids(y, folds, seed)
    scale = x.std(axis=0).mean() or 1.0
    xs = x / scale
    logits = np.full((len(y), n_classes), -30.0, dtype=np.float64)
    for f in range(folds):
        test = fid == f
        train = ~test
        if not test.any() or len(np.unique(y[train])) < 2:
            continue
        clf = LogisticRegression(C=1.0, max_iter=max_iter)
        clf.fit(xs[train], y[train])
        d = clf.decision_function(xs[test])
        d = d.reshape(len(d), -1) if len(clf.classes_) > 2 else np.stack([-d / 2, d / 2], axis=1)
        logits[np.ix_(np.flatnonzero(test), clf.classes_)] = d
    t = fit_temperature(logits, y)
    return _softmax(logits / t)


def robust_z(values: np.ndarray) -> np.ndarray:
    """Modified z-scores (median and MAD), Iglewicz and Hoaglin."""
    if len(values) == 0:
        return values
    med = np.median(values)
    mad = float(np.median(np.abs(values - med)))
    if mad > 1e-12:
        return 0.6745 * (values - med) / mad
    # More than half the values are equal: the mean absolute deviation form of the same score.
    mean_ad = float(np.mean(np.abs(values - med)))
    return (values - med) / max(1.253314 * mean_ad, 1e-12)


@dataclass
class LabelScores:
    """Per-sample results of :func:`score_labels`."""

    probs: np.ndarray  # (n, C) out-of-fold probabilities of the true class
    mislabel: np.ndarray  # (n,) P(given label wrong)
    suggested: np.ndarray  # (n,) most likely class
    ambiguity: np.ndarray  # (n,) runner-up / top probability
    runner_up: np.ndarray  # (n,) second most likely class
    outlier_z_all: np.ndarray  # (n,) robust z of the distance to the nearest neighbours
    outlier_z_class: np.ndarray  # (n,) robust z (within class) of the distance to the class centre
    judged: np.ndarray  # (n,) bool: class big enough to judge mislabels
    fix_prob: np.ndarray | None = None  # (n,) P(suggested class is the true one | x, given label)
    noisy_probs: np.ndarray | None = None  # (n, C) calibrated against the given labels
    notes: list[str] = field(default_factory=list)
    eps: float = 0.0  # the estimated share of wrong labels the scores assume


def estimate_noise(p_noisy: np.ndarray, y: np.ndarray, confident: float = 0.5) -> float:
    """Share of labels taken as wrong: disagreements among the most confident predictions.

    Flipping a label does not change the out-of-fold probabilities (the sample's own label is
    never used to predict it), so the share of given labels that disagree with the classifier's
    top class among its ``confident`` most confident samples estimates the noise rate, as long as
    the classifier is right on those. The share over *all* samples (the earlier estimate) also
    counts the classifier's own mistakes, came out about twice the true rate on the benchmarks,
    and pushed most flagged posteriors to 0.99 or more; see ``docs/checks.md``.
    """
    if len(y) == 0:
        return 0.01
    m = p_noisy.max(axis=1)
    sure = m >= np.quantile(m, 1.0 - confident)
    return float(np.clip((p_noisy[sure].argmax(axis=1) != y[sure]).mean(), 0.01, 0.5))


def isotonic_calibrate(p: np.ndarray, y: np.ndarray, fid: np.ndarray,
                       max_points: int = 2_000_000) -> np.ndarray:
    """Class probabilities recalibrated against the given labels, cross-fitted over folds.

    One monotone map, pooled over classes (one-vs-rest), from a probability to the frequency with
    which that class is the given label, fitted on the other folds (at most ``max_points``
    sample x class pairs) and applied to each fold; rows renormalised. Unlike one temperature,
    it corrects the tails, where a kNN vote or a logistic regression is overconfident.
    """
    from sklearn.isotonic import IsotonicRegression

    n, c = p.shape
    out = np.empty(p.shape, dtype=np.float64)
    rng = np.random.default_rng(0)
    for f in np.unique(fid):
        test = np.flatnonzero(fid == f)
        train = np.flatnonzero(fid != f)
        if len(train) * c > max_points:
            train = np.sort(rng.choice(train, max(1, max_points // c), replace=False))
        target = np.zeros((len(train), c))
        target[np.arange(len(train)), y[train]] = 1.0
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(p[train].ravel(), target.ravel())
        for s in range(0, len(test), 8192):
            rows = test[s : s + 8192]
            out[rows] = iso.predict(p[rows].ravel()).reshape(len(rows), c)
    out = np.maximum(out, 1e-6)
    return out / out.sum(axis=1, keepdims=True)


def wrong_label_posterior(p_noisy: np.ndarray, y: np.ndarray,
                          eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clean-label probabilities, P(given label wrong) and P(most likely class is the true one).

    ``p_noisy`` is calibrated against the (noisy) given labels. With a fraction ``eps`` of labels
    changed uniformly to another class, p_noisy = (1 - eps) p_true + eps / (C - 1) (1 - p_true);
    inverting gives p_true, and Bayes' rule the posterior over the true class given the image
    and its given label: ``P(t | x, y) ~ p_true[t] P(y | t)``. The third array is that
    posterior for the most likely clean class (0 where it is the given label): the chance that
    relabelling to it fixes the label.
    """
    n, c = p_noisy.shape
    off = eps / max(c - 1, 1)
    gain = 1.0 - eps - off
    p_true = np.clip((p_noisy - off) / max(gain, 1e-6), 0.0, None)
    p_true /= np.maximum(p_true.sum(axis=1, keepdims=True), 1e-12)
    rows = np.arange(n)
    pt = p_true[rows, y]
    wrong = off * (1.0 - pt)
    evidence = np.maximum(wrong + (1.0 - eps) * pt, 1e-12)
    top = p_true.argmax(axis=1)
    fix = np.where(top != y, off * p_true[rows, top] / evidence, 0.0)
    return p_true, wrong / evidence, fix


def score_labels(x: np.ndarray, y: np.ndarray, n_classes: int, k: int = 10, folds: int = 5,
                 classifier: str = "auto", min_class_size: int = 3, seed: int = 0) -> LabelScores:
    """Out-of-fold label probabilities and outlier distances for unit vectors ``x``, labels ``y``.

    BLAS runs single-threaded here: on a busy 2-core machine, small multi-threaded solves are
    many times slower than one thread.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _score_labels(x, y, n_classes, k, folds, classifier, min_class_size, seed)


def _score_labels(x: np.ndarray, y: np.ndarray, n_classes: int, k: int, folds: int,
                  classifier: str, min_class_size: int, seed: int) -> LabelScores:
    notes: list[str] = []
    n = len(y)
    x = reduce_dims(np.asarray(x, dtype=np.float32), seed=seed)
    nbr_idx, nbr_sim = knn_blockwise(x, k)
    counts = np.bincount(y, minlength=n_classes)
    judged = counts[y] >= min_class_size
    use_lr = classifier in ("both", "logreg") or (classifier == "auto" and n * n_classes <= 5_000_000)
    use_knn = classifier in ("both", "knn", "auto")
    if classifier == "auto" and not use_lr:
        notes.append("logistic regression skipped (images x classes too large): kNN only")
    probs: list[np.ndarray] = []
    if use_knn:
        probs.append(knn_probabilities(nbr_idx, nbr_sim, y, n_classes))
    if use_lr and len(np.unique(y)) >= 2:
        probs.append(logreg_oof_probabilities(x, y, n_classes, folds, seed))
    p = np.mean(probs, axis=0) if probs else np.full((n, n_classes), 1.0 / n_classes)
    # Calibration of the ensemble against the given labels (a temperature, then a cross-fitted
    # isotonic map for the tails), then the noise model.
    logp = np.log(np.maximum(p, 1e-12))
    p_noisy = _softmax(logp / fit_temperature(logp, y))
    p_noisy = isotonic_calibrate(p_noisy, y, fold_ids(y, folds, seed + 1))
    eps = estimate_noise(p_noisy, y)
    notes.append(f"estimated share of wrong labels: {eps:.1%}")
    p_true, mislabel, fix_prob = wrong_label_posterior(p_noisy, y, eps)
    rows = np.arange(n)
    order = np.argsort(-p_true, axis=1, kind="stable")  # ties: the first class, as argmax
    top, second = order[:, 0], order[:, 1] if n_classes > 1 else order[:, 0]
    ambiguity = p_true[rows, second] / np.maximum(p_true[rows, top], 1e-12)
    # Outliers: distance to the nearest neighbours, and to the own class centre.
    d_all = 1.0 - nbr_sim.mean(axis=1) if nbr_sim.shape[1] else np.zeros(n)
    z_all = robust_z(d_all)
    z_cls = np.zeros(n)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        if len(members) < min_class_size:
            continue
        centre = x[members].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        z_cls[members] = robust_z(1.0 - x[members] @ centre)
    return LabelScores(p_true, mislabel, top, ambiguity, second, z_all, z_cls, judged, fix_prob, p_noisy, notes,
                       eps)


def flag_mislabels(scores: LabelScores, y: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Boolean mask: judged, score at least ``threshold``, and another class most likely."""
    return scores.judged & (scores.mislabel >= threshold) & (scores.suggested != y)


def propose_relabels(scores: LabelScores, y: np.ndarray, threshold: float = 0.5,
                     fix_threshold: float = 0.8) -> np.ndarray:
    """Boolean mask of the flags sure enough to carry a relabel: P(suggestion true) >= ``fix_threshold``."""
    assert scores.fix_prob is not None
    return flag_mislabels(scores, y, threshold) & (scores.fix_prob >= fix_threshold)


def zero_shot_probabilities(img: np.ndarray, txt: np.ndarray, logit_scale: float = 100.0) -> np.ndarray:
    """CLIP zero-shot probabilities of each image over the class prompts."""
    return _softmax(logit_scale * (img @ txt.T))


def _p(p: float) -> str:
    """``p=...`` of a finding's detail: two decimals, three below 0.01 (``p=0.007``, not 0.00:
    the score weighs it in), ``p<0.001`` below that."""
    return f"p={p:.2f}" if p >= 0.01 else (f"p={p:.3f}" if p >= 0.001 else "p<0.001")


def _tail_score(z: float, cut: float) -> float:
    """0.5 at the cut-off, approaching 1 far beyond it."""
    return round(float(min(1.0, 1.0 - 0.5 * cut / max(z, cut))), 4)


# -- the plugin ----------------------------------------------------------------------------
@dataclass
class Target:
    """One labeled thing: a whole image or a shape of it."""

    item: Item
    label: str
    shape_index: int | None = None
    box: tuple[int, int, int, int] | None = None


def collect_targets(items: Sequence[tuple[Item, Annotation]], target: str, padding: float,
                    min_crop: int) -> tuple[list[Target], Counter[str]]:
    """Image labels (single-label images) and/or shape crops to judge; counts of what was skipped."""
    out: list[Target] = []
    skipped: Counter[str] = Counter()
    for item, ann in items:
        labels = ann.image_labels
        if target in ("auto", "image") and labels:
            if len(set(labels)) == 1:
                out.append(Target(item, labels[0]))
            else:
                skipped["multi-label image"] += 1
        if target not in ("auto", "shapes"):
            continue
        w, h = ann.imageWidth or 0, ann.imageHeight or 0
        for i, shape in enumerate(ann.shapes):
            if shape.review == "rejected" or shape.shape_type in ("point", "line", "linestrip", "points"):
                continue
            try:
                x1, y1, x2, y2 = shape.bbox()
            except ValueError:
                continue
            if x2 - x1 < min_crop or y2 - y1 < min_crop:
                skipped["tiny shape"] += 1
                continue
            px, py = (x2 - x1) * padding, (y2 - y1) * padding
            box = (int(max(0, x1 - px)), int(max(0, y1 - py)),
                   int(math.ceil(min(w or x2 + px, x2 + px))), int(math.ceil(min(h or y2 + py, y2 + py))))
            out.append(Target(item, shape.label, i, box))
    return out, skipped


def build_embedder(options: ClipOutliersOptions) -> Any:
    """The embedder ``options`` ask for (built once here, and once in each Ray worker)."""
    from labeler.embeddings import make_embedder

    o = options
    return make_embedder(
        o.embedder, o.checkpoint, o.clip_model, o.clip_pretrained, o.image_size, o.batch,
        o.allow_download,
    )


class ClipOutliers(Check):
    """Mislabels, outliers, ambiguous samples (and, with CLIP, prompt mismatches) from embeddings."""

    name = "clip_outliers"
    description = "Likely mislabels (with a suggested label), outliers and ambiguous samples, from image embeddings."
    Options = ClipOutliersOptions
    requires = ("torch", "timm", "sklearn")
    extra = "clip"
    scope: ClassVar[str] = "dataset"
    needs_image = False
    options: ClipOutliersOptions

    def __init__(self, options: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.embedder: Any = None
        self.notes: list[str] = []

    def setup(self) -> None:
        if self.embedder is None:
            self.embedder = build_embedder(self.options)
            self._built_from_options = True
            self.notes.append(f"embedder: {self.embedder.note}")
            import click

            click.echo(f"clip_outliers: {self.embedder.note}", err=True)

    def source(self) -> Source:
        model = self.embedder.model_id if self.embedder is not None else None
        return Source(plugin=self.name, model=model, model_version=__version__)

    def run(self, dataset: Dataset, items: Sequence[tuple[Item, Annotation]],
            progress: Progress) -> Iterator[Finding]:
        from labeler.embeddings import EmbeddingCache, EmbedRequest, EmbedTask, embed_requests

        o = self.options
        self.setup()
        targets, _skipped = collect_targets(items, o.target, o.crop_padding, o.min_crop)
        if len(targets) < 3:
            return
        cache = EmbeddingCache.for_dataset(dataset.root, self.embedder.model_id)
        reqs = [EmbedRequest(t.item.image_path, t.box) for t in targets]
        # The embedding runs on the run's engine (Ray workers under --engine ray, each building
        # its own embedder); the cache, the neighbours and the classifiers stay here.
        # An embedder given in code (no options to build it from) is sent to the workers as is.
        build = (functools.partial(build_embedder, o)
                 if getattr(self, "_built_from_options", False) else None)
        task = EmbedTask(self.embedder.model_id, build=build, embedder=self.embedder)
        result = embed_requests(self.embedder, reqs, cache, progress, o.batch, task=task,
                                mapper=self.map_batches)
        self.notes.append(f"{result.embedded} embedded, {result.cached} from cache, {result.seconds:.1f} s")
        reported: set[str] = set()
        for i, problem in result.failed.items():  # one line per image, even with many shapes
            if targets[i].item.rel not in reported:
                reported.add(targets[i].item.rel)
                self.skip_image(targets[i].item, problem.removeprefix(f"{targets[i].item.image_path}: "))
        keep = [i for i in range(len(targets)) if i not in result.failed]
        targets = [targets[i] for i in keep]
        x = result.vectors[keep]
        classes = sorted({t.label for t in targets})
        if len(classes) < 2:
            return
        cid = {c: i for i, c in enumerate(classes)}
        y = np.array([cid[t.label] for t in targets])
        s = score_labels(x, y, len(classes), o.k, o.folds, o.classifier, o.min_class_size, o.seed)
        self.notes.extend(s.notes)
        flagged = flag_mislabels(s, y, o.threshold)
        prompt_p = None
        if self.embedder.supports_text:
            txt = self.embedder.embed_texts([o.prompt.format(label=c) for c in classes])
            prompt_p = zero_shot_probabilities(x, txt)
        for i, t in enumerate(targets):
            yield from self._findings(i, t, y[i], s, flagged[i], prompt_p, classes, o)

    def _findings(self, i: int, t: Target, yi: int, s: LabelScores, is_mislabel: bool,
                  prompt_p: np.ndarray | None, classes: list[str], o: ClipOutliersOptions) -> Iterator[Finding]:
        what = f"shape {t.shape_index} ({t.label!r})" if t.shape_index is not None else f"label {t.label!r}"

        def issue(kind: str, score: float, detail: str, fix: dict[str, Any] | None = None) -> Finding:
            if fix is not None and t.shape_index is not None:
                fix["shape_index"] = t.shape_index
            return Finding(t.item.rel, Issue(kind=kind, score=round(float(score), 4), detail=detail,
                                             suggested_fix=fix, shape_index=t.shape_index))

        sug = classes[int(s.suggested[i])]
        p_given, p_sug = float(s.probs[i, yi]), float(s.probs[i, s.suggested[i]])
        if is_mislabel:
            p_fix = float(s.fix_prob[i]) if s.fix_prob is not None else 0.0
            # the score is P(wrong), not 1 - p: the noise model weighs in that most labels are
            # right (a p of 0.00 can give a score of 0.76); the detail says both, and eps
            detail = (f"{what} looks like {sug!r} ({_p(p_sug)}) rather than {t.label!r} ({_p(p_given)}); "
                      f"P(label wrong)={float(s.mislabel[i]):.2f} with {s.eps:.0%} of labels estimated wrong, "
                      f"P({sug!r} is right)={p_fix:.2f}")
            if p_fix >= o.fix_threshold:
                yield issue("mislabel", s.mislabel[i], detail, {"action": "relabel", "label": sug, "from": t.label})
            else:  # not sure enough to relabel unattended: a person decides
                yield issue("mislabel", s.mislabel[i], f"{detail}, below {o.fix_threshold:g}: no relabel proposed")
        elif s.judged[i] and s.ambiguity[i] >= o.ambiguous_ratio and yi in (s.suggested[i], s.runner_up[i]):
            other = classes[int(s.runner_up[i] if s.suggested[i] == yi else s.suggested[i])]
            yield issue("ambiguous", s.ambiguity[i],
                        f"{what}: {t.label!r} and {other!r} nearly tied "
                        f"(p={p_given:.2f} vs {float(s.probs[i, classes.index(other)]):.2f})")
        za, zc = float(s.outlier_z_all[i]), float(s.outlier_z_class[i])
        if za >= o.outlier_z and zc >= o.outlier_z:
            yield issue("outlier", _tail_score(min(za, zc), o.outlier_z),
                        f"{what} is far from its class and from everything (robust z {zc:.1f} and {za:.1f})")
        if prompt_p is not None:
            pz = prompt_p[i]
            best = int(pz.argmax())
            if best != yi and 1.0 - pz[yi] >= o.threshold:
                yield issue("prompt_mismatch", 1.0 - float(pz[yi]),
                            f"{what}: CLIP matches the prompt for {classes[best]!r} (p={pz[best]:.2f}), "
                            f"not {t.label!r} (p={pz[yi]:.2f})",
                            {"action": "relabel", "label": classes[best], "from": t.label})


@hookimpl
def register_checks(register: Any) -> None:
    register(ClipOutliers)
