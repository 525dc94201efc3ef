"""Built-in importers and exporters: yolo, yolo-seg, coco, imagefolder, csv, labelme.

Each class is a thin wrapper around the ``load_*``/``save_*`` functions of
:mod:`labeler.formats`; the shared work (selection, class mapping, splits, writing imported
label files) is done by :mod:`labeler.exporting`. See ``docs/formats.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from labeler import hookimpl
from labeler.formats.coco import load_coco, save_coco
from labeler.formats.csvfmt import load_csv, save_csv
from labeler.formats.imagefolder import load_imagefolder, save_imagefolder
from labeler.formats.labelme import load_labelme, save_labelme
from labeler.formats.yolo import load_yolo, save_yolo
from labeler.model import ImageLabel
from labeler.plugin_api import Exporter, ExportItem, ImportedImage, Importer, Report

__version__ = "0.1.0"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _CopyOptions(_Options):
    hardlink: bool = Field(
        default=True,
        description="Hard-link images into the output when possible (else copy). Images are "
        "never moved; with -o hardlink false they are always copied.",
    )


# -- YOLO ---------------------------------------------------------------------------------------
class YoloImporter(Importer):
    """YOLO detection/segmentation dataset -> rectangles and polygons."""

    name = "yolo"
    format = "yolo"
    description = "YOLO dataset (data.yaml or classes.txt; images/ + labels/; boxes and polygons)"

    def read(self, src: Path, report: Report) -> Iterable[ImportedImage]:
        """Yield the images of a YOLO dataset; bad label lines are reported per file and line."""
        return load_yolo(src, report)


class YoloSegImporter(YoloImporter):
    """Same reader as ``yolo`` (line kinds are detected one by one)."""

    name = "yolo-seg"
    format = "yolo-seg"
    description = "YOLO segmentation dataset (same reader as yolo: lines are auto-detected)"


class YoloExporter(Exporter):
    """Shapes -> YOLO detection boxes (``cls cx cy w h``)."""

    name = "yolo"
    format = "yolo"
    counts_images = True
    task: ClassVar[str] = "detection"
    description = "YOLO detection dataset for ultralytics (data.yaml, images/, labels/)"
    Options: ClassVar[type[BaseModel]] = _CopyOptions

    def export(
        self, items: Sequence[ExportItem], out: Path, classes: list[str], report: Report
    ) -> None:
        """Write ``items`` as a YOLO detection dataset under ``out``."""
        save_yolo(items, out, classes, report, hardlink=self.options.hardlink)  # type: ignore[attr-defined]


class YoloSegOptions(_CopyOptions):
    """Options of the yolo-seg exporter."""

    rectangles: Literal["polygon", "skip"] = Field(
        default="polygon", description="Rectangles: export as 4-point polygons, or skip them."
    )
    masks: Literal["polygon", "skip"] = Field(
        default="polygon", description="Mask shapes: trace them into polygons (OpenCV), or skip them."
    )
    mask_parts: Literal["largest", "all"] = Field(
        default="largest",
        description="A mask in several pieces: keep the largest piece, or write each as an object.",
    )
    mask_tolerance: float = Field(
        default=1.0, ge=0, description="Polygon simplification for masks, in pixels (0: none)."
    )


class YoloSegExporter(Exporter):
    """Shapes -> YOLO segmentation polygons (``cls x1 y1 x2 y2 ...``)."""

    name = "yolo-seg"
    format = "yolo-seg"
    counts_images = True
    task: ClassVar[str] = "detection"
    description = "YOLO segmentation dataset for ultralytics (polygons; masks traced with OpenCV)"
    Options: ClassVar[type[BaseModel]] = YoloSegOptions

    def export(
        self, items: Sequence[ExportItem], out: Path, classes: list[str], report: Report
    ) -> None:
        """Write ``items`` as a YOLO segmentation dataset under ``out``."""
        o: YoloSegOptions = self.options  # type: ignore[assignment]
        save_yolo(
            items,
            out,
            classes,
            report,
            segment=True,
            rectangles=o.rectangles,
            masks=o.masks,
            mask_parts=o.mask_parts,
            mask_tolerance=o.mask_tolerance,
            hardlink=o.hardlink,
        )


# -- COCO ---------------------------------------------------------------------------------------
class CocoImportOptions(_Options):
    """Options of the coco importer."""

    images: Path | None = Field(
        default=None,
        description="Folder the file_name values are relative to (default: found beside the JSON).",
    )


class CocoImporter(Importer):
    """COCO instances JSON -> polygons, rectangles and (RLE) masks."""

    name = "coco"
    format = "coco"
    description = "COCO instances JSON + images (polygons, boxes, RLE masks via pycocotools)"
    Options: ClassVar[type[BaseModel]] = CocoImportOptions

    def read(self, src: Path, report: Report) -> Iterable[ImportedImage]:
        """Yield the images of COCO instances file(s) found at ``src``."""
        return load_coco(src, report, images=self.options.images)  # type: ignore[attr-defined]


class CocoExportOptions(_CopyOptions):
    """Options of the coco exporter."""

    copy_images: bool = Field(
        default=True,
        description="Copy the images next to the JSON (--no-copy-images: file_name is the path "
        "relative to the dataset folder).",
    )


class CocoExporter(Exporter):
    """Shapes -> COCO instances JSON (one file per split)."""

    name = "coco"
    format = "coco"
    counts_images = True
    task: ClassVar[str] = "detection"
    description = "COCO instances JSON (boxes and polygon segmentation) + images"
    Options: ClassVar[type[BaseModel]] = CocoExportOptions

    def export(
        self, items: Sequence[ExportItem], out: Path, classes: list[str], report: Report
    ) -> None:
        """Write ``annotations/instances[_SPLIT].json`` (and the images) under ``out``."""
        o: CocoExportOptions = self.options  # type: ignore[assignment]
        save_coco(items, out, classes, report, copy_images=o.copy_images, hardlink=o.hardlink)


# -- ImageFolder --------------------------------------------------------------------------------
class ImageFolderImporter(Importer):
    """Class folders -> image-level labels."""

    name = "imagefolder"
    format = "imagefolder"
    description = "Class folders ([split/]class/image, torchvision ImageFolder) -> image labels"

    def read(self, src: Path, report: Report) -> Iterable[ImportedImage]:
        """Yield one image per file in a class folder, labelled with the folder's name."""
        return load_imagefolder(src, report)


class ImageFolderOptions(_CopyOptions):
    """Options of the imagefolder exporter."""

    empty_class_dirs: bool = Field(
        default=False,
        description="Create every class folder in every split, even when empty (torchvision "
        "then needs allow_empty=True), so that all splits number the classes alike.",
    )


class ImageFolderExporter(Exporter):
    """Image-level labels -> ``[split/]class/image`` folders."""

    name = "imagefolder"
    format = "imagefolder"
    counts_images = True
    task: ClassVar[str] = "classification"
    description = "torchvision ImageFolder layout ([split/]class/image) from image labels"
    Options: ClassVar[type[BaseModel]] = ImageFolderOptions

    def export(
        self, items: Sequence[ExportItem], out: Path, classes: list[str], report: Report
    ) -> None:
        """Write images with exactly one image-level label into class folders under ``out``."""
        o: ImageFolderOptions = self.options  # type: ignore[assignment]
        save_imagefolder(
            items, out, classes, report, empty_class_dirs=o.empty_class_dirs, hardlink=o.hardlink
        )


# -- CSV ----------------------------------------------------------------------------------------
class CsvImportOptions(_Options):
    """Options of the csv importer."""

    separator: str = Field(
        default=" ", min_length=1, description="Separator of several labels in one cell."
    )


class CsvImporter(Importer):
    """``image,label`` CSV -> image-level labels."""

    name = "csv"
    format = "csv"
    description = "CSV with image,label[,split] columns -> image labels"
    Options: ClassVar[type[BaseModel]] = CsvImportOptions

    def read(self, src: Path, report: Report) -> Iterable[ImportedImage]:
        """Yield the images listed in the CSV file(s) at ``src``."""
        return load_csv(src, report, separator=self.options.separator)  # type: ignore[attr-defined]


class CsvExportOptions(_CopyOptions):
    """Options of the csv exporter."""

    separator: str = Field(
        default=" ", min_length=1, description="Separator of several labels in one cell."
    )


class CsvExporter(Exporter):
    """Image-level labels -> ``image,label`` CSV (one per split) + ``images/``."""

    name = "csv"
    format = "csv"
    counts_images = True
    task: ClassVar[str] = "classification"
    description = "CSV image,label (labels.csv or train/val/test.csv) + images/"
    Options: ClassVar[type[BaseModel]] = CsvExportOptions

    def export(
        self, items: Sequence[ExportItem], out: Path, classes: list[str], report: Report
    ) -> None:
        """Write the CSV file(s) and copy the labelled images under ``out``."""
        o: CsvExportOptions = self.options  # type: ignore[assignment]
        save_csv(items, out, classes, report, separator=o.separator, hardlink=o.hardlink)


# -- labelme ------------------------------------------------------------------------------------
class LabelmeImportOptions(_Options):
    """Options of the labelme importer."""

    flags_as_labels: bool = Field(
        default=False,
        description="Turn image flags set to true (labelme --flags classification) into image labels.",
    )


class LabelmeImporter(Importer):
    """labelme / X-AnyLabeling folder -> labeler dataset."""

    name = "labelme"
    format = "labelme"
    description = "labelme / X-AnyLabeling JSON folder (images beside, or embedded imageData)"
    Options = LabelmeImportOptions

    def read(self, src: Path, report: Report) -> Iterable[ImportedImage]:
        """Yield every labelme JSON under ``src`` with its image."""
        o: LabelmeImportOptions = self.options  # type: ignore[assignment]
        for imported in load_labelme(src, report):
            ann = imported.annotation
            if o.flags_as_labels and ann.flags:
                have = set(ann.image_labels)
                for flag, value in ann.flags.items():
                    if value is True and flag not in have:
                        ann.meta.image_labels.append(ImageLabel(label=flag))
            yield imported


class LabelmeExportOptions(_CopyOptions):
    """Options of the labelme exporter."""

    plain: bool = Field(default=False, description="Leave out labeler's own keys ('labeler').")
    keep_image_data: bool = Field(default=False, description="Keep embedded imageData.")


class LabelmeExporter(Exporter):
    """A cleaned labelme dataset: selected images and filtered/mapped JSON files."""

    name = "labelme"
    format = "labelme"
    counts_images = True
    task: ClassVar[str] = "detection"  # shapes and image labels both kept
    description = "labelme JSON + images (the selection, with the class mapping applied)"
    Options: ClassVar[type[BaseModel]] = LabelmeExportOptions

    def export(
        self, items: Sequence[ExportItem], out: Path, classes: list[str], report: Report
    ) -> None:
        """Copy images and write their JSON files under ``out``."""
        o: LabelmeExportOptions = self.options  # type: ignore[assignment]
        save_labelme(
            items, out, classes, report, plain=o.plain, keep_image_data=o.keep_image_data,
            hardlink=o.hardlink,
        )


IMPORTERS: tuple[type[Importer], ...] = (
    YoloImporter,
    YoloSegImporter,
    CocoImporter,
    ImageFolderImporter,
    CsvImporter,
    LabelmeImporter,
)
EXPORTERS: tuple[type[Exporter], ...] = (
    YoloExporter,
    YoloSegExporter,
    CocoExporter,
    ImageFolderExporter,
    CsvExporter,
    LabelmeExporter,
)


@hookimpl
def register_importers(register: Callable[[type[Importer]], None]) -> None:
    """Register the built-in importers."""
    for cls in IMPORTERS:
        register(cls)


@hookimpl
def register_exporters(register: Callable[[type[Exporter]], None]) -> None:
    """Register the built-in exporters."""
    for cls in EXPORTERS:
        register(cls)
