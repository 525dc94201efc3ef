"""The editing session: everything the desktop labeler does that is not a widget.

A :class:`Session` holds the dataset, the open documents (each keeps its undo history while
you page around), the current document, the selection (its :class:`EditorView`, shared with
the canvas), the clipboard, the class list, the save / autosave / conflict policy, review
targeting ("which suggestion does Y accept?") and the jobs that run plugins. It emits typed
events (:class:`CurrentChanged`, :class:`DocumentChanged`, :class:`Saved`, ...) that the window
subscribes to; it never imports Qt, so all of it is tested without a display.

Questions for the person go through replaceable callables, as in the window before:
``resolve_conflict(doc, state)`` (returns "merge", "overwrite", "reload" or "cancel") and
``ask_label(label, text, group_id)`` (returns an answer with ``label``, ``text`` and
``group_id``, or None; an answer may also carry ``flags``, ``description`` and ``difficult``,
and :attr:`Session.labeling` is the shape being relabelled). GUI extensions receive the session (``create(window, session=...)``).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from labeler.dataset import Dataset, Item
from labeler.editing.document import Document, ExternalChangeError
from labeler.editing.flags import shape_attributes, shown_flags
from labeler.editing.tools import (
    EditorView,
    EditRequested,
    Gesture,
    PointsEdited,
    ShapesMoved,
    VertexInserted,
    VertexRemoved,
)
from labeler.errors import LabelerError
from labeler.geometry import VERTEX_EDITABLE
from labeler.io.images import ImageInfo
from labeler.io.labelfile import save_annotation
from labeler.io.writes import ConcurrentChangeError, remove_stale_temps_of
from labeler.model import Annotation, Issue, Shape, ShapeMeta

#: Open documents kept in memory, so each image keeps its undo history while you page around.
DOC_CACHE = 32


# -- events --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CurrentChanged:
    """Another document (or none) is now the current one."""

    doc: Document | None


@dataclass(frozen=True)
class DocumentChanged:
    """The current document changed: ``what`` is "shapes", "meta", "all" or "saved"."""

    doc: Document
    what: str


@dataclass(frozen=True)
class Saved:
    """``doc`` was written (or its conflict resolved)."""

    doc: Document


@dataclass(frozen=True)
class OpenFailed:
    """The label file of ``rel`` could not be read."""

    rel: str
    message: str


@dataclass(frozen=True)
class ClassesChanged:
    """The list of known classes changed."""

    classes: list[str]


@dataclass(frozen=True)
class Message:
    """A line for the status bar, shown for ``timeout_ms``."""

    text: str
    timeout_ms: int = 3000


@dataclass(frozen=True)
class ErrorReported:
    """Something failed; the message names the file."""

    message: str


Event = CurrentChanged | DocumentChanged | Saved | OpenFailed | ClassesChanged | Message | ErrorReported
E = TypeVar("E")


@dataclass
class LabelAnswer:
    """What a person entered for a shape's label (what :attr:`Session.ask_label` returns; the
    GUI's label dialog fills it, tests and scripts build it directly)."""

    label: str
    text: str | None = None
    group_id: int | None = None
    #: labelme's shape flags shown for the label ({flag: checked}), the description and
    #: X-AnyLabeling's difficult box (None: not asked, the shape keeps what it has).
    flags: dict[str, bool] | None = None
    description: str | None = None
    difficult: bool | None = None


def own_copies(shapes: Iterable[Shape]) -> list[Shape]:
    """Copies of ``shapes`` as a person's own: no review state, score or source (an OCR text
    and everything else stays)."""
    out = []
    for shape in shapes:
        copy = shape.model_copy(deep=True)
        if copy.meta is not None:
            copy.meta.review = copy.meta.score = copy.meta.source = copy.meta.made = None
        out.append(copy)
    return out


# -- the session -------------------------------------------------------------------------------
class Session:
    """The desktop labeler's state and rules, without widgets (see the module docstring)."""

    def __init__(self, autosave: bool = True, cache_size: int = DOC_CACHE) -> None:
        self.dataset: Dataset | None = None
        self.docs: OrderedDict[str, Document] = OrderedDict()
        self.doc: Document | None = None
        self.view = EditorView()
        self.clipboard: list[Shape] = []
        self.classes: list[str] = []
        self.last_label = ""
        self.autosave = autosave
        self.cache_size = cache_size
        #: True while a plugin runs in the background: no external-change polling, and a save
        #: that meets a file the run wrote merges it without asking (the run's results stay).
        self.busy = False
        #: The image the person last tried to open and could not: (rel, why); None once one opens.
        self.failed: tuple[str, str] | None = None
        #: Every image that failed to open, with why: its classes are nobody's (the file list's
        #: quick scan, which does not validate, is not believed over this).
        self.unreadable: dict[str, str] = {}
        #: Points (image coordinates) of the shape whose label ``ask_label`` is asking now, so
        #: that the dialog can stand beside it; None when no shape is being labelled.
        self.labeling_points: list[tuple[float, float]] | None = None
        self.errors: list[str] = []
        self.resolve_conflict: Callable[[Document, str], str] = lambda doc, state: "merge"
        self.ask_label: Callable[..., LabelAnswer | None] = lambda *a, **k: None
        #: The shape whose label ``ask_label`` asks (None: a new shape), for its flags,
        #: description and ``difficult`` box.
        self.labeling: Shape | None = None
        #: labelme's ``--flags`` (image checkboxes) and ``--labelflags`` ({label pattern: flags}).
        self.image_flags: list[str] = []
        self.label_flags: dict[str, list[str]] = {}
        #: labelme's Edit > Keep Previous Annotation: an image without shapes, when opened,
        #: gets copies of the previous image's shapes (see :meth:`open_item`).
        self.keep_previous = False
        self._listeners: list[tuple[type, Callable[[Any], None]]] = []
        self._unsubscribe: Callable[[], None] | None = None

    # -- events --------------------------------------------------------------------------------
    def subscribe(self, kind: type[E], listener: Callable[[E], None]) -> Callable[[], None]:
        """Call ``listener(event)`` for every event of type ``kind``; returns an unsubscribe."""
        entry = (kind, listener)
        self._listeners.append(entry)
        return lambda: self._listeners.remove(entry) if entry in self._listeners else None

    def emit(self, event: Event) -> None:
        for kind, listener in list(self._listeners):
            if isinstance(event, kind):
                listener(event)

    def error(self, message: str) -> None:
        """Record and report a failure (the window shows it in the status bar)."""
        self.errors.append(message)
        self.emit(ErrorReported(message))

    def message(self, text: str, timeout_ms: int = 3000) -> None:
        self.emit(Message(text, timeout_ms))

    # -- dataset and documents -----------------------------------------------------------------
    def open_dataset(self, directory: Path | str, labels: Path | str | None = None) -> Dataset:
        """Open a dataset folder (raises LabelerError / OSError) and make it the session's."""
        ds = Dataset(directory, labels=labels)
        self.set_dataset(ds)
        return ds

    def set_dataset(self, ds: Dataset) -> None:
        """Work on ``ds`` from now on; forgets every open document and class."""
        self.dataset = ds
        self.docs.clear()
        self.failed = None
        self.unreadable.clear()
        self.set_current(None)
        self.classes = []
        self.emit(ClassesChanged([]))

    def open_item(self, item: Item, info: ImageInfo | None = None) -> Document | None:
        """Make ``item`` the current document (autosaving the one we leave); None when the
        current one could not be left (a refused save), or when the label file is unreadable or
        the file is no image: then no document is current (nothing of the last image stays on
        screen to be edited by mistake) and :attr:`failed` names the file. ``info``: the image
        header's facts when the caller has read them already (the image loader has)."""
        if self.dataset is None:
            return None
        if self.doc is not None and self.doc.item.rel == item.rel:
            return self.doc
        if not self.leave_current():
            return None
        previous = self.doc
        doc = self.docs.pop(item.rel, None)
        if doc is not None and not doc.dirty and doc.external_change():
            doc = None  # changed on disk while we were away and nothing of ours is pending
        if doc is None:
            try:
                doc = Document.open(self.dataset, item, info)
            except LabelerError as err:
                self.error(str(err))
                self.failed = (item.rel, str(err))
                self.unreadable[item.rel] = str(err)
                self.set_current(None)
                self.emit(OpenFailed(item.rel, str(err)))
                return None
            if doc.image_size() is None:
                try:
                    info = self.dataset.image_info(item)
                    doc.annotation.imageWidth, doc.annotation.imageHeight = info.width, info.height
                except LabelerError as err:
                    self.error(str(err))
        self.docs[item.rel] = doc
        self.unreadable.pop(item.rel, None)
        self._trim(doc)
        self.set_current(doc)
        if self.keep_previous and previous is not None and previous is not doc:
            self.keep_shapes_of(previous)
        return doc

    def preload(self, item: Item, info: ImageInfo | None = None) -> bool:
        """Read ``item``'s document ahead, while the person looks at another image (a neighbour
        they will likely open next), so that opening it reads nothing: :meth:`open_item` takes
        it from :attr:`docs`, after the same check that its file did not change on disk since.
        Nothing is shown or announced. False when it is open already or the current one, its
        file is unreadable (opening it reports why), its image size is unknown without ``info``
        (it is then read at the open, as usual), or no room is left among :attr:`cache_size`
        documents beside those with unsaved edits."""
        if self.dataset is None or item.rel in self.docs or item.rel in self.unreadable:
            return False
        try:
            doc = Document.open(self.dataset, item, info)
        except LabelerError:
            return False
        if doc.image_size() is None:
            return False
        self.docs[item.rel] = doc
        self._trim(self.doc, doc)
        if len(self.docs) > self.cache_size:  # no room left beside unsaved work: not kept
            del self.docs[item.rel]
            return False
        return True

    def _trim(self, *keep: Document | None) -> None:
        """Forget the least recently opened documents beyond :attr:`cache_size`; never one with
        unsaved edits, nor one of ``keep``."""
        for rel in list(self.docs):
            if len(self.docs) <= self.cache_size:
                break
            old = self.docs[rel]
            if not old.dirty and not any(old is k for k in keep):
                del self.docs[rel]

    def keep_shapes_of(self, previous: Document) -> int:
        """Keep Previous Annotation: when the current image has no shapes (rejected suggestions
        aside), copy ``previous``'s trusted shapes into it as one undoable step, as the person's
        own shapes (pending suggestions are not copied). Returns how many were copied."""
        doc = self.doc
        if doc is None or any(s.review != "rejected" for s in doc.shapes):
            return 0
        kept = own_copies(s for s in previous.shapes if s.is_trusted)
        if kept:
            doc.add_shapes(kept, name="Keep previous annotation")
            self.message(f"Kept {len(kept)} shape(s) of {previous.item.rel}", 3000)
        return len(kept)

    def set_current(self, doc: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.doc = doc
        if doc is not None:
            self.failed = None
        self.view.document = doc
        self.view.selected = []
        self.view.selected_vertex = None
        self.view.visibility.forget_shapes()
        if doc is not None:
            self._unsubscribe = doc.subscribe(lambda what, d=doc: self._changed(d, what))
        self.emit(CurrentChanged(doc))

    def _changed(self, doc: Document, what: str) -> None:
        self.view.refresh()
        if any(lab not in self.classes for lab in doc.annotation.labels()):
            self.update_classes(doc.annotation.labels())
        self.emit(DocumentChanged(doc, what))

    def wants_autosave(self, what: str = "shapes") -> bool:
        """True when the current document should be saved soon (after an edit), also while a
        plugin runs: the saves are compare-and-swap writes, merged with what the run wrote."""
        d = self.doc
        return what != "saved" and d is not None and d.dirty and self.autosave

    @property
    def shown_rel(self) -> str | None:
        """The image on screen: the open one, else the one that failed to open (or None)."""
        return self.doc.item.rel if self.doc is not None else (self.failed[0] if self.failed else None)

    def title(self) -> str:
        """The window title: the open image (`` *`` when unsaved), else the image that could
        not be opened, else the dataset."""
        if self.doc is not None:
            return f"labeler — {self.doc.item.rel}{' *' if self.doc.dirty else ''}"
        if self.failed is not None:
            return f"labeler — {self.failed[0]} (cannot be opened)"
        return f"labeler — {self.dataset.root}" if self.dataset is not None else "labeler"

    # -- saving --------------------------------------------------------------------------------
    def save(self, doc: Document | None = None) -> bool:
        """Save ``doc`` (default: the current one). A file changed on disk meanwhile is resolved
        with ``resolve_conflict``: "merge" (keep our edits, add what was saved), "overwrite",
        "reload" (drop our edits) or "cancel". False when nothing was saved."""
        doc = doc or self.doc
        if doc is None:
            return True
        try:
            saved = doc.save()
        except ExternalChangeError as err:
            # During a plugin run the change is (most likely) the run's own write: merged.
            choice = "merge" if self.busy else self.resolve_conflict(doc, err.state)
            if choice == "merge":
                try:
                    saved = doc.merge_from_disk()
                except ExternalChangeError:
                    self.error(f"{doc.item.label_path.name} keeps changing on disk; not saved yet")
                    return False
            elif choice == "overwrite":
                doc.save(force=True)
                saved = True
            elif choice == "reload":
                doc.reload()
                self.emit(Saved(doc))
                return True
            else:
                return False
        except LabelerError as err:
            self.error(str(err))
            return False
        if saved:
            self.message(f"Saved {doc.item.label_path.name}", 2000)
        self.emit(Saved(doc))
        return True

    def save_as(self, path: Path | str) -> bool:
        """labelme's File > Save As: write the current labels to ``path`` as a labelme JSON file
        whose ``imagePath`` leads from there to the image. The dataset's own label file is
        unchanged (it is saved as usual). False when nothing is open or the write failed."""
        doc = self.doc
        if doc is None:
            return False
        path = Path(path)
        ann = doc.annotation.model_copy(deep=True)
        ann.imagePath = Path(os.path.relpath(doc.item.image_path.resolve(), path.resolve().parent)).as_posix()
        try:
            save_annotation(ann, path)
        except LabelerError as err:
            self.error(str(err))
            return False
        remove_stale_temps_of(path)  # outside the dataset, no command sweeps what a kill left
        self.message(f"Saved a copy as {path}", 4000)
        return True

    def delete_label_file(self) -> bool:
        """labelme's File > Delete File: remove the current image's label file through the
        dataset's write path (:meth:`Dataset.remove_file`, under its lock). The document empties
        as one undo step ("Delete label file"): Undo brings the shapes back and the next save
        writes the file again. False when there is no file, it could not be removed, or another
        program rewrote it since it was read (it is then left alone)."""
        doc = self.doc
        if doc is None or self.dataset is None:
            return False
        path = doc.item.label_path
        if not path.is_file():
            self.message(f"{path.name} does not exist: nothing to delete")
            return False
        try:  # the version the person saw, not one another program wrote since
            self.dataset.remove_file(path, expect=doc.disk.data)
        except ConcurrentChangeError:
            self.error(f"{path}: changed on disk since it was opened (by another program); not deleted: "
                       "look at the new version first")
            return False
        except OSError as err:
            self.error(f"{path}: cannot delete: {err.strerror or err}")
            return False
        doc.reload(name="Delete label file")
        self.message(f"Deleted {path.name} (Undo brings its shapes back)", 5000)
        return True

    def autosave_now(self) -> None:
        if self.autosave and self.doc is not None and self.doc.dirty:
            self.save()

    def leave_current(self) -> bool:
        """Before showing another image: autosave, or keep the unsaved document in memory."""
        if self.doc is not None and self.doc.dirty and self.autosave:
            return self.save()
        return True

    def unsaved(self) -> list[Document]:
        return [d for d in self.docs.values() if d.dirty]

    def save_all(self) -> bool:
        """Save every document with unsaved edits (plugins read the files from disk)."""
        return all(self.save(doc) for doc in self.unsaved())

    def check_external_change(self) -> None:
        """Poll the current file: reload silently when we have nothing unsaved, else warn."""
        doc = self.doc
        if doc is None or self.busy:
            return
        state = doc.external_change()
        if state is None:
            return
        name = doc.item.label_path.name
        if not doc.dirty and state == "changed":
            doc.reload()
            self.emit(Saved(doc))
            self.message(f"{name} changed on disk: reloaded", 5000)
        elif doc.dirty:
            self.message(f"Warning: {name} changed on disk; saving will ask before overwriting", 5000)

    # -- classes -------------------------------------------------------------------------------
    def update_classes(self, labels: Sequence[str] | set[str], replace: bool = False) -> bool:
        """Add ``labels`` and those of every open document (``replace``: the list becomes
        those, e.g. after a scan of the whole folder); True when the list changed."""
        new = set(labels) | (set() if replace else set(self.classes))
        for d in self.docs.values():
            new |= set(d.annotation.labels())
        ordered = sorted(new)
        if ordered == self.classes:
            return False
        self.classes = ordered
        self.emit(ClassesChanged(list(ordered)))
        return True

    # -- edits ---------------------------------------------------------------------------------
    def apply(self, g: Gesture) -> None:
        """A finished gesture of a canvas tool, as one document edit (drawn shapes: see
        :meth:`add_drawn`; segmenter prompts go to the window's segmenter)."""
        doc = self.doc
        if doc is None:
            return
        if isinstance(g, ShapesMoved):
            doc.move_shapes(g.indices, g.dx, g.dy)
        elif isinstance(g, PointsEdited):
            doc.set_points(g.index, g.points)
        elif isinstance(g, VertexInserted):
            if doc.insert_vertex(g.index, g.position, (g.x, g.y)):
                self.view.select([g.index])
                self.view.selected_vertex = (g.index, g.position)
        elif isinstance(g, VertexRemoved):
            if not doc.remove_vertex(g.index, g.position):
                kind = doc.shapes[g.index].shape_type
                least = VERTEX_EDITABLE.get(kind)
                self.message(f"A {kind} keeps at least {least} points" if least
                             else f"A {kind} has a fixed number of points")
        elif isinstance(g, EditRequested):
            self.edit_label(g.index)

    def add_drawn(self, shape_type: str, points: list[tuple[float, float]]) -> int | None:
        """Ask the label of a drawn shape and add it; returns its index (None: cancelled)."""
        if self.doc is None:
            return None
        answer = self._ask_about(points, None, self.last_label, None)
        if answer is None:
            return None
        self.last_label = answer.label
        meta = ShapeMeta(text=answer.text) if answer.text else None
        flags, description, difficult = _attributes(answer)
        shape = Shape(label=answer.label, points=points, shape_type=shape_type,
                      group_id=answer.group_id, labeler=meta, flags=dict(flags or {}),
                      description=description or "", **({"difficult": True} if difficult else {}))
        i = self.doc.add_shape(shape)
        self.view.select([i])
        self.update_classes([answer.label])
        return i

    def edit_label(self, index: int | None = None) -> None:
        """Ask a new label (and OCR text, group) for shape ``index`` or the selected shapes."""
        doc = self.doc
        if doc is None:
            return
        indices = [index] if isinstance(index, int) else list(self.view.selected)
        if not indices:
            return
        first = doc.shapes[indices[0]]
        points = [p for i in indices for p in doc.shapes[i].points]
        answer = self._ask_about(points, first, first.label, first.text, first.group_id)
        if answer is None:
            return
        with doc.edit("Edit label"):
            # The group shown was the first shape's: a changed value applies to all of them.
            same_group = answer.group_id == first.group_id
            doc.set_label(indices, answer.label, group_id=answer.group_id, keep_group=same_group)
            if len(indices) == 1:
                doc.set_text(indices[0], answer.text)
            flags, description, difficult = _attributes(answer)  # the same rule: changed ones
            was = shape_attributes(first)
            doc.set_shape_attributes(
                indices, flags={k: v for k, v in (flags or {}).items() if was[0].get(k, False) != v},
                description=None if description in (None, was[1]) else description,
                difficult=None if difficult in (None, was[2]) else difficult)
        self.update_classes([answer.label])

    def _ask_about(self, points: list[tuple[float, float]], shape: Shape | None, *args: Any) -> LabelAnswer | None:
        """``ask_label(*args)`` with :attr:`labeling_points` (the shape's points, for the
        dialog's place) and :attr:`labeling` (the shape relabelled, None for a new one) set
        meanwhile."""
        self.labeling_points, self.labeling = list(points), shape
        try:
            return self.ask_label(*args)
        finally:
            self.labeling_points, self.labeling = None, None

    def delete(self) -> None:
        """Delete the selected shapes."""
        if self.doc is not None and self.view.selected:
            self.doc.remove_shapes(self.view.selected)
            self.view.select([])

    def copy(self) -> int:
        """Copy the selected shapes; returns how many."""
        if self.doc is None or not self.view.selected:
            return 0
        self.clipboard = [self.doc.shapes[i].model_copy(deep=True) for i in self.view.selected]
        self.message(f"Copied {len(self.clipboard)} shape(s)", 2000)
        return len(self.clipboard)

    def paste(self) -> None:
        """Paste the clipboard into the current document (also another image's)."""
        if self.doc is not None and self.clipboard:
            self.view.select(self.doc.add_shapes(self.clipboard))

    def duplicate(self) -> None:
        if self.doc is not None and self.view.selected:
            self.view.select(self.doc.duplicate(self.view.selected))

    def select_all(self) -> None:
        """Select every shape on screen (hidden ones are left alone)."""
        if self.doc is not None:
            self.view.select([i for i in range(len(self.doc.shapes)) if self.view.is_shown(i)])

    # -- flags ---------------------------------------------------------------------------------
    def shown_image_flags(self) -> dict[str, bool]:
        """The image flags of the current image: the configured ones, then those saved."""
        return shown_flags(self.image_flags, self.doc.annotation.flags if self.doc else None)

    def set_image_flag(self, name: str, value: bool) -> None:
        """Check or uncheck an image flag (one undo step); every shown flag is saved, as
        labelme saves them."""
        if self.doc is not None:
            self.doc.set_image_flags({**self.shown_image_flags(), name: bool(value)})

    def set_image_label(self, label: str, exclusive: bool = True) -> None:
        """Image-level class label: ``exclusive`` replaces the others, else toggles ``label``."""
        doc = self.doc
        if doc is None or (exclusive and doc.annotation.image_labels == [label]):
            return
        if exclusive:
            with doc.edit(f"Image label {label}", what="meta") as ann:
                ann.meta.image_labels = [lab for lab in ann.meta.image_labels if lab.review == "rejected"]
                doc.toggle_image_label(label)
        else:
            doc.toggle_image_label(label)

    def number_key(self, k: int, toggle: bool) -> None:
        """1-9: set class k as the image label; Shift+1-9: toggle it."""
        if k <= len(self.classes):
            self.set_image_label(self.classes[k - 1], exclusive=not toggle)

    # -- review --------------------------------------------------------------------------------
    def target_suggestion(self, highlighted: int | None = None) -> int | str | None:
        """What Accept / Reject act on: a selected suggestion, else the one highlighted in the
        review list, else the best-scored one shown (not hidden by the person), else an
        image-level suggestion (``"image:<label>"``)."""
        doc = self.doc
        if doc is None:
            return None
        sel = [i for i in self.view.selected if doc.shapes[i].is_suggestion]
        if sel:
            return sel[0]
        if highlighted is not None:
            return highlighted
        # Never one the person hid (a suggestion reviewed unseen).
        best = [(s.score or 0.0, i) for i, s in enumerate(doc.shapes) if s.is_suggestion and self.view.is_shown(i)]
        if best:
            return max(best)[1]
        for lab in doc.annotation.meta.image_labels:
            if lab.review == "suggested":
                return f"image:{lab.label}"
        return None

    def review(self, accept: bool, highlighted: int | None = None) -> bool:
        """Accept or reject the target suggestion, then select the next one."""
        doc = self.doc
        target = self.target_suggestion(highlighted)
        if doc is None or target is None:
            self.message("No suggestion to review here (N: next image to review)")
            return False
        if isinstance(target, str):
            doc.accept_image_label(target.split(":", 1)[1], accept)
        elif accept:
            doc.accept([target])
        else:
            doc.reject([target])
        self.view.select([i for i, s in enumerate(doc.shapes) if s.is_suggestion and self.view.is_shown(i)][:1])
        return True

    def accept_above(self, threshold: float) -> int:
        if self.doc is None:
            return 0
        n = self.doc.accept_above(threshold)
        self.message(f"Accepted {n} suggestion(s) with score ≥ {threshold:.2f}")
        return n

    def next_suggestion(self) -> None:
        """Select the suggestion after the selected one (wrapping)."""
        doc = self.doc
        sugg = [i for i, s in enumerate(doc.shapes) if s.is_suggestion] if doc is not None else []
        if not sugg:
            return
        cur = self.view.selected[0] if self.view.selected else -1
        after = [i for i in sugg if i > cur]
        self.view.select([after[0] if after else sugg[0]])

    def set_reviewed(self, value: bool) -> None:
        if self.doc is not None and self.doc.annotation.meta.reviewed != value:
            self.doc.set_reviewed(value)

    # -- issues and fixes ------------------------------------------------------------------------
    @staticmethod
    def fixer_for(issue: Issue) -> Any:
        """The first registered fixer that applies to ``issue`` (None: the built-in actions)."""
        from labeler.plugins import get_registry

        for cls in get_registry().fixers.values():
            try:
                fixer = cls()
                if fixer.applies_to(issue):
                    return fixer
            except Exception:  # noqa: BLE001 - a broken fixer is skipped
                continue
        return None

    def apply_fix(self, k: int) -> bool:
        """Apply issue ``k``'s proposed fix as one undoable step (a fixer plugin, else the
        generic ``suggested_fix`` actions)."""
        from labeler.fixes import apply_suggested_fix

        doc = self.doc
        if doc is None:
            return False
        issue = doc.annotation.meta.issues[k]
        fixer = self.fixer_for(issue)
        if fixer is not None and getattr(fixer, "modifies_images", False):
            return self._fix_files(doc, fixer, issue)
        try:
            if fixer is not None:
                ok = doc.apply_fix(k, lambda ann, iss: fixer.fix(doc.dataset, doc.item, ann, iss), fixer.name)
            else:
                ok = doc.apply_fix(k, apply_suggested_fix, "gui")
        except (LabelerError, OSError, ValueError) as err:
            self.error(f"Cannot apply the proposed fix of this {issue.kind} issue: {err}")
            return False
        if not ok:
            self.error(f"No fixer can apply the proposed fix of this {issue.kind} issue; "
                       "fix it by hand and dismiss it (Shift+F)")
        return ok

    def _fix_files(self, doc: Document, fixer: Any, issue: Issue) -> bool:
        """A fix that rewrites the image (orientation) runs as the CLI's does, one transaction
        with the label file (never a turned image beside unturned shapes), then the document
        is read again with a fresh history (an undo must not unturn the shapes alone: the
        fixer's own undo, ``labeler fix --undo``, puts both back)."""
        from labeler.pipeline import run_fix

        if doc.dirty and not self.save(doc):
            return False
        summary = run_fix(doc.dataset, fixer, items=[doc.item], kinds=[issue.kind])
        for problem in summary.failed:
            self.error(problem)
        if not summary.changed:
            return False
        fresh = Document.open(doc.dataset, doc.item)
        self.docs[doc.item.rel] = fresh
        self.set_current(fresh)
        self.message(f"{fixer.name}: fixed {doc.item.name} (labeler fix --plugin {fixer.name} --undo reverts it)")
        return True

    def dismiss_issue(self, k: int) -> None:
        if self.doc is not None:
            self.doc.set_issue_state(k, "dismissed")

    # -- plugin jobs -----------------------------------------------------------------------------
    def autolabel_job(self, plugin: Any, items: list[Item], redo: bool) -> Callable[..., Any] | None:
        """A job ``job(progress, should_stop, on_result)`` running ``plugin`` over ``items``
        (after saving every edit: plugins read the files); None when a save was refused."""
        from labeler.pipeline import run_autolabel

        ds = self.dataset
        if ds is None or not self.save_all():
            return None

        def job(progress: Any, should_stop: Any, on_result: Any) -> Any:
            return run_autolabel(ds, plugin, items=items, redo=redo, progress=progress,
                                 should_stop=should_stop, on_result=on_result)

        return job

    def check_job(self, plugin: Any, items: list[Item]) -> Callable[..., Any] | None:
        """A job running the check ``plugin`` over ``items``, reporting every touched image."""
        from labeler.pipeline import run_check

        ds = self.dataset
        if ds is None or not self.save_all():
            return None

        def job(progress: Any, should_stop: Any, on_result: Any) -> Any:
            summary, _findings = run_check(ds, plugin, items=items, progress=progress, should_stop=should_stop)
            for item in items:  # checks write at the end: report every touched image
                try:
                    ann = ds.load(item)
                except LabelerError:
                    continue
                if ann is not None:
                    on_result(item, ann)
            return summary

        return job

    def merge_result(self, item: Item, ann: Annotation, plugin: str) -> tuple[Annotation, Document | None]:
        """A plugin's fresh result for ``item``: merged into its open document (our unsaved
        edits stay); returns the annotation to show the status of, and the document."""
        doc = self.docs.get(item.rel)
        if doc is None:
            return ann, None
        doc.merge_result(ann, plugin)
        return doc.annotation, doc


def _attributes(answer: LabelAnswer) -> tuple[dict[str, bool] | None, str | None, bool | None]:
    """The flags, description and difficult of a label answer (None: not asked)."""
    return answer.flags, answer.description, answer.difficult
