"""YOLO detection and segmentation: export layout, data.yaml, import, round trips, bad input."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from labeler.dataset import open_dataset
from labeler.exporting import ExportOptions, run_export, run_import
from labeler.formats.yolo import label_path_for, parse_label_lines
from labeler.io.labelfile import load_annotation
from labeler.masks import mask_to_shape_fields
from labeler.model import Shape
from labeler.plugin_api import Report

try:  # the tests folder as a package (pythonpath=.) or on sys.path (pytest's default)
    from tests.conftest import SAMPLE, labelme_json, make_image, rect, write_json
except ImportError:  # pragma: no cover
    from conftest import SAMPLE, labelme_json, make_image, rect, write_json  # type: ignore[no-redef]
try:
    from tests.test_formats_common import (
    as_boxes,
    assert_same_shapes,
    export_import,
    exporter,
    importer,
    load_all,
)
except ImportError:  # pragma: no cover
    from test_formats_common import (
    as_boxes,
    assert_same_shapes,
    export_import,
    exporter,
    importer,
    load_all,
)  # type: ignore[no-redef]


def make_yolo(root: Path, seg: bool = False) -> Path:
    """A small YOLO dataset with split folders, a negative and both kinds of lines."""
    (root / "data.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(
        "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n", encoding="utf-8"
    )
    make_image(root / "images/train/a.jpg", (640, 480), seed=1)
    make_image(root / "images/train/b.png", (333, 217), seed=2)
    make_image(root / "images/val/c.jpg", (100, 100), seed=3)
    (root / "labels/train").mkdir(parents=True)
    (root / "labels/val").mkdir(parents=True)
    (root / "labels/train/a.txt").write_text(
        "0 0.5 0.5 0.25 0.125\n1 0.123457 0.234568 0.1 0.2\n", encoding="utf-8"
    )
    (root / "labels/train/b.txt").write_text(
        "1 0.1 0.1 0.5 0.1 0.5 0.6 0.1 0.6\n0 0.7 0.7 0.9 0.75 0.8 0.95\n", encoding="utf-8"
    )
    (root / "labels/val/c.txt").write_text("", encoding="utf-8")
    return root


def test_yolo_import(tmp_path: Path) -> None:
    src = make_yolo(tmp_path / "y")
    out = tmp_path / "ds"
    rep = run_import(importer("yolo"), src, out)
    assert rep.problems == []
    anns = load_all(out)
    assert sorted(anns) == ["a.jpg", "b.png", "c.jpg"]
    assert (out / "train" / "a.json").is_file() and (out / "val" / "c.jpg").is_file()
    a = anns["a.jpg"]
    assert (a.imageWidth, a.imageHeight) == (640, 480)
    assert [s.label for s in a.shapes] == ["cat", "dog"]
    assert a.shapes[0].shape_type == "rectangle"
    assert a.shapes[0].points == [(240.0, 210.0), (400.0, 270.0)]
    b = anns["b.png"]
    assert [s.shape_type for s in b.shapes] == ["polygon", "polygon"]
    assert b.shapes[0].points[1] == pytest.approx((0.5 * 333, 0.1 * 217))
    assert anns["c.jpg"].shapes == []


@pytest.mark.parametrize("fmt", ["yolo", "yolo-seg"])
def test_yolo_roundtrip_import_export_import(tmp_path: Path, fmt: str) -> None:
    src = make_yolo(tmp_path / "y")
    first = tmp_path / "first"
    run_import(importer("yolo"), src, first)
    back, rep, rep2 = export_import(first, fmt, tmp_path)
    assert rep.problems == [] and rep2.problems == []
    one, two = load_all(first), load_all(back)
    assert sorted(one) == sorted(two)
    for name in one:
        if fmt == "yolo":
            ann = one[name]
            assert_same_shapes(as_boxes(ann.shapes, ann.imageWidth, ann.imageHeight), two[name].shapes)
        else:  # rectangles come back as 4-point polygons
            want = [
                Shape(label=s.label, points=s.polygon(), shape_type="polygon") for s in one[name].shapes
            ]
            assert_same_shapes(want, two[name].shapes)


def test_yolo_detect_roundtrip_sample_scenes(tmp_path: Path) -> None:
    back, rep, rep2 = export_import(SAMPLE / "scenes", "yolo", tmp_path, split=[0.7, 0.2, 0.1])
    assert rep.problems == [] and rep2.problems == []
    orig, new = load_all(SAMPLE / "scenes"), load_all(back)
    assert sorted(orig) == sorted(new)
    for name, ann in orig.items():
        assert_same_shapes(as_boxes(ann.shapes, ann.imageWidth, ann.imageHeight), new[name].shapes)
    # a second trip changes nothing
    back2, _, _ = export_import(back, "yolo", tmp_path / "again")
    for name, ann in load_all(back2).items():
        assert_same_shapes(new[name].shapes, ann.shapes)


def test_yolo_seg_roundtrip_sample_scenes(tmp_path: Path) -> None:
    back, rep, _ = export_import(SAMPLE / "scenes", "yolo-seg", tmp_path)
    assert rep.problems == []
    assert any("val points at train" in n for n in rep.notes)
    orig, new = load_all(SAMPLE / "scenes"), load_all(back)
    for name, ann in orig.items():
        want = [Shape(label=s.label, points=s.polygon(), shape_type="polygon") for s in ann.shapes]
        assert_same_shapes(want, new[name].shapes)


def test_data_yaml_and_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    rep = run_export(
        open_dataset(SAMPLE / "scenes"), exporter("yolo"), out, ExportOptions(split=[0.6, 0.2, 0.2])
    )
    data = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert set(data) == {"path", "train", "val", "test", "names"}
    assert data["names"] == {0: "ball", 1: "box", 2: "elephant", 3: "star"}
    root = Path(data["path"])
    assert root == out.resolve()
    for split in ("train", "val", "test"):
        images = sorted((root / data[split]).iterdir())
        assert images, split
        for img in images:
            lab = root / "labels" / split / f"{img.stem}.txt"
            assert lab.is_file()
            for line in lab.read_text(encoding="utf-8").splitlines():
                cls, *vals = line.split()
                assert 0 <= int(cls) < 4 and len(vals) == 4
                assert all(0 <= float(v) <= 1 and len(v.split(".")[1]) == 6 for v in vals)
    assert rep.counts["exported images"] == len(list(out.glob("images/*/*")))
    if importlib.util.find_spec("ultralytics") is not None:
        from PIL import Image

        # importing ultralytics replaces PIL.Image.open for the whole process: undo it after
        monkeypatch.setattr(Image, "open", Image.open)
        import ultralytics.data.utils as udu

        monkeypatch.setattr(udu, "check_font", lambda *a, **k: None)  # no font download
        checked = udu.check_det_dataset(str(out / "data.yaml"))
        assert checked["nc"] == 4 and Path(checked["val"]).is_dir()


def test_negatives_nested_names_skipped_types_and_masks(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_image(root / "a" / "x.jpg", (60, 40), seed=1)
    make_image(root / "b" / "x.jpg", (60, 40), seed=2)
    mask = np.zeros((40, 60), dtype=bool)
    mask[10:30, 20:50] = True
    pts, b64 = mask_to_shape_fields(mask)
    write_json(root / "a" / "x.json", labelme_json("x.jpg", (60, 40), [
        rect("cat", 1, 2, 30, 20),
        {"label": "dot", "points": [[5, 5]], "shape_type": "point"},
        {"label": "cat", "points": [[1, 1], [9, 9]], "shape_type": "line"},
        {"label": "blob", "points": [[float(x), float(y)] for x, y in pts], "shape_type": "mask", "mask": b64},
        rect("cat", -5, -5, 10, 10),  # clipped
    ]))
    write_json(root / "b" / "x.json", labelme_json("x.jpg", (60, 40)))  # negative
    for fmt in ("yolo", "yolo-seg"):
        out = tmp_path / fmt
        rep = run_export(open_dataset(root), exporter(fmt), out, ExportOptions())
        assert rep.problems == []
        assert sorted(p.name for p in (out / "labels" / "train").iterdir()) == ["a__x.txt", "b__x.txt"]
        assert sorted(p.name for p in (out / "images" / "train").iterdir()) == ["a__x.jpg", "b__x.jpg"]
        assert (out / "labels" / "train" / "b__x.txt").read_text() == ""
        lines = (out / "labels" / "train" / "a__x.txt").read_text().splitlines()
        assert len(lines) == 3
        assert any("'point'" in n for n in rep.notes) and any("'line'" in n for n in rep.notes)
        assert any("val points at train" in n for n in rep.notes)
        data = yaml.safe_load((out / "data.yaml").read_text())
        assert data["val"] == data["train"] == "images/train"
        blob_id = list(data["names"].values()).index("blob")
        blob = next(ln for ln in lines if ln.startswith(f"{blob_id} "))
        vals = [float(v) for v in blob.split()[1:]]
        xs, ys = vals[0::2], vals[1::2]
        if fmt == "yolo":
            assert vals == pytest.approx([35 / 60, 20 / 40, 30 / 60, 20 / 40], abs=0.02)
        else:
            assert len(vals) >= 8
            assert min(xs) == pytest.approx(20 / 60, abs=0.02) and max(ys) == pytest.approx(29 / 40, abs=0.03)
        cat_id = list(data["names"].values()).index("cat")
        cats = [ln for ln in lines if ln.startswith(f"{cat_id} ")]
        assert len(cats) == 2 and rep.counts["shapes clipped to the image"] == 1


def test_yolo_seg_options_skip_rectangles(tmp_path: Path, tiny_dataset: Path) -> None:
    out = tmp_path / "o"
    rep = run_export(open_dataset(tiny_dataset), exporter("yolo-seg", rectangles="skip"), out, ExportOptions())
    texts = {p.stem: p.read_text() for p in (out / "labels" / "train").iterdir()}
    # a and b had rectangles only: left out, not written as negatives (empty label files
    # would teach "nothing here" where there are objects)
    assert "a" not in texts and "b" not in texts and texts["c"].count("\n") == 1
    assert not (out / "images" / "train" / "a.jpg").exists()
    assert rep.counts["images left out: none of their objects could be written (not negatives)"] == 2
    assert any("'rectangle' shape(s) skipped (-o rectangles skip)" in n for n in rep.notes), rep.notes


def test_bad_label_lines_reported_per_line(tmp_path: Path) -> None:
    src = make_yolo(tmp_path / "y")
    (src / "labels/train/a.txt").write_text(
        "0 0.5 0.5 0.25 0.125\n"
        "0 0.5 0.5 0.25\n"           # 2: wrong field count
        "7 0.5 0.5 0.1 0.1\n"        # 3: class out of range
        "x 0.5 0.5 0.1 0.1\n"        # 4: non-numeric
        "1 0.5 nan 0.1 0.1\n"        # 5: not finite
        "1 50 60 10 10\n"            # 6: pixels, not normalised
        "1.5 0.5 0.5 0.1 0.1\n"      # 7: fractional class
        "1 0.2 0.2 0.1 0.1 0.3\n"    # 8: six fields
        "\n"
        "1 0.5 0.5 0.2 0.2\n",
        encoding="utf-8",
    )
    out = tmp_path / "ds"
    rep = run_import(importer("yolo"), src, out)
    label = str(src / "labels/train/a.txt")
    assert sorted(int(p.split(":")[1]) for p in rep.problems) == [2, 3, 4, 5, 6, 7, 8]
    assert all(p.startswith(label + ":") for p in rep.problems)
    assert rep.counts["bad label lines"] == 7
    ann = load_annotation(out / "train" / "a.json")
    assert [s.label for s in ann.shapes] == ["cat", "dog"]


def test_classes_txt_and_flat_layout_and_no_names(tmp_path: Path) -> None:
    src = tmp_path / "flat"
    make_image(src / "p.jpg", (50, 50))
    (src / "p.txt").write_text("1 0.5 0.5 0.2 0.2\n", encoding="utf-8")
    (src / "classes.txt").write_text("cat\ndog\n", encoding="utf-8")
    rep = run_import(importer("yolo"), src, tmp_path / "o1")
    assert rep.problems == []
    assert [s.label for s in load_annotation(tmp_path / "o1" / "p.json").shapes] == ["dog"]
    (src / "classes.txt").unlink()
    rep = run_import(importer("yolo"), src, tmp_path / "o2")
    assert [s.label for s in load_annotation(tmp_path / "o2" / "p.json").shapes] == ["1"]
    assert any("class ids" in n for n in rep.notes)


def _unpatched_pil(monkeypatch: pytest.MonkeyPatch) -> None:
    # ultralytics, once imported (by another test), patches PIL.Image.open so that a file Pillow
    # cannot identify raises ModuleNotFoundError('pi_heif') instead: use Pillow's own opener.
    patches = sys.modules.get("ultralytics.utils.patches")
    if patches is not None and hasattr(patches, "_image_open"):
        from PIL import Image

        monkeypatch.setattr(Image, "open", patches._image_open)


def test_truncated_and_missing_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _unpatched_pil(monkeypatch)
    src = make_yolo(tmp_path / "y")
    broken = src / "images/train/a.jpg"
    broken.write_bytes(broken.read_bytes()[:20])
    (src / "images/val/empty.jpg").write_bytes(b"")
    out = tmp_path / "ds"
    rep = run_import(importer("yolo"), src, out)
    assert len(rep.problems) == 2 and rep.counts["images"] == 2
    assert any("a.jpg" in p for p in rep.problems) and any("empty" in p for p in rep.problems)
    # export of a dataset with a truncated image: reported, the rest exported
    ds = tmp_path / "ds2"
    make_image(ds / "ok.jpg", (30, 30))
    write_json(ds / "ok.json", labelme_json("ok.jpg", (30, 30), [rect("cat", 1, 1, 9, 9)]))
    bad = make_image(ds / "bad.jpg", (30, 30))
    bad.write_bytes(bad.read_bytes()[:10])
    write_json(ds / "bad.json", labelme_json("bad.jpg", (30, 30), [rect("cat", 1, 1, 9, 9)]))
    rep = run_export(open_dataset(ds), exporter("yolo"), tmp_path / "o", ExportOptions())
    assert len(rep.problems) == 1 and "bad.jpg" in rep.problems[0]
    assert rep.counts["exported images"] == 1


def test_label_path_rule(tmp_path: Path) -> None:
    root = tmp_path / "images" / "ds"  # an 'images' folder above the root does not count
    assert label_path_for(root / "x.jpg", root) == root / "x.txt"
    assert label_path_for(root / "images" / "t" / "x.jpg", root) == root / "labels" / "t" / "x.txt"
    assert label_path_for(root / "train" / "images" / "x.png", root) == root / "train" / "labels" / "x.txt"


def test_parse_label_lines_seg_and_detect() -> None:
    rep = Report()
    shapes = parse_label_lines("0 0.5 0.5 1 1\n1 0 0 1 0 1 1\n", (10, 20), {0: "a", 1: "b"}, rep, "f")
    assert shapes[0].points == [(0.0, 0.0), (10.0, 20.0)]
    assert shapes[1].points == [(0.0, 0.0), (10.0, 0.0), (10.0, 20.0)]
    assert rep.problems == []


def test_masks_without_opencv_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ds"
    make_image(root / "a.jpg", (40, 30))
    mask = np.zeros((30, 40), dtype=bool)
    mask[5:15, 5:25] = True
    mask[20:28, 30:38] = True
    pts, b64 = mask_to_shape_fields(mask)
    write_json(root / "a.json", labelme_json("a.jpg", (40, 30), [
        {"label": "blob", "points": [[float(x), float(y)] for x, y in pts], "shape_type": "mask", "mask": b64},
    ]))
    rep = run_export(open_dataset(root), exporter("yolo-seg", mask_parts="all"), tmp_path / "all", ExportOptions())
    assert len((tmp_path / "all" / "labels" / "train" / "a.txt").read_text().splitlines()) == 2
    monkeypatch.setitem(sys.modules, "cv2", None)
    rep = run_export(open_dataset(root), exporter("yolo-seg"), tmp_path / "o", ExportOptions())
    assert "OpenCV" in rep.problems[0]
    assert any("opencv" in n.lower() for n in rep.notes)
    # its one object could not be written: the image is left out, not made a negative, and
    # the run says that nothing was exported
    assert not (tmp_path / "o" / "labels" / "train" / "a.txt").exists()
    assert len(rep.problems) == 1 and "nothing exported" in rep.notes


def test_a_two_point_polygon_is_degenerate_for_boxes_too(tmp_path) -> None:  # noqa: ANN001
    from labeler.dataset import open_dataset
    from labeler.exporting import ExportOptions, run_export
    from labeler.plugins import get_registry
    from tests.conftest import labelme_json, make_image, rect, write_json

    root = tmp_path / "ds"
    make_image(root / "a.png", (40, 30))
    two = {"label": "cat", "points": [[1, 1], [20, 20]], "shape_type": "polygon", "group_id": None, "flags": {}}
    write_json(root / "a.json", labelme_json("a.png", (40, 30), [two, rect("cat", 1, 1, 20, 20)]))
    exporter = get_registry().get("exporters", "yolo")()
    report = run_export(open_dataset(root), exporter, tmp_path / "out", ExportOptions())
    lines = next((tmp_path / "out").rglob("a.txt")).read_text().splitlines()
    assert len(lines) == 1 and report.counts["degenerate shapes skipped"] == 1


def test_a_symlink_out_of_the_export_folder_gets_nothing(tmp_path) -> None:  # noqa: ANN001
    from labeler.dataset import open_dataset
    from labeler.exporting import ExportOptions, run_export
    from labeler.plugins import get_registry
    from tests.conftest import labelme_json, make_image, rect, write_json

    root = tmp_path / "ds"
    make_image(root / "a.png", (40, 30))
    write_json(root / "a.json", labelme_json("a.png", (40, 30), [rect("cat", 1, 1, 20, 20)]))
    out, evil = tmp_path / "out", tmp_path / "evil"
    out.mkdir()
    evil.mkdir()
    (out / "images").symlink_to(evil)
    report = run_export(open_dataset(root), get_registry().get("exporters", "yolo")(), out, ExportOptions())
    assert report.problems and all("leads outside" in p for p in report.problems)
    assert list(evil.iterdir()) == []
