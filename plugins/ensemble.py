"""``ensemble``: several configured autolabelers' boxes fused per image (WBF, NMS, soft-NMS).

The members are any installed autolabelers, named on the command line and configured with
``-o NAME.KEY VALUE`` exactly like the stages of ``yolo_sam``::

    labeler autolabel DIR --plugin ensemble -o members big=yolo,small=yolo \\
        -o big.model runs/a/best.pt -o small.model runs/b/best.pt -o small.imgsz 320 \\
        -o method wbf -o weights 2,1 -o min_votes 2

Each member predicts on the same images; its boxes (polygons and masks are reduced to their
boxes) are fused per class by

- ``wbf``: weighted boxes fusion (Solovyev et al. 2021), the algorithm of the reference
  package ``ensemble_boxes`` (``weighted_boxes_fusion``): boxes sorted by weighted score join
  the first cluster whose fused box overlaps them by more than ``iou_threshold``; a cluster's
  box is the score-weighted mean of its boxes; its score the mean weighted score, times
  ``min(members, boxes) / sum(weights)`` (``conf_type avg``);
- ``nms``: the highest-scoring box wins and removes the boxes that overlap it by more than
  ``iou_threshold``;
- ``soft_nms``: overlapping boxes are not removed but their scores decay, by
  ``exp(-iou^2 / sigma)`` (``soft_nms_method gaussian``) or ``1 - iou`` above the threshold
  (``linear``); boxes whose score falls below ``soft_nms_threshold`` are dropped.

For NMS and soft-NMS a member's scores are multiplied by ``weight / max(weights)``.
Every fused box records which members agreed: the shape's ``labeler`` metadata gets
``members`` (their names), ``votes`` (how many) and ``member_scores`` (each member's best score
in the cluster); a box needs ``min_votes`` agreeing members to be kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labeler import hookimpl
from labeler.errors import UsageError
from labeler.model import Source
from labeler.plugin_api import Autolabeler, Sample
from labeler.predictions import Predictions, validate_predictions

__version__ = "0.1.0"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EnsembleOptions(BaseModel):
    """Options of ``ensemble``; each member's own options are given as ``-o NAME.KEY VALUE``."""

    model_config = ConfigDict(extra="allow")

    members: list[str] = Field(
        default_factory=list,
        description="The members, comma-separated: NAME=PLUGIN (big=yolo,small=yolo) or PLUGIN; "
        "configure each with -o NAME.KEY VALUE.",
    )
    method: Literal["wbf", "nms", "soft_nms"] = Field("wbf", description="How boxes are fused.")
    weights: list[float] | None = Field(None, description="One weight per member (default: all 1).")
    iou_threshold: float = Field(0.55, ge=0, le=1, description="Boxes overlapping more than this agree.")
    skip_box_threshold: float = Field(0.0, ge=0, le=1, description="Member boxes scored below this are ignored.")
    min_votes: int = Field(1, ge=1, description="Keep a fused box only when this many members agree on it.")
    conf_type: Literal["avg", "max", "box_and_model_avg", "absent_model_aware_avg"] = Field(
        "avg", description="wbf: how the fused score is formed (as ensemble_boxes).")
    sigma: float = Field(0.5, gt=0, description="soft_nms (gaussian): decay exp(-iou^2 / sigma).")
    soft_nms_method: Literal["gaussian", "linear"] = Field("gaussian", description="soft_nms: score decay.")
    soft_nms_threshold: float = Field(0.001, ge=0, le=1, description="soft_nms: drop boxes scored below this.")

    @field_validator("members", mode="before")
    @classmethod
    def _members(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("weights", mode="before")
    @classmethod
    def _weights(cls, value: Any) -> Any:
        if isinstance(value, (int, float)):
            return [value]
        if isinstance(value, str):
            return [float(v) for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _check(self) -> EnsembleOptions:
        names = [member_spec(m)[0] for m in self.members]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"two members are named {dup[0]!r}: name them, e.g. a=yolo,b=yolo")
        if self.weights is not None and len(self.weights) != len(self.members):
            raise ValueError(f"{len(self.weights)} weights for {len(self.members)} members")
        if self.weights is not None and (min(self.weights) < 0 or max(self.weights) <= 0):
            raise ValueError("weights must be >= 0 with at least one > 0")
        for key, value in (self.model_extra or {}).items():
            if key not in names:
                raise ValueError(f"option {key!r} is not an option of ensemble nor a member "
                                 f"(members: {', '.join(names) or 'none'})")
            if not isinstance(value, dict):
                raise ValueError(f"{key}: give member options as -o {key}.KEY VALUE")
        return self


def member_spec(spec: str) -> tuple[str, str]:
    """``"big=yolo"`` -> ("big", "yolo"); ``"yolo"`` -> ("yolo", "yolo")."""
    name, _, plugin = spec.partition("=")
    name, plugin = name.strip(), (plugin or name).strip()
    if not _NAME.match(name) or not plugin:
        raise ValueError(f"member {spec!r}: write NAME=PLUGIN with a NAME of letters, digits and _")
    return name, plugin


# -- fusion ------------------------------------------------------------------------------------
@dataclass
class MemberBoxes:
    """One member's boxes on one image: (N, 4) pixel boxes, class names, scores."""

    name: str
    xyxy: np.ndarray
    class_name: np.ndarray
    confidence: np.ndarray


def _iou_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.maximum(0.0, np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]))
    iy = np.maximum(0.0, np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]))
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = inter / (area + areas - inter)
    return np.nan_to_num(out)


def _rows(members: Sequence[MemberBoxes], weights: np.ndarray, skip: float, scale: Callable[[float, int], float]
          ) -> dict[str, list[tuple[float, float, int, np.ndarray]]]:
    """Per class: (weighted score, weight, member index, box) of the boxes that take part."""
    by_class: dict[str, list[tuple[float, float, int, np.ndarray]]] = {}
    for m, mb in enumerate(members):
        for box, name, score in zip(mb.xyxy.astype(np.float64), mb.class_name, mb.confidence, strict=True):
            if score < skip or (box[2] - box[0]) * (box[3] - box[1]) <= 0:
                continue
            by_class.setdefault(str(name), []).append((scale(float(score), m), float(weights[m]), m, box))
    for rows in by_class.values():
        rows.sort(key=lambda r: -r[0])
    return by_class


def _provenance(members: Sequence[MemberBoxes], cluster: list[tuple[float, int]]) -> dict[str, Any]:
    """``{"members": [...], "votes": k, "member_scores": {name: best raw score}}``."""
    best: dict[int, float] = {}
    for score, m in cluster:
        best[m] = max(best.get(m, 0.0), score)
    order = sorted(best)
    return {"members": [members[m].name for m in order], "votes": len(order),
            "member_scores": {members[m].name: round(best[m], 4) for m in order}}


def _result(rows: list[tuple[np.ndarray, str, float, dict[str, Any]]], min_votes: int) -> Predictions:
    rows = [r for r in rows if r[3]["votes"] >= min_votes]
    rows.sort(key=lambda r: -r[2])
    if not rows:
        return Predictions.empty()
    return Predictions(
        xyxy=np.array([r[0] for r in rows]), class_name=np.array([r[1] for r in rows], dtype=object),
        confidence=np.clip([r[2] for r in rows], 0.0, 1.0), meta=[r[3] for r in rows],
    )


def weighted_boxes_fusion(
    members: Sequence[MemberBoxes], weights: Sequence[float] | None = None, iou_threshold: float = 0.55,
    skip_box_threshold: float = 0.0, conf_type: str = "avg", min_votes: int = 1,
) -> Predictions:
    """Weighted boxes fusion, as ``ensemble_boxes.weighted_boxes_fusion`` (pixel boxes)."""
    w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
    out: list[tuple[np.ndarray, str, float, dict[str, Any]]] = []
    for name, rows in _rows(members, w, skip_box_threshold, lambda s, m: s * w[m]).items():
        clusters: list[list[tuple[float, float, int, np.ndarray]]] = []
        fused = np.zeros((0, 4))
        for row in rows:
            idx = -1
            if len(fused):
                ious = _iou_many(row[3], fused)
                best = int(np.argmax(ious))
                if ious[best] > iou_threshold:
                    idx = best
            if idx < 0:
                clusters.append([row])
                fused = np.vstack([fused, row[3]])
            else:
                clusters[idx].append(row)
                conf = np.array([r[0] for r in clusters[idx]])
                fused[idx] = (conf[:, None] * np.array([r[3] for r in clusters[idx]])).sum(0) / conf.sum()
        for box, cluster in zip(fused, clusters, strict=True):
            conf = np.array([r[0] for r in cluster])
            n = len(cluster)
            score = float(conf.max()) if conf_type == "max" else float(conf.mean())
            models = sorted({r[2] for r in cluster})
            if conf_type == "box_and_model_avg":
                score = score * n / sum(r[1] for r in cluster) * float(w[models].sum()) / float(w.sum())
            elif conf_type == "absent_model_aware_avg":
                absent = float(w.sum() - w[models].sum())
                score = score * n / (sum(r[1] for r in cluster) + absent)
            elif conf_type == "max":
                score = score / float(w.max())
            else:
                score = score * min(len(w), n) / float(w.sum())
            raw_scores = [(r[0] / w[r[2]] if w[r[2]] else 0.0, r[2]) for r in cluster]
            out.append((box, name, score, _provenance(members, raw_scores)))
    return _result(out, min_votes)


def nms(
    members: Sequence[MemberBoxes], weights: Sequence[float] | None = None, iou_threshold: float = 0.5,
    skip_box_threshold: float = 0.0, min_votes: int = 1, soft: str | None = None, sigma: float = 0.5,
    score_threshold: float = 0.001,
) -> Predictions:
    """NMS over all members' boxes per class, or soft-NMS (``soft`` "gaussian" or "linear").

    Scores are multiplied by ``weight / max(weights)``. A kept box's provenance lists its own
    member and those of the boxes it suppressed (or, for soft-NMS, decayed) with an IoU above
    ``iou_threshold``.
    """
    w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
    top = float(w.max())
    out: list[tuple[np.ndarray, str, float, dict[str, Any]]] = []
    for name, rows in _rows(members, w, skip_box_threshold, lambda s, m: s * w[m] / top).items():
        boxes = np.array([r[3] for r in rows])
        scores = np.array([r[0] for r in rows])
        member = np.array([r[2] for r in rows])
        raw = [r[0] * top / w[r[2]] if w[r[2]] else 0.0 for r in rows]
        alive = np.ones(len(rows), dtype=bool)
        while alive.any():
            i = int(np.flatnonzero(alive)[np.argmax(scores[alive])])
            alive[i] = False
            if soft is not None and scores[i] <= score_threshold:
                break  # the best remaining box is below the floor: so are all the others
            rest = np.flatnonzero(alive)
            ious = _iou_many(boxes[i], boxes[rest]) if len(rest) else np.zeros(0)
            agree = rest[ious > iou_threshold]
            cluster = [(raw[i], int(member[i]))] + [(raw[j], int(member[j])) for j in agree]
            out.append((boxes[i], name, float(scores[i]), _provenance(members, cluster)))
            if soft is None:
                alive[agree] = False
            elif soft == "gaussian":
                scores[rest] *= np.exp(-(ious * ious) / sigma)
            else:
                scores[rest] *= np.where(ious > iou_threshold, 1 - ious, 1.0)
    return _result(out, min_votes)


# -- the autolabeler ---------------------------------------------------------------------------
class EnsembleAutolabeler(Autolabeler):
    """Members' boxes fused per image; provenance says which members agreed on each box."""

    name: ClassVar[str] = "ensemble"
    description: ClassVar[str] = "Fuse several autolabelers' boxes (WBF, NMS or soft-NMS), with provenance"
    Options: ClassVar[type[BaseModel]] = EnsembleOptions
    shape_output: ClassVar[str] = "rectangle"

    def __init__(self, options: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(options)
        from labeler.plugins import get_registry

        opts: EnsembleOptions = self.options  # type: ignore[assignment]
        extra = opts.model_extra or {}
        self.members: list[tuple[str, Autolabeler]] = []
        for spec in opts.members:
            name, plugin = member_spec(spec)
            if plugin == self.name:
                raise UsageError("an ensemble cannot be a member of itself")
            cls = get_registry().get("autolabelers", plugin)
            try:
                self.members.append((name, cls(extra.get(name))))
            except ValueError as err:  # pydantic's ValidationError is a ValueError
                raise UsageError(f"ensemble member {name!r} ({plugin}): {err}") from None

    def setup(self) -> None:
        if not self.members:
            raise UsageError("ensemble needs members: -o members a=yolo,b=yolo "
                             "(then -o a.model ... -o b.model ...)")
        for _name, member in self.members:
            member.ensure_requirements()
            member.setup()

    def source(self) -> Source:
        parts = [(name, m.source()) for name, m in self.members]
        return Source(
            plugin=self.name,
            model="+".join(f"{n}:{s.plugin}:{s.model}" for n, s in parts),
            model_version="+".join(str(s.model_version) for _, s in parts) + f"+{__version__}",
        )

    def config_key(self) -> str:
        # Blind to runtime-only options (batch, device), as yolo's own key.
        from labeler_plugins.yolo import results_key

        return results_key(self.options, self.source())

    def effective_batch_size(self) -> int:
        return max((m.effective_batch_size() for _, m in self.members), default=1)

    def known_classes(self) -> Collection[str] | None:
        known: set[str] = set()
        for _name, m in self.members:
            names = m.known_classes()
            if names is None:
                return None
            known |= set(names)
        return known

    def member_predictions(self, batch: Sequence[Sample]) -> list[list[MemberBoxes]]:
        """Per image, each member's (validated) boxes."""
        per_image: list[list[MemberBoxes]] = [[] for _ in batch]
        for name, member in self.members:
            step = member.effective_batch_size()
            preds: list[Predictions] = []
            for start in range(0, len(batch), step):
                chunk = batch[start:start + step]
                got = member.predict(chunk)
                if len(got) != len(chunk):
                    raise ValueError(f"member {name!r} returned {len(got)} predictions for {len(chunk)} images")
                preds.extend(got)
            for k, (sample, p) in enumerate(zip(batch, preds, strict=True)):
                try:
                    p = validate_predictions(p, sample.image.size, member.known_classes())
                except ValueError as err:
                    raise ValueError(f"member {name!r}: {err}") from None
                per_image[k].append(MemberBoxes(name, p.xyxy, p.class_name, p.confidence))
        return per_image

    def fuse(self, members: Sequence[MemberBoxes]) -> Predictions:
        """The fused boxes of one image (with provenance in ``meta``)."""
        o: EnsembleOptions = self.options  # type: ignore[assignment]
        if o.method == "wbf":
            return weighted_boxes_fusion(members, o.weights, o.iou_threshold, o.skip_box_threshold,
                                         o.conf_type, o.min_votes)
        return nms(members, o.weights, o.iou_threshold, o.skip_box_threshold, o.min_votes,
                   soft=o.soft_nms_method if o.method == "soft_nms" else None, sigma=o.sigma,
                   score_threshold=o.soft_nms_threshold)

    def predict(self, batch: Sequence[Sample]) -> list[Predictions]:
        return [self.fuse(m) for m in self.member_predictions(batch)]


@hookimpl
def register_autolabelers(register: Callable[[type[Autolabeler]], None]) -> None:
    """Provide the ``ensemble`` autolabeler."""
    register(EnsembleAutolabeler)
