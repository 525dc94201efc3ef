"""COCO instances JSON: export (loads with pycocotools), import, round trips, hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labeler.dataset import open_dataset
from labeler.exporting import ExportOptions, run_export, run_import
from labeler.io.labelfile import load_annotation
from labeler.masks import shape_mask_to_full
from labeler.model import Shape

try:  # the tests folder as a package (pythonpath=.) or on sys.path (pytest's default)
    from tests.conftest import SAMPLE, labelme_json, make_image, rect, write_json
except ImportError:  # pragma: no cover
    from conftest import SAMPLE, labelme_json, make_image, rect, write_json  # type: ignore[no-redef]
try:
    from tests.test_formats_common import (
        assert_same_shapes,
        export_import,
        exporter,
        importer,
        load_all,
    )
except ImportError:  # pragma: no cover
    from test_formats_common import (  # type: ignore[no-redef]
        assert_same_shapes,
        export_import,
        exporter,
        importer,
        load_all,
    )

# pycocotools 2.0.x warns about numpy 2's copy keyword on every decode
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")


def make_coco(root: Path, images: list[dict], anns: list[dict], cats: list[dict] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    data = {
        "images": images,
        "annotations": anns,
        "categories": cats or [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    (root / "annotations").mkdir(exist_ok=True)
    path = root / "annotations" / "instances.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_export_loads_with_pycocotools(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    out = tmp_path / "out"
    rep = run_export(open_dataset(SAMPLE / "scenes"), exporter("coco"), out, ExportOptions(split=[0.8, 0.2]))
    assert rep.problems == []
    total = 0
    for split in ("train", "val"):
        path = out / "annotations" / f"instances_{split}.json"
        coco = COCO(str(path))
        assert [c["id"] for c in coco.loadCats(coco.getCatIds())] == [1, 2, 3, 4]
        assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["ball", "box", "elephant", "star"]
        for img in coco.loadImgs(coco.getImgIds()):
            assert (out / "images" / split / img["file_name"]).is_file()
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=img["id"])):
                m = coco.annToMask(ann)
                assert m.shape == (img["height"], img["width"]) and m.any()
                x, y, w, h = ann["bbox"]
                assert w > 0 and h > 0 and ann["iscrowd"] == 0
                assert ann["area"] == pytest.approx(m.sum(), rel=0.25)
                total += 1
    assert total == rep.counts["objects"]


def test_coco_roundtrip_sample_scenes(tmp_path: Path) -> None:
    back, rep, rep2 = export_import(SAMPLE / "scenes", "coco", tmp_path, split=[0.5, 0.3, 0.2])
    assert rep.problems == [] and rep2.problems == []
    orig, new = load_all(SAMPLE / "scenes"), load_all(back)
    assert sorted(orig) == sorted(new)
    for name, ann in orig.items():
        assert_same_shapes(ann.shapes, new[name].shapes)
    back2, _, _ = export_import(back, "coco", tmp_path / "again")
    for name, ann in load_all(back2).items():
        assert_same_shapes(new[name].shapes, ann.shapes)


def test_coco_import_export_import_groups_masks_and_rle(tmp_path: Path) -> None:
    from pycocotools import mask as mask_utils

    src = tmp_path / "coco"
    make_image(src / "images" / "a.jpg", (80, 60), seed=1)
    make_image(src / "images" / "b.png", (50, 40), seed=2)
    m = np.zeros((60, 80), dtype=np.uint8)
    m[10:30, 40:70] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    rle["counts"] = rle["counts"].decode("ascii")
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 6, 20, 10], "iscrowd": 0,
         "segmentation": [[5, 6, 25, 6, 25, 16, 5, 16]], "area": 200},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [1, 30, 30, 25], "iscrowd": 0, "area": 1,
         "segmentation": [[1, 30, 10, 30, 10, 40], [20, 45, 31, 45, 31, 55, 20, 55]]},
        {"id": 3, "image_id": 1, "category_id": 2, "bbox": [40, 10, 30, 20], "iscrowd": 1,
         "segmentation": rle, "area": 600},
        {"id": 4, "image_id": 2, "category_id": 1, "bbox": [2, 3, 4, 5], "iscrowd": 0, "area": 20},
    ]
    make_coco(src, [
        {"id": 1, "file_name": "a.jpg", "width": 80, "height": 60},
        {"id": 2, "file_name": "b.png", "width": 50, "height": 40},
    ], anns)
    first = tmp_path / "first"
    rep = run_import(importer("coco"), src, first)
    assert rep.problems == []
    a = load_annotation(first / "a.json")
    types = sorted((s.label, s.shape_type) for s in a.shapes)
    assert types == [("cat", "rectangle"), ("dog", "mask"), ("dog", "polygon"), ("dog", "polygon")]
    polys = [s for s in a.shapes if s.shape_type == "polygon"]
    assert polys[0].group_id == polys[1].group_id is not None
    msk = next(s for s in a.shapes if s.shape_type == "mask")
    assert msk.flags == {"iscrowd": True}
    assert (shape_mask_to_full(msk.points, msk.mask, (80, 60)) == m.astype(bool)).all()
    b = load_annotation(first / "b.json")
    assert [(s.shape_type, s.points) for s in b.shapes] == [("rectangle", [(2.0, 3.0), (6.0, 8.0)])]
    # export again: the two polygons of one group are one COCO annotation, the mask a polygon
    out = tmp_path / "out"
    rep = run_export(open_dataset(first), exporter("coco"), out, ExportOptions())
    data = json.loads((out / "annotations" / "instances.json").read_text())
    assert len(data["annotations"]) == 4
    grouped = [x for x in data["annotations"] if len(x["segmentation"]) == 2]
    assert len(grouped) == 1 and grouped[0]["bbox"] == [1, 30, 30, 25]
    back = tmp_path / "back"
    run_import(importer("coco"), out, back)
    a2 = load_annotation(back / "a.json")
    non_mask = [s for s in a.shapes if s.shape_type != "mask"]
    assert_same_shapes(non_mask, [s for s in a2.shapes if s.label != "dog" or s.group_id is not None])
    traced = [s for s in a2.shapes if s.label == "dog" and s.group_id is None]
    assert len(traced) == 1 and traced[0].shape_type == "polygon"
    x1, y1, x2, y2 = traced[0].bbox()
    assert (x1, y1) == pytest.approx((40, 10), abs=1) and (x2, y2) == pytest.approx((69, 29), abs=1)


def test_missing_image_hostile_file_name_and_bad_category(tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    make_image(secret, (10, 10))
    src = tmp_path / "coco"
    make_image(src / "images" / "ok.jpg", (40, 30))
    make_coco(src, [
        {"id": 1, "file_name": "ok.jpg", "width": 40, "height": 30},
        {"id": 2, "file_name": "missing.jpg", "width": 40, "height": 30},
        {"id": 3, "file_name": "../../etc/passwd", "width": 40, "height": 30},
        {"id": 4, "file_name": "../secret.jpg", "width": 10, "height": 10},
        {"id": 5, "file_name": "/etc/passwd", "width": 10, "height": 10},
        {"id": 6, "file_name": "ok.jpg", "width": 41, "height": 30},
    ], [
        {"id": 1, "image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": "oops"},
    ])
    out = tmp_path / "out"
    rep = run_import(importer("coco"), src, out)
    text = "\n".join(rep.problems)
    assert "missing.jpg: image not found" in text
    assert text.count("unsafe path") == 3
    assert "unknown category_id 9" in text and "bad bbox" in text
    assert "41x30" in text
    assert rep.counts["images"] == 1
    assert sorted(p.name for p in out.iterdir() if p.name != ".labeler") == ["ok.jpg", "ok.json"]
    assert [s.label for s in load_annotation(out / "ok.json").shapes] == ["cat"]


def test_images_option_and_file_name_beside_json(tmp_path: Path) -> None:
    src = tmp_path / "c"
    make_image(tmp_path / "c" / "pics" / "z.jpg", (20, 20))
    make_coco(src, [{"id": 1, "file_name": "z.jpg", "width": 20, "height": 20}], [])
    rep = run_import(importer("coco"), src, tmp_path / "o1")
    assert "image not found" in rep.problems[0]
    rep = run_import(importer("coco", images=str(src / "pics")), src, tmp_path / "o2")
    assert rep.problems == [] and (tmp_path / "o2" / "z.json").is_file()
    json_file = tmp_path / "flat" / "my.json"
    make_image(tmp_path / "flat" / "sub" / "q.jpg", (20, 20))
    json_file.write_text(json.dumps({"images": [{"id": 1, "file_name": "sub/q.jpg"}], "annotations": [],
                                     "categories": []}))
    rep = run_import(importer("coco"), json_file, tmp_path / "o3")
    assert rep.problems == [] and (tmp_path / "o3" / "sub" / "q.json").is_file()


def test_no_copy_images_and_image_labels_note(tmp_path: Path, tiny_dataset: Path) -> None:
    ann = load_annotation(tiny_dataset / "a.json")
    ann.set_image_labels(["indoor"])
    from labeler.io.labelfile import save_annotation

    save_annotation(ann, tiny_dataset / "a.json")
    out = tmp_path / "o"
    rep = run_export(open_dataset(tiny_dataset), exporter("coco", copy_images=False), out, ExportOptions())
    assert not (out / "images").exists()
    data = json.loads((out / "annotations" / "instances.json").read_text())
    names = sorted(i["file_name"] for i in data["images"])
    assert names == ["a.jpg", "b.png", "sub/c.jpg"]
    assert data["info"]["image_root"] == str(tiny_dataset.resolve())
    assert any("image-level" in n for n in rep.notes)
    rep = run_import(importer("coco", images=str(tiny_dataset)), out, tmp_path / "back")
    assert rep.problems == []
    for name in ("a", "b", "sub/c"):
        assert_same_shapes(load_annotation(tiny_dataset / f"{name}.json").shapes,
                           load_annotation(tmp_path / "back" / f"{name}.json").shapes)


def test_points_and_lines_skipped(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_image(root / "a.jpg", (30, 30))
    write_json(root / "a.json", labelme_json("a.jpg", (30, 30), [
        rect("cat", 1, 1, 10, 10),
        {"label": "cat", "points": [[3, 3]], "shape_type": "point"},
        {"label": "cat", "points": [[15, 15], [18, 18]], "shape_type": "circle"},
    ]))
    out = tmp_path / "o"
    rep = run_export(open_dataset(root), exporter("coco"), out, ExportOptions())
    data = json.loads((out / "annotations" / "instances.json").read_text())
    assert len(data["annotations"]) == 2
    assert any("'point'" in n for n in rep.notes)
    circle = Shape(label="cat", points=[(15, 15), (18, 18)], shape_type="circle")
    x1, y1, x2, y2 = circle.bbox()
    bb = data["annotations"][1]["bbox"]
    assert bb[0] == pytest.approx(x1, abs=0.1) and bb[2] == pytest.approx(x2 - x1, abs=0.2)
