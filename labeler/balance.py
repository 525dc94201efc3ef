"""Class weights for weighted or focal losses: inverse frequency and effective number.

- inverse frequency: ``w_c = N / (K * n_c)`` (a balanced class gets 1);
- effective number of samples (Cui et al., "Class-Balanced Loss Based on Effective Number of
  Samples", CVPR 2019): ``E_c = (1 - beta^n_c) / (1 - beta)``, ``w_c ∝ 1 / E_c``, normalised so
  the weights sum to K (the paper's convention). ``beta`` near 1 approaches inverse frequency;
  ``beta = 0`` gives equal weights.

``labeler export --class-weights`` writes :func:`class_weights_document` as
``class_weights.json`` beside the export, counted on the exported train split.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labeler.io.atomic import atomic_write_text


def inverse_frequency_weights(counts: Mapping[str, int]) -> dict[str, float]:
    """``N / (K * n_c)`` per class; classes with no sample get 0."""
    present = {c: n for c, n in counts.items() if n > 0}
    total, k = sum(present.values()), len(present)
    return {c: (total / (k * n) if n > 0 else 0.0) for c, n in counts.items()}


def effective_number_weights(counts: Mapping[str, int], beta: float = 0.999) -> dict[str, float]:
    """Cui et al.'s class-balanced weights ``(1 - beta) / (1 - beta^n_c)``, summing to K."""
    if not 0.0 <= beta < 1.0:
        raise ValueError("beta must be in [0, 1)")
    raw = {c: ((1.0 - beta) / (1.0 - beta**n) if n > 0 else 0.0) for c, n in counts.items()}
    k = sum(1 for n in counts.values() if n > 0)
    total = sum(raw.values())
    return {c: (w * k / total if total > 0 else 0.0) for c, w in raw.items()}


def count_labels(annotations: Sequence[Any], what: str = "all") -> Counter[str]:
    """Labels per class over annotations: shapes (not rejected) and/or image-level labels
    (``what``: ``"all"``, ``"shapes"`` or ``"image_labels"``)."""
    counts: Counter[str] = Counter()
    for ann in annotations:
        if what in ("all", "shapes"):
            counts.update(s.label for s in ann.shapes if s.review != "rejected")
        if what in ("all", "image_labels"):
            counts.update(ann.image_labels)
    return counts


def class_weights_document(counts: Mapping[str, int], classes: Sequence[str] | None = None,
                           beta: float = 0.999, counted_on: str = "all") -> dict[str, Any]:
    """The ``class_weights.json`` content: counts and both weightings, in class-id order."""
    order = list(classes) if classes is not None else sorted(counts)
    full = {c: int(counts.get(c, 0)) for c in order}
    inv = inverse_frequency_weights(full)
    eff = effective_number_weights(full, beta)
    return {
        "classes": order,
        "counted_on": counted_on,
        "counts": full,
        "inverse_frequency": {c: round(inv[c], 6) for c in order},
        "effective_number": {c: round(eff[c], 6) for c in order},
        "effective_number_beta": beta,
        "note": "Lists follow the class ids of the export (index = id). inverse_frequency: "
        "N/(K*n_c); effective_number: Cui et al. 2019, (1-beta)/(1-beta^n_c) normalised to sum K.",
    }


def write_class_weights(
    dataset: Any, options: Any, out: Path, beta: float = 0.999, what: str = "all"
) -> Path | None:
    """Write ``out/class_weights.json`` for an export with ``options`` (counted on its train split).

    Uses the same selection, mapping and seeded split as the export itself, and counts what
    the format exports (``what``: shapes for detection formats, image labels for
    classification ones). Returns None, writing nothing, when there is nothing to count.
    """
    from labeler.exporting import select_for_export
    from labeler.plugin_api import Report

    items, classes = select_for_export(dataset, options, Report())
    train = [e for e in items if e.split in ("", "train")]
    counts = count_labels([e.annotation for e in train], what)
    if not sum(counts.values()):
        return None
    doc = class_weights_document(counts, classes, beta, "train split" if options.split else "all exported")
    path = Path(out) / "class_weights.json"
    atomic_write_text(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return path
