"""The Files dock: search, filters, the file list and its count, the background listing and
status scan, and stepping through the (filtered) list. The highlighted row is always the image
on screen: none when the filters hide it (after F fixed its last issue, say)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QModelIndex, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QVBoxLayout,
    QWidget,
)

from labeler.dataset import Dataset, Item
from labeler.editing.session import Session
from labeler.gui.file_list import FileFilterModel, FileListModel, RelRole
from labeler.gui.status import STATUSES, ItemStatus
from labeler.gui.workers import ListWorker, StatusScanner


class FilesDock(QWidget):
    """The file list with its filters; emits ``activated(rel)`` when a file is clicked."""

    activated = Signal(str)
    listed = Signal()  # the full listing replaced the first item
    statusesArrived = Signal()  # a batch of the background status scan landed, or an error row
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = FileListModel(self)
        self.proxy = FileFilterModel(self)
        self.proxy.setSourceModel(self.model)
        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setUniformItemSizes(True)
        self.view.activated.connect(self._activated)
        self.view.clicked.connect(self._activated)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search file names…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda t: self.set_filter(search=t))
        self.status_filter = QComboBox()
        self.status_filter.addItem("All images", "")
        self.status_filter.addItem("Needs review", "needs_review")
        for s in STATUSES:
            self.status_filter.addItem(s.capitalize(), s)
        self.status_filter.currentIndexChanged.connect(
            lambda _i: self.set_filter(status=self.status_filter.currentData()))
        self.issue_filter = QComboBox()
        self.issue_filter.addItem("Any issue kind", "")
        self.issue_filter.currentIndexChanged.connect(
            lambda _i: self.set_filter(issue_kind=self.issue_filter.currentData() or ""))
        self.label_filter = QComboBox()
        self.label_filter.addItem("Any label", "")
        self.label_filter.currentIndexChanged.connect(
            lambda _i: self.set_filter(label=self.label_filter.currentData() or ""))
        self.count = QLabel("")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.search)
        row = QHBoxLayout()
        for combo in (self.status_filter, self.issue_filter, self.label_filter):
            row.addWidget(combo)
        lay.addLayout(row)
        lay.addWidget(self.view)
        lay.addWidget(self.count)
        self.rows: dict[str, int] = {}
        self.dataset: Dataset | None = None
        self._lister: ListWorker | None = None
        self._scanner: StatusScanner | None = None
        #: The window's editing session (set by the window): its open documents (unsaved edits)
        #: and the files that failed to open are the truth for their rows, not the scan; the
        #: image on screen is the row the list highlights.
        self.session: Session | None = None
        for changed in (self.proxy.rowsRemoved, self.proxy.rowsInserted, self.proxy.layoutChanged,
                        self.proxy.modelReset):
            changed.connect(lambda *_a: self.select_row(self.rows.get(self.shown() or "")))

    def is_open(self, rel: str) -> bool:
        """True when ``rel``'s status comes from the session (open, or failed to open)."""
        s = self.session
        return s is not None and (rel in s.docs or rel in s.unreadable)

    def shown(self) -> str | None:
        """The rel of the image on screen (or of the one that failed to open)."""
        return self.session.shown_rel if self.session is not None else None

    # -- items -------------------------------------------------------------------------------
    @property
    def items(self) -> list[Item]:
        return self.model.items

    def show_dataset(self, ds: Dataset, first: Item | None) -> None:
        """Show ``first`` at once, then list the whole folder in the background (from the next
        pass of the event loop: opening ``first`` comes first, without the listing's thread
        competing for the GIL)."""
        self.stop()
        self.dataset = ds
        self.set_items([first] if first is not None else [])
        self._lister = ListWorker(ds)
        self._lister.listed.connect(self._listed)
        self._lister.failed.connect(self.failed.emit)
        QTimer.singleShot(0, self._start_listing)

    def _start_listing(self) -> None:
        if self._lister is not None and not self._lister.isRunning() and not self._lister.isFinished():
            self._lister.start()

    def set_items(self, items: list[Item]) -> None:
        self.rows = {it.rel: r for r, it in enumerate(items)}  # before the reset highlights a row
        self.model.set_items(items)
        self.update_count()

    def _listed(self, items: list[Item]) -> None:
        lister, self._lister = self._lister, None
        if lister is not None:
            lister.wait()
            if lister.dataset is not self.dataset:
                return
        self.set_items(items)
        for rel, why in (self.session.unreadable.items() if self.session is not None else ()):
            self.set_status(rel, ItemStatus(error=why))  # still unreadable: the listing reset it
        self.listed.emit()
        self._scanner = StatusScanner(items, self)
        self._scanner.batch.connect(self._statuses_arrived)
        self._scanner.start(StatusScanner.Priority.LowPriority)

    def ensure_listed(self) -> None:
        """Wait for the background listing (before jumping to an image by name or position)."""
        if self._lister is not None:
            self._start_listing()
            self._lister.wait()
            QCoreApplication.processEvents()
            if self._lister is not None:  # the queued signal was not delivered yet
                self._lister.listed.disconnect()
                self._listed(self._lister.dataset.items)

    def _statuses_arrived(self, pairs: list[tuple[int, ItemStatus]]) -> None:
        # Open documents are the truth for their rows (they may hold unsaved edits).
        self.model.set_statuses([(r, s) for r, s in pairs if not self.is_open(self.items[r].rel)])
        if self.proxy.active:
            self.proxy.invalidate()
            self.update_count()
        self.statusesArrived.emit()

    def wait_for_scan(self, msecs: int = 10000) -> None:
        self.ensure_listed()
        if self._scanner is not None:
            self._scanner.wait(msecs)
        QCoreApplication.processEvents()

    def stop(self) -> None:
        """Stop the listing and the scan (another folder, or the window closes)."""
        if self._lister is not None:
            self._lister.listed.disconnect()
            self._lister.wait()
            self._lister = None
        if self._scanner is not None:
            self._scanner.stop()
            self._scanner.wait()
            self._scanner = None

    def set_status(self, rel: str, status: ItemStatus, dirty: bool | None = None) -> None:
        row = self.rows.get(rel)
        if row is not None:
            self.model.set_status(row, status, dirty=dirty)
            if status.error:  # its classes leave the known ones, as when the scan finds it
                self.statusesArrived.emit()

    # -- filtered order ------------------------------------------------------------------------
    def visible_rows(self, start: int, count: int, step: int) -> list[int]:
        """Source rows after/before ``start`` in the filtered order."""
        out: list[int] = []
        proxy_row = self.proxy.mapFromSource(self.model.index(start)).row()
        if proxy_row < 0:
            # The open image is filtered out (e.g. its last issue was just fixed): step from
            # where it would sit in the filtered list.
            n = self.proxy.rowCount()
            rows = [self.proxy.mapToSource(self.proxy.index(r, 0)).row() for r in range(n)]
            after = [i for i, src in enumerate(rows) if src > start]
            proxy_row = (after[0] if after else n) - (1 if step > 0 else 0)
        r = proxy_row + step
        while 0 <= r < self.proxy.rowCount() and len(out) < count:
            out.append(self.proxy.mapToSource(self.proxy.index(r, 0)).row())
            r += step
        return out

    def step(self, row: int | None, step: int, open_row: Callable[[int], bool],
             predicate: Callable[[int], bool] | None = None) -> bool:
        """Open the next (``step`` 1) or previous (-1) image after ``row`` in the filtered
        order, or the next one matching ``predicate`` in the full list; False at the end."""
        if row is None:  # nothing open (the first image's label file may be unreadable)
            return any(open_row(r) for r in range(len(self.items)))
        if predicate is None:
            # An unreadable label file cannot be opened (its error is shown and its row marked):
            # step over it to the next one that opens.
            cur = row
            while nxt := self.visible_rows(cur, 1, step):
                if open_row(nxt[0]):
                    return True
                cur = nxt[0]
            return False
        r = row + step
        while 0 <= r < len(self.items):
            if predicate(r):
                return open_row(r)
            r += step
        self.window().statusBar().showMessage("No more images to review in this direction", 4000)
        return False

    def listed_items(self) -> list[Item]:
        """The items the filters show, in order."""
        return [self.items[self.proxy.mapToSource(self.proxy.index(r, 0)).row()]
                for r in range(self.proxy.rowCount())]

    def select_row(self, row: int | None) -> None:
        """Highlight source row ``row`` (none when the filters hide it or ``row`` is None)."""
        idx = self.proxy.mapFromSource(self.model.index(row)) if row is not None else QModelIndex()
        if not idx.isValid():
            self.view.selectionModel().clear()
        elif idx != self.view.currentIndex():
            self.view.setCurrentIndex(idx)
            self.view.scrollTo(idx)

    def _activated(self, index: Any) -> None:
        rel = index.data(RelRole)
        if rel is not None:
            self.activated.emit(rel)

    def set_filter(self, **kw: str) -> None:
        self.proxy.set_filter(**kw)
        self.update_count()

    def update_count(self) -> None:
        self.count.setText(f"{self.proxy.rowCount():,} of {len(self.items):,} images")

    def show_choices(self, labels: list[str]) -> None:
        """The label filter's and the issue-kind filter's entries."""
        fill_combo(self.label_filter, "Any label", labels)
        fill_combo(self.issue_filter, "Any issue kind", sorted(self.model.all_issue_kinds()))


def fill_combo(combo: QComboBox, first: str, values: list[str]) -> None:
    """Replace a filter's entries (keeping the chosen one) unless they are the same."""
    current = combo.currentData()
    have = [combo.itemData(i) for i in range(1, combo.count())]
    if have == values:
        return
    combo.blockSignals(True)
    combo.clear()
    combo.addItem(first, "")
    for v in values:
        combo.addItem(v, v)
    combo.setCurrentIndex(max(combo.findData(current), 0))
    combo.blockSignals(False)
