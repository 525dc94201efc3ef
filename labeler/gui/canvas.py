"""The canvas: shows the image and the document's shapes; draws, selects, moves and edits.

The canvas never changes the annotation itself. It renders :class:`~labeler.gui.document.Document`
and reports finished gestures through signals (``shapeDrawn``, ``shapesMoved``,
``pointsEdited``...); the window turns them into document edits, so each gesture is one undo
step in the model. During a drag only a preview changes.

Coordinates: image pixels in the annotation's frame (the EXIF-corrected, full-size image),
whatever size the displayed image was decoded at. The image is normally decoded at the size the
screen needs; when the view zooms in past that resolution the canvas asks for the full-size
decode (``fullResolutionWanted``) and paints it once it arrives (:meth:`set_full_image`).

Vertex editing follows labelme: drag a vertex to move it, Alt+click on the edge of a polygon or
linestrip to add a point there (keep the button down to drag it), Shift+click (labelme 5) or
Alt+Shift+click (labelme 6) on a vertex to remove it; a clicked vertex is *selected* (drawn
larger) and Delete or Backspace (labelme's "Remove Selected Point") removes it.
Right-click opens a context menu with the same actions.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QContextMenuEvent,
    QFont,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QMenu, QWidget

from labeler.geometry import (
    DRAGGABLE_VERTEX_TYPES,
    can_add_vertex,
    can_remove_vertex,
    drag_vertex,
    nearest_edge,
    normalize_rectangle,
    shape_distance,
)
from labeler.gui.colors import label_color
from labeler.gui.document import Document
from labeler.model import Shape

#: Drawing modes; "edit" selects and moves, "sam" prompts Segment Anything.
MODES = ("edit", "rectangle", "polygon", "point", "line", "circle", "sam")
#: Pick distance in screen pixels.
EPSILON = 8.0


class Canvas(QWidget):
    """Image view with shape drawing and editing (labelme's canvas, rendering a Document)."""

    shapeDrawn = Signal(str, list)  # shape_type, [(x, y), ...]
    shapesMoved = Signal(list, float, float)  # indices, dx, dy
    pointsEdited = Signal(int, list)  # index, new points (vertex drag)
    selectionChanged = Signal(list)  # indices
    editRequested = Signal(int)  # double-click on a shape
    samPrompt = Signal(list, list, object)  # points [(x, y)], labels [1|0], box (x1,y1,x2,y2)|None
    zoomChanged = Signal(float)
    cursorMoved = Signal(float, float)
    vertexInserted = Signal(int, int, float, float)  # shape, position, x, y (Alt+click on an edge)
    vertexRemoved = Signal(int, int)  # shape, vertex (Shift+click, Delete on a selected vertex)
    fullResolutionWanted = Signal()  # zoomed in past the resolution of the displayed decode
    drawingChanged = Signal(bool)  # a shape is (or is no longer) half drawn

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumSize(200, 150)
        self.document: Document | None = None
        self._pixmap: QPixmap | None = None
        #: Why there is no image to show (set with set_image), painted over the shapes.
        self.image_problem: str | None = None
        self._full: QPixmap | None = None  # the full-size decode, once zoomed in past _pixmap
        self._full_wanted = False
        #: Window actions appended to the right-click menu (edit label, delete...).
        self.context_actions: list[QAction | None] = []
        self.scale = 1.0
        self.offset = QPointF(0, 0)
        self.fit_mode: str | None = "window"  # "window", "width" or None (manual zoom)
        self.mode = "edit"
        self.selected: list[int] = []
        self.show_labels = True
        self.hide_shapes = False
        self.min_score = 0.0  # suggestions below this score are drawn faint
        # gesture state
        self._drawing: list[tuple[float, float]] = []
        self._cursor: tuple[float, float] | None = None
        self._press_widget: QPointF | None = None
        self._press_image: tuple[float, float] | None = None
        self._drag: str | None = None  # "move", "vertex", "pan", "draw", "sambox"
        self._drag_delta = (0.0, 0.0)
        self._vertex: tuple[int, int] | None = None
        self._vertex_points: list[tuple[float, float]] | None = None
        self._inserting = False  # the dragged vertex is a new one (Alt+click on an edge)
        #: The vertex last clicked, (shape, vertex): Delete / Backspace remove it.
        self.selected_vertex: tuple[int, int] | None = None
        self._hover: int | None = None
        self._pan_start: QPointF | None = None
        self._mask_cache: dict[int, tuple[str, QImage]] = {}
        # SAM prompts and preview
        self.sam_points: list[tuple[float, float, int]] = []
        self.sam_box: tuple[float, float, float, float] | None = None
        self.sam_preview: list[tuple[float, float]] | None = None
        self.sam_busy = False

    # -- content -----------------------------------------------------------------------------
    def set_document(self, doc: Document | None) -> None:
        """Show another document (the image comes separately through :meth:`set_image`)."""
        self.document = doc
        self.selected = []
        self.selected_vertex = None
        self._drawing = []
        self._drag = None
        self._full = None
        self._full_wanted = False
        self._mask_cache.clear()
        self.clear_sam()
        if self.fit_mode:
            self.fit(self.fit_mode)
        self.update()

    def set_image(self, image: QImage | None, problem: str | None = None) -> None:
        """The decoded image (any size: it is stretched over the annotation's frame).

        ``problem``: why there is no image (shown on the canvas instead of "loading…").
        """
        self.image_problem = problem
        self._pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        self._full = None
        self._full_wanted = False
        if self.fit_mode:
            self.fit(self.fit_mode)
        self._check_resolution()
        self.update()

    def set_full_image(self, image: QImage | None) -> None:
        """The full-size decode of the shown image, painted when zoomed in past the screen decode.

        The annotation's frame does not change: both decodes are stretched over the same
        image rectangle, so shapes stay where they are.
        """
        self._full = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        self.update()

    @property
    def has_full_image(self) -> bool:
        return self._full is not None

    def decoded_ratio(self) -> float:
        """Decoded pixels per image pixel of the screen-size decode (1.0: full size)."""
        if self._pixmap is None:
            return 1.0
        return self._pixmap.width() / max(self.image_size()[0], 1)

    def needs_full_resolution(self) -> bool:
        """True when one decoded pixel of the screen-size decode covers more than one device
        pixel at the current zoom (and the decode is smaller than the image)."""
        ratio = self.decoded_ratio()
        return self._pixmap is not None and ratio < 0.999 and self.scale * self.devicePixelRatioF() > ratio * 1.01

    def _check_resolution(self) -> None:
        if self._full is None and not self._full_wanted and self.needs_full_resolution():
            self._full_wanted = True
            self.fullResolutionWanted.emit()

    @property
    def has_image(self) -> bool:
        return self._pixmap is not None

    def image_size(self) -> tuple[int, int]:
        if self.document is not None:
            size = self.document.image_size()
            if size:
                return size
        if self._pixmap is not None:
            return (self._pixmap.width(), self._pixmap.height())
        return (1, 1)

    def shapes(self) -> list[Shape]:
        return self.document.shapes if self.document is not None else []

    def refresh(self) -> None:
        """The document changed: drop selections that no longer exist, repaint."""
        n = len(self.shapes())
        sel = [i for i in self.selected if i < n]
        if sel != self.selected:
            self.selected = sel
            self.selectionChanged.emit(list(sel))
        sv = self.selected_vertex
        if sv is not None and (sv[0] not in self.selected or sv[1] >= len(self.shapes()[sv[0]].points)):
            self.selected_vertex = None
        self._mask_cache.clear()
        self.update()

    def select(self, indices: list[int]) -> None:
        """Select shapes (from the shape list or review panel)."""
        n = len(self.shapes())
        self.selected = [i for i in indices if 0 <= i < n]
        if self.selected_vertex is not None and self.selected_vertex[0] not in self.selected:
            self.selected_vertex = None
        self.selectionChanged.emit(list(self.selected))
        self.update()

    def set_mode(self, mode: str) -> None:
        """Switch between editing and one of the drawing tools."""
        if mode not in MODES:
            raise ValueError(f"unknown canvas mode {mode!r}")
        self.mode = mode
        self._drawing = []
        self._drag = None
        if mode != "sam":
            self.clear_sam()
        self.setCursor(Qt.CursorShape.ArrowCursor if mode == "edit" else Qt.CursorShape.CrossCursor)
        self.update()

    @property
    def is_drawing(self) -> bool:
        """True while a shape is half drawn."""
        return bool(self._drawing)

    # -- view transform ----------------------------------------------------------------------
    def to_image(self, pos: QPointF) -> tuple[float, float]:
        return ((pos.x() - self.offset.x()) / self.scale, (pos.y() - self.offset.y()) / self.scale)

    def to_widget(self, x: float, y: float) -> QPointF:
        return QPointF(self.offset.x() + x * self.scale, self.offset.y() + y * self.scale)

    def _clamp(self, p: tuple[float, float]) -> tuple[float, float]:
        w, h = self.image_size()
        return (min(max(p[0], 0.0), float(w)), min(max(p[1], 0.0), float(h)))

    def fit(self, how: str = "window") -> None:
        """Fit the whole image ("window") or its width ("width") into the view."""
        w, h = self.image_size()
        vw, vh = max(self.width(), 1), max(self.height(), 1)
        margin = 0.98
        s = vw / w * margin if how == "width" else min(vw / w, vh / h) * margin
        self.fit_mode = how
        self._set_scale(s, QPointF((vw - w * s) / 2, (vh - h * s) / 2 if how == "window" else 4))

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the image point under ``anchor`` (default: the centre) in place."""
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        ix, iy = self.to_image(anchor)
        s = min(max(self.scale * factor, 0.01), 64.0)
        self.fit_mode = None
        self._set_scale(s, QPointF(anchor.x() - ix * s, anchor.y() - iy * s))

    def set_zoom(self, scale: float) -> None:
        """Zoom to an absolute scale (1.0: one image pixel per screen pixel)."""
        self.zoom_by(scale / self.scale)

    def _set_scale(self, s: float, offset: QPointF) -> None:
        self.scale = s
        self.offset = offset
        self.zoomChanged.emit(s)
        self._check_resolution()
        self.update()

    def pan_by(self, dx: float, dy: float) -> None:
        self.fit_mode = None
        self.offset = QPointF(self.offset.x() + dx, self.offset.y() + dy)
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        if self.fit_mode:
            self.fit(self.fit_mode)
        super().resizeEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta()
        mods = event.modifiers()
        # Qt on X11 turns Alt+wheel (and some mice's tilt) into a horizontal delta: use
        # whichever axis carries the turn.
        turn = delta.y() if delta.y() else delta.x()
        if mods & Qt.KeyboardModifier.ShiftModifier:
            self.pan_by(turn / 2, 0)
        elif mods & Qt.KeyboardModifier.AltModifier:
            self.pan_by(0, turn / 2)
        else:
            self.zoom_by(1.0015 ** delta.y(), event.position())
        event.accept()

    # -- hit testing -------------------------------------------------------------------------
    def shape_at(self, x: float, y: float) -> int | None:
        """Topmost shape under (x, y) in image coordinates (selected shapes first)."""
        eps = EPSILON / self.scale
        best: tuple[float, int] | None = None
        order = list(range(len(self.shapes())))
        for i in reversed(order):
            s = self.shapes()[i]
            if s.review == "rejected" or self.hide_shapes:
                continue
            d = shape_distance(s, x, y)
            if d <= eps:
                rank = (0.0 if i in self.selected else 1.0) + d / 1000
                if best is None or rank < best[0]:
                    best = (rank, i)
        return best[1] if best else None

    def vertex_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(shape, vertex) under (x, y): selected shapes first, then the hovered one."""
        eps = EPSILON / self.scale
        hover = self._hover if self._hover is not None else self.shape_at(x, y)
        candidates = list(self.selected) + ([hover] if hover is not None else [])
        for i in candidates:
            if i >= len(self.shapes()):
                continue
            s = self.shapes()[i]
            if s.shape_type not in DRAGGABLE_VERTEX_TYPES:
                continue
            for j, (px, py) in enumerate(s.points):
                if math.hypot(px - x, py - y) <= eps:
                    return (i, j)
        return None

    def edge_at(self, x: float, y: float) -> tuple[int, int, tuple[float, float]] | None:
        """(shape, insert position, point on the edge) of a polygon/linestrip edge near (x, y);
        selected shapes first, then the topmost."""
        eps = EPSILON / self.scale
        shapes = self.shapes()
        order = [i for i in self.selected if i < len(shapes)]
        order += [i for i in reversed(range(len(shapes))) if i not in order]
        for i in order:
            s = shapes[i]
            if s.review == "rejected" or self.hide_shapes:
                continue
            hit = nearest_edge(s, x, y)
            if hit is not None and hit[0] <= eps:
                return (i, hit[1], hit[2])
        return None

    def remove_selected_vertex(self) -> bool:
        """Ask to remove the selected vertex (Delete, Backspace, Shift+click); False when no vertex
        of a polygon or linestrip is selected (the document refuses to go below 3 / 2 points)."""
        sv = self.selected_vertex
        if sv is None or self.document is None or sv[0] >= len(self.shapes()):
            return False
        if not can_add_vertex(self.shapes()[sv[0]]):
            return False
        self.selected_vertex = None
        self.vertexRemoved.emit(*sv)
        self.update()
        return True

    # -- mouse -------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        p = self.to_image(pos)
        self._press_widget = pos
        self._press_image = p
        button = event.button()
        alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        if button == Qt.MouseButton.LeftButton and alt and self.mode == "edit" and self.document is not None:
            # labelme 6: Alt+click on an edge adds a point, Alt+Shift+click on a vertex removes it
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                vertex = self.vertex_at(*p)
                if vertex is not None:
                    if vertex[0] not in self.selected:
                        self.select([vertex[0]])
                    self.selected_vertex = vertex
                    self.remove_selected_vertex()
                    return
            elif self._press_insert(p):
                return
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and event.modifiers() & Qt.KeyboardModifier.AltModifier
        ):
            self._drag, self._pan_start = "pan", pos
            return
        if self.document is None:
            return
        if self.mode == "sam":
            if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
                self._drag = "sambox"
            return
        if button != Qt.MouseButton.LeftButton:
            return
        if self.mode == "edit":
            self._press_edit(event, p)
            return
        cp = self._clamp(p)
        if self.mode == "point":
            self._finish("point", [cp])
        elif self.mode == "polygon":
            if len(self._drawing) >= 3 and self._near_first(pos):
                self._finish("polygon", list(self._drawing))
            else:
                self._drawing.append(cp)
        elif self.mode in ("rectangle", "line", "circle"):
            if self._drawing:  # second click of click-click drawing
                self._finish(self.mode, [self._drawing[0], cp])
            else:
                self._drawing = [cp]
                self._drag = "draw"
        self.update()
        self.drawingChanged.emit(self.is_drawing)

    def _press_insert(self, p: tuple[float, float]) -> bool:
        """Alt+press on an edge: a new vertex there, dragged until the release (labelme)."""
        edge = self.edge_at(*p)
        if edge is None:
            return False
        i, j, q = edge
        if i not in self.selected:
            self.select([i])
        pts = list(self.shapes()[i].points)
        pts.insert(j, q)
        self._drag, self._vertex, self._vertex_points, self._inserting = "vertex", (i, j), pts, True
        self.selected_vertex = (i, j)
        self.update()
        return True

    def _press_edit(self, event: QMouseEvent, p: tuple[float, float]) -> None:
        vertex = self.vertex_at(*p)
        if vertex is not None:
            if vertex[0] not in self.selected:
                self.select([vertex[0]])
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                # labelme: Shift+click on a vertex removes it
                self.selected_vertex = vertex
                self.remove_selected_vertex()
                return
            self._drag = "vertex"
            self._vertex = vertex
            self._vertex_points = list(self.shapes()[vertex[0]].points)
            self._inserting = False
            self.selected_vertex = vertex
            self.update()
            return
        self.selected_vertex = None
        hit = self.shape_at(*p)
        if hit is None:
            if self.selected:
                self.select([])
            self._drag, self._pan_start = "pan", event.position()
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            sel = [i for i in self.selected if i != hit] if hit in self.selected else [*self.selected, hit]
            self.select(sel)
        elif hit not in self.selected:
            self.select([hit])
        self._drag = "move"
        self._drag_delta = (0.0, 0.0)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        p = self.to_image(pos)
        self._cursor = p
        self.cursorMoved.emit(*p)
        if self._drag == "pan" and self._pan_start is not None:
            d = pos - self._pan_start
            self._pan_start = pos
            self.pan_by(d.x(), d.y())
            return
        if self._drag == "move" and self._press_image is not None:
            self._drag_delta = self._bounded_delta(p[0] - self._press_image[0], p[1] - self._press_image[1])
        elif self._drag == "vertex" and self._vertex is not None and self._vertex_points is not None:
            i, j = self._vertex
            self._vertex_points = drag_vertex(self.shapes()[i].shape_type, self._vertex_points, j, self._clamp(p))
        elif self._drag is None and self.mode == "edit":
            hover = self.shape_at(*p)
            if hover != self._hover:
                self._hover = hover
            vertex = self.vertex_at(*p)
            edge = (self.edge_at(*p) if vertex is None and event.modifiers() & Qt.KeyboardModifier.AltModifier
                    else None)
            self.setCursor(Qt.CursorShape.PointingHandCursor if vertex else
                           Qt.CursorShape.CrossCursor if edge is not None else
                           Qt.CursorShape.OpenHandCursor if hover is not None else Qt.CursorShape.ArrowCursor)
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        drag, self._drag = self._drag, None
        pos = event.position()
        p = self.to_image(pos)
        moved = self._press_widget is not None and (pos - self._press_widget).manhattanLength() > 3
        if drag == "move":
            dx, dy = self._drag_delta
            self._drag_delta = (0.0, 0.0)
            if moved and (dx or dy):
                self.shapesMoved.emit(list(self.selected), dx, dy)
        elif drag == "vertex" and self._vertex is not None and self._vertex_points is not None:
            i, j = self._vertex
            pts = self._vertex_points
            self._vertex = self._vertex_points = None
            if self._inserting:
                self._inserting = False
                self.vertexInserted.emit(i, j, round(pts[j][0], 2), round(pts[j][1], 2))
            elif moved:
                self.pointsEdited.emit(i, pts)
        elif drag == "draw" and moved and self._drawing:
            self._finish(self.mode, [self._drawing[0], self._clamp(p)])
        elif drag == "sambox" and self._press_image is not None:
            if moved and event.button() == Qt.MouseButton.LeftButton:
                a, b = self._clamp(self._press_image), self._clamp(p)
                self.sam_box = (min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))
            else:
                negative = event.button() == Qt.MouseButton.RightButton or bool(
                    event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
                x, y = self._clamp(p)
                self.sam_points.append((x, y, 0 if negative else 1))
            self._emit_sam()
        self.update()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.mode == "polygon" and len(self._drawing) >= 3:
            # The double click's first press already added a point at the same place.
            pts = list(self._drawing)
            if len(pts) > 3 and math.dist(pts[-1], pts[-2]) * self.scale < EPSILON:
                pts.pop()
            self._finish("polygon", pts)
            return
        if self.mode == "edit":
            hit = self.shape_at(*self.to_image(event.position()))
            if hit is not None:
                self.editRequested.emit(hit)

    def _near_first(self, pos: QPointF) -> bool:
        first = self.to_widget(*self._drawing[0])
        return (first - pos).manhattanLength() <= EPSILON

    def _bounded_delta(self, dx: float, dy: float) -> tuple[float, float]:
        """Keep moved shapes inside the image."""
        w, h = self.image_size()
        pts = [pt for i in self.selected for pt in self.shapes()[i].points]
        if not pts:
            return (0.0, 0.0)
        xs, ys = [q[0] for q in pts], [q[1] for q in pts]
        dx = min(max(dx, -min(xs)), w - max(xs))
        dy = min(max(dy, -min(ys)), h - max(ys))
        return (dx, dy)

    def _finish(self, shape_type: str, points: list[tuple[float, float]]) -> None:
        self._drawing = []
        self._drag = None
        if shape_type in ("rectangle", "circle", "line") and math.dist(points[0], points[1]) < 1e-6:
            self.update()
            return
        if shape_type == "rectangle":
            points = normalize_rectangle(points[0], points[1])
        self.shapeDrawn.emit(shape_type, [(round(x, 2), round(y, 2)) for x, y in points])
        self.update()

    def finish_polygon(self) -> bool:
        """Close the polygon being drawn (Enter); False when it has fewer than 3 points."""
        if self.mode == "polygon" and len(self._drawing) >= 3:
            self._finish("polygon", list(self._drawing))
            return True
        return False

    def undo_last_point(self) -> bool:
        """Remove the last point of the shape being drawn; False when nothing is being drawn."""
        if self._drawing:
            self._drawing.pop()
            self.update()
            return True
        return False

    def cancel_drawing(self) -> None:
        """Drop the half-drawn shape (Esc)."""
        self._drawing = []
        self._drag = None
        self.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if key == Qt.Key.Key_Escape:
            if self._drawing:
                self.cancel_drawing()
            elif self.mode == "sam":
                self.clear_sam()
            elif self.selected:
                self.select([])
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.finish_polygon():
            return
        if key == Qt.Key.Key_Backspace and self.undo_last_point():
            return
        if key in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete) and self.mode == "edit" and self.remove_selected_vertex():
            return
        arrows = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1),
                  Qt.Key.Key_Down: (0, 1)}
        if key in arrows and self.selected and self.mode == "edit":
            step = 10.0 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1.0
            dx, dy = self._bounded_delta(arrows[key][0] * step, arrows[key][1] * step)
            if dx or dy:
                self.shapesMoved.emit(list(self.selected), dx, dy)
            return
        super().keyPressEvent(event)

    # -- context menu ------------------------------------------------------------------------
    def context_menu(self, pos: QPointF) -> QMenu | None:
        """The right-click menu at widget position ``pos`` (edit mode): add a point on the edge
        under the cursor, remove the vertex under it, then the window's shape actions."""
        if self.mode != "edit" or self.document is None:
            return None
        x, y = self.to_image(pos)
        menu = QMenu(self)
        vertex = self.vertex_at(x, y)
        edge = self.edge_at(x, y) if vertex is None else None
        add = menu.addAction("Add Point to Edge\tAlt+Click")
        add.setEnabled(edge is not None)
        if edge is not None:
            i, j, q = edge
            add.triggered.connect(lambda _c=False, i=i, j=j, q=q: self._insert_now(i, j, q))
        rm = menu.addAction("Remove Point\tShift+Click")
        rm.setEnabled(vertex is not None and can_remove_vertex(self.shapes()[vertex[0]]))
        if vertex is not None:
            rm.triggered.connect(lambda _c=False, v=vertex: self.vertexRemoved.emit(*v))
        if vertex is not None or edge is not None:
            target = (vertex or edge)[0]  # type: ignore[index]
            if target not in self.selected:
                self.select([target])
        else:
            hit = self.shape_at(x, y)
            if hit is not None and hit not in self.selected:
                self.select([hit])
        if self.context_actions:
            menu.addSeparator()
            for act in self.context_actions:
                if act is None:
                    menu.addSeparator()
                else:
                    menu.addAction(act)
        return menu

    def _insert_now(self, i: int, j: int, q: tuple[float, float]) -> None:
        self.selected_vertex = (i, j)
        self.vertexInserted.emit(i, j, round(q[0], 2), round(q[1], 2))

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        menu = self.context_menu(QPointF(event.pos()))
        if menu is None:
            super().contextMenuEvent(event)
            return
        menu.exec(event.globalPos())
        menu.deleteLater()

    # -- SAM ---------------------------------------------------------------------------------
    def _emit_sam(self) -> None:
        pts = [(x, y) for x, y, _ in self.sam_points]
        labels = [lab for _, _, lab in self.sam_points]
        self.samPrompt.emit(pts, labels, self.sam_box)

    def clear_sam(self) -> None:
        """Forget the SAM prompts and preview."""
        self.sam_points = []
        self.sam_box = None
        self.sam_preview = None
        self.update()

    # -- painting ----------------------------------------------------------------------------
    def paintEvent(self, event: Any) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(48, 48, 52))
        if self.document is None and self._pixmap is None:
            p.setPen(QColor(170, 170, 170))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                       "Open a folder of images (Ctrl+U) to start labeling")
            p.end()
            return
        w, h = self.image_size()
        target = QRectF(self.offset.x(), self.offset.y(), w * self.scale, h * self.scale)
        if self._pixmap is not None:
            pm = self._full if self._full is not None and self.needs_full_resolution() else self._pixmap
            # Zoomed in, smooth scaling would blur the pixels one wants to click precisely.
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform,
                            self.scale * self.devicePixelRatioF() < 2 * pm.width() / max(w, 1))
            visible = target.intersected(QRectF(self.rect()))
            if not visible.isEmpty():
                # Draw only the visible part: a 12-MP pixmap zoomed in is mostly off screen.
                kx, ky = pm.width() / target.width(), pm.height() / target.height()
                src = QRectF((visible.left() - target.left()) * kx, (visible.top() - target.top()) * ky,
                             visible.width() * kx, visible.height() * ky)
                p.drawPixmap(visible, pm, src)
        else:
            p.fillRect(target, QColor(30, 30, 30))
            p.setPen(QColor(150, 150, 150))
            if not self.image_problem:  # a problem is written over the shapes, below
                p.drawText(target, Qt.AlignmentFlag.AlignCenter, "loading…")
        if not self.hide_shapes:
            for i, shape in enumerate(self.shapes()):
                if shape.review == "rejected":
                    continue
                self._paint_shape(p, i, shape)
            if self.show_labels:
                for i, shape in enumerate(self.shapes()):
                    if shape.review != "rejected":
                        self._paint_caption(p, i, shape)
        self._paint_image_labels(p)
        self._paint_drawing(p)
        self._paint_sam(p)
        if self._pixmap is None and self.image_problem:
            self._paint_problem(p)
        p.end()

    def _paint_problem(self, p: QPainter) -> None:
        """Why the image cannot be shown, on a dark band across the middle of the view."""
        text = f"cannot show this image:\n{self.image_problem}"
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        area = QRectF(self.rect()).adjusted(20, 0, -20, 0)
        box = p.boundingRect(area, flags, text).adjusted(-10, -6, 10, 6)
        p.fillRect(box, QColor(20, 20, 20, 220))
        p.setPen(QColor(235, 120, 110))
        p.drawText(area, flags, text)

    def _paint_image_labels(self, p: QPainter) -> None:
        """Image-level class labels as chips in the top-left corner (suggested ones dashed)."""
        if self.document is None:
            return
        font = QFont(self.font())
        font.setPointSizeF(11)
        font.setBold(True)
        p.setFont(font)
        fm = QFontMetrics(font)
        x = 8.0
        for lab in self.document.annotation.meta.image_labels:
            if lab.review == "rejected":
                continue
            text = lab.label + (f" {lab.score:.2f}?" if lab.review == "suggested" and lab.score is not None
                                else "?" if lab.review == "suggested" else "")
            w = fm.horizontalAdvance(text) + 16
            box = QRectF(x, 8, w, fm.height() + 8)
            color = label_color(lab.label)
            pen = QPen(color.darker(130), 2)
            if lab.review == "suggested":
                pen.setStyle(Qt.PenStyle.DashLine)
                color.setAlpha(110)
            p.setPen(pen)
            p.setBrush(color)
            p.drawRoundedRect(box, 6, 6)
            p.setPen(QColor(0, 0, 0) if color.lightness() > 140 else QColor(255, 255, 255))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
            x += w + 6

    def _display_points(self, i: int, shape: Shape) -> list[tuple[float, float]]:
        if self._drag == "vertex" and self._vertex is not None and self._vertex[0] == i and self._vertex_points:
            return self._vertex_points
        if self._drag == "move" and i in self.selected:
            dx, dy = self._drag_delta
            return [(x + dx, y + dy) for x, y in shape.points]
        return list(shape.points)

    def _shape_path(self, shape_type: str, pts: list[tuple[float, float]]) -> QPainterPath:
        path = QPainterPath()
        if not pts:
            return path
        wp = [self.to_widget(x, y) for x, y in pts]
        if shape_type in ("rectangle", "mask") and len(wp) >= 2:
            path.addRect(QRectF(wp[0], wp[1]).normalized())
        elif shape_type == "circle" and len(wp) >= 2:
            r = math.hypot(wp[1].x() - wp[0].x(), wp[1].y() - wp[0].y())
            path.addEllipse(wp[0], r, r)
        elif shape_type in ("point", "points"):
            for q in wp:
                path.addEllipse(q, 4, 4)
        elif shape_type in ("line", "linestrip"):
            path.moveTo(wp[0])
            for q in wp[1:]:
                path.lineTo(q)
        else:
            path.addPolygon(QPolygonF(wp))
            path.closeSubpath()
        return path

    def _paint_shape(self, p: QPainter, i: int, shape: Shape) -> None:
        color = label_color(shape.label)
        pts = self._display_points(i, shape)
        selected = i in self.selected
        suggestion = shape.is_suggestion
        faint = suggestion and (shape.score or 0.0) < self.min_score
        if shape.shape_type == "mask" and shape.mask:
            self._paint_mask(p, i, shape, pts, color)
        pen = QPen(color, 3 if selected else 2)
        pen.setCosmetic(True)
        if suggestion:
            pen.setStyle(Qt.PenStyle.DashLine)
            if faint:
                color.setAlpha(110)
                pen.setColor(color)
        p.setPen(pen)
        fill = QColor(color)
        fill.setAlpha(90 if selected else (0 if suggestion else 40) if i != self._hover else 70)
        closed = shape.shape_type not in ("line", "linestrip")
        p.setBrush(QBrush(fill) if closed else Qt.BrushStyle.NoBrush)
        p.drawPath(self._shape_path(shape.shape_type, pts))
        if selected or i == self._hover:
            p.setPen(QPen(QColor(255, 255, 255), 1))
            p.setBrush(color)
            sv = self.selected_vertex
            for j, (x, y) in enumerate(pts):
                q = self.to_widget(x, y)
                if sv is not None and sv == (i, j) and selected:
                    p.setPen(QPen(QColor(255, 255, 255), 2))
                    p.drawEllipse(q, 6, 6)
                    p.setPen(QPen(QColor(255, 255, 255), 1))
                else:
                    p.drawRect(QRectF(q.x() - 3, q.y() - 3, 6, 6))

    def _paint_mask(self, p: QPainter, i: int, shape: Shape, pts: list[tuple[float, float]],
                    color: QColor) -> None:
        cached = self._mask_cache.get(i)
        if cached is None or cached[0] != shape.mask:
            try:
                from labeler.masks import decode_mask_png

                m = decode_mask_png(shape.mask or "")
                img = QImage(m.shape[1], m.shape[0], QImage.Format.Format_ARGB32)
                img.fill(QColor(0, 0, 0, 0))
                c = QColor(color)
                c.setAlpha(110)
                import numpy as np

                arr = np.zeros((m.shape[0], m.shape[1], 4), dtype=np.uint8)
                arr[m] = (c.blue(), c.green(), c.red(), c.alpha())
                img = QImage(arr.data, m.shape[1], m.shape[0], m.shape[1] * 4,
                             QImage.Format.Format_ARGB32).copy()
            except Exception:  # noqa: BLE001 - a bad mask is reported by `labeler validate`
                return
            cached = (shape.mask or "", img)
            self._mask_cache[i] = cached
        if len(pts) >= 2:
            (x1, y1), (x2, y2) = pts[0], pts[1]
            rect = QRectF(self.to_widget(min(x1, x2), min(y1, y2)), self.to_widget(max(x1, x2) + 1, max(y1, y2) + 1))
            p.drawImage(rect, cached[1])

    def _paint_caption(self, p: QPainter, i: int, shape: Shape) -> None:
        pts = self._display_points(i, shape)
        if not pts:
            return
        text = shape.label
        if shape.is_suggestion and shape.score is not None:
            text += f" {shape.score:.2f}"
        if shape.text:
            text += f" “{shape.text}”"
        x1 = min(x for x, _ in pts)
        y1 = min(y for _, y in pts)
        if shape.shape_type == "circle" and len(pts) >= 2:
            r = math.dist(pts[0], pts[1])
            x1, y1 = pts[0][0] - r, pts[0][1] - r
        q = self.to_widget(x1, y1)
        font = QFont(self.font())
        font.setPointSizeF(8.5)
        fm = QFontMetrics(font)
        tw, th = fm.horizontalAdvance(text) + 6, fm.height() + 2
        box = QRectF(q.x(), q.y() - th, tw, th)
        if box.top() < 0:
            box.moveTop(q.y())
        color = label_color(shape.label)
        bg = QColor(color)
        bg.setAlpha(120 if shape.is_suggestion else 220)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(bg)
        p.drawRect(box)
        p.setFont(font)
        p.setPen(QColor(0, 0, 0) if color.lightness() > 140 else QColor(255, 255, 255))
        if shape.is_suggestion:
            font.setItalic(True)
            p.setFont(font)
        p.drawText(box.adjusted(3, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, text)

    def _paint_drawing(self, p: QPainter) -> None:
        if not self._drawing:
            return
        cur = self._clamp(self._cursor) if self._cursor else self._drawing[-1]
        pen = QPen(QColor(0, 255, 0), 2)
        pen.setCosmetic(True)
        p.setPen(pen)
        fill = QColor(0, 255, 0, 40)
        p.setBrush(fill)
        if self.mode in ("rectangle", "circle", "line"):
            p.drawPath(self._shape_path(self.mode, [self._drawing[0], cur]))
        elif self.mode == "polygon":
            pts = [*self._drawing, cur]
            path = QPainterPath()
            wp = [self.to_widget(x, y) for x, y in pts]
            path.moveTo(wp[0])
            for q in wp[1:]:
                path.lineTo(q)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
            for k, q in enumerate(wp[:-1]):
                r = 6 if k == 0 and len(self._drawing) >= 3 else 3
                p.drawEllipse(q, r, r)

    def _paint_sam(self, p: QPainter) -> None:
        if self.mode != "sam":
            return
        if self.sam_preview:
            pen = QPen(QColor(0, 220, 255), 2)
            pen.setCosmetic(True)
            p.setPen(pen)
            p.setBrush(QColor(0, 220, 255, 70))
            p.drawPath(self._shape_path("polygon", self.sam_preview))
        if self.sam_box:
            x1, y1, x2, y2 = self.sam_box
            p.setPen(QPen(QColor(0, 220, 255), 1, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(self.to_widget(x1, y1), self.to_widget(x2, y2)))
        if self._drag == "sambox" and self._press_image and self._cursor:
            p.setPen(QPen(QColor(0, 220, 255), 1, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(self.to_widget(*self._press_image), self.to_widget(*self._cursor)))
        for x, y, lab in self.sam_points:
            p.setPen(QPen(QColor(255, 255, 255), 1))
            p.setBrush(QColor(40, 200, 60) if lab else QColor(230, 50, 50))
            p.drawEllipse(self.to_widget(x, y), 5, 5)
        if self.sam_busy:
            p.setPen(QColor(255, 255, 255))
            p.drawText(QRectF(8, 8, 400, 20), "Segment Anything: computing the image embedding…")

