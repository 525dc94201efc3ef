"""File I/O: atomic writes, label files, safe image opening. No Qt, no torch."""

from labeler.io.atomic import atomic_write_bytes, atomic_write_text
from labeler.io.images import ImageInfo, image_size, open_image, read_image_info
from labeler.io.labelfile import load_annotation, load_annotation_dict, save_annotation

__all__ = [
    "ImageInfo",
    "atomic_write_bytes",
    "atomic_write_text",
    "image_size",
    "load_annotation",
    "load_annotation_dict",
    "open_image",
    "read_image_info",
    "save_annotation",
]
