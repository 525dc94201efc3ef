"""The File > Open Recent menu: the last ten folders (with their separate labels folder)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

#: Between a folder and its separate labels folder in the "recent" setting.
LABELS_SEP = " | labels: "


class RecentFolders:
    """Keeps the "recent" setting and the menu that lists it."""

    def __init__(self, settings: QSettings, menu: QMenu, open_folder: Callable[..., Any]) -> None:
        self.settings = settings
        self.menu = menu
        self.open_folder = open_folder
        self.update_menu()

    def entries(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else [str(v) for v in value or []]

    def remember(self, root: Path, labels: Path | None = None) -> None:
        entry = str(root) + (f"{LABELS_SEP}{labels}" if labels is not None else "")
        self.settings.setValue("recent", [entry, *(p for p in self.entries() if p != entry)][:10])
        self.update_menu()

    def open(self, entry: str) -> bool:
        root, _, labels = entry.partition(LABELS_SEP)
        return bool(self.open_folder(root, labels or None))

    def update_menu(self) -> None:
        self.menu.clear()
        for p in self.entries():
            self.menu.addAction(p, lambda p=p: self.open(p))
        self.menu.setEnabled(bool(self.entries()))
