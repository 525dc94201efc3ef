"""Schema migrations for labeler's own keys (the ``"labeler"`` blocks in a label file).

Each migration is a small function that takes the raw file dict at version N and returns it at
version N + 1. They run on load, in order; the file on disk changes only when it is saved.
Rules for bumping :data:`labeler.model.SCHEMA_VERSION` are in ``docs/format.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Migration = Callable[[dict[str, Any]], dict[str, Any]]

#: ``MIGRATIONS[n]`` upgrades a file dict from schema version n to n + 1.
MIGRATIONS: dict[int, Migration] = {}


def migration(from_version: int) -> Callable[[Migration], Migration]:
    """Register a function as the migration from ``from_version`` to ``from_version + 1``."""

    def decorate(func: Migration) -> Migration:
        MIGRATIONS[from_version] = func
        return func

    return decorate


def migrate(data: dict[str, Any], current: int) -> dict[str, Any]:
    """Bring ``data`` up to schema version ``current``; raise ValueError when it is newer."""
    block = data.get("labeler")
    if not isinstance(block, dict):
        return data
    version = block.get("schema_version", current)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"labeler.schema_version must be an integer, got {version!r}")
    if version > current:
        raise ValueError(
            f"written by a newer labeler (schema version {version}; this labeler reads up to "
            f"{current}). Upgrade labeler: pip install -U labeler"
        )
    while version < current:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ValueError(f"no migration from schema version {version} to {version + 1}")
        data = step(data)
        version += 1
        data.setdefault("labeler", {})["schema_version"] = version
    return data
