"""OCR formats: ICDAR 2015, UFO-style JSON and PaddleOCR labels; parsing edge cases, round
trips through import and export, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import labeler_plugins.ocr_formats as ocr_formats
import pytest
from click.testing import CliRunner
from PIL import Image

from labeler import plugins
from labeler.cli import cli
from labeler.dataset import open_dataset
from labeler.exporting import ExportOptions, run_export, run_import
from labeler.formats.icdar import format_line, parse_gt
from labeler.formats.paddleocr import parse_line
from labeler.plugin_api import Report
from tests.conftest import SAMPLE

RECEIPTS = SAMPLE / "receipts"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(plugins.ENV_VAR, "")
    plugins.reset()
    plugins.register_plugin(ocr_formats, "ocr_formats")
    yield
    plugins.unregister_plugin("ocr_formats")
    plugins.reset()


def regions(root: Path) -> dict[str, list[tuple[str, list[list[int]], bool]]]:
    """image rel -> [(text, integer points, illegible)] of a labeler dataset."""
    out = {}
    for item, ann in open_dataset(root).annotations():
        out[Path(item.rel).name] = [
            (s.text or "", [[round(x), round(y)] for x, y in s.points], bool((s.flags or {}).get("illegible")))
            for s in ann.shapes
        ]
    return out


# -- parsing ------------------------------------------------------------------------------------
def test_icdar_lines_with_commas_bom_and_bad_lines() -> None:
    report = Report()
    text = "\ufeff1,2,30,2,30,12,1,12,Hello, world\n377,117,463,117,465,130,378,130,###\nbad line\n"
    shapes = parse_gt(text, "gt_x.txt", report)
    assert [s.text for s in shapes] == ["Hello, world", "###"]
    assert shapes[0].points == [(1, 2), (30, 2), (30, 12), (1, 12)]
    assert report.problems == ["gt_x.txt:3: expected x1,y1,...,x4,y4,transcription"]
    assert format_line(shapes[0].points, "Hello, world") == "1,2,30,2,30,12,1,12,Hello, world"


def test_paddle_line() -> None:
    line = 'imgs/a.jpg\t[{"transcription": "ab", "points": [[1, 2], [3, 2], [3, 4], [1, 4]], "difficult": false}]'
    path, regs = parse_line(line)  # type: ignore[misc]
    assert path == "imgs/a.jpg" and regs[0]["transcription"] == "ab"
    assert parse_line("no tab here") is None


# -- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["icdar2015", "ufo", "paddleocr"])
def test_sample_receipts_round_trip(tmp_path: Path, fmt: str, registry: None) -> None:
    reg = plugins.get_registry()
    exporter = reg.get("exporters", fmt)()
    report = run_export(open_dataset(RECEIPTS), exporter, tmp_path / "out", ExportOptions())
    assert report.counts["exported images"] == 15, report
    back = run_import(reg.get("importers", fmt)(), tmp_path / "out", tmp_path / "back")
    assert back.counts["images"] == 15 and not back.problems, back
    # Compare with the sample, skipping regions the format cannot hold as they are.
    orig, got = regions(RECEIPTS), regions(tmp_path / "back")
    sizes = {Path(item.rel).name: (ann.imageWidth, ann.imageHeight) for item, ann in open_dataset(RECEIPTS).annotations()}
    for name, shapes in orig.items():
        w, h = sizes[name]

        def inside(p: list[list[int]], w: int = w, h: int = h) -> list[list[int]]:
            # ICDAR and PaddleOCR exports clip regions to the image (reported); UFO keeps them
            return p if fmt == "ufo" else [[min(max(x, 0), w - 1), min(max(y, 0), h - 1)] for x, y in p]

        want = [
            (t or "###", inside(p), ill)
            for t, p, ill in shapes
            if len(p) == 4
        ]
        have = [(t, p, ill) for t, p, ill in got[name] if len(p) == 4]
        if fmt != "ufo":  # ICDAR and PaddleOCR write empty transcriptions as ###
            want = [(t if t.strip() else "###", p, ill) for t, p, ill in want]
        assert [w[:2] for w in want] == [h[:2] for h in have], name


def test_ufo_keeps_word_attributes_and_illegibility(tmp_path: Path, registry: None) -> None:
    src = tmp_path / "ufo"
    (src / "images").mkdir(parents=True)
    Image.new("RGB", (100, 50), "white").save(src / "images" / "a.jpg")
    word = {"points": [[1, 1], [40, 1], [40, 10], [20, 12], [1, 10]], "transcription": "smudge",
            "illegibility": True, "language": ["en"], "orientation": "Horizontal", "tags": ["x"]}  # fmt: skip
    (src / "ufo.json").write_text(json.dumps({"images": {"a.jpg": {"img_w": 100, "img_h": 50, "words": {"0007": word}, "tags": ["receipt"]}}}))
    run = CliRunner().invoke
    res = run(cli, ["import", str(src), "--from", "ufo", "--out", str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "ds" / "a.json").read_text())
    shape = doc["shapes"][0]
    assert shape["flags"] == {"illegible": True} and shape["labeler"]["text"] == "smudge"
    assert len(shape["points"]) == 5
    res = run(cli, ["export", str(tmp_path / "ds"), "--to", "ufo", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "out" / "ufo.json").read_text())["images"]["a.jpg"]
    assert out["tags"] == ["receipt"]
    assert out["words"]["0007"] == {**word, "confidence": None}
    # ICDAR has no illegible flag: the region becomes ###, a 5-point polygon its min-area quad.
    res = run(cli, ["export", str(tmp_path / "ds"), "--to", "icdar2015", "--out", str(tmp_path / "ic")])
    assert res.exit_code == 0, res.output
    line = (tmp_path / "ic" / "gt" / "gt_a.txt").read_text().strip()
    assert line.endswith(",###") and line.count(",") == 8


def test_paddle_import_reports_missing_images_and_bad_lines(tmp_path: Path) -> None:
    src = tmp_path / "p"
    (src / "imgs").mkdir(parents=True)
    Image.new("RGB", (20, 20), "white").save(src / "imgs" / "a.png")
    ok = json.dumps([{"transcription": "x", "points": [[1, 1], [9, 1], [9, 5], [1, 5]]}])
    (src / "Label.txt").write_text(f"imgs/a.png\t{ok}\nimgs/missing.png\t[]\nimgs/a.png\tnot json\n")
    (src / "README.txt").write_text("just notes\n")
    report = Report()
    items = list(ocr_formats.PaddleImporter().read(src, report))
    assert [i.rel for i in items] == ["imgs/a.png"]
    assert items[0].annotation.shapes[0].text == "x"
    assert any("missing.png" in p for p in report.problems)
    assert any(":3:" in p for p in report.problems)


def test_ufo_image_names_cannot_leave_the_source(tmp_path: Path) -> None:
    """A hostile image name in a UFO file is refused; nothing outside the source is read."""
    from labeler.formats.ufo import load_ufo

    outside = tmp_path / "secret.png"
    Image.new("RGB", (20, 10)).save(outside)
    src = tmp_path / "src"
    src.mkdir()
    (src / "ufo.json").write_text(json.dumps({"images": {"../secret.png": {"words": {}}}}))
    report = Report()
    assert list(load_ufo(src, report)) == []
    assert any("outside" in p for p in report.problems), report.problems


def test_a_degenerate_region_is_named_as_such(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["export", str(SAMPLE / "receipts"), "--to", "icdar2015", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "1 polygon shape(s) with fewer than 3 points not exported" in res.output  # receipt_02's broken box
    # the planted noise is reported, and nothing lands outside the image
    assert "2 regions clipped to the image" in res.output
    assert "1 crossed quads written as they are" in res.output and "1 counter-clockwise quads" in res.output
    lines = [ln for p in (tmp_path / "o").rglob("gt_*.txt") for ln in p.read_text(encoding="utf-8").splitlines()]
    assert lines and all(int(v) >= 0 for ln in lines for v in ln.split(",")[:8])
