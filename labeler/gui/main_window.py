"""The main window: docks and actions bound to a :class:`~labeler.editing.session.Session`.

Everything that is not a widget (open documents, autosave, the conflict policy, review
targeting, plugin jobs, classes, clipboard) lives in the session, which is Qt-free and tested
without a display; the window shows its events and turns menu actions into session calls.
Drawing modes come from the tool registry (:mod:`labeler.editing.tools`), plugins run in
:class:`~labeler.gui.workers.PluginWorker`, images decode in :class:`ImageLoader`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QWidget,
)

from labeler.dataset import Item
from labeler.editing.document import Document
from labeler.editing.session import (
    DOC_CACHE,  # noqa: F401 - its old home
    ClassesChanged,
    CurrentChanged,
    DocumentChanged,
    ErrorReported,
    Message,
    OpenFailed,
    Saved,
    Session,
)
from labeler.editing.tools import MODES, TOOLS, Gesture, ShapeDrawn
from labeler.gui.app import guard_none_refcount
from labeler.gui.canvas import Canvas
from labeler.gui.colors import assign_colors
from labeler.gui.extensions import install_extensions
from labeler.gui.file_actions import FileActions
from labeler.gui.files_dock import FilesDock
from labeler.gui.image_feed import ImageFeed
from labeler.gui.label_dialog import LabelAnswer, LabelDialog, ask_conflict, ask_unsaved, on_screen
from labeler.gui.options_dialog import ask_plugin_options
from labeler.gui.panels import ClassPanel, ReviewPanel, ShapeListPanel
from labeler.gui.plugin_menu import fill_plugins_menu
from labeler.gui.plugin_runs import PluginRuns
from labeler.gui.recent import RecentFolders
from labeler.gui.sam import SegmentBinding, SessionFactory
from labeler.gui.shortcuts import COMMANDS, ShortcutsDialog
from labeler.gui.status import ItemStatus, status_of_annotation
from labeler.gui.view_controls import ViewControls
from labeler.gui.workers import ImageLoader, PluginWorker
from labeler.io.images import ImageInfo
from labeler.threads import paint_on_one_thread

#: Autosave this long after the last edit (milliseconds).
AUTOSAVE_MS = 1500
#: Toolbar entries (besides one per tool) and their short labels.
TOOLBAR = {"open_folder": "Open", "save": "Save", "prev_image": "◀ Prev", "next_image": "Next ▶",
           **{f"mode_{t.name}": t.toolbar for t in TOOLS.values()}, "undo": "Undo", "redo": "Redo",
           "accept_suggestion": "Accept", "reject_suggestion": "Reject",
           "next_review": "Next to review", "fit_window": "Fit"}


class MainWindow(QMainWindow):
    """labeler's desktop window."""

    AUTOSAVE_MS = AUTOSAVE_MS

    imageShown = Signal(str)  # rel, when the decoded image is on screen
    fullResolutionShown = Signal(str)  # rel, when the full-size decode replaced the screen-size one
    documentOpened = Signal(str)  # rel, when the annotation is shown (image may still load)
    pluginFinished = Signal(object)  # RunSummary

    def __init__(self, settings: QSettings | None = None, sam_factory: SessionFactory | None = None,
                 max_side: int | None = None, autosave: bool = True) -> None:
        paint_on_one_thread()  # before Qt first paints (labeler.threads: no GUI thread pool)
        guard_none_refcount()  # PySide6 6.12 on Python < 3.12 (see labeler.gui.app)
        super().__init__()
        self.settings = settings if settings is not None else QSettings("labeler", "labeler")
        #: The Qt-free state and rules; GUI extensions receive it too.
        self.session = s = Session(autosave=autosave)
        #: Called as ``resolve(doc, state)`` when a save meets a file changed on disk; returns
        #: "merge", "overwrite", "reload" or "cancel" (a dialog whose default is "merge").
        self.resolve_conflict: Callable[[Document, str], str] = lambda doc, state: ask_conflict(self, doc, state)
        #: Called as ``ask(label, text, group_id)``; returns a LabelAnswer or None.
        self.ask_label: Callable[..., LabelAnswer | None] = self._ask_label_dialog
        #: Called as ``ask(kind, cls)`` before a plugin runs from the menu; returns its options
        #: or None to cancel (the options form by default; tests replace it).
        self.ask_options: Callable[[str, Any], Any] = lambda kind, cls: ask_plugin_options(self, kind, cls)
        s.resolve_conflict = lambda doc, state: self.resolve_conflict(doc, state)
        s.ask_label = lambda *a, **k: self.ask_label(*a, **k)
        self.runs = PluginRuns(self)
        self.setWindowTitle("labeler")
        self.resize(1400, 900)
        if max_side is None:
            screen = self.screen()
            geo = screen.geometry() if screen is not None else None
            dpr = screen.devicePixelRatio() if screen is not None else 1.0
            max_side = int(max(geo.width(), geo.height(), 1024) * dpr) if geo is not None else 2048
        self.loader = ImageLoader(max_side=max_side, parent=self)
        self.canvas = Canvas(self, view=s.view)
        self.feed = ImageFeed(self.loader, self.canvas, lambda: self.doc.item if self.doc else None, self._read_ahead)
        self.feed.shown.connect(self.imageShown.emit)
        self.feed.fullShown.connect(self.fullResolutionShown.emit)
        self.feed.failed.connect(self._image_failed)
        self.setCentralWidget(self.canvas)
        self.label_dialog = LabelDialog(self)
        self.file_actions = FileActions(self)  # File > Open File, Save As...; layout, last images
        self._build_docks()
        self.controls = ViewControls(self)  # Labels and Flags docks, brightness/contrast
        self._build_actions()
        self._build_statusbar()
        self._connect()
        self.segment = SegmentBinding(self, sam_factory)  # the SAM tool, its model choice, Find by Text
        self._autosave_timer = self._timer(self.session.autosave_now, single=True)
        self._watch_timer = self._timer(self.check_external_change)
        self._watch_timer.start(1000)
        self._classes_timer = self._timer(self._refresh_classes, single=True)
        self.extensions = install_extensions(self, self.session, self._dock, self._error)
        self.file_actions.install()

    def _timer(self, slot: Callable[[], Any], single: bool = False) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(single)
        timer.timeout.connect(slot)
        return timer

    # -- the session's state, as the window's attributes ---------------------------------------
    doc = property(lambda self: self.session.doc, doc="The current document (or None).")
    dataset = property(lambda self: self.session.dataset)
    classes = property(lambda self: self.session.classes)
    errors = property(lambda self: self.session.errors)
    _docs = property(lambda self: self.session.docs)
    items = property(lambda self: self.files.items)
    _rows = property(lambda self: self.files.rows)
    sam = property(lambda self: self.segment.ctl, doc="The Segment Anything controller.")

    autosave = property(lambda self: self.session.autosave,
                        lambda self, value: setattr(self.session, "autosave", value))

    # -- construction ------------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.files = FilesDock()
        self.files.session = self.session
        self.files.activated.connect(self.open_rel)
        self.files.listed.connect(self._listed)
        self.files.statusesArrived.connect(lambda: self._classes_timer.start(300))
        self.files.failed.connect(self._error)
        for name in ("model", "proxy", "view", "count"):  # their old names
            setattr(self, f"file_{name}", getattr(self.files, name))
        self.search, self.status_filter = self.files.search, self.files.status_filter
        self.issue_filter, self.label_filter = self.files.issue_filter, self.files.label_filter
        self.files_dock = self._dock("Files", self.files, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.class_panel = ClassPanel()
        self.class_panel.toggled.connect(lambda name: self.session.set_image_label(name, exclusive=False))
        self.classes_dock = self._dock("Classes (1-9: image label)", self.class_panel,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        rp = self.review_panel = ReviewPanel()
        for signal, slot in ((rp.acceptRequested, self.accept_suggestion), (rp.rejectRequested, self.reject_suggestion),
                             (rp.acceptAboveRequested, self.accept_above), (rp.threshold.valueChanged, self._threshold_changed),
                             (rp.nextRequested, self.next_review), (rp.reviewedToggled, self.session.set_reviewed),
                             (rp.suggestionSelected, lambda i: self.canvas.select([i])),
                             (rp.fixRequested, self.apply_fix), (rp.dismissRequested, self.dismiss_issue),
                             (rp.openRequested, self.open_rel), (rp.issueShown, self.canvas.show_issue)):
            signal.connect(slot)
        self.canvas.min_score = rp.threshold.value()
        self.review_dock = self._dock("Review", rp, Qt.DockWidgetArea.RightDockWidgetArea)
        self.shape_panel = ShapeListPanel()
        self.shape_panel.selectionRequested.connect(self.canvas.select)
        self.shape_panel.editRequested.connect(self.edit_label)
        self.shapes_dock = self._dock("Shapes", self.shape_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.review_dock, self.shapes_dock], [520, 260], Qt.Orientation.Vertical)
        self.resizeDocks([self.files_dock, self.classes_dock], [560, 220], Qt.Orientation.Vertical)
        self.resizeDocks([self.review_dock], [360], Qt.Orientation.Horizontal)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        self.actions: dict[str, QAction] = {}
        menus = {name: self.menuBar().addMenu(f"&{name}")
                 for name in ("File", "Edit", "View", "Draw", "Review", "Go", "Plugins", "Help")}
        self.plugins_menu = menus["Plugins"]
        self.recent_menu = QMenu("Open &Recent", self)
        for cmd in COMMANDS:
            act = QAction(cmd.text, self)
            if cmd.keys:
                act.setShortcuts([QKeySequence(k) for k in cmd.keys])
            act.setToolTip(cmd.help)
            act.setStatusTip(cmd.help)
            # The window's method, else File's, the session's (copy), the canvas's (zoom), the view's.
            slot = next(getattr(o, cmd.name) for o in (self, self.file_actions, self.session, self.canvas, self.controls)
                        if hasattr(o, cmd.name))
            act.triggered.connect(lambda _checked=False, s=slot: s())
            self.addAction(act)  # shortcuts work while docks have focus too
            menus[cmd.menu].addAction(act)
            self.actions[cmd.name] = act
            if cmd.name == "open_folder":
                menus["File"].addMenu(self.recent_menu)
        for name in ("toggle_autosave", "toggle_shapes", *(f"mode_{m}" for m in MODES)):
            self.actions[name].setCheckable(True)
        self.actions["toggle_autosave"].setChecked(self.autosave)
        self.actions["mode_edit"].setChecked(True)
        # 1-9 set an image-level label, Shift+1-9 toggle one.
        for k in range(1, 10):
            QShortcut(QKeySequence(str(k)), self, activated=lambda k=k: self._number_key(k, False))
            QShortcut(QKeySequence(f"Shift+{k}"), self, activated=lambda k=k: self._number_key(k, True))
        tools = self.addToolBar("Tools")
        tools.setObjectName("Tools")
        for name, text in TOOLBAR.items():
            act = self.actions[name]
            act.setIconText(text)
            keys = act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            act.setToolTip(f"{act.text().replace('&', '').rstrip('…')} ({keys})" if keys else act.text())
            tools.addAction(act)
            if name in ("save", "next_image", f"mode_{MODES[-1]}", "redo"):
                tools.addSeparator()
        self.recent = RecentFolders(self.settings, self.recent_menu, self.open_folder)
        fill_plugins_menu(self.plugins_menu, self.run_plugin, self._error)

    def _build_statusbar(self) -> None:
        sb = self.statusBar()
        self.position_label, self.zoom_label = QLabel(""), QLabel("")
        self.progress, self.cancel_button = self.runs.progress, self.runs.cancel_button
        for w in (self.position_label, self.zoom_label, self.progress, self.cancel_button):
            sb.addPermanentWidget(w)

    def _connect(self) -> None:
        c = self.canvas
        c.gesture.connect(self._gesture)
        c.drawingChanged.connect(lambda _drawing: self._update_undo_actions())
        c.context_actions = [self.actions[n] for n in ("edit_label", "delete", "copy", "paste", "duplicate")]
        c.selectionChanged.connect(self._selection_changed)
        c.zoomChanged.connect(lambda s: self.zoom_label.setText(f"{s * 100:.0f}%" if c.has_image else ""))
        c.cursorMoved.connect(lambda x, y: self.position_label.setText(f"x {x:.0f}  y {y:.0f}"))
        s = self.session
        s.subscribe(CurrentChanged, self._current_changed)
        s.subscribe(DocumentChanged, self._doc_changed)
        s.subscribe(Saved, lambda e: (self._sync_row(e.doc), self._update_title()))
        s.subscribe(OpenFailed, lambda e: self.files.set_status(e.rel, ItemStatus(error=e.message)))
        s.subscribe(ClassesChanged, self._classes_changed)
        s.subscribe(Message, lambda e: self.statusBar().showMessage(e.text, e.timeout_ms))
        s.subscribe(ErrorReported, lambda e: self.statusBar().showMessage(e.message.splitlines()[0], 10000))

    # -- folders and images ------------------------------------------------------------------
    def open_folder(self, directory: Path | str | None = None, labels: Path | str | None = None) -> bool:
        """Open a dataset folder and show its last opened (else first) image (see file_actions)."""
        return self.file_actions.open_folder(directory, labels)

    def _listed(self) -> None:
        for doc in self.session.docs.values():
            self._sync_row(doc)
        row = self.current_row()
        if row is not None:
            self.files.select_row(row)
            self.feed.prefetch(self._neighbours(row))
        elif self.items:
            self.open_row(0)

    def ensure_listed(self) -> None:
        """Wait for the background listing (before jumping to an image by name or position)."""
        self.files.ensure_listed()

    def wait_for_scan(self, msecs: int = 10000) -> None:
        """Block until the listing and the status scan end (tests, benchmarks)."""
        self.files.wait_for_scan(msecs)
        self._refresh_classes()

    def current_row(self) -> int | None:  # the image on screen (D/A step on from a failed one too)
        return self.files.rows.get(self.session.shown_rel or "")

    def open_rel(self, rel: str) -> bool:
        self.ensure_listed()
        row = self.files.rows.get(rel)
        return self.open_row(row) if row is not None else False

    def open_row(self, row: int) -> bool:
        """Show image ``row`` of the dataset (saving the current one first when autosave is on)."""
        if self.dataset is None or not (0 <= row < len(self.items)):
            return False
        item = self.items[row]
        if self.doc is not None and self.doc.item.rel == item.rel:
            return True
        if not self._leave_document():
            return False
        kept = self.session.docs.get(item.rel)
        doc = self.session.open_item(item, self.loader.info(item.image_path))
        if doc is None:
            self.files.select_row(row)  # its placeholder is on screen: the list shows which file
            return False
        if doc is not kept:  # read now; a kept (or read-ahead) one's row follows its every change
            self._sync_row(doc)
        self.feed.show(item, self._neighbours(row))
        self.files.select_row(row)
        self.documentOpened.emit(item.rel)
        return True

    def _neighbours(self, row: int) -> list[Item]:
        rows = self.files.visible_rows(row, 2, 1) + self.files.visible_rows(row, 1, -1)
        return [self.items[r] for r in rows]

    def _image_failed(self, rel: str, message: str) -> None:
        self._error(message)
        self.files.set_status(rel, ItemStatus(error=message))  # broken in the list too

    def _step(self, step: int, predicate: Callable[[int], bool] | None = None) -> bool:
        self.ensure_listed()
        return self.files.step(self.current_row(), step, self.open_row, predicate)

    def next_image(self) -> bool:
        return self._step(1)

    def prev_image(self) -> bool:
        return self._step(-1)

    def _needs_review(self, row: int) -> bool:
        doc = self.session.docs.get(self.items[row].rel)
        if doc is not None:
            return status_of_annotation(doc.annotation).needs_review
        st = self.file_model.statuses[row]
        return st is not None and st.needs_review

    def next_review(self) -> bool:
        return self._step(1, self._needs_review)

    def prev_review(self) -> bool:
        return self._step(-1, self._needs_review)

    # -- session events ----------------------------------------------------------------------
    def _current_changed(self, event: CurrentChanged) -> None:
        self.canvas.set_document(event.doc)
        if event.doc is None:  # none open (or one failed to): no image of another stays shown
            self.canvas.set_image(None, problem=self.session.failed[1] if self.session.failed else None)
        self._refresh_panels()
        self._update_title()

    def _doc_changed(self, event: DocumentChanged) -> None:
        self.canvas.refresh()
        self._refresh_panels()
        self._update_title()
        self._sync_row(event.doc)
        if self.session.wants_autosave(event.what):
            self._autosave_timer.start(AUTOSAVE_MS)

    def _classes_changed(self, event: ClassesChanged) -> None:
        assign_colors(event.classes)
        self.canvas.update()
        self.shape_panel.show_document(self.doc, self.canvas.selected)
        self.label_dialog.set_labels(event.classes)
        self.class_panel.show_classes(event.classes, self.doc)
        self.files.show_choices(event.classes)

    def _refresh_panels(self) -> None:
        doc = self.doc
        self.shape_panel.show_document(doc, self.canvas.selected)
        self.class_panel.show_classes(self.classes, doc)
        self.review_panel.show_document(doc)
        if self.canvas.selected:  # keep the review list's highlight on the selected suggestion
            self.review_panel.select_shape(self.canvas.selected[0])
        self._update_undo_actions()

    def _update_undo_actions(self) -> None:
        doc = self.doc  # while drawing, undo removes the last point
        self.actions["undo"].setEnabled(bool(doc and (doc.can_undo or self.canvas.is_drawing)))
        self.actions["redo"].setEnabled(bool(doc and doc.can_redo))

    def _update_title(self) -> None:
        self.setWindowTitle(self.session.title())

    def _selection_changed(self, indices: list[int]) -> None:
        self.shape_panel.select_rows(indices)
        self.review_panel.select_shape(indices[0] if len(indices) == 1 else None)

    def _refresh_classes(self) -> None:
        if not self.session.update_classes(self.file_model.all_labels(), replace=True):
            self.files.show_choices(self.classes)

    def _read_ahead(self, item: Item, info: ImageInfo | None) -> None:
        if self.session.preload(item, info):  # its row's status comes from the document now
            self._sync_row(self.session.docs[item.rel])

    def _sync_row(self, doc: Document) -> None:
        self.files.set_status(doc.item.rel, status_of_annotation(doc.annotation), dirty=doc.dirty)

    # -- saving ------------------------------------------------------------------------------
    def save(self, doc: Document | None = None) -> bool:
        """Save ``doc`` (default: the open one); asks what to do when the file changed on disk."""
        self._autosave_timer.stop()
        return self.session.save(doc)

    def _leave_document(self) -> bool:
        """Before showing another image: autosave, or keep the unsaved document in memory."""
        if self.canvas.is_drawing:
            self.canvas.cancel_drawing()
        return self.session.leave_current()

    def toggle_autosave(self) -> None:
        self.autosave = self.actions["toggle_autosave"].isChecked()

    def check_external_change(self) -> None:
        """Poll the open file: reload silently when we have nothing unsaved, else warn once."""
        self.session.check_external_change()

    # -- drawing and editing -----------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """Switch the canvas to the tool ``mode`` (one of :data:`labeler.editing.tools.MODES`)."""
        if TOOLS[mode].needs_segmenter and not self.segment.activate():
            self.actions[f"mode_{mode}"].setChecked(False)
            return
        for name in TOOLS:
            self.actions[f"mode_{name}"].setChecked(name == mode)
        self.canvas.set_mode(mode)
        self.canvas.setFocus()

    def _gesture(self, g: Gesture) -> None:
        """A finished gesture of a canvas tool: one session edit."""
        if isinstance(g, ShapeDrawn):
            self.session.add_drawn(g.shape_type, g.points)
        elif not self.segment.handles(g):  # the segment tool's prompts and Enter
            self.session.apply(g)

    def _ask_label_dialog(
        self, label: str = "", text: str | None = None, group_id: int | None = None
    ) -> LabelAnswer | None:
        self.label_dialog.set_labels(self.classes)
        return self.label_dialog.ask(label, text, group_id, near=on_screen(self.canvas, self.session.labeling_points))

    def _add_class(self, label: str) -> None:
        self.session.update_classes([label])

    def edit_label(self, index: int | None = None) -> None:
        self.session.edit_label(index if isinstance(index, int) else None)

    def delete(self) -> None:
        """Delete the selected vertex when one is selected (a clicked vertex), else the shapes."""
        if self.canvas.mode == "edit" and self.canvas.remove_selected_vertex():
            return
        self.session.delete()

    def undo(self) -> None:
        if not self.canvas.undo_last_point() and self.doc is not None:
            self.doc.undo()

    def redo(self) -> None:
        if self.doc is not None:
            self.doc.redo()

    def _number_key(self, k: int, toggle: bool) -> None:
        self.session.number_key(k, toggle)

    def set_image_label(self, label: str, exclusive: bool = True) -> None:
        """Image-level class label: ``exclusive`` replaces the others, else toggles ``label``."""
        self.session.set_image_label(label, exclusive)

    # -- view ------------------------------------------------------------------------------
    def toggle_shapes(self) -> None:
        self.canvas.hide_shapes = self.actions["toggle_shapes"].isChecked()
        self.canvas.update()

    def shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    # -- review ------------------------------------------------------------------------------
    def accept_suggestion(self) -> None:
        self.session.review(True, self.review_panel.current_suggestion())

    def reject_suggestion(self) -> None:
        self.session.review(False, self.review_panel.current_suggestion())

    def accept_above(self, threshold: float | None = None) -> None:
        t = self.review_panel.threshold.value() if threshold is None else float(threshold)
        self.session.accept_above(t)

    def _threshold_changed(self, value: float) -> None:
        # Suggestions below the accept-all threshold are drawn faint on the canvas.
        self.canvas.min_score = value
        self.canvas.update()

    def mark_reviewed(self) -> None:
        if self.doc is not None:
            self.doc.set_reviewed(True)
            self.next_review()

    def apply_fix(self) -> None:
        k = self.review_panel.current_issue()
        if self.doc is None or k is None:
            return self.statusBar().showMessage("No open issue here", 3000)
        stamp = self.feed.stamp(self.doc.item)
        if self.session.apply_fix(k) and self.doc is not None and self.feed.stamp(self.doc.item) != stamp:
            self.feed.refresh(self.doc.item)  # the fix rewrote the image (orientation)

    def dismiss_issue(self) -> None:
        k = self.review_panel.current_issue()
        if k is not None:
            self.session.dismiss_issue(k)

    # -- plugins (labeler.gui.plugin_runs) -------------------------------------------------
    def run_plugin(self, kind: str, name: str, current_only: bool = True, cls: Any = None) -> PluginWorker | None:
        """From the Plugins menu: ask the plugin's options (a form built from its ``Options``
        model, remembered per plugin), then run ``cls(options)`` in the background."""
        return self.runs.run_menu_entry(kind, name, current_only, cls)

    def run_autolabeler(self, name: str, current_only: bool = True, options: dict[str, Any] | None = None,
                        plugin: Any = None) -> PluginWorker | None:
        """Run an autolabeler on the open image or the listed images, in the background."""
        return self.runs.run_autolabeler(name, current_only, options, plugin)

    def run_check(self, name: str, options: dict[str, Any] | None = None, plugin: Any = None) -> PluginWorker | None:
        """Run a check over the listed images in the background."""
        return self.runs.run_check(name, options, plugin)

    def cancel_plugin(self) -> None:
        self.runs.cancel()

    worker = property(lambda self: self.runs.worker)
    _error_box = property(lambda self: self.runs.error_box)

    accept_sam = property(lambda self: self.segment.accept, doc="Keep the SAM polygon (Enter).")

    # -- misc --------------------------------------------------------------------------------
    def _error(self, message: str) -> None:
        self.session.error(message)

    _recent = property(lambda self: self.recent.entries)  # the "recent" setting's entries()
    _open_recent = property(lambda self: self.recent.open)  # open(entry)

    def quit(self) -> None:
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.runs.stop()
        unsaved = self.session.unsaved()
        if unsaved and self.autosave:
            if not all(self.save(d) for d in unsaved):
                event.ignore()
                return
        elif unsaved:
            ans = ask_unsaved(self, len(unsaved))
            if ans == "cancel" or (ans == "save" and not all(self.save(d) for d in unsaved)):
                event.ignore()
                return
        self.files.stop()
        self.sam.stop()
        self.loader.wait(5000)
        self._watch_timer.stop()
        super().closeEvent(event)


for _mode in TOOLS:  # one slot per tool (mode_edit, mode_polygon...): the Draw menu's actions
    setattr(MainWindow, f"mode_{_mode}", lambda self, m=_mode: self.set_mode(m))
