"""Every command of the window with its shortcut: one table for the menus, the help dialog and
``docs/gui.md`` (a test checks the docs list every shortcut here). Qt-free: the window turns
each :class:`Command` into an action whose slot is the window's method of the same name; the
Draw commands come from the tool registry (:data:`labeler.editing.tools.TOOLS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from labeler.editing.tools import TOOLS


@dataclass(frozen=True)
class Command:
    name: str  # attribute of MainWindow.actions and slot suffix
    text: str  # menu text
    keys: tuple[str, ...]  # QKeySequence strings; the first is shown in menus
    menu: str  # File, Edit, View, Draw, Review, Go, Help
    help: str = ""


def tool_commands() -> tuple[Command, ...]:
    """The Draw menu: one command per tool of :data:`labeler.editing.tools.TOOLS`."""
    return tuple(Command(f"mode_{t.name}", t.text, t.keys, "Draw", t.help) for t in TOOLS.values())


COMMANDS: tuple[Command, ...] = (
    Command("open_folder", "&Open Folder…", ("Ctrl+U",), "File", "Open a folder of images"),
    Command("open_file", "Open &File…", ("Ctrl+O",), "File", "Open an image: its folder, with that image shown"),
    Command("save", "&Save", ("Ctrl+S",), "File", "Save now (autosave also saves)"),
    Command("save_as", "Save &As…", ("Ctrl+Shift+S",), "File", "Write the labels to another JSON file (a copy)"),
    Command("change_output_dir", "&Change Output Dir…", (), "File", "Read and write the label files in another folder"),
    Command("delete_file", "&Delete File", ("Ctrl+Delete",), "File", "Delete this image's label file (asks first; Undo brings it back)"),
    Command("toggle_autosave", "&Autosave", (), "File", "Save automatically after edits and when leaving an image"),
    Command("quit", "&Quit", ("Ctrl+Q",), "File", "Quit (saves first)"),
    Command("undo", "&Undo", ("Ctrl+Z",), "Edit", "Undo (while drawing: remove the last point)"),
    Command("redo", "&Redo", ("Ctrl+Y", "Ctrl+Shift+Z"), "Edit", "Redo"),
    Command("edit_label", "&Edit Label…", ("Ctrl+E",), "Edit", "Change label, OCR text, description, flags of the selected shapes (or double-click)"),
    Command("delete", "&Delete Shapes", ("Delete",), "Edit", "Delete the selected shapes (or the selected vertex)"),
    Command("copy", "&Copy Shapes", ("Ctrl+C",), "Edit", "Copy the selected shapes"),
    Command("paste", "&Paste Shapes", ("Ctrl+V",), "Edit", "Paste copied shapes (also into another image)"),
    Command("duplicate", "D&uplicate Shapes", ("Ctrl+D",), "Edit", "Duplicate the selected shapes"),
    Command("select_all", "Select &All Shapes", ("Ctrl+A",), "Edit", "Select every shape"),
    Command("toggle_keep_previous", "&Keep Previous Annotation", ("Ctrl+P",), "Edit",
            "An image without shapes gets a copy of the previous image's shapes"),
    Command("preferences", "P&references…", (), "Edit", "Mouse wheel: zoom (default) or scroll as in labelme"),
    *tool_commands(),
    Command("zoom_in", "Zoom &In", ("Ctrl++", "Ctrl+="), "View", "Zoom in (or the mouse wheel)"),
    Command("zoom_out", "Zoom &Out", ("Ctrl+-",), "View", "Zoom out"),
    Command("zoom_original", "&Original Size", ("Ctrl+0",), "View", "One image pixel per screen pixel"),
    Command("fit_window", "&Fit Window", ("Ctrl+F",), "View", "Fit the whole image"),
    Command("fit_width", "Fit &Width", ("Ctrl+Shift+F",), "View", "Fit the image's width"),
    Command("toggle_shapes", "&Hide Shapes", ("Ctrl+H",), "View", "Hide or show all shapes"),
    Command("brightness_contrast", "&Brightness/Contrast…", ("Ctrl+Shift+B",), "View",
            "Brighten or darken the image on screen (never written); kept for the next images, Reset in the dialog"),
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

#: Keys that are handled without a menu entry (documented in the help dialog too): the
#: window's own, then each tool's ``help_rows``.
EXTRA_KEYS: tuple[tuple[str, str], ...] = (
    ("1 … 9", "Image-level label: set class 1-9 (single-label); Shift+1 … 9 toggles (multi-label)"),
    ("Mouse wheel", "Zoom (Shift+wheel: scroll sideways, Alt+wheel: up/down; Preferences: scroll as labelme)"),
    ("Right-click", "Menu: add point to edge, remove point, edit label, delete, copy, paste, duplicate"),
    *(row for tool in TOOLS.values() for row in tool.help_rows),
)
