"""The canvas: shows the image and the document's shapes, and forwards the mouse to the tools.

The canvas keeps the view transform (zoom, pan, fit) and paints; everything a gesture means
lives in the current tool (:mod:`labeler.editing.tools`, Qt-free): the canvas turns each Qt
mouse or key event into a :class:`~labeler.editing.tools.Pointer` in image coordinates and
hands it to the tool, paints the tool's :meth:`~labeler.editing.tools.Tool.preview`, and emits
each finished gesture (``gesture``: a :class:`~labeler.editing.tools.ShapeDrawn`,
``ShapesMoved``, ...) for the window to turn into one document edit, hence one undo step.

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

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainterPath,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QMenu, QWidget

from labeler.editing.display import Viewport, fit_transform
from labeler.editing.document import Document
from labeler.editing.preferences import wheel_action
from labeler.editing.tools import (
    EPSILON,
    MODES,
    TOOLS,
    EditorView,
    Gesture,
    Pointer,
    SegmentTool,
    Tool,
    VertexInserted,
    VertexRemoved,
)
from labeler.geometry import can_remove_vertex
from labeler.gui.painting import CanvasPainting
from labeler.model import Shape

__all__ = ["EPSILON", "MODES", "Canvas"]

_BUTTONS = {Qt.MouseButton.LeftButton: "left", Qt.MouseButton.RightButton: "right",
            Qt.MouseButton.MiddleButton: "middle"}
_KEYS = {Qt.Key.Key_Escape: "escape", Qt.Key.Key_Return: "enter", Qt.Key.Key_Enter: "enter",
         Qt.Key.Key_Backspace: "backspace", Qt.Key.Key_Delete: "delete", Qt.Key.Key_Left: "left",
         Qt.Key.Key_Right: "right", Qt.Key.Key_Up: "up", Qt.Key.Key_Down: "down"}
_CURSORS = {"arrow": Qt.CursorShape.ArrowCursor, "cross": Qt.CursorShape.CrossCursor,
            "pointing": Qt.CursorShape.PointingHandCursor, "open_hand": Qt.CursorShape.OpenHandCursor}


class Canvas(CanvasPainting, QWidget):
    """Image view with shape drawing and editing (labelme's canvas, rendering a Document)."""

    gesture = Signal(object)  # a finished gesture of a tool (labeler.editing.tools.Gesture)
    selectionChanged = Signal(list)  # indices
    zoomChanged = Signal(float)
    cursorMoved = Signal(float, float)
    fullResolutionWanted = Signal()  # zoomed in past the resolution of the displayed decode
    drawingChanged = Signal(bool)  # a shape is (or is no longer) half drawn

    def __init__(self, parent: QWidget | None = None, view: EditorView | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # paints every pixel: nothing under it
        self.setMinimumSize(200, 150)
        #: Selection and hit testing (the session's, when the window passes it).
        self.view = view if view is not None else EditorView()
        self.view.on_gesture = self._gesture
        self.view.on_selection = self._selection
        self.tools: dict[str, Tool] = {name: cls(self.view) for name, cls in TOOLS.items()}
        self.tool: Tool = self.tools["edit"]
        self._pixmap: QPixmap | None = None
        #: Why there is no image to show (set with set_image), painted over the shapes.
        self.image_problem: str | None = None
        #: (x1, y1, x2, y2, caption) of the box the issue shown in the review panel proposes
        self.issue_box: tuple[float, float, float, float, str] | None = None
        self._full: QPixmap | None = None  # the full-size decode, once zoomed in past _pixmap
        self._frame: QPixmap | None = None  # _pixmap pre-scaled to the fitted view (painting.py)
        self._full_wanted = False
        #: Window actions appended to the right-click menu (edit label, delete...).
        self.context_actions: list[QAction | None] = []
        self.scale = 1.0
        self.offset = QPointF(0, 0)
        self.fit_mode: str | None = "window"  # "window", "width" or None (manual zoom)
        self.show_labels = True
        self.min_score = 0.0  # suggestions below this score are drawn faint
        self._press_widget: QPointF | None = None
        self._pan_start: QPointF | None = None
        self._mask_cache: dict[int, tuple[str, QImage]] = {}
        self._path_cache: dict[tuple[str, tuple[tuple[float, float], ...]], QPainterPath] = {}  # painting.py
        self.sam_busy = False
        self.wheel = "zoom"  # what the wheel does: labeler.editing.preferences.wheel_action

    # -- state kept in the editor view and the tools -------------------------------------------
    document = property(lambda self: self.view.document)
    mode = property(lambda self: self.tool.name, doc="The current tool's name (one of MODES).")

    @property
    def selected(self) -> list[int]:
        return self.view.selected

    @property
    def selected_vertex(self) -> tuple[int, int] | None:
        return self.view.selected_vertex

    @selected_vertex.setter
    def selected_vertex(self, value: tuple[int, int] | None) -> None:
        self.view.selected_vertex = value

    @property
    def hide_shapes(self) -> bool:
        return self.view.hide_shapes

    @hide_shapes.setter
    def hide_shapes(self, value: bool) -> None:
        self.view.hide_shapes = value

    @property
    def segment_tool(self) -> SegmentTool:
        return next(t for t in self.tools.values() if t.needs_segmenter)  # type: ignore[return-value]

    sam_points = property(lambda self: self.segment_tool.points)
    sam_box = property(lambda self: self.segment_tool.box)

    @property
    def sam_preview(self) -> list[tuple[float, float]] | None:
        return self.segment_tool.result

    @sam_preview.setter
    def sam_preview(self, value: list[tuple[float, float]] | None) -> None:
        self.segment_tool.result = value

    def _selection(self, indices: list[int]) -> None:
        self.selectionChanged.emit(indices)
        self.update()

    def _gesture(self, g: Gesture) -> None:
        if isinstance(g, VertexInserted):
            self.view.selected_vertex = (g.index, g.position)
        self.gesture.emit(g)
        self.update()

    # -- content -----------------------------------------------------------------------------
    def set_document(self, doc: Document | None) -> None:
        """Show another document (the image comes separately through :meth:`set_image`)."""
        self.view.document = doc
        self.view.selected = []
        self.view.selected_vertex = None
        self.view.hover = None
        for tool in self.tools.values():
            tool.cancel()
        self._full = None
        self._full_wanted = False
        self._mask_cache.clear()
        self.clear_sam()
        if self.fit_mode:
            self.fit(self.fit_mode)
        self.update()

    def set_image(self, image: QImage | None, problem: str | None = None, frame: QImage | None = None) -> None:
        """The decoded image (any size: it is stretched over the annotation's frame), and its
        ``frame`` when there is one (see :meth:`set_frame`).

        ``problem``: why there is no image (shown on the canvas instead of "loading…").
        """
        self.image_problem = problem
        self._pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        self.set_frame(frame if self._pixmap is not None else None)
        self.view.fallback_size = (self._pixmap.width(), self._pixmap.height()) if self._pixmap else (1, 1)
        self._full = None
        self._full_wanted = False
        if self.fit_mode:
            self.fit(self.fit_mode)
        self._check_resolution()
        self.update()

    def set_full_image(self, image: QImage | None) -> None:
        """The full-size decode of the shown image, painted when zoomed in past the screen decode.

        Both decodes are stretched over the same image rectangle, so shapes stay where they are.
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
        return self.view.image_size()

    def shapes(self) -> list[Shape]:
        return self.view.shapes

    def refresh(self) -> None:
        """The document changed: drop selections that no longer exist, repaint."""
        self.view.refresh()
        self._mask_cache.clear()
        self.update()

    def select(self, indices: list[int]) -> None:
        """Select shapes (from the shape list or review panel)."""
        self.view.select(indices)
        self.update()

    def set_mode(self, mode: str) -> None:
        """Switch to one of the tools of :data:`labeler.editing.tools.TOOLS`."""
        if mode not in TOOLS:
            raise ValueError(f"unknown canvas mode {mode!r}")
        self.tool.cancel()
        self.tool = self.tools[mode]
        self.tool.cancel()
        if not self.tool.needs_segmenter:
            self.clear_sam()
        self.setCursor(_CURSORS[self.tool.cursor])
        self.update()

    @property
    def is_drawing(self) -> bool:
        """True while a shape is half drawn."""
        return self.tool.is_drawing

    def finish_polygon(self) -> bool:
        """Close the polygon being drawn (Enter); False when there is none of 3 points."""
        return self.tool.key("enter") if self.mode == "polygon" else False

    def undo_last_point(self) -> bool:
        """Remove the last point of the shape being drawn; False when nothing is being drawn."""
        done = self.tool.undo_point()
        self.update()
        return done

    def cancel_drawing(self) -> None:
        """Drop the half-drawn shape (Esc)."""
        self.tool.cancel()
        self.update()

    def remove_selected_vertex(self) -> bool:
        """Ask to remove the selected vertex (see :meth:`EditorView.remove_selected_vertex`)."""
        return self.view.remove_selected_vertex()

    def clear_sam(self) -> None:
        """Forget the Segment Anything prompts and preview."""
        self.segment_tool.clear()
        self.update()

    # -- view transform ----------------------------------------------------------------------
    def to_image(self, pos: QPointF) -> tuple[float, float]:
        return ((pos.x() - self.offset.x()) / self.scale, (pos.y() - self.offset.y()) / self.scale)

    def to_widget(self, x: float, y: float) -> QPointF:
        return QPointF(self.offset.x() + x * self.scale, self.offset.y() + y * self.scale)

    def fit(self, how: str = "window") -> None:
        """Fit the whole image ("window") or its width ("width") into the view."""
        s, x, y = fit_transform(*self.image_size(), self.width(), self.height(), how)
        self.fit_mode = how
        self._set_scale(s, QPointF(x, y))

    def viewport(self) -> Viewport | None:
        """What a frame of the image is made for: this view while it fits its images."""
        return Viewport(self.width(), self.height(), self.devicePixelRatioF(), self.fit_mode) if self.fit_mode else None

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
        self.scale = self.view.scale = s
        self.offset = offset
        self.zoomChanged.emit(s)
        self._check_resolution()
        self.update()

    def zoom_in(self) -> None:
        self.zoom_by(1.25)

    def zoom_out(self) -> None:
        self.zoom_by(0.8)

    def zoom_original(self) -> None:
        self.set_zoom(1.0)

    def fit_window(self) -> None:
        self.fit("window")

    def fit_width(self) -> None:
        self.fit("width")

    def pan_by(self, dx: float, dy: float) -> None:
        self.fit_mode = None
        self.offset = QPointF(self.offset.x() + dx, self.offset.y() + dy)
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        if self.fit_mode:
            self.fit(self.fit_mode)
        super().resizeEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        d, mods, m = event.angleDelta(), event.modifiers(), Qt.KeyboardModifier
        what, a, b = wheel_action(self.wheel, d.x(), d.y(), bool(mods & m.ShiftModifier),
                                  bool(mods & m.ControlModifier), bool(mods & m.AltModifier))
        self.zoom_by(a, event.position()) if what == "zoom" else self.pan_by(a, b)
        event.accept()

    # -- events, forwarded to the tool ---------------------------------------------------------
    def _pointer(self, event: QMouseEvent) -> Pointer:
        x, y = self.to_image(event.position())
        mods = event.modifiers()
        return Pointer(x, y, _BUTTONS.get(event.button(), ""),
                       shift=bool(mods & Qt.KeyboardModifier.ShiftModifier),
                       ctrl=bool(mods & Qt.KeyboardModifier.ControlModifier),
                       alt=bool(mods & Qt.KeyboardModifier.AltModifier))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._press_widget = event.position()
        if self.tool.press(self._pointer(event)) == "pan":
            self._pan_start = event.position()
        self.update()
        self.drawingChanged.emit(self.is_drawing)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        p = self._pointer(event)
        self.view.cursor = p.xy
        self.cursorMoved.emit(p.x, p.y)
        if self._pan_start is not None:
            d = event.position() - self._pan_start
            self._pan_start = event.position()
            self.pan_by(d.x(), d.y())
            return
        cursor = self.tool.move(p)
        if cursor is not None:
            self.setCursor(_CURSORS[cursor])
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._pan_start = None
        pos = event.position()
        moved = self._press_widget is not None and (pos - self._press_widget).manhattanLength() > 3
        self.tool.release(self._pointer(event), moved)
        self.update()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.tool.double_click(self._pointer(event))
        self.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = _KEYS.get(Qt.Key(event.key()))
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if key is not None and self.tool.key(key, shift):
            self.update()
            return
        if key == "escape":
            if self.selected:
                self.select([])
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
        vertex = self.view.vertex_at(x, y)
        edge = self.view.edge_at(x, y) if vertex is None else None
        add = menu.addAction("Add Point to Edge\tAlt+Click")
        add.setEnabled(edge is not None)
        if edge is not None:
            i, j, q = edge
            add.triggered.connect(lambda _c=False, i=i, j=j, q=q: self._gesture(
                VertexInserted(i, j, round(q[0], 2), round(q[1], 2))))
        rm = menu.addAction("Remove Point\tShift+Click")
        rm.setEnabled(vertex is not None and can_remove_vertex(self.shapes()[vertex[0]]))
        if vertex is not None:
            rm.triggered.connect(lambda _c=False, v=vertex: self._gesture(VertexRemoved(*v)))
        target = (vertex or edge)[0] if (vertex or edge) else self.view.shape_at(x, y)  # type: ignore[index]
        if target is not None and target not in self.selected:
            self.select([target])
        if self.context_actions:
            menu.addSeparator()
            for act in self.context_actions:
                if act is None:
                    menu.addSeparator()
                else:
                    menu.addAction(act)
        return menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        menu = self.context_menu(QPointF(event.pos()))
        if menu is None:
            super().contextMenuEvent(event)
            return
        menu.exec(event.globalPos())
        menu.deleteLater()
