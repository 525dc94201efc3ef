"""labelme's File and Edit extras and what the window remembers, bound to the window.

File > Open Folder (the window's ``open_folder`` lands here), Open File (the image's folder,
that image shown), Save As (a labelme copy elsewhere), Change Output Dir (another labels
folder), Delete File (the label file, confirmed, undoable); Edit > Keep Previous Annotation and
Preferences (the mouse wheel); the window layout (docks, toolbar, size) and the last image
opened in each folder, kept in the window's ``QSettings``; Enter in the file search box opens a
match. What is not a widget (saving a copy, removing the file, keeping shapes) is the
session's (:mod:`labeler.editing.session`); questions go through replaceable callables, so tests
answer them without dialogs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox

from labeler.dataset import Dataset, Item
from labeler.editing.preferences import Preferences
from labeler.errors import LabelerError
from labeler.gui.colors import reset_colors
from labeler.gui.options_dialog import preferences_dialog, remembered_preferences
from labeler.gui.workers import first_item
from labeler.io.images import IMAGE_EXTENSIONS

#: Folders whose last image is remembered (the oldest are forgotten first).
LAST_IMAGES = 50
#: The image on screen is written to the settings this long after it was opened, not at once: a
#: settings write (the whole file) on every "next" would fall on the frame being painted.
REMEMBER_MS = 2000


def _confirm(parent: Any, title: str, text: str) -> bool:
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, yes | no, no) == yes


class FileActions(QObject):
    """The window's File > Open File / Save As / Change Output Dir / Delete File, Edit > Keep
    Previous Annotation / Preferences, and its remembered layout and last images."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.settings = window.settings
        #: ``ask_image()`` -> an image path or "" (File > Open File).
        self.ask_image: Callable[[], str] = lambda: QFileDialog.getOpenFileName(
            window, "Open an image", "", "Images (" + " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS)) + ")")[0]
        #: ``ask_save_path(suggested)`` -> a .json path or "" (File > Save As).
        self.ask_save_path: Callable[[str], str] = lambda suggested: QFileDialog.getSaveFileName(
            window, "Save labels as", suggested, "labelme JSON (*.json)")[0]
        #: ``ask_labels_dir(start)`` -> a folder or "" (File > Change Output Dir).
        self.ask_labels_dir: Callable[[str], str] = lambda start: QFileDialog.getExistingDirectory(
            window, "Folder for the label files (JSON)", start)
        #: ``confirm(title, text)`` -> True to go on (File > Delete File).
        self.confirm: Callable[[str, str], bool] = lambda title, text: _confirm(window, title, text)
        #: ``ask_preferences()`` -> the accepted Preferences or None (Edit > Preferences).
        self.ask_preferences: Callable[[], Preferences | None] = lambda: preferences_dialog(window).ask()
        self._unwritten: tuple[str, str] | None = None  # (folder, image) not in the settings yet
        self._remember_timer = QTimer(self, singleShot=True, interval=REMEMBER_MS)
        self._remember_timer.timeout.connect(self.write_last_image)

    def install(self) -> None:
        """Once the window's docks and actions exist: restore what was remembered."""
        w = self.window
        keep = w.actions["toggle_keep_previous"]
        keep.setCheckable(True)
        keep.setChecked(self.settings.value("keep_previous", False, type=bool))
        w.session.keep_previous = keep.isChecked()
        self.apply_preferences(remembered_preferences(self.settings))
        geometry, state = self.settings.value("window/geometry"), self.settings.value("window/state")
        if geometry is not None:
            w.restoreGeometry(geometry)
        if state is not None:
            w.restoreState(state)
        w.installEventFilter(self)
        w.documentOpened.connect(self.remember_last_image)
        w.files.search.returnPressed.connect(self.open_search_match)
        w.files.search.installEventFilter(self)  # Up / Down: the previous / next match

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if obj is self.window and event.type() == QEvent.Type.Close:
            self.save_layout()
        elif obj is self.window.files.search and event.type() == QEvent.Type.KeyPress:
            step = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1}.get(event.key())  # type: ignore[attr-defined]
            if step is not None:
                self.open_search_match(step)
                return True
        return False

    def save_layout(self) -> None:
        """Remember the dock positions, toolbar and window size (restored at the next start)."""
        self.write_last_image()
        self.settings.setValue("window/geometry", self.window.saveGeometry())
        self.settings.setValue("window/state", self.window.saveState())

    # -- opening -------------------------------------------------------------------------------
    def open_folder(self, directory: Path | str | None = None, labels: Path | str | None = None,
                    show: str | None = None) -> bool:
        """Open a dataset folder and show image ``show`` (a path relative to the folder), else
        the image last opened there, else the first one."""
        w = self.window
        if directory is None or directory is False:
            chosen = QFileDialog.getExistingDirectory(w, "Open a folder of images")
            if not chosen:
                return False
            directory = chosen
        if not w._leave_document():
            return False
        try:
            ds = Dataset(directory, labels=labels)
            done = ds.recover(sweep_temp=False)  # an interrupted fix is finished or undone first
            first = self.item_at(ds, show or self.last_images().get(str(ds.root))) or first_item(ds)
        except (LabelerError, OSError) as err:
            w._error(str(err))
            return False
        if done.rolled_forward or done.rolled_back:
            w.statusBar().showMessage("Finished or undid a change an interrupted labeler left half done", 8000)
        w.session.set_dataset(ds)
        w.canvas.set_image(None)  # nothing of the last folder stays on screen
        w.loader.clear()
        reset_colors()
        if w.canvas.fit_mode is None:  # a zoom from the last folder does not carry over
            w.canvas.fit_mode = "window"
        # Show the first image at once; the full listing (seconds for 100,000 images) follows.
        w.files.show_dataset(ds, first)
        w.recent.remember(ds.root, ds.labels_dir)
        w.setWindowTitle(f"labeler — {ds.root}")
        if first is not None:
            w.open_row(0)
        return True

    @staticmethod
    def item_at(ds: Dataset, rel: str | None) -> Item | None:
        """The item of image ``rel`` when it is an image inside the folder (no full listing)."""
        if not rel:
            return None
        path = ds.root / rel
        inside = path.resolve().is_relative_to(ds.root.resolve())
        if not inside or path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            return None
        return Item(path, ds.label_path_for(path), path.relative_to(ds.root).as_posix())

    def open_file(self, path: Path | str | None = None) -> bool:
        """File > Open File: open the image's folder with that image shown (as labelme does)."""
        path = path or self.ask_image()
        if not path:
            return False
        path = Path(path).absolute()
        if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            self.window._error(f"{path}: not an image file labeler reads ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            return False
        return self.open_folder(path.parent, None, path.name)

    def change_output_dir(self, labels: Path | str | None = None) -> bool:
        """File > Change Output Dir: read and write the label files in another folder; the
        folder is opened again there, on the same image."""
        ds = self.window.dataset
        if ds is None:
            self.window._error("Open a folder first (File > Open Folder)")
            return False
        labels = labels or self.ask_labels_dir(str(ds.labels_dir or ds.root))
        if not labels:
            return False
        labels = Path(labels)
        rel = self.window.doc.item.rel if self.window.doc is not None else None
        same = labels.resolve() == ds.root.resolve()
        return self.open_folder(ds.root, None if same else labels, rel)

    # -- the label file ----------------------------------------------------------------------
    def save_as(self, path: Path | str | None = None) -> bool:
        """File > Save As: write the current labels to a chosen .json file (a copy; the
        dataset's own label file is saved as usual)."""
        doc = self.window.doc
        if doc is None:
            return False
        path = path or self.ask_save_path(str(doc.item.label_path))
        return bool(path) and self.window.session.save_as(path)

    def delete_file(self) -> bool:
        """File > Delete File: remove the current image's label file after a confirmation
        (Undo brings its shapes back)."""
        doc = self.window.doc
        if doc is None or not doc.item.label_path.is_file():
            self.window.statusBar().showMessage("This image has no label file to delete", 4000)
            return False
        if not self.confirm("Delete label file",
                            f"Delete {doc.item.label_path}?\n\nUndo (Ctrl+Z) brings its shapes back."):
            return False
        return self.window.session.delete_label_file()

    # -- edit ----------------------------------------------------------------------------------
    def toggle_keep_previous(self) -> None:
        """Edit > Keep Previous Annotation (remembered)."""
        on = self.window.actions["toggle_keep_previous"].isChecked()
        self.window.session.keep_previous = on
        self.settings.setValue("keep_previous", on)

    def preferences(self) -> Preferences | None:
        """Edit > Preferences…: ask, remember (the dialog does) and apply."""
        prefs = self.ask_preferences()
        if prefs is not None:
            self.apply_preferences(prefs)
        return prefs

    def apply_preferences(self, prefs: Preferences) -> None:
        self.window.canvas.wheel = prefs.wheel

    # -- remembered images ---------------------------------------------------------------------
    def last_images(self) -> dict[str, str]:
        """Folder -> the image last opened there (the "last_images" setting)."""
        self.write_last_image()
        raw = self.settings.value("last_images", "")
        try:
            data = json.loads(raw) if isinstance(raw, str) and raw else {}
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def remember_last_image(self, rel: str) -> None:
        """Remember ``rel`` as the open folder's last image (written :data:`REMEMBER_MS` later,
        or when the window closes or the settings are read)."""
        ds = self.window.dataset
        if ds is not None:
            self._unwritten = (str(ds.root), rel)
            self._remember_timer.start()

    def write_last_image(self) -> None:
        """Write the remembered last image to the settings now (if one is waiting)."""
        self._remember_timer.stop()
        if self._unwritten is None:
            return
        (root, rel), self._unwritten = self._unwritten, None
        data = {k: v for k, v in self.last_images().items() if k != root}
        data[root] = rel
        self.settings.setValue("last_images", json.dumps(dict(list(data.items())[-LAST_IMAGES:])))

    # -- the search box ------------------------------------------------------------------------
    def open_search_match(self, step: int = 1) -> bool:
        """Enter (or Down) in the file search box: open the first image the filters show, or,
        when the open image is one of them, the one after it (wrapping): Enter again steps
        through the matches. Up (``step`` -1) opens the one before it."""
        w = self.window
        w.ensure_listed()
        files = w.files
        n = files.proxy.rowCount()
        if n == 0:
            w.statusBar().showMessage("No image matches the search", 3000)
            return False
        cur = w.current_row()
        at = files.proxy.mapFromSource(files.model.index(cur)).row() if cur is not None else -1
        target = (at + step) % n if at >= 0 else (0 if step > 0 else n - 1)
        return w.open_row(files.proxy.mapToSource(files.proxy.index(target, 0)).row())
