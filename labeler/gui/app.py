"""``labeler gui``: start the desktop labeler."""

from __future__ import annotations

import sys
from pathlib import Path

_GUARDED = False


def guard_none_refcount() -> bool:
    """Survive PySide6 builds that drop a reference to ``None`` on each void Qt call.

    PySide6 6.12.0 does (measured: one per ``QWidget.update()``, ~50 per repaint of the
    canvas); on Python < 3.12, where ``None`` is not immortal, the interpreter aborts with
    "none_dealloc: deallocating None" after a few seconds of use. When a quick test call shows
    the leak, ``None``'s reference count is raised far out of reach, which is what Python 3.12
    does for every such object. Returns whether the guard was applied.
    """
    import ctypes

    from PySide6.QtWidgets import QWidget

    global _GUARDED
    if _GUARDED or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    probe = QWidget()
    before = sys.getrefcount(None)
    for _ in range(100):
        probe.update()
    leaked = before - sys.getrefcount(None)
    probe.deleteLater()
    if leaked < 50:
        return False
    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40  # ob_refcnt comes first
    _GUARDED = True
    return True


def run_gui(directory: Path | None, labels: Path | None = None, flags: list[str] | None = None,
            label_flags: dict[str, list[str]] | None = None) -> int:
    """Open the window (on ``directory`` when given) and run the Qt event loop; ``flags`` and
    ``label_flags`` are labelme's ``--flags`` and ``--labelflags`` (see
    :mod:`labeler.editing.flags`)."""
    from labeler.threads import paint_on_one_thread

    paint_on_one_thread()  # before the QApplication (Qt reads the switch once)
    from PySide6.QtWidgets import QApplication

    from labeler.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    guard_none_refcount()
    app.setApplicationName("labeler")
    app.setOrganizationName("labeler")
    window = MainWindow()  # the SAM model: the toolbar's choice (labeler.gui.sam.SegmentBinding)
    window.session.image_flags = list(flags or [])
    window.session.label_flags = dict(label_flags or {})
    window.controls.refresh()
    window.show()
    if directory is not None:
        window.open_folder(directory, labels)
    return int(app.exec())
