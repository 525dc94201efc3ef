"""Plugins add dock widgets or menu actions to the window through one hook.

A plugin implements::

    @labeler.hookimpl
    def register_gui_extensions(register):
        register(MyExtension())

where the object has ``name`` (shown in the Plugins menu and used as the dock title) and
``create(window)``, which receives the :class:`~labeler.gui.main_window.MainWindow` and
returns a ``QWidget`` (shown as a dock), a ``QAction`` (added to the Plugins menu) or None
(the extension added what it needed itself, e.g. through ``window.plugins_menu``).
"""

from __future__ import annotations

from typing import Any, Protocol


class GuiExtension(Protocol):
    """What ``register_gui_extensions`` registers."""

    name: str

    def create(self, window: Any) -> Any: ...


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
