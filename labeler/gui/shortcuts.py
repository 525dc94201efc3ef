"""Every command of the window with its shortcut: one table for the menus, the help dialog and
``docs/gui.md`` (a test checks the docs list every shortcut here)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class Command:
    name: str  # attribute of MainWindow.actions and slot suffix
    text: str  # menu text
    keys: tuple[str, ...]  # QKeySequence strings; the first is shown in menus
    menu: str  # File, Edit, View, Draw, Review, Go, Help
    help: str = ""


COMMANDS: tuple[Command, ...] = (
    Command("open_folder", "&Open Folder…", ("Ctrl+U", "Ctrl+O"), "File", "Open a folder of images"),
    Command("save", "&Save", ("Ctrl+S",), "File", "Save now (autosave also saves)"),
    Command("toggle_autosave", "&Autosave", (), "File", "Save automatically after edits and when leaving an image"),
    Command("quit", "&Quit", ("Ctrl+Q",), "File", "Quit (saves first)"),
    Command("undo", "&Undo", ("Ctrl+Z",), "Edit", "Undo (while drawing: remove the last point)"),
    Command("redo", "&Redo", ("Ctrl+Y", "Ctrl+Shift+Z"), "Edit", "Redo"),
    Command("edit_label", "&Edit Label…", ("Ctrl+E",), "Edit", "Change label / OCR text of the selected shapes (or double-click)"),
    Command("delete", "&Delete Shapes", ("Delete",), "Edit", "Delete the selected shapes (or the selected vertex)"),
    Command("copy", "&Copy Shapes", ("Ctrl+C",), "Edit", "Copy the selected shapes"),
    Command("paste", "&Paste Shapes", ("Ctrl+V",), "Edit", "Paste copied shapes (also into another image)"),
    Command("duplicate", "D&uplicate Shapes", ("Ctrl+D",), "Edit", "Duplicate the selected shapes"),
    Command("select_all", "Select &All Shapes", ("Ctrl+A",), "Edit", "Select every shape"),
    Command("mode_edit", "&Edit Shapes", ("Ctrl+J",), "Draw", "Select, move, edit vertices (drag, Alt+click adds, Shift+click removes)"),
    Command("mode_polygon", "Create &Polygon", ("Ctrl+N",), "Draw", "Click points; click the first point, double-click or Enter to close"),
    Command("mode_rectangle", "Create &Rectangle", ("Ctrl+R",), "Draw", "Drag, or click two corners"),
    Command("mode_circle", "Create &Circle", ("Ctrl+Shift+C",), "Draw", "Drag from the centre"),
    Command("mode_line", "Create &Line", ("Ctrl+L",), "Draw", "Drag, or click two ends"),
    Command("mode_point", "Create P&oint", ("Ctrl+K",), "Draw", "Click"),
    Command("mode_sam", "&Segment Anything", ("Ctrl+I",), "Draw", "Click (+), right-click (−) or drag a box; Enter keeps the polygon"),
    Command("zoom_in", "Zoom &In", ("Ctrl++", "Ctrl+="), "View", "Zoom in (or the mouse wheel)"),
    Command("zoom_out", "Zoom &Out", ("Ctrl+-",), "View", "Zoom out"),
    Command("zoom_original", "&Original Size", ("Ctrl+0",), "View", "One image pixel per screen pixel"),
    Command("fit_window", "&Fit Window", ("Ctrl+F",), "View", "Fit the whole image"),
    Command("fit_width", "Fit &Width", ("Ctrl+Shift+F",), "View", "Fit the image's width"),
    Command("toggle_shapes", "&Hide Shapes", ("Ctrl+H",), "View", "Hide or show all shapes"),
    Command("next_image", "&Next Image", ("D",), "Go", "Next image in the (filtered) list"),
    Command("prev_image", "&Previous Image", ("A",), "Go", "Previous image"),
    Command("next_review", "Next Image to &Review", ("N",), "Go", "Next image with suggestions or open issues"),
    Command("prev_review", "Previous Image to Review", ("Shift+N",), "Go", "Previous image with suggestions or open issues"),
    Command("accept_suggestion", "&Accept Suggestion", ("Y",), "Review", "Accept the selected suggestion (else the best one)"),
    Command("reject_suggestion", "&Reject Suggestion", ("X",), "Review", "Reject the selected suggestion (it will not come back)"),
    Command("accept_above", "Accept All &Above Score", ("Shift+Y",), "Review", "Accept every suggestion at or above the threshold"),
    Command("next_suggestion", "Next &Suggestion", ("Tab",), "Review", "Select the next suggestion"),
    Command("mark_reviewed", "Mark Image Reviewed", ("Ctrl+Return",), "Review", "Mark done and go to the next image to review"),
    Command("apply_fix", "Apply Proposed &Fix", ("F",), "Review", "Apply the selected issue's proposed fix"),
    Command("dismiss_issue", "&Dismiss Issue", ("Shift+F",), "Review", "Not a problem: dismiss the selected issue"),
    Command("shortcuts", "&Keyboard Shortcuts", ("F1",), "Help", "This list"),
)

#: Keys that are handled without a menu entry (documented in the help dialog too).
EXTRA_KEYS: tuple[tuple[str, str], ...] = (
    ("1 … 9", "Image-level label: set class 1-9 (single-label); Shift+1 … 9 toggles (multi-label)"),
    ("Enter", "Close the polygon being drawn; keep the Segment Anything result"),
    ("Backspace", "Remove the last point of the shape being drawn"),
    ("Esc", "Cancel drawing / clear Segment Anything prompts / deselect"),
    ("Arrow keys", "Move the selected shapes by 1 pixel (Shift: 10)"),
    ("Mouse wheel", "Zoom at the cursor (Shift+wheel: scroll sideways, Alt+wheel: scroll up/down)"),
    ("Drag on empty space / middle drag", "Pan"),
    ("Ctrl+click", "Add or remove a shape from the selection"),
    ("Alt+click on an edge", "Add a point to a polygon or linestrip there (hold the button to drag it)"),
    ("Shift+click on a vertex", "Remove the vertex (Alt+Shift+click too, as in labelme 6)"),
    ("Delete / Backspace on a selected vertex", "Remove the vertex last clicked (else Delete removes the shapes)"),
    ("Right-click", "Menu: add point to edge, remove point, edit label, delete, copy, paste, duplicate"),
)


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
