"""The file list: every image with its status, filters (status, issue kind, label) and search.

A flat model over the dataset's items, fast for 100,000 rows (no per-row widgets); statuses
arrive from a background scan and from the open document as it changes.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap

from labeler.dataset import Item
from labeler.gui.status import ItemStatus

StatusRole = Qt.ItemDataRole.UserRole + 1
RelRole = Qt.ItemDataRole.UserRole + 2

#: Colour of each status dot.
STATUS_COLORS = {
    "unknown": QColor(120, 120, 120),
    "unlabeled": QColor(200, 200, 200),
    "labeled": QColor(60, 140, 230),
    "suggestions": QColor(240, 170, 30),
    "issues": QColor(220, 60, 60),
    "reviewed": QColor(50, 180, 80),
    "excluded": QColor(140, 100, 160),
    "error": QColor(150, 0, 0),
}

_Index = QModelIndex | QPersistentModelIndex


def _dot(color: QColor, hollow: bool = False) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(QColor(0, 0, 0, 0))
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(color)
    p.setBrush(QBrush(QColor(0, 0, 0, 0)) if hollow else color)
    p.drawEllipse(2, 2, 8, 8)
    p.end()
    return QIcon(pm)


class FileListModel(QAbstractListModel):
    """Rows are the dataset's items; statuses fill in as they are known."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.items: list[Item] = []
        self.statuses: list[ItemStatus | None] = []
        self.dirty_rows: set[int] = set()
        self._icons: dict[str, QIcon] = {}

    def set_items(self, items: list[Item]) -> None:
        self.beginResetModel()
        self.items = items
        self.statuses = [None] * len(items)
        self.dirty_rows = set()
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.items)

    def _icon(self, kind: str) -> QIcon:
        icon = self._icons.get(kind)
        if icon is None:
            icon = self._icons[kind] = _dot(STATUS_COLORS[kind], hollow=kind == "unlabeled")
        return icon

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = index.row()
        if not index.isValid() or row >= len(self.items):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            rel = self.items[row].rel
            return f"{rel} *" if row in self.dirty_rows else rel
        if role == RelRole:
            return self.items[row].rel
        status = self.statuses[row]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icon(status.kind if status is not None else "unknown")
        if role == Qt.ItemDataRole.ToolTipRole:
            if status is None:
                return "status not read yet"
            parts = [status.kind]
            if status.suggestions:
                parts.append(f"{status.suggestions} suggestion(s)")
            if status.issues:
                parts.append(f"{status.issues} open issue(s): {', '.join(sorted(status.issue_kinds))}")
            if status.labels:
                parts.append("labels: " + ", ".join(sorted(status.labels)))
            if status.error:
                parts.append(status.error)
            return "\n".join(parts)
        if role == StatusRole:
            return status
        return None

    def set_statuses(self, pairs: list[tuple[int, ItemStatus]]) -> None:
        """Update many rows at once (from the background scan)."""
        if not pairs:
            return
        lo, hi = len(self.items), -1
        for row, st in pairs:
            if 0 <= row < len(self.statuses):
                self.statuses[row] = st
                lo, hi = min(lo, row), max(hi, row)
        if hi >= lo:
            self.dataChanged.emit(self.index(lo), self.index(hi))

    def set_status(self, row: int, status: ItemStatus, dirty: bool | None = None) -> None:
        self.statuses[row] = status
        if dirty is not None:
            (self.dirty_rows.add if dirty else self.dirty_rows.discard)(row)
        self.dataChanged.emit(self.index(row), self.index(row))

    def all_labels(self) -> set[str]:
        out: set[str] = set()
        for st in self.statuses:
            if st is not None:
                out |= st.labels
        return out

    def all_issue_kinds(self) -> set[str]:
        out: set[str] = set()
        for st in self.statuses:
            if st is not None:
                out |= st.issue_kinds
        return out


class FileFilterModel(QSortFilterProxyModel):
    """Filters by status, issue kind, label and a search string (substring of the path)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.status = ""  # "" = all, else one of labeler.gui.status.STATUSES or "needs_review"
        self.issue_kind = ""
        self.label = ""
        self.search = ""

    def set_filter(self, *, status: str | None = None, issue_kind: str | None = None,
                   label: str | None = None, search: str | None = None) -> None:
        if status is not None:
            self.status = status
        if issue_kind is not None:
            self.issue_kind = issue_kind
        if label is not None:
            self.label = label
        if search is not None:
            self.search = search.lower()
        self.invalidate()

    @property
    def active(self) -> bool:
        return bool(self.status or self.issue_kind or self.label or self.search)

    def filterAcceptsRow(self, row: int, parent: _Index) -> bool:  # noqa: N802
        src = self.sourceModel()
        assert isinstance(src, FileListModel)
        if self.search and self.search not in src.items[row].rel.lower():
            return False
        if not (self.status or self.issue_kind or self.label):
            return True
        st = src.statuses[row]
        if st is None:
            return False
        if self.status == "needs_review":
            if not st.needs_review:
                return False
        elif self.status and not st.matches(self.status):
            return False
        if self.issue_kind and self.issue_kind not in st.issue_kinds:
            return False
        return not (self.label and self.label not in st.labels)
