"""OCR dataset formats: ICDAR 2015 txt, UFO-style receipt JSON, PaddleOCR detection labels.

Thin wrappers around :mod:`labeler.formats.icdar`, :mod:`labeler.formats.ufo` and
:mod:`labeler.formats.paddleocr`; see ``docs/ocr.md``. Text regions are shapes with their
transcription in ``labeler.text``; ``###`` and the ``illegible`` flag mark don't-care regions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from labeler import hookimpl
from labeler.formats.icdar import load_icdar, save_icdar
from labeler.formats.paddleocr import load_paddleocr, save_paddleocr
from labeler.formats.ufo import load_ufo, save_ufo
from labeler.plugin_api import Exporter, ExportItem, ImportedImage, Importer, Report

__version__ = "0.1.0"


class ImportOptions(BaseModel):
    """Options of the OCR importers."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="text", description="Label given to the text-region shapes.")


class ExportOptions(BaseModel):
    """Options of the OCR exporters."""

    model_config = ConfigDict(extra="forbid")

    hardlink: bool = Field(
        default=True, description="Hard-link images into the output when possible (else copy)."
    )


class _OcrImporter(Importer):
    Options: ClassVar[type[BaseModel]] = ImportOptions
    loader: ClassVar[Any]

    def read(self, src: Path, report: Report) -> Iterable[ImportedImage]:
        """Yield the images and their text regions; bad lines and files go to ``report``."""
        return type(self).loader(src, report, label=self.options.label)  # type: ignore[attr-defined]


class _OcrExporter(Exporter):
    Options: ClassVar[type[BaseModel]] = ExportOptions
    counts_images = True
    saver: ClassVar[Any]

    def export(
        self, items: Sequence[ExportItem], out: Path, classes: list[str], report: Report
    ) -> None:
        """Write every text region of ``items`` (the class list does not apply)."""
        type(self).saver(items, out, report, hardlink=self.options.hardlink)  # type: ignore[attr-defined]


class IcdarImporter(_OcrImporter):
    """ICDAR 2015: ``gt_<stem>.txt`` with ``x1,y1,...,x4,y4,transcription`` lines."""

    name = format = "icdar2015"
    description = "ICDAR 2015 text (gt_<stem>.txt: x1,y1,...,x4,y4,transcription)"
    loader = staticmethod(load_icdar)


class IcdarExporter(_OcrExporter):
    """ICDAR 2015: ``images/`` + ``gt/gt_<stem>.txt``."""

    name = format = "icdar2015"
    description = "ICDAR 2015 text (images/, gt/gt_<stem>.txt; ### for don't care)"
    saver = staticmethod(save_icdar)


class UfoImporter(_OcrImporter):
    """UFO-style JSON (images -> words -> points, transcription, illegibility, ...)."""

    name = format = "ufo"
    description = "UFO-style receipt OCR JSON (images, words, points, transcription, tags)"
    loader = staticmethod(load_ufo)


class UfoExporter(_OcrExporter):
    """UFO-style JSON: ``ufo.json`` + ``images/``."""

    name = format = "ufo"
    description = "UFO-style receipt OCR JSON (ufo.json + images/)"
    saver = staticmethod(save_ufo)


class PaddleImporter(_OcrImporter):
    """PaddleOCR detection labels (``Label.txt``: path TAB JSON regions)."""

    name = format = "paddleocr"
    description = "PaddleOCR / PPOCRLabel detection labels (Label.txt, train_label.txt)"
    loader = staticmethod(load_paddleocr)


class PaddleExporter(_OcrExporter):
    """PaddleOCR detection labels: ``Label.txt`` + ``images/``."""

    name = format = "paddleocr"
    description = "PaddleOCR detection labels (Label.txt + images/)"
    saver = staticmethod(save_paddleocr)


@hookimpl
def register_importers(register: Any) -> None:
    """ICDAR 2015, UFO and PaddleOCR importers."""
    for cls in (IcdarImporter, UfoImporter, PaddleImporter):
        register(cls)


@hookimpl
def register_exporters(register: Any) -> None:
    """ICDAR 2015, UFO and PaddleOCR exporters."""
    for cls in (IcdarExporter, UfoExporter, PaddleExporter):
        register(cls)
