"""labeler.review and ``labeler review``: headless review of machine suggestions.

Every test builds a small real dataset in tmp_path: images, and label files holding a person's
shapes and suggestions from several plugins with several scores.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import labeler
from labeler.cli import cli
from labeler.dataset import Item
from labeler.model import Annotation, ImageLabel, Shape, ShapeMeta, Source
from labeler.pipeline import merge_suggestions
from labeler.review import (
    Selection,
    pending_summary,
    review_dataset,
    review_dir,
    score_bucket,
    undo_review,
)
from tests.conftest import make_image, snapshot


def run(*args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def suggestion(label: str, plugin: str, score: float | None, box: tuple[float, float, float, float],
               shape_type: str = "rectangle") -> Shape:
    x1, y1, x2, y2 = box
    points = [(x1, y1), (x2, y2)] if shape_type == "rectangle" else [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    shape = Shape(label=label, shape_type=shape_type, points=points,
                  meta=ShapeMeta(score=score, review="suggested",
                                 source=Source(plugin=plugin, model=f"{plugin}.pt")))
    shape.seal()
    return shape


def human(label: str, box: tuple[float, float, float, float]) -> Shape:
    x1, y1, x2, y2 = box
    return Shape(label=label, shape_type="rectangle", points=[(x1, y1), (x2, y2)])


def build(root: Path) -> labeler.Dataset:
    """a: a person's cat, yolo cat 0.91 / dog 0.25, sam polygon cat 0.55;
    b: yolo dog 0.85, sam polygon cat 0.10, clip image label 'indoor' 0.95;
    c: a person's shape only; d: no label file; e: yolo cat without a score."""
    for i, name in enumerate("abcde"):
        make_image(root / f"{name}.png", (64, 48), seed=i)
    ds = labeler.open_dataset(root)
    docs = {
        "a": [human("cat", (1, 1, 10, 10)), suggestion("cat", "yolo", 0.91, (20, 5, 40, 30)),
              suggestion("dog", "yolo", 0.25, (40, 30, 60, 45)),
              suggestion("cat", "sam", 0.55, (20, 5, 40, 30), "polygon")],
        "b": [suggestion("dog", "yolo", 0.85, (5, 5, 30, 30)),
              suggestion("cat", "sam", 0.10, (35, 5, 60, 40), "polygon")],
        "c": [human("dog", (2, 2, 20, 20))],
        "e": [suggestion("cat", "yolo", None, (3, 3, 30, 30))],
    }
    for name, shapes in docs.items():
        item = ds.item(f"{name}.png")
        ann = ds.new_annotation(item)
        ann.shapes = shapes
        if name == "b":
            ann.meta.image_labels = [ImageLabel(label="indoor", score=0.95, review="suggested",
                                                source=Source(plugin="clip"))]
        ds.save(item, ann)
    return labeler.open_dataset(root)


def states(root: Path, name: str) -> list[tuple[str, str | None, str | None]]:
    ann = labeler.load_annotation(root / f"{name}.json")
    return [(s.label, s.source.plugin if s.source else None, s.review) for s in ann.shapes]


def label_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("*.json"))}


# -- selection and the rules --------------------------------------------------------------------
def test_accept_above_and_reject_below_in_one_run(tmp_path: Path) -> None:
    build(tmp_path)
    res = run("review", str(tmp_path), "--accept-above", "0.8", "--reject-below", "0.3", "--no-progress")
    assert res.exit_code == 0, res.output
    assert states(tmp_path, "a") == [("cat", None, None), ("cat", "yolo", "accepted"),
                                     ("cat", "sam", "suggested")]  # dog 0.25 rejected, sam 0.55 left
    assert states(tmp_path, "b") == [("dog", "yolo", "accepted")]
    a = labeler.load_annotation(tmp_path / "a.json")
    assert [(r.label, r.source.plugin) for r in a.meta.rejected] == [("dog", "yolo")]
    b = labeler.load_annotation(tmp_path / "b.json")
    assert [(lab.label, lab.review) for lab in b.meta.image_labels] == [("indoor", "accepted")]
    # A suggestion without a score is settled by neither bound.
    assert states(tmp_path, "e") == [("cat", "yolo", "suggested")]
    assert not (tmp_path / "d.json").exists()  # no label file is ever created
    assert "2 rejected" in res.output and "3 accepted" in res.output


def test_plugin_and_label_filters(tmp_path: Path) -> None:
    build(tmp_path)
    res = run("review", str(tmp_path), "--reject-below", "0.6", "--plugin", "sam", "--no-progress")
    assert res.exit_code == 0, res.output
    assert states(tmp_path, "a") == [("cat", None, None), ("cat", "yolo", "suggested"),
                                     ("dog", "yolo", "suggested")]  # only sam's went
    assert states(tmp_path, "b") == [("dog", "yolo", "suggested")]
    res = run("review", str(tmp_path), "--accept-above", "0", "--label", "dog,indoor", "--no-progress")
    assert res.exit_code == 0, res.output
    assert states(tmp_path, "a")[2] == ("dog", "yolo", "accepted")
    assert states(tmp_path, "a")[1] == ("cat", "yolo", "suggested")
    b = labeler.load_annotation(tmp_path / "b.json")
    assert b.meta.image_labels[0].review == "accepted"
    # Repeatable --plugin, and --shape-type leaves image labels alone.
    run("review", str(tmp_path), "--accept-above", "0", "--plugin", "yolo", "--plugin", "clip",
        "--shape-type", "polygon", "--no-progress")
    assert states(tmp_path, "a")[1] == ("cat", "yolo", "suggested")


def test_a_mistyped_filter_is_refused_with_its_near_name_before_any_write(tmp_path: Path) -> None:
    build(tmp_path)
    before = label_files(tmp_path)
    for args, message in (
        (("--plugin", "yolox"), "--plugin 'yolox'"),
        (("--label", "dgo"), "--label 'dgo': no shape or image-level label here has that class; did you mean 'dog'?"),
        (("--label", "cat,dgo"), "did you mean 'dog'?"),  # one typo among good names still refuses
        (("--shape-type", "polygn"), "--shape-type 'polygn'"),
    ):
        res = CliRunner().invoke(cli, ["review", str(tmp_path), "--accept-above", "0", *args, "--no-progress"])
        assert res.exit_code == 2, res.output
        assert message in res.output, res.output
        assert label_files(tmp_path) == before  # nothing accepted
    res = run("review", str(tmp_path), "--plugin", "yolox", "--no-progress")  # the listing too
    assert res.exit_code == 2 and "did you mean 'yolo'" in res.output, res.output
    # Names that exist pass; an installed plugin that made nothing here, or a shape type labelme
    # knows that no shape here has, passes with a note saying so.
    for args, note in ((("--label", "dog"), None),
                       (("--plugin", "duplicates"), "suggestions here come from: clip, sam, yolo"),
                       (("--shape-type", "circle"), "--shape-type 'circle': no shape here has that type")):
        res = run("review", str(tmp_path), *args, "--no-progress")
        assert res.exit_code == 0, res.output
        assert (note in res.output) if note else ("note" not in res.output), res.output


def test_selection_bounds() -> None:
    s = suggestion("cat", "yolo", 0.8, (0, 0, 5, 5))
    assert Selection.of(at_least=0.8).matches_shape(s)
    assert not Selection.of(below=0.8).matches_shape(s)
    assert Selection.of(below=0.81, plugins=["sam,yolo"]).matches_shape(s)
    assert not Selection.of(labels=["dog"]).matches_shape(s)
    assert not Selection.of(at_least=0.0).matches_shape(human("cat", (0, 0, 5, 5)))
    assert score_bucket(1.0) == "0.9-1.0" and score_bucket(0.25) == "0.2-0.3"
    assert score_bucket(None) == "no score"


def test_mark_reviewed_only_where_nothing_is_pending(tmp_path: Path) -> None:
    build(tmp_path)
    res = run("review", str(tmp_path), "--accept-above", "0.5", "--plugin", "yolo,clip",
              "--mark-reviewed", "--no-progress")
    assert res.exit_code == 0, res.output
    reviewed = {n: labeler.load_annotation(tmp_path / f"{n}.json").meta.reviewed for n in "abce"}
    # a: sam's outline is still pending; b: sam's 0.10 too; e: the unscored one.
    assert reviewed == {"a": False, "b": False, "c": True, "e": False}


# -- listing ------------------------------------------------------------------------------------
def test_listing_counts_per_plugin_label_score_and_image(tmp_path: Path) -> None:
    build(tmp_path)
    before = label_files(tmp_path)
    res = run("review", str(tmp_path), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["suggestions"] == 7 and data["image_labels"] == 1
    assert data["per_plugin"] == {"clip": 1, "sam": 2, "yolo": 4}
    assert data["per_label"] == {"cat": 4, "dog": 2, "indoor": 1}
    assert data["per_image"] == {"a.png": 3, "b.png": 3, "e.png": 1}
    hist = data["score_histogram"]
    assert hist["0.9-1.0"] == 2 and hist["0.8-0.9"] == 1 and hist["0.1-0.2"] == 1
    assert hist["no score"] == 1 and sum(hist.values()) == 7
    assert label_files(tmp_path) == before  # listing writes nothing
    text = run("review", str(tmp_path), "--plugin", "sam", "--no-progress").output
    assert "2 suggestion(s) pending in 2 image(s)" in text and "a.png: 1" in text


# -- dry run and undo ---------------------------------------------------------------------------
def test_dry_run_prints_every_change_and_writes_nothing(tmp_path: Path) -> None:
    build(tmp_path)
    before = snapshot(tmp_path)
    res = run("review", str(tmp_path), "--accept-above", "0.8", "--reject-below", "0.3",
              "--mark-reviewed", "--dry-run", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "a.png: shape 1 'cat' 0.91 suggested -> accepted" in res.output
    assert "a.png: shape 2 'dog' 0.25 suggested -> rejected" in res.output
    assert "b.png: shape 1 'cat' 0.10 suggested -> rejected" in res.output
    assert "b.png: image label 0 'indoor' 0.95 suggested -> accepted" in res.output
    assert "c.png: marked reviewed" in res.output
    assert snapshot(tmp_path) == before  # not a byte, not a record
    assert not review_dir(labeler.open_dataset(tmp_path)).exists()


def test_undo_restores_the_files_exactly(tmp_path: Path) -> None:
    build(tmp_path)
    before = label_files(tmp_path)
    res = run("review", str(tmp_path), "--accept-above", "0.8", "--reject-below", "0.3",
              "--mark-reviewed", "--no-progress")
    assert res.exit_code == 0, res.output
    assert label_files(tmp_path) != before
    records = list(review_dir(labeler.open_dataset(tmp_path)).glob("*.json"))
    assert len(records) == 1
    entry = json.loads(records[0].read_text())["files"]["a.png"]["changes"]
    rejected = [e for e in entry if e["new"] == "rejected"]
    assert rejected[0]["fingerprint"] == suggestion("dog", "yolo", 0.25, (40, 30, 60, 45)).fingerprint()
    assert rejected[0]["index"] == 2 and rejected[0]["shape"]["label"] == "dog"
    res = run("review", str(tmp_path), "--undo", "--no-progress")
    assert res.exit_code == 0, res.output
    assert label_files(tmp_path) == before
    # The run is undone: a second undo finds nothing.
    assert "No review run to undo" in run("review", str(tmp_path), "--undo", "--no-progress").output


def test_undo_reverts_only_what_is_still_as_the_run_left_it(tmp_path: Path) -> None:
    ds = build(tmp_path)
    run("review", str(tmp_path), "--accept-above", "0.8", "--reject-below", "0.3", "--no-progress")
    # A person moves the accepted yolo cat of a.png afterwards.
    item = ds.item("a.png")
    ann = ds.load(item)
    ann.shapes[1].points = [(21.0, 6.0), (41.0, 31.0)]
    ds.save(item, ann)
    edited = (tmp_path / "a.json").read_bytes()
    res = run("review", str(tmp_path), "--undo", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "left alone" in res.output and "a.png: shape 1 'cat'" in res.output
    a = labeler.load_annotation(tmp_path / "a.json")
    assert [(s.label, s.review) for s in a.shapes] == [
        ("cat", None), ("cat", "accepted"), ("dog", "suggested"), ("cat", "suggested")]
    assert a.shapes[1].points[0] == (21.0, 6.0)  # the person's edit is kept
    assert a.meta.rejected == []
    assert (tmp_path / "a.json").read_bytes() != edited
    assert states(tmp_path, "b") == [("dog", "yolo", "suggested"), ("cat", "sam", "suggested")]


def test_undo_dry_run_writes_nothing(tmp_path: Path) -> None:
    build(tmp_path)
    run("review", str(tmp_path), "--reject-below", "0.3", "--no-progress")
    before = snapshot(tmp_path)
    res = run("review", str(tmp_path), "--undo", "--dry-run", "--no-progress")
    # every change the run made, as it listed it, marked reverted (what --dry-run promises)
    assert "a.png: shape 2 'dog' 0.25 suggested -> rejected: reverted" in res.output, res.output
    assert "b.png: shape 1 'cat' 0.10 suggested -> rejected: reverted" in res.output, res.output
    assert snapshot(tmp_path) == before


def test_image_label_reject_and_undo(tmp_path: Path) -> None:
    ds = build(tmp_path)
    before = (tmp_path / "b.json").read_bytes()
    summary = review_dataset(ds, reject=Selection.of(plugins=["clip"], below=1.0))
    assert summary.counts == {"rejected": 1}
    b = labeler.load_annotation(tmp_path / "b.json")
    assert b.meta.image_labels[0].review == "rejected" and b.image_labels == []
    # The merge rules never suggest a rejected image label again.
    merge_suggestions(b, [], "clip", new_image_labels=[
        ImageLabel(label="indoor", score=0.99, review="suggested", source=Source(plugin="clip"))])
    assert [(lab.label, lab.review) for lab in b.meta.image_labels] == [("indoor", "rejected")]
    undone = undo_review(labeler.open_dataset(tmp_path))
    assert undone is not None and undone.counts["reverted"] == 1
    assert (tmp_path / "b.json").read_bytes() == before


def test_a_rejected_suggestion_does_not_come_back_on_a_rerun(tmp_path: Path) -> None:
    build(tmp_path)
    run("review", str(tmp_path), "--reject-below", "0.3", "--plugin", "yolo", "--no-progress")
    ann = labeler.load_annotation(tmp_path / "a.json")
    removed, added = merge_suggestions(
        ann, [suggestion("dog", "yolo", 0.27, (40, 30, 60, 46))], "yolo")
    assert added == 0  # the same object (IoU >= 0.5) was rejected
    assert ("dog", "yolo", "suggested") not in states(tmp_path, "a")
    assert all(s.label != "dog" for s in ann.shapes)
    assert removed == 1  # (yolo's own unreviewed cat, replaced by this rerun's output)


def test_rejected_by_review_stays_out_of_a_real_autolabel_rerun(tmp_path: Path) -> None:
    from labeler.pipeline import run_autolabel
    from tests.test_pipeline import DarkestQuarter, dark_corner_image

    dark_corner_image(tmp_path / "a.png", corner=(1, 0))
    dark_corner_image(tmp_path / "b.png", corner=(0, 1))
    ds = labeler.open_dataset(tmp_path)
    run_autolabel(ds, DarkestQuarter())
    scores = {n: labeler.load_annotation(tmp_path / f"{n}.json").shapes[0].score for n in "ab"}
    assert all(s is not None and s > 0.8 for s in scores.values())
    res = run("review", str(tmp_path), "--reject-below", "1", "--label", "dark", "--no-progress")
    assert res.exit_code == 0 and "2 rejected" in res.output, res.output
    run_autolabel(labeler.open_dataset(tmp_path), DarkestQuarter(), redo=True)
    for n in "ab":
        ann = labeler.load_annotation(tmp_path / f"{n}.json")
        assert ann.shapes == [] and len(ann.meta.rejected) == 1
    # Undo puts them back as suggestions; the next rerun replaces them as its own again.
    assert run("review", str(tmp_path), "--undo", "--no-progress").exit_code == 0
    assert states(tmp_path, "a") == [("dark", "darkest", "suggested")]


# -- bad files and concurrent edits -------------------------------------------------------------
def test_a_corrupt_file_is_reported_and_the_others_are_reviewed(tmp_path: Path) -> None:
    build(tmp_path)
    make_image(tmp_path / "broken.png", (64, 48))
    (tmp_path / "broken.json").write_text('{"shapes": [', encoding="utf-8")
    res = run("review", str(tmp_path), "--accept-above", "0.8", "--no-progress")
    assert res.exit_code == 1
    assert "broken.json" in res.output and "failed" in res.output
    assert states(tmp_path, "b")[0] == ("dog", "yolo", "accepted")
    assert (tmp_path / "broken.json").read_text() == '{"shapes": ['
    listing = run("review", str(tmp_path), "--json")
    assert listing.exit_code == 1
    assert any("broken.json" in f for f in json.loads(listing.output)["failed"])


def test_undo_retries_a_file_it_could_not_read(tmp_path: Path) -> None:
    build(tmp_path)
    before = label_files(tmp_path)
    run("review", str(tmp_path), "--accept-above", "0.8", "--no-progress")
    good_b = (tmp_path / "b.json").read_bytes()
    (tmp_path / "b.json").write_text("{oops", encoding="utf-8")
    res = run("review", str(tmp_path), "--undo", "--no-progress")
    assert res.exit_code == 1 and "b.json" in res.output
    assert (tmp_path / "a.json").read_bytes() == before["a.json"]  # the others are reverted
    (tmp_path / "b.json").write_bytes(good_b)  # repaired: a second undo finishes the run
    res = run("review", str(tmp_path), "--undo", "--no-progress")
    assert res.exit_code == 0, res.output
    assert label_files(tmp_path) == before


def test_an_edit_saved_between_listing_and_writing_is_kept(tmp_path: Path) -> None:
    ds = build(tmp_path)

    def person_edits(item: Item) -> None:
        # Another program (the GUI, labelme) saves the file after the run read it.
        if item.rel != "a.png":
            return
        ann = labeler.load_annotation(item.label_path)
        ann.add_shape(human("bird", (50, 1, 60, 10)))
        ann.shapes[3].set_review("accepted")  # the person accepted sam's outline
        labeler.save_annotation(ann, item.label_path)

    summary = review_dataset(ds, accept=Selection.of(at_least=0.5), before_write=person_edits)
    a = labeler.load_annotation(tmp_path / "a.json")
    assert [(s.label, s.review) for s in a.shapes] == [
        ("cat", None), ("cat", "accepted"), ("dog", "suggested"), ("cat", "accepted"),
        ("bird", None)]
    # The run records only what it changed itself: undo leaves the person's accept alone.
    record = json.loads(summary.record.read_text())
    assert [e["index"] for e in record["files"]["a.png"]["changes"]] == [1]
    undo_review(labeler.open_dataset(tmp_path))
    a = labeler.load_annotation(tmp_path / "a.json")
    assert [(s.label, s.review) for s in a.shapes] == [
        ("cat", None), ("cat", "suggested"), ("dog", "suggested"), ("cat", "accepted"),
        ("bird", None)]


def test_a_second_writer_during_the_run_keeps_its_edit(tmp_path: Path) -> None:
    ds = build(tmp_path)
    other = labeler.open_dataset(tmp_path)  # another writer (the GUI, a script), own thread

    def add_lamp(current: Annotation | None) -> Annotation | None:
        assert current is not None
        current.add_shape(human("lamp", (1, 40, 8, 47)))
        return current

    threads: list[threading.Thread] = []

    def progress(done: int, total: int, rel: str) -> None:
        if rel == "a.png":  # the run is under way: the other writer saves b.json now
            threads.append(threading.Thread(target=other.update, args=(other.item("b.png"), add_lamp)))
            threads[-1].start()

    summary = review_dataset(ds, accept=Selection.of(at_least=0.8), progress=progress)
    for t in threads:
        t.join()
    assert threads and not summary.failed
    b = labeler.load_annotation(tmp_path / "b.json")
    labels = [(s.label, s.review) for s in b.shapes]
    assert ("lamp", None) in labels and ("dog", "accepted") in labels  # both edits survive


# -- usage ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["--accept-above", "0.3", "--reject-below", "0.5"],
    ["--undo", "--accept-above", "0.9"],
    ["--accept-above", "1.5"],
])
def test_bad_usage_exits_2(tmp_path: Path, args: list[str]) -> None:
    build(tmp_path)
    before = label_files(tmp_path)
    res = run("review", str(tmp_path), *args)
    assert res.exit_code == 2
    assert label_files(tmp_path) == before


def test_pending_summary_api(tmp_path: Path) -> None:
    ds = build(tmp_path)
    pending = pending_summary(ds, Selection.of(plugins=["yolo"]))
    assert pending.suggestions == 4 and dict(pending.per_label) == {"cat": 2, "dog": 2}
    assert isinstance(labeler.load_annotation(tmp_path / "a.json"), Annotation)


def test_two_findings_that_propose_different_boxes_keep_their_own_dismissal() -> None:
    """A rerun of a check keeps a dismissal for the finding dismissed, not for its neighbour."""
    from labeler.model import Annotation, Issue, Source
    from labeler.review import merge_findings

    def missing(box):
        return Issue(kind="missing_box", score=0.9, source=Source(plugin="detection_errors"),
                     suggested_fix={"action": "add_suggestion", "box": box, "label": "cat"})

    ann = Annotation(imagePath="a.png", imageWidth=64, imageHeight=48)
    merge_findings(ann, "detection_errors", [missing([1, 1, 9, 9]), missing([30, 30, 50, 40])])
    ann.meta.issues[0].state = "dismissed"
    merge_findings(ann, "detection_errors", [missing([1, 1, 9, 9]), missing([30, 30, 50, 40])])
    assert [i.state for i in ann.meta.issues] == ["dismissed", "open"]


def test_resolve_relabelled_settles_the_findings_that_questioned_the_label() -> None:
    from labeler.model import Annotation, Issue, Shape
    from labeler.review import questions_label, resolve_relabelled

    ann = Annotation(shapes=[Shape(label="wolf", points=[(0, 0), (4, 4)], shape_type="rectangle"),
                             Shape(label="cat", points=[(5, 5), (9, 9)], shape_type="rectangle")])
    ann.meta.issues = [
        Issue(kind="mislabel", shape_index=0),  # clip_outliers, no fix proposed
        Issue(kind="swapped_class", shape_index=0, suggested_fix={"action": "relabel", "label": "fox"}),
        Issue(kind="badly_located", shape_index=0, suggested_fix={"action": "replace_box", "box": [0, 0, 1, 1]}),
        Issue(kind="mislabel", shape_index=1),  # another shape
        Issue(kind="mislabel", shape_index=0, state="dismissed"),
    ]
    assert [questions_label(i) for i in ann.meta.issues] == [True, True, False, True, True]
    assert resolve_relabelled(ann, 0, "wolf") == 0  # not relabelled: nothing settled
    assert resolve_relabelled(ann, 0, "dog") == 2
    assert [(i.state, i.fixed_by) for i in ann.meta.issues] == [
        ("fixed", "person"), ("fixed", "person"), ("open", None), ("open", None), ("dismissed", None)]
    assert resolve_relabelled(ann, 7, "dog") == 0  # no such shape


def test_own_unreviewed_is_the_plugins_untouched_suggestions_only() -> None:
    """The one rule the pipeline, the GUI's documents and the merges ask: which suggestions a
    plugin's new run may replace (and counts as its output)."""
    from labeler.model import Issue
    from labeler.review import mark_fixed, mark_unfixed, own_suggestions, own_unreviewed

    src, other = Source(plugin="yolo", model="m"), Source(plugin="sam", model="m")

    def shape(review: str | None, source: Source | None) -> Shape:
        meta = ShapeMeta(review=review, source=source) if review or source else None
        return Shape(label="cat", points=[(0, 0), (4, 4)], shape_type="rectangle", meta=meta)

    ann = Annotation(shapes=[shape("suggested", src), shape("accepted", src), shape(None, src),
                             shape("suggested", other), shape("suggested", None)])
    ann.meta.image_labels = [ImageLabel(label="a", review="suggested", source=src),
                             ImageLabel(label="b", review="rejected", source=src),
                             ImageLabel(label="c", review="suggested", source=other)]
    assert [own_unreviewed(s, "yolo") for s in ann.shapes] == [True, False, False, False, False]
    shapes, labels = own_suggestions(ann, "yolo")
    assert shapes == [ann.shapes[0]] and [lab.label for lab in labels] == ["a"]
    assert own_suggestions(ann, "sam")[0] == [ann.shapes[3]]
    issue = Issue(kind="mislabel", source=src)
    mark_fixed(issue, "relabel")
    assert (issue.state, issue.fixed_by) == ("fixed", "relabel")
    mark_unfixed(issue)
    assert (issue.state, issue.fixed_by, issue.undo) == ("open", None, None)
