"""Vertex editing with labelme's gestures, and the full-resolution decode when zoomed in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt

from labeler.model import Shape
from tests.gui.conftest import open_and_wait, widget_pos

ALT = Qt.KeyboardModifier.AltModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
LEFT = Qt.MouseButton.LeftButton
SQUARE = [(20.0, 20.0), (80.0, 20.0), (80.0, 70.0), (20.0, 70.0)]


@pytest.fixture
def square(gui, window, gui_dataset: Path):  # noqa: ANN201
    """d.jpg with one polygon (a square), in edit mode, zoomed so that points are far apart."""
    gui.open(gui_dataset)
    window.open_rel("d.jpg")
    window.doc.add_shape(Shape(label="roof", points=SQUARE, shape_type="polygon"))
    window.canvas.set_zoom(4.0)
    window.canvas.offset = QPointF(10, 10)
    window.mode_edit()
    return window


def test_alt_click_on_edge_adds_a_point_as_one_undo_step(square, qtbot) -> None:
    w = square
    steps = len(w.doc._undo)
    qtbot.mouseClick(w.canvas, LEFT, ALT, widget_pos(w, 50, 20))  # middle of the top edge
    pts = w.doc.shapes[0].points
    assert len(pts) == 5 and pts[1] == pytest.approx((50, 20), abs=0.5)
    assert len(w.doc._undo) == steps + 1 and w.doc.undo_text == "Add point"
    assert w.canvas.selected == [0] and w.canvas.selected_vertex == (0, 1)
    w.undo()
    assert w.doc.shapes[0].points == SQUARE


def test_alt_drag_from_edge_inserts_and_moves_the_new_point(square, qtbot) -> None:
    w = square
    c = w.canvas
    qtbot.mousePress(c, LEFT, ALT, widget_pos(w, 80, 45))  # right edge
    qtbot.mouseMove(c, widget_pos(w, 90, 45))
    qtbot.mouseMove(c, widget_pos(w, 100, 45))
    qtbot.mouseRelease(c, LEFT, ALT, widget_pos(w, 100, 45))
    pts = w.doc.shapes[0].points
    assert len(pts) == 5 and pts[2] == pytest.approx((100, 45), abs=0.5)
    w.undo()
    assert w.doc.shapes[0].points == SQUARE  # insert + drag: a single step


def test_alt_click_off_any_edge_still_pans(square, qtbot) -> None:
    w = square
    before = QPointF(w.canvas.offset)
    c = w.canvas
    qtbot.mousePress(c, LEFT, ALT, widget_pos(w, 50, 45))  # inside, far from the edges
    qtbot.mouseMove(c, widget_pos(w, 55, 45))
    qtbot.mouseRelease(c, LEFT, ALT, widget_pos(w, 55, 45))
    assert len(w.doc.shapes[0].points) == 4
    assert c.offset != before


def test_shift_click_and_alt_shift_click_remove_a_vertex(square, qtbot) -> None:
    w = square
    w.doc.insert_vertex(0, 1, (50, 20))
    qtbot.mouseClick(w.canvas, LEFT, SHIFT, widget_pos(w, 50, 20))  # labelme 5
    assert w.doc.shapes[0].points == SQUARE and w.doc.undo_text == "Remove point"
    qtbot.mouseClick(w.canvas, LEFT, ALT | SHIFT, widget_pos(w, 80, 70))  # labelme 6
    assert w.doc.shapes[0].points == [SQUARE[0], SQUARE[1], SQUARE[3]]
    # a triangle keeps its three points (and says why)
    qtbot.mouseClick(w.canvas, LEFT, SHIFT, widget_pos(w, 20, 20))
    assert len(w.doc.shapes[0].points) == 3
    assert "at least 3" in w.statusBar().currentMessage()
    w.undo()
    assert len(w.doc.shapes[0].points) == 4


def test_delete_key_removes_the_selected_vertex_else_the_shape(square, qtbot) -> None:
    w = square
    gui_click = lambda x, y: qtbot.mouseClick(w.canvas, LEFT, pos=widget_pos(w, x, y))  # noqa: E731
    gui_click(80, 20)  # click a vertex: it becomes the selected vertex
    assert w.canvas.selected_vertex == (0, 1)
    w.actions["delete"].trigger()  # the Delete key's action
    assert w.doc.shapes[0].points == [SQUARE[0], SQUARE[2], SQUARE[3]]
    assert w.canvas.selected_vertex is None and w.canvas.selected == [0]
    w.undo()
    gui_click(20, 70)
    qtbot.keyClick(w.canvas, Qt.Key.Key_Backspace)  # labelme's "Remove Selected Point"
    assert w.doc.shapes[0].points == SQUARE[:3]
    w.undo()
    gui_click(50, 45)  # inside the shape: the shape is selected, no vertex
    assert w.canvas.selected == [0] and w.canvas.selected_vertex is None
    w.actions["delete"].trigger()
    assert w.doc.shapes == []


def test_rectangle_corner_is_not_removed_by_delete(gui, window, gui_dataset: Path, qtbot) -> None:
    gui.open(gui_dataset)  # a.jpg: one rectangle (10, 10)-(50, 40)
    window.canvas.set_zoom(3.0)
    window.canvas.offset = QPointF(5, 5)
    gui.click(50, 40)
    assert window.canvas.selected == [0]
    window.actions["delete"].trigger()  # a rectangle has no removable vertex: the shape goes
    assert window.doc.shapes == []


def test_context_menu_add_and_remove_point(square) -> None:
    w = square
    c = w.canvas
    menu = c.context_menu(QPointF(widget_pos(w, 50, 70)))  # bottom edge
    acts = {a.text().split("\t")[0].replace("&", ""): a for a in menu.actions() if a.text()}
    assert acts["Add Point to Edge"].isEnabled() and not acts["Remove Point"].isEnabled()
    assert "Delete Shapes" in acts and "Edit Label…" in acts  # the window's shape actions
    acts["Add Point to Edge"].trigger()
    assert w.doc.shapes[0].points[3] == pytest.approx((50, 70), abs=0.5)
    menu = c.context_menu(QPointF(widget_pos(w, 50, 70)))
    acts = {a.text().split("\t")[0].replace("&", ""): a for a in menu.actions() if a.text()}
    assert acts["Remove Point"].isEnabled() and not acts["Add Point to Edge"].isEnabled()
    acts["Remove Point"].trigger()
    assert w.doc.shapes[0].points == SQUARE
    w.mode_polygon()
    assert c.context_menu(QPointF(widget_pos(w, 50, 70))) is None  # drawing tools: no menu


def test_document_vertex_rules(square) -> None:
    doc = square.doc
    assert not doc.insert_vertex(0, 9, (1, 1))  # out of range
    line = doc.add_shape(Shape(label="l", points=[(0, 0), (10, 0)], shape_type="linestrip"))
    assert doc.insert_vertex(line, 1, (5, 1)) and len(doc.shapes[line].points) == 3
    assert doc.remove_vertex(line, 1) and not doc.remove_vertex(line, 0)  # a linestrip keeps 2
    box = doc.add_shape(Shape(label="b", points=[(0, 0), (10, 10)], shape_type="rectangle"))
    assert not doc.insert_vertex(box, 1, (5, 0)) and not doc.remove_vertex(box, 0)


# -- full resolution when zoomed in ---------------------------------------------------------
def _checkerboard_jpeg(path: Path, size: tuple[int, int] = (1600, 1200)) -> Path:
    """1-pixel black/white checks: crisp at full size, grey at a reduced DCT scale."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.where((xx + yy) % 2 == 0, 0, 255).astype(np.uint8)
    Image.fromarray(arr, mode="L").save(path, quality=100, subsampling=0)
    return path


def _lightness_at(window, x: float, y: float) -> int:  # noqa: ANN001
    """Lightness on screen at the centre of image pixel (x, y)."""
    img = window.canvas.grab().toImage()
    q = window.canvas.to_widget(x + 0.5, y + 0.5)
    return img.pixelColor(int(q.x()), int(q.y())).lightness()


def test_zooming_in_swaps_in_the_full_resolution_decode(window, qtbot, tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    _checkerboard_jpeg(root / "a_checks.jpg")
    Image.new("RGB", (300, 200), (90, 90, 90)).save(root / "b_small.jpg")
    open_and_wait(qtbot, window, root)  # the window decodes for max_side=512
    c = window.canvas
    reduced = c._pixmap.toImage()
    assert reduced.width() < 1600 and not c.has_full_image
    assert 80 < reduced.pixelColor(100, 100).lightness() < 180  # the checks are a grey blur there
    window.doc.add_shape(Shape(label="dot", points=[(140.0, 140.0)], shape_type="point"))
    assert not c.needs_full_resolution()  # fitted: the screen-size decode is enough
    with qtbot.waitSignal(window.fullResolutionShown, timeout=10000):
        c.zoom_by(4.0 / c.scale, c.to_widget(101, 101))  # 400 %
    assert c.has_full_image and (c._full.width(), c._full.height()) == (1600, 1200)
    assert c.image_size() == (1600, 1200)  # the annotation's frame is unchanged
    assert window.doc.shapes[0].points == [(140.0, 140.0)]
    # the real pixels now: black and white checks, not the grey average
    assert _lightness_at(window, 100, 100) < 60 and _lightness_at(window, 101, 100) > 195
    # the next image (small: decoded at full size anyway) drops the big one from the canvas
    window.next_image()
    qtbot.waitUntil(lambda: c.has_image, timeout=5000)
    assert not c.has_full_image and not c.needs_full_resolution()
    # coming back, still zoomed in: the kept full-size decode is swapped in at once
    with qtbot.waitSignal(window.fullResolutionShown, timeout=10000):
        window.prev_image()
    assert c.has_full_image
