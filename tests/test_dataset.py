"""Dataset scanning and the small Python API scripts use."""

from __future__ import annotations

import time

import pytest

import labeler
from labeler.errors import LabelFileReadError
from tests.conftest import labelme_json, make_image, rect, write_json


def test_scan_pairs_images_with_json_recursively(tiny_dataset) -> None:
    ds = labeler.open_dataset(tiny_dataset)
    assert [it.rel for it in ds] == ["a.jpg", "b.png", "d.jpg", "sub/c.jpg"]
    assert [it.has_labels for it in ds] == [True, True, False, True]
    pairs = list(ds.annotations())
    assert [it.rel for it, _ in pairs] == ["a.jpg", "b.png", "sub/c.jpg"]
    assert [s.label for s in pairs[1][1].shapes] == ["dog", "cat"]


def test_python_api_read_modify_write(tiny_dataset) -> None:
    ds = labeler.open_dataset(tiny_dataset)
    item = ds.item("d.jpg")
    ann = ds.load_or_new(item)
    assert (ann.imageWidth, ann.imageHeight, ann.imagePath) == (50, 40, "d.jpg")
    ann.add_shape(labeler.Shape(label="bird", points=[(1, 1), (9, 9)], shape_type="rectangle"))
    ds.save(item, ann)
    assert [s.label for s in labeler.load_annotation(tiny_dataset / "d.json").shapes] == ["bird"]


def test_separate_labels_folder(tmp_path) -> None:
    images = tmp_path / "images"
    labels = tmp_path / "labels"
    make_image(images / "x" / "a.jpg", (20, 10))
    write_json((labels / "x").mkdir(parents=True) or labels / "x" / "a.json",
               labelme_json("../../images/x/a.jpg", (20, 10), [rect("cat", 1, 1, 5, 5)]))
    ds = labeler.open_dataset(images, labels=labels)
    (item,) = ds.items
    assert item.label_path == labels / "x" / "a.json"
    ann = ds.load(item, check_image=True)
    assert ann is not None and ann.shapes[0].label == "cat"
    new = ds.new_annotation(item)
    assert new.imagePath == "../../images/x/a.jpg"


def test_size_mismatch_is_reported_with_an_exif_hint(tmp_path) -> None:
    make_image(tmp_path / "a.jpg", (20, 10))
    write_json(tmp_path / "a.json", labelme_json("a.jpg", (10, 20)))
    ds = labeler.open_dataset(tmp_path)
    with pytest.raises(LabelFileReadError, match="swapped"):
        ds.load(ds.items[0], check_image=True)


def test_conflicts_and_orphans(tmp_path) -> None:
    make_image(tmp_path / "a.jpg")
    make_image(tmp_path / "a.png")
    write_json(tmp_path / "lonely.json", labelme_json("lonely.jpg", (5, 5)))
    scan = labeler.open_dataset(tmp_path).scan()
    assert list(scan.conflicts) == [tmp_path / "a.json"]
    assert scan.orphan_labels == [tmp_path / "lonely.json"]


def test_bad_files_are_skipped_and_reported(tiny_dataset) -> None:
    (tiny_dataset / "b.json").write_text("{broken")
    errors: list = []
    rels = [it.rel for it, _ in labeler.open_dataset(tiny_dataset).annotations(errors=errors)]
    assert rels == ["a.jpg", "sub/c.jpg"]
    assert len(errors) == 1 and "b.json" in str(errors[0])


def test_listing_does_not_decode_images(tmp_path, monkeypatch) -> None:
    """10,000 files list quickly, and no image is opened."""
    src = make_image(tmp_path / "src.jpg", (32, 32))
    root = tmp_path / "many"
    root.mkdir()
    for i in range(10_000):
        (root / f"{i:05d}.jpg").hardlink_to(src)
    import PIL.Image

    def refuse(*a, **k):
        raise AssertionError("an image was opened while listing")

    monkeypatch.setattr(PIL.Image, "open", refuse)
    t = time.perf_counter()
    ds = labeler.open_dataset(root)
    assert len(ds) == 10_000
    assert time.perf_counter() - t < 5.0


def test_validate_names_a_crossed_polygon() -> None:
    from labeler.model import Annotation, Shape
    from labeler.validate import shape_problems

    crossed = Shape(label="t", points=[(0, 0), (10, 10), (10, 0), (0, 10)], shape_type="polygon")  # a bow tie
    flat = Shape(label="t", points=[(0, 0), (5, 0), (10, 0)], shape_type="polygon")
    ann = Annotation(imagePath="a.png", imageWidth=20, imageHeight=20, shapes=[crossed, flat])
    problems = [p for i, s in enumerate(ann.shapes) for p in shape_problems(s, i, (20, 20))]
    assert any("crosses itself" in p for p in problems) and any("zero area" in p for p in problems)


def test_two_images_sharing_one_label_file_are_refused_everywhere(tmp_path) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from labeler.cli import cli
    from tests.conftest import labelme_json, make_image, rect, snapshot, write_json

    root = tmp_path / "ds"
    make_image(root / "a.jpg", (40, 30), seed=1)
    make_image(root / "a.png", (40, 30), seed=2)
    make_image(root / "b.png", (40, 30), seed=3)
    write_json(root / "a.json", labelme_json("a.jpg", (40, 30), [rect("cat", 1, 1, 20, 20)]))
    write_json(root / "b.json", labelme_json("b.png", (40, 30), [rect("dog", 1, 1, 20, 20)]))
    before = snapshot(root)
    res = CliRunner().invoke(cli, ["export", str(root), "--to", "yolo", "--out", str(tmp_path / "out")])
    assert res.exit_code == 1 and res.output.count("one label file for several images (a.jpg, a.png)") == 2
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.txt")) == ["b.txt"]
    res = CliRunner().invoke(cli, ["check", str(root), "--plugin", "duplicates", "--no-progress"])
    assert res.exit_code == 1 and "one label file for several images" in res.output
    assert snapshot(root)["a.json"] == before["a.json"]


def test_a_shared_label_file_is_refused_before_the_folder_is_listed(tmp_path) -> None:  # noqa: ANN001
    """The window loads its first image while the listing runs: the check then reads only the
    image's folder, and must say the same as the listing."""
    from labeler.dataset import Dataset, Item

    root = tmp_path / "ds"
    make_image(root / "sub" / "a.jpg", (40, 30), seed=1)
    make_image(root / "sub" / "a.PNG", (40, 30), seed=2)
    make_image(root / "sub" / "a.b.png", (40, 30), seed=3)  # a.b.json: its own file
    make_image(root / "ab.png", (40, 30), seed=4)
    (root / "sub" / "a.txt").write_text("not an image")
    for name in ("sub/a.json", "sub/a.b.json", "ab.json"):
        write_json(root / name, labelme_json(name.split("/")[-1].replace(".json", ".png"), (40, 30),
                                             [rect("cat", 1, 1, 20, 20)]))
    for listed_first in (False, True):
        ds = Dataset(root)
        if listed_first:
            ds.scan()

        def item(rel: str, ds: Dataset = ds) -> Item:
            path = root / rel
            return Item(path, ds.label_path_for(path), rel)

        assert (ds._scan is not None) is listed_first
        with pytest.raises(LabelFileReadError, match=r"several images \(a.PNG, a.jpg\)"):
            ds.load(item("sub/a.jpg"))
        assert ds.load(item("sub/a.b.png")) is not None and ds.load(item("ab.png")) is not None
        assert (ds._scan is not None) is listed_first  # no listing just to load one image


def test_check_leaves_a_label_file_of_the_wrong_size_alone(tmp_path) -> None:  # noqa: ANN001
    from labeler_plugins.duplicates import Duplicates

    from labeler.dataset import open_dataset
    from labeler.pipeline import run_check

    root = tmp_path / "ds"
    make_image(root / "a.png", (40, 30), seed=1)
    make_image(root / "b.png", (40, 30), seed=1)  # an exact copy: a finding for one of them
    for name in ("a", "b"):
        write_json(root / f"{name}.json", labelme_json(f"{name}.png", (300, 100), [rect("cat", 1, 1, 20, 20)]))
    before = {p.name: p.read_text() for p in root.glob("*.json")}
    summary, _ = run_check(open_dataset(root), Duplicates())
    assert len(summary.failed) == 2 and all("300x100" in f for f in summary.failed)
    assert {p.name: p.read_text() for p in root.glob("*.json")} == before
