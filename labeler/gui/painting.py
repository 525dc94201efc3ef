"""How the canvas paints: the image (the visible part, full resolution when zoomed in), the
shapes with their captions and masks, image-level labels, the tool's preview and the
segmenter's prompts. A mixin of :class:`~labeler.gui.canvas.Canvas`, which owns the state."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
    QTransform,
)

from labeler.editing.display import Viewport
from labeler.editing.tools import EditorView, Preview, Tool
from labeler.editing.view_state import ImageAdjust
from labeler.gui.colors import label_color
from labeler.model import Shape


class CanvasPainting:
    """Painting of the canvas (see the module docstring)."""

    if TYPE_CHECKING:  # provided by Canvas
        view: EditorView
        tool: Tool
        scale: float
        offset: QPointF
        show_labels: bool
        min_score: float
        sam_busy: bool
        image_problem: str | None
        issue_box: tuple[float, float, float, float, str] | None
        _pixmap: QPixmap | None
        _full: QPixmap | None
        _frame: QPixmap | None
        _mask_cache: dict[int, tuple[str, QImage]]
        _path_cache: dict[tuple[str, tuple[tuple[float, float], ...]], QPainterPath]
        document: Any
        mode: str
        hide_shapes: bool
        selected: list[int]
        selected_vertex: tuple[int, int] | None

        def to_widget(self, x: float, y: float) -> QPointF: ...
        def image_size(self) -> tuple[int, int]: ...
        def shapes(self) -> list[Shape]: ...
        def needs_full_resolution(self) -> bool: ...
        def viewport(self) -> Viewport | None: ...
        def update(self) -> None: ...
        def rect(self) -> Any: ...
        def font(self) -> QFont: ...
        def devicePixelRatioF(self) -> float: ...  # noqa: N802

    # -- the pre-scaled frame ----------------------------------------------------------------
    def set_frame(self, frame: QImage | None) -> None:
        """The shown decode already scaled to the fitted view (:mod:`labeler.editing.display`,
        made by the image loader's thread): painted as a 1:1 copy while the view needs exactly
        its size, instead of scaling the decode at every paint. None: no frame."""
        self._frame = QPixmap.fromImage(frame) if frame is not None and not frame.isNull() else None
        self.update()

    def fitted_frame(self) -> QPixmap | None:
        """The frame, when the view is fitted and needs its size now (else None)."""
        frame, vp = self._frame, self.viewport()
        if frame is None or vp is None or self._pixmap is None:
            return None
        if vp.frame_size(*self.image_size(), self._pixmap.width()) != (frame.width(), frame.height()):
            return None
        frame.setDevicePixelRatio(vp.dpr)
        return frame

    # -- painting ----------------------------------------------------------------------------
    def paintEvent(self, event: Any) -> None:  # noqa: N802
        self._preview = self.tool.preview()
        p = QPainter(self)  # the image and its background unsmoothed (fills 7x faster), shapes smoothed
        background = QColor(48, 48, 52)
        if self.document is None and self._pixmap is None:
            p.fillRect(self.rect(), background)
            if self.image_problem:  # the image the person chose could not be opened
                self._paint_problem(p)
            else:
                p.setPen(QColor(170, 170, 170))
                p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                           "Open a folder of images (Ctrl+U) to start labeling")
            p.end()
            return
        w, h = self.image_size()
        target = QRectF(self.offset.x(), self.offset.y(), w * self.scale, h * self.scale)
        frame = self.fitted_frame() if self._full is None or not self.needs_full_resolution() else None
        if frame is not None:  # a 1:1 copy at the nearest device pixel, the background around it
            dpr = frame.devicePixelRatio()
            drawn = QRectF(QPointF(round(target.left() * dpr) / dpr, round(target.top() * dpr) / dpr),
                           frame.deviceIndependentSize())
            for band in bands_around(QRectF(self.rect()), drawn):
                p.fillRect(band, background)
            p.drawPixmap(drawn.topLeft(), self._adjusted(frame))
        elif self._pixmap is not None:
            p.fillRect(self.rect(), background)
            pm = self._full if self._full is not None and self.needs_full_resolution() else self._pixmap
            pm = self._adjusted(pm)
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
            p.fillRect(self.rect(), background)
            p.fillRect(target, QColor(30, 30, 30))
            p.setPen(QColor(150, 150, 150))
            if not self.image_problem:  # a problem is written over the shapes, below
                p.drawText(target, Qt.AlignmentFlag.AlignCenter, "loading…")
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self.hide_shapes:
            shown = [(i, shape) for i, shape in enumerate(self.shapes()) if self.view.is_shown(i)]
            to_view = self._to_view()
            for i, shape in shown:
                self._paint_shape(p, i, shape, to_view)
            if self.show_labels:
                font = QFont(self.font())
                font.setPointSizeF(8.5)
                italic = QFont(font)
                italic.setItalic(True)
                fonts = (font, italic, QFontMetrics(font), {})
                for i, shape in shown:
                    self._paint_caption(p, i, shape, fonts)
        self._paint_image_labels(p)
        self._paint_issue_box(p)
        self._paint_drawing(p)
        self._paint_sam(p)
        if self._pixmap is None and self.image_problem:
            self._paint_problem(p)
        p.end()

    def _adjusted(self, pm: QPixmap) -> QPixmap:
        """``pm`` with the view's brightness and contrast (a copy, cached; the image file and
        the decode stay as they are)."""
        adj = self.view.adjust
        if adj.is_identity:
            return pm
        key = (pm.cacheKey(), adj.brightness, adj.contrast)
        cached: tuple[Any, QPixmap] | None = getattr(self, "_adjusted_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, adjusted_pixmap(pm, adj))
            self._adjusted_cache = cached
        return cached[1]

    def _paint_problem(self, p: QPainter) -> None:
        """Why the image cannot be shown, on a dark band across the middle of the view."""
        what = "show" if self.document is not None else "open"
        text = f"cannot {what} this image:\n{self.image_problem}"
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

    def _to_view(self) -> QTransform:
        """Image coordinates to widget coordinates (what :meth:`to_widget` does to a point)."""
        return QTransform(self.scale, 0, 0, self.scale, self.offset.x(), self.offset.y())

    def _shape_path(self, shape_type: str, pts: list[tuple[float, float]]) -> QPainterPath:
        """A shape's outline in widget coordinates; point shapes as dots 4 pixels in radius."""
        if shape_type in ("point", "points"):
            path = QPainterPath()
            for x, y in pts:
                path.addEllipse(self.to_widget(x, y), 4, 4)
            return path
        return self._to_view().map(_outline(shape_type, pts))

    def _image_path(self, shape_type: str, pts: list[tuple[float, float]]) -> QPainterPath | None:
        """The outline of a shape in image coordinates (painted through the view's transform),
        kept for the next paints while the points stay the same; None for point shapes (their
        dots keep their size in pixels at any zoom: :meth:`_shape_path`)."""
        if shape_type in ("point", "points") or not pts:
            return None
        key = (shape_type, tuple(pts))
        cache: dict[tuple[str, tuple[tuple[float, float], ...]], QPainterPath] = self._path_cache
        path = cache.get(key)
        if path is None:
            if len(cache) > 4096:
                cache.clear()
            path = cache[key] = _outline(shape_type, pts)
        return path

    def _paint_shape(self, p: QPainter, i: int, shape: Shape, to_view: QTransform) -> None:
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
        path = self._image_path(shape.shape_type, pts)
        if path is not None:  # the pen is cosmetic: its width stays in pixels
            p.setTransform(to_view)
            p.drawPath(path)
            p.resetTransform()
        else:
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

    def _paint_caption(self, p: QPainter, i: int, shape: Shape, fonts: tuple[QFont, QFont, QFontMetrics, dict[str, int]]) -> None:
        pts = self._display_points(i, shape)
        if not pts:
            return
        text = shape.label
        if shape.is_suggestion and shape.score is not None:
            text += f" {shape.score:.2f}"
        if shape.text:
            text += f" “{shape.text}”"
        path = self._image_path(shape.shape_type, pts)  # the outline painted just before
        if path is not None:  # its top-left corner (a circle's too: centre minus radius)
            corner = path.boundingRect().topLeft()
            x1, y1 = corner.x(), corner.y()
        else:
            x1, y1 = min(x for x, _ in pts), min(y for _, y in pts)
        q = self.to_widget(x1, y1)
        font, italic, fm, widths = fonts
        tw = widths.get(text)
        if tw is None:
            tw = widths[text] = fm.horizontalAdvance(text) + 6
        th = fm.height() + 2
        box = QRectF(q.x(), q.y() - th, tw, th)
        if box.top() < 0:
            box.moveTop(q.y())
        color = label_color(shape.label)
        bg = QColor(color)
        bg.setAlpha(120 if shape.is_suggestion else 220)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(bg)
        p.drawRect(box)
        p.setFont(italic if shape.is_suggestion else font)
        p.setPen(QColor(0, 0, 0) if color.lightness() > 140 else QColor(255, 255, 255))
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
                r = 6 if k == 0 and len(wp) >= 4 and pv.closable else 3
                p.drawEllipse(q, r, r)

    def show_issue(self, issue: Any) -> None:
        """Draw the box an issue proposes (``suggested_fix["box"]``: a predicted box of
        ``detection_errors``) beside the shapes, dashed, with its label and score."""
        fix = (getattr(issue, "suggested_fix", None) or {}) if issue is not None else {}
        box = fix.get("box")
        if isinstance(box, list | tuple) and len(box) == 4:
            score = fix.get("score")
            caption = f"{issue.kind}: {fix.get('label', '')}" + (f" {score:.2f}" if isinstance(score, float | int) else "")
            self.issue_box = (*map(float, box), caption)  # type: ignore[assignment]
        else:
            self.issue_box = None
        self.update()

    def _paint_issue_box(self, p: QPainter) -> None:
        box = getattr(self, "issue_box", None)
        if box is None or self.hide_shapes:
            return
        x1, y1, x2, y2, caption = box
        rect = QRectF(self.to_widget(x1, y1), self.to_widget(x2, y2))
        pen = QPen(QColor(0, 230, 255), 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(rect)
        width = p.fontMetrics().horizontalAdvance(caption)
        p.fillRect(QRectF(rect.left(), rect.bottom() + 2, width + 8, 18), QColor(0, 0, 0, 170))
        p.setPen(QColor(0, 230, 255))
        p.drawText(QRectF(rect.left() + 4, rect.bottom() + 2, width + 2, 18),
                   Qt.AlignmentFlag.AlignVCenter, caption)

    def _paint_sam(self, p: QPainter) -> None:
        if not self.tool.needs_segmenter:
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


def _outline(shape_type: str, pts: list[tuple[float, float]]) -> QPainterPath:
    """The outline of a shape that is not a point shape, in the coordinates of ``pts``: a
    rectangle (or a mask's box) from two corners in any order, a circle from its centre and a
    point on it, an open line, else a closed polygon."""
    path = QPainterPath()
    if not pts:
        return path
    if shape_type in ("rectangle", "mask") and len(pts) >= 2:
        path.addRect(QRectF(QPointF(*pts[0]), QPointF(*pts[1])).normalized())
    elif shape_type == "circle" and len(pts) >= 2:
        path.addEllipse(QPointF(*pts[0]), r := math.dist(pts[0], pts[1]), r)
    else:
        path.addPolygon(QPolygonF([QPointF(x, y) for x, y in pts]))
        if shape_type not in ("line", "linestrip"):
            path.closeSubpath()
    return path


def bands_around(outer: QRectF, inner: QRectF) -> list[QRectF]:
    """The parts of ``outer`` outside ``inner``: up to four bands (above, below, left, right)."""
    top, bottom = max(inner.top(), outer.top()), min(inner.bottom(), outer.bottom())
    bands = [QRectF(outer.left(), outer.top(), outer.width(), top - outer.top()),
             QRectF(outer.left(), bottom, outer.width(), outer.bottom() - bottom),
             QRectF(outer.left(), top, inner.left() - outer.left(), bottom - top),
             QRectF(inner.right(), top, outer.right() - inner.right(), bottom - top)]
    return [b for b in bands if b.width() > 0 and b.height() > 0]


def adjusted_pixmap(pm: QPixmap, adjust: ImageAdjust) -> QPixmap:
    """A copy of ``pm`` with ``adjust``'s brightness and contrast (see :class:`ImageAdjust`)."""
    img = pm.toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = img.width(), img.height()
    if w == 0 or h == 0:
        return pm
    rows = np.frombuffer(img.constBits(), dtype=np.uint8).reshape(h, img.bytesPerLine())
    out = np.ascontiguousarray(adjust.apply(rows[:, : w * 4].reshape(h, w, 4)))
    result = QImage(out.data, w, h, w * 4, QImage.Format.Format_RGBA8888).copy()  # owns its pixels
    adjusted = QPixmap.fromImage(result)
    adjusted.setDevicePixelRatio(pm.devicePixelRatio())
    return adjusted
