"""The main window: file list, canvas, shape/class/review panels, menus, plugin runs.

A thin view over :mod:`labeler.dataset`, :mod:`labeler.pipeline` and the plugin registry:
edits go to the open :class:`~labeler.gui.document.Document` (undo lives there), plugins run in
:class:`~labeler.gui.workers.PluginWorker`, images decode in :class:`ImageLoader`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from labeler.dataset import Dataset, Item
from labeler.editing.document import Document, ExternalChangeError
from labeler.editing.tools import (
    MODES,
    TOOLS,
    EditRequested,
    Gesture,
    PointsEdited,
    SegmentPrompt,
    ShapeDrawn,
    ShapesMoved,
    VertexInserted,
    VertexRemoved,
)
from labeler.errors import LabelerError
from labeler.gui.app import guard_none_refcount
from labeler.gui.canvas import Canvas
from labeler.gui.colors import assign_colors, reset_colors
from labeler.gui.file_list import FileFilterModel, FileListModel, RelRole
from labeler.gui.label_dialog import LabelAnswer, LabelDialog
from labeler.gui.options_dialog import PluginOptionsDialog, has_options
from labeler.gui.panels import ClassPanel, ReviewPanel, ShapeListPanel
from labeler.gui.sam import SamController, SessionFactory
from labeler.gui.shortcuts import COMMANDS, ShortcutsDialog
from labeler.gui.status import STATUSES, ItemStatus, status_of_annotation
from labeler.gui.workers import ImageLoader, ListWorker, PluginWorker, StatusScanner, first_item
from labeler.model import Shape, ShapeMeta

#: Open documents kept in memory, so each image keeps its undo history while you page around.
DOC_CACHE = 32
#: Autosave this long after the last edit (milliseconds).
AUTOSAVE_MS = 1500


class MainWindow(QMainWindow):
    """labeler's desktop window."""

    imageShown = Signal(str)  # rel, when the decoded image is on screen
    fullResolutionShown = Signal(str)  # rel, when the full-size decode replaced the screen-size one
    documentOpened = Signal(str)  # rel, when the annotation is shown (image may still load)
    pluginFinished = Signal(object)  # RunSummary

    def __init__(self, settings: QSettings | None = None, sam_factory: SessionFactory | None = None,
                 max_side: int | None = None, autosave: bool = True) -> None:
        guard_none_refcount()  # PySide6 6.12 on Python < 3.12 (see labeler.gui.app)
        super().__init__()
        self.settings = settings if settings is not None else QSettings("labeler", "labeler")
        self.dataset: Dataset | None = None
        self.doc: Document | None = None
        self._docs: OrderedDict[str, Document] = OrderedDict()
        self._unsubscribe: Callable[[], None] | None = None
        self._rows: dict[str, int] = {}
        self.classes: list[str] = []
        self._clipboard: list[Shape] = []
        self.autosave = autosave
        self.worker: PluginWorker | None = None
        self._scanner: StatusScanner | None = None
        self._lister: ListWorker | None = None
        self.last_label = ""
        #: Called as ``resolve(doc, state)`` when a save meets a file changed on disk;
        #: returns "merge", "overwrite", "reload" or "cancel" (a dialog by default, whose
        #: default button is "merge": the person's edits are kept; tests replace it).
        self.resolve_conflict: Callable[[Document, str], str] = self._ask_conflict
        #: Called as ``ask(label, text)``; returns a LabelAnswer or None (tests replace it).
        self.ask_label: Callable[..., LabelAnswer | None] = self._ask_label_dialog
        #: Called as ``ask(kind, cls)`` before a plugin runs from the menu; returns the plugin's
        #: validated options or None to cancel (the options form by default; tests replace it).
        self.ask_options: Callable[[str, Any], Any] = self._ask_options_dialog
        self.errors: list[str] = []
        self.setWindowTitle("labeler")
        self.resize(1400, 900)

        screen = self.screen()
        if max_side is None:
            geo = screen.geometry() if screen is not None else None
            dpr = screen.devicePixelRatio() if screen is not None else 1.0
            max_side = int(max(geo.width(), geo.height(), 1024) * dpr) if geo is not None else 2048
        self.loader = ImageLoader(max_side=max_side, parent=self)
        self.loader.loaded.connect(self._image_loaded)
        self.loader.failed.connect(self._image_failed)
        self.loader.fullLoaded.connect(self._full_image_loaded)
        self.sam = SamController(sam_factory, self)
        self.sam.ready.connect(self._sam_ready)
        self.sam.busy.connect(self._sam_busy)
        self.sam.error.connect(lambda m: self._error(f"Segment Anything: {m}"))
        self._sam_used = False

        self.canvas = Canvas(self)
        self.setCentralWidget(self.canvas)
        self.label_dialog = LabelDialog(self)
        self._build_docks()
        self._build_actions()
        self._build_statusbar()
        self._connect_canvas()
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.timeout.connect(self._autosave_now)
        self._watch_timer = QTimer(self)
        self._watch_timer.timeout.connect(self.check_external_change)
        self._watch_timer.start(1000)
        self._classes_timer = QTimer(self)
        self._classes_timer.setSingleShot(True)
        self._classes_timer.timeout.connect(self._refresh_classes)
        self._load_extensions()

    # -- construction ------------------------------------------------------------------------
    def _build_docks(self) -> None:
        # files
        self.file_model = FileListModel(self)
        self.file_proxy = FileFilterModel(self)
        self.file_proxy.setSourceModel(self.file_model)
        self.file_view = QListView()
        self.file_view.setModel(self.file_proxy)
        self.file_view.setUniformItemSizes(True)
        self.file_view.activated.connect(self._file_activated)
        self.file_view.clicked.connect(self._file_activated)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search file names…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda t: self._set_filter(search=t))
        self.status_filter = QComboBox()
        self.status_filter.addItem("All images", "")
        self.status_filter.addItem("Needs review", "needs_review")
        for s in STATUSES:
            self.status_filter.addItem(s.capitalize(), s)
        self.status_filter.currentIndexChanged.connect(
            lambda _i: self._set_filter(status=self.status_filter.currentData()))
        self.issue_filter = QComboBox()
        self.issue_filter.addItem("Any issue kind", "")
        self.issue_filter.currentIndexChanged.connect(
            lambda _i: self._set_filter(issue_kind=self.issue_filter.currentData() or ""))
        self.label_filter = QComboBox()
        self.label_filter.addItem("Any label", "")
        self.label_filter.currentIndexChanged.connect(
            lambda _i: self._set_filter(label=self.label_filter.currentData() or ""))
        self.file_count = QLabel("")
        files = QWidget()
        lay = QVBoxLayout(files)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.search)
        row = QHBoxLayout()
        row.addWidget(self.status_filter)
        row.addWidget(self.issue_filter)
        row.addWidget(self.label_filter)
        lay.addLayout(row)
        lay.addWidget(self.file_view)
        lay.addWidget(self.file_count)
        self.files_dock = self._dock("Files", files, Qt.DockWidgetArea.LeftDockWidgetArea)

        self.class_panel = ClassPanel()
        self.class_panel.toggled.connect(lambda name: self.set_image_label(name, exclusive=False))
        self.classes_dock = self._dock("Classes (1-9: image label)", self.class_panel,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)

        self.review_panel = ReviewPanel()
        self.review_panel.acceptRequested.connect(self.accept_suggestion)
        self.review_panel.rejectRequested.connect(self.reject_suggestion)
        self.review_panel.acceptAboveRequested.connect(self.accept_above)
        self.review_panel.threshold.valueChanged.connect(self._threshold_changed)
        self.canvas.min_score = self.review_panel.threshold.value()
        self.review_panel.nextRequested.connect(self.next_review)
        self.review_panel.reviewedToggled.connect(self._set_reviewed)
        self.review_panel.suggestionSelected.connect(lambda i: self.canvas.select([i]))
        self.review_panel.fixRequested.connect(self.apply_fix)
        self.review_panel.dismissRequested.connect(self.dismiss_issue)
        self.review_panel.openRequested.connect(self.open_rel)
        self.review_dock = self._dock("Review", self.review_panel, Qt.DockWidgetArea.RightDockWidgetArea)

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
        menus: dict[str, QMenu] = {}
        for name in ("File", "Edit", "View", "Draw", "Review", "Go", "Plugins", "Help"):
            menus[name] = self.menuBar().addMenu(f"&{name}")
        self.plugins_menu = menus["Plugins"]
        self.recent_menu = QMenu("Open &Recent", self)
        for cmd in COMMANDS:
            act = QAction(cmd.text, self)
            if cmd.keys:
                act.setShortcuts([QKeySequence(k) for k in cmd.keys])
            act.setToolTip(cmd.help)
            act.setStatusTip(cmd.help)
            slot = getattr(self, cmd.name)
            act.triggered.connect(lambda _checked=False, s=slot: s())
            self.addAction(act)  # shortcuts work while docks have focus too
            menus[cmd.menu].addAction(act)
            self.actions[cmd.name] = act
            if cmd.name == "open_folder":
                menus["File"].addMenu(self.recent_menu)
        self.actions["toggle_autosave"].setCheckable(True)
        self.actions["toggle_autosave"].setChecked(self.autosave)
        self.actions["toggle_shapes"].setCheckable(True)
        for name in TOOLS:
            self.actions[f"mode_{name}"].setCheckable(True)
        self.actions["mode_edit"].setChecked(True)
        # 1-9 set an image-level label, Shift+1-9 toggle one.
        for k in range(1, 10):
            QShortcut(QKeySequence(str(k)), self, activated=lambda k=k: self._number_key(k, False))
            QShortcut(QKeySequence(f"Shift+{k}"), self, activated=lambda k=k: self._number_key(k, True))
        tools = self.addToolBar("Tools")
        tools.setObjectName("Tools")
        short = {"open_folder": "Open", "save": "Save", "prev_image": "◀ Prev", "next_image": "Next ▶",
                 **{f"mode_{t.name}": t.toolbar for t in TOOLS.values()},
                 "undo": "Undo", "redo": "Redo", "accept_suggestion": "Accept", "reject_suggestion": "Reject",
                 "next_review": "Next to review", "fit_window": "Fit"}
        for name, text in short.items():
            act = self.actions[name]
            act.setIconText(text)
            keys = act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            act.setToolTip(f"{act.text().replace('&', '').rstrip('…')} ({keys})" if keys else act.text())
            tools.addAction(act)
            if name in ("save", "next_image", f"mode_{MODES[-1]}", "redo"):
                tools.addSeparator()
        self._update_recent_menu()
        self._rebuild_plugins_menu()

    def _build_statusbar(self) -> None:
        sb = self.statusBar()
        self.position_label = QLabel("")
        self.zoom_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_plugin)
        sb.addPermanentWidget(self.position_label)
        sb.addPermanentWidget(self.zoom_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)

    def _connect_canvas(self) -> None:
        c = self.canvas
        c.gesture.connect(self._gesture)
        c.drawingChanged.connect(lambda _drawing: self._update_undo_actions())
        c.fullResolutionWanted.connect(self._want_full_resolution)
        c.context_actions = [self.actions[n] for n in ("edit_label", "delete", "copy", "paste", "duplicate")]
        c.selectionChanged.connect(self._selection_changed)
        c.zoomChanged.connect(lambda s: self.zoom_label.setText(f"{s * 100:.0f}%"))
        c.cursorMoved.connect(lambda x, y: self.position_label.setText(f"x {x:.0f}  y {y:.0f}"))

    def _load_extensions(self) -> None:
        from labeler.gui.extensions import collect_gui_extensions

        errors: list[str] = []
        self.extensions: dict[str, Any] = {}
        for ext in collect_gui_extensions(errors):
            try:
                made = ext.create(self)
            except Exception as err:  # noqa: BLE001 - a broken extension must not stop the window
                errors.append(f"GUI extension {ext.name!r}: {type(err).__name__}: {err}")
                continue
            self.extensions[ext.name] = made
            if isinstance(made, QAction):
                self.plugins_menu.addAction(made)
            elif isinstance(made, QWidget):
                self._dock(ext.name, made, Qt.DockWidgetArea.RightDockWidgetArea)
        for e in errors:
            self._error(e)

    # -- folders and images ------------------------------------------------------------------
    def open_folder(self, directory: Path | str | None = None, labels: Path | str | None = None) -> bool:
        """Open a dataset folder and show its first image."""
        if directory is None or directory is False:
            chosen = QFileDialog.getExistingDirectory(self, "Open a folder of images")
            if not chosen:
                return False
            directory = chosen
        if not self._leave_document():
            return False
        try:
            ds = Dataset(directory, labels=labels)
            first = first_item(ds)
        except (LabelerError, OSError) as err:
            self._error(str(err))
            return False
        self._stop_scanner()
        self._stop_lister()
        self.dataset = ds
        self._docs.clear()
        self._set_doc(None)
        self.canvas.set_image(None)  # nothing of the last folder stays on screen
        self.loader.clear()
        self.classes = []
        reset_colors()
        if self.canvas.fit_mode is None:  # a zoom from the last folder does not carry over
            self.canvas.fit_mode = "window"
        # Show the first image at once; the full listing (seconds for 100,000 images) follows.
        self.file_model.set_items([first] if first is not None else [])
        self._rows = {first.rel: 0} if first is not None else {}
        self._update_count()
        self._remember_recent(ds.root, ds.labels_dir)
        self.setWindowTitle(f"labeler — {ds.root}")
        if first is not None:
            self.open_row(0)
        self._lister = ListWorker(ds)
        self._lister.listed.connect(self._listed)
        self._lister.failed.connect(self._error)
        self._lister.start()
        return True

    def _listed(self, items: list[Item]) -> None:
        lister, self._lister = self._lister, None
        if lister is not None:
            lister.wait()
            if lister.dataset is not self.dataset:
                return
        self.file_model.set_items(items)
        self._rows = {it.rel: r for r, it in enumerate(items)}
        for doc in self._docs.values():
            self._sync_row(doc)
        self._update_count()
        row = self.current_row()
        if row is not None:
            self._select_in_list(row)
            self._prefetch(row)
        elif items:
            self.open_row(0)
        self._scanner = StatusScanner(items, self)
        self._scanner.batch.connect(self._statuses_arrived)
        self._scanner.start(StatusScanner.Priority.LowPriority)

    def ensure_listed(self) -> None:
        """Wait for the background listing (before jumping to an image by name or position)."""
        if self._lister is not None:
            self._lister.wait()
            QCoreApplication.processEvents()
            if self._lister is not None:  # the queued signal was not delivered yet
                self._lister.listed.disconnect()
                items = self._lister.dataset.items
                self._listed(items)

    def _stop_lister(self) -> None:
        if self._lister is not None:
            self._lister.listed.disconnect()
            self._lister.wait()
            self._lister = None

    def _stop_scanner(self) -> None:
        if self._scanner is not None:
            self._scanner.stop()
            self._scanner.wait()
            self._scanner = None

    def wait_for_scan(self, msecs: int = 10000) -> None:
        """Block until the listing and the status scan end (tests, benchmarks)."""
        self.ensure_listed()
        if self._scanner is not None:
            self._scanner.wait(msecs)
        QCoreApplication.processEvents()
        self._refresh_classes()

    @property
    def items(self) -> list[Item]:
        return self.file_model.items

    def current_row(self) -> int | None:
        return self._rows.get(self.doc.item.rel) if self.doc is not None else None

    def open_rel(self, rel: str) -> bool:
        self.ensure_listed()
        row = self._rows.get(rel)
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
        doc = self._docs.pop(item.rel, None)
        if doc is not None and not doc.dirty and doc.external_change():
            doc = None  # changed on disk while we were away and nothing of ours is pending
        if doc is None:
            try:
                doc = Document.open(self.dataset, item)
            except LabelerError as err:
                self._error(str(err))
                self.file_model.set_status(row, ItemStatus(error=str(err)))
                return False
            if doc.image_size() is None:
                try:
                    info = self.dataset.image_info(item)
                    doc.annotation.imageWidth, doc.annotation.imageHeight = info.width, info.height
                except LabelerError as err:
                    self._error(str(err))
        self._docs[item.rel] = doc
        while len(self._docs) > DOC_CACHE:
            _rel, old = self._docs.popitem(last=False)
            if old.dirty:  # cannot drop unsaved work: keep it
                self._docs[_rel] = old
                self._docs.move_to_end(_rel, last=False)
                break
        self._set_doc(doc)
        self._sync_row(doc)
        cached = self.loader.cached(item.image_path)
        self.canvas.set_image(cached)
        if cached is not None:
            self.imageShown.emit(item.rel)
        else:
            self.loader.request(item.image_path)
        self._prefetch(row)
        if self._sam_used and self.sam.available:
            self.sam.set_image(item.image_path)
        self._select_in_list(row)
        self.documentOpened.emit(item.rel)
        return True

    def _set_doc(self, doc: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.doc = doc
        self.canvas.set_document(doc)
        if doc is not None:
            self._unsubscribe = doc.subscribe(self._doc_changed)
        self._refresh_panels()
        self._update_title()

    def _visible_rows(self, start: int, count: int, step: int) -> list[int]:
        """Source rows after/before ``start`` in the filtered order."""
        out: list[int] = []
        proxy_row = self.file_proxy.mapFromSource(self.file_model.index(start)).row()
        if proxy_row < 0:
            # The open image is filtered out (e.g. its last issue was just fixed): step from
            # where it would sit in the filtered list.
            n = self.file_proxy.rowCount()
            rows = [self.file_proxy.mapToSource(self.file_proxy.index(r, 0)).row() for r in range(n)]
            after = [i for i, src in enumerate(rows) if src > start]
            proxy_row = (after[0] if after else n) - (1 if step > 0 else 0)
        r = proxy_row + step
        while 0 <= r < self.file_proxy.rowCount() and len(out) < count:
            out.append(self.file_proxy.mapToSource(self.file_proxy.index(r, 0)).row())
            r += step
        return out

    def _prefetch(self, row: int) -> None:
        rows = self._visible_rows(row, 2, 1) + self._visible_rows(row, 1, -1)
        self.loader.prefetch([self.items[r].image_path for r in rows])

    def _image_loaded(self, key: str, image: QImage) -> None:
        if self.doc is not None and str(self.doc.item.image_path) == key:
            self.canvas.set_image(image)
            self.imageShown.emit(self.doc.item.rel)

    def _want_full_resolution(self) -> None:
        if self.doc is not None:
            self.loader.request_full(self.doc.item.image_path)

    def _full_image_loaded(self, key: str, image: QImage) -> None:
        if self.doc is not None and str(self.doc.item.image_path) == key and self.canvas.has_image:
            self.canvas.set_full_image(image)
            self.fullResolutionShown.emit(self.doc.item.rel)

    def _image_failed(self, key: str, message: str) -> None:
        if self.doc is not None and str(self.doc.item.image_path) == key:
            self._error(message)
            self.canvas.set_image(None, problem=message)
            row = self.current_row()
            if row is not None:  # the file list shows it as broken too
                self.file_model.set_status(row, ItemStatus(error=message))

    def _select_in_list(self, row: int) -> None:
        idx = self.file_proxy.mapFromSource(self.file_model.index(row))
        if idx.isValid():
            self.file_view.setCurrentIndex(idx)
            self.file_view.scrollTo(idx)

    def _file_activated(self, index: Any) -> None:
        rel = index.data(RelRole)
        if rel is not None:
            self.open_rel(rel)

    def _set_filter(self, **kw: str) -> None:
        self.file_proxy.set_filter(**kw)
        self._update_count()

    def _update_count(self) -> None:
        self.file_count.setText(f"{self.file_proxy.rowCount():,} of {len(self.items):,} images")

    def _step(self, step: int, predicate: Callable[[int], bool] | None = None) -> bool:
        self.ensure_listed()
        row = self.current_row()
        if row is None:  # nothing open (the first image's label file may be unreadable)
            return any(self.open_row(r) for r in range(len(self.items)))
        if predicate is None:
            # An unreadable label file cannot be opened (its error is shown and its row marked):
            # step over it to the next one that opens.
            cur = row
            while nxt := self._visible_rows(cur, 1, step):
                if self.open_row(nxt[0]):
                    return True
                cur = nxt[0]
            return False
        r = row + step
        while 0 <= r < len(self.items):
            if predicate(r):
                return self.open_row(r)
            r += step
        self.statusBar().showMessage("No more images to review in this direction", 4000)
        return False

    def next_image(self) -> bool:
        return self._step(1)

    def prev_image(self) -> bool:
        return self._step(-1)

    def _needs_review(self, row: int) -> bool:
        rel = self.items[row].rel
        doc = self._docs.get(rel)
        if doc is not None:
            return status_of_annotation(doc.annotation).needs_review
        st = self.file_model.statuses[row]
        return st is not None and st.needs_review

    def next_review(self) -> bool:
        return self._step(1, self._needs_review)

    def prev_review(self) -> bool:
        return self._step(-1, self._needs_review)

    # -- document changes --------------------------------------------------------------------
    def _doc_changed(self, what: str) -> None:
        self.canvas.refresh()
        self._refresh_panels()
        self._update_title()
        doc = self.doc
        if doc is not None:
            row = self._rows.get(doc.item.rel)
            if row is not None:
                self.file_model.set_status(row, status_of_annotation(doc.annotation), dirty=doc.dirty)
            if what != "saved" and doc.dirty and self.autosave and self.worker is None:
                self._autosave_timer.start(AUTOSAVE_MS)
            for lab in doc.annotation.labels():
                if lab not in self.classes:
                    self._classes_timer.start(0)

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
        if self.doc is None:
            self.setWindowTitle(f"labeler — {self.dataset.root}" if self.dataset is not None else "labeler")
            return
        mark = " *" if self.doc.dirty else ""
        self.setWindowTitle(f"labeler — {self.doc.item.rel}{mark}")

    def _selection_changed(self, indices: list[int]) -> None:
        self.shape_panel.select_rows(indices)
        self.review_panel.select_shape(indices[0] if len(indices) == 1 else None)

    def _statuses_arrived(self, pairs: list[tuple[int, ItemStatus]]) -> None:
        # Open documents are the truth for their rows (they may hold unsaved edits).
        pairs = [(r, s) for r, s in pairs if self.items[r].rel not in self._docs]
        self.file_model.set_statuses(pairs)
        if self.file_proxy.active:
            self.file_proxy.invalidate()
            self._update_count()
        self._classes_timer.start(300)

    def _refresh_classes(self) -> None:
        labels = set(self.file_model.all_labels())
        for d in self._docs.values():
            labels |= set(d.annotation.labels())
        new = sorted(labels)
        if new != self.classes:
            self.classes = new
            assign_colors(new)
            self.canvas.update()
            self.shape_panel.show_document(self.doc, self.canvas.selected)
            self.label_dialog.set_labels(new)
            self.class_panel.show_classes(new, self.doc)
            self._fill_combo(self.label_filter, "Any label", new)
        self._fill_combo(self.issue_filter, "Any issue kind", sorted(self.file_model.all_issue_kinds()))

    @staticmethod
    def _fill_combo(combo: QComboBox, first: str, values: list[str]) -> None:
        current = combo.currentData()
        have = [combo.itemData(i) for i in range(1, combo.count())]
        if have == values:
            return
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(first, "")
        for v in values:
            combo.addItem(v, v)
        k = combo.findData(current)
        combo.setCurrentIndex(max(k, 0))
        combo.blockSignals(False)

    # -- saving ------------------------------------------------------------------------------
    def save(self, doc: Document | None = None) -> bool:
        """Save ``doc`` (default: the open one); asks what to do when the file changed on disk."""
        doc = doc or self.doc
        if doc is None:
            return True
        self._autosave_timer.stop()
        try:
            saved = doc.save()
        except ExternalChangeError as err:
            choice = self.resolve_conflict(doc, err.state)
            if choice == "merge":
                try:
                    saved = doc.merge_from_disk()
                except ExternalChangeError:
                    self._error(f"{doc.item.label_path.name} keeps changing on disk; not saved yet")
                    return False
            elif choice == "overwrite":
                doc.save(force=True)
                saved = True
            elif choice == "reload":
                doc.reload()
                self._sync_row(doc)
                return True
            else:
                return False
        except LabelerError as err:
            self._error(str(err))
            return False
        if saved:
            self.statusBar().showMessage(f"Saved {doc.item.label_path.name}", 2000)
        self._sync_row(doc)
        self._update_title()
        return True

    def _sync_row(self, doc: Document) -> None:
        row = self._rows.get(doc.item.rel)
        if row is not None:
            self.file_model.set_status(row, status_of_annotation(doc.annotation), dirty=doc.dirty)

    def _autosave_now(self) -> None:
        if self.autosave and self.doc is not None and self.doc.dirty and self.worker is None:
            self.save()

    def _leave_document(self) -> bool:
        """Before showing another image: autosave, or keep the unsaved document in memory."""
        if self.canvas.is_drawing:
            self.canvas.cancel_drawing()
        if self.doc is not None and self.doc.dirty and self.autosave and self.worker is None:
            return self.save()
        return True

    def toggle_autosave(self) -> None:
        self.autosave = self.actions["toggle_autosave"].isChecked()

    def _ask_conflict(self, doc: Document, state: str) -> str:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("File changed on disk")
        box.setText(f"{doc.item.label_path.name} was {state} on disk since you opened it "
                    "(another program, or `labeler autolabel`, wrote it).")
        box.setInformativeText(
            "Merge keeps all your edits and adds what was saved meanwhile (new suggestions, "
            "findings, shapes). Overwrite keeps only your version; Reload drops your edits.")
        merge = box.addButton("Merge (keep my edits)", QMessageBox.ButtonRole.AcceptRole)
        over = box.addButton("Overwrite", QMessageBox.ButtonRole.DestructiveRole)
        reload = box.addButton("Reload from disk", QMessageBox.ButtonRole.ResetRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(merge)
        box.exec()
        clicked = box.clickedButton()
        return {merge: "merge", over: "overwrite", reload: "reload"}.get(clicked, "cancel")

    def check_external_change(self) -> None:
        """Poll the open file: reload silently when we have nothing unsaved, else warn once."""
        doc = self.doc
        if doc is None or self.worker is not None:
            return
        state = doc.external_change()
        if state is None:
            return
        if not doc.dirty and state == "changed":
            doc.reload()
            self._sync_row(doc)
            self.statusBar().showMessage(f"{doc.item.label_path.name} changed on disk: reloaded", 5000)
        elif doc.dirty:
            self.statusBar().showMessage(
                f"Warning: {doc.item.label_path.name} changed on disk; saving will ask before overwriting",
                5000)

    # -- drawing and editing -----------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """Switch the canvas to the tool ``mode`` (one of :data:`labeler.editing.tools.MODES`)."""
        if TOOLS[mode].needs_segmenter:
            if not self.sam.available:
                self._error("Segment Anything is not available: pip install 'labeler[sam]' and set "
                            "LABELER_SAM_CHECKPOINT to a checkpoint (see docs/gui.md)")
                self.actions[f"mode_{mode}"].setChecked(False)
                return
            self._sam_used = True
        for name in TOOLS:
            self.actions[f"mode_{name}"].setChecked(name == mode)
        self.canvas.set_mode(mode)
        self.canvas.setFocus()
        if TOOLS[mode].needs_segmenter and self.doc is not None:
            self.sam.set_image(self.doc.item.image_path)

    def _gesture(self, g: Gesture) -> None:
        """A finished gesture of a canvas tool: one document edit."""
        doc = self.doc
        if doc is None:
            return
        if isinstance(g, ShapeDrawn):
            self._shape_drawn(g.shape_type, g.points)
        elif isinstance(g, ShapesMoved):
            doc.move_shapes(g.indices, g.dx, g.dy)
        elif isinstance(g, PointsEdited):
            doc.set_points(g.index, g.points)
        elif isinstance(g, VertexInserted):
            self._insert_vertex(g.index, g.position, g.x, g.y)
        elif isinstance(g, VertexRemoved):
            self._remove_vertex(g.index, g.position)
        elif isinstance(g, EditRequested):
            self.edit_label(g.index)
        elif isinstance(g, SegmentPrompt):
            self._sam_prompt(g.points, g.labels, g.box)

    def _ask_label_dialog(
        self, label: str = "", text: str | None = None, group_id: int | None = None
    ) -> LabelAnswer | None:
        self.label_dialog.set_labels(self.classes)
        return self.label_dialog.ask(label, text, group_id)

    def _shape_drawn(self, shape_type: str, points: list[tuple[float, float]]) -> None:
        if self.doc is None:
            return
        answer = self.ask_label(self.last_label, None)
        if answer is None:
            return
        self.last_label = answer.label
        meta = ShapeMeta(text=answer.text) if answer.text else None
        shape = Shape(label=answer.label, points=points, shape_type=shape_type, group_id=answer.group_id,
                      labeler=meta)
        i = self.doc.add_shape(shape)
        self.canvas.select([i])
        self._add_class(answer.label)

    def _add_class(self, label: str) -> None:
        if label not in self.classes:
            self.classes = sorted({*self.classes, label})
            assign_colors(self.classes)
            self.label_dialog.set_labels(self.classes)
            self.class_panel.show_classes(self.classes, self.doc)

    def edit_label(self, index: int | None = None) -> None:
        doc = self.doc
        if doc is None:
            return
        indices = [index] if isinstance(index, int) else list(self.canvas.selected)
        if not indices:
            return
        first = doc.shapes[indices[0]]
        answer = self.ask_label(first.label, first.text, first.group_id)
        if answer is None:
            return
        with doc.edit("Edit label"):
            # The group shown was the first shape's: a changed value applies to all of them.
            same_group = answer.group_id == first.group_id
            doc.set_label(indices, answer.label, group_id=answer.group_id, keep_group=same_group)
            if len(indices) == 1:
                doc.set_text(indices[0], answer.text)
        self._add_class(answer.label)

    def _insert_vertex(self, index: int, position: int, x: float, y: float) -> None:
        if self.doc is not None and self.doc.insert_vertex(index, position, (x, y)):
            self.canvas.select([index])
            self.canvas.selected_vertex = (index, position)

    def _remove_vertex(self, index: int, position: int) -> None:
        doc = self.doc
        if doc is None:
            return
        if not doc.remove_vertex(index, position):
            least = {"polygon": 3, "linestrip": 2}.get(doc.shapes[index].shape_type)
            self.statusBar().showMessage(
                f"A {doc.shapes[index].shape_type} keeps at least {least} points" if least
                else f"A {doc.shapes[index].shape_type} has a fixed number of points", 3000)

    def delete(self) -> None:
        """Delete the selected vertex when one is selected (a clicked vertex), else the shapes."""
        if self.canvas.mode == "edit" and self.canvas.remove_selected_vertex():
            return
        if self.doc is not None and self.canvas.selected:
            self.doc.remove_shapes(self.canvas.selected)
            self.canvas.select([])

    def copy(self) -> None:
        if self.doc is not None and self.canvas.selected:
            self._clipboard = [self.doc.shapes[i].model_copy(deep=True) for i in self.canvas.selected]
            self.statusBar().showMessage(f"Copied {len(self._clipboard)} shape(s)", 2000)

    def paste(self) -> None:
        if self.doc is not None and self._clipboard:
            idx = self.doc.add_shapes(self._clipboard)
            self.canvas.select(idx)

    def duplicate(self) -> None:
        if self.doc is not None and self.canvas.selected:
            self.canvas.select(self.doc.duplicate(self.canvas.selected))

    def select_all(self) -> None:
        if self.doc is not None:
            self.canvas.select(list(range(len(self.doc.shapes))))

    def undo(self) -> None:
        if self.canvas.undo_last_point():
            return
        if self.doc is not None:
            self.doc.undo()

    def redo(self) -> None:
        if self.doc is not None:
            self.doc.redo()

    def _number_key(self, k: int, toggle: bool) -> None:
        if k <= len(self.classes):
            self.set_image_label(self.classes[k - 1], exclusive=not toggle)

    def set_image_label(self, label: str, exclusive: bool = True) -> None:
        """Image-level class label: ``exclusive`` replaces the others, else toggles ``label``."""
        doc = self.doc
        if doc is None:
            return
        if exclusive and doc.annotation.image_labels == [label]:
            return
        if exclusive:
            with doc.edit(f"Image label {label}", what="meta") as ann:
                ann.meta.image_labels = [lab for lab in ann.meta.image_labels if lab.review == "rejected"]
                doc.toggle_image_label(label)
        else:
            doc.toggle_image_label(label)

    # -- view --------------------------------------------------------------------------------
    def zoom_in(self) -> None:
        self.canvas.zoom_by(1.25)

    def zoom_out(self) -> None:
        self.canvas.zoom_by(0.8)

    def zoom_original(self) -> None:
        self.canvas.set_zoom(1.0)

    def fit_window(self) -> None:
        self.canvas.fit("window")

    def fit_width(self) -> None:
        self.canvas.fit("width")

    def toggle_shapes(self) -> None:
        self.canvas.hide_shapes = self.actions["toggle_shapes"].isChecked()
        self.canvas.update()

    def shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    # -- review ------------------------------------------------------------------------------
    def _target_suggestion(self) -> int | str | None:
        doc = self.doc
        if doc is None:
            return None
        sel = [i for i in self.canvas.selected if doc.shapes[i].is_suggestion]
        if sel:
            return sel[0]
        cur = self.review_panel.current_suggestion()
        if cur is not None:
            return cur
        best = [(s.score or 0.0, i) for i, s in enumerate(doc.shapes) if s.is_suggestion]
        if best:
            return max(best)[1]
        for lab in doc.annotation.meta.image_labels:
            if lab.review == "suggested":
                return f"image:{lab.label}"
        return None

    def _review(self, accept: bool) -> None:
        doc = self.doc
        target = self._target_suggestion()
        if doc is None or target is None:
            self.statusBar().showMessage("No suggestion to review here (N: next image to review)", 3000)
            return
        if isinstance(target, str):
            doc.accept_image_label(target.split(":", 1)[1], accept)
        elif accept:
            doc.accept([target])
        else:
            doc.reject([target])
        self._select_next_suggestion()

    def _select_next_suggestion(self) -> None:
        doc = self.doc
        if doc is None:
            return
        nxt = [i for i, s in enumerate(doc.shapes) if s.is_suggestion]
        self.canvas.select(nxt[:1])

    def accept_suggestion(self) -> None:
        self._review(True)

    def reject_suggestion(self) -> None:
        self._review(False)

    def accept_above(self, threshold: float | None = None) -> None:
        if self.doc is None:
            return
        t = self.review_panel.threshold.value() if threshold is None else float(threshold)
        n = self.doc.accept_above(t)
        self.statusBar().showMessage(f"Accepted {n} suggestion(s) with score ≥ {t:.2f}", 3000)

    def _threshold_changed(self, value: float) -> None:
        # Suggestions below the accept-all threshold are drawn faint on the canvas.
        self.canvas.min_score = value
        self.canvas.update()

    def next_suggestion(self) -> None:
        doc = self.doc
        if doc is None:
            return
        sugg = [i for i, s in enumerate(doc.shapes) if s.is_suggestion]
        if not sugg:
            return
        cur = self.canvas.selected[0] if self.canvas.selected else -1
        after = [i for i in sugg if i > cur]
        self.canvas.select([after[0] if after else sugg[0]])

    def _set_reviewed(self, value: bool) -> None:
        if self.doc is not None and self.doc.annotation.meta.reviewed != value:
            self.doc.set_reviewed(value)

    def mark_reviewed(self) -> None:
        if self.doc is None:
            return
        self.doc.set_reviewed(True)
        self.next_review()

    def apply_fix(self) -> None:
        doc = self.doc
        k = self.review_panel.current_issue()
        if doc is None or k is None:
            self.statusBar().showMessage("No open issue here", 3000)
            return
        issue = doc.annotation.meta.issues[k]
        fixer = self._fixer_for(issue)
        try:
            if fixer is not None:
                ok = doc.apply_fix(k, lambda ann, iss: fixer.fix(doc.dataset, doc.item, ann, iss), fixer.name)
            else:
                ok = doc.apply_fix(k, _builtin_fix, "gui")
        except (LabelerError, OSError, ValueError) as err:
            self._error(f"Cannot apply the proposed fix of this {issue.kind} issue: {err}")
            return
        if not ok:
            self._error(f"No fixer can apply the proposed fix of this {issue.kind} issue; "
                        "fix it by hand and dismiss it (Shift+F)")

    def _fixer_for(self, issue: Any) -> Any:
        from labeler.plugins import get_registry

        for cls in get_registry().fixers.values():
            try:
                fixer = cls()
                if fixer.applies_to(issue):
                    return fixer
            except Exception:  # noqa: BLE001 - a broken fixer is skipped
                continue
        return None

    def dismiss_issue(self) -> None:
        doc = self.doc
        k = self.review_panel.current_issue()
        if doc is not None and k is not None:
            doc.set_issue_state(k, "dismissed")

    # -- plugins -----------------------------------------------------------------------------
    def _rebuild_plugins_menu(self) -> None:
        from labeler.plugins import get_registry

        menu = self.plugins_menu
        try:
            reg = get_registry()
        except Exception as err:  # noqa: BLE001
            self._error(f"plugins: {err}")
            return
        for name, cls in sorted(reg.autolabelers.items()):
            sub = menu.addMenu(f"Autolabel: {name}")
            sub.setToolTipsVisible(True)
            missing = cls.missing_requirements()
            dots = "…" if has_options(cls) else ""
            a1 = sub.addAction(f"Run on this image{dots}",
                               lambda n=name: self.run_plugin("autolabelers", n, current_only=True))
            a2 = sub.addAction(f"Run on the listed images{dots}",
                               lambda n=name: self.run_plugin("autolabelers", n, current_only=False))
            for a in (a1, a2):
                a.setEnabled(not missing)
                a.setToolTip(cls.description if not missing else f"needs: {', '.join(missing)}")
        if reg.checks:
            menu.addSeparator()
        for name, cls in sorted(reg.checks.items()):
            dots = "…" if has_options(cls) else ""
            act = menu.addAction(f"Check: {name}{dots}", lambda n=name: self.run_plugin("checks", n))
            missing = cls.missing_requirements()
            act.setEnabled(not missing)
            act.setToolTip(cls.description if not missing else f"needs: {', '.join(missing)}")
        menu.addSeparator()

    def _ask_options_dialog(self, kind: str, cls: Any) -> Any:
        if not has_options(cls):
            return cls.Options()
        return PluginOptionsDialog(cls, kind, self.settings, parent=self).ask()

    def run_plugin(self, kind: str, name: str, current_only: bool = True, cls: Any = None) -> PluginWorker | None:
        """From the Plugins menu: ask the plugin's options (a form built from its ``Options``
        model, remembered per plugin), then run ``cls(options)`` in the background."""
        from labeler.plugins import get_registry

        if self.dataset is None or self.worker is not None:
            if self.worker is not None:
                self.statusBar().showMessage("A plugin is already running (Cancel it first)", 4000)
            return None
        try:
            cls = cls or get_registry().get(kind, name)
        except Exception as err:  # noqa: BLE001
            self._error(str(err))
            return None
        options = self.ask_options(kind, cls)
        if options is None:
            return None
        try:
            plugin = cls(options)
        except Exception as err:  # noqa: BLE001 - a plugin refusing its options is reported
            self._error(f"{name}: {type(err).__name__}: {err}")
            return None
        if kind == "checks":
            return self.run_check(name, plugin=plugin)
        return self.run_autolabeler(name, current_only=current_only, plugin=plugin)

    def _listed_items(self) -> list[Item]:
        rows = [self.file_proxy.mapToSource(self.file_proxy.index(r, 0)).row()
                for r in range(self.file_proxy.rowCount())]
        return [self.items[r] for r in rows]

    def run_autolabeler(self, name: str, current_only: bool = True, options: dict[str, Any] | None = None,
                        plugin: Any = None) -> PluginWorker | None:
        """Run an autolabeler on the open image or the listed images, in the background."""
        from labeler.pipeline import run_autolabel
        from labeler.plugins import get_registry

        if self.dataset is None or self.worker is not None:
            return None
        if plugin is None:
            try:
                plugin = get_registry().get("autolabelers", name)(options)
            except Exception as err:  # noqa: BLE001
                self._error(str(err))
                return None
        if current_only and self.doc is None:
            return None
        if not self._save_before_run():
            return None
        items = [self.doc.item] if current_only and self.doc else self._listed_items()
        ds = self.dataset

        def job(progress: Any, should_stop: Any, on_result: Any) -> Any:
            return run_autolabel(ds, plugin, items=items, redo=current_only, progress=progress,
                                 should_stop=should_stop, on_result=on_result)

        return self._start_worker(job, plugin.name)

    def run_check(self, name: str, options: dict[str, Any] | None = None, plugin: Any = None) -> PluginWorker | None:
        """Run a check over the listed images in the background."""
        from labeler.pipeline import run_check
        from labeler.plugins import get_registry

        if self.dataset is None or self.worker is not None:
            return None
        if plugin is None:
            try:
                plugin = get_registry().get("checks", name)(options)
            except Exception as err:  # noqa: BLE001
                self._error(str(err))
                return None
        if not self._save_before_run():
            return None
        items = self._listed_items()
        ds = self.dataset

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

        return self._start_worker(job, plugin.name)

    def _save_before_run(self) -> bool:
        # Plugins read the files from disk: everything edited must be there first.
        return all(self.save(doc) for doc in list(self._docs.values()) if doc.dirty)

    def _start_worker(self, job: Any, plugin_name: str) -> PluginWorker:
        worker = PluginWorker(job, plugin_name, self)
        worker.progress.connect(self._worker_progress)
        worker.result.connect(lambda item, ann, n=plugin_name: self._worker_result(item, ann, n))
        worker.done.connect(self._worker_done)
        worker.error.connect(self._worker_error)
        self.worker = worker
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.statusBar().showMessage(f"Running {plugin_name}…")
        worker.start()
        return worker

    def _worker_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done}/{total}")

    def _worker_result(self, item: Item, ann: Any, plugin: str) -> None:
        doc = self._docs.get(item.rel)
        if doc is not None:
            doc.merge_result(ann, plugin)
            target = doc.annotation
        else:
            target = ann
        row = self._rows.get(item.rel)
        if row is not None:
            self.file_model.set_status(row, status_of_annotation(target),
                                       dirty=doc.dirty if doc is not None else False)
        self._classes_timer.start(300)

    def _finish_worker(self) -> None:
        if self.worker is not None:
            self.worker.wait()
            self.worker.setParent(None)
        self.worker = None
        self.progress.hide()
        self.cancel_button.hide()

    def _worker_done(self, summary: Any) -> None:
        self._finish_worker()
        text = f"{summary.plugin}: {summary.processed} image(s) processed, {summary.changed} changed"
        if summary.failed:
            text += f", {len(summary.failed)} failed"
            self.errors.extend(summary.failed)
        if summary.interrupted:
            text += " (cancelled)"
        self.statusBar().showMessage(text, 8000)
        if self.doc is not None and self.doc.dirty and self.autosave:
            self._autosave_timer.start(AUTOSAVE_MS)
        self.pluginFinished.emit(summary)

    def _worker_error(self, message: str) -> None:
        self._finish_worker()
        self._error(message)
        # A status-bar line is gone in 10 s: a run that failed as a whole also gets a window
        # (not modal: the work in the window goes on).
        first, _, rest = message.partition("\n")
        box = QMessageBox(QMessageBox.Icon.Warning, "The plugin run failed", first, parent=self)
        if rest.strip():
            box.setDetailedText(rest)
        box.setModal(False)
        box.show()
        self._error_box = box
        self.pluginFinished.emit(None)

    def cancel_plugin(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.statusBar().showMessage("Cancelling after the current image…")

    # -- SAM ---------------------------------------------------------------------------------
    def _sam_busy(self, busy: bool) -> None:
        self.canvas.sam_busy = busy
        self.canvas.update()

    def _sam_ready(self, path: str) -> None:
        self.statusBar().showMessage("Segment Anything ready: click the object", 3000)
        if self.canvas.sam_points or self.canvas.sam_box:
            self._sam_prompt([(x, y) for x, y, _ in self.canvas.sam_points],
                             [lab for _, _, lab in self.canvas.sam_points], self.canvas.sam_box)

    def _sam_prompt(self, points: list[Any], labels: list[int], box: Any) -> None:
        if self.doc is None or not self.sam.is_ready:
            return
        try:
            poly = self.sam.predict(points, labels, box)
        except Exception as err:  # noqa: BLE001
            self._error(f"Segment Anything: {err}")
            return
        self.canvas.sam_preview = poly or None
        self.canvas.update()
        self.statusBar().showMessage(
            f"Segment Anything: {len(poly)} points in {self.sam.last_latency_ms:.0f} ms — Enter keeps it, Esc clears",
            5000)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802
        if (self.canvas.mode == "sam" and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and self.canvas.sam_preview):
            self.accept_sam()
            return
        super().keyPressEvent(event)

    def accept_sam(self) -> None:
        """Keep the SAM polygon: ask its label and add it as a shape."""
        pts = self.canvas.sam_preview
        if not pts or self.doc is None:
            return
        self.canvas.clear_sam()
        self._shape_drawn("polygon", [tuple(p) for p in pts])

    # -- misc --------------------------------------------------------------------------------
    def _error(self, message: str) -> None:
        self.errors.append(message)
        self.statusBar().showMessage(message.splitlines()[0], 10000)

    #: Between a folder and its separate labels folder in the "recent" setting.
    _LABELS_SEP = " | labels: "

    def _remember_recent(self, root: Path, labels: Path | None = None) -> None:
        entry = str(root) + (f"{self._LABELS_SEP}{labels}" if labels is not None else "")
        recent = [entry] + [p for p in self._recent() if p != entry]
        self.settings.setValue("recent", recent[:10])
        self._update_recent_menu()

    def _recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value or []]

    def _open_recent(self, entry: str) -> bool:
        root, _, labels = entry.partition(self._LABELS_SEP)
        return self.open_folder(root, labels or None)

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self._recent():
            self.recent_menu.addAction(p, lambda p=p: self._open_recent(p))
        self.recent_menu.setEnabled(bool(self._recent()))

    def quit(self) -> None:
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(10000)
        unsaved = [d for d in self._docs.values() if d.dirty]
        if unsaved and self.autosave:
            for d in unsaved:
                if not self.save(d):
                    event.ignore()
                    return
        elif unsaved:
            ans = QMessageBox.question(
                self, "Unsaved changes", f"{len(unsaved)} image(s) have unsaved changes. Save them?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel)
            if ans == QMessageBox.StandardButton.Cancel:
                event.ignore()
                return
            if ans == QMessageBox.StandardButton.Save and not all(self.save(d) for d in unsaved):
                event.ignore()
                return
        self._stop_lister()
        self._stop_scanner()
        self.sam.wait()
        self.loader.wait(5000)
        self._watch_timer.stop()
        super().closeEvent(event)


def _builtin_fix(ann: Any, issue: Any) -> bool:
    """Apply the generic ``suggested_fix`` actions when no fixer plugin handles the issue."""
    from labeler.fixes import apply_suggested_fix

    return apply_suggested_fix(ann, issue)


def _mode_slot(mode: str) -> Callable[[MainWindow], None]:
    def slot(self: MainWindow) -> None:
        self.set_mode(mode)

    slot.__name__ = slot.__qualname__ = f"mode_{mode}"
    slot.__doc__ = f"Switch to the {mode} tool (the Draw menu's action)."
    return slot


for _mode in TOOLS:  # one slot per tool, named after its command (mode_edit, mode_polygon, ...)
    setattr(MainWindow, f"mode_{_mode}", _mode_slot(_mode))

