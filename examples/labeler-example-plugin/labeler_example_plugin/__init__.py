"""An example labeler plugin: one small, real implementation of every hook.

- ``example_blobs`` (autolabeler): rectangles around bright or saturated blobs.
- ``example_dark`` (per-image check): images that are too dark or have too little contrast.
- ``example_duplicates`` (dataset check): files with exactly the same bytes.
- ``example_exclude`` (fixer): leaves flagged images out of exports, reversibly.
- ``bbox-csv`` (importer and exporter): ``image,label,x1,y1,x2,y2`` rows.
- ``labeler example-hello DIR`` (command): counts images and labels.
- ``Example: label counts`` (GUI extension): a dock with the label counts of the open image.
- ``example_blob`` (segmenter): the GUI's click-to-segment tool on the bright blob under a click.

Only the hooks live here; each class sits in its own module, and numpy is imported inside the
methods that use it, so that loading the plugin (``labeler --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import labeler

if TYPE_CHECKING:
    from collections.abc import Callable

    import click

    from labeler.plugin_api import Autolabeler, Check, Exporter, Fixer, Importer

__version__ = "0.1.0"


@labeler.hookimpl
def register_autolabelers(register: Callable[[type[Autolabeler]], None]) -> None:
    """Provide the blob autolabeler."""
    from labeler_example_plugin.blobs import BlobAutolabeler

    register(BlobAutolabeler)


@labeler.hookimpl
def register_checks(register: Callable[[type[Check]], None]) -> None:
    """Provide the dark-image check and the duplicate-file check."""
    from labeler_example_plugin.checks import DarkImageCheck, DuplicateFileCheck

    register(DarkImageCheck)
    register(DuplicateFileCheck)


@labeler.hookimpl
def register_fixers(register: Callable[[type[Fixer]], None]) -> None:
    """Provide the fixer that excludes flagged images from export."""
    from labeler_example_plugin.fixers import ExcludeFixer

    register(ExcludeFixer)


@labeler.hookimpl
def register_importers(register: Callable[[type[Importer]], None]) -> None:
    """Provide the bbox-csv importer."""
    from labeler_example_plugin.bbox_csv import BboxCsvImporter

    register(BboxCsvImporter)


@labeler.hookimpl
def register_exporters(register: Callable[[type[Exporter]], None]) -> None:
    """Provide the bbox-csv exporter."""
    from labeler_example_plugin.bbox_csv import BboxCsvExporter

    register(BboxCsvExporter)


@labeler.hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``labeler example-hello``."""
    from labeler_example_plugin.commands import hello

    cli.add_command(hello)


@labeler.hookimpl
def register_gui_extensions(register: Callable[[object], None]) -> None:
    """Add a dock to the desktop labeler."""
    from labeler_example_plugin.gui import LabelCountDock

    register(LabelCountDock())


@labeler.hookimpl
def register_segmenters(register: Callable[[object], None]) -> None:
    """Provide the bright-blob segmenter for the GUI's click-to-segment tool."""
    from labeler_example_plugin.segment import BlobSegmenter

    register(BlobSegmenter())
