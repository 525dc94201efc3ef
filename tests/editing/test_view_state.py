"""View state that is never saved: label counts, hidden labels and shapes (followed through
edits and undo, skipped by hit testing and select-all), brightness / contrast (no Qt)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from labeler.editing.session import Session
from labeler.editing.tools import EditTool, Pointer
from labeler.editing.view_state import ImageAdjust, Visibility, label_counts
from labeler.model import Shape
from tests.editing.conftest import labelme_json, make_image, rect, write_json


def box(label: str, x: float) -> Shape:
    return Shape(label=label, points=[(x, 10), (x + 20, 30)], shape_type="rectangle")


def test_label_counts_skip_rejected_suggestions() -> None:
    gone = box("cat", 0)
    gone.set_review("rejected")
    assert label_counts([box("dog", 0), box("cat", 30), box("dog", 60), gone]) == {"cat": 1, "dog": 2}
    assert label_counts([]) == {}


def test_hidden_shapes_follow_deletion_and_undo() -> None:
    shapes = [box("a", 0), box("b", 30), box("c", 60)]
    vis = Visibility()
    vis.set_shape_visible(2, False, shapes)
    after_delete = [shapes[1], shapes[2]]  # shape 0 deleted: "c" is index 1 now
    vis.sync(after_delete)
    assert vis.hidden_shapes == {1}
    restored = [s.model_copy(deep=True) for s in shapes]  # undo brings fresh copies back
    vis.sync(restored)
    assert vis.hidden_shapes == {2}
    assert not vis.shows(2, restored[2]) and vis.shows(0, restored[0])
    vis.forget_shapes()
    assert vis.hidden_shapes == set()


def test_showing_a_shape_of_a_hidden_label_shows_the_label() -> None:
    shapes = [box("cat", 0), box("cat", 30)]
    vis = Visibility()
    vis.set_label_visible("cat", False)
    assert not vis.shows(0, shapes[0]) and not vis.shows(1, shapes[1])
    vis.set_shape_visible(1, True, shapes)
    assert vis.shows(0, shapes[0]) and vis.shows(1, shapes[1])


@pytest.fixture
def session(tmp_path: Path) -> Session:
    root = tmp_path / "ds"
    make_image(root / "a.jpg", (120, 90), seed=1)
    write_json(root / "a.json", labelme_json("a.jpg", (120, 90), [
        rect("cat", 10, 10, 50, 40), rect("dog", 60, 10, 100, 40), rect("cat", 10, 50, 50, 80)]))
    make_image(root / "b.jpg", (120, 90), seed=2)
    write_json(root / "b.json", labelme_json("b.jpg", (120, 90), [rect("cat", 10, 10, 50, 40)]))
    s = Session()
    s.open_dataset(root)
    s.open_item(s.dataset.item("a.jpg"))  # type: ignore[union-attr]
    return s


def test_hidden_shapes_are_not_hit_nor_selected_and_never_saved(session: Session) -> None:
    view = session.view
    view.scale = 4.0
    assert view.shape_at(30, 25) == 0
    view.visibility.set_label_visible("cat", False)
    assert view.shape_at(30, 25) is None and view.shape_at(30, 65) is None
    assert view.shape_at(80, 25) == 1
    view.visibility.set_shape_visible(1, False, view.shapes)
    assert view.shape_at(80, 25) is None
    EditTool(view).press(Pointer(80, 25, "left"))  # a click where the hidden dog is
    assert view.selected == []
    session.select_all()
    assert view.selected == []
    view.visibility.set_shape_visible(1, True, view.shapes)
    session.select_all()
    assert view.selected == [1]
    doc = session.doc
    assert doc is not None and not doc.dirty and doc.save() is False  # nothing to write
    saved = json.loads(doc.item.label_path.read_text())
    assert [s["label"] for s in saved["shapes"]] == ["cat", "dog", "cat"]
    assert "visible" not in json.dumps(saved) and "hidden" not in json.dumps(saved)


def test_hidden_labels_stay_hidden_on_the_next_image_hidden_shapes_do_not(session: Session) -> None:
    v = session.view.visibility
    v.set_label_visible("dog", False)
    v.set_shape_visible(0, False, session.view.shapes)
    session.open_item(session.dataset.item("b.jpg"))  # type: ignore[union-attr]
    assert v.hidden_labels == {"dog"} and v.hidden_shapes == set()
    assert session.view.is_shown(0)


def test_a_hidden_shape_stays_hidden_when_another_is_deleted_and_undone(session: Session) -> None:
    view = session.view
    view.visibility.set_shape_visible(2, False, view.shapes)
    view.select([0])
    session.delete()
    assert view.visibility.hidden_shapes == {1} and not view.is_shown(1) and view.is_shown(0)
    assert session.doc is not None and session.doc.undo()
    assert view.visibility.hidden_shapes == {2} and not view.is_shown(2)


def _pil(rgb: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    img = Image.fromarray(rgb)
    img = ImageEnhance.Brightness(img).enhance(brightness)
    img = ImageEnhance.Contrast(img).enhance(contrast)
    return np.asarray(img)


@pytest.mark.parametrize(("brightness", "contrast"), [(1.6, 1.0), (0.5, 1.0), (1.0, 1.8), (1.3, 0.4), (0.0, 2.0)])
def test_brightness_and_contrast_match_pil_image_enhance(brightness: float, contrast: float) -> None:
    """The factors mean what labelme's dialog means (PIL's ImageEnhance, brightness first)."""
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    got = ImageAdjust(brightness, contrast).apply(rgb)
    want = _pil(rgb, brightness, contrast)
    assert got.dtype == np.uint8 and got.shape == rgb.shape
    assert int(np.abs(got.astype(int) - want.astype(int)).max()) <= 1


def test_adjust_keeps_alpha_leaves_its_input_and_resets() -> None:
    rgba = np.full((4, 4, 4), 100, dtype=np.uint8)
    rgba[..., 3] = 7
    adj = ImageAdjust(brightness=2.0)
    out = adj.apply(rgba)
    assert (out[..., :3] == 200).all() and (out[..., 3] == 7).all() and (rgba[..., 0] == 100).all()
    assert not adj.is_identity
    adj.reset()
    assert adj.is_identity and (adj.apply(rgba) == rgba).all()


def test_accept_and_reject_never_pick_a_hidden_suggestion(tmp_path: Path) -> None:
    """Y / X without a selection take the best suggestion the person can see, never a hidden one."""
    root = tmp_path / "ds"
    make_image(root / "a.jpg", (120, 90), seed=1)
    sugg = {"source": {"plugin": "fake"}, "review": "suggested"}
    write_json(root / "a.json", labelme_json("a.jpg", (120, 90), [
        rect("cat", 10, 10, 50, 40, labeler={**sugg, "score": 0.9}),
        rect("dog", 60, 10, 100, 40, labeler={**sugg, "score": 0.5})]))
    s = Session()
    s.open_dataset(root)
    s.open_item(s.dataset.item("a.jpg"))  # type: ignore[union-attr]
    assert s.target_suggestion() == 0  # the best one
    s.view.visibility.set_label_visible("cat", False)
    s.view.select([])
    assert s.target_suggestion() == 1
    assert s.review(accept=True)
    doc = s.doc
    assert doc is not None and doc.shapes[1].review == "accepted" and doc.shapes[0].review == "suggested"
    assert s.view.selected == []  # the next suggestion is hidden: not selected
    assert s.review(accept=False) is False  # nothing the person can see is left to review
    assert doc.shapes[0].review == "suggested"
