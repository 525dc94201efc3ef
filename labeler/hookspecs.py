"""The plugin hooks. A plugin is a module or object with functions of these names, marked
with ``@labeler.hookimpl``, and registered through the ``labeler`` entry-point group.

Each ``register_*`` hook receives a ``register`` callback that the plugin calls once per class
it provides (the llm style). The classes derive from the bases in :mod:`labeler.plugin_api`.
Every hook is documented in ``docs/plugins.md`` and tested in ``tests/test_hookspecs.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from labeler.gui.extensions import GuiExtension
    from labeler.plugin_api import Autolabeler, Check, Exporter, Fixer, Importer, Segmenter

hookspec = pluggy.HookspecMarker("labeler")
hookimpl = pluggy.HookimplMarker("labeler")


@hookspec
def register_autolabelers(register: Callable[[type[Autolabeler]], None]) -> None:
    """Register Autolabeler classes: per-image models that suggest shapes or image labels."""


@hookspec
def register_checks(register: Callable[[type[Check]], None]) -> None:
    """Register Check classes: per-image or dataset-level data checks that raise issues."""


@hookspec
def register_fixers(register: Callable[[type[Fixer]], None]) -> None:
    """Register Fixer classes: reversible edits that resolve issues raised by checks."""


@hookspec
def register_importers(register: Callable[[type[Importer]], None]) -> None:
    """Register Importer classes: read a foreign dataset format into annotations."""


@hookspec
def register_exporters(register: Callable[[type[Exporter]], None]) -> None:
    """Register Exporter classes: write annotations out in a training format."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add extra subcommands to the ``labeler`` command-line group."""


@hookspec
def register_gui_extensions(register: Callable[[GuiExtension], None]) -> None:
    """Register GUI extensions: objects with ``name`` and ``create(window[, session])`` adding a dock or action."""


@hookspec
def register_segmenters(register: Callable[[Segmenter], None]) -> None:
    """Register interactive segmenters: objects with ``name`` and ``open(checkpoint)`` giving a session."""
