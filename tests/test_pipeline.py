"""Merge rules and batch behaviour of the pipeline, with a small real autolabeler."""

from __future__ import annotations

import json

import numpy as np
from pydantic import BaseModel

import labeler
from labeler.model import Issue, Shape, ShapeMeta, Source
from labeler.pipeline import (
    accept_shape,
    merge_findings,
    merge_suggestions,
    reject_shape,
    run_autolabel,
)
from labeler.plugin_api import Autolabeler
from labeler.predictions import Predictions
from tests.conftest import labelme_json, make_image, rect, write_json


class DarkestQuarter(Autolabeler):
    """Suggests a box on the darkest quarter of the image (real image statistics)."""

    name = "darkest"

    class Options(BaseModel):
        label: str = "dark"

    def predict(self, batch):
        out = []
        for s in batch:
            a = np.asarray(s.image.convert("L"), dtype=float)
            h, w = a.shape
            quads = {(0, 0): a[: h // 2, : w // 2], (1, 0): a[: h // 2, w // 2 :],
                     (0, 1): a[h // 2 :, : w // 2], (1, 1): a[h // 2 :, w // 2 :]}
            (qx, qy), q = min(quads.items(), key=lambda kv: kv[1].mean())
            x1, y1 = qx * (w // 2), qy * (h // 2)
            out.append(Predictions(xyxy=[[x1, y1, x1 + w // 2, y1 + h // 2]], class_name=[self.options.label],
                                   confidence=[1 - q.mean() / 255]))
        return out


def dark_corner_image(path, size=(40, 40), corner=(0, 0)):
    from PIL import Image

    w, h = size
    arr = np.full((h, w, 3), 220, np.uint8)
    cx, cy = corner
    arr[cy * h // 2 : (cy + 1) * h // 2, cx * w // 2 : (cx + 1) * w // 2] = 20
    Image.fromarray(arr).save(path)
    return path


def test_suggestions_have_provenance_and_human_shapes_are_untouched(tmp_path) -> None:
    dark_corner_image(tmp_path / "a.png", corner=(1, 1))
    write_json(tmp_path / "a.json", labelme_json("a.png", (40, 40), [rect("person", 0, 0, 10, 10, extra_key=[1])]))
    human_before = json.loads((tmp_path / "a.json").read_text())["shapes"][0]
    ds = labeler.open_dataset(tmp_path)
    summary = run_autolabel(ds, DarkestQuarter())
    assert summary.processed == 1 and summary.changed == 1 and not summary.failed
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["shapes"][0] == human_before
    sug = data["shapes"][1]
    assert sug["points"] == [[20.0, 20.0], [40.0, 40.0]]
    assert sug["labeler"]["review"] == "suggested"
    assert sug["labeler"]["source"]["plugin"] == "darkest"
    assert 0.8 < sug["labeler"]["score"] <= 1.0
    assert data["labeler"]["processed"]["darkest"]["count"] == 1


def test_rerun_is_idempotent_and_redo_replaces_not_stacks(tmp_path) -> None:
    dark_corner_image(tmp_path / "a.png")
    ds = labeler.open_dataset(tmp_path)
    run_autolabel(ds, DarkestQuarter())
    first = (tmp_path / "a.json").read_bytes()
    again = run_autolabel(ds, DarkestQuarter())
    assert again.skipped_done == 1 and again.changed == 0
    assert (tmp_path / "a.json").read_bytes() == first
    run_autolabel(ds, DarkestQuarter(), redo=True)
    assert len(labeler.load_annotation(tmp_path / "a.json").shapes) == 1
    # New options: the old unreviewed suggestion is replaced, not stacked.
    run_autolabel(ds, DarkestQuarter({"label": "shadow"}))
    assert [s.label for s in labeler.load_annotation(tmp_path / "a.json").shapes] == ["shadow"]


def test_rejected_suggestion_does_not_come_back_and_accepted_is_kept(tmp_path) -> None:
    dark_corner_image(tmp_path / "a.png")
    ds = labeler.open_dataset(tmp_path)
    run_autolabel(ds, DarkestQuarter())
    ann = labeler.load_annotation(tmp_path / "a.json")
    reject_shape(ann, 0)
    labeler.save_annotation(ann, tmp_path / "a.json")
    run_autolabel(ds, DarkestQuarter(), redo=True)
    assert labeler.load_annotation(tmp_path / "a.json").shapes == []
    # Accepted shapes are never replaced either.
    dark_corner_image(tmp_path / "b.png")
    ds.scan(refresh=True)
    run_autolabel(ds, DarkestQuarter())
    ann = labeler.load_annotation(tmp_path / "b.json")
    accept_shape(ann, 0)
    ann.shapes[0].points = [(1.0, 1.0), (19.0, 19.0)]
    labeler.save_annotation(ann, tmp_path / "b.json")
    run_autolabel(ds, DarkestQuarter(), redo=True)
    shapes = labeler.load_annotation(tmp_path / "b.json").shapes
    assert len(shapes) == 1 and shapes[0].review == "accepted" and shapes[0].points[0] == (1.0, 1.0)


def test_bad_image_in_the_middle_is_reported_and_the_rest_done(tmp_path) -> None:
    dark_corner_image(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not an image")
    t = make_image(tmp_path / "c.jpg", (300, 300))
    t.write_bytes(t.read_bytes()[:300])
    dark_corner_image(tmp_path / "d.png")
    summary = run_autolabel(labeler.open_dataset(tmp_path), DarkestQuarter())
    assert summary.processed == 2
    assert len(summary.failed) == 2
    assert any("b.png" in f and "not an image" in f for f in summary.failed)
    assert (tmp_path / "d.json").exists() and not (tmp_path / "b.json").exists()


def test_a_plugin_crash_on_one_image_fails_only_that_image(tmp_path) -> None:
    class Fragile(DarkestQuarter):
        name = "fragile"
        batch_size = 3

        def predict(self, batch):
            if any(s.item.rel == "b.png" for s in batch):
                raise RuntimeError("boom on b")
            return super().predict(batch)

    for n in "abc":
        dark_corner_image(tmp_path / f"{n}.png")
    summary = run_autolabel(labeler.open_dataset(tmp_path), Fragile())
    assert summary.processed == 2
    assert summary.failed == [f"{tmp_path / 'b.png'}: fragile failed: RuntimeError: boom on b"]


def test_resume_after_stop(tmp_path) -> None:
    for n in "abcd":
        dark_corner_image(tmp_path / f"{n}.png")
    ds = labeler.open_dataset(tmp_path)
    calls = iter(range(100))
    first = run_autolabel(ds, DarkestQuarter(), should_stop=lambda: next(calls) >= 2)
    assert first.interrupted and first.processed == 2
    second = run_autolabel(ds, DarkestQuarter())
    assert second.skipped_done == 2 and second.processed == 2


def test_dry_run_writes_nothing(tmp_path) -> None:
    dark_corner_image(tmp_path / "a.png")
    summary = run_autolabel(labeler.open_dataset(tmp_path), DarkestQuarter(), dry_run=True)
    assert summary.changes and not (tmp_path / "a.json").exists()


def test_merge_suggestions_skips_duplicates_of_human_shapes() -> None:
    ann = labeler.Annotation(imagePath="a.jpg")
    ann.add_shape(Shape(label="car", points=[(0, 0), (10, 10)], shape_type="rectangle"))
    src = Source(plugin="p")
    new = [
        Shape(label="car", points=[(1, 1), (10, 10)], shape_type="rectangle", labeler=ShapeMeta(review="suggested", source=src)),
        Shape(label="car", points=[(50, 50), (60, 60)], shape_type="rectangle", labeler=ShapeMeta(review="suggested", source=src)),
    ]
    removed, added = merge_suggestions(ann, new, "p")
    assert (removed, added) == (0, 1)
    assert [s.points[0] for s in ann.shapes] == [(0, 0), (50, 50)]


def test_merge_findings_replaces_own_and_keeps_dismissals() -> None:
    ann = labeler.Annotation(imagePath="a.jpg")
    src = Source(plugin="dup")
    other = Issue(kind="outlier", source=Source(plugin="clip"))
    ann.meta.issues = [
        Issue(kind="duplicate", source=src, related_files=["b.jpg"], state="dismissed"),
        Issue(kind="duplicate", source=src, related_files=["c.jpg"]),
        other,
    ]
    merge_findings(ann, "dup", [Issue(kind="duplicate", source=src, related_files=["b.jpg"]),
                                Issue(kind="duplicate", source=src, related_files=["d.jpg"])])
    states = {tuple(i.related_files): i.state for i in ann.meta.issues if i.kind == "duplicate"}
    assert states == {("b.jpg",): "dismissed", ("d.jpg",): "open"}
    assert other in ann.meta.issues


def test_outline_suggestion_over_a_human_rectangle_is_kept() -> None:
    """SAM turning a person's box into a mask is new information, not a duplicate."""
    ann = labeler.Annotation(imagePath="a.jpg")
    ann.add_shape(Shape(label="car", points=[(0, 0), (10, 10)], shape_type="rectangle"))
    meta = ShapeMeta(review="suggested", source=Source(plugin="sam"))
    outline = Shape(label="car", points=[(1, 0), (10, 2), (9, 10), (0, 9)], shape_type="polygon", labeler=meta)
    box = Shape(label="car", points=[(0, 0), (10, 9)], shape_type="rectangle", labeler=meta)
    assert merge_suggestions(ann, [outline, box], "sam") == (0, 1)
    assert [s.shape_type for s in ann.shapes] == ["rectangle", "polygon"]


def _issues_dataset(root, n: int = 3):  # noqa: ANN001, ANN202
    from labeler.dataset import open_dataset

    for i in range(n):
        make_image(root / f"im{i}.png", (20, 20), seed=i)
        write_json(root / f"im{i}.json", labelme_json(f"im{i}.png", (20, 20), [rect("a", 1, 1, 9, 9)], labeler={
            "issues": [{"kind": "odd", "score": 0.9, "suggested_fix": {"action": "exclude"}}]}))
    return open_dataset(root)


def test_a_crashing_fixer_fails_one_image_and_leaves_it_untouched(tmp_path) -> None:  # noqa: ANN001
    from labeler.pipeline import run_fix
    from labeler.plugin_api import Fixer

    class Flaky(Fixer):
        name = "flaky"
        kinds = ("odd",)

        def fix(self, dataset, item, annotation, issue):  # noqa: ANN001, ANN202
            annotation.meta.exclude = True  # edits first, then crashes on one image
            if item.rel == "im1.png":
                raise RuntimeError("boom")
            return True

    ds = _issues_dataset(tmp_path / "ds")
    before = (tmp_path / "ds" / "im1.json").read_text()
    summary = run_fix(ds, Flaky())
    assert summary.per_class["fixed"] == 2
    assert summary.failed == [f"{tmp_path / 'ds' / 'im1.json'}: flaky failed: RuntimeError: boom"]
    assert (tmp_path / "ds" / "im1.json").read_text() == before  # the half-edited one not saved
    assert json.loads((tmp_path / "ds" / "im0.json").read_text())["labeler"]["exclude"] is True


def test_a_crashing_exporter_is_a_reported_problem(tmp_path) -> None:  # noqa: ANN001
    from labeler.exporting import ExportOptions, run_export
    from labeler.plugin_api import Exporter

    class Broken(Exporter):
        format = "broken"

        def export(self, items, out, classes, report):  # noqa: ANN001, ANN202
            raise KeyError("no such column")

    report = run_export(_issues_dataset(tmp_path / "ds"), Broken(), tmp_path / "out", ExportOptions())
    assert len(report.problems) == 1 and "exporter 'broken' failed: KeyError" in report.problems[0]


def test_a_rerun_with_every_image_done_loads_no_model(tmp_path) -> None:
    """The plugin is set up at the first image that needs work: a rerun of a finished run
    reads the label files and loads nothing (the sample yolo_sam took 5-9 s to say 'all done')."""
    class Counting(DarkestQuarter):
        setups = 0

        def setup(self) -> None:
            type(self).setups += 1
            super().setup()

    for i in range(3):
        dark_corner_image(tmp_path / f"{i}.png", corner=(i % 2, 0))
    ds = labeler.open_dataset(tmp_path)
    first = run_autolabel(ds, Counting())
    assert first.processed == 3 and Counting.setups == 1
    again = run_autolabel(labeler.open_dataset(tmp_path), Counting())
    assert again.skipped_done == 3 and again.processed == 0 and Counting.setups == 1
    dark_corner_image(tmp_path / "new.png")  # one new image, after the done ones: set up once more
    third = run_autolabel(labeler.open_dataset(tmp_path), Counting())
    assert third.processed == 1 and third.skipped_done == 3 and Counting.setups == 2
