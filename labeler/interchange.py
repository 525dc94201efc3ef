"""What importers produce and exporters consume, below the plugin API and the formats.

:class:`ImportedImage`, :class:`ExportItem` and :class:`Report` are plain records, so that the
loaders and writers in :mod:`labeler.formats` need nothing from :mod:`labeler.plugin_api`
(which re-exports them for plugins); :func:`safe_rel` and :func:`write_json` are the two file
rules every format shares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from labeler.model import Annotation

if TYPE_CHECKING:
    from labeler.dataset import Item


@dataclass
class ImportedImage:
    """One image an importer found: where the image is, where it goes, and its annotation."""

    source_image: Path
    rel: str  # destination path relative to the output root, forward slashes
    annotation: Annotation


@dataclass
class Report:
    """What a long operation did: counts and per-file problems (never raised, collected)."""

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, n: int = 1) -> None:
        """Increase a counter."""
        self.counts[key] = self.counts.get(key, 0) + n

    def problem(self, message: str) -> None:
        """Record a per-file problem (``"<path>: <what>"``)."""
        self.problems.append(message)


@dataclass
class ExportItem:
    """One image to export, with its (already filtered) annotation and split name."""

    item: Item
    annotation: Annotation
    split: str = ""  # "train", "val", "test", or "" when not splitting


def safe_rel(rel: str) -> str:
    """Refuse absolute paths and ``..`` in a destination path from a foreign dataset."""
    norm = rel.replace("\\", "/")
    pure = PurePosixPath(norm)
    if not norm or pure.is_absolute() or ".." in pure.parts or (len(norm) > 1 and norm[1] == ":"):
        raise ValueError(f"unsafe path {rel!r} (absolute or containing '..')")
    return pure.as_posix()


def write_json(path: Path, data: object) -> None:
    """Write JSON atomically (UTF-8, 2-space indent)."""
    from labeler.io.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
