"""labelme / X-AnyLabeling folders: import of the compat fixtures, export, round trips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from labeler.dataset import open_dataset
from labeler.exporting import ExportOptions, run_export, run_import
from labeler.io.labelfile import load_annotation
from labeler.model import Shape

try:  # the tests folder as a package (pythonpath=.) or on sys.path (pytest's default)
    from tests.conftest import COMPAT, SAMPLE, labelme_json, make_image, rect, snapshot, write_json
except ImportError:  # pragma: no cover
    from conftest import (  # type: ignore[no-redef]
        COMPAT,
        SAMPLE,
        labelme_json,
        make_image,
        rect,
        snapshot,
        write_json,
    )
try:
    from tests.test_formats_common import assert_same_shapes, export_import, importer, load_all
except ImportError:  # pragma: no cover
    from test_formats_common import (  # type: ignore[no-redef]
        assert_same_shapes,
        export_import,
        importer,
        load_all,
    )


@pytest.fixture
def compat_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "compat"
    shutil.copytree(COMPAT, dest)
    return dest


def test_import_compat_fixtures(tmp_path: Path, compat_copy: Path) -> None:
    before = snapshot(compat_copy)
    out = tmp_path / "out"
    rep = run_import(importer("labelme"), compat_copy, out)
    assert snapshot(compat_copy) == before  # the source is never touched
    assert rep.problems == []
    n_json = len(list(COMPAT.glob("*.json")))
    assert rep.counts["images"] == n_json
    for src_json in COMPAT.glob("*.json"):
        orig = load_annotation(src_json)
        new = load_annotation(out / src_json.name)
        assert (out / new.imagePath).is_file()
        assert new.imageWidth and new.imageHeight
        assert [s.label for s in new.shapes] == [s.label for s in orig.shapes]
        assert new.imageData is None
        # unknown keys survive, top level and per shape
        assert set(orig.model_extra or {}) <= set(new.model_extra or {})
        for a, b in zip(orig.shapes, new.shapes, strict=True):
            assert set(a.model_extra or {}) <= set(b.model_extra or {})


def test_xanylabeling_rectangles_and_ocr_text(tmp_path: Path, compat_copy: Path) -> None:
    out = tmp_path / "out"
    rep = run_import(importer("labelme"), compat_copy, out)
    rs = load_annotation(out / "xanylabeling_rectangle_score.json")
    assert [s.points for s in rs.shapes] == [[(4.0, 3.0), (20.0, 28.0)], [(24.0, 2.0), (33.0, 9.0)]]
    assert rs.shapes[0].model_extra["score"] == pytest.approx(0.9634811878204346)
    assert rs.shapes[1].model_extra["difficult"] is True
    ocr = load_annotation(out / "xanylabeling_ocr_kie.json")
    assert [s.text for s in ocr.shapes] == ["受理时间:", "2020.6.15", "纯臻营养护发素"]
    assert ocr.shapes[0].description == "受理时间:"  # kept as it was
    assert ocr.shapes[2].shape_type == "polygon" and len(ocr.shapes[2].points) == 4
    rot = load_annotation(out / "xanylabeling_rotation.json")
    orig = load_annotation(COMPAT / "xanylabeling_rotation.json")
    assert [s.points for s in rot.shapes] == [s.points for s in orig.shapes]
    # labelme's own description is not OCR text
    desc = load_annotation(out / "labelme_5x_description.json")
    assert all(s.text is None for s in desc.shapes)
    assert rep.counts["4-point rectangles converted"] >= 5


def test_existing_text_not_overwritten(tmp_path: Path) -> None:
    src = tmp_path / "x"
    make_image(src / "a.jpg", (30, 20))
    shape = rect("word", 1, 1, 9, 9, description="from description", kie_linking=[])
    shape["labeler"] = {"text": "already"}
    write_json(src / "a.json", labelme_json("a.jpg", (30, 20), [shape], text=""))
    run_import(importer("labelme"), src, tmp_path / "o")
    assert load_annotation(tmp_path / "o" / "a.json").shapes[0].text == "already"


def test_embedded_image_data_only(tmp_path: Path) -> None:
    src = tmp_path / "emb"
    src.mkdir()
    shutil.copy(COMPAT / "labelme_5x_embedded_imagedata.json", src / "e.json")  # no image beside
    out = tmp_path / "out"
    rep = run_import(importer("labelme"), src, out)
    assert rep.problems == [] and rep.counts["images decoded from imageData"] == 1
    ann = load_annotation(out / "e.json")
    assert ann.imagePath == "e.png" and ann.imageData is None
    assert (out / "e.png").read_bytes() == (COMPAT / "labelme_5x_embedded_imagedata.png").read_bytes()
    assert not list(src.glob("*.png"))


def test_bad_inputs(tmp_path: Path) -> None:
    src = tmp_path / "bad"
    make_image(tmp_path / "outside.jpg", (10, 10))
    make_image(src / "ok.jpg", (10, 10))
    write_json(src / "ok.json", labelme_json("ok.jpg", (10, 10), [rect("a", 1, 1, 5, 5)]))
    write_json(src / "escape.json", labelme_json("../outside.jpg", (10, 10)))
    write_json(src / "abs.json", labelme_json("/etc/passwd", (10, 10)))
    write_json(src / "gone.json", labelme_json("gone.jpg", (10, 10)))
    write_json(src / "size.json", labelme_json("ok.jpg", (11, 10)))
    (src / "broken.json").write_text("{not json")
    trunc = make_image(src / "trunc.jpg", (10, 10))
    trunc.write_bytes(trunc.read_bytes()[:12])
    write_json(src / "trunc.json", labelme_json("trunc.jpg", (10, 10)))
    write_json(src / "other.json", {"classes": ["x"]})
    out = tmp_path / "out"
    rep = run_import(importer("labelme"), src, out)
    text = "\n".join(rep.problems)
    for name in ("escape.json", "abs.json", "gone.json", "size.json", "broken.json", "trunc"):
        assert name in text, name
    assert rep.counts["images"] == 1 and rep.counts["non-labelme JSON skipped"] == 1
    assert sorted(p.name for p in out.iterdir() if p.name != ".labeler") == ["ok.jpg", "ok.json"]


def test_labelme_roundtrip_sample_scenes(tmp_path: Path) -> None:
    back, rep, rep2 = export_import(SAMPLE / "scenes", "labelme", tmp_path, split=[0.5, 0.5])
    assert rep.problems == [] and rep2.problems == []
    orig, new = load_all(SAMPLE / "scenes"), load_all(back)
    assert sorted(orig) == sorted(new)
    for name, ann in orig.items():
        assert_same_shapes(ann.shapes, new[name].shapes)
        assert new[name].model_dump(exclude={"shapes", "imagePath"}) == ann.model_dump(exclude={"shapes", "imagePath"})
    assert sorted(p.name for p in (tmp_path / "labelme-out").iterdir()) == ["train", "val"]


def test_labelme_export_mapping_and_plain(tmp_path: Path, tiny_dataset: Path) -> None:
    ann = load_annotation(tiny_dataset / "a.json")
    ann.add_shape(Shape(label="cat", points=[(1, 1), (3, 3)], shape_type="rectangle"))
    ann.shapes[-1].set_review("rejected")
    ann.add_shape(Shape(label="cat", points=[(2, 2), (4, 4)], shape_type="rectangle"))
    ann.shapes[-1].set_review("suggested")
    from labeler.io.labelfile import save_annotation

    save_annotation(ann, tiny_dataset / "a.json")
    out = tmp_path / "o"
    from labeler_plugins.formats import LabelmeExporter

    rep = run_export(open_dataset(tiny_dataset), LabelmeExporter({"plain": True}), out,
                     ExportOptions(mapping={"cat": "feline", "dog": None}))
    assert rep.problems == []
    a = json.loads((out / "a.json").read_text())
    assert [s["label"] for s in a["shapes"]] == ["feline", "feline"]
    assert "labeler" not in a and all("labeler" not in s for s in a["shapes"])
    assert (out / "sub" / "c.jpg").is_file()
    c = load_annotation(out / "sub" / "c.json")
    assert c.shapes == [] and c.imagePath == "c.jpg"
    keep = tmp_path / "keep"
    run_export(open_dataset(tiny_dataset), LabelmeExporter(), keep, ExportOptions(only_reviewed=True))
    a2 = load_annotation(keep / "a.json") if (keep / "a.json").exists() else None
    assert a2 is None  # a suggestion still waits for review: the image is left out


def test_embedded_image_data_that_is_not_an_image(tmp_path: Path) -> None:
    import base64

    src = tmp_path / "src"
    src.mkdir()
    write_json(src / "x.json", labelme_json("x.jpg", (10, 10), imageData=base64.b64encode(b"hello").decode()))
    rep = run_import(importer("labelme"), src, tmp_path / "out")
    assert any("x.json: imageData is not a readable image (not an image)" in p for p in rep.problems), rep.problems
