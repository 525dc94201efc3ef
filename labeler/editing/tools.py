"""One tool per drawing mode, in one registry, without Qt.

A tool turns pointer events in image coordinates (:class:`Pointer`) into finished gestures
(:class:`ShapeDrawn`, :class:`ShapesMoved`, ...), which it hands to the :class:`EditorView`'s
``on_gesture`` callback; the session (or the window) turns a gesture into one document edit,
hence one undo step. While a gesture runs, only the tool's :meth:`Tool.preview` changes: the
canvas paints it. The canvas keeps the view transform and forwards its mouse and key events to
the current tool; hit testing (:meth:`EditorView.shape_at`, ``vertex_at``, ``edge_at``) lives
here too, so all of it is testable without a window.

:data:`TOOLS` is the one list of modes: the canvas's modes, the window's Draw menu and toolbar,
their shortcuts and the rows of the shortcuts dialog all come from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Union

from labeler.editing.view_state import ImageAdjust, Visibility
from labeler.geometry import (
    DRAGGABLE_VERTEX_TYPES,
    MIN_POINTS,
    Point,
    can_add_vertex,
    drag_vertex,
    nearest_edge,
    normalize_rectangle,
    shape_distance,
)

if TYPE_CHECKING:
    from labeler.editing.document import Document
    from labeler.model import Shape

#: Pick distance in screen pixels (divided by the zoom for image pixels).
EPSILON = 8.0


# -- events in, gestures out -------------------------------------------------------------------
@dataclass(frozen=True)
class Pointer:
    """One mouse event in image coordinates (not clamped to the image)."""

    x: float
    y: float
    button: str = "left"  # "left", "right", "middle" or "" (a move without a button change)
    shift: bool = False
    ctrl: bool = False
    alt: bool = False

    @property
    def xy(self) -> Point:
        return (self.x, self.y)


@dataclass(frozen=True)
class ShapeDrawn:
    """A new shape was drawn (the label is asked next)."""

    shape_type: str
    points: list[Point]


@dataclass(frozen=True)
class ShapesMoved:
    """Shapes were dragged (or nudged with the arrow keys) by (dx, dy)."""

    indices: list[int]
    dx: float
    dy: float


@dataclass(frozen=True)
class PointsEdited:
    """One shape's points after a vertex drag."""

    index: int
    points: list[Point]


@dataclass(frozen=True)
class VertexInserted:
    """A point added on an edge of a polygon or linestrip (Alt+click), before ``position``."""

    index: int
    position: int
    x: float
    y: float


@dataclass(frozen=True)
class VertexRemoved:
    """A vertex to remove (Shift+click, Delete on the selected vertex)."""

    index: int
    position: int


@dataclass(frozen=True)
class EditRequested:
    """Double-click on a shape: edit its label."""

    index: int


@dataclass(frozen=True)
class SegmentPrompt:
    """The prompts of the interactive segmenter changed: points with labels (1 positive, 0
    negative) and an optional (x1, y1, x2, y2) box."""

    points: list[Point]
    labels: list[int]
    box: tuple[float, float, float, float] | None


@dataclass(frozen=True)
class SegmentAccepted:
    """Enter on a segmenter result: keep its polygon as a shape (the label is asked next)."""

    points: list[Point]


Gesture = Union[ShapeDrawn, ShapesMoved, PointsEdited, VertexInserted, VertexRemoved,  # noqa: UP007
                EditRequested, SegmentPrompt, SegmentAccepted]


@dataclass
class Preview:
    """What the canvas paints for a gesture in progress (image coordinates)."""

    #: The half-drawn shape, including the cursor: (shape_type, points).
    drawing: tuple[str, list[Point]] | None = None
    #: A polygon or linestrip being drawn: its points so far, the cursor last.
    open_polygon: list[Point] | None = None
    #: The open path closes on its first point (a polygon: that point is drawn larger).
    closable: bool = True
    #: Shapes shown at other points than the document's during a drag (index -> points).
    moved: dict[int, list[Point]] = field(default_factory=dict)
    #: Segmenter prompts: (x, y, label) points, a box, a rubber band being dragged, the result.
    prompt_points: list[tuple[float, float, int]] = field(default_factory=list)
    prompt_box: tuple[float, float, float, float] | None = None
    rubber_band: tuple[Point, Point] | None = None
    result: list[Point] | None = None


# -- what the tools work on ----------------------------------------------------------------------
class EditorView:
    """The document on screen with its selection and hit testing, in image coordinates.

    The canvas owns one and keeps ``scale`` (screen pixels per image pixel) and ``cursor`` up to
    date; tools read and change the selection here and report gestures through ``on_gesture``.
    """

    def __init__(self) -> None:
        self.document: Document | None = None
        self.selected: list[int] = []
        #: The vertex last clicked, (shape, vertex): Delete / Backspace remove it.
        self.selected_vertex: tuple[int, int] | None = None
        self.hover: int | None = None
        self.hide_shapes = False
        #: Hidden labels and shapes, and the image's brightness / contrast (view state only).
        self.visibility = Visibility()
        self.adjust = ImageAdjust()
        self.scale = 1.0
        self.cursor: Point | None = None
        self.fallback_size: tuple[int, int] = (1, 1)
        self.on_gesture: Callable[[Gesture], None] = lambda g: None
        self.on_selection: Callable[[list[int]], None] = lambda sel: None

    # -- state ---------------------------------------------------------------------------------
    @property
    def shapes(self) -> list[Shape]:
        return self.document.shapes if self.document is not None else []

    @property
    def pick_radius(self) -> float:
        """How far from a shape a click still hits it, in image pixels."""
        return EPSILON / self.scale

    def image_size(self) -> tuple[int, int]:
        size = self.document.image_size() if self.document is not None else None
        return size or self.fallback_size

    def clamp(self, p: Point) -> Point:
        w, h = self.image_size()
        return (min(max(p[0], 0.0), float(w)), min(max(p[1], 0.0), float(h)))

    def select(self, indices: list[int]) -> None:
        """Select shapes (indices out of range are dropped); tells ``on_selection``."""
        n = len(self.shapes)
        self.selected = [i for i in indices if 0 <= i < n]
        if self.selected_vertex is not None and self.selected_vertex[0] not in self.selected:
            self.selected_vertex = None
        self.on_selection(list(self.selected))

    def refresh(self) -> bool:
        """The document changed: drop selections that no longer exist; True when the
        selection changed."""
        n = len(self.shapes)
        sel = [i for i in self.selected if i < n]
        changed = sel != self.selected
        self.visibility.sync(self.shapes)
        if changed:
            self.selected = sel
            self.on_selection(list(sel))
        sv = self.selected_vertex
        if sv is not None and (sv[0] not in self.selected or sv[1] >= len(self.shapes[sv[0]].points)):
            self.selected_vertex = None
        return changed

    def emit(self, gesture: Gesture) -> None:
        self.on_gesture(gesture)

    # -- hit testing ---------------------------------------------------------------------------
    def is_shown(self, index: int) -> bool:
        """True when shape ``index`` is painted (not rejected, nor hidden by the person; the
        Hide Shapes toggle aside)."""
        shape = self.shapes[index]
        return shape.review != "rejected" and self.visibility.shows(index, shape)

    def _visible(self, index: int) -> bool:
        return not self.hide_shapes and self.is_shown(index)

    def shape_at(self, x: float, y: float) -> int | None:
        """Topmost shape under (x, y) (selected shapes first)."""
        eps = self.pick_radius
        best: tuple[float, int] | None = None
        shapes = self.shapes
        for i in reversed(range(len(shapes))):
            if not self._visible(i):
                continue
            d = shape_distance(shapes[i], x, y)
            if d <= eps:
                rank = (0.0 if i in self.selected else 1.0) + d / 1000
                if best is None or rank < best[0]:
                    best = (rank, i)
        return best[1] if best else None

    def vertex_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(shape, vertex) under (x, y): selected shapes first, then the hovered one."""
        eps = self.pick_radius
        hover = self.hover if self.hover is not None else self.shape_at(x, y)
        shapes = self.shapes
        for i in [*self.selected, *([hover] if hover is not None else [])]:
            if i >= len(shapes) or shapes[i].shape_type not in DRAGGABLE_VERTEX_TYPES or not self._visible(i):
                continue
            for j, (px, py) in enumerate(shapes[i].points):
                if math.hypot(px - x, py - y) <= eps:
                    return (i, j)
        return None

    def edge_at(self, x: float, y: float) -> tuple[int, int, Point] | None:
        """(shape, insert position, point on the edge) of a polygon/linestrip edge near (x, y);
        selected shapes first, then the topmost."""
        eps = self.pick_radius
        shapes = self.shapes
        order = [i for i in self.selected if i < len(shapes)]
        order += [i for i in reversed(range(len(shapes))) if i not in order]
        for i in order:
            if not self._visible(i):
                continue
            hit = nearest_edge(shapes[i], x, y)
            if hit is not None and hit[0] <= eps:
                return (i, hit[1], hit[2])
        return None

    def bounded_delta(self, dx: float, dy: float) -> tuple[float, float]:
        """(dx, dy) shortened so that the selected shapes stay inside the image."""
        w, h = self.image_size()
        pts = [pt for i in self.selected for pt in self.shapes[i].points]
        if not pts:
            return (0.0, 0.0)
        xs, ys = [q[0] for q in pts], [q[1] for q in pts]
        return (min(max(dx, -min(xs)), w - max(xs)), min(max(dy, -min(ys)), h - max(ys)))

    def remove_selected_vertex(self) -> bool:
        """Ask to remove the selected vertex of a polygon or linestrip; False when there is none
        (the document refuses to go below 3 / 2 points)."""
        sv = self.selected_vertex
        if sv is None or self.document is None or sv[0] >= len(self.shapes):
            return False
        if not can_add_vertex(self.shapes[sv[0]]):
            return False
        self.selected_vertex = None
        self.emit(VertexRemoved(*sv))
        return True


# -- the tools -----------------------------------------------------------------------------------
class Tool:
    """One mode of the canvas. Subclasses set the class attributes and override ``on_press``
    (and the other event methods they need); :data:`TOOLS` registers them."""

    name: ClassVar[str] = ""
    #: Menu text (``&`` marks the mnemonic), shortcuts, help line and toolbar label.
    text: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]] = ()
    help: ClassVar[str] = ""
    toolbar: ClassVar[str] = ""
    #: "arrow" or "cross": the mouse cursor while the tool is on.
    cursor: ClassVar[str] = "cross"
    #: Rows of the shortcuts dialog for keys this tool handles without a menu entry.
    help_rows: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: True when the tool needs a segmenter plugin (``register_segmenters``).
    needs_segmenter: ClassVar[bool] = False

    def __init__(self, view: EditorView) -> None:
        self.view = view
        self.press_at: Point | None = None

    # -- events (image coordinates) ------------------------------------------------------------
    def press(self, p: Pointer) -> str | None:
        """A button went down; returns "pan" when the canvas should pan the view instead."""
        self.press_at = p.xy
        if p.button == "middle" or (p.button == "left" and p.alt):
            return "pan"
        if self.view.document is None:
            return None
        return self.on_press(p)

    def on_press(self, p: Pointer) -> str | None:
        return None

    def move(self, p: Pointer) -> str | None:
        """The pointer moved; may return a cursor name ("pointing", "cross", "open_hand",
        "arrow") for the canvas to show."""
        return None

    def release(self, p: Pointer, moved: bool) -> None:
        """The button came up; ``moved``: the pointer travelled more than a click's jitter."""

    def double_click(self, p: Pointer) -> None:
        """A double click."""

    def key(self, key: str, shift: bool = False) -> bool:
        """A key ("escape", "enter", "backspace", "delete", "left", ...); True when handled."""
        if key == "escape" and self.is_drawing:
            self.cancel()
            return True
        return key == "backspace" and self.undo_point()

    # -- state ---------------------------------------------------------------------------------
    @property
    def is_drawing(self) -> bool:
        """True while a shape is half drawn."""
        return False

    def undo_point(self) -> bool:
        """Remove the last point of the shape being drawn; False when nothing is drawn."""
        return False

    def cancel(self) -> None:
        """Drop the gesture in progress."""

    def preview(self) -> Preview:
        """What to paint for the gesture in progress."""
        return Preview()


class EditTool(Tool):
    """Select, move, drag vertices, Alt+click to add a point, Shift+click to remove one."""

    name = "edit"
    text = "&Edit Shapes"
    keys = ("Ctrl+J",)
    help = "Select, move, edit vertices (drag, Alt+click adds, Shift+click removes)"
    toolbar = "Edit"
    cursor = "arrow"
    help_rows = (
        ("Arrow keys", "Move the selected shapes by 1 pixel (Shift: 10)"),
        ("Drag on empty space / middle drag", "Pan"),
        ("Ctrl+click", "Add or remove a shape from the selection"),
        ("Alt+click on an edge", "Add a point to a polygon or linestrip there (hold the button to drag it)"),
        ("Shift+click on a vertex", "Remove the vertex (Alt+Shift+click too, as in labelme 6)"),
        ("Delete / Backspace on a selected vertex", "Remove the vertex last clicked (else Delete removes the shapes)"),
    )

    def __init__(self, view: EditorView) -> None:
        super().__init__(view)
        self.drag: str | None = None  # "move" or "vertex"
        self.delta: tuple[float, float] = (0.0, 0.0)
        self.vertex: tuple[int, int] | None = None
        self.vertex_points: list[Point] | None = None
        self.inserting = False  # the dragged vertex is a new one (Alt+click on an edge)

    def press(self, p: Pointer) -> str | None:
        v = self.view
        if p.button == "left" and p.alt and v.document is not None:
            # labelme 6: Alt+click on an edge adds a point, Alt+Shift+click on a vertex removes it
            self.press_at = p.xy
            if p.shift:
                vertex = v.vertex_at(p.x, p.y)
                if vertex is not None:
                    self._remove(vertex)
                    return None
            elif self._press_insert(p):
                return None
        return super().press(p)

    def _remove(self, vertex: tuple[int, int]) -> None:
        if vertex[0] not in self.view.selected:
            self.view.select([vertex[0]])
        self.view.selected_vertex = vertex
        self.view.remove_selected_vertex()

    def _press_insert(self, p: Pointer) -> bool:
        """Alt+press on an edge: a new vertex there, dragged until the release (labelme)."""
        edge = self.view.edge_at(p.x, p.y)
        if edge is None:
            return False
        i, j, q = edge
        if i not in self.view.selected:
            self.view.select([i])
        pts = list(self.view.shapes[i].points)
        pts.insert(j, q)
        self.drag, self.vertex, self.vertex_points, self.inserting = "vertex", (i, j), pts, True
        self.view.selected_vertex = (i, j)
        return True

    def on_press(self, p: Pointer) -> str | None:
        if p.button != "left":
            return None
        v = self.view
        vertex = v.vertex_at(p.x, p.y)
        if vertex is not None:
            if p.shift:  # labelme: Shift+click on a vertex removes it
                self._remove(vertex)
                return None
            if vertex[0] not in v.selected:
                v.select([vertex[0]])
            self.drag, self.vertex, self.inserting = "vertex", vertex, False
            self.vertex_points = list(v.shapes[vertex[0]].points)
            v.selected_vertex = vertex
            return None
        v.selected_vertex = None
        hit = v.shape_at(p.x, p.y)
        if hit is None:
            if v.selected:
                v.select([])
            return "pan"
        if p.ctrl:
            v.select([i for i in v.selected if i != hit] if hit in v.selected else [*v.selected, hit])
        elif hit not in v.selected:
            v.select([hit])
        self.drag, self.delta = "move", (0.0, 0.0)
        return None

    def move(self, p: Pointer) -> str | None:
        v = self.view
        if self.drag == "move" and self.press_at is not None:
            self.delta = v.bounded_delta(p.x - self.press_at[0], p.y - self.press_at[1])
        elif self.drag == "vertex" and self.vertex is not None and self.vertex_points is not None:
            i, j = self.vertex
            self.vertex_points = drag_vertex(v.shapes[i].shape_type, self.vertex_points, j, v.clamp(p.xy))
        elif self.drag is None:
            v.hover = v.shape_at(p.x, p.y)
            vertex = v.vertex_at(p.x, p.y)
            edge = v.edge_at(p.x, p.y) if vertex is None and p.alt else None
            return ("pointing" if vertex else "cross" if edge is not None else
                    "open_hand" if v.hover is not None else "arrow")
        return None

    def release(self, p: Pointer, moved: bool) -> None:
        drag, self.drag = self.drag, None
        if drag == "move":
            dx, dy = self.delta
            self.delta = (0.0, 0.0)
            if moved and (dx or dy):
                self.view.emit(ShapesMoved(list(self.view.selected), dx, dy))
        elif drag == "vertex" and self.vertex is not None and self.vertex_points is not None:
            (i, j), pts = self.vertex, self.vertex_points
            self.vertex = self.vertex_points = None
            if self.inserting:
                self.inserting = False
                self.view.emit(VertexInserted(i, j, round(pts[j][0], 2), round(pts[j][1], 2)))
            elif moved:
                self.view.emit(PointsEdited(i, pts))

    def double_click(self, p: Pointer) -> None:
        hit = self.view.shape_at(p.x, p.y)
        if hit is not None:
            self.view.emit(EditRequested(hit))

    def key(self, key: str, shift: bool = False) -> bool:
        v = self.view
        if key in ("backspace", "delete") and v.remove_selected_vertex():
            return True
        arrows = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
        if key in arrows and v.selected:
            step = 10.0 if shift else 1.0
            dx, dy = v.bounded_delta(arrows[key][0] * step, arrows[key][1] * step)
            if dx or dy:
                v.emit(ShapesMoved(list(v.selected), dx, dy))
            return True
        return super().key(key, shift)

    def cancel(self) -> None:
        self.drag = self.vertex = self.vertex_points = None
        self.inserting = False

    def preview(self) -> Preview:
        out = Preview()
        if self.drag == "vertex" and self.vertex is not None and self.vertex_points:
            out.moved[self.vertex[0]] = self.vertex_points
        elif self.drag == "move":
            dx, dy = self.delta
            for i in self.view.selected:
                out.moved[i] = [(x + dx, y + dy) for x, y in self.view.shapes[i].points]
        return out


class _DrawingTool(Tool):
    """A tool that collects points and hands a finished shape to ``on_gesture``."""

    shape_type: ClassVar[str] = ""

    def __init__(self, view: EditorView) -> None:
        super().__init__(view)
        self.points: list[Point] = []
        self.dragging = False

    @property
    def is_drawing(self) -> bool:
        return bool(self.points)

    def undo_point(self) -> bool:
        if self.points:
            self.points.pop()
            return True
        return False

    def cancel(self) -> None:
        self.points = []
        self.dragging = False

    def finish(self, points: list[Point]) -> None:
        """Hand the shape over (rounded; a rectangle normalised; a zero-size one dropped)."""
        self.cancel()
        if self.shape_type in ("rectangle", "circle", "line", "linestrip") and all(
                math.dist(points[0], q) < 1e-6 for q in points[1:]):
            return
        if self.shape_type == "rectangle":
            points = normalize_rectangle(points[0], points[1])
        self.view.emit(ShapeDrawn(self.shape_type, [(round(x, 2), round(y, 2)) for x, y in points]))

    def _cursor(self) -> Point:
        c = self.view.cursor
        return self.view.clamp(c) if c is not None else self.points[-1]


class PointTool(_DrawingTool):
    name = "point"
    shape_type = "point"
    text = "Create P&oint"
    keys = ("Ctrl+K",)
    help = "Click"
    toolbar = "Point"

    def on_press(self, p: Pointer) -> str | None:
        if p.button == "left":
            self.finish([self.view.clamp(p.xy)])
        return None


class _PathTool(_DrawingTool):
    """Click points one by one; double-click or Enter finishes (polygons, linestrips)."""

    def on_press(self, p: Pointer) -> str | None:
        if p.button == "left":
            self.points.append(self.view.clamp(p.xy))
        return None

    @property
    def least(self) -> int:
        """Fewest points the shape needs (:data:`labeler.geometry.MIN_POINTS`)."""
        return MIN_POINTS[self.shape_type]

    def double_click(self, p: Pointer) -> None:
        if len(self.points) >= self.least:
            # The double click's first press already added a point at the same place.
            pts = list(self.points)
            if len(pts) > self.least and math.dist(pts[-1], pts[-2]) * self.view.scale < EPSILON:
                pts.pop()
            self.finish(pts)

    def close(self) -> bool:
        """Finish the shape being drawn (Enter); False when it has too few points."""
        if len(self.points) >= self.least:
            self.finish(list(self.points))
            return True
        return False

    def key(self, key: str, shift: bool = False) -> bool:
        return (key == "enter" and self.close()) or super().key(key, shift)

    def preview(self) -> Preview:
        if not self.points:
            return Preview()
        return Preview(open_polygon=[*self.points, self._cursor()], closable=self.shape_type == "polygon")


class PolygonTool(_PathTool):
    name = "polygon"
    shape_type = "polygon"
    text = "Create &Polygon"
    keys = ("Ctrl+N",)
    help = "Click points; click the first point, double-click or Enter to close"
    toolbar = "Polygon"
    help_rows = (("Enter", "Close the polygon (finish the linestrip) being drawn; keep the Segment Anything result"),
                 ("Backspace", "Remove the last point of the shape being drawn"))

    def on_press(self, p: Pointer) -> str | None:
        if p.button == "left" and len(self.points) >= self.least and self._near_first(p):
            self.finish(list(self.points))
            return None
        return super().on_press(p)

    def _near_first(self, p: Pointer) -> bool:
        fx, fy = self.points[0]
        return (abs(fx - p.x) + abs(fy - p.y)) * self.view.scale <= EPSILON


class LineStripTool(_PathTool):
    """labelme's "Create LineStrip": an open polyline of 2 or more points."""

    name = "linestrip"
    shape_type = "linestrip"
    text = "Create LineS&trip"
    keys = ("Ctrl+Shift+L",)
    help = "Click points (2 or more); double-click or Enter to finish"
    toolbar = "LineStrip"


class _TwoPointTool(_DrawingTool):
    """Drag, or click twice: rectangles, circles, lines."""

    def on_press(self, p: Pointer) -> str | None:
        if p.button != "left":
            return None
        cp = self.view.clamp(p.xy)
        if self.points:  # second click of click-click drawing
            self.finish([self.points[0], cp])
        else:
            self.points = [cp]
            self.dragging = True
        return None

    def release(self, p: Pointer, moved: bool) -> None:
        dragging, self.dragging = self.dragging, False
        if dragging and moved and self.points:
            self.finish([self.points[0], self.view.clamp(p.xy)])

    def preview(self) -> Preview:
        if not self.points:
            return Preview()
        return Preview(drawing=(self.shape_type, [self.points[0], self._cursor()]))


class RectangleTool(_TwoPointTool):
    name = "rectangle"
    shape_type = "rectangle"
    text = "Create &Rectangle"
    keys = ("Ctrl+R",)
    help = "Drag, or click two corners"
    toolbar = "Rectangle"


class CircleTool(_TwoPointTool):
    name = "circle"
    shape_type = "circle"
    text = "Create &Circle"
    keys = ("Ctrl+Shift+C",)
    help = "Drag from the centre"
    toolbar = "Circle"


class LineTool(_TwoPointTool):
    name = "line"
    shape_type = "line"
    text = "Create &Line"
    keys = ("Ctrl+L",)
    help = "Drag, or click two ends"
    toolbar = "Line"


class SegmentTool(Tool):
    """Prompts an interactive segmenter: click (+), right-click or Shift+click (−), drag a box."""

    name = "sam"
    text = "&Segment Anything"
    keys = ("Ctrl+I",)
    help = "Click (+), right-click (−) or drag a box; Enter keeps the polygon"
    toolbar = "SAM"
    needs_segmenter = True
    help_rows = (("Esc", "Cancel drawing / clear Segment Anything prompts / deselect"),)

    def __init__(self, view: EditorView) -> None:
        super().__init__(view)
        self.points: list[tuple[float, float, int]] = []
        self.box: tuple[float, float, float, float] | None = None
        self.result: list[Point] | None = None
        self.dragging = False

    def on_press(self, p: Pointer) -> str | None:
        self.dragging = p.button in ("left", "right")
        return None

    def release(self, p: Pointer, moved: bool) -> None:
        dragging, self.dragging = self.dragging, False
        if not dragging or self.press_at is None:
            return
        if moved and p.button == "left":
            a, b = self.view.clamp(self.press_at), self.view.clamp(p.xy)
            self.box = (min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))
        else:
            x, y = self.view.clamp(p.xy)
            self.points.append((x, y, 0 if p.button == "right" or p.shift else 1))
        self.view.emit(self._prompt(self.points))

    def _prompt(self, points: list[tuple[float, float, int]]) -> SegmentPrompt:
        return SegmentPrompt([(x, y) for x, y, _ in points], [lab for _, _, lab in points], self.box)

    def prompt_at_cursor(self) -> SegmentPrompt | None:
        """The prompt a left click at the pointer would make now (the prompts so far and a
        positive point there), the same one :meth:`release` emits for that click: what a
        segmenter can answer ahead, while the pointer rests. None while a button is down or
        before the pointer came over the image."""
        if self.dragging or self.view.cursor is None:
            return None
        x, y = self.view.clamp(self.view.cursor)
        return self._prompt([*self.points, (x, y, 1)])

    def key(self, key: str, shift: bool = False) -> bool:
        if key == "escape":
            self.clear()
            return True
        if key == "enter" and self.result:
            self.view.emit(SegmentAccepted(list(self.result)))
            return True
        return super().key(key, shift)

    def clear(self) -> None:
        """Forget the prompts and the result."""
        self.points, self.box, self.result = [], None, None

    def cancel(self) -> None:
        self.dragging = False

    def preview(self) -> Preview:
        band = None
        if self.dragging and self.press_at is not None and self.view.cursor is not None:
            band = (self.press_at, self.view.cursor)
        return Preview(prompt_points=list(self.points), prompt_box=self.box, rubber_band=band,
                       result=self.result)


#: Every mode, in menu and toolbar order; the canvas, the Draw menu, the shortcuts and the
#: help dialog all read this.
TOOLS: dict[str, type[Tool]] = {
    cls.name: cls
    for cls in (EditTool, PolygonTool, RectangleTool, CircleTool, LineTool, LineStripTool, PointTool,
                SegmentTool)
}
#: The mode names ("edit", "polygon", ...).
MODES: tuple[str, ...] = tuple(TOOLS)
