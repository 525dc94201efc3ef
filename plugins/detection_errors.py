"""``detection_errors``: wrong detection labels, found against a model that never saw them.

The boxes and polygons people drew (or accepted) are compared with predictions from a model
that did not train on that image: the out-of-fold predictions of
``labeler train DIR --plugin yolo --folds K`` (read from ``DIR/.labeler/oof/``, newest first),
a predictions file (``-o predictions FILE``, format in ``docs/checks.md``), or a YOLO model run
on each image (``-o model best.pt``, trained on other images). Four kinds of issue, each with a
score in [0, 1] per box and an ``image_score`` per image, and a suggested fix:

- ``missing_box``: a confident prediction that no label covers. Score: its confidence,
  lowered when it overlaps a label a little. Fix ``add_suggestion``: the predicted box becomes a
  suggestion to accept or reject.
- ``spurious_box``: a label no prediction supports. Score: 1 - the best support, where a
  prediction's support is its confidence times how well it overlaps (0 at ``min_iou``, full at
  ``match_iou``). Fix ``exclude_shape``: the shape is marked rejected (kept, out of exports).
- ``swapped_class``: a prediction of another class sits on the box (IoU >= ``match_iou``) and
  none of the given class does. Score: the other class's confidence times (1 - the given
  class's). Fix ``relabel``.
- ``badly_located``: the label's matched prediction (one-to-one, Hungarian on IoU x confidence)
  overlaps it only partly. Score: confidence x (1 - IoU). Fix ``replace_box`` with the
  predicted box.

"Confidence" is calibrated on the dataset first (``calibrate``, default on): an isotonic map
from a prediction's raw confidence to the share of predictions at that confidence that a label
of its class confirms (IoU >= ``match_iou``), so thresholds mean the same for a model that is
never above 0.4 as for one that says 0.99. The thresholds were tuned on one benchmark draw
and measured on another (``bench/README_detection_errors.md``).

Each finding stores the predicted box in ``suggested_fix["box"]`` (with its label and score),
so a viewer can draw both boxes. A label gets at most one of the three label kinds: the one
with the highest score among those at or above their threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from labeler import hookimpl
from labeler.dataset import Dataset, Item
from labeler.fixes import fix_action
from labeler.model import Annotation, Issue, Source
from labeler.plugin_api import Check, Finding, Progress, SuggestedFixer

__version__ = "0.1.0"

#: The issue kinds, in the order the docs list them.
KINDS = ("missing_box", "spurious_box", "swapped_class", "badly_located")
#: Shape types compared as boxes (their bounding box); points and lines are not objects.
BOX_TYPES = frozenset({"rectangle", "polygon", "mask", "circle", "oriented_rectangle", "rotation", "quadrilateral"})


class DetectionErrorsOptions(BaseModel):
    """Options of ``detection_errors`` (``-o predictions preds.json``)."""

    model_config = ConfigDict(extra="forbid")

    predictions: str | None = Field(
        None, description="Predictions file (JSON, see docs/checks.md). Default: the newest "
        "out-of-fold file of 'labeler train DIR --folds K' under DIR/.labeler/oof/.",
    )
    model: str | None = Field(
        None, description="Or a YOLO model (weights path) to run on each image: it must not "
        "have trained on these images.",
    )
    imgsz: int | None = Field(None, ge=32, description="Inference size for -o model.")
    device: str | None = Field(None, description="Device for -o model (cpu, 0, mps).")
    min_conf: float = Field(0.01, ge=0.0, le=1.0, description="Predictions below this confidence are ignored.")
    calibrate: bool = Field(
        True, description="Score with the confidence calibrated on this dataset (the share of "
        "predictions at that confidence that a label confirms), not the raw one.",
    )
    match_iou: float = Field(0.5, gt=0.0, le=1.0, description="IoU at which a prediction covers or supports a label.")
    min_iou: float = Field(0.1, ge=0.0, lt=1.0, description="Least IoU for a prediction to count near a label at all.")
    missing_threshold: float = Field(0.3, ge=0.0, le=1.0, description="missing_box score to flag.")
    spurious_threshold: float = Field(0.95, ge=0.0, le=1.0, description="spurious_box score to flag.")
    swapped_threshold: float = Field(0.4, ge=0.0, le=1.0, description="swapped_class score to flag.")
    badly_located_threshold: float = Field(0.2, ge=0.0, le=1.0, description="badly_located score to flag.")


# -- scoring (pure numpy; the benchmark calls it too) -----------------------------------------
@dataclass
class BoxScores:
    """Per-box scores of one image: ``missing`` per prediction (NaN: not a candidate), the
    label kinds per label, and the prediction each label is compared with."""

    missing: np.ndarray  # (M,)
    spurious: np.ndarray  # (L,)
    swapped: np.ndarray  # (L,)
    swap_to: np.ndarray  # (L,) prediction index of the best other-class box, -1 when none
    badly_located: np.ndarray  # (L,)
    match: np.ndarray  # (L,) matched prediction index, -1 when none
    match_iou: np.ndarray  # (L,) IoU with the matched prediction


def _ramp(iou: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((iou - lo) / max(hi - lo, 1e-9), 0.0, 1.0)


def _assign(weight: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one pairs maximising the total weight (Hungarian; greedy without scipy)."""
    if weight.size == 0 or not (weight > 0).any():
        return []
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:  # greedy: heaviest pair first
        pairs, used_r, used_c = [], set(), set()
        for flat in np.argsort(-weight, axis=None):
            r, c = np.unravel_index(flat, weight.shape)
            if weight[r, c] <= 0:
                break
            if r not in used_r and c not in used_c:
                pairs.append((int(r), int(c)))
                used_r.add(r)
                used_c.add(c)
        return pairs
    rows, cols = linear_sum_assignment(-weight)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if weight[r, c] > 0]


def score_boxes(
    lab_boxes: np.ndarray, lab_classes: Sequence[str], pred_boxes: np.ndarray,
    pred_classes: Sequence[str], pred_scores: np.ndarray, match_iou: float = 0.5,
    min_iou: float = 0.1, ignore_boxes: np.ndarray | None = None,
) -> BoxScores:
    """Score one image's labels against its predictions (boxes as (N, 4) x1, y1, x2, y2).

    ``ignore_boxes``: places where a prediction is not "missing" (boxes a person rejected,
    suggestions waiting for review).
    """
    from labeler.geometry import box_iou_matrix

    lab_boxes = np.asarray(lab_boxes, dtype=np.float64).reshape(-1, 4)
    pred_boxes = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    conf = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    lab_c = np.asarray([str(c) for c in lab_classes], dtype=object)
    pred_c = np.asarray([str(c) for c in pred_classes], dtype=object)
    n_l, n_p = len(lab_boxes), len(pred_boxes)
    iou = box_iou_matrix(lab_boxes, pred_boxes)
    same = lab_c[:, None] == pred_c[None, :] if n_l and n_p else np.zeros((n_l, n_p), dtype=bool)
    # Matching: class-agnostic, one-to-one; a same-class pair is preferred over an other-class one.
    weight = np.where(iou >= min_iou, iou * conf[None, :] * np.where(same, 1.0, 0.5), 0.0)
    match = np.full(n_l, -1, dtype=np.int64)
    for r, c in _assign(weight):
        match[r] = c
    m_iou = np.array([iou[i, match[i]] if match[i] >= 0 else 0.0 for i in range(n_l)])
    m_conf = np.array([conf[match[i]] if match[i] >= 0 else 0.0 for i in range(n_l)])
    covering = iou >= match_iou
    s_same = np.where(covering & same, conf[None, :], 0.0).max(axis=1) if n_p else np.zeros(n_l)
    other = np.where(covering & ~same, conf[None, :], 0.0)
    s_other = other.max(axis=1) if n_p else np.zeros(n_l)
    swap_to = np.where(s_other > 0, other.argmax(axis=1) if n_p else -1, -1)
    swapped = s_other * (1.0 - s_same)
    support = (conf[None, :] * _ramp(iou, min_iou, match_iou)).max(axis=1) if n_p else np.zeros(n_l)
    spurious = 1.0 - support
    badly = np.where(match >= 0, m_conf * (1.0 - m_iou), 0.0)
    # Missing: unmatched predictions, discounted by their overlap with any label; class-agnostic
    # suppression keeps one candidate per place (the two classes of one unlabeled object).
    missing = np.full(n_p, np.nan)
    matched = set(int(m) for m in match if m >= 0)
    max_lab = iou.max(axis=0) if n_l else np.zeros(n_p)
    ignored = np.zeros(n_p, dtype=bool)
    if ignore_boxes is not None and len(ignore_boxes):
        ignored = (box_iou_matrix(np.asarray(ignore_boxes).reshape(-1, 4), pred_boxes) >= match_iou).any(axis=0)
    pp = box_iou_matrix(pred_boxes, pred_boxes)
    kept: list[int] = []
    for p in np.argsort(-conf, kind="stable"):
        if p in matched or ignored[p] or max_lab[p] >= match_iou:
            continue
        if any(pp[p, q] >= match_iou for q in kept):
            continue
        kept.append(int(p))
        missing[p] = conf[p] * (1.0 - _ramp(np.array(max_lab[p]), min_iou, match_iou))
    return BoxScores(missing, spurious, swapped, swap_to.astype(np.int64), badly, match, m_iou)


def isotonic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing least-squares fit of ``y`` on ``x`` (pool adjacent violators):
    the knots ``(xs, ys)`` to :func:`numpy.interp` between."""
    order = np.argsort(x, kind="stable")
    xs, ys = np.asarray(x, float)[order], np.asarray(y, float)[order]
    # blocks: [sum of y, count, first x, last x]
    blocks: list[list[float]] = []
    for xv, yv in zip(xs, ys, strict=True):
        blocks.append([yv, 1.0, xv, xv])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            top = blocks.pop()
            blocks[-1][0] += top[0]
            blocks[-1][1] += top[1]
            blocks[-1][3] = top[3]
    knots_x, knots_y = [], []
    for total, count, lo, hi in blocks:
        knots_x.extend((lo, hi))
        knots_y.extend((total / count, total / count))
    return np.asarray(knots_x), np.asarray(knots_y)


@dataclass
class Calibration:
    """Raw confidence -> the share of predictions at that confidence that a label confirms."""

    knots_x: np.ndarray
    knots_y: np.ndarray
    predictions: int

    def __call__(self, conf: np.ndarray) -> np.ndarray:
        if len(self.knots_x) == 0:
            return np.asarray(conf, dtype=np.float64)
        return np.interp(np.asarray(conf, dtype=np.float64), self.knots_x, self.knots_y)


def fit_calibration(
    images: Sequence[tuple[np.ndarray, Sequence[str], np.ndarray, Sequence[str], np.ndarray]],
    match_iou: float = 0.5, min_predictions: int = 50,
) -> Calibration:
    """Fit :class:`Calibration` on ``(label boxes, label classes, prediction boxes, prediction
    classes, confidences)`` per image: a prediction counts as confirmed when a label of its
    class overlaps it at IoU >= ``match_iou``. The labels have errors, but few: the share is
    what a confidence means on this dataset. With fewer than ``min_predictions`` predictions,
    or none confirmed, the identity (raw confidences)."""
    from labeler.geometry import box_iou_matrix

    conf_all, hit_all = [], []
    for lab_boxes, lab_classes, pred_boxes, pred_classes, conf in images:
        if len(pred_boxes) == 0:
            continue
        hit = np.zeros(len(pred_boxes), dtype=bool)
        if len(lab_boxes):
            iou = box_iou_matrix(pred_boxes, lab_boxes)
            same = np.asarray([str(c) for c in pred_classes])[:, None] == np.asarray([str(c) for c in lab_classes])[None, :]
            hit = ((iou >= match_iou) & same).any(axis=1)
        conf_all.append(np.asarray(conf, dtype=np.float64))
        hit_all.append(hit)
    if not conf_all:
        return Calibration(np.zeros(0), np.zeros(0), 0)
    c, h = np.concatenate(conf_all), np.concatenate(hit_all)
    if len(c) < min_predictions or not h.any():
        return Calibration(np.zeros(0), np.zeros(0), len(c))
    kx, ky = isotonic_fit(c, h.astype(np.float64))
    # beyond the data: the raw confidence 0 means nothing, 1 is the last fitted level
    return Calibration(np.concatenate([[0.0], kx, [1.0]]), np.concatenate([[0.0], ky, [ky[-1]]]), len(c))


#: One image to score: label boxes, label classes, prediction boxes, prediction classes,
#: confidences, and the boxes where a prediction is not "missing" (see :func:`score_boxes`).
ImageInput = tuple[np.ndarray, Sequence[str], np.ndarray, Sequence[str], np.ndarray, np.ndarray]


def score_images(images: Sequence[ImageInput], options: DetectionErrorsOptions) -> tuple[list[BoxScores], Calibration]:
    """:func:`score_boxes` for every image, on confidences calibrated over all of them (when
    ``options.calibrate``): what the check does, and what the benchmark measures."""
    calib = Calibration(np.zeros(0), np.zeros(0), 0)
    if options.calibrate:
        calib = fit_calibration([im[:5] for im in images], options.match_iou)
    scores = [score_boxes(lb, lc, pb, pc, calib(conf), options.match_iou, options.min_iou, ign)
              for lb, lc, pb, pc, conf, ign in images]
    return scores, calib


def image_score(scores: Sequence[float]) -> float:
    """How likely the image has at least one error: ``1 - prod(1 - s)`` over its findings."""
    return float(1.0 - math.prod(1.0 - min(max(s, 0.0), 1.0) for s in scores))


# -- the check -------------------------------------------------------------------------------
def _box(values: Sequence[float]) -> list[float]:
    return [round(float(v), 2) for v in values]


def label_boxes(ann: Annotation) -> tuple[list[int], np.ndarray, list[str], np.ndarray]:
    """The shapes judged (trusted boxes and outlines), their boxes and classes, and the boxes
    where a missing prediction is not news (rejected or waiting suggestions)."""
    index, boxes, classes, ignore = [], [], [], []
    for i, shape in enumerate(ann.shapes):
        if shape.shape_type not in BOX_TYPES or not shape.points or shape.review == "rejected":
            continue
        try:
            box = shape.bbox()
        except ValueError:
            continue
        if shape.is_trusted:
            index.append(i)
            boxes.append(box)
            classes.append(shape.label)
        else:
            ignore.append(box)
    for rej in ann.meta.rejected:
        if len(rej.points) >= 2:
            xs, ys = [p[0] for p in rej.points], [p[1] for p in rej.points]
            ignore.append((min(xs), min(ys), max(xs), max(ys)))
    return (index, np.asarray(boxes, dtype=np.float64).reshape(-1, 4), classes,
            np.asarray(ignore, dtype=np.float64).reshape(-1, 4))


class DetectionErrors(Check):
    """Missing, spurious, class-swapped and badly located boxes, from out-of-sample predictions."""

    name = "detection_errors"
    description = ("Missing, spurious, class-swapped and badly located boxes against out-of-fold "
                   "predictions (labeler train --folds K), a predictions file or a model.")
    Options = DetectionErrorsOptions
    scope: ClassVar[str] = "dataset"
    needs_image = False
    options: DetectionErrorsOptions

    def __init__(self, options: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.notes: list[str] = []
        self._source: Source | None = None

    def source(self) -> Source:
        return self._source or Source(plugin=self.name, model_version=__version__)

    def run(self, dataset: Dataset, items: Sequence[tuple[Item, Annotation]],
            progress: Progress) -> Iterator[Finding]:
        preds = self._predictions(dataset, items)
        o = self.options
        judged = []
        unpredicted = 0
        for item, ann in items:
            p = preds.get(item.rel)
            if p is None:
                unpredicted += 1
                continue
            p = p[np.flatnonzero(p.confidence >= o.min_conf)] if len(p) else p
            judged.append((item, ann, p, label_boxes(ann)))
        all_scores, calib = score_images(
            [(lb[1], lb[2], p.xyxy, list(p.class_name), p.confidence, lb[3]) for _, _, p, lb in judged], o)
        if o.calibrate and len(calib.knots_x):
            probe = calib(np.array([0.1, 0.25, 0.5, 0.75]))
            self.notes.append("confidence calibrated on {} predictions: 0.1 -> {:.2f}, 0.25 -> {:.2f}, "
                              "0.5 -> {:.2f}, 0.75 -> {:.2f}".format(calib.predictions, *probe))
        elif o.calibrate:
            self.notes.append(f"{calib.predictions} predictions, too few or none confirmed by a label, "
                              "to calibrate: raw confidences")
        for done, ((item, ann, p, (index, boxes, classes, _ignore)), s) in enumerate(zip(judged, all_scores, strict=True), 1):
            progress(done, len(judged))
            issues = list(self._issues(ann, index, boxes, classes, p, s))
            img = round(image_score([i.score or 0.0 for i in issues]), 4)
            for issue in issues:
                issue.image_score = img  # type: ignore[attr-defined]  # an extra key, kept in the file
                yield Finding(item.rel, issue)
        if unpredicted:
            self.notes.append(f"{unpredicted} image(s) have no predictions and were not judged")
        import click

        for note in self.notes:
            click.echo(f"detection_errors: {note}", err=True)

    def _issues(self, ann: Annotation, index: list[int], boxes: np.ndarray, classes: list[str],
                p: Any, s: BoxScores) -> Iterator[Issue]:
        o = self.options
        src = self.source()  # known only now (the model or file is read in run): stamped here
        fix_source = src.model_dump(exclude_none=True)
        for j in np.argsort(-np.nan_to_num(s.missing, nan=-1.0)):
            score = s.missing[j]
            if math.isnan(score) or score < o.missing_threshold:
                continue
            label = str(p.class_name[j])
            yield Issue(
                kind="missing_box", source=src, score=round(float(score), 4),
                detail=f"a {label!r} box the model predicts (confidence {float(p.confidence[j]):.2f}) "
                       f"has no label at {_box(p.xyxy[j])}",
                suggested_fix={"action": "add_suggestion", "label": label, "box": _box(p.xyxy[j]),
                               "score": round(float(p.confidence[j]), 4), "source": fix_source},
            )
        for k, i in enumerate(index):
            shape = ann.shapes[i]
            what = f"shape {i} ({classes[k]!r})"
            cands = {
                "swapped_class": (s.swapped[k], o.swapped_threshold),
                "badly_located": (s.badly_located[k], o.badly_located_threshold),
                "spurious_box": (s.spurious[k], o.spurious_threshold),
            }
            passing = {kind: sc for kind, (sc, th) in cands.items() if sc >= th}
            if not passing:
                continue
            kind = max(passing, key=lambda kd: passing[kd])
            score = round(float(passing[kind]), 4)
            fp = shape.fingerprint()
            if kind == "swapped_class":
                q = int(s.swap_to[k])
                new = str(p.class_name[q])
                yield Issue(
                    kind=kind, source=src, score=score, shape_index=i,
                    detail=f"{what}: the model sees {new!r} here (confidence {float(p.confidence[q]):.2f}), "
                           f"not {classes[k]!r}",
                    suggested_fix={"action": "relabel", "label": new, "from": classes[k],
                                   "box": _box(p.xyxy[q]), "score": round(float(p.confidence[q]), 4),
                                   "shape_index": i},
                )
            elif kind == "badly_located":
                q = int(s.match[k])
                yield Issue(
                    kind=kind, source=src, score=score, shape_index=i,
                    detail=f"{what} overlaps the predicted {str(p.class_name[q])!r} box only at IoU "
                           f"{s.match_iou[k]:.2f} (confidence {float(p.confidence[q]):.2f})",
                    suggested_fix={"action": "replace_box", "box": _box(p.xyxy[q]), "from": classes[k],
                                   "fingerprint": fp, "label": str(p.class_name[q]),
                                   "score": round(float(p.confidence[q]), 4),
                                   "iou": round(float(s.match_iou[k]), 4), "shape_index": i},
                )
            else:
                q = int(s.match[k])
                near = (f"; the nearest prediction has confidence {float(p.confidence[q]):.2f} at IoU "
                        f"{s.match_iou[k]:.2f}" if q >= 0 else "")
                fix: dict[str, Any] = {"action": "exclude_shape", "from": classes[k], "fingerprint": fp,
                                       "shape_index": i}
                if q >= 0:
                    fix.update(box=_box(p.xyxy[q]), label=str(p.class_name[q]),
                               score=round(float(p.confidence[q]), 4))
                yield Issue(kind=kind, source=src, score=score, shape_index=i,
                            detail=f"{what}: no prediction supports it{near}", suggested_fix=fix)

    # -- where the predictions come from ---------------------------------------------------
    def _predictions(self, dataset: Dataset, items: Sequence[tuple[Item, Annotation]]) -> dict[str, Any]:
        from labeler.errors import UsageError
        from labeler.predictions import load_predictions_file

        o = self.options
        if o.predictions and o.model:
            raise UsageError("detection_errors: give -o predictions FILE or -o model FILE, not both")
        if o.model:
            return self._run_model(items)
        path: Path | None
        if o.predictions:
            path = Path(o.predictions).expanduser()
            if not path.is_file():
                raise UsageError(f"detection_errors: -o predictions {path}: no such file")
        else:
            from labeler.oof import latest_oof_file

            path = latest_oof_file(dataset.root)
            if path is None:
                raise UsageError(
                    f"detection_errors: {dataset.root} has no out-of-fold predictions: run "
                    f"'labeler train {dataset.root} --plugin yolo --folds 5' first, or give "
                    "-o predictions FILE or -o model WEIGHTS"
                )
        loaded = load_predictions_file(path)
        by_rel = {it.rel: it for it, _ in items}
        for rel, problem in loaded.problems.items():
            if rel in by_rel:  # that image is listed as failed; its earlier findings stay
                self.skip_image(by_rel[rel], problem)
            else:
                self.notes.append(problem)
        strangers = [rel for rel in loaded.images if rel not in by_rel]
        if strangers:
            self.notes.append(f"{len(strangers)} image(s) of {path} are not in the dataset "
                              f"(e.g. {strangers[0]!r}): keys are paths relative to the dataset root")
        meta = loaded.meta.get("source") or {}
        self._source = Source(plugin=self.name, model=str(meta.get("model") or path.name),
                              model_version=str(meta.get("model_version") or __version__))
        self.notes.append(f"predictions: {path} ({len(loaded.images)} images)")
        return loaded.images

    def _run_model(self, items: Sequence[tuple[Item, Annotation]]) -> dict[str, Any]:
        from labeler.errors import ImageFileError
        from labeler.io.images import open_image
        from labeler.plugin_api import Sample
        from labeler.plugins import get_registry

        o = self.options
        cls = get_registry().get("autolabelers", "yolo")
        opts = {"model": o.model, "conf": o.min_conf, "imgsz": o.imgsz, "device": o.device}
        model = cls({k: v for k, v in opts.items() if v is not None})
        model.setup()
        src = model.source()
        self._source = Source(plugin=self.name, model=src.model, model_version=src.model_version)
        out: dict[str, Any] = {}
        for item, ann in items:
            try:
                sample = Sample(item=item, annotation=ann, image=open_image(item.image_path))
            except ImageFileError as err:
                self.skip_image(item, str(err).removeprefix(f"{item.image_path}: "))
                continue
            out[item.rel] = model.predict([sample])[0]
        return out


class DetectionErrorsFixer(SuggestedFixer):
    """Applies the fixes of ``detection_errors`` issues, reversibly (see :mod:`labeler.fixes`)."""

    name = "detection_errors"
    description = ("Fix detection_errors findings: add the missing box as a suggestion, exclude the "
                   "spurious one, relabel the swapped one, replace the badly located box.")
    kinds: ClassVar[tuple[str, ...]] = KINDS

    def applies_to(self, issue: Issue) -> bool:
        """Open issues of the four kinds that carry a fix."""
        return issue.state == "open" and issue.kind in self.kinds and fix_action(issue) is not None


@hookimpl
def register_checks(register: Any) -> None:
    """Provide the ``detection_errors`` check."""
    register(DetectionErrors)


@hookimpl
def register_fixers(register: Any) -> None:
    """Provide the ``detection_errors`` fixer."""
    register(DetectionErrorsFixer)
