"""Plugins add dock widgets or menu actions to the window through one hook.

A plugin implements::

    @labeler.hookimpl
    def register_gui_extensions(register):
        register(MyExtension())

where the object has ``name`` (shown in the Plugins menu and used as the dock title) and
``create(window)`` or ``create(window, session)``, which receives the
:class:`~labeler.gui.main_window.MainWindow` (and, when it takes a ``session`` parameter, the
Qt-free :class:`~labeler.editing.session.Session`: the open document, selection, events) and
returns a ``QWidget`` (shown as a dock), a ``QAction`` (added to the Plugins menu) or None
(the extension added what it needed itself, e.g. through ``window.plugins_menu``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QMenu

    from labeler.dataset import Dataset
    from labeler.editing.document import Document
    from labeler.editing.session import Session


class ExtensionWindow(Protocol):
    """The part of :class:`~labeler.gui.main_window.MainWindow` an extension may rely on."""

    #: The Qt-free state behind the window (documents, selection, classes, typed events).
    session: Session
    #: The Plugins menu (an extension may add its own actions to it).
    plugins_menu: QMenu
    #: ``documentOpened(rel)``: the annotation of ``rel`` is shown (its image may still load).
    documentOpened: SignalInstance  # noqa: N815 - Qt signal name
    #: ``imageShown(rel)``: the decoded image of ``rel`` is on screen.
    imageShown: SignalInstance  # noqa: N815 - Qt signal name

    @property
    def doc(self) -> Document | None:
        """The open document (``annotation``; ``edit()`` for undoable changes)."""
        ...

    @property
    def dataset(self) -> Dataset | None:
        """The open dataset."""
        ...

    def open_rel(self, rel: str) -> bool:
        """Open the image ``rel`` (relative to the folder); False if it is not listed."""
        ...


class GuiExtension(Protocol):
    """What ``register_gui_extensions`` registers: a ``name`` (menu text and dock title) and
    ``create(window)`` or ``create(window, session)``, returning a ``QWidget`` (a dock), a
    ``QAction`` (the Plugins menu) or None."""

    name: str

    def create(self, window: ExtensionWindow) -> Any:
        """Build the dock widget or action (``create(window, session: Session)`` also works)."""
        ...


def collect_gui_extensions(errors: list[str] | None = None) -> list[GuiExtension]:
    """Every extension registered by installed plugins (broken plugins are reported, skipped)."""
    from labeler.plugins import get_plugin_manager

    pm = get_plugin_manager()
    hook = pm.hook.register_gui_extensions
    found: list[GuiExtension] = []
    for impl in hook.get_hookimpls():
        def register(ext: GuiExtension, _plugin: str = impl.plugin_name) -> None:
            if not getattr(ext, "name", None) or not callable(getattr(ext, "create", None)):
                raise TypeError(f"{ext!r} needs a name and a create(window) method")
            found.append(ext)

        try:
            impl.function(register=register)
        except Exception as err:  # noqa: BLE001 - one broken plugin must not stop the window
            if errors is not None:
                errors.append(f"plugin {impl.plugin_name!r}: GUI extension: {type(err).__name__}: {err}")
    return found


def install_extensions(window: Any, session: Any, add_dock: Callable[..., Any],
                       on_error: Callable[[str], None]) -> dict[str, Any]:
    """Create every extension: a widget becomes a dock (``add_dock(title, widget, area)``), an
    action joins the Plugins menu; one that raises is reported and skipped. Returns what each
    ``create`` made, by name."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QWidget

    errors: list[str] = []
    made_by: dict[str, Any] = {}
    for ext in collect_gui_extensions(errors):
        try:
            wants_session = "session" in inspect.signature(ext.create).parameters
            made = ext.create(window, session=session) if wants_session else ext.create(window)
        except Exception as err:  # noqa: BLE001 - a broken extension must not stop the window
            errors.append(f"GUI extension {ext.name!r}: {type(err).__name__}: {err}")
            continue
        made_by[ext.name] = made
        if isinstance(made, QAction):
            window.plugins_menu.addAction(made)
        elif isinstance(made, QWidget):
            add_dock(ext.name, made, Qt.DockWidgetArea.RightDockWidgetArea)
    for e in errors:
        on_error(e)
    return made_by

