"""Smaller widgets: the label dialog, the GUI extension hook, the docs listing every shortcut."""

from __future__ import annotations

from pathlib import Path

import pluggy
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel

from labeler.gui.label_dialog import LabelDialog
from labeler.gui.shortcuts import COMMANDS, EXTRA_KEYS
from tests.editing.conftest import make_image

REPO = Path(__file__).resolve().parents[2]


def test_label_dialog_completion_and_answer(qtbot) -> None:
    dlg = LabelDialog()
    qtbot.addWidget(dlg)
    dlg.set_labels(["cat", "dog", "elephant"])
    dlg.completer.setCompletionPrefix("ele")
    assert dlg.completer.currentCompletion() == "elephant"

    def answer() -> None:
        dlg.edit.setText("dog")
        dlg.text_edit.setText("A-123")
        dlg.accept()

    QTimer.singleShot(0, answer)
    got = dlg.ask("cat")
    assert got is not None and got.label == "dog" and got.text == "A-123"
    QTimer.singleShot(0, dlg.reject)
    assert dlg.ask("cat") is None


def test_hook_register_gui_extensions_adds_dock_and_action(qtbot, tmp_path: Path, monkeypatch) -> None:
    """A plugin adds a dock and a menu action through register_gui_extensions."""
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QAction

    import labeler.plugins as plugins
    from labeler import hookspecs
    from labeler.gui.main_window import MainWindow

    hookimpl = pluggy.HookimplMarker("labeler")

    class Dock:
        name = "My dock"

        def create(self, window):  # noqa: ANN001
            return QLabel("hello from a plugin")

    class Action:
        name = "My action"

        def create(self, window):  # noqa: ANN001
            return QAction("Do my thing", window)

    class SessionDock:
        """Receives the Qt-free session too, and follows its events."""

        name = "Session dock"

        def create(self, window, session):  # noqa: ANN001
            from labeler.editing.session import CurrentChanged

            label = QLabel("nothing open")
            label.session = session  # type: ignore[attr-defined]
            session.subscribe(CurrentChanged, lambda e: label.setText(e.doc.item.rel if e.doc else "none"))
            return label

    class Broken:
        name = "Broken"

        def create(self, window):  # noqa: ANN001
            raise RuntimeError("oops")

    class Plugin:
        @hookimpl
        def register_gui_extensions(self, register):  # noqa: ANN001
            register(Dock())
            register(Action())
            register(SessionDock())
            register(Broken())

    class Wrong:
        @hookimpl
        def register_gui_extensions(self, register):  # noqa: ANN001
            register("a dock, I promise")

    pm = pluggy.PluginManager("labeler")
    pm.add_hookspecs(hookspecs)
    pm.register(Plugin(), name="guiplugin")
    pm.register(Wrong(), name="wrongplugin")
    monkeypatch.setattr(plugins, "get_plugin_manager", lambda: pm)
    monkeypatch.setattr(plugins, "_registry", None)
    w = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), max_side=256)
    qtbot.addWidget(w)
    assert isinstance(w.extensions["My dock"], QLabel)
    assert "Do my thing" in [a.text() for a in w.plugins_menu.actions()]
    assert any("Broken" in e for e in w.errors)
    wrong = [e for e in w.errors if "wrongplugin" in e]
    assert len(wrong) == 1 and "\n" not in wrong[0] and "needs a name and a create(window) method" in wrong[0]
    dock = w.extensions["Session dock"]
    assert dock.session is w.session
    root = tmp_path / "ds"
    make_image(root / "x.jpg", (40, 30))
    assert w.open_folder(root)
    assert dock.text() == "x.jpg"  # the session's CurrentChanged event reached the extension
    w.close()


def test_docs_list_every_shortcut() -> None:
    text = (REPO / "docs" / "gui.md").read_text(encoding="utf-8")
    missing = [k for c in COMMANDS for k in c.keys if f"`{k}`" not in text]
    missing += [k for k, _ in EXTRA_KEYS if k not in text]
    assert not missing, f"docs/gui.md does not mention: {missing}"


def test_hook_register_gui_extensions_example_plugin_dock(qtbot, tmp_path: Path, monkeypatch) -> None:
    """The example plugin's dock, found through the real plugin manager, shows label counts."""
    import importlib

    from PySide6.QtCore import QSettings

    import labeler.plugins as plugins
    from labeler.gui.main_window import MainWindow

    example = importlib.import_module("labeler_example_plugin")
    plugins.reset()
    monkeypatch.setenv("LABELER_PLUGINS", "formats")
    if plugins.get_plugin_manager().get_plugin("example") is None:
        plugins.register_plugin(example, "example")
    try:
        w = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), max_side=256)
        qtbot.addWidget(w)
        dock = w.extensions["Example: label counts"]
        assert dock.text() == "no image"
        import shutil

        scenes = shutil.copytree(REPO / "sample_data" / "scenes", tmp_path / "scenes")
        w.open_folder(scenes)
        qtbot.waitUntil(lambda: w.doc is not None, timeout=5000)
        dock.refresh()
        assert any(name in dock.text() for name in ("ball", "star", "box", "elephant")), dock.text()
        w.close()
    finally:
        plugins.reset()


def test_empty_lists_say_what_would_be_there_and_threshold_fades_suggestions(window) -> None:
    panel = window.review_panel
    assert panel.suggestions.count() == 0 and "No suggestions" in panel.suggestions.placeholder
    assert "No open issues" in panel.issues.placeholder and "draw one" in window.shape_panel.placeholder
    panel.threshold.setValue(0.7)
    assert window.canvas.min_score == 0.7  # suggestions below it are drawn faint


def test_none_survives_void_qt_calls(qtbot) -> None:  # noqa: ANN001
    """PySide6 6.12.0 drops a reference to None per void call; on Python < 3.12 that aborts
    the GUI within seconds unless guard_none_refcount() has made None unreachable by it."""
    import sys

    from PySide6.QtWidgets import QLabel

    from labeler.gui.app import guard_none_refcount

    guard_none_refcount()
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.update()
    leaks = before - sys.getrefcount(None) > 500
    assert not leaks or sys.version_info >= (3, 12) or sys.getrefcount(None) > 2**39


def test_main_window_provides_every_member_of_the_extension_window_protocol(window) -> None:
    """What extensions are told they may use (ExtensionWindow) is really on the MainWindow."""
    from labeler.gui.extensions import ExtensionWindow

    members = set(ExtensionWindow.__annotations__) | {
        name for name in vars(ExtensionWindow) if not name.startswith("_")}
    assert {"session", "plugins_menu", "doc", "dataset", "open_rel", "documentOpened"} <= members
    missing = [name for name in sorted(members) if not hasattr(window, name)]
    assert missing == []
    assert window.session is not None and window.doc is None
