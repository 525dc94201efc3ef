"""The loaders share one file walker (hidden folders skipped everywhere) and one "report and
skip" helper, so that they count refused paths alike."""

from __future__ import annotations

import json
from pathlib import Path

from labeler.formats import skip_file, walk_files
from labeler.formats.paddleocr import load_paddleocr
from labeler.formats.ufo import load_ufo
from labeler.formats.yolo import load_yolo
from labeler.interchange import Report
from tests.conftest import make_image

WORD = {"points": [[2, 2], [20, 2], [20, 10], [2, 10]], "transcription": "hi"}
REGION = {"points": [[2, 2], [20, 2], [20, 10], [2, 10]], "transcription": "hi"}


def test_walk_files_skips_hidden_and_cache_folders(tmp_path: Path) -> None:
    for rel in ("b.jpg", "a.JSON", "sub/c.png", ".hidden/d.jpg", "sub/.e.jpg", "__pycache__/f.jpg",
                "skipme/g.jpg", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    rels = lambda ps: [p.relative_to(tmp_path).as_posix() for p in ps]  # noqa: E731
    assert rels(walk_files(tmp_path)) == ["a.JSON", "b.jpg", "notes.txt", "skipme/g.jpg", "sub/c.png"]
    assert rels(walk_files(tmp_path, suffixes=(".json",))) == ["a.JSON"]
    assert rels(walk_files(tmp_path, images=True, skip=tmp_path / "skipme")) == ["b.jpg", "sub/c.png"]
    assert rels(walk_files(tmp_path, recursive=False)) == ["a.JSON", "b.jpg", "notes.txt"]


def test_top_level_coco_csv_and_yaml_lists_skip_hidden_files(tmp_path: Path) -> None:
    """macOS leaves ``._name`` copies beside each file on foreign disks: the COCO, CSV and YOLO
    finders list the folder's own files through the walker, so those are never read."""
    from labeler.formats.coco import find_coco_files
    from labeler.formats.csvfmt import find_csv_files
    from labeler.formats.yolo import find_class_names

    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "cat"}]}
    for name in ("instances.json", "._instances.json"):
        (tmp_path / "coco" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "coco" / name).write_text(json.dumps(coco))
    assert [p.name for p in find_coco_files(tmp_path / "coco")] == ["instances.json"]
    (tmp_path / "csv").mkdir()
    for name in ("labels.csv", "._labels.csv", "sub.csv"):
        (tmp_path / "csv" / name).write_text("image,label\na.jpg,cat\n")
    (tmp_path / "csv" / "nested").mkdir()
    (tmp_path / "csv" / "nested" / "deep.csv").write_text("image,label\n")
    assert [p.name for p in find_csv_files(tmp_path / "csv")] == ["labels.csv", "sub.csv"]
    (tmp_path / "yolo").mkdir()
    (tmp_path / "yolo" / "._ds.yaml").write_text("names: [wrong]\n")
    (tmp_path / "yolo" / "ds.yaml").write_text("names: [cat, dog]\n")
    assert find_class_names(tmp_path / "yolo", Report()) == {0: "cat", 1: "dog"}


def test_skip_file_reports_and_counts() -> None:
    report = Report()
    skip_file(report, "x.jpg: broken")
    assert report.problems == ["x.jpg: broken"] and report.counts == {"skipped": 1}


def test_ufo_no_longer_reads_json_in_hidden_folders(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_image(src / "a.jpg")
    (src / ".backup").mkdir()
    (src / ".backup" / "old.json").write_text(json.dumps({"images": {"a.jpg": {"words": {"1": WORD}}}}))
    (src / "ufo.json").write_text(json.dumps({"images": {"a.jpg": {"words": {"1": WORD}}}}))
    report = Report()
    got = list(load_ufo(src, report))
    assert len(got) == 1 and report.problems == []  # only ufo.json; the backup was not read twice


def test_paddleocr_and_ufo_count_a_path_outside_the_folder_alike(tmp_path: Path) -> None:
    make_image(tmp_path / "outside.jpg")
    counts = {}
    for fmt in ("paddleocr", "ufo"):
        src = tmp_path / fmt
        src.mkdir()
        report = Report()
        if fmt == "paddleocr":
            (src / "Label.txt").write_text(f"../outside.jpg\t{json.dumps([REGION])}\n")
            got = list(load_paddleocr(src, report))
        else:
            (src / "ufo.json").write_text(json.dumps({"images": {"../outside.jpg": {"words": {"1": WORD}}}}))
            got = list(load_ufo(src, report))
        assert got == [] and len(report.problems) == 1, report.problems
        counts[fmt] = report.counts
    assert counts["paddleocr"] == counts["ufo"] == {"skipped": 1}


def test_yolo_ignores_images_in_hidden_folders(tmp_path: Path) -> None:
    src = tmp_path / "yolo"
    make_image(src / "images" / "a.jpg")
    make_image(src / "images" / ".thumbs" / "a.jpg")
    (src / "labels").mkdir()
    (src / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (src / "classes.txt").write_text("cat\n")
    got = list(load_yolo(src, Report()))
    assert [g.rel for g in got] == ["a.jpg"]
