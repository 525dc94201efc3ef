"""Hostile label files and COCO sources: each is refused with the file name, skipped, and
every other image goes on; ``labeler validate`` reports what later commands would choke on."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import labeler
from labeler.cli import cli
from labeler.errors import LabelFileReadError
from labeler.io.labelfile import MAX_JSON_DEPTH, load_annotation, save_annotation
from labeler.masks import MAX_MASK_PIXELS, decode_mask_png, encode_mask_png
from labeler.model import Annotation, Issue, Shape
from labeler.pipeline import run_autolabel, run_check
from labeler.plugin_api import Autolabeler, Check
from labeler.predictions import Predictions
from tests.conftest import labelme_json, make_image, rect, snapshot, write_json

SIZE = (40, 30)


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int) -> str:
    """A real 1-bit all-black PNG of ``width`` x ``height`` (a few KiB for millions of
    pixels), built row by row so that the test itself never holds the pixels."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    return base64.b64encode(png).decode("ascii")


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def base_text(extra_shapes: list[dict] | None = None, **extra: object) -> str:
    doc = labelme_json("hostile.jpg", SIZE, [rect("cat", 1, 1, 20, 20), *(extra_shapes or [])], **extra)
    return json.dumps(doc)


def mask_shape(points: list[list[float]], b64: str) -> dict:
    return {"label": "blob", "points": points, "shape_type": "mask", "mask": b64, "flags": {},
            "group_id": None, "description": ""}


def _replace(old: str, new: str, **kw: object) -> Callable[[], str]:
    def make() -> str:
        text = base_text(**kw)  # type: ignore[arg-type]
        assert old in text
        return text.replace(old, new, 1)

    return make


#: name -> (JSON text of the label file, what the error must say)
HOSTILE: dict[str, tuple[Callable[[], str], str]] = {
    "int_5000_digits": (_replace('"imageHeight": 30', '"imageHeight": ' + "7" * 5000), "5000 digits"),
    "int_5000_digits_in_flags": (_replace('"flags": {}', '"flags": {"n": ' + "9" * 5000 + "}"), "5000 digits"),
    "deep_in_flags": (_replace('"flags": {}', '"flags": {"x": ' + deep(900) + "}"), "flags.x[0]"),
    "deep_in_unknown_key": (lambda: base_text(extra_key=None).replace('"extra_key": null', '"extra_key": ' + deep(900)), "extra_key[0]"),
    "deep_in_points": (_replace("[1, 1]", deep(900)), "shapes[0].points[0]"),
    "deeper_than_the_parser": (_replace('"flags": {}', '"flags": {"x": ' + deep(5000) + "}"), "nested"),
    "surrogate_in_label": (_replace('"label": "cat"', '"label": "c\\ud800t"'), "shapes[0].label"),
    "surrogate_in_flag_name": (_replace('"flags": {}', '"flags": {"\\udfff": true}'), "flags."),
    "surrogate_in_image_path": (_replace('"imagePath": "hostile.jpg"', '"imagePath": "\\ud83d.jpg"'), "imagePath"),
    "nan_in_points": (_replace("[1, 1]", "[NaN, 1]"), "shapes[0].points"),
    "infinity_in_points": (_replace("[20, 20]", "[20, Infinity]"), "finite"),
    "overflowing_float_in_points": (_replace("[20, 20]", "[1e400, 20]"), "finite"),
    "nan_in_rejected_points": (
        lambda: base_text(labeler={"rejected": [{"label": "cat", "points": [[3, 3], [4, 4]]}]}).replace(
            "[3, 3]", "[-Infinity, 3]"), "labeler.rejected[0].points"),
    "mask_bomb": (lambda: base_text([mask_shape([[0, 0], [19999, 19999]], bomb_png(20000, 20000))]), "pixel limit"),
    "mask_larger_than_image": (lambda: base_text([mask_shape([[0, 0], [399, 299]], bomb_png(400, 300))]), "larger than the 40x30 image"),
    "mask_box_mismatch": (
        lambda: base_text([mask_shape([[2, 2], [5, 5]], encode_mask_png(np.ones((20, 30), bool)))]), "shape's box"),
}


def write_hostile(path: Path, name: str) -> str:
    make, expected = HOSTILE[name]
    path.write_text(make(), encoding="ascii")  # every case is plain ASCII JSON text
    return expected


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_load_refuses_with_the_file_and_problem(tmp_path: Path, name: str) -> None:
    path = tmp_path / "hostile.json"
    expected = write_hostile(path, name)
    with pytest.raises(LabelFileReadError) as exc:
        load_annotation(path)
    assert exc.value.path == path
    assert str(path) in str(exc.value)
    assert expected in exc.value.problem


def test_surrogate_message_says_why() -> None:
    # The whole sentence: which field, and that the file could not be written back.
    from labeler.io.labelfile import parse_json_bytes

    with pytest.raises(ValueError) as exc:
        parse_json_bytes(b'{"shapes": [{"label": "\\ud800"}]}')
    assert str(exc.value) == (
        "shapes[0].label: text holds a lone surrogate escape (such as \\ud800), "
        "which cannot be written as UTF-8"
    )


def test_surrogate_pairs_and_non_ascii_text_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text(base_text().replace('"label": "cat"', '"label": "\\ud83d\\ude00 caf\\u00e9 \\u732b"'), encoding="ascii")
    ann = load_annotation(path)
    assert ann.shapes[0].label == "\U0001f600 café 猫"
    save_annotation(ann, path)
    assert load_annotation(path).shapes[0].label == "\U0001f600 café 猫"


def test_nesting_up_to_the_limit_is_kept_and_written_back(tmp_path: Path) -> None:
    # flags -> x -> lists: MAX_JSON_DEPTH levels in all, the deepest a file may have.
    path = tmp_path / "ok.json"
    path.write_text(base_text().replace('"flags": {}', '"flags": {"x": ' + deep(MAX_JSON_DEPTH - 2) + "}", 1), encoding="ascii")
    ann = load_annotation(path)
    save_annotation(ann, path)
    assert json.loads(path.read_text())["flags"]["x"] == json.loads(deep(MAX_JSON_DEPTH - 2))
    path.write_text(base_text().replace('"flags": {}', '"flags": {"x": ' + deep(MAX_JSON_DEPTH) + "}", 1), encoding="ascii")
    with pytest.raises(LabelFileReadError, match="nested more than"):
        load_annotation(path)


def test_a_lone_surrogate_set_in_memory_is_a_write_error_and_the_old_file_stays(tmp_path: Path) -> None:
    path = write_json(tmp_path / "a.json", labelme_json("a.jpg", SIZE, [rect("cat", 1, 1, 5, 5)]))
    before = path.read_bytes()
    ann = load_annotation(path)
    ann.shapes[0].label = "\udc80"
    with pytest.raises(labeler.LabelFileWriteError, match="UTF-8 cannot encode"):
        save_annotation(ann, path)
    assert path.read_bytes() == before


def test_mask_decoding_refuses_gigantic_pngs_before_decoding() -> None:
    with pytest.raises(ValueError, match="pixel limit"):
        decode_mask_png(bomb_png(20000, 20000))
    with pytest.raises(ValueError, match="pixel limit"):
        decode_mask_png(bomb_png(300, 200), max_pixels=300 * 200 - 1)
    assert decode_mask_png(bomb_png(300, 200)).shape == (200, 300)
    assert MAX_MASK_PIXELS < 20000 * 20000


def test_mask_that_is_not_png_is_not_decoded_as_another_format() -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (4, 4), 255).save(buf, format="BMP")
    with pytest.raises(ValueError, match="mask is not a PNG image"):
        decode_mask_png(base64.b64encode(buf.getvalue()).decode())
    png = base64.b64decode(bomb_png(30, 20))
    with pytest.raises(OSError, match="truncated"):
        decode_mask_png(base64.b64encode(png[:45]).decode())
    broken_header = png[:16] + b"\xff" * 8 + png[24:]  # IHDR no longer matches its CRC
    with pytest.raises(ValueError, match="not a valid PNG"):
        decode_mask_png(base64.b64encode(broken_header).decode())


def test_mask_within_one_pixel_of_its_box_is_accepted() -> None:
    # labelme writes the crop mask[y1:y2+1, x1:x2+1]; some tools leave out the last pixel.
    crop = encode_mask_png(np.ones((4, 6), bool))
    for points in ([(3.0, 2.0), (8.0, 5.0)], [(3.0, 2.0), (9.0, 6.0)], [(3.4, 2.6), (8.2, 5.9)]):
        assert Shape(label="m", shape_type="mask", points=points, mask=crop).mask == crop
    with pytest.raises(ValueError, match="shape's box"):
        Shape(label="m", shape_type="mask", points=[(3.0, 2.0), (12.0, 5.0)], mask=crop)
    with pytest.raises(ValueError, match="larger than the 4x4 image"):
        Annotation(imageWidth=4, imageHeight=4,
                   shapes=[Shape(label="m", shape_type="mask", points=[(0.0, 0.0), (5.0, 3.0)], mask=crop)])


# -- whole folders: the hostile file is reported, the others go on ---------------------------
def hostile_folder(root: Path) -> dict[str, str]:
    """good.jpg plus one image per hostile case; returns {label file name: expected text}."""
    make_image(root / "good.jpg", SIZE)
    write_json(root / "good.json", labelme_json("good.jpg", SIZE, [rect("cat", 1, 1, 20, 20)]))
    make_image(root / "unlabeled.jpg", SIZE)
    expected = {}
    for name in sorted(HOSTILE):
        make_image(root / f"{name}.jpg", SIZE)
        expected[f"{name}.json"] = write_hostile(root / f"{name}.json", name)
    return expected


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("hostile") / "ds"
    return root, hostile_folder(root)


def _fresh(folder: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(folder[0], root)
    return root, folder[1]


def test_validate_reports_each_hostile_file_and_changes_nothing(folder, tmp_path: Path) -> None:
    root, expected = _fresh(folder, tmp_path)
    before = snapshot(root)
    res = run("validate", str(root), "--json")
    assert res.exit_code == 1, res.output
    report = json.loads(res.output)
    for file_name, what in expected.items():
        assert any(str(root / file_name) in e and what in e for e in report["errors"]), (file_name, what)
    assert len(report["errors"]) == len(expected)
    assert not any("good" in e or "unlabeled" in e for e in report["errors"] + report["warnings"])
    assert snapshot(root) == before


class Corner(Autolabeler):
    """Suggests the brightest 10x10 corner of the image (real pixel statistics)."""

    name = "corner"

    def predict(self, batch):
        out = []
        for s in batch:
            a = np.asarray(s.image.convert("L"), dtype=float)
            h, w = a.shape
            corners = {(0, 0): a[:10, :10], (w - 10, 0): a[:10, -10:], (0, h - 10): a[-10:, :10],
                       (w - 10, h - 10): a[-10:, -10:]}
            (x, y), q = max(corners.items(), key=lambda kv: kv[1].mean())
            out.append(Predictions(xyxy=[[x, y, x + 10, y + 10]], class_name=["bright"], confidence=[q.mean() / 255]))
        return out


def test_autolabel_reports_hostile_files_and_labels_the_others(folder, tmp_path: Path) -> None:
    root, expected = _fresh(folder, tmp_path)
    hostile_before = {n: (root / n).read_bytes() for n in expected}
    summary = run_autolabel(labeler.open_dataset(root), Corner())
    failed = "\n".join(summary.failed)
    for file_name, what in expected.items():
        assert any(str(root / file_name) in f and what in f for f in summary.failed), (file_name, failed)
    assert len(summary.failed) == len(expected)
    assert summary.processed == 2  # good.jpg and unlabeled.jpg
    for name in ("good.json", "unlabeled.json"):
        ann = load_annotation(root / name)
        assert [s.label for s in ann.suggestions] == ["bright"]
    assert {n: (root / n).read_bytes() for n in expected} == hostile_before


class Bright(Check):
    """Flags images whose mean brightness is over a threshold (real pixel statistics)."""

    name = "bright"

    def check_sample(self, sample):
        mean = float(np.asarray(sample.image.convert("L")).mean())
        return [Issue(kind="bright", detail=f"mean {mean:.0f}")] if mean > 10 else []


def test_check_reports_hostile_files_and_checks_the_others(folder, tmp_path: Path) -> None:
    root, expected = _fresh(folder, tmp_path)
    hostile_before = {n: (root / n).read_bytes() for n in expected}
    summary, findings = run_check(labeler.open_dataset(root), Bright())
    for file_name, what in expected.items():
        assert any(str(root / file_name) in f and what in f for f in summary.failed), file_name
    assert summary.processed == 2
    assert sorted(f.rel for f in findings) == ["good.jpg", "unlabeled.jpg"]
    assert [i.kind for i in load_annotation(root / "good.json").meta.issues] == ["bright"]
    assert {n: (root / n).read_bytes() for n in expected} == hostile_before


@pytest.mark.parametrize("fmt", ["coco", "yolo-seg", "labelme"])
def test_export_skips_hostile_files_and_exports_the_others(folder, tmp_path: Path, fmt: str) -> None:
    root, expected = _fresh(folder, tmp_path)
    out = tmp_path / "out"
    res = run("export", str(root), "--to", fmt, "--out", str(out))
    assert "Traceback" not in res.output
    for file_name in expected:
        assert file_name in res.output, (file_name, res.output)
    exported = {p.stem for p in out.rglob("*") if p.suffix in (".jpg", ".json", ".txt")}
    assert "good" in exported
    assert not exported & {Path(n).stem for n in expected}


# -- COCO sources -----------------------------------------------------------------------------
def coco_text(annotations: str) -> str:
    return (
        '{"images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}], '
        '"categories": [{"id": 1, "name": "cat"}], "annotations": [' + annotations + "]}"
    )


def test_coco_import_skips_non_finite_and_negative_boxes_per_annotation(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    make_image(src / "a.jpg", SIZE)
    anns = [
        '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [NaN, 1, 5, 5]}',
        '{"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, Infinity, 5]}',
        '{"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, -Infinity, 5, 5]}',
        '{"id": 4, "image_id": 1, "category_id": 1, "bbox": [10, 10, -5, 4]}',
        '{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1e400, 1, 5, 5]}',
        '{"id": 6, "image_id": 1, "category_id": 1, "bbox": [' + "1" * 400 + ', 1, 5, 5]}',
        '{"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "segmentation": [[1, 1, NaN, 1, 5, 5]]}',
        '{"id": 8, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 8]}',
    ]
    (src / "instances.json").write_text(coco_text(", ".join(anns)), encoding="ascii")
    out = tmp_path / "out"
    res = run("import", str(src), "--from", "coco", "--out", str(out))
    assert "Traceback" not in res.output
    for ann_id, what in [(1, "not finite"), (2, "not finite"), (3, "not finite"), (4, "negative width"),
                         (5, "not finite"), (6, "not finite"), (7, "non-finite")]:
        assert f"annotation {ann_id}: " in res.output and what in res.output, (ann_id, res.output)
    ann = load_annotation(out / "a.json")
    # 7's box is kept without its broken polygon; 8 is fine.
    assert [(s.label, s.points) for s in ann.shapes] == [
        ("cat", [(1.0, 1.0), (6.0, 6.0)]), ("cat", [(2.0, 3.0), (12.0, 11.0)])
    ]


@pytest.mark.parametrize(
    ("body", "what"),
    [(coco_text('{"id": ' + "1" * 5000 + ', "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}'), "5000 digits"),
     ('{"images": [], "x": ' + deep(5000) + "}", "nested")],
)
def test_coco_file_python_cannot_parse_is_reported(tmp_path: Path, body: str, what: str) -> None:
    src = tmp_path / "coco"
    make_image(src / "a.jpg", SIZE)
    (src / "instances.json").write_text(body, encoding="ascii")
    res = run("import", str(src), "--from", "coco", "--out", str(tmp_path / "out"))
    assert res.exit_code == 1
    assert "instances.json: cannot read COCO JSON" in res.output and what in res.output


# -- the other importers and the GUI's file list ----------------------------------------------
def test_ocr_importers_skip_non_finite_regions_and_unparsable_json(tmp_path: Path) -> None:
    src = tmp_path / "p"
    make_image(src / "imgs" / "a.png", SIZE)
    make_image(src / "imgs" / "b.png", SIZE)
    good = '[{"transcription": "ok", "points": [[1, 1], [9, 1], [9, 5], [1, 5]]}]'
    (src / "Label.txt").write_text(
        'imgs/a.png\t[{"transcription": "x", "points": [[1, 1], [NaN, 1], [9, 5], [1, 5]]}]\n'
        f"imgs/b.png\t{good}\n"
        "imgs/b.png\t[" + "1" * 5000 + "]\n"
        "imgs/b.png\t" + deep(5000) + "\n",
        encoding="ascii",
    )
    res = run("import", str(src), "--from", "paddleocr", "--out", str(tmp_path / "out"))
    assert "Traceback" not in res.output
    assert "Label.txt:1: region 0 has fewer than 3 valid points" in res.output
    assert "Label.txt:3: expected" in res.output and "Label.txt:4: expected" in res.output
    assert [s.text for s in load_annotation(tmp_path / "out" / "imgs" / "b.json").shapes] == ["ok"]

    icdar = tmp_path / "icdar"
    make_image(icdar / "img_1.jpg", SIZE)
    (icdar / "gt_img_1.txt").write_text("1,1,9,1,9,5,nan,5,bad\n1,1,9,1,9,5,1,5,good\n1,1,9,1,inf,5,1,5,bad\n")
    res = run("import", str(icdar), "--from", "icdar2015", "--out", str(tmp_path / "out2"))
    assert "Traceback" not in res.output
    assert "gt_img_1.txt:1: coordinates are not finite numbers" in res.output
    assert "gt_img_1.txt:3: coordinates are not finite numbers" in res.output
    assert [s.text for s in load_annotation(tmp_path / "out2" / "img_1.json").shapes] == ["good"]

    ufo = tmp_path / "ufo.json"
    ufo.write_text('{"images": {"a.png": {"words": {}}}, "n": ' + "2" * 5000 + "}", encoding="ascii")
    res = run("import", str(ufo), "--from", "ufo", "--out", str(tmp_path / "out3"))
    assert "Traceback" not in res.output and "5000 digits" in res.output


@pytest.mark.parametrize("name", ["int_5000_digits", "deep_in_flags", "deeper_than_the_parser", "surrogate_in_label"])
def test_gui_file_list_status_reports_hostile_json(tmp_path: Path, name: str) -> None:
    from labeler.gui.status import status_of_file

    path = tmp_path / "hostile.json"
    expected = write_hostile(path, name)
    status = status_of_file(path)
    assert status.error is not None and expected in status.error
