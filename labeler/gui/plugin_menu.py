"""The Plugins menu: one submenu per autolabeler (this image / the listed images), one entry
per check; entries of plugins whose requirements are missing are disabled and say why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QMenu

from labeler.gui.options_dialog import has_options


def fill_plugins_menu(menu: QMenu, run: Callable[..., Any], on_error: Callable[[str], None]) -> None:
    """Add the registered autolabelers and checks to ``menu``; ``run(kind, name, current_only=)``
    starts one."""
    from labeler.plugins import get_registry

    try:
        reg = get_registry()
    except Exception as err:  # noqa: BLE001 - broken plugins must not stop the window
        on_error(f"plugins: {err}")
        return
    for name, cls in sorted(reg.autolabelers.items()):
        sub = menu.addMenu(f"Autolabel: {name}")
        sub.setToolTipsVisible(True)
        missing = cls.missing_requirements()
        dots = "…" if has_options(cls) else ""
        a1 = sub.addAction(f"Run on this image{dots}",
                           lambda n=name: run("autolabelers", n, current_only=True))
        a2 = sub.addAction(f"Run on the listed images{dots}",
                           lambda n=name: run("autolabelers", n, current_only=False))
        for a in (a1, a2):
            a.setEnabled(not missing)
            a.setToolTip(cls.description if not missing else f"needs: {', '.join(missing)}")
    if reg.checks:
        menu.addSeparator()
    for name, cls in sorted(reg.checks.items()):
        dots = "…" if has_options(cls) else ""
        act = menu.addAction(f"Check: {name}{dots}", lambda n=name: run("checks", n))
        missing = cls.missing_requirements()
        act.setEnabled(not missing)
        act.setToolTip(cls.description if not missing else f"needs: {', '.join(missing)}")
    menu.addSeparator()
