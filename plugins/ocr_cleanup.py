"""``ocr_cleanup``: find (and safely fix) label noise in OCR datasets.

For text-region shapes (polygons, quadrilaterals or rectangles that carry a transcription in
``labeler.text``, or whose label is one of the ``labels`` option):

- geometry: fewer than 3 points, zero area, self-intersection, points outside the image,
  counter-clockwise point order. Safe repairs (clip to the image, put the 4 points of a
  crossed quad back in order, make the order clockwise) are proposed as ``set_points`` fixes
  that ``labeler fix --plugin ocr_cleanup`` applies and records (undoable); the rest is flagged;
- duplicates and heavy overlaps between text regions; tiny boxes; empty transcriptions;
- transcription check: the region is cropped (perspective warp of its quad), read by the
  bundled recogniser and compared with the label (character error rate, whitespace and case
  ignored); a large disagreement is flagged with the recognised text as suggested fix.

Don't-care regions (transcription ``###``, or a shape flag ``illegible``/``dont_care``) are
regions a trainer ignores: they are not checked for text, only for geometry.
Nothing is deleted: every finding is an issue in the JSON, reviewable in the GUI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from labeler import hookimpl
from labeler.dataset import Dataset, Item
from labeler.formats.icdar import TEXT_SHAPE_TYPES, is_dont_care
from labeler.geometry import (
    bounding_box,
    boxes_overlap,
    clip_points,
    min_side,
    order_around_center,
    polygon_iou,
    rounded_points,
    self_intersects,
    signed_area,
)
from labeler.model import Annotation, Issue, Shape, Source
from labeler.plugin_api import Check, Fixer, Sample

__version__ = "0.1.0"

#: Issue kinds that come with a safe geometry repair.
GEOMETRY_FIX_KINDS = ("points_outside", "self_intersection", "point_order")
TEXT_FIX_KINDS = ("empty_text", "transcription_mismatch")

Point = tuple[float, float]


# -- geometry helpers --------------------------------------------------------------------------
def outline(shape: Shape) -> list[Point]:
    """The shape's polygon (rectangles expanded to 4 corners, clockwise)."""
    return [(float(x), float(y)) for x, y in shape.polygon()]


def _r(points: Sequence[Point]) -> list[list[float]]:
    return rounded_points(points)


# -- the check ---------------------------------------------------------------------------------
class CleanupOptions(BaseModel):
    """Options of the ocr_cleanup check."""

    model_config = ConfigDict(extra="forbid")

    labels: list[str] = Field(
        default_factory=lambda: ["text"],
        description="Labels of text regions (shapes with a transcription count too).",
    )
    recognize: bool = Field(
        default=True, description="Read each region with the bundled recogniser (CER check)."
    )
    max_cer: float = Field(
        default=0.5,
        ge=0,
        description="Flag a transcription whose character error rate against "
        "the recognised text is at least this.",
    )
    min_rec_score: float = Field(
        default=0.5, ge=0, le=1, description="Recogniser confidence needed to flag a mismatch."
    )
    duplicate_iou: float = Field(default=0.8, ge=0, le=1, description="IoU of a duplicate box.")
    overlap_iou: float = Field(default=0.4, ge=0, le=1, description="IoU of a heavy overlap.")
    min_height: float = Field(
        default=5.0, ge=0, description="Tiny box: text height below this (px)."
    )
    min_area: float = Field(default=40.0, ge=0, description="Tiny box: area below this (px^2).")
    outside_tolerance: float = Field(
        default=0.5, ge=0, description="Pixels a point may lie outside the image unflagged."
    )


class OcrCleanupCheck(Check):
    """Geometry, duplicates, tiny boxes, empty and wrong transcriptions of text regions."""

    name = "ocr_cleanup"
    description = "OCR label noise: broken polygons, duplicates, tiny boxes, wrong transcriptions"
    Options: ClassVar[type[BaseModel]] = CleanupOptions
    requires = ("cv2",)
    extra = "ocr"
    needs_image = True

    def setup(self) -> None:
        opts: CleanupOptions = self.options  # type: ignore[assignment]
        self.engine = None
        if opts.recognize:
            from labeler.ocr_engine import get_engine

            self.engine = get_engine()

    def source(self) -> Source:
        from labeler.ocr_engine import rapidocr_version

        opts: CleanupOptions = self.options  # type: ignore[assignment]
        if not opts.recognize:
            return Source(plugin=self.name)
        return Source(
            plugin=self.name,
            model="PP-OCRv4 rec (rapidocr_onnxruntime)",
            model_version=rapidocr_version(),
        )

    def is_text_region(self, shape: Shape) -> bool:
        """Whether ``shape`` is checked: a text-region type with a transcription or text label."""
        opts: CleanupOptions = self.options  # type: ignore[assignment]
        if shape.review == "rejected" or shape.shape_type not in TEXT_SHAPE_TYPES:
            return False
        return shape.text is not None or shape.label in opts.labels

    def check_sample(self, sample: Sample) -> list[Issue]:
        """Every finding on one image."""
        ann = sample.annotation
        size = sample.image.size if sample.image is not None else (ann.imageWidth, ann.imageHeight)
        issues, repaired = self.check_geometry(ann, size)  # type: ignore[arg-type]
        issues += self.check_overlaps(ann, repaired)
        issues += self.check_text(ann, repaired, sample.image)
        # Keep the record of fixes already applied (their undo data lives in the issue), unless
        # the same finding is raised again.
        new_keys = {(i.kind, i.shape_index) for i in issues}
        for old in ann.meta.issues:
            mine = old.state == "fixed" and old.fixed_by == self.name
            if mine and (old.kind, old.shape_index) not in new_keys:
                issues.append(old.model_copy(deep=True))
        return issues

    # geometry -------------------------------------------------------------------------------
    def check_geometry(
        self, ann: Annotation, size: tuple[int, int]
    ) -> tuple[list[Issue], dict[int, list[Point]]]:
        """Geometry issues, and the (repaired) outline of every usable text region."""
        opts: CleanupOptions = self.options  # type: ignore[assignment]
        w, h = size
        issues: list[Issue] = []
        usable: dict[int, list[Point]] = {}
        for idx, shape in enumerate(ann.shapes):
            if not self.is_text_region(shape):
                continue
            need = 2 if shape.shape_type == "rectangle" else 3
            if len(shape.points) < need:
                issues.append(
                    Issue(
                        kind="too_few_points",
                        score=1.0,
                        shape_index=idx,
                        detail=f"text region with {len(shape.points)} point(s): not a polygon; "
                        "redraw it",
                    )
                )
                continue
            pts = outline(shape)
            repairs: list[str] = []
            tol = opts.outside_tolerance
            if any(x < -tol or y < -tol or x > w + tol or y > h + tol for x, y in pts):
                clipped = clip_points(pts, w, h)
                if abs(signed_area(clipped)) >= 1.0:
                    repairs.append("points_outside")
                    pts = clipped
                else:
                    issues.append(
                        Issue(
                            kind="points_outside",
                            score=1.0,
                            shape_index=idx,
                            detail="text region lies outside the image; nothing left to clip",
                        )
                    )
                    continue
            if self_intersects(pts):
                fixed = order_around_center(pts) if len(pts) == 4 else None
                if fixed is None or self_intersects(fixed):
                    issues.append(
                        Issue(
                            kind="self_intersection",
                            score=1.0,
                            shape_index=idx,
                            detail=f"text polygon crosses itself ({len(pts)} points); redraw it",
                        )
                    )
                    continue
                repairs.append("self_intersection")
                pts = fixed
            if abs(signed_area(pts)) < 1.0:
                issues.append(
                    Issue(
                        kind="zero_area",
                        score=1.0,
                        shape_index=idx,
                        detail="text region has no area (its points are on one line)",
                    )
                )
                continue
            if shape.shape_type != "rectangle" and signed_area(pts) < 0:
                repairs.append("point_order")
                pts = [pts[0], *reversed(pts[1:])]
            if repairs and len(pts) == 4:
                pts = start_on_long_edge(pts)
            usable[idx] = pts
            if repairs:
                what = {
                    "points_outside": "points outside the image (clip them)",
                    "self_intersection": "a crossed quadrilateral (put its points in order)",
                    "point_order": "counter-clockwise point order (make it clockwise)",
                }
                new_points = _r(pts) if shape.shape_type != "rectangle" else _r([pts[0], pts[2]])
                issues.append(
                    Issue(
                        kind=repairs[0],
                        score=1.0,
                        shape_index=idx,
                        detail="text region with " + "; ".join(what[r] for r in repairs),
                        suggested_fix={
                            "action": "set_points",
                            "points": new_points,
                            "expect": _r(shape.points),
                            "repairs": repairs,
                        },
                    )
                )
        for idx, pts in list(usable.items()):
            height = min_side(pts)
            area = abs(signed_area(pts))
            if height < opts.min_height or area < opts.min_area:
                issues.append(
                    Issue(
                        kind="tiny_box",
                        score=0.9,
                        shape_index=idx,
                        detail=f"tiny text region ({height:.1f} px high, {area:.0f} px^2)",
                    )
                )
                usable.pop(idx)
        return issues, usable

    # duplicates -----------------------------------------------------------------------------
    def check_overlaps(self, ann: Annotation, regions: dict[int, list[Point]]) -> list[Issue]:
        """Duplicates (IoU >= duplicate_iou) and heavy overlaps, raised on the later shape."""
        opts: CleanupOptions = self.options  # type: ignore[assignment]
        idxs = sorted(regions)
        boxes = {i: bounding_box(regions[i]) for i in idxs}
        best: dict[int, tuple[float, int]] = {}
        for a_pos, i in enumerate(idxs):
            for j in idxs[a_pos + 1 :]:
                if not boxes_overlap(boxes[i], boxes[j]):
                    continue
                iou = polygon_iou(regions[i], regions[j])
                if iou >= opts.overlap_iou and iou > best.get(j, (0.0, -1))[0]:
                    best[j] = (iou, i)
        issues = []
        for j, (iou, i) in sorted(best.items()):
            same_text = (ann.shapes[i].text or "") == (ann.shapes[j].text or "")
            kind = "duplicate" if iou >= opts.duplicate_iou else "overlap"
            text_note = "same transcription" if same_text else "different transcriptions"
            issues.append(
                Issue(
                    kind=kind,
                    score=round(min(1.0, iou + (0.05 if same_text else 0.0)), 4),
                    shape_index=j,
                    detail=f"text region overlaps region #{i} (IoU {iou:.2f}, {text_note})",
                    suggested_fix={"action": "review", "other_shape": i, "iou": round(iou, 4)},
                )
            )
        return issues

    # transcriptions -------------------------------------------------------------------------
    def check_text(
        self, ann: Annotation, regions: dict[int, list[Point]], image: Any
    ) -> list[Issue]:
        """Empty transcriptions, and labels the recogniser disagrees with."""
        from labeler.ocr_engine import char_error_rate, crop_quad, normalize_text, to_array

        opts: CleanupOptions = self.options  # type: ignore[assignment]
        targets = [i for i in sorted(regions) if not is_dont_care(ann.shapes[i])]
        read: dict[int, tuple[str, float]] = {}
        if self.engine is not None and image is not None and targets:
            arr = to_array(image)
            crops, which = [], []
            for i in targets:
                crop = crop_quad(arr, _as_quad(regions[i]))
                if crop is not None:
                    if crop.shape[0] > 1.5 * crop.shape[1]:
                        # Vertical box without a reading direction: read it lying down.
                        crop = np.ascontiguousarray(np.rot90(crop, k=-1))
                    crops.append(crop)
                    which.append(i)
            read = dict(zip(which, self.engine.recognize(crops), strict=True))
            read = self._reread_mismatches(ann, read, dict(zip(which, crops, strict=True)))
        issues = []
        for i in targets:
            text = ann.shapes[i].text
            rec_text, rec_score = read.get(i, ("", 0.0))
            if text is None or not text.strip():
                fix = None
                if rec_text and rec_score >= opts.min_rec_score:
                    fix = {"action": "set_text", "text": rec_text, "expect": text}
                seen = f"; the crop reads {rec_text!r}" if rec_text else ""
                issues.append(
                    Issue(
                        kind="empty_text",
                        score=1.0,
                        shape_index=i,
                        detail=f"text region without a transcription{seen}",
                        suggested_fix=fix,
                    )
                )
                continue
            if i not in read:
                continue
            cer = char_error_rate(normalize_text(text), normalize_text(rec_text))
            if cer >= opts.max_cer and rec_score >= opts.min_rec_score:
                issues.append(
                    Issue(
                        kind="transcription_mismatch",
                        score=round(min(1.0, cer) * rec_score, 4),
                        shape_index=i,
                        detail=f"label {text!r} but the crop reads {rec_text!r} (CER {cer:.2f}, "
                        f"recogniser confidence {rec_score:.2f}): likely a wrong transcription "
                        "or box",
                        suggested_fix={"action": "set_text", "text": rec_text, "expect": text},
                    )
                )
        return issues

    def _reread_mismatches(
        self, ann: Annotation, read: dict[int, tuple[str, float]], crops: dict[int, np.ndarray]
    ) -> dict[int, tuple[str, float]]:
        """Read disagreeing crops the three other ways round; keep the reading closest to the
        label (the quad may start at another corner than the text's top-left)."""
        from labeler.ocr_engine import char_error_rate, normalize_text

        opts: CleanupOptions = self.options  # type: ignore[assignment]

        def cer(i: int, t: str) -> float:
            return char_error_rate(normalize_text(ann.shapes[i].text or ""), normalize_text(t))

        bad = [
            i
            for i, (t, _) in read.items()
            if (ann.shapes[i].text or "").strip() and cer(i, t) >= opts.max_cer
        ]
        if not bad or self.engine is None:
            return read
        turned = [np.ascontiguousarray(np.rot90(crops[i], k=k)) for i in bad for k in (2, 1, -1)]
        results = self.engine.recognize(turned)
        out = dict(read)
        for n, i in enumerate(bad):
            options = [read[i], *results[3 * n : 3 * n + 3]]
            best = min(options, key=lambda r: (cer(i, r[0]), -r[1]))
            if cer(i, best[0]) >= opts.max_cer:
                best = max(options, key=lambda r: r[1])  # all disagree: the most confident
            out[i] = best
        return out


def start_on_long_edge(pts: Sequence[Point]) -> list[Point]:
    """A clockwise quad re-started so that its first edge is a long one (the text direction)
    when it is clearly not; of the two candidates the top-left-most corner is taken."""

    def d(a: Point, b: Point) -> float:
        return math.hypot(a[0] - b[0], a[1] - b[1])

    pts = list(pts)
    if d(pts[0], pts[1]) >= 0.8 * d(pts[1], pts[2]):
        return pts
    start = min((1, 3), key=lambda k: pts[k][0] + pts[k][1])
    return pts[start:] + pts[:start]


def _as_quad(points: Sequence[Point]) -> list[Point]:
    if len(points) == 4:
        return list(points)
    from labeler.ocr_engine import polygon_to_quad

    return [(float(x), float(y)) for x, y in polygon_to_quad(points)]


# -- the fixer ---------------------------------------------------------------------------------
class FixerOptions(BaseModel):
    """Options of the ocr_cleanup fixer."""

    model_config = ConfigDict(extra="forbid")

    text: bool = Field(
        default=False,
        description="Also replace empty or mismatching transcriptions by the recognised text "
        "(off by default: only the safe geometry repairs are applied).",
    )


def _same_points(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> bool:
    return len(a) == len(b) and all(
        abs(p[0] - q[0]) < 0.01 and abs(p[1] - q[1]) < 0.01 for p, q in zip(a, b, strict=True)
    )


class OcrCleanupFixer(Fixer):
    """Apply the safe repairs (clip, reorder) and, with ``-o text true``, recognised texts."""

    name = "ocr_cleanup"
    description = "Clip text regions to the image, fix point order; optionally set recognised text"
    Options: ClassVar[type[BaseModel]] = FixerOptions
    kinds: ClassVar[tuple[str, ...]] = GEOMETRY_FIX_KINDS + TEXT_FIX_KINDS

    def applies_to(self, issue: Issue) -> bool:
        if not super().applies_to(issue) or not issue.suggested_fix:
            return False
        if issue.kind in TEXT_FIX_KINDS:
            return bool(self.options.text)  # type: ignore[attr-defined]
        return issue.suggested_fix.get("action") == "set_points"

    def _find(self, ann: Annotation, issue: Issue, match: Any) -> Shape:
        idx = issue.shape_index
        if idx is not None and 0 <= idx < len(ann.shapes) and match(ann.shapes[idx]):
            return ann.shapes[idx]
        for shape in ann.shapes:  # the shapes moved since the check: find it by content
            if match(shape):
                return shape
        raise ValueError(f"shape #{idx} changed since the check; run the check again")

    def fix(self, dataset: Dataset, item: Item, annotation: Annotation, issue: Issue) -> bool:
        """Set the repaired points (or text); keep the previous value in ``issue.undo``."""
        sf = issue.suggested_fix or {}
        if sf.get("action") == "set_points":
            shape = self._find(annotation, issue, lambda s: _same_points(s.points, sf["expect"]))
            before = [[float(x), float(y)] for x, y in shape.points]
            shape.points = [(float(x), float(y)) for x, y in sf["points"]]
            issue.undo = {"points": before, "after": sf["points"]}
            return True
        if sf.get("action") == "set_text":
            shape = self._find(annotation, issue, lambda s: s.text == sf.get("expect"))
            from labeler.model import ShapeMeta

            if shape.meta is None:
                shape.meta = ShapeMeta()
            issue.undo = {"text": shape.meta.text, "after": sf["text"], "points": shape.points}
            shape.meta.text = sf["text"]
            return True
        return False

    def undo(self, dataset: Dataset, item: Item, annotation: Annotation, issue: Issue) -> bool:
        """Put back the points or text the fix replaced."""
        rec = issue.undo or {}
        if "text" in rec:
            shape = self._find(
                annotation,
                issue,
                lambda s: s.text == rec["after"] and _same_points(s.points, rec["points"]),
            )
            assert shape.meta is not None
            shape.meta.text = rec["text"]
            return True
        if "points" in rec:
            shape = self._find(annotation, issue, lambda s: _same_points(s.points, rec["after"]))
            shape.points = [(float(x), float(y)) for x, y in rec["points"]]
            return True
        return False


@hookimpl
def register_checks(register: Any) -> None:
    """The ocr_cleanup check."""
    register(OcrCleanupCheck)


@hookimpl
def register_fixers(register: Any) -> None:
    """The ocr_cleanup fixer."""
    register(OcrCleanupFixer)
