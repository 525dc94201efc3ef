"""The document being edited: one image's annotation, its undo history and its save state.

Plain Python, no Qt (the widgets subscribe through :meth:`Document.subscribe`). Every edit goes
through :meth:`Document.edit`, which snapshots the annotation first, so undo and redo live here
and not in the widgets; a drag of many mouse events is one step because the canvas reports it
once, on release.

Saving goes through the dataset's write path (:meth:`labeler.dataset.Dataset.save`: atomic,
under the lock every labeler process takes) and refuses to overwrite a file that changed on
disk since it was read (:class:`ExternalChangeError`), for example because ``labeler
autolabel`` or labelme saved it meanwhile; :meth:`Document.merge_from_disk` then keeps the
person's edits and brings in what was saved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from labeler.dataset import Dataset, Item
from labeler.errors import LabelerError
from labeler.geometry import can_add_vertex, can_remove_vertex
from labeler.io.images import ImageInfo
from labeler.io.labelfile import dumps_annotation
from labeler.io.writes import ConcurrentChangeError
from labeler.model import Annotation, ImageLabel, Issue, Shape, ShapeMeta
from labeler.review import (
    Selection,
    accept_image_label,
    accept_shape,
    mark_fixed,
    merge_findings,
    merge_suggestions,
    own_suggestions,
    reject_image_label,
    reject_shape,
    resolve_relabelled,
    select_shapes,
)

#: How many undo steps one image keeps.
MAX_UNDO = 200

Listener = Callable[[str], None]


class ExternalChangeError(LabelerError):
    """The label file changed on disk since it was read; saving would overwrite someone's work."""

    def __init__(self, path: Path, state: str) -> None:
        self.path = path
        self.state = state  # "changed" or "deleted"
        super().__init__(f"{path}: {state} on disk since it was opened")


@dataclass(frozen=True)
class DiskState:
    """What the label file looked like when we last read or wrote it."""

    exists: bool
    mtime_ns: int = 0
    size: int = 0
    digest: str = ""
    #: The bytes themselves: a save succeeds only while the file still holds them.
    data: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def read(cls, path: Path) -> DiskState:
        """Stat and hash ``path`` (a missing file is a state too)."""
        try:
            st = path.stat()
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(exists=False)
        return cls(True, st.st_mtime_ns, st.st_size, hashlib.sha1(data).hexdigest(), data)

    def differs(self, path: Path) -> str | None:
        """None when ``path`` is as we left it, else ``"changed"`` or ``"deleted"``.

        The mtime and size are checked first (cheap); the content hash decides when they
        differ, so a ``touch`` or a rewrite with identical bytes is not a conflict.
        """
        try:
            st = path.stat()
        except FileNotFoundError:
            return "deleted" if self.exists else None
        if not self.exists:
            return "changed"
        if st.st_mtime_ns == self.mtime_ns and st.st_size == self.size:
            return None
        try:
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
        except OSError:
            return "changed"
        return None if digest == self.digest else "changed"


class Document:
    """One image's annotation with undo/redo, a dirty flag and on-disk change detection."""

    def __init__(self, dataset: Dataset, item: Item, annotation: Annotation, disk: DiskState):
        self.dataset = dataset
        self.item = item
        self.annotation = annotation
        self.disk = disk
        self._undo: list[tuple[str, Annotation]] = []
        self._redo: list[tuple[str, Annotation]] = []
        self._listeners: list[Listener] = []
        self._saved_text = dumps_annotation(annotation) if disk.exists else None
        self._dirty = False
        self._depth = 0

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def open(cls, dataset: Dataset, item: Item, info: ImageInfo | None = None) -> Document:
        """Read ``item``'s label file (or start an empty annotation). Raises on a bad file."""
        disk = DiskState.read(item.label_path)
        ann = dataset.load(item) if disk.exists else None
        if ann is None:
            ann = dataset.new_annotation(item, info)
        elif info is not None and (ann.imageWidth is None or ann.imageHeight is None):
            ann.imageWidth, ann.imageHeight = info.width, info.height
        return cls(dataset, item, ann, disk)

    # -- change notification -----------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(what)`` after every change; returns a function that unsubscribes.

        ``what`` is ``"shapes"``, ``"meta"``, ``"all"`` (undo, redo, reload) or ``"saved"``.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, what: str) -> None:
        for listener in list(self._listeners):
            listener(what)

    # -- state -------------------------------------------------------------------------------
    @property
    def shapes(self) -> list[Shape]:
        """The annotation's shapes (read them; change them through the edit methods)."""
        return self.annotation.shapes

    @property
    def dirty(self) -> bool:
        """True when there are changes not yet written to disk."""
        return self._dirty

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str:
        return self._undo[-1][0] if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1][0] if self._redo else ""

    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the image in annotation coordinates, when known."""
        a = self.annotation
        if a.imageWidth and a.imageHeight:
            return (a.imageWidth, a.imageHeight)
        return None

    # -- editing -----------------------------------------------------------------------------
    @contextmanager
    def edit(self, name: str, what: str = "shapes") -> Iterator[Annotation]:
        """Group changes to the annotation into one undo step named ``name``.

        Nested ``edit`` blocks join the outer step. If the block raises, the annotation is
        restored and nothing is recorded.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self.annotation
            finally:
                self._depth -= 1
            return
        before = self.annotation.model_copy(deep=True)
        self._depth = 1
        try:
            yield self.annotation
        except BaseException:
            self.annotation = before
            raise
        finally:
            self._depth = 0
        if dumps_annotation(before) == dumps_annotation(self.annotation):
            return  # a no-op edit leaves no undo step
        self._undo.append((name, before))
        del self._undo[:-MAX_UNDO]
        self._redo.clear()
        self._dirty = True
        self._emit(what)

    def undo(self) -> bool:
        """Go back one step; False when there is nothing to undo."""
        if not self._undo:
            return False
        name, before = self._undo.pop()
        self._redo.append((name, self.annotation))
        self.annotation = before
        self._update_dirty()
        self._emit("all")
        return True

    def redo(self) -> bool:
        """Re-apply the last undone step; False when there is nothing to redo."""
        if not self._redo:
            return False
        name, after = self._redo.pop()
        self._undo.append((name, self.annotation))
        self.annotation = after
        self._update_dirty()
        self._emit("all")
        return True

    def _update_dirty(self) -> None:
        if self._saved_text is None:
            self._dirty = self.annotation.is_labeled or bool(self._undo)
        else:
            self._dirty = dumps_annotation(self.annotation) != self._saved_text

    def add_shape(self, shape: Shape) -> int:
        """Append a shape; returns its index."""
        with self.edit(f"Add {shape.shape_type}") as ann:
            ann.shapes.append(shape)
        return len(self.shapes) - 1

    def add_shapes(self, shapes: Sequence[Shape], name: str = "Paste") -> list[int]:
        """Append copies of ``shapes`` (paste); returns their indices."""
        start = len(self.shapes)
        with self.edit(name) as ann:
            ann.shapes.extend(s.model_copy(deep=True) for s in shapes)
        return list(range(start, len(self.shapes)))

    def remove_shapes(self, indices: Sequence[int]) -> None:
        """Delete shapes (a suggestion deleted this way is not remembered as rejected)."""
        drop = set(indices)
        if not drop:
            return
        with self.edit(f"Delete {len(drop)} shape(s)") as ann:
            ann.shapes = [s for i, s in enumerate(ann.shapes) if i not in drop]

    def set_points(self, index: int, points: Sequence[tuple[float, float]], name: str = "Edit shape") -> None:
        """Replace one shape's points (vertex drag, SAM refinement)."""
        with self.edit(name) as ann:
            ann.shapes[index].points = [(float(x), float(y)) for x, y in points]

    def insert_vertex(self, index: int, position: int, point: tuple[float, float]) -> bool:
        """Add a point to a polygon or linestrip before vertex ``position`` (labelme's "Add Point
        to Edge"); returns False for shapes whose vertex count is fixed."""
        shape = self.shapes[index]
        if not can_add_vertex(shape) or not 0 <= position <= len(shape.points):
            return False
        with self.edit("Add point") as ann:
            pts = list(ann.shapes[index].points)
            pts.insert(position, (float(point[0]), float(point[1])))
            ann.shapes[index].points = pts
        return True

    def remove_vertex(self, index: int, position: int) -> bool:
        """Remove one vertex of a polygon (keeping at least 3) or a linestrip (keeping 2);
        returns False when the shape cannot lose a point."""
        shape = self.shapes[index]
        if not can_remove_vertex(shape) or not 0 <= position < len(shape.points):
            return False
        with self.edit("Remove point") as ann:
            ann.shapes[index].points = [q for k, q in enumerate(ann.shapes[index].points) if k != position]
        return True

    def move_shapes(self, indices: Sequence[int], dx: float, dy: float) -> None:
        """Translate shapes by (dx, dy)."""
        if not indices or (dx == 0 and dy == 0):
            return
        with self.edit(f"Move {len(indices)} shape(s)") as ann:
            for i in indices:
                s = ann.shapes[i]
                s.points = [(x + dx, y + dy) for x, y in s.points]

    def set_label(
        self, indices: Sequence[int], label: str, group_id: int | None = None,
        description: str | None = None, keep_group: bool = True,
    ) -> None:
        """Change the label (and optionally group id / description) of shapes; the open
        findings that questioned a shape's old class are resolved (a person decided)."""
        with self.edit("Change label") as ann:
            for i in indices:
                s = ann.shapes[i]
                old, s.label = s.label, label
                resolve_relabelled(ann, i, old)
                if not keep_group:
                    s.group_id = group_id
                if description is not None:
                    s.description = description

    def set_text(self, index: int, text: str | None) -> None:
        """Set the OCR transcription of a text shape (empty string clears it)."""
        with self.edit("Edit text") as ann:
            s = ann.shapes[index]
            if s.meta is None and not text:
                return  # no text to clear: no empty "labeler" block either
            if s.meta is None:
                s.meta = ShapeMeta()
            s.meta.text = text or None

    def set_shape_attributes(
        self, indices: Sequence[int], flags: Mapping[str, bool] | None = None,
        description: str | None = None, difficult: bool | None = None,
    ) -> None:
        """Set labelme's ``flags`` (merged: other saved flags stay) and ``description``, and
        X-AnyLabeling's ``difficult`` of shapes; None leaves a field as it is. ``difficult``
        False on a shape without the key adds no key (a labelme file stays labelme's)."""
        with self.edit("Edit shape attributes") as ann:
            for i in indices:
                s = ann.shapes[i]
                if flags is not None:
                    s.flags = {**(s.flags or {}), **flags}
                if description is not None:
                    s.description = description
                extra = s.model_extra if s.model_extra is not None else {}
                if difficult is not None and (difficult or "difficult" in extra):
                    extra["difficult"] = bool(difficult)

    def set_image_flags(self, flags: Mapping[str, bool]) -> None:
        """Set image flags (the file's top-level ``flags``; other saved flags stay)."""
        with self.edit("Image flags", what="meta") as ann:
            ann.flags = {**(ann.flags or {}), **flags}

    def duplicate(self, indices: Sequence[int], offset: float = 10.0) -> list[int]:
        """Copy shapes in place, shifted a little (Ctrl+D); returns the new indices."""
        copies = []
        for i in indices:
            c = self.shapes[i].model_copy(deep=True)
            c.points = [(x + offset, y + offset) for x, y in c.points]
            copies.append(c)
        return self.add_shapes(copies, name="Duplicate")

    # -- review ------------------------------------------------------------------------------
    def accept(self, indices: Sequence[int]) -> int:
        """Accept suggestions; returns how many were suggestions."""
        todo = [i for i in indices if self.shapes[i].is_suggestion]
        if todo:
            with self.edit(f"Accept {len(todo)} suggestion(s)"):
                for i in todo:
                    accept_shape(self.annotation, i)
        return len(todo)

    def reject(self, indices: Sequence[int]) -> int:
        """Reject suggestions (removed, and remembered so the plugin does not suggest them again)."""
        todo = sorted((i for i in indices if self.shapes[i].is_suggestion), reverse=True)
        if todo:
            with self.edit(f"Reject {len(todo)} suggestion(s)"):
                for i in todo:
                    reject_shape(self.annotation, i)
        return len(todo)

    def accept_above(self, min_score: float) -> int:
        """Accept every suggestion whose score is at least ``min_score`` (the rule of
        ``labeler review --accept-above``: unscored ones are left); returns the count."""
        return self.accept(select_shapes(self.annotation, Selection(at_least=min_score)))

    def set_reviewed(self, reviewed: bool) -> None:
        """Mark the whole image as done (or not)."""
        with self.edit("Mark reviewed" if reviewed else "Unmark reviewed", what="meta") as ann:
            ann.meta.reviewed = reviewed

    # -- image-level labels ------------------------------------------------------------------
    def toggle_image_label(self, label: str, exclusive: bool = False) -> None:
        """Add or remove an image-level label (``exclusive``: single-label classification)."""
        with self.edit(f"Image label {label}", what="meta") as ann:
            labels = ann.meta.image_labels
            present = [lab for lab in labels if lab.label == label and lab.review != "rejected"]
            if present:
                ann.meta.image_labels = [lab for lab in labels if lab not in present]
                return
            if exclusive:
                labels = []
            ann.meta.image_labels = [*labels, ImageLabel(label=label)]

    def accept_image_label(self, label: str, accept: bool = True) -> None:
        """Accept or reject an image-level suggestion."""
        with self.edit("Review image label", what="meta") as ann:
            for i, lab in enumerate(ann.meta.image_labels):
                if lab.label == label and lab.review == "suggested":
                    (accept_image_label if accept else reject_image_label)(ann, i)

    # -- issues ------------------------------------------------------------------------------
    def set_issue_state(self, index: int, state: str, fixed_by: str | None = None) -> None:
        """Dismiss or reopen an issue."""
        with self.edit(f"Issue {state}", what="meta") as ann:
            issue = ann.meta.issues[index]
            issue.state = state  # type: ignore[assignment]
            issue.fixed_by = fixed_by

    def apply_fix(self, index: int, fix: Callable[[Annotation, Issue], bool], by: str) -> bool:
        """Apply a fix to issue ``index`` as one undoable step; ``fix`` edits in place."""
        with self.edit(f"Fix {self.annotation.meta.issues[index].kind}", what="all") as ann:
            issue = ann.meta.issues[index]
            if not fix(ann, issue):
                return False
            mark_fixed(issue, by)
        return True

    # -- results of plugins run in the background ---------------------------------------------
    def merge_result(self, result: Annotation, plugin: str) -> None:
        """Bring ``plugin``'s fresh output (already written to disk by the pipeline) in.

        Our own unsaved edits are kept: the plugin's suggestions and issues are merged into
        our copy with the pipeline's rules, as one undoable step, and the file on disk becomes
        the new reference (so the next save is not reported as an external change).
        """
        was_dirty = self._dirty
        with self.edit(f"Results of {plugin}", what="all") as ann:
            merge_plugin_output(ann, result, plugin)
        self.disk = DiskState.read(self.item.label_path)
        if not was_dirty:
            # Nothing of ours was pending: what we hold now is what the pipeline wrote.
            self._saved_text = dumps_annotation(self.annotation)
            self._update_dirty()
            self._emit("saved")

    # -- disk --------------------------------------------------------------------------------
    def external_change(self) -> str | None:
        """None when the label file is as we read or wrote it, else "changed" or "deleted"."""
        return self.disk.differs(self.item.label_path)

    def save(self, force: bool = False) -> bool:
        """Write the annotation atomically; returns False when there was nothing to write.

        Raises :class:`ExternalChangeError` when the file changed on disk since we read it,
        unless ``force``.
        """
        text = dumps_annotation(self.annotation)
        if text == self._saved_text and not force:
            self._dirty = False
            return False
        if self._saved_text is None and not self.annotation.is_labeled and not self.disk.exists \
                and not self.annotation.meta.reviewed and not force:
            # Never create a label file for an image nobody labeled.
            self._dirty = False
            return False
        # Through the dataset's write path: under the lock every labeler process takes, and only
        # while the file still holds what we read (a pipeline or labelme may have saved since).
        expect = ... if force else (self.disk.data if self.disk.exists else None)
        try:
            self.dataset.save(self.item, self.annotation, text, expect=expect)
        except ConcurrentChangeError:
            state = self.external_change() or "changed"
            raise ExternalChangeError(self.item.label_path, state) from None
        self.disk = DiskState.read(self.item.label_path)
        self._saved_text = text
        self._dirty = False
        self._emit("saved")
        return True

    def merge_from_disk(self) -> bool:
        """Keep our edits and bring in what was saved on disk since we read it, then save.

        From the disk version come every plugin's suggestions and findings (merged with the
        pipeline's rules, so a rerun's suggestions replace its older ones), their run records,
        and the shapes another program added (present on disk, absent from the version we
        read). Our own changes all stay. Returns True when saved; raises
        :class:`ExternalChangeError` when the file changed yet again meanwhile.
        """
        disk = DiskState.read(self.item.label_path)
        if not disk.exists:
            return self.save(force=True)
        theirs = self.dataset.load(self.item)
        assert theirs is not None
        base_text = self._saved_text
        base = Annotation.model_validate_json(base_text) if base_text else None
        with self.edit("Merge with the file on disk", what="all") as ann:
            merge_disk_version(ann, base, theirs)
        self.disk = disk
        return self.save()

    def reload(self, name: str = "Reload from disk") -> None:
        """Discard our version and read the file again (as an undoable step named ``name``)."""
        fresh = Document.open(self.dataset, self.item)
        with self.edit(name, what="all") as _ann:
            self.annotation = fresh.annotation
        self.disk = fresh.disk
        self._saved_text = fresh._saved_text
        self._update_dirty()
        self._emit("saved")


def merge_plugin_output(ours: Annotation, theirs: Annotation, plugin: str) -> None:
    """Bring ``plugin``'s output in ``theirs`` into ``ours`` (edited in place) with the
    pipeline's merge rules: its unreviewed shape and image-label suggestions, its findings and
    its run record; everything else of ours stays."""
    shapes, labels = own_suggestions(theirs, plugin)
    merge_suggestions(ours, [s.model_copy(deep=True) for s in shapes], plugin,
                      new_image_labels=[lab.model_copy(deep=True) for lab in labels])
    merge_findings(ours, plugin, [i.model_copy(deep=True) for i in theirs.meta.issues
                                  if i.source is not None and i.source.plugin == plugin])
    if plugin in theirs.meta.processed:
        ours.meta.processed[plugin] = theirs.meta.processed[plugin].model_copy(deep=True)


def merge_disk_version(ours: Annotation, base: Annotation | None, theirs: Annotation) -> None:
    """Bring into ``ours`` (edited in place) what ``theirs`` (the file now) added since
    ``base`` (the file as we read it): see :meth:`Document.merge_from_disk`."""
    plugins = {s.source.plugin for s in theirs.shapes if s.is_suggestion and s.source}
    plugins |= {i.source.plugin for i in theirs.meta.issues if i.source}
    plugins |= {lab.source.plugin for lab in theirs.meta.image_labels
                if lab.review == "suggested" and lab.source}
    plugins |= set(theirs.meta.processed)
    for plugin in sorted(plugins):
        merge_plugin_output(ours, theirs, plugin)
    known = {s.fingerprint() for s in (base.shapes if base else [])}
    known |= {s.fingerprint() for s in ours.shapes}
    for shape in theirs.shapes:
        if not shape.is_suggestion and shape.fingerprint() not in known:
            ours.shapes.append(shape.model_copy(deep=True))  # another program's new shape
    rejected = {(r.label, tuple(r.points)) for r in ours.meta.rejected}
    ours.meta.rejected.extend(r for r in theirs.meta.rejected
                              if (r.label, tuple(r.points)) not in rejected)
