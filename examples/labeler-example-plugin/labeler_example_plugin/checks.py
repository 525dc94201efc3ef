"""Two data checks: a per-image one (``example_dark``) and a dataset-level one
(``example_duplicates``). Both suggest the ``exclude`` fix that ``example_exclude`` applies."""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from labeler.dataset import Dataset, Item
from labeler.model import Annotation, Issue
from labeler.plugin_api import Check, Finding, NoOptions, Progress, Sample


class DarkOptions(BaseModel):
    """Options of ``example_dark``."""

    model_config = ConfigDict(extra="forbid")

    dark_below: float = Field(
        0.15, ge=0.0, le=1.0, description="Flag images whose mean brightness (0-1) is below this."
    )
    min_contrast: float = Field(
        0.04,
        ge=0.0,
        le=1.0,
        description="Flag images whose brightness standard deviation (0-1) is below this.",
    )
    sample_side: int = Field(
        256, ge=8, description="Measure on a copy shrunk to this longest side."
    )


def _score(value: float, limit: float) -> float:
    """0.5 right at the limit, 1.0 at zero: how far below the limit ``value`` is."""
    if limit <= 0:
        return 1.0
    return round(min(1.0, 0.5 + 0.5 * (1.0 - value / limit)), 3)


class DarkImageCheck(Check):
    """Images that are too dark, or so flat that nothing can be seen in them."""

    name = "example_dark"
    description = "Flag images that are too dark or have too little contrast to label."
    Options = DarkOptions
    requires = ("numpy",)
    scope = "image"
    needs_image = True
    options: DarkOptions

    def brightness(self, sample: Sample) -> tuple[float, float]:
        """Mean and standard deviation of the grey level, in [0, 1]."""
        import numpy as np

        small = sample.image.convert("L")
        small.thumbnail((self.options.sample_side, self.options.sample_side))
        grey = np.asarray(small, dtype=np.float32) / 255.0
        return float(grey.mean()), float(grey.std())

    def check_sample(self, sample: Sample) -> list[Issue]:
        mean, std = self.brightness(sample)
        opts = self.options
        if mean < opts.dark_below:
            return [
                Issue(
                    kind="too_dark",
                    score=_score(mean, opts.dark_below),
                    detail=f"mean brightness {mean:.3f} is below {opts.dark_below}",
                    suggested_fix={"action": "exclude", "reason": f"too dark ({mean:.3f})"},
                )
            ]
        if std < opts.min_contrast:
            return [
                Issue(
                    kind="low_contrast",
                    score=_score(std, opts.min_contrast),
                    detail=f"brightness varies by {std:.3f}, below {opts.min_contrast}",
                    suggested_fix={"action": "exclude", "reason": f"low contrast ({std:.3f})"},
                )
            ]
        return []


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class DuplicateFileCheck(Check):
    """Images whose files are byte-for-byte identical (the first one, by path, is kept)."""

    name = "example_duplicates"
    description = (
        "Flag exact duplicate image files (same bytes); the first by path is the original."
    )
    Options = NoOptions
    scope: ClassVar[str] = "dataset"
    needs_image = False

    def run(
        self, dataset: Dataset, items: Sequence[tuple[Item, Annotation]], progress: Progress
    ) -> Iterator[Finding]:
        by_size: dict[int, list[Item]] = defaultdict(list)
        for item, _ann in items:
            try:
                by_size[item.image_path.stat().st_size].append(item)
            except OSError:
                continue  # vanished since the scan: nothing to compare
        # Only files that share their size with another can be duplicates: hash just those.
        candidates = [group for group in by_size.values() if len(group) > 1]
        total = sum(len(g) for g in candidates)
        done = 0
        by_digest: dict[str, list[Item]] = defaultdict(list)
        for group in candidates:
            for item in group:
                with contextlib.suppress(OSError):  # unreadable: cannot be compared
                    by_digest[file_digest(item.image_path)].append(item)
                done += 1
                progress(done, total)
        for group in by_digest.values():
            if len(group) < 2:
                continue
            group = sorted(group, key=lambda it: it.rel)
            original = group[0].rel
            for item in group[1:]:
                yield Finding(
                    item.rel,
                    Issue(
                        kind="duplicate",
                        score=1.0,
                        detail=f"same bytes as {original}",
                        related_files=[it.rel for it in group if it is not item],
                        suggested_fix={"action": "exclude", "reason": f"duplicate of {original}"},
                    ),
                )
