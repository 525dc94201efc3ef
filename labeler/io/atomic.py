"""Atomic file writes: temp file in the same folder, fsync, ``os.replace``.

A crash or kill at any moment leaves either the old file or the new one, never a broken one.
Temp files are named ``.<name>.<pid>.<random>.tmp`` so that the next command can tell a temp
file whose writer died and remove it (:func:`labeler.io.writes.recover`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


#: renameat2(2) flags (Linux): fail if the target exists; swap the two names atomically.
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100
#: Devices whose file system refused an exchange (e.g. NFS): they take the plain rename.
_no_exchange: set[int] = set()


def _renameat2() -> Any:
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn


_RENAMEAT2 = _renameat2() if sys.platform.startswith("linux") else None


def _rename2(src: Path, dst: Path, flags: int) -> None:
    import ctypes

    if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(dst))


def read_bytes_or_none(path: Path) -> bytes | None:
    """The file's bytes, or None when there is no file. A FIFO, socket or device in its place
    is an ``OSError`` (opened without blocking, never read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return fh.read()


def replace_if_holds(tmp: Path, path: Path, expect: bytes | None) -> bool:
    """Rename ``tmp`` over ``path`` if ``path`` holds ``expect`` (None: no file), and tell.

    The caller has just looked (under the dataset lock), but a program that does not lock
    (labelme, a script) may save in the moment between that look and a plain rename, and the
    rename would throw its save away. On Linux the rename is an atomic exchange instead
    (``renameat2(RENAME_EXCHANGE)``; ``RENAME_NOREPLACE`` for a new file) and the file it took
    out is compared with ``expect``: a save that came in between is swapped straight back and
    False returned (``tmp`` removed; the caller reads the file again and retries). Elsewhere,
    and on file systems without the exchange, it is the plain rename after the caller's look.
    """
    dev = os.stat(tmp).st_dev
    if _RENAMEAT2 is None or dev in _no_exchange:
        os.replace(tmp, path)
        return True
    try:
        if expect is None:
            try:
                _rename2(tmp, path, _RENAME_NOREPLACE)
            except FileExistsError:
                os.unlink(tmp)
                return False
            return True
        try:
            _rename2(tmp, path, _RENAME_EXCHANGE)  # path: ours; tmp: the file it replaced
        except FileNotFoundError:  # deleted since the look
            os.unlink(tmp)
            return False
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        _no_exchange.add(dev)
        os.replace(tmp, path)
        return True
    if read_bytes_or_none(tmp) == expect:
        os.unlink(tmp)
        return True
    _rename2(tmp, path, _RENAME_EXCHANGE)  # a save came in between: it goes back in place
    os.unlink(tmp)
    return False


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
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker is not None else (err.strerror or str(err))
        raise UsageError(f"{option} {where} ({why})") from None
