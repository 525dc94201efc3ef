"""The one write path for a dataset's files: lock, re-read, re-apply, replace; journals.

Every labeler process (CLI commands, the GUI, Ray drivers, scripts using the API) writes a
dataset's label files and images through this module:

- **One lock per dataset** (``<root>/.labeler/lock``, an advisory ``flock`` taken through the
  ``filelock`` package, plus a thread lock inside one process). The kernel drops it when its
  holder dies, so a killed process never leaves a stale lock behind.
- **Compare and swap.** Under the lock the file is read again; the caller's change is a
  function of what is there *now*, never a stale copy. Just before the rename the file is read
  once more: a program that does not take the lock (labelme, an editor, a script) and saved in
  between makes the write start over on its content, so an edit it had saved before labeler's
  write began is never lost.
- **Transactions** (:class:`Transaction`): a change that spans files (an image and its JSON, a
  group of duplicates) is staged as complete temp files next to their targets, recorded in a
  journal under ``<root>/.labeler/journal/``, committed by one atomic rename of the journal
  entry, then applied. :func:`recover` (run by every command that opens the dataset) rolls a
  committed entry forward and an uncommitted one back, so a crash, ``kill -9`` or full disk at
  any point leaves either all of the change or none of it.
- Temp files left by a killed writer (``.<name>.<pid>.<random>.tmp``, see
  :mod:`labeler.io.atomic`) are removed by :func:`recover` once their process is gone.

See ``docs/concurrency.md``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labeler.io.atomic import (  # noqa: F401 - read_bytes_or_none: also this module's
    fsync_dir,
    read_bytes_or_none,
    replace_if_holds,
    short_name,
    temp_sibling,
    write_temp,
)

#: labeler's own folder inside a dataset (hidden, never part of the dataset).
STATE_DIR = ".labeler"
JOURNAL_DIR = "journal"
LOCK_FILE = "lock"
#: How long a writer waits for the dataset lock before giving up with an error.
LOCK_TIMEOUT_S = 120.0
#: Re-reads before a write gives up when another program keeps rewriting the file.
MAX_ATTEMPTS = 20


class ConcurrentChangeError(OSError):
    """The file changed on disk since it was read, and the change could not be merged."""

    def __init__(self, path: Path, detail: str = "changed on disk during the run") -> None:
        super().__init__(errno.EBUSY, detail, str(path))
        self.path = path
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}"


# -- fault injection (tests kill a real process at each commit point) --------------------------
_fault_count = 0


def fault_point(what: str) -> None:
    """A place where a write can be interrupted: the test hooks ``LABELER_CRASH_AT=N`` (SIGKILL
    this process at the Nth point) and ``LABELER_ENOSPC_AT=N`` (fail it as a full disk) act here.
    Costs one environment lookup when unset."""
    global _fault_count
    crash = os.environ.get("LABELER_CRASH_AT")
    full = os.environ.get("LABELER_ENOSPC_AT")
    if not crash and not full:
        return
    _fault_count += 1
    if os.environ.get("LABELER_FAULT_TRACE"):
        with open(os.environ["LABELER_FAULT_TRACE"], "a", encoding="utf-8") as fh:
            fh.write(f"{_fault_count} {what}\n")
    if crash and int(crash) == _fault_count:
        os.kill(os.getpid(), signal.SIGKILL)
    if full and int(full) == _fault_count:
        raise OSError(errno.ENOSPC, "No space left on device (injected)", what)


# -- the dataset lock --------------------------------------------------------------------------
_process_locks: dict[str, threading.RLock] = {}
_process_locks_guard = threading.Lock()


def state_dir(root: Path) -> Path:
    """``<root>/.labeler``."""
    return root / STATE_DIR


class DatasetLock:
    """The dataset's write lock: a thread lock within this process, then an advisory file lock
    between processes. Reentrant within one thread."""

    def __init__(self, root: Path, timeout: float = LOCK_TIMEOUT_S) -> None:
        from filelock import FileLock

        self.path = state_dir(root) / LOCK_FILE
        key = str(self.path)
        with _process_locks_guard:
            self._thread_lock = _process_locks.setdefault(key, threading.RLock())
        self._file_lock: Any = None
        self._timeout = timeout
        self._depth = 0
        self._file_lock_cls = FileLock

    def acquire(self) -> None:
        """Take the lock (waits up to the timeout, then raises ``TimeoutError``)."""
        if not self._thread_lock.acquire(timeout=self._timeout):
            raise TimeoutError(f"{self.path}: another thread holds the dataset lock")
        try:
            if self._depth == 0:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._file_lock = self._file_lock_cls(str(self.path), thread_local=False)
                except OSError:
                    self._file_lock = None  # read-only medium: nobody else can write either
                if self._file_lock is not None:
                    from filelock import Timeout

                    try:
                        self._file_lock.acquire(timeout=self._timeout)
                    except Timeout:
                        raise TimeoutError(
                            f"{self.path}: another labeler process has held the dataset lock "
                            f"for over {self._timeout:.0f} s"
                        ) from None
            self._depth += 1
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        """Give the lock back."""
        self._depth -= 1
        if self._depth == 0 and self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None
        self._thread_lock.release()

    def __enter__(self) -> DatasetLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# -- compare and swap of one file ----------------------------------------------------------------
def replace_if_unchanged(path: Path, data: bytes, expect: bytes | None) -> None:
    """Atomically replace ``path`` with ``data`` if it still holds ``expect`` (None: no file).

    The caller holds the dataset lock. Raises :class:`ConcurrentChangeError` when the file
    differs; the old file is then untouched.
    """

    tmp = write_temp(path, data)
    try:
        if not _commit_temp(tmp, path, expect):
            raise ConcurrentChangeError(path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _commit_temp(tmp: Path, path: Path, expect: bytes | None) -> bool:
    """Rename the fsynced temp file ``tmp`` over ``path`` if ``path`` still holds ``expect``;
    False (``tmp`` removed, ``path`` as the other program left it) when it does not. The last
    look catches a writer that does not lock and saved meanwhile; one that saves between that
    look and the rename is swapped back by :func:`replace_if_holds`."""
    if read_bytes_or_none(path) != expect:
        os.unlink(tmp)
        return False
    fault_point(f"commit {path.name}")
    return replace_if_holds(tmp, path, expect)


def update_file(
    lock: DatasetLock,
    path: Path,
    change: Callable[[bytes | None], bytes | None],
    attempts: int = MAX_ATTEMPTS,
) -> bool:
    """Under ``lock``: read ``path``, compute ``change(current_bytes)`` and write it, unless it
    returns None or the same bytes. When another program rewrites the file meanwhile, start
    over on its new content. Returns True when the file was written."""
    with lock:
        for attempt in range(attempts):
            current = read_bytes_or_none(path)
            new = change(current)
            if new is None or new == current:
                return False
            try:
                replace_if_unchanged(path, new, current)
                return True
            except ConcurrentChangeError:
                time.sleep(min(0.05, 0.002 * (attempt + 1)))
        raise ConcurrentChangeError(path, f"rewritten by another program {attempts} times while "
                                    "labeler tried to write it; left alone")


def update_files(
    lock: DatasetLock,
    changes: list[tuple[Path, Callable[[bytes | None], bytes | None]]],
    threads: int = 16,
) -> list[bool | Exception]:
    """:func:`update_file` for several files under one hold of ``lock``, their fsyncs together.

    Each file gets exactly what :func:`update_file` gives it (read under the lock, its change
    applied to what is there, a temp file fsynced, the last look, the rename, the folder
    fsynced); only the waits overlap: the temp files are written and fsynced in ``threads``
    threads at once (the file system commits them together) and each folder is fsynced once
    after its renames. Per file: True (written), False (unchanged) or the error it raised; a
    file another program saved meanwhile goes through :func:`update_file` on its new content.
    """
    results: list[bool | Exception] = [False] * len(changes)
    with lock:
        staged: list[tuple[int, bytes, bytes | None]] = []
        for i, (path, change) in enumerate(changes):
            try:
                current = read_bytes_or_none(path)
                new = change(current)
                if new is not None and new != current:
                    staged.append((i, new, current))
            except Exception as err:  # noqa: BLE001 - this file's error, the others go on
                results[i] = err
        if not staged:
            return results
        pool = _fsync_pool(threads)
        temps = list(pool.map(lambda s: _staged_temp(changes[s[0]][0], s[1]), staged))
        folders: set[Path] = set()
        for (i, _new, current), tmp in zip(staged, temps, strict=True):
            path, change = changes[i]
            if isinstance(tmp, Exception):
                results[i] = tmp
                continue
            try:
                if not _commit_temp(tmp, path, current):  # saved meanwhile: start over on it
                    results[i] = update_file(lock, path, change)
                    continue
                folders.add(path.parent)
                results[i] = True
            except Exception as err:  # noqa: BLE001
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                results[i] = err
            except BaseException:
                for rest in temps:
                    if isinstance(rest, Path):
                        with contextlib.suppress(OSError):
                            os.unlink(rest)
                raise
        list(pool.map(fsync_dir, folders))
    return results


_pools: dict[int, Any] = {}


def _fsync_pool(threads: int) -> Any:
    """One thread pool per size for the process (its threads wait on the disk, not the CPU)."""
    from concurrent.futures import ThreadPoolExecutor

    with _process_locks_guard:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="labeler-fsync")
        return _pools[threads]


def _staged_temp(path: Path, data: bytes) -> Path | Exception:
    try:
        return write_temp(path, data)
    except Exception as err:  # noqa: BLE001 - reported for this file
        return err


# -- transactions ------------------------------------------------------------------------------
@dataclass
class _Op:
    kind: str  # "write" or "delete"
    target: Path
    staged: Path | None = None
    expect: bytes | None = None
    check: bool = False  # compare the target with ``expect`` before committing
    backup: Path | None = None  # a hard link to (or copy of) the target as it was at commit
    refused: bool = False  # its rename found another program's save and put it back: not applied

    def to_json(self, root: Path) -> dict[str, Any]:
        rel = lambda p: os.path.relpath(p, root) if p else None  # noqa: E731
        return {"op": self.kind, "target": rel(self.target), "staged": rel(self.staged),
                "backup": rel(self.backup)}

    @classmethod
    def from_json(cls, root: Path, data: dict[str, Any]) -> _Op:
        path = lambda key: (root / data[key]).absolute() if data.get(key) else None  # noqa: E731
        return cls(data["op"], path("target"), path("staged"), backup=path("backup"))  # type: ignore[arg-type]

    @property
    def applied(self) -> bool:
        """Whether this step is done (a write's temp file is renamed away; a delete's target
        is gone)."""
        if self.kind == "write":
            return not self.refused and self.staged is not None and not self.staged.exists()
        return not self.target.exists()


@dataclass
class Transaction:
    """Files that change together. Stage with :meth:`write` and :meth:`delete`, then
    :meth:`commit` (under the dataset lock); leaving without commit discards the staged files.

    Used as ``with dataset.transaction() as txn: ...``; the dataset commits it on a clean exit.

    The protocol (SQLite's, for whole files): every new content is staged as a complete temp
    file next to its target and named in the journal entry before it exists; at commit the
    expectations are checked, each target still there gets a backup (a hard link), the entry
    is marked ``committed`` and the temp files are renamed over their targets. A file that a
    program without the lock rewrote since it was checked is found just before its rename, and
    the applied steps are put back from their backups (``rolling_back``). :func:`recover`
    finishes whichever of the three states an interrupted process left.
    """

    root: Path
    lock: DatasetLock
    id: str = field(default_factory=lambda: f"{time.time_ns()}-{os.getpid()}-{secrets.token_hex(3)}")
    ops: list[_Op] = field(default_factory=list)
    committed: bool = False
    #: called after a successful commit (counting what was done only once it is done)
    commit_hooks: list[Callable[[], None]] = field(default_factory=list)
    _journal: Path | None = None

    @property
    def journal_path(self) -> Path:
        """Where this transaction's journal entry lives."""
        return state_dir(self.root) / JOURNAL_DIR / f"{self.id}.json"

    def _record(self, state: str) -> None:
        entry = {"id": self.id, "state": state, "pid": os.getpid(),
                 "ops": [op.to_json(self.root) for op in self.ops]}
        path = self.journal_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = write_temp(path, json.dumps(entry, indent=1).encode())
        try:
            fault_point(f"journal {state}")
            os.replace(tmp, path)
        except BaseException:
            _remove([tmp])
            raise
        fsync_dir(path.parent)
        self._journal = path

    def pending(self, path: Path) -> bytes | None:
        """What ``path`` will hold after this transaction (its staged bytes, else the disk's)."""
        for op in reversed(self.ops):
            if op.target == path:
                return op.staged.read_bytes() if op.kind == "write" and op.staged else None
        return read_bytes_or_none(path)

    def write(self, path: str | Path, data: bytes, expect: bytes | None | type[...] = ...) -> None:
        """Stage ``data`` as the new content of ``path``. ``expect``: what the file must still
        hold at commit (bytes, or None for "no file"); ``...`` (default) checks nothing."""
        path = Path(path).absolute()
        op = _Op("write", path, staged=temp_sibling(path), check=expect is not ...,
                 expect=None if expect is ... else expect)  # type: ignore[arg-type]
        self.ops.append(op)
        self._record("prepared")  # names the temp file before it exists: recover() finds it
        write_temp(path, data, op.staged)

    def delete(self, path: str | Path) -> None:
        """Stage the removal of ``path``."""
        path = Path(path).absolute()
        self.ops.append(_Op("delete", path))
        self._record("prepared")

    def savepoint(self) -> int:
        """A mark to :meth:`rollback_to` (the number of staged changes so far)."""
        return len(self.ops)

    def rollback_to(self, mark: int) -> None:
        """Drop the changes staged after ``mark``."""
        _remove(op.staged for op in self.ops[mark:])
        del self.ops[mark:]
        if self._journal is not None:
            self._record("prepared")

    def commit(self) -> None:
        """Check every expectation, record the commit, apply every change, forget the journal.

        Raises :class:`ConcurrentChangeError` (and changes nothing) when a checked file
        changed since it was read, up to the moment of its rename.
        """
        if not self.ops:
            self.discard()
            for hook in self.commit_hooks:
                hook()
            return
        with self.lock:
            try:
                for op in self.ops:
                    if op.check and read_bytes_or_none(op.target) != op.expect:
                        raise ConcurrentChangeError(op.target)
                for op in self.ops:
                    op.backup = _backup(op.target)
                self.ops.sort(key=lambda op: not op.check)  # the ones that can still fail first
                self._record("committed")  # the commit point: from here on, forward or back
            except BaseException:
                _remove(op.backup for op in self.ops)
                self.discard()
                raise
            try:
                _apply(self.ops, verify=True)
            except BaseException:
                # A file another program saved meanwhile, or a failing disk: put back what was
                # applied. Should that fail too, the journal stays for recover() to finish.
                self._record("rolling_back")
                _roll_back(self.ops)
                self._forget()
                raise
            _remove(op.backup for op in self.ops)
            self._forget()
        self.committed = True
        for hook in self.commit_hooks:
            hook()

    def discard(self) -> None:
        """Remove the staged files and the journal entry; nothing was changed."""
        _remove(op.staged for op in self.ops)
        self._forget()

    def _forget(self) -> None:
        if self._journal is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._journal)
            fsync_dir(self._journal.parent)
            self._journal = None


def _remove(paths: Any) -> None:
    for path in paths:
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _backup(target: Path) -> Path | None:
    """A hard link to ``target`` (a copy where links are not possible), or None: no file."""
    if not os.path.lexists(target):
        return None
    backup = temp_sibling(target)
    try:
        os.link(target, backup, follow_symlinks=False)
    except OSError:
        data = read_bytes_or_none(target)
        write_temp(target, data or b"", backup)
    return backup


def _apply(ops: list[_Op], verify: bool = False) -> None:
    """Roll forward: each step is idempotent (a rename already done is skipped). ``verify``:
    compare each checked target with its expectation just before its rename."""
    touched: set[Path] = set()
    for op in ops:
        if op.applied:
            continue
        if verify and op.check and read_bytes_or_none(op.target) != op.expect:
            raise ConcurrentChangeError(op.target)
        fault_point(f"apply {op.kind} {op.target.name}")
        if op.kind == "write" and op.staged is not None:
            op.target.parent.mkdir(parents=True, exist_ok=True)
            if verify and op.check:
                if not replace_if_holds(op.staged, op.target, op.expect):  # saved since the look
                    op.refused = True
                    raise ConcurrentChangeError(op.target)
            else:
                os.replace(op.staged, op.target)
        elif op.kind == "delete":
            os.unlink(op.target)
        touched.add(op.target.parent)
    for folder in touched:
        fsync_dir(folder)


def _roll_back(ops: list[_Op]) -> None:
    """Put every applied step back from its backup, drop the rest (idempotent)."""
    for op in ops:
        if op.applied:
            if op.backup is not None and op.backup.exists():
                os.replace(op.backup, op.target)
            elif op.backup is None and op.kind == "write":
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(op.target)  # it did not exist before
        else:
            _remove([op.staged])
        _remove([op.backup])
    for folder in {op.target.parent for op in ops}:
        fsync_dir(folder)


# -- recovery ----------------------------------------------------------------------------------
@dataclass
class Recovery:
    """What :func:`recover` did."""

    rolled_forward: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    temp_removed: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rolled_forward or self.rolled_back or self.temp_removed or self.problems)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale_temp(name: str) -> bool:
    """True for a temp file of ours (``.<name>.<pid>.<hex>.tmp``) whose process is gone."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    parts = name[:-4].rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    return not _pid_alive(int(parts[1]))


def remove_stale_temps_of(path: Path) -> list[Path]:
    """Remove the temp files a killed writer of ``path`` left next to it (its process gone);
    for files written outside a dataset (Save As), which no dataset command sweeps."""
    prefix = f".{short_name(path.name)}."
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if entry.name.startswith(prefix) and is_stale_temp(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def recover(root: Path, lock: DatasetLock, temp_folders: Iterator[Path] | None = None) -> Recovery:
    """Finish or undo interrupted transactions under ``root`` and remove stale temp files.

    A journal entry in state ``committed`` is rolled forward (its remaining staged files renamed
    into place), one in state ``rolling_back`` is put back from its backups, and a ``prepared``
    one is dropped (its staged files deleted: nothing of it had been applied). ``temp_folders``: the
    folders to sweep for stale temp files (the dataset's folders).
    """
    result = Recovery()
    jdir = state_dir(root) / JOURNAL_DIR
    entries = sorted(jdir.glob("*.json")) if jdir.is_dir() else []
    if not jdir.is_dir() and temp_folders is None:
        return result
    with lock:
        for entry in entries:
            try:
                data = json.loads(entry.read_text(encoding="utf-8"))
                ops = [_Op.from_json(root, o) for o in data["ops"]]
            except (OSError, ValueError, KeyError, TypeError) as err:
                result.problems.append(f"{entry}: unreadable journal entry ({err}); left alone")
                continue
            state = data.get("state")
            if state == "committed":
                _apply(ops)
                _remove(op.backup for op in ops)
                result.rolled_forward.append(entry.stem)
            elif state == "rolling_back":
                _roll_back(ops)
                result.rolled_back.append(entry.stem)
            else:  # prepared: nothing was applied yet
                _remove(op.staged for op in ops)
                result.rolled_back.append(entry.stem)
            with contextlib.suppress(OSError):
                os.unlink(entry)
        folders = list(temp_folders or []) + [jdir]
        for folder in folders:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                if is_stale_temp(name):
                    with contextlib.suppress(OSError):
                        os.unlink(folder / name)
                        result.temp_removed.append(folder / name)
    return result
