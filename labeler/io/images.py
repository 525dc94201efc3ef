"""Open images safely and consistently.

EXIF orientation is handled the way labelme handles it: the image is shown (and annotated) in
its EXIF-corrected orientation, so annotation coordinates, ``imageWidth`` and ``imageHeight``
refer to the rotated image. Every command goes through :func:`open_image` or
:func:`read_image_info`, so the rule holds everywhere.
"""

from __future__ import annotations

import os
import stat
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from labeler.errors import ImageFileError

#: Image file extensions a dataset scan picks up (lower case).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

#: Larger images are refused as possible decompression bombs (Pillow's own hard limit).
MAX_PIXELS = 2 * 89_478_485

#: EXIF orientations that swap width and height.
_TRANSPOSED = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageInfo:
    """What the header says, without decoding the pixels."""

    width: int
    height: int
    format: str | None
    orientation: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as displayed, after EXIF orientation."""
        return (self.width, self.height)


def _check_pixels(path: Path, w: int, h: int, max_pixels: int) -> None:
    if w <= 0 or h <= 0:
        raise ImageFileError(path, f"invalid image size {w}x{h}")
    if w * h > max_pixels:
        raise ImageFileError(
            path,
            f"image is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,} "
            "(possible decompression bomb)",
        )


def not_regular_reason(path: str | Path) -> str | None:
    """Why ``path`` (symbolic links followed) is not a regular file, or None when it is one.

    Opening a FIFO blocks until someone writes to it, and devices never end: images are read
    only from regular files.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "broken symbolic link" if os.path.islink(path) else None
    except OSError:
        return None  # the read reports it
    if stat.S_ISREG(mode):
        return None
    kind = (
        "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a folder" if stat.S_ISDIR(mode)
        else "a special file"
    )
    return f"not a regular file: {kind}; not read"


def read_image_info(path: str | Path, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Read size, format and EXIF orientation from the header only (fast, no decoding)."""
    path = Path(path)
    special = not_regular_reason(path)
    if special is not None:
        raise ImageFileError(path, special)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                fmt = img.format
                try:
                    orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
                except Exception:  # noqa: BLE001 - broken EXIF: treat as upright
                    orientation = 1
    except FileNotFoundError:
        raise ImageFileError(path, "file not found") from None
    except (UnidentifiedImageError, ImportError):
        # ImportError: ultralytics patches Image.open to try pi_heif on unknown files.
        size = path.stat().st_size if path.exists() else 0
        problem = "empty file (0 bytes)" if size == 0 else "not an image (or unsupported format)"
        raise ImageFileError(path, problem) from None
    except Image.DecompressionBombError as err:
        raise ImageFileError(path, f"possible decompression bomb: {err}") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageFileError(path, f"cannot read image header: {_describe(err)}") from None
    _check_pixels(path, w, h, max_pixels)
    if orientation in _TRANSPOSED:
        w, h = h, w
    return ImageInfo(width=w, height=h, format=fmt, orientation=orientation)


def check_image_file(path: str | Path) -> ImageInfo:
    """Header checks plus a cheap completeness test; raises :class:`ImageFileError`.

    A JPEG must have its end-of-image marker in its last kilobyte and a PNG its ``IEND``
    chunk at the end; a file that does not is decoded in full to find out (a truncated file
    then fails with "truncated image file", while a JPEG with data appended after the image,
    such as a phone's motion photo, decodes and passes). A PNG that ends well also has its
    chunks' CRCs checked and its image data inflated (not decoded into pixels), which finds a
    damaged chunk in the middle. Costs two small reads per JPEG and one read of each PNG, so
    exports can run it on every image.
    """
    path = Path(path)
    info = read_image_info(path)
    tail_marker = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}.get(info.format or "")
    if tail_marker is None:
        return info
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(max(0, size - 1024))
            tail = f.read()
    except OSError as err:
        raise ImageFileError(path, f"cannot read: {err.strerror or err}") from None
    if tail_marker not in tail:
        open_image(path, mode=None)  # raises ImageFileError when it really is incomplete
    elif info.format == "PNG":
        _check_png_chunks(path)  # IEND is there: a chunk in the middle can still be corrupt
    return info


def _check_png_chunks(path: Path) -> None:
    """Walk a PNG's chunks: every CRC must match and the image data must inflate to its end.

    Reads the file once and inflates without keeping the output (no pixel decoding), so a
    PNG with a damaged data chunk fails here as it would in a training data loader.
    """
    try:
        with open(path, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                raise ImageFileError(path, "corrupt PNG: bad signature")
            inflater = zlib.decompressobj()
            while True:
                head = f.read(8)
                if len(head) < 8:
                    raise ImageFileError(path, "corrupt PNG: truncated chunk header")
                length = int.from_bytes(head[:4], "big")
                ctype = head[4:]
                data = f.read(length)
                crc = f.read(4)
                if len(data) < length or len(crc) < 4:
                    raise ImageFileError(path, f"corrupt PNG: truncated chunk {ctype.decode('latin-1')}")
                if zlib.crc32(ctype + data) != int.from_bytes(crc, "big"):
                    raise ImageFileError(path, f"corrupt PNG: CRC error in chunk {ctype.decode('latin-1')}")
                if ctype == b"IDAT":
                    try:
                        while data and not inflater.eof:
                            inflater.decompress(data, 1 << 20)
                            data = inflater.unconsumed_tail
                    except zlib.error as err:
                        raise ImageFileError(path, f"corrupt PNG: image data does not decompress ({err})") from None
                elif ctype == b"IEND":
                    break
    except OSError as err:
        raise ImageFileError(path, f"cannot read: {err.strerror or err}") from None
    if not inflater.eof:
        raise ImageFileError(path, "corrupt PNG: image data ends early (truncated image file)")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as displayed, read from the header."""
    return read_image_info(path).size


def open_image(
    path: str | Path,
    mode: str | None = "RGB",
    max_pixels: int = MAX_PIXELS,
    draft_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode an image fully, EXIF-corrected, converted to ``mode`` (None keeps its mode).

    ``draft_size`` lets JPEG decode at a reduced scale (at least that size) for previews;
    the result's size then differs from the annotation's coordinate frame.
    Truncated files, non-images and oversized images raise :class:`ImageFileError`.
    """
    path = Path(path)
    read_image_info(path, max_pixels=max_pixels)  # header checks first: cheap, and bomb-safe
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if draft_size is not None and img.format == "JPEG":
                    img.draft("RGB", draft_size)
                img.load()
                out = ImageOps.exif_transpose(img)
                if mode is not None and out.mode != mode:
                    out = out.convert(mode)
                elif out is img:
                    out = img.copy()
    except ImageFileError:
        raise
    except (OSError, SyntaxError, ValueError, ImportError, Image.DecompressionBombError) as err:
        raise ImageFileError(path, f"cannot decode image: {_describe(err)}") from None
    return out


def _describe(err: BaseException) -> str:
    msg = str(err) or type(err).__name__
    if "truncated" in msg.lower():
        return f"truncated image file ({msg})"
    return msg
