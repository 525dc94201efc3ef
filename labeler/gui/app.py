"""``labeler gui``: start the desktop labeler."""

from __future__ import annotations

import sys
from pathlib import Path


def run_gui(directory: Path | None, labels: Path | None = None) -> int:
    """Open the window (on ``directory`` when given) and run the Qt event loop."""
    from PySide6.QtWidgets import QApplication

    from labeler.gui.main_window import MainWindow
    from labeler.gui.sam import find_checkpoint, plugin_session_factory

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("labeler")
    app.setOrganizationName("labeler")
    factory = plugin_session_factory(find_checkpoint(directory))
    window = MainWindow(sam_factory=factory)
    window.show()
    if directory is not None:
        window.open_folder(directory, labels)
    return int(app.exec())
