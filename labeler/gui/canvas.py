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

from labeler.editing.document import Document
from labeler.editing.tools import (
    EPSILON,
    MODES,
    TOOLS,
    EditorView,
    Gesture,
    Pointer,
    Preview,
    SegmentTool,
    Tool,
    VertexInserted,
    VertexRemoved,
)
from labeler.geometry import can_remove_vertex
from labeler.gui.colors import label_color
from labeler.model import Shape

__all__ = ["EPSILON", "MODES", "Canvas"]

_BUTTONS = {Qt.MouseButton.LeftButton: "left", Qt.MouseButton.RightButton: "right",
            Qt.MouseButton.MiddleButton: "middle"}
_KEYS = {Qt.Key.Key_Escape: "escape", Qt.Key.Key_Return: "enter", Qt.Key.Key_Enter: "enter",
         Qt.Key.Key_Backspace: "backspace", Qt.Key.Key_Delete: "delete", Qt.Key.Key_Left: "left",
         Qt.Key.Key_Right: "right", Qt.Key.Key_Up: "up", Qt.Key.Key_Down: "down"}
_CURSORS = {"arrow": Qt.CursorShape.ArrowCursor, "cross": Qt.CursorShape.CrossCursor,
            "pointing": Qt.CursorShape.PointingHandCursor, "open_hand": Qt.CursorShape.OpenHandCursor}


class Canvas(QWidget):
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
        self._full: QPixmap | None = None  # the full-size decode, once zoomed in past _pixmap
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
        self.sam_busy = False

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
        return self.tools["sam"]  # type: ignore[return-value]

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

    def set_image(self, image: QImage | None, problem: str | None = None) -> None:
        """The decoded image (any size: it is stretched over the annotation's frame).

        ``problem``: why there is no image (shown on the canvas instead of "loading…").
        """
        self.image_problem = problem
        self._pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
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
        if mode != "sam":
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
        self.scale = self.view.scale = s
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

    # -- painting ----------------------------------------------------------------------------
    def paintEvent(self, event: Any) -> None:  # noqa: N802
        self._preview = self.tool.preview()
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
        moved = getattr(self, "_preview", None)
        return moved.moved.get(i, list(shape.points)) if moved is not None else list(shape.points)

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
        fill.setAlpha(90 if selected else (0 if suggestion else 40) if i != self.view.hover else 70)
        closed = shape.shape_type not in ("line", "linestrip")
        p.setBrush(QBrush(fill) if closed else Qt.BrushStyle.NoBrush)
        p.drawPath(self._shape_path(shape.shape_type, pts))
        if selected or i == self.view.hover:
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
        pv: Preview = self._preview
        if pv.drawing is None and not pv.open_polygon:
            return
        pen = QPen(QColor(0, 255, 0), 2)
        pen.setCosmetic(True)
        p.setPen(pen)
        p.setBrush(QColor(0, 255, 0, 40))
        if pv.drawing is not None:
            p.drawPath(self._shape_path(*pv.drawing))
        if pv.open_polygon:
            wp = [self.to_widget(x, y) for x, y in pv.open_polygon]
            path = QPainterPath()
            path.moveTo(wp[0])
            for q in wp[1:]:
                path.lineTo(q)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
            for k, q in enumerate(wp[:-1]):
                r = 6 if k == 0 and len(wp) >= 4 else 3
                p.drawEllipse(q, r, r)

    def _paint_sam(self, p: QPainter) -> None:
        if self.mode != "sam":
            return
        pv: Preview = self._preview
        if pv.result:
            pen = QPen(QColor(0, 220, 255), 2)
            pen.setCosmetic(True)
            p.setPen(pen)
            p.setBrush(QColor(0, 220, 255, 70))
            p.drawPath(self._shape_path("polygon", pv.result))
        p.setPen(QPen(QColor(0, 220, 255), 1, Qt.PenStyle.DashLine))
        p.setBrush(Qt.BrushStyle.NoBrush)
        for box in (pv.prompt_box, (*pv.rubber_band[0], *pv.rubber_band[1]) if pv.rubber_band else None):
            if box:
                p.drawRect(QRectF(self.to_widget(box[0], box[1]), self.to_widget(box[2], box[3])))
        for x, y, lab in pv.prompt_points:
            p.setPen(QPen(QColor(255, 255, 255), 1))
            p.setBrush(QColor(40, 200, 60) if lab else QColor(230, 50, 50))
            p.drawEllipse(self.to_widget(x, y), 5, 5)
        if self.sam_busy:
            p.setPen(QColor(255, 255, 255))
            p.drawText(QRectF(8, 8, 400, 20), "Segment Anything: computing the image embedding…")
