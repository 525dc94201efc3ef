"""labeler: local-first image annotation and auto-labeling.

The public Python API::

    import labeler
    ds = labeler.open_dataset("sample_data/scenes")
    for item, ann in ds.annotations():
        ...
    ann = labeler.load_annotation("a.json"); labeler.save_annotation(ann, "a.json")

Plugins mark their hooks with ``@labeler.hookimpl``.
"""

from labeler.dataset import Dataset, Item, open_dataset
from labeler.errors import (
    ImageFileError,
    LabelerError,
    LabelFileError,
    LabelFileReadError,
    LabelFileWriteError,
)
from labeler.hookspecs import hookimpl
from labeler.io.images import open_image
from labeler.io.labelfile import load_annotation, save_annotation
from labeler.model import Annotation, ImageLabel, Issue, Shape, ShapeMeta, Source

__version__ = "0.1.0"

__all__ = [
    "Annotation",
    "Dataset",
    "ImageFileError",
    "ImageLabel",
    "Issue",
    "Item",
    "LabelFileError",
    "LabelFileReadError",
    "LabelFileWriteError",
    "LabelerError",
    "Shape",
    "ShapeMeta",
    "Source",
    "__version__",
    "hookimpl",
    "load_annotation",
    "open_dataset",
    "open_image",
    "save_annotation",
]
