"""Shared helpers of the format tests, and tests of labeler.formats' common parts."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from labeler.dataset import open_dataset
from labeler.exporting import ExportOptions, run_export, run_import
from labeler.formats import (
    OutsideRootError,
    check_inside,
    flat_names,
    place_image,
    polygon_area,
    safe_join,
    safe_name,
)
from labeler.model import Annotation, Shape
from labeler.plugin_api import Exporter, Importer, Report
from labeler.plugins import get_registry
from tests.conftest import SAMPLE, labelme_json, make_image, snapshot, write_json

FORMATS = ("yolo", "yolo-seg", "coco", "imagefolder", "csv", "labelme")


# -- helpers used by the other test_formats_* files --------------------------------------------
def norm_shape(s: Shape) -> tuple[str, str, list[tuple[float, float]]]:
    """(label, type, points) with rectangles as (min corner, max corner)."""
    if s.shape_type == "rectangle":
        x1, y1, x2, y2 = s.bbox()
        return (s.label, "rectangle", [(x1, y1), (x2, y2)])
    return (s.label, s.shape_type, [(float(x), float(y)) for x, y in s.points])


def assert_same_shapes(a: Sequence[Shape], b: Sequence[Shape], tol: float = 1e-3) -> None:
    """Same labels, types and coordinates (within ``tol`` px), in any order."""
    na = sorted((norm_shape(s) for s in a), key=lambda t: (t[0], t[1], [round(v) for p in t[2] for v in p]))
    nb = sorted((norm_shape(s) for s in b), key=lambda t: (t[0], t[1], [round(v) for p in t[2] for v in p]))
    assert [t[:2] for t in na] == [t[:2] for t in nb]
    for (la, ta, pa), (_, _, pb) in zip(na, nb, strict=True):
        assert len(pa) == len(pb), (la, ta, pa, pb)
        for (xa, ya), (xb, yb) in zip(pa, pb, strict=True):
            assert abs(xa - xb) <= tol and abs(ya - yb) <= tol, (la, ta, pa, pb)


def as_boxes(shapes: Sequence[Shape], width: float, height: float) -> list[Shape]:
    """What YOLO detection keeps of shapes: their boxes, clipped to the image."""
    out = []
    for s in shapes:
        x1, y1, x2, y2 = s.bbox()
        box = [(max(x1, 0.0), max(y1, 0.0)), (min(x2, width), min(y2, height))]
        out.append(Shape(label=s.label, points=box, shape_type="rectangle"))
    return out


def load_all(root: Path) -> dict[str, Annotation]:
    """Every annotation of a dataset folder, keyed by image file name."""
    ds = open_dataset(root)
    out = {}
    for item, ann in ds.annotations():
        assert item.name not in out
        out[item.name] = ann
    return out


def exporter(fmt: str, **options: object) -> Exporter:
    return get_registry().exporters[fmt](options or None)


def importer(fmt: str, **options: object) -> Importer:
    return get_registry().importers[fmt](options or None)


def export_import(
    src: Path, fmt: str, tmp: Path, split: Sequence[float] | None = None, **options: object
) -> tuple[Path, Report, Report]:
    """Export dataset ``src`` as ``fmt`` and import it back; returns the new dataset folder."""
    out = tmp / f"{fmt}-out"
    rep = run_export(open_dataset(src), exporter(fmt, **options), out, ExportOptions(split=split))
    back = tmp / f"{fmt}-back"
    rep2 = run_import(importer(fmt), out, back)
    return back, rep, rep2


# -- tests ---------------------------------------------------------------------------------------
def test_all_formats_registered_through_entry_point() -> None:
    reg = get_registry()
    for fmt in FORMATS:
        assert fmt in reg.importers and fmt in reg.exporters
        assert reg.importers[fmt].format == fmt == reg.exporters[fmt].format
    assert reg.plugins["formats"].distribution == "labeler"
    assert reg.plugins["formats"].error is None


def test_flat_names_unique_and_stable() -> None:
    names = flat_names(["a/x.jpg", "b/x.jpg", "y.jpg", "c/y.png", "z/Q.jpg", "q.png", "solo/w.jpg"])
    assert names["a/x.jpg"] == "a__x.jpg" and names["b/x.jpg"] == "b__x.jpg"
    assert names["solo/w.jpg"] == "w.jpg"
    stems = [os.path.splitext(n)[0].lower() for n in names.values()]
    assert len(set(stems)) == len(stems)
    assert flat_names(reversed(list(names))) == names


def test_safe_join_refuses_escapes(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "a/b.jpg") == tmp_path / "a" / "b.jpg"
    for bad in ("../x.jpg", "/etc/passwd", "a/../../x", "C:/x.jpg", ""):
        with pytest.raises(ValueError):
            safe_join(tmp_path, bad)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / "link").symlink_to(outside)
    with pytest.raises(ValueError):
        safe_join(tmp_path, "link/x.jpg")


def test_check_inside(tmp_path: Path) -> None:
    assert check_inside(tmp_path, tmp_path / "a" / ".." / "b") == tmp_path / "b"
    with pytest.raises(OutsideRootError):
        check_inside(tmp_path, tmp_path / ".." / "x")


def test_safe_name_and_area() -> None:
    assert safe_name("cat") == "cat"
    for bad in ("", ".", "..", "a/b", "a\\b", " cat"):
        assert safe_name(bad) is None
    assert polygon_area([(0, 0), (4, 0), (4, 3), (0, 3)]) == 12


def test_place_image_copies_never_moves(tmp_path: Path) -> None:
    src = make_image(tmp_path / "s.jpg")
    before = src.read_bytes()
    how = place_image(src, tmp_path / "o" / "a.jpg")
    assert how in ("linked", "copied")
    assert src.read_bytes() == before and (tmp_path / "o" / "a.jpg").read_bytes() == before
    assert place_image(src, tmp_path / "o" / "b.jpg", hardlink=False) == "copied"
    assert not os.path.samefile(src, tmp_path / "o" / "b.jpg")
    assert place_image(src, tmp_path / "o" / "a.jpg") in ("same", "copied")
    assert not list((tmp_path / "o").glob(".*"))


@pytest.mark.parametrize("fmt", ["yolo", "coco", "labelme"])
def test_export_never_changes_the_source(tmp_path: Path, tiny_dataset: Path, fmt: str) -> None:
    before = snapshot(tiny_dataset)
    export_import(tiny_dataset, fmt, tmp_path, split=[0.5, 0.5])
    assert snapshot(tiny_dataset) == before


def test_import_never_changes_the_source(tmp_path: Path) -> None:
    src = SAMPLE / "scenes"
    before = snapshot(src)
    rep = run_import(importer("labelme"), src, tmp_path / "out")
    assert rep.counts["images"] == len(list(src.glob("scene_*.json")))
    assert snapshot(src) == before


def test_a_box_and_its_outline_export_as_one_object(tmp_path) -> None:  # noqa: ANN001
    """A box and an outline of it export once: the outline when it is trusted or the box is a
    suggestion too (YOLO then SAM), the person's box when the outline is unreviewed."""
    from labeler.dataset import open_dataset
    from labeler.exporting import ExportOptions, run_export

    def poly(pts, review=None):  # noqa: ANN001, ANN202
        meta = {"labeler": {"review": review, "score": 0.9, "source": {"plugin": "sam"}}} if review else {}
        return {"label": "car", "points": pts, "shape_type": "polygon", "group_id": None, "flags": {}, **meta}

    def box(pts, review=None):  # noqa: ANN001, ANN202
        meta = {"labeler": {"review": review, "score": 0.8, "source": {"plugin": "yolo"}}} if review else {}
        return {"label": "car", "points": pts, "shape_type": "rectangle", "group_id": None, "flags": {}, **meta}

    square = [[2, 1], [30, 3], [29, 30], [3, 29]]
    cases = {
        "person_box_suggested_outline": ([box([[1, 1], [31, 31]]), poly(square, "suggested")], "box", (0, 1)),
        "person_box_accepted_outline": ([box([[1, 1], [31, 31]]), poly(square, "accepted")], "outline", (1, 0)),
        "suggested_box_suggested_outline": ([box([[1, 1], [31, 31]], "suggested"), poly(square, "suggested")],
                                            "outline", (1, 0)),
    }
    for name, (shapes, winner, (replaced, left_out)) in cases.items():
        root = tmp_path / name
        make_image(root / "a.png", (40, 40))
        other = box([[32, 32], [39, 39]])  # a second object, untouched
        write_json(root / "a.json", labelme_json("a.png", (40, 40), [*shapes, other]))
        out = tmp_path / f"{name}-out"
        rep = run_export(open_dataset(root), exporter("yolo-seg"), out, ExportOptions())
        lines = (out / "labels" / "train" / "a.txt").read_text().splitlines()
        assert len(lines) == 2, name
        first_x = lines[0].split()[1]  # the outline starts at x=2, the box (as 4 corners) at x=1
        assert first_x == {"outline": "0.050000", "box": "0.025000"}[winner], name
        assert rep.counts.get("boxes replaced by their outlines", 0) == replaced, name
        left = rep.counts.get("unreviewed outlines of a person's box left out (accept them to export them)", 0)
        assert left == left_out, name


def test_one_outline_replaces_one_box() -> None:
    from labeler.exporting import drop_boxes_with_outlines
    from labeler.model import Shape

    a = Shape(label="car", points=[(0, 0), (10, 10)], shape_type="rectangle")
    b = Shape(label="car", points=[(1, 1), (10, 10)], shape_type="rectangle")
    o = Shape(label="car", points=[(0, 0), (10, 0), (10, 10), (0, 10)], shape_type="polygon")
    kept, replaced, left_out = drop_boxes_with_outlines([a, b, o])
    assert replaced == 1 and left_out == 0 and len(kept) == 2 and kept[-1] is o


def test_split_must_add_up() -> None:
    import pytest

    from labeler.errors import UsageError
    from labeler.exporting import parse_split

    assert parse_split("0.8,0.2") == [0.8, 0.2]
    assert parse_split("80,10,10") == [0.8, 0.1, 0.1]
    assert parse_split("0.7,0.2,0.1") is not None  # float rounding is fine
    for bad in ("0.5,0.2", "0.8,0.3", "50,20"):
        with pytest.raises(UsageError, match="adds up to"):
            parse_split(bad)


def test_truncated_and_non_images_are_reported_not_exported(tmp_path) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from labeler.cli import cli
    from tests.conftest import labelme_json, make_image, rect, write_json

    root = tmp_path / "ds"
    for i, suffix in enumerate(["jpg", "png", "jpg", "png"]):
        make_image(root / f"im{i}.{suffix}", (64, 48), seed=i)
        write_json(root / f"im{i}.json", labelme_json(f"im{i}.{suffix}", (64, 48), [rect("a", 1, 1, 30, 30)]))
    for name in ("im2.jpg", "im3.png"):  # cut in half
        data = (root / name).read_bytes()
        (root / name).write_bytes(data[: len(data) // 2])
    # a JPEG with bytes appended after its end (as phones do) is fine
    (root / "im0.jpg").write_bytes((root / "im0.jpg").read_bytes() + b"\x00" * 5000)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["export", str(root), "--to", "coco", "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert "im2.jpg" in res.output and "im3.png" in res.output and "truncated" in res.output
    import json

    coco = json.loads(next(out.rglob("*.json")).read_text())
    assert sorted(img["file_name"].rsplit("/", 1)[-1] for img in coco["images"]) == ["im0.jpg", "im1.png"]


def test_export_into_the_dataset_is_refused(tmp_path) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from labeler.cli import cli
    from tests.conftest import labelme_json, make_image, rect, write_json

    root = tmp_path / "ds"
    make_image(root / "a.png", (40, 30))
    write_json(root / "a.json", labelme_json("a.png", (40, 30), [rect("cat", 1, 1, 20, 20)]))
    res = CliRunner().invoke(cli, ["export", str(root), "--to", "yolo", "--out", str(root / "export")])
    assert res.exit_code == 2 and "is inside the dataset" in res.output
    assert not (root / "export").exists()


def test_long_file_names_export_and_save(tmp_path) -> None:  # noqa: ANN001
    """Names near the 255-byte limit: label files save (short temp names) and deep folded
    export names stay legal."""
    from click.testing import CliRunner

    from labeler.cli import cli
    from tests.conftest import labelme_json, make_image, rect, write_json

    root = tmp_path / "ds"
    long_stem = "本" * 80  # 240 bytes
    make_image(root / f"{long_stem}.jpg", (40, 30))
    for d in ("D" * 120, "E" * 120):  # the same 200-byte name in two folders: folded paths
        make_image(root / d / f"{'L' * 200}.jpg", (40, 30), seed=len(d))
        write_json(root / d / f"{'L' * 200}.json", labelme_json(f"{'L' * 200}.jpg", (40, 30), [rect("a", 1, 1, 9, 9)]))
    res = CliRunner().invoke(cli, ["autolabel", str(root), "--plugin", "example_blobs", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (root / f"{long_stem}.json").is_file()
    res = CliRunner().invoke(cli, ["export", str(root), "--to", "yolo", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    labels = list((tmp_path / "out").rglob("*.txt"))
    assert len(labels) == 3 and all(len(p.name.encode()) <= 255 for p in labels)


def test_an_empty_class_name_is_not_exported(tmp_path) -> None:  # noqa: ANN001
    from labeler.dataset import open_dataset
    from labeler.exporting import ExportOptions, select_for_export
    from labeler.plugin_api import Report
    from tests.conftest import labelme_json, make_image, rect, write_json

    root = tmp_path / "ds"
    make_image(root / "a.png", (40, 30))
    write_json(root / "a.json", labelme_json("a.png", (40, 30), [rect("", 1, 1, 9, 9), rect(" ", 2, 2, 9, 9),
                                                                  rect("cat", 1, 1, 20, 20)]))
    report = Report()
    items, classes = select_for_export(open_dataset(root), ExportOptions(), report)
    assert classes == ["cat"] and [s.label for s in items[0].annotation.shapes] == ["cat"]
    assert report.counts["labels left out: empty class name"] == 2


def _suggested_dataset(root: Path) -> Path:
    """A person's box, yolo suggestions scored 0.9, 0.4 and unscored, a sam one at 0.7, and a
    clip image label suggested at 0.6 (plus one rejected, never exported)."""
    from tests.conftest import rect

    def sug(label: str, plugin: str, score: float | None, *box: float) -> dict:
        meta = {"review": "suggested", "source": {"plugin": plugin}}
        if score is not None:
            meta["score"] = score
        return rect(label, *box, labeler=meta)

    make_image(root / "a.png", (60, 40))
    write_json(root / "a.json", labelme_json("a.png", (60, 40), [
        rect("cat", 1, 1, 10, 10), sug("cat", "yolo", 0.9, 12, 1, 20, 10),
        sug("dog", "yolo", 0.4, 22, 1, 30, 10), sug("dog", "sam", 0.7, 32, 1, 40, 10),
        rect("cat", 42, 1, 50, 10, labeler={"review": "rejected", "source": {"plugin": "yolo"}}),
    ], labeler={"image_labels": [{"label": "indoor", "score": 0.6, "review": "suggested",
                                  "source": {"plugin": "clip"}}]}))
    make_image(root / "b.png", (60, 40), seed=3)
    write_json(root / "b.json", labelme_json("b.png", (60, 40), [sug("cat", "yolo", None, 1, 1, 9, 9)]))
    return root


def test_export_counts_the_unreviewed_suggestions_it_writes_per_plugin(tmp_path: Path) -> None:
    root = _suggested_dataset(tmp_path / "ds")
    rep = run_export(open_dataset(root), exporter("yolo"), tmp_path / "out", ExportOptions())
    # The default is unchanged: every unreviewed suggestion is exported (rejected ones never).
    lines = (tmp_path / "out" / "labels" / "train" / "a.txt").read_text().splitlines()
    assert len(lines) == 4
    assert rep.counts["unreviewed suggestions from yolo"] == 3
    assert rep.counts["unreviewed suggestions from sam"] == 1
    assert "unreviewed suggestions from clip" not in rep.counts  # yolo writes no image labels
    rep = run_export(open_dataset(root), exporter("labelme"), tmp_path / "lm", ExportOptions())
    assert rep.counts["unreviewed suggestions from clip"] == 1  # labelme writes both
    rep = run_export(open_dataset(root), exporter("yolo"), tmp_path / "rev",
                     ExportOptions(only_reviewed=True))
    assert not any(k.startswith("unreviewed suggestions") for k in rep.counts)


def test_export_min_score_leaves_out_low_unreviewed_suggestions(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from labeler.cli import cli

    root = _suggested_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["export", str(root), "--to", "labelme", "--out", str(out),
                                   "--min-score", "0.65", "--json"])
    assert res.exit_code == 0, res.output
    counts = json.loads(res.output)["counts"]
    # yolo 0.4, the unscored yolo cat and clip's 0.6 label are left out; yolo 0.9 and sam 0.7 stay.
    assert counts["unreviewed suggestions left out (score below 0.65)"] == 3
    assert counts["unreviewed suggestions from yolo"] == 1
    assert counts["unreviewed suggestions from sam"] == 1
    a = load_all(out)["a.png"]
    assert [(s.label, s.score) for s in a.shapes] == [("cat", None), ("cat", 0.9), ("dog", 0.7)]
    assert a.meta.image_labels == []
    assert load_all(out)["b.png"].shapes == []
    # The source is untouched: still 3 yolo suggestions there.
    assert len([s for s in load_all(root)["a.png"].shapes if s.is_suggestion]) == 3
    text = CliRunner().invoke(cli, ["export", str(root), "--to", "yolo", "--out", str(tmp_path / "y")])
    assert "3 unreviewed suggestions from yolo" in text.output
