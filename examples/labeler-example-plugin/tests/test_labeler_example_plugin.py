"""Unit tests of the example plugin, the way a plugin author tests their own package.

Build tiny real images with Pillow in ``tmp_path``, call the classes directly, and run them
through ``labeler.pipeline`` / ``labeler.exporting`` where the merge rules matter.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import labeler_example_plugin
import numpy as np
import pytest
from labeler_example_plugin.bbox_csv import BboxCsvImporter
from labeler_example_plugin.blobs import BlobAutolabeler, find_blobs
from labeler_example_plugin.checks import DarkImageCheck, DuplicateFileCheck
from labeler_example_plugin.fixers import ExcludeFixer
from PIL import Image
from pydantic import ValidationError

from labeler import plugins
from labeler.dataset import Dataset, open_dataset
from labeler.exporting import run_import
from labeler.model import Annotation, Issue
from labeler.pipeline import run_autolabel
from labeler.plugin_api import Report, Sample


def picture(
    size: tuple[int, int] = (64, 48),
    background: tuple[int, int, int] = (60, 60, 60),
    boxes: dict[tuple[int, int, int, int], tuple[int, int, int]] | None = None,
) -> Image.Image:
    img = Image.new("RGB", size, background)
    for box, colour in (boxes or {}).items():
        img.paste(colour, box)
    return img


def boxes_of(autolabeler: BlobAutolabeler, img: Image.Image) -> list[list[float]]:
    preds = autolabeler.predict_one(img)
    return sorted(np.round(preds.xyxy, 1).tolist())


@pytest.fixture
def example_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[plugins.Registry]:
    """Register the plugin by hand, alone, as a test of an uninstalled plugin would."""
    monkeypatch.setenv("LABELER_PLUGINS", "")
    plugins.reset()
    plugins.register_plugin(labeler_example_plugin, "example")
    yield plugins.get_registry()
    plugins.reset()


def test_every_hook_registers_something(example_plugin: plugins.Registry) -> None:
    assert example_plugin.plugins["example"].provides == {
        "autolabelers": ["example_blobs"],
        "checks": ["example_dark", "example_duplicates"],
        "fixers": ["example_exclude"],
        "importers": ["bbox-csv"],
        "exporters": ["bbox-csv"],
    }
    assert example_plugin.plugins["example"].commands
    assert example_plugin.plugins["example"].version == labeler_example_plugin.__version__


# -- find_blobs -------------------------------------------------------------------------------
def test_find_blobs_joins_4_connected_pixels_only() -> None:
    values = np.zeros((12, 12))
    values[2:8, 2] = values[2:8, 6] = values[7, 2:7] = 1.0  # a U: one blob
    values[10, 10] = values[11, 11] = 0.9  # diagonal neighbours: two blobs
    blobs = sorted(find_blobs(values, 0.5), key=lambda b: (b.y1, b.x1))
    assert [(b.x1, b.y1, b.x2, b.y2, b.area) for b in blobs] == [
        (2, 2, 7, 8, 15),
        (10, 10, 11, 11, 1),
        (11, 11, 12, 12, 1),
    ]
    assert blobs[1].mean == pytest.approx(0.9)
    assert [b.area for b in find_blobs(values, 0.5, min_area=2)] == [15]
    assert find_blobs(values, 1.1) == []


def test_find_blobs_matches_a_flood_fill_on_noise() -> None:
    rng = np.random.default_rng(0)
    values = rng.random((40, 50))
    mask = values >= 0.6
    # Reference: a plain flood fill.
    seen = np.zeros_like(mask)
    areas = []
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        stack, area = [(y, x)], 0
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            area += 1
            for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                if 0 <= ny < 40 and 0 <= nx < 50 and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        areas.append(area)
    assert sorted(b.area for b in find_blobs(values, 0.6)) == sorted(areas)


# -- BlobAutolabeler --------------------------------------------------------------------------
def test_blobs_boxes_scores_and_background() -> None:
    img = picture(boxes={(5, 5, 15, 15): (255, 255, 255), (30, 20, 50, 35): (210, 210, 210)})
    preds = BlobAutolabeler({"label": "light"}).predict_one(img)
    assert preds.class_name.tolist() == ["light", "light"]
    assert preds.xyxy.tolist() == [[5, 5, 15, 15], [30, 20, 50, 35]]  # best score first
    assert preds.confidence.tolist() == pytest.approx([1.0, 210 / 255])
    # A bright background is one huge blob: ignored (max_area_fraction).
    assert len(BlobAutolabeler().predict_one(picture(background=(250, 250, 250)))) == 0
    assert len(BlobAutolabeler({"max_blobs": 1}).predict_one(img)) == 1


def test_blobs_on_a_large_image_are_found_in_original_coordinates() -> None:
    img = picture(size=(1000, 800), boxes={(100, 100, 300, 200): (255, 255, 255)})
    (box,) = boxes_of(BlobAutolabeler({"max_side": 100}), img)
    assert box == pytest.approx([100, 100, 300, 200], abs=10)
    # min_area is in original pixels: 200x100 = 20000 px.
    assert boxes_of(BlobAutolabeler({"max_side": 100, "min_area": 30000}), img) == []


def test_blobs_saturation_channel_finds_colour_not_white() -> None:
    img = picture(boxes={(5, 5, 15, 15): (255, 255, 255), (30, 20, 50, 35): (220, 30, 30)})
    assert boxes_of(BlobAutolabeler({"channel": "saturation", "threshold": 0.5}), img) == [
        [30, 20, 50, 35]
    ]


def test_blobs_options_are_validated() -> None:
    with pytest.raises(ValidationError):
        BlobAutolabeler({"threshold": 2})
    with pytest.raises(ValidationError):
        BlobAutolabeler({"treshold": 0.5})  # typo: extra="forbid" catches it
    assert BlobAutolabeler({"batch": 3}).effective_batch_size() == 3
    assert BlobAutolabeler().config_key() != BlobAutolabeler({"threshold": 0.5}).config_key()


def test_blobs_through_the_pipeline(tmp_path: Path) -> None:
    picture(boxes={(5, 5, 15, 15): (255, 255, 255)}).save(tmp_path / "a.png")
    ds = open_dataset(tmp_path)
    summary = run_autolabel(ds, BlobAutolabeler())
    assert summary.failed == [] and summary.per_class == {"blob": 1}
    (shape,) = ds.load(ds.items[0]).shapes
    assert shape.is_suggestion and shape.source is not None
    assert (shape.source.plugin, shape.source.model) == ("example_blobs", "numpy-threshold")


# -- checks -----------------------------------------------------------------------------------
def sample_of(tmp_path: Path, img: Image.Image, name: str = "x.png") -> Sample:
    img.save(tmp_path / name)
    ds = open_dataset(tmp_path)
    item = ds.item(name)
    return Sample(item=item, annotation=ds.new_annotation(item), image=img)


@pytest.mark.parametrize(
    ("background", "boxes", "kinds"),
    [
        ((5, 5, 5), {(5, 5, 10, 10): (200, 200, 200)}, ["too_dark"]),
        ((0, 0, 0), {}, ["too_dark"]),  # black: too dark (not also "low contrast")
        ((128, 128, 128), {}, ["low_contrast"]),
        ((128, 128, 128), {(5, 5, 40, 40): (255, 255, 255)}, []),
    ],
)
def test_dark_check(
    tmp_path: Path, background: tuple[int, int, int], boxes: dict, kinds: list[str]
) -> None:
    issues = DarkImageCheck().check_sample(
        sample_of(tmp_path, picture(background=background, boxes=boxes))
    )
    assert [i.kind for i in issues] == kinds
    for issue in issues:
        assert 0.5 <= (issue.score or 0) <= 1.0
        assert issue.suggested_fix is not None and issue.suggested_fix["action"] == "exclude"


def test_dark_check_black_scores_highest(tmp_path: Path) -> None:
    check = DarkImageCheck({"dark_below": 0.5})
    black = check.check_sample(sample_of(tmp_path, picture(background=(0, 0, 0)), "b.png"))[0]
    dim = check.check_sample(sample_of(tmp_path, picture(background=(100, 100, 100)), "d.png"))[0]
    assert black.score == 1.0 and 0.5 < (dim.score or 0) < 1.0


def test_duplicate_check_keeps_the_first_by_path(tmp_path: Path) -> None:
    picture().save(tmp_path / "b.png")
    (tmp_path / "a.png").write_bytes((tmp_path / "b.png").read_bytes())
    picture(background=(1, 2, 3)).save(tmp_path / "c.png")
    ds = open_dataset(tmp_path)
    items = [(it, ds.new_annotation(it)) for it in ds.items]
    findings = list(DuplicateFileCheck().run(ds, items, lambda done, total: None))
    assert [(f.rel, f.issue.related_files) for f in findings] == [("b.png", ["a.png"])]


# -- fixer ------------------------------------------------------------------------------------
def test_exclude_fixer_restores_an_earlier_manual_exclusion(tmp_path: Path) -> None:
    ann = Annotation(imagePath="x.png")
    ann.meta.exclude, ann.meta.exclude_reason = True, "blurry, says Ann"
    issue = Issue(kind="too_dark", suggested_fix={"action": "exclude", "reason": "too dark"})
    ann.meta.issues.append(issue)
    fixer = ExcludeFixer()
    ds = Dataset(tmp_path)
    assert fixer.applies_to(issue)
    assert not fixer.applies_to(Issue(kind="too_dark", suggested_fix={"action": "relabel"}))

    assert fixer.fix(ds, None, ann, issue)  # type: ignore[arg-type]
    assert ann.meta.exclude_reason == "too dark"
    assert fixer.undo(ds, None, ann, issue)  # type: ignore[arg-type]
    assert (ann.meta.exclude, ann.meta.exclude_reason) == (True, "blurry, says Ann")


# -- bbox-csv importer ------------------------------------------------------------------------
def test_bbox_csv_importer_reports_bad_rows(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    picture().save(src / "a.png")
    (src / "boxes.csv").write_text(
        "\ufeffimage,label,x1,y1,x2,y2\n"  # a BOM, as Excel writes
        "a.png,cat,1,2,30,40\n"
        "a.png,dog,1,2,x,40\n"
        "a.png,dog,30,2,10,40\n"
        "a.png,,1,2,3,4\n"
        "a.png,cat,1,2\n"
        "missing.png,cat,1,2,3,4\n"
        "\n",
        encoding="utf-8",
    )
    report = Report()
    (imported,) = list(BboxCsvImporter().read(src / "boxes.csv", report))
    assert imported.rel == "a.png" and [s.label for s in imported.annotation.shapes] == ["cat"]
    assert (imported.annotation.imageWidth, imported.annotation.imageHeight) == (64, 48)
    problems = "\n".join(report.problems)
    assert "line 3: x2 is 'x', not a number" in problems
    assert "line 4: empty box" in problems
    assert "line 5: the label column is empty" in problems
    assert "line 6: expected 6 columns, got 4" in problems
    assert "missing.png" in problems and "file not found" in problems


def test_bbox_csv_importer_refuses_a_wrong_header_and_paths_outside(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("file,class\n", encoding="utf-8")
    report = Report()
    assert list(BboxCsvImporter().read(tmp_path, report)) == []
    assert "line 1: expected the header" in report.problems[0]

    src = tmp_path / "src"
    src.mkdir()
    picture().save(tmp_path / "outside.png")
    (src / "labels.csv").write_text(
        "image,label,x1,y1,x2,y2\n../outside.png,cat,1,1,5,5\n", encoding="utf-8"
    )
    report = run_import(BboxCsvImporter(), src, tmp_path / "out")
    assert report.counts.get("images", 0) == 0 and "unsafe path" in report.problems[0]
