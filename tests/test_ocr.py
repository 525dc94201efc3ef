"""The ocr autolabeler and the shared OCR engine helpers (CER, crops, quads); the models run
in the slow tests only."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import labeler_plugins.ocr as ocr
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from labeler import plugins
from labeler.cli import cli
from labeler.model import Source
from labeler.ocr_engine import (
    OcrLine,
    char_error_rate,
    crop_quad,
    get_engine,
    normalize_text,
    order_clockwise,
    polygon_to_quad,
    quad_size,
)
from labeler.predictions import box_iou
from tests.conftest import SAMPLE

RECEIPTS = SAMPLE / "receipts"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(plugins.ENV_VAR, "")
    plugins.reset()
    plugins.register_plugin(ocr, "ocr")
    yield
    plugins.unregister_plugin("ocr")
    plugins.reset()


def test_char_error_rate() -> None:
    assert char_error_rate("total", "total") == 0
    assert char_error_rate("total", "tota1") == pytest.approx(0.2)
    assert char_error_rate("", "") == 0 and char_error_rate("", "x") == 1
    assert char_error_rate("ab", "") == 1
    assert normalize_text("Green Tea ") == normalize_text("greentea")


def test_quads() -> None:
    quad = np.array([[10, 5], [50, 5], [50, 15], [10, 15]], dtype=np.float32)
    shuffled = quad[[2, 0, 3, 1]]
    assert np.array_equal(order_clockwise(shuffled), quad)
    assert quad_size(quad) == (40.0, 10.0)
    poly = [(10, 5), (30, 4), (50, 5), (50, 15), (30, 16), (10, 15)]
    q = polygon_to_quad(poly)
    assert q.shape == (4, 2) and np.allclose(q[0], (10, 4), atol=1.5)


def test_crop_quad_reads_along_the_first_edge() -> None:
    img = np.zeros((30, 40, 3), dtype=np.uint8)
    img[5:10, 5:35] = 255  # a bright bar
    flat = crop_quad(img, [(5, 5), (35, 5), (35, 10), (5, 10)])
    assert flat is not None and flat.shape[:2] == (5, 30)
    # The same bar read from its bottom-right corner (upside down) is 180 degrees turned.
    turned = crop_quad(img, [(35, 10), (5, 10), (5, 5), (35, 5)])
    assert turned is not None and turned.shape[:2] == (5, 30)
    assert crop_quad(img, [(1, 1), (1, 1), (1, 1), (1, 1)]) is None


def test_lines_become_text_polygons_with_scores() -> None:
    lines = [
        OcrLine(np.array([[1, 2], [30, 2], [30, 12], [1, 12]], np.float32), "TOTAL", 0.97),
        OcrLine(np.array([[1, 20], [30, 20], [30, 30], [1, 30]], np.float32), "9.99", 0.8),
    ]
    preds = ocr.lines_to_predictions(lines)
    assert len(preds) == 2 and preds.texts == ["TOTAL", "9.99"]
    shapes = preds.to_shapes(Source(plugin="ocr"), prefer="polygon")
    assert [s.shape_type for s in shapes] == ["polygon", "polygon"]
    assert shapes[0].text == "TOTAL" and shapes[0].score == pytest.approx(0.97)
    assert shapes[0].is_suggestion and shapes[0].label == "text"
    assert len(ocr.lines_to_predictions([])) == 0


@pytest.mark.slow
def test_engine_is_shared() -> None:
    assert get_engine() is get_engine()


@pytest.mark.slow
def test_autolabel_cli_finds_the_text_of_a_receipt(tmp_path: Path, registry: None) -> None:
    root = tmp_path / "r"
    root.mkdir()
    shutil.copy2(RECEIPTS / "receipt_01.jpg", root)
    truth = json.loads((RECEIPTS / "receipt_01.json").read_text())["shapes"]
    res = CliRunner().invoke(cli, ["autolabel", str(root), "--plugin", "ocr", "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads((root / "receipt_01.json").read_text())
    got = doc["shapes"]
    assert all(s["labeler"]["review"] == "suggested" and 0 < s["labeler"]["score"] <= 1 for s in got)
    assert all(s["labeler"]["source"]["plugin"] == "ocr" for s in got)

    def bbox(s: dict) -> tuple[float, float, float, float]:
        xs, ys = [p[0] for p in s["points"]], [p[1] for p in s["points"]]
        return min(xs), min(ys), max(xs), max(ys)

    matched, good_text = 0, 0
    for t in truth:
        best = max(got, key=lambda g: box_iou(bbox(t), bbox(g)))
        if box_iou(bbox(t), bbox(best)) >= 0.5:
            matched += 1
            cer = char_error_rate(normalize_text(t["labeler"]["text"]), normalize_text(best["labeler"]["text"]))
            good_text += cer <= 0.2
    assert matched >= 0.9 * len(truth)
    assert good_text >= 0.85 * len(truth)
    # A rerun with the same settings is skipped (resume).
    res = CliRunner().invoke(cli, ["autolabel", str(root), "--plugin", "ocr", "--no-progress", "--json"])
    assert json.loads(res.output)["already_done"] == 1


@pytest.mark.slow
def test_upside_down_lines_start_at_the_texts_top_left() -> None:
    """Quads run along the top of the text in reading direction, also on a page turned 180."""
    img = np.asarray(Image.open(RECEIPTS / "receipt_01.jpg").convert("RGB"))
    engine = get_engine()
    upright = engine.read(img)
    turned = engine.read(np.ascontiguousarray(img[::-1, ::-1]))
    assert len(upright) >= 20 and len(turned) >= 20
    assert all(line.quad[1][0] > line.quad[0][0] for line in upright)  # p0->p1 runs right
    assert all(line.quad[1][0] < line.quad[0][0] for line in turned)  # ... and left when turned
    h, w = img.shape[:2]
    first = min(upright, key=lambda line: line.quad[0][1])  # the top line: the shop's name
    twin = min(turned, key=lambda line: np.abs(line.quad[0] - (w - first.quad[0][0], h - first.quad[0][1])).sum())
    assert twin.text == first.text
    assert np.allclose(twin.quad[0], (w, h) - first.quad[0], atol=6)
