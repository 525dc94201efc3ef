"""Image-level formats: torchvision ImageFolder layout and image,label CSV."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import pytest

from labeler.dataset import open_dataset
from labeler.exporting import ExportOptions, run_export, run_import
from labeler.formats.imagefolder import TORCHVISION_EXTENSIONS
from labeler.io.labelfile import load_annotation

try:  # the tests folder as a package (pythonpath=.) or on sys.path (pytest's default)
    from tests.conftest import SAMPLE, labelme_json, make_image, write_json
except ImportError:  # pragma: no cover
    from conftest import SAMPLE, labelme_json, make_image, write_json  # type: ignore[no-redef]
try:
    from tests.test_formats_common import export_import, exporter, importer, load_all
except ImportError:  # pragma: no cover
    from test_formats_common import export_import, exporter, importer, load_all  # type: ignore[no-redef]


def labels_by_name(root: Path) -> dict[str, list[str]]:
    return {name: sorted(ann.image_labels) for name, ann in load_all(root).items()}


def classification_dataset(root: Path) -> Path:
    """Images with one, zero and two image labels, in nested folders with the same name."""
    for i, (rel, labels) in enumerate([
        ("a/x.png", ["cat"]), ("b/x.png", ["dog"]), ("c.jpg", ["cat"]), ("d.jpg", []),
        ("e.jpg", ["cat", "dog"]), ("f.jpg", ["dog"]),
    ]):
        img = make_image(root / rel, (24, 20), seed=i)
        extra = {"labeler": {"image_labels": [{"label": lab} for lab in labels]}} if labels else {}
        write_json(img.with_suffix(".json"), labelme_json(img.name, (24, 20), **extra))
    return root


def torchvision_samples(root: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """What torchvision.datasets.ImageFolder(root) would load: (classes, [(path, index)]).

    The rules of torchvision/datasets/folder.py (find_classes, make_dataset): every folder
    directly in ``root`` is a class, sorted by name; files anywhere below it whose lower-cased
    name ends with an IMG_EXTENSIONS entry are its samples. When torchvision is already loaded
    (importing it costs seconds), its own make_dataset is asked too.
    """
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    samples = []
    for i, c in enumerate(classes):
        for dirpath, _d, files in sorted(os.walk(root / c, followlinks=True)):
            for f in sorted(files):
                if f.lower().endswith(TORCHVISION_EXTENSIONS):
                    samples.append((str(Path(dirpath, f).relative_to(root)), i))
    if "torchvision" in sys.modules:
        from torchvision.datasets.folder import make_dataset

        real = make_dataset(str(root), {c: i for i, c in enumerate(classes)}, TORCHVISION_EXTENSIONS)
        assert sorted((str(Path(p).relative_to(root)), i) for p, i in real) == sorted(samples)
    return classes, samples


def test_imagefolder_layout_follows_torchvision(tmp_path: Path) -> None:
    src = classification_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    rep = run_export(open_dataset(src), exporter("imagefolder"), out, ExportOptions())
    classes, samples = torchvision_samples(out)
    assert classes == ["cat", "dog"]
    assert sorted(samples) == [("cat/a__x.png", 0), ("cat/c.jpg", 0), ("dog/b__x.png", 1), ("dog/f.jpg", 1)]
    assert all(p.is_dir() for p in out.iterdir())  # nothing but class folders at the top
    assert rep.counts["skipped (no image label)"] == 1
    assert rep.counts["skipped (several image labels)"] == 1
    assert any("e.jpg" in p for p in rep.problems)


def test_imagefolder_split_layout_and_empty_class_dirs(tmp_path: Path) -> None:
    src = classification_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    rep = run_export(open_dataset(src), exporter("imagefolder"), out, ExportOptions(split=[0.5, 0.5]))
    assert sorted(p.name for p in out.iterdir()) == ["train", "val"]
    for split in ("train", "val"):
        classes, samples = torchvision_samples(out / split)
        assert classes == ["cat", "dog"] and len(samples) == 2
    out2 = tmp_path / "out2"
    rep = run_export(open_dataset(src), exporter("imagefolder", empty_class_dirs=True), out2,
                     ExportOptions(split=[0.8, 0.2, 0.0]))
    assert rep.problems == [p for p in rep.problems if "e.jpg" in p]
    for split in ("train", "val"):
        assert sorted(p.name for p in (out2 / split).iterdir()) == ["cat", "dog"]


def test_imagefolder_roundtrip(tmp_path: Path) -> None:
    src = classification_dataset(tmp_path / "ds")
    first = tmp_path / "first"
    run_import(importer("imagefolder"), run_export_to(src, "imagefolder", tmp_path / "e1"), first)
    assert labels_by_name(first) == {"a__x.png": ["cat"], "b__x.png": ["dog"], "c.jpg": ["cat"], "f.jpg": ["dog"]}
    back, rep, rep2 = export_import(first, "imagefolder", tmp_path)
    assert rep.problems == [] and rep2.problems == []
    assert labels_by_name(back) == labels_by_name(first)


def run_export_to(src: Path, fmt: str, out: Path, **opts: object) -> Path:
    run_export(open_dataset(src), exporter(fmt, **opts), out, ExportOptions())
    return out


def test_imagefolder_import_splits_nested_and_junk(tmp_path: Path) -> None:
    src = tmp_path / "if"
    make_image(src / "train" / "cat" / "1.jpg", (10, 10))
    make_image(src / "train" / "cat" / "deep" / "2.png", (10, 12))
    make_image(src / "val" / "dog" / "3.jpg", (10, 10))
    (src / "train" / "cat" / "notes.txt").write_text("x")
    (src / "train" / "README.md").write_text("x")
    out = tmp_path / "o"
    rep = run_import(importer("imagefolder"), src, out)
    assert rep.problems == [] and rep.counts["images"] == 3
    assert load_annotation(out / "train" / "cat" / "deep" / "2.json").image_labels == ["cat"]
    assert load_annotation(out / "val" / "dog" / "3.json").imageHeight == 10
    assert any("2 file(s) ignored" in n for n in rep.notes)


def test_imagefolder_sample_sketches_roundtrip(tmp_path: Path) -> None:
    back, rep, rep2 = export_import(SAMPLE / "sketches", "imagefolder", tmp_path, split=[0.8, 0.2])
    assert rep.problems == [] and rep2.problems == []
    orig = labels_by_name(SAMPLE / "sketches")
    assert labels_by_name(back) == orig


def test_csv_roundtrip_sample_sketches(tmp_path: Path) -> None:
    back, rep, rep2 = export_import(SAMPLE / "sketches", "csv", tmp_path, split=[0.7, 0.2, 0.1])
    out = tmp_path / "csv-out"
    assert sorted(p.name for p in out.glob("*.csv")) == ["test.csv", "train.csv", "val.csv"]
    with (out / "train.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["image", "label"] and all((out / r[0]).is_file() for r in rows[1:])
    assert rep.problems == [] and rep2.problems == []
    back_labels = {Path(k).name: v for k, v in labels_by_name(back).items()}
    assert back_labels == labels_by_name(SAMPLE / "sketches")


def test_csv_multilabel_roundtrip_and_skips(tmp_path: Path) -> None:
    src = classification_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    rep = run_export(open_dataset(src), exporter("csv"), out, ExportOptions())
    text = (out / "labels.csv").read_text()
    assert text.splitlines()[0] == "image,label"
    assert "images/e.jpg,cat dog" in text.splitlines()
    assert rep.counts["skipped (no image label)"] == 1 and rep.counts["multi-label images"] == 1
    back = tmp_path / "back"
    rep = run_import(importer("csv"), out, back)
    assert rep.problems == []
    got = {Path(k).name: v for k, v in labels_by_name(back).items()}
    assert got == {"a__x.png": ["cat"], "b__x.png": ["dog"], "c.jpg": ["cat"], "e.jpg": ["cat", "dog"], "f.jpg": ["dog"]}


def test_csv_import_hostile_and_missing_paths(tmp_path: Path) -> None:
    outside = make_image(tmp_path / "outside.jpg", (8, 8))
    src = tmp_path / "c"
    make_image(src / "img" / "ok.jpg", (8, 8))
    make_image(src / "img" / "two.jpg", (8, 8))
    (src / "list.csv").write_text(
        "filename,class,split\n"
        "img/ok.jpg,cat,train\n"
        f"../{outside.name},cat,train\n"
        "/etc/passwd,cat,train\n"
        "img/missing.jpg,dog,val\n"
        "img/two.jpg,cat,val\n"
        "img/two.jpg,dog,val\n"
        "short\n",
        encoding="utf-8",
    )
    out = tmp_path / "o"
    rep = run_import(importer("csv"), src, out)
    text = "\n".join(rep.problems)
    assert text.count("unsafe path") == 2 and "missing.jpg: image not found" in text
    assert "list.csv:8" in text
    assert load_annotation(out / "img" / "two.json").image_labels == ["cat", "dog"]
    assert sorted(p.name for p in (out / "img").iterdir()) == ["ok.jpg", "ok.json", "two.jpg", "two.json"]
    assert not (tmp_path / "outside.json").exists()


@pytest.mark.parametrize("fmt", ["csv", "imagefolder"])
def test_unsafe_labels_refused(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "ds"
    img = make_image(root / "a.jpg", (10, 10))
    label = "../evil" if fmt == "imagefolder" else "two words"
    write_json(img.with_suffix(".json"), labelme_json("a.jpg", (10, 10), labeler={"image_labels": [{"label": label}]}))
    out = tmp_path / "o"
    rep = run_export(open_dataset(root), exporter(fmt), out, ExportOptions())
    assert len(rep.problems) == 1 and "a.jpg" in rep.problems[0]
    assert not (tmp_path / "evil").exists()
    if fmt == "csv":
        rep = run_export(open_dataset(root), exporter("csv", separator=";"), tmp_path / "o2", ExportOptions())
        assert rep.problems == [] and "two words" in (tmp_path / "o2" / "labels.csv").read_text()


@pytest.mark.slow
def test_imagefolder_export_loads_in_torchvision(tmp_path: Path) -> None:
    """The real torchvision.datasets.ImageFolder reads the export, split by split."""
    from torchvision.datasets import ImageFolder

    out = tmp_path / "out"
    run_export(open_dataset(SAMPLE / "sketches"), exporter("imagefolder"), out,
               ExportOptions(split=[0.8, 0.2], seed=1))
    train = ImageFolder(str(out / "train"))
    val = ImageFolder(str(out / "val"))
    assert len(train.classes) == 10 and train.classes == val.classes
    assert len(train) + len(val) == 126
    image, target = train[0]
    assert image.size == (64, 64) and train.classes[target] in train.classes
