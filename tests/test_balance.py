"""labeler.balance: class weights, and `labeler export --class-weights`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from labeler.balance import (
    class_weights_document,
    effective_number_weights,
    inverse_frequency_weights,
)
from labeler.cli import cli
from tests.conftest import SAMPLE


def test_inverse_frequency() -> None:
    w = inverse_frequency_weights({"a": 10, "b": 30, "c": 0})
    assert w["a"] == pytest.approx(40 / (2 * 10)) and w["b"] == pytest.approx(40 / (2 * 30))
    assert w["c"] == 0.0
    assert inverse_frequency_weights({"a": 5, "b": 5}) == {"a": 1.0, "b": 1.0}


def test_effective_number_follows_cui_et_al() -> None:
    counts = {"a": 10, "b": 1000}
    beta = 0.99
    w = effective_number_weights(counts, beta)
    raw = {c: (1 - beta) / (1 - beta**n) for c, n in counts.items()}
    assert w["a"] / w["b"] == pytest.approx(raw["a"] / raw["b"])
    assert sum(w.values()) == pytest.approx(2.0)
    # beta -> 0: equal weights; beta -> 1: inverse frequency ratios.
    assert effective_number_weights(counts, 0.0) == pytest.approx({"a": 1.0, "b": 1.0})
    near = effective_number_weights(counts, 0.999999)
    assert near["a"] / near["b"] == pytest.approx(100, rel=1e-2)
    with pytest.raises(ValueError):
        effective_number_weights(counts, 1.0)


def test_document_keeps_class_id_order() -> None:
    doc = class_weights_document({"b": 2, "a": 6}, classes=["b", "a", "z"])
    assert doc["classes"] == ["b", "a", "z"] and doc["counts"] == {"b": 2, "a": 6, "z": 0}
    assert doc["inverse_frequency"]["z"] == 0.0 and math.isclose(doc["inverse_frequency"]["b"], 2.0)


def test_export_writes_class_weights_for_the_train_split(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["export", str(SAMPLE / "sketches"), "--to", "imagefolder", "--out", str(out),
                                   "--split", "0.75,0.25", "--class-weights"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "class_weights.json").read_text())
    assert doc["counted_on"] == "train split" and len(doc["classes"]) == 10
    train_files = len(list((out / "train").rglob("*.png")))
    assert sum(doc["counts"].values()) == train_files
    assert set(doc["effective_number"]) == set(doc["classes"])
    # Without the flag, no file.
    out2 = tmp_path / "out2"
    CliRunner().invoke(cli, ["export", str(SAMPLE / "sketches"), "--to", "imagefolder", "--out", str(out2)])
    assert not (out2 / "class_weights.json").exists()


def test_class_weights_count_what_the_format_exports(tmp_path: Path) -> None:
    """Image labels do not count for a detection format (and nothing counted: no file)."""
    out = tmp_path / "yolo"
    res = CliRunner().invoke(cli, ["export", str(SAMPLE / "sketches"), "--to", "yolo", "--out", str(out),
                                   "--class-weights"])
    assert res.exit_code == 0, res.output
    assert not (out / "class_weights.json").exists()
    assert "class weights not written: no shapes exported" in res.output
    out = tmp_path / "scenes"
    res = CliRunner().invoke(cli, ["export", str(SAMPLE / "scenes"), "--to", "coco", "--out", str(out),
                                   "--class-weights"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "class_weights.json").read_text())
    coco = json.loads(next(p for p in out.rglob("*.json") if p.name != "class_weights.json").read_text())
    assert sum(doc["counts"].values()) == len(coco["annotations"])
