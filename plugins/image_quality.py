"""``image_quality``: dark, light, blurry, grayscale, odd-size, odd-aspect-ratio and
low-information images, scored as cleanvision scores them; fixed by excluding them.

Every image is decoded once, reduced to at most 256 pixels on its long side
(:func:`labeler.image_properties.decode_small`), and every kind is measured on that one small
array. Each kind has a *quality score* in [0, 1] computed with cleanvision's formula (low means
bad) and is flagged when it falls below its threshold (``-o dark_threshold 0.3``...); the
issue's ``score`` is how far below, 0.5 at the threshold and 1 at quality 0, so the review
queue ranks the worst first. See ``docs/checks.md`` for the table of formulas and thresholds.

``odd_size`` is judged against the dataset (an interquartile-range fence on sqrt(w * h)), so
the check runs over the whole dataset at once (``scope = "dataset"``); unreadable images are
reported and skipped, never stopping the run.

The fixer ``image_quality`` applies the issue's ``{"action": "exclude"}``: the image is kept
out of exports, reversibly (``labeler fix DIR --plugin image_quality --undo``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from labeler import hookimpl
from labeler.dataset import Dataset, Item
from labeler.errors import ImageFileError
from labeler.image_properties import (
    GRAY_MODES,
    WORK_SIDE,
    ImageProperties,
    ImageStatistics,
    decode_small,
    measure,
)
from labeler.model import Annotation, Issue
from labeler.plugin_api import Check, Finding, Progress, SuggestedFixer

__version__ = "0.1.0"

#: The issue kinds, in the order they are reported.
KINDS = ("dark", "light", "blurry", "grayscale", "odd_size", "odd_aspect_ratio", "low_information")


class ImageQualityOptions(BaseModel):
    """Thresholds of ``image_quality`` (defaults: cleanvision 0.3.7's)."""

    model_config = ConfigDict(extra="forbid")

    kinds: list[str] = Field(default_factory=lambda: list(KINDS),
                             description=f"Kinds to check, comma-separated (of {', '.join(KINDS)}).")
    dark_threshold: float = Field(0.32, ge=0, le=1, description="dark: 99th percentile of brightness below this.")
    light_threshold: float = Field(0.05, ge=0, le=1,
                                   description="light: 1 - 5th percentile of brightness below this.")
    blurry_threshold: float = Field(0.29, ge=0, le=1, description="blurry: edge-strength score below this.")
    blurry_normalizing_factor: float = Field(0.01, gt=0, description="blurry: score = 1 - exp(-f * edge std).")
    blurry_color_threshold: float = Field(
        0.18, ge=0, le=1,
        description="blurry: a grey-histogram spread score above this is added (flat-colour drawings are not blurry).")
    grayscale_tolerance: float = Field(
        2.0, ge=0, le=255, description="grayscale: colour channels differ by at most this many levels (of 255).")
    low_information_threshold: float = Field(0.3, ge=0, le=1,
                                             description="low_information: 0.1 x entropy (bits) below this.")
    low_information_normalizing_factor: float = Field(0.1, gt=0, description="low_information: entropy factor.")
    odd_aspect_ratio_threshold: float = Field(0.35, ge=0, le=1,
                                              description="odd_aspect_ratio: min(w/h, h/w) below this.")
    odd_size_iqr_factor: float = Field(3.0, gt=0, description="odd_size: fence at this many IQRs of sqrt(w*h).")
    odd_size_threshold: float = Field(0.5, ge=0, le=1, description="odd_size: size score below this.")
    work_side: int = Field(WORK_SIDE, ge=64, le=4096, description="Long side (px) of the reduced decode.")

    @field_validator("kinds", mode="before")
    @classmethod
    def _kinds(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        unknown = [k for k in value if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind {unknown[0]!r} (kinds: {', '.join(KINDS)})")
        return value


def quality_scores(props: ImageProperties, opts: ImageQualityOptions) -> dict[str, float]:
    """Per-image quality scores in [0, 1] (low is bad), cleanvision's formulas; ``odd_size``
    is dataset-relative and comes from :func:`size_scores`."""
    blur = 1 - math.exp(-props.edge_std * opts.blurry_normalizing_factor)
    spread = 1 - math.exp(-props.hist_std * opts.blurry_normalizing_factor)
    if spread <= opts.blurry_color_threshold:
        spread = 0.0
    return {
        "dark": props.brightness_p99,
        "light": 1 - props.brightness_p5,
        "blurry": min(blur + spread, 1.0),
        "grayscale": 0.0 if props.is_grayscale(opts.grayscale_tolerance) else 1.0,
        "odd_aspect_ratio": props.aspect_ratio,
        "low_information": min(props.entropy * opts.low_information_normalizing_factor, 1.0),
    }


def size_scores(area_sqrt: np.ndarray, iqr_factor: float) -> tuple[np.ndarray, float]:
    """cleanvision's odd-size score: 1 at the middle of the IQR fence, 0 at and beyond it.

    Returns the scores and the threshold to compare them with (0.5, or 1.0 when all images
    have the same size, so that any other size is odd)."""
    if not len(area_sqrt):
        return area_sqrt, 0.5
    q1, q3 = np.percentile(area_sqrt, [25, 75])
    lo, hi = q1 - iqr_factor * (q3 - q1), q3 + iqr_factor * (q3 - q1)
    mid, gap = (lo + hi) / 2, hi - lo
    norm, threshold = (gap, 0.5) if gap > 0 else (mid, 1.0)
    return 1 - np.clip(np.abs(area_sqrt - mid) / norm, 0, 1), threshold


def _detail(kind: str, q: float, t: float, props: ImageProperties) -> str:
    w, h = props.size
    if kind == "dark":
        return f"dark: 99% of pixels have brightness <= {q:.2f} (threshold {t:g})"
    if kind == "light":
        return f"light: 95% of pixels have brightness >= {1 - q:.2f} (quality {q:.3f} < {t:g})"
    if kind == "blurry":
        return f"blurry: edge-strength score {q:.3f} < {t:g} (edge std {props.edge_std:.1f} at 64 px)"
    if kind == "grayscale":
        if props.mode in GRAY_MODES:
            how = f"one-channel file (mode {props.mode})"
        else:
            how = f"{props.mode} file whose colour channels are equal"
            if props.channel_spread:
                how += f" (within {props.channel_spread:g} levels)"
        return f"grayscale: {how}"
    if kind == "odd_aspect_ratio":
        return f"odd aspect ratio: {w}x{h}, min(w/h, h/w) = {q:.3f} < {t:g}"
    if kind == "odd_size":
        return f"odd size: {w}x{h} is far from the dataset's usual size (size score {q:.3f} < {t:g})"
    return f"low information: histogram entropy {props.entropy:.2f} bits (score {q:.3f} < {t:g})"


def severity(quality: float, threshold: float) -> float:
    """The issue score: 0.5 at the threshold, 1 at quality 0 (worst first in review)."""
    if threshold <= 0:
        return 1.0
    return round(min(1.0, 0.5 + 0.5 * (threshold - quality) / threshold), 4)


class ImageQuality(Check):
    """cleanvision's image-property issues, from one reduced decode per image."""

    name: ClassVar[str] = "image_quality"
    description: ClassVar[str] = ("Dark, light, blurry, grayscale, odd-size, odd-aspect-ratio and "
                                  "low-information images (cleanvision's scores); fix: exclude.")
    Options: ClassVar[type[BaseModel]] = ImageQualityOptions
    scope: ClassVar[str] = "dataset"
    needs_image: ClassVar[bool] = False

    def score_dataset(
        self, props: Sequence[ImageProperties]
    ) -> list[dict[str, tuple[float, float]]]:
        """Per image: ``{kind: (quality score, threshold)}`` for every checked kind."""
        opts: ImageQualityOptions = self.options  # type: ignore[assignment]
        thresholds = {
            "dark": opts.dark_threshold, "light": opts.light_threshold, "blurry": opts.blurry_threshold,
            "grayscale": 0.5, "odd_aspect_ratio": opts.odd_aspect_ratio_threshold,
            "low_information": opts.low_information_threshold,
        }
        sizes, size_t = size_scores(np.array([p.area_sqrt for p in props]), opts.odd_size_iqr_factor)
        size_t = opts.odd_size_threshold if size_t == 0.5 else size_t
        out = []
        for p, s in zip(props, sizes, strict=True):
            scores = quality_scores(p, opts)
            row = {k: (scores[k], thresholds[k]) for k in scores if k in opts.kinds}
            if "odd_size" in opts.kinds:
                row["odd_size"] = (float(s), size_t)
            out.append(row)
        return out

    def run(
        self, dataset: Dataset, items: Sequence[tuple[Item, Annotation]], progress: Progress
    ) -> Iterator[Finding]:
        opts: ImageQualityOptions = self.options  # type: ignore[assignment]
        stats = ImageStatistics(grayscale_tolerance=opts.grayscale_tolerance)
        measured: list[tuple[Item, ImageProperties]] = []
        for n, (item, _ann) in enumerate(items, 1):
            try:
                small = decode_small(item.image_path, opts.work_side)
            except ImageFileError as err:
                self.skip_image(item, str(err))
            else:
                measured.append((item, measure(small)))
                stats.add(small)
            progress(n, len(items))
        #: Normalisation mean/std, sizes... of the checked images (for the HTML report).
        self.image_statistics = stats.to_dict()
        for (item, props), row in zip(measured, self.score_dataset([p for _, p in measured]), strict=True):
            for kind in KINDS:
                if kind not in row:
                    continue
                q, t = row[kind]
                if q < t:
                    yield Finding(item.rel, Issue(
                        kind=kind, score=1.0 if kind == "grayscale" else severity(q, t),
                        detail=_detail(kind, q, t, props),
                        suggested_fix={"action": "exclude", "reason": kind.replace("_", " ")},
                    ))


class ExcludeLowQuality(SuggestedFixer):
    """Marks flagged images excluded from export (reversible; no file touched)."""

    name: ClassVar[str] = "image_quality"
    description: ClassVar[str] = "Exclude images with image-quality issues from export (undo with --undo)."
    kinds: ClassVar[tuple[str, ...]] = KINDS


@hookimpl
def register_checks(register: Any) -> None:
    """Provide the ``image_quality`` check."""
    register(ImageQuality)


@hookimpl
def register_fixers(register: Any) -> None:
    """Provide the ``image_quality`` fixer (exclude)."""
    register(ExcludeLowQuality)
