"""The drawing tools and hit testing, driven with pointer events in image coordinates (no Qt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labeler.dataset import open_dataset
from labeler.editing.commands import COMMANDS, EXTRA_KEYS
from labeler.editing.document import Document
from labeler.editing.tools import (
    MODES,
    TOOLS,
    EditorView,
    EditRequested,
    Pointer,
    PointsEdited,
    SegmentPrompt,
    ShapeDrawn,
    ShapesMoved,
    VertexInserted,
    VertexRemoved,
)
from labeler.geometry import (
    can_add_vertex,
    can_remove_vertex,
    nearest_edge,
    shape_distance,
    too_few_points,
)
from labeler.model import Shape


@pytest.fixture
def view(gui_dataset: Path) -> EditorView:
    """a.jpg (120x90) with a cat rectangle (10,10)-(50,40), plus a polygon and a linestrip."""
    ds = open_dataset(gui_dataset)
    doc = Document.open(ds, ds.item("a.jpg"))
    doc.add_shape(Shape(label="p", shape_type="polygon", points=[(60, 10), (100, 10), (100, 50)]))
    doc.add_shape(Shape(label="l", shape_type="linestrip", points=[(10, 70), (50, 70), (90, 80)]))
    v = EditorView()
    v.document = doc
    v.gestures = []  # type: ignore[attr-defined]
    v.on_gesture = v.gestures.append  # type: ignore[attr-defined]
    return v


def click(tool, x: float, y: float, **kw) -> None:  # noqa: ANN001
    p = Pointer(x, y, **kw)
    tool.press(p)
    tool.release(p, moved=False)


def drag(tool, a: tuple[float, float], b: tuple[float, float], **kw) -> None:  # noqa: ANN001
    tool.press(Pointer(*a, **kw))
    tool.view.cursor = b
    tool.move(Pointer(*b, button="", **kw))
    tool.release(Pointer(*b, **kw), moved=True)


def test_one_registry_gives_the_modes_the_draw_menu_and_the_help_rows() -> None:
    assert MODES == ("edit", "polygon", "rectangle", "circle", "line", "linestrip", "point", "sam")
    draw = [c for c in COMMANDS if c.menu == "Draw"]
    assert [c.name for c in draw] == [f"mode_{m}" for m in MODES]
    assert [c.keys for c in draw] == [TOOLS[m].keys for m in MODES]
    rows = {k for k, _ in EXTRA_KEYS}
    assert {"Enter", "Backspace", "Esc", "Arrow keys", "Alt+click on an edge"} <= rows
    keys = [k for c in COMMANDS for k in c.keys]
    assert len(keys) == len(set(keys)), "a key bound twice"


def test_hit_testing_prefers_the_selection_and_skips_hidden_shapes(view: EditorView) -> None:
    assert view.shape_at(20, 20) == 0
    assert view.shape_at(1, 1) is None  # 12.7 pixels from the corner
    view.scale = 0.5  # zoomed out: 8 screen pixels are 16 image pixels
    assert view.shape_at(1, 1) == 0
    view.scale = 1.0
    assert view.vertex_at(100, 11) == (1, 1)
    i, pos, q = view.edge_at(80, 11)  # type: ignore[misc]
    assert (i, pos) == (1, 1) and q == pytest.approx((80, 10))
    view.hide_shapes = True
    assert view.shape_at(20, 20) is None and view.edge_at(80, 11) is None


def test_rectangle_by_drag_and_by_two_clicks_is_normalised(view: EditorView) -> None:
    rect = TOOLS["rectangle"](view)
    drag(rect, (50, 40), (20, 15))
    assert view.gestures == [ShapeDrawn("rectangle", [(20, 15), (50, 40)])]  # type: ignore[attr-defined]
    click(rect, 5, 5)
    assert rect.is_drawing and rect.preview().drawing is not None
    click(rect, 500, 8)  # clamped into the 120x90 image
    assert view.gestures[-1] == ShapeDrawn("rectangle", [(5, 5), (120, 8)])  # type: ignore[attr-defined]
    click(rect, 7, 7)
    click(rect, 7, 7)  # zero size: dropped
    assert len(view.gestures) == 2  # type: ignore[attr-defined]


def test_polygon_closes_on_the_first_point_and_backspace_removes_the_last(view: EditorView) -> None:
    poly = TOOLS["polygon"](view)
    for x, y in [(10, 10), (40, 10), (40, 40), (20, 50)]:
        click(poly, x, y)
    assert poly.key("backspace") and len(poly.points) == 3
    assert poly.preview().open_polygon is not None
    click(poly, 11, 11)  # within the pick radius of the first point
    assert view.gestures == [ShapeDrawn("polygon", [(10, 10), (40, 10), (40, 40)])]  # type: ignore[attr-defined]
    assert not poly.is_drawing and not poly.key("enter")  # nothing to close any more
    click(poly, 1, 1)
    click(poly, 9, 1)
    assert not poly.key("enter")  # two points cannot close
    click(poly, 9, 9)
    assert poly.key("enter") and view.gestures[-1].points == [(1, 1), (9, 1), (9, 9)]  # type: ignore[attr-defined]
    click(poly, 1, 1)
    assert poly.key("escape") and not poly.is_drawing


def test_point_circle_and_line(view: EditorView) -> None:
    click(TOOLS["point"](view), 3.333, 4.444)
    drag(TOOLS["circle"](view), (30, 30), (40, 30))
    drag(TOOLS["line"](view), (0, 0), (10, 10))
    assert view.gestures == [  # type: ignore[attr-defined]
        ShapeDrawn("point", [(3.33, 4.44)]),
        ShapeDrawn("circle", [(30, 30), (40, 30)]),
        ShapeDrawn("line", [(0, 0), (10, 10)]),
    ]


def test_edit_tool_selects_moves_within_the_image_and_pans_on_empty_space(view: EditorView) -> None:
    edit = TOOLS["edit"](view)
    selections: list[list[int]] = []
    view.on_selection = selections.append
    assert edit.press(Pointer(20, 20)) is None and view.selected == [0]
    view.cursor = (1000, 25)
    edit.move(Pointer(1000, 25, button=""))
    assert edit.preview().moved[0][1] == (120, 45)  # stopped at the right edge of the image
    edit.release(Pointer(1000, 25), moved=True)
    assert view.gestures == [ShapesMoved([0], 70.0, 5.0)]  # type: ignore[attr-defined]
    assert edit.press(Pointer(5, 85)) == "pan" and view.selected == []
    edit.press(Pointer(20, 20))
    edit.press(Pointer(80, 20, ctrl=True))
    assert view.selected == [0, 1] and selections[-1] == [0, 1]
    assert edit.key("left", shift=True)
    assert view.gestures[-1] == ShapesMoved([0, 1], -10.0, 0.0)  # type: ignore[attr-defined]
    edit.double_click(Pointer(20, 20))
    assert view.gestures[-1] == EditRequested(0)  # type: ignore[attr-defined]


def test_edit_tool_vertex_drag_insert_and_remove(view: EditorView) -> None:
    edit = TOOLS["edit"](view)
    drag(edit, (100, 50), (110, 60))  # the polygon's third vertex
    assert view.gestures[-1] == PointsEdited(1, [(60, 10), (100, 10), (110, 60)])  # type: ignore[attr-defined]
    assert view.selected_vertex == (1, 2)
    assert edit.key("delete")  # the selected vertex goes
    assert view.gestures[-1] == VertexRemoved(1, 2)  # type: ignore[attr-defined]
    drag(edit, (30, 70), (30, 60), alt=True)  # Alt+drag on the linestrip's edge: a new vertex
    assert view.gestures[-1] == VertexInserted(2, 1, 30.0, 60.0)  # type: ignore[attr-defined]
    click(edit, 50, 70, shift=True)  # Shift+click removes a vertex
    assert view.gestures[-1] == VertexRemoved(2, 1)  # type: ignore[attr-defined]
    n = len(view.gestures)  # type: ignore[attr-defined]
    view.select([0])
    view.selected_vertex = (0, 0)
    assert not view.remove_selected_vertex()  # a rectangle's corners are fixed
    assert len(view.gestures) == n  # type: ignore[attr-defined]
    assert edit.move(Pointer(60, 10, button="")) == "pointing"
    assert edit.move(Pointer(30, 25, button="")) == "open_hand"
    assert edit.move(Pointer(80, 11, button="", alt=True)) == "cross"
    assert edit.move(Pointer(5, 85, button="")) == "arrow"


def test_segment_tool_prompts(view: EditorView) -> None:
    seg = TOOLS["sam"](view)
    assert seg.needs_segmenter
    click(seg, 40, 40)
    click(seg, 45, 45, button="right")
    click(seg, 50, 50, shift=True)
    assert view.gestures[-1] == SegmentPrompt([(40, 40), (45, 45), (50, 50)], [1, 0, 0], None)  # type: ignore[attr-defined]
    drag(seg, (60, 20), (100, 60))
    assert view.gestures[-1].box == (60, 20, 100, 60)  # type: ignore[attr-defined]
    assert seg.preview().prompt_box == (60, 20, 100, 60)
    assert seg.key("escape") and seg.points == [] and seg.box is None


def test_tools_ignore_clicks_without_a_document() -> None:
    v = EditorView()
    got: list = []
    v.on_gesture = got.append
    for cls in TOOLS.values():
        tool = cls(v)
        click(tool, 5, 5)
        assert tool.press(Pointer(5, 5, button="middle")) == "pan"
    assert got == []


def test_linestrip_is_open_needs_two_points_and_finishes_on_enter_or_double_click(view: EditorView) -> None:
    strip = TOOLS["linestrip"](view)
    click(strip, 10, 10)
    assert not strip.key("enter") and strip.is_drawing  # one point is not a linestrip
    click(strip, 40, 10)
    view.cursor = (60, 30)
    pv = strip.preview()
    assert pv.open_polygon == [(10, 10), (40, 10), (60, 30)] and not pv.closable  # open: no closing point
    click(strip, 11, 11)  # on the first point: a linestrip does not close there, it takes the point
    assert len(strip.points) == 3 and not view.gestures  # type: ignore[attr-defined]
    assert strip.key("enter")
    assert view.gestures == [ShapeDrawn("linestrip", [(10, 10), (40, 10), (11, 11)])]  # type: ignore[attr-defined]
    click(strip, 5, 80)
    click(strip, 500, 85)  # clamped into the image
    strip.double_click(Pointer(120, 85))
    assert view.gestures[-1] == ShapeDrawn("linestrip", [(5, 80), (120, 85)])  # type: ignore[attr-defined]
    click(strip, 7, 7)
    click(strip, 7, 7)
    assert strip.key("enter") and len(view.gestures) == 2  # type: ignore[attr-defined]  # zero length: dropped
    click(strip, 1, 1)
    assert strip.key("backspace") and not strip.is_drawing


def test_a_linestrip_is_hit_on_its_path_only_and_takes_points_on_its_edges(view: EditorView) -> None:
    assert view.shape_at(50, 71) == 2  # on the path (10,70)-(50,70)-(90,80)
    i, pos, q = view.edge_at(70, 74)  # type: ignore[misc]
    assert (i, pos) == (2, 2) and q == pytest.approx((69.76, 74.94), abs=0.01)
    # A U shape: inside the U is not the shape, and there is no edge from the last point to the first.
    u = Shape(label="u", shape_type="linestrip", points=[(0, 0), (0, 100), (100, 100), (100, 0)])
    assert shape_distance(u, 50, 50) == pytest.approx(50)
    assert shape_distance(u, 50, 2) == pytest.approx(50)  # a polygon's closing edge would be 2 away
    dist, pos, _q = nearest_edge(u, 50, 2)  # type: ignore[misc]
    assert pos in (1, 2, 3) and dist == pytest.approx(50)
    assert can_add_vertex(u) and not can_remove_vertex(Shape(label="l", shape_type="linestrip",
                                                             points=[(0, 0), (1, 1)]))
    assert too_few_points("linestrip", 1) and not too_few_points("linestrip", 2)
