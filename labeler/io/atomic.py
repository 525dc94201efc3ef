"""Atomic file writes: temp file in the same folder, fsync, ``os.replace``.

A crash or kill at any moment leaves either the old file or the new one, never a broken one.
Temp files are named ``.<name>.<pid>.<random>.tmp`` so that the next command can tell a temp
file whose writer died and remove it (:func:`labeler.io.writes.recover`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

#: Bytes of the target's name kept in a temp file's name (file names are at most 255 bytes).
_TEMP_NAME_BYTES = 200


def short_name(name: str, limit: int = _TEMP_NAME_BYTES) -> str:
    """``name`` cut to at most ``limit`` UTF-8 bytes (whole characters)."""
    raw = name.encode("utf-8")
    return name if len(raw) <= limit else raw[:limit].decode("utf-8", errors="ignore")


def temp_sibling(path: Path) -> Path:
    """A hidden temp path next to ``path`` (``.<name>.<pid>.<random>.tmp``), short enough to
    be legal even when ``path``'s own name is near the 255-byte limit, and unique per writer."""
    return path.with_name(f".{short_name(path.name)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_temp(path: Path, data: bytes, tmp: Path | None = None) -> Path:
    """Write ``data`` to a new temp file next to ``path`` (or at ``tmp``), fsynced, with the
    permissions of the file it will replace; returns the temp path."""
    from labeler.io.writes import fault_point  # the test hooks for crashes and full disks

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp or temp_sibling(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            fault_point(f"stage {path.name}")
            os.fsync(fh.fileno())
        try:
            mode = path.stat().st_mode & 0o7777  # keep the permissions of the file we replace
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def atomic_write_bytes(
    path: str | Path, data: bytes, before_rename: Callable[[], None] | None = None
) -> None:
    """Write ``data`` to ``path`` atomically (same-folder temp file, fsync, rename).

    ``before_rename``: called just before the rename; an exception from it leaves ``path`` as
    it was (the compare of a compare-and-swap, :func:`labeler.io.writes.replace_if_unchanged`).
    """
    from labeler.io.writes import fault_point  # the test hooks for crashes and full disks

    path = Path(path)
    tmp = write_temp(path, data)
    try:
        if before_rename is not None:
            before_rename()  # a compare-and-swap's last look: it has its own commit point
        else:
            fault_point(f"commit {path.name}")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; not possible on every platform (Windows)."""
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
        probe = temp_sibling(folder / "labeler-write-test")  # removed by recover() if killed
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as err:
        where = f"{target}: cannot write in {folder}" if target is not None else f"{folder}: cannot write there"
        raise UsageError(f"{option} {where} ({err.strerror or err})") from None
