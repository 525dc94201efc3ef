"""``bbox-csv``: one row per box, ``image,label,x1,y1,x2,y2`` (pixels, top-left origin).

An image without boxes has one row with the label and coordinates empty, so that negative
images survive a round trip. Export writes ``labels.csv`` beside copies of the images (keeping
their relative paths), or one such folder per split (``train/labels.csv``, ...). Import reads
a CSV file, or every ``*.csv`` under a folder; image paths are relative to their CSV.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from labeler.errors import ImageFileError
from labeler.io.atomic import atomic_write_text
from labeler.io.images import read_image_info
from labeler.model import Annotation, Shape
from labeler.plugin_api import Exporter, ExportItem, ImportedImage, Importer, Report

HEADER = ["image", "label", "x1", "y1", "x2", "y2"]
CSV_NAME = "labels.csv"


class BboxCsvExportOptions(BaseModel):
    """Options of the bbox-csv exporter."""

    model_config = ConfigDict(extra="forbid")

    decimals: int = Field(1, ge=0, le=6, description="Decimal places of the coordinates.")
    copy_images: bool = Field(True, description="Copy the images next to the CSV.")


class BboxCsvExporter(Exporter):
    """Write ``labels.csv`` (``image,label,x1,y1,x2,y2``) and copy the images beside it."""

    name = "example_bbox_csv_export"
    format = "bbox-csv"
    description = "A CSV of boxes, image,label,x1,y1,x2,y2 (shapes exported as their bounding box)."
    Options = BboxCsvExportOptions
    task = "detection"
    options: BboxCsvExportOptions

    def export(
        self, items: Sequence[ExportItem], out: Path, classes: list[str], report: Report
    ) -> None:
        by_split: dict[str, list[ExportItem]] = defaultdict(list)
        for it in items:
            by_split[it.split].append(it)
        d = self.options.decimals
        for split, group in sorted(by_split.items()):
            folder = out / split if split else out
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(HEADER)
            for it in sorted(group, key=lambda e: e.item.rel):
                rows = 0
                for shape in it.annotation.shapes:
                    try:
                        x1, y1, x2, y2 = shape.bbox()
                    except ValueError:
                        report.problem(f"{it.item.label_path}: shape {shape.label!r} has no points")
                        continue
                    if shape.shape_type != "rectangle":
                        report.add("converted to boxes")
                    writer.writerow(
                        [it.item.rel, shape.label] + [f"{v:.{d}f}" for v in (x1, y1, x2, y2)]
                    )
                    rows += 1
                    report.add("boxes")
                if not rows:
                    writer.writerow([it.item.rel, "", "", "", "", ""])
                if it.annotation.image_labels:
                    report.add("image labels not exported")
                if self.options.copy_images:
                    dest = folder / it.item.rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        shutil.copyfile(it.item.image_path, dest)
                    except OSError as err:
                        report.problem(f"{it.item.image_path}: cannot copy: {err}")
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(folder / CSV_NAME, buf.getvalue())
            report.add("files")


def _number(value: str, column: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{column} is {value!r}, not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{column} is {value!r}, not a finite number")
    return number


class BboxCsvImporter(Importer):
    """Read ``image,label,x1,y1,x2,y2`` CSV files into rectangles (a person's labels)."""

    name = "example_bbox_csv_import"
    format = "bbox-csv"
    description = "A CSV of boxes, image,label,x1,y1,x2,y2; a file, or every *.csv under a folder."

    def read(self, src: Path, report: Report) -> Iterable[ImportedImage]:
        src = Path(src)
        files = [src] if src.is_file() else sorted(src.rglob("*.csv"))
        if not files:
            report.problem(f"{src}: no .csv file found")
        root = src.parent if src.is_file() else src
        for path in files:
            yield from self._read_csv(path, root, report)

    def _read_csv(self, path: Path, root: Path, report: Report) -> Iterator[ImportedImage]:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            report.problem(f"{path}: cannot read: {err}")
            return
        rows = csv.reader(io.StringIO(text))
        header = [h.strip().lower() for h in next(rows, [])]
        if header[:6] != HEADER:
            report.problem(
                f"{path}: line 1: expected the header {','.join(HEADER)}, got {','.join(header)}"
            )
            return
        shapes: dict[str, list[Shape]] = {}
        for line, row in enumerate(rows, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) < 6:
                report.problem(f"{path}: line {line}: expected 6 columns, got {len(row)}")
                continue
            image, label = row[0].strip(), row[1].strip()
            if not image:
                report.problem(f"{path}: line {line}: the image column is empty")
                continue
            boxes = shapes.setdefault(image, [])
            if not label and not any(c.strip() for c in row[2:6]):
                continue  # an image without boxes
            try:
                if not label:
                    raise ValueError("the label column is empty")
                x1, y1, x2, y2 = (_number(row[i].strip(), HEADER[i]) for i in range(2, 6))
                if x2 <= x1 or y2 <= y1:
                    raise ValueError(
                        f"empty box ({x1}, {y1}, {x2}, {y2}): need x1 < x2 and y1 < y2"
                    )
            except ValueError as err:
                report.problem(f"{path}: line {line}: {err}")
                continue
            boxes.append(Shape(label=label, points=[(x1, y1), (x2, y2)], shape_type="rectangle"))
        for image, boxes in shapes.items():
            image_path = path.parent / image
            try:
                rel = image_path.relative_to(root).as_posix()
                info = read_image_info(image_path)
            except ValueError:
                report.problem(f"{path}: image {image!r} is outside {root}")
                continue
            except ImageFileError as err:
                report.problem(str(err))
                continue
            ann = Annotation(
                imagePath=image_path.name, imageWidth=info.width, imageHeight=info.height
            )
            for box in boxes:
                x1, y1, x2, y2 = box.bbox()
                if x1 < 0 or y1 < 0 or x2 > info.width or y2 > info.height:
                    report.add("boxes outside the image")
                ann.add_shape(box)
            yield ImportedImage(source_image=image_path, rel=rel, annotation=ann)
