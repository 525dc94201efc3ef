"""Atomic file writes: temp file in the same folder, fsync, ``os.replace``.

A crash or kill at any moment leaves either the old file or the new one, never a broken one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

#: Bytes of the target's name kept in a temp file's name (file names are at most 255 bytes).
_TEMP_NAME_BYTES = 200


def short_name(name: str, limit: int = _TEMP_NAME_BYTES) -> str:
    """``name`` cut to at most ``limit`` UTF-8 bytes (whole characters)."""
    raw = name.encode("utf-8")
    return name if len(raw) <= limit else raw[:limit].decode("utf-8", errors="ignore")


def temp_sibling(path: Path) -> Path:
    """A hidden temp path next to ``path`` (``.<name>.tmp``), short enough to be legal even
    when ``path``'s own name is near the 255-byte limit."""
    return path.with_name(f".{short_name(path.name)}.tmp")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (same-folder temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{short_name(path.name)}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            # Keep the permissions of the file we replace.
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def _fsync_dir(folder: Path) -> None:
    # Make the rename itself durable; not possible on every platform (Windows).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable_folder(folder: str | Path, option: str, target: str | Path | None = None) -> None:
    """Create ``folder`` when needed and prove that a file can be written in it.

    Raises :class:`~labeler.errors.UsageError` naming ``option`` and ``target`` (the file the
    option names, when it is one; default: the folder) otherwise, so
    that a read-only ``--out`` or ``--report`` place fails at once in one line, before any work.
    """
    from labeler.errors import UsageError

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".labeler-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        where = f"{target}: cannot write in {folder}" if target is not None else f"{folder}: cannot write there"
        raise UsageError(f"{option} {where} ({err.strerror or err})") from None
