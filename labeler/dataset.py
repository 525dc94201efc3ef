"""A dataset: a folder (recursive) of images with one labelme JSON per image.

The JSON sits beside its image (``<stem>.json``) or, with ``labels=``, in a separate folder
that mirrors the image folder's layout. Listing never decodes an image.

>>> ds = open_dataset("sample_data/scenes")            # doctest: +SKIP
>>> for item, ann in ds.annotations():                 # doctest: +SKIP
...     print(item.rel, [s.label for s in ann.shapes])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from labeler.errors import FileProblem, ImageFileError, LabelFileReadError, LabelFileWriteError
from labeler.io.atomic import atomic_write_bytes
from labeler.io.images import IMAGE_EXTENSIONS, ImageInfo, read_image_info
from labeler.io.labelfile import (
    annotation_from_bytes,
    dumps_annotation,
    encode_annotation,
    load_annotation,
)
from labeler.io.writes import (
    ConcurrentChangeError,
    DatasetLock,
    Recovery,
    Transaction,
    fault_point,
    is_stale_temp,
    read_bytes_or_none,
    recover,
    replace_if_unchanged,
    update_file,
    update_files,
)
from labeler.model import Annotation

#: ``change(current)`` for :meth:`Dataset.update`: the annotation to write, or None.
Change = Callable[[Annotation | None], Annotation | None]

#: Folders never scanned: labeler's own cache and the usual noise.
SKIP_DIRS = frozenset({".labeler", "__pycache__", ".git", "node_modules"})


@dataclass(frozen=True)
class Item:
    """One image of a dataset and where its annotation lives (which may not exist yet)."""

    image_path: Path
    label_path: Path
    rel: str  # image path relative to the dataset root, with forward slashes

    @property
    def has_labels(self) -> bool:
        """True when the annotation file exists."""
        return self.label_path.is_file()

    @property
    def name(self) -> str:
        """The image file name."""
        return self.image_path.name


@dataclass
class ScanResult:
    """What a folder scan found besides the items."""

    items: list[Item] = field(default_factory=list)
    #: label files paired with more than one image (``a.jpg`` and ``a.png``)
    conflicts: dict[Path, list[Path]] = field(default_factory=dict)
    #: label files with no image beside them
    orphan_labels: list[Path] = field(default_factory=list)
    #: temp files of writers that died (removed by :meth:`Dataset.recover`)
    stale_temp: list[Path] = field(default_factory=list)
    #: image names that are not regular files (FIFOs, sockets, devices, broken links): never opened
    not_regular: list[Path] = field(default_factory=list)


class Dataset:
    """A folder of images and their annotation files. See :func:`open_dataset`."""

    def __init__(self, root: str | Path, labels: str | Path | None = None) -> None:
        self.root = Path(root).absolute()
        self.labels_dir = Path(labels).absolute() if labels else None
        if not self.root.is_dir():
            raise FileProblem(self.root, "not a folder")
        if (
            self.labels_dir is not None
            and self.labels_dir.exists()
            and not self.labels_dir.is_dir()
        ):
            raise FileProblem(self.labels_dir, "labels path is not a folder")
        self._scan: ScanResult | None = None
        self._lock: DatasetLock | None = None
        self._txn: Transaction | None = None

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, labels={str(self.labels_dir) if self.labels_dir else None!r})"

    # -- listing -----------------------------------------------------------------------------
    def label_path_for(self, image_path: Path) -> Path:
        """Where the annotation of ``image_path`` lives."""
        if self.labels_dir is None:
            return image_path.with_suffix(".json")
        rel = image_path.relative_to(self.root)
        return (self.labels_dir / rel).with_suffix(".json")

    def _walk(self, folder: Path, stale: list[Path] | None = None) -> Iterator[os.DirEntry[str]]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                if stale is not None and is_stale_temp(entry.name):
                    stale.append(Path(entry.path))
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name in SKIP_DIRS:
                        continue
                    path = Path(entry.path)
                    if self.labels_dir is not None and path == self.labels_dir:
                        continue
                    yield from self._walk(path, stale)
                else:  # files, and special files (FIFOs...) that scan() lists apart
                    yield entry
            except OSError:
                continue

    def scan(self, refresh: bool = False) -> ScanResult:
        """List images and pair them with label files (cached; ``refresh`` rescans)."""
        if self._scan is not None and not refresh:
            return self._scan
        result = ScanResult()
        by_label: dict[Path, list[Path]] = {}
        label_files: list[Path] = []
        for entry in self._walk(self.root, result.stale_temp):
            suffix = os.path.splitext(entry.name)[1].lower()
            path = Path(entry.path)
            if not entry.is_file():  # follows links: a link to a FIFO is no image either
                if suffix in IMAGE_EXTENSIONS:
                    result.not_regular.append(path)
                continue
            if suffix in IMAGE_EXTENSIONS:
                label = self.label_path_for(path)
                by_label.setdefault(label, []).append(path)
                rel = path.relative_to(self.root).as_posix()
                result.items.append(Item(image_path=path, label_path=label, rel=rel))
            elif suffix == ".json" and self.labels_dir is None:
                label_files.append(path)
        if self.labels_dir is not None and self.labels_dir.is_dir():
            for dirpath, _dirs, files in os.walk(self.labels_dir):
                label_files.extend(Path(dirpath) / f for f in files if f.lower().endswith(".json"))
                result.stale_temp.extend(Path(dirpath) / f for f in files if is_stale_temp(f))
        result.conflicts = {k: v for k, v in by_label.items() if len(v) > 1}
        result.orphan_labels = sorted(p for p in label_files if p not in by_label)
        self._scan = result
        return result

    @property
    def items(self) -> list[Item]:
        """All images, sorted by relative path."""
        return self.scan().items

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def item(self, rel: str) -> Item:
        """The item whose image is at ``rel`` (relative to the root)."""
        for it in self.items:
            if it.rel == rel:
                return it
        raise KeyError(rel)

    # -- reading and writing -----------------------------------------------------------------
    def image_info(self, item: Item) -> ImageInfo:
        """Header facts (size after EXIF orientation) of an item's image."""
        return read_image_info(item.image_path)

    def load(self, item: Item, check_image: bool = False) -> Annotation | None:
        """The item's annotation, or None when it has no label file.

        Raises :class:`LabelFileReadError` for a bad file; with ``check_image``, also when the
        stored ``imageWidth``/``imageHeight`` disagree with the image (and
        :class:`ImageFileError` when the image itself is bad).
        """
        self._refuse_shared_label(item)
        if not item.label_path.is_file():
            return None
        ann = load_annotation(item.label_path, allowed_root=self.root)
        if check_image:
            self.check_size(item, ann)
        return ann

    def check_size(self, item: Item, ann: Annotation, info: ImageInfo | None = None) -> None:
        """Raise when the annotation's stored size disagrees with the image header."""
        info = info or read_image_info(item.image_path)
        w, h = ann.imageWidth, ann.imageHeight
        if w is None or h is None or (w, h) == info.size:
            return
        hint = ""
        if (h, w) == info.size:
            hint = " (width and height swapped"
            if info.orientation != 1:
                hint += (
                    ": the annotation was probably made without applying the image's EXIF "
                    f"orientation {info.orientation}"
                )
            hint += ")"
        raise LabelFileReadError(
            item.label_path,
            f"imageWidth x imageHeight is {w}x{h} but the image {item.rel} is "
            f"{info.width}x{info.height}{hint}",
        )

    def new_annotation(self, item: Item, info: ImageInfo | None = None) -> Annotation:
        """An empty annotation for ``item`` with ``imagePath`` and the image size filled in."""
        info = info or read_image_info(item.image_path)
        rel = os.path.relpath(item.image_path, item.label_path.parent)
        return Annotation(
            imagePath=Path(rel).as_posix(), imageWidth=info.width, imageHeight=info.height
        )

    def load_or_new(self, item: Item) -> Annotation:
        """The item's annotation, or a new empty one when it has none yet."""
        ann = self.load(item)
        return ann if ann is not None else self.new_annotation(item)

    # -- the one write path (labeler.io.writes) -----------------------------------------------
    @property
    def lock(self) -> DatasetLock:
        """The dataset's write lock (shared with every other labeler process)."""
        if self._lock is None:
            self._lock = DatasetLock(self.root)
        return self._lock

    def recover(self, sweep_temp: bool = True) -> Recovery:
        """Roll interrupted multi-file changes forward or back and remove temp files left by
        writers that died. Every command that opens a dataset for work calls this first.

        ``sweep_temp=False``: only the journal (no folder listing; the GUI opens huge folders
        without listing them first)."""
        if not sweep_temp:
            return recover(self.root, self.lock, None)
        stale = self.scan().stale_temp
        result = recover(self.root, self.lock, iter({p.parent for p in stale}) if stale else None)
        if result:
            self.scan(refresh=True)
        return result

    def save(self, item: Item, ann: Annotation, text: str | None = None,
             expect: bytes | None | type[...] = ...) -> None:
        """Write the item's annotation atomically, under the dataset lock.

        ``text``: its ``dumps_annotation``, if known. ``expect``: the bytes the file must still
        hold (None: no file yet); when it differs, :class:`ConcurrentChangeError` is raised and
        nothing is written. Inside :meth:`transaction` the write is staged into it.
        """
        self._refuse_shared_label(item)
        data = encode_annotation(ann, item.label_path, text)
        if self._txn is not None:
            self._txn.write(item.label_path, data, expect)
            return
        try:
            with self.lock:
                if expect is ...:
                    atomic_write_bytes(item.label_path, data)
                else:
                    replace_if_unchanged(item.label_path, data, expect)  # type: ignore[arg-type]
        except ConcurrentChangeError:
            raise
        except OSError as err:
            raise LabelFileWriteError(item.label_path, f"cannot write: {err.strerror or err}") from None

    def update(self, item: Item, change: Change) -> bool:
        """Apply ``change`` to the item's annotation as it is on disk *now* and write the result.

        Under the dataset lock the file is read again and ``change(current)`` is called with
        its annotation (None when there is no file); it returns the annotation to write (it may
        edit ``current`` in place), or None to leave the file alone. When another program saves
        the file meanwhile, ``change`` is applied again to that content: an edit saved by
        anyone is never overwritten with a stale copy. Returns True when the file was written.
        Raises :class:`LabelFileReadError` when the current file is unreadable.
        """
        self._refuse_shared_label(item)
        path = item.label_path
        try:
            return update_file(self.lock, path, self._on_bytes(item, change))
        except ConcurrentChangeError:
            raise
        except OSError as err:
            raise LabelFileWriteError(path, f"cannot write: {err.strerror or err}") from None

    def update_many(self, changes: list[tuple[Item, Change]]) -> list[bool | Exception]:
        """:meth:`update` for several items at once: the same reads, changes and safe writes
        under one hold of the lock, their fsyncs overlapping (:func:`update_files`). Per item:
        True (written), False (left alone) or the error :meth:`update` would have raised."""
        pairs = [(item.label_path, self._on_bytes(item, change)) for item, change in changes]
        results = update_files(self.lock, pairs)
        out: list[bool | Exception] = []
        for (item, _change), result in zip(changes, results, strict=True):
            if isinstance(result, OSError) and not isinstance(result, ConcurrentChangeError):
                out.append(LabelFileWriteError(item.label_path,
                                               f"cannot write: {result.strerror or result}"))
            else:
                out.append(result)
        return out

    def _on_bytes(self, item: Item, change: Change) -> Callable[[bytes | None], bytes | None]:
        """``change`` on annotations as a change on the label file's bytes."""
        path = item.label_path

        def on_bytes(current: bytes | None) -> bytes | None:
            self._refuse_shared_label(item)
            ann = annotation_from_bytes(path, current, self.root) if current is not None else None
            before = dumps_annotation(ann) if ann is not None else None
            new = change(ann)
            if new is None:
                return None
            text = dumps_annotation(new)
            if text == before:
                return None
            return encode_annotation(new, path, text)

        return on_bytes

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Group writes that must happen together (an image and its JSON, several files).

        Inside the block :meth:`save`, :meth:`write_file` and :meth:`remove_file` are staged;
        on a clean exit they are committed at once (journaled under ``.labeler/journal``, so a
        crash at any point is rolled forward or back by :meth:`recover`); on an exception
        nothing is changed. The dataset lock is held for the whole block.
        """
        if self._txn is not None:
            yield self._txn  # nested: part of the outer transaction
            return
        with self.lock:
            txn = Transaction(self.root, self.lock)
            self._txn = txn
            try:
                yield txn
            except BaseException:
                txn.discard()
                raise
            finally:
                self._txn = None
            txn.commit()

    def read_file(self, path: Path) -> bytes | None:
        """A file's bytes as the current transaction will leave them (None: no file)."""
        if self._txn is not None:
            return self._txn.pending(path)
        return read_bytes_or_none(path)

    def write_file(self, path: Path, data: bytes, expect: bytes | None | type[...] = ...) -> None:
        """Write a dataset file (an image, a kept original) atomically, or stage it into the
        current :meth:`transaction`. ``expect`` as for :meth:`save`."""
        if self._txn is not None:
            self._txn.write(path, data, expect)
            return
        with self.lock:
            if expect is ...:
                atomic_write_bytes(path, data)
            else:
                replace_if_unchanged(path, data, expect)  # type: ignore[arg-type]

    def remove_file(self, path: Path, expect: bytes | None | type[...] = ...) -> None:
        """Remove a dataset file, or stage its removal into the current transaction.

        ``expect``: the bytes the file must still hold (the version the caller decided to
        delete); when another program rewrote it meanwhile, :class:`ConcurrentChangeError` is
        raised and the file stays. ``...`` (default) checks nothing."""
        if self._txn is not None:
            self._txn.delete(path)
            return
        with self.lock, contextlib.suppress(FileNotFoundError):
            if expect is not ... and read_bytes_or_none(path) != expect:
                raise ConcurrentChangeError(path)
            fault_point(f"remove {path.name}")
            os.unlink(path)

    def _refuse_shared_label(self, item: Item) -> None:
        """``a.jpg`` and ``a.png`` in one folder would share ``a.json``: neither may use it.

        Before the listing is done (the window shows the first image while it runs), only the
        image's own folder is read: images sharing a label file are always siblings."""
        if self._scan is not None:
            images = self._scan.conflicts.get(item.label_path)
        else:
            folder, stem = item.image_path.parent, os.path.splitext(item.image_path.name)[0]
            try:
                names = sorted(n for n in os.listdir(folder) if n.startswith(stem + "."))
            except OSError:
                names = []
            images = [folder / n for n in names if os.path.splitext(n)[0] == stem
                      and os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS and (folder / n).is_file()]
            images = images if len(images) > 1 else None
        if images:
            names = ", ".join(p.name for p in images)
            raise LabelFileReadError(
                item.label_path, f"one label file for several images ({names}): rename one of them"
            )

    def annotations(
        self, errors: list[FileProblem] | None = None, include_unlabeled: bool = False
    ) -> Iterator[tuple[Item, Annotation]]:
        """Yield ``(item, annotation)`` for every readable label file, in order.

        Bad files are skipped; their errors are appended to ``errors`` when given.
        With ``include_unlabeled``, images without a label file come with a new empty annotation.
        """
        for item in self.items:
            try:
                ann = self.load(item)
                if ann is None:
                    if not include_unlabeled:
                        continue
                    ann = self.new_annotation(item)
            except (LabelFileReadError, ImageFileError) as err:
                if errors is not None:
                    errors.append(err)
                continue
            yield item, ann

    def subset(self, items: Iterable[Item]) -> Dataset:
        """The same dataset seen through only ``items`` (e.g. the training folds of
        ``labeler train --folds``): listing, export and training see those images alone."""
        view = Dataset(self.root, labels=self.labels_dir)
        keep = {it.rel for it in items}
        scan = self.scan()
        view._scan = ScanResult(items=[it for it in scan.items if it.rel in keep],
                                conflicts=scan.conflicts)
        return view


def open_dataset(root: str | Path, labels: str | Path | None = None) -> Dataset:
    """Open a dataset folder (``labels``: a separate folder for the JSON files)."""
    return Dataset(root, labels=labels)
