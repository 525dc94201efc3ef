"""The keyboard shortcuts dialog, generated from the command table of
:mod:`labeler.editing.commands` (re-exported here)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labeler.editing.commands import COMMANDS, EXTRA_KEYS, Command  # noqa: F401


class ShortcutsDialog(QDialog):
    """The keyboard shortcuts, generated from :data:`COMMANDS`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [(", ".join(c.keys), c.text.replace("&", "").rstrip("…"), c.help) for c in COMMANDS if c.keys]
        rows += [(k, "", h) for k, h in EXTRA_KEYS]
        table = QTableWidget(len(rows), 3, self)
        table.setHorizontalHeaderLabels(["Keys", "Command", "What it does"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                table.setItem(r, c, QTableWidgetItem(text))
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
        table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        table.resizeColumnsToContents()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setWordWrap(False)
        self.table = table
        lay = QVBoxLayout(self)
        lay.addWidget(table)
        # Tall enough for every row when the screen allows (no scrolling to find a key).
        need = table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(len(rows))) + 30
        screen = self.screen() if parent is None else parent.screen()
        room = screen.availableGeometry().height() - 60 if screen is not None else 800
        width = sum(table.columnWidth(c) for c in range(3)) + 60
        self.resize(max(820, min(width, 1100)), max(400, min(need, room)))
