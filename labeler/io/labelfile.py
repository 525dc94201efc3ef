"""Read and write one annotation (labelme JSON) file, safely.

Reading never changes the file. Every problem raises :class:`LabelFileReadError` whose message
names the file and, for validation problems, the field (``shapes[3].points``).
Writing is atomic (:mod:`labeler.io.atomic`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from labeler.errors import LabelFileReadError, LabelFileWriteError, SchemaVersionError
from labeler.io.atomic import atomic_write_bytes
from labeler.migrations import migrate
from labeler.model import SCHEMA_VERSION, Annotation

#: Label files larger than this are refused (they are almost always huge embedded images).
MAX_LABEL_FILE_BYTES = 256 * 1024 * 1024
#: Embedded ``imageData`` longer than this (base64 characters) is refused.
MAX_IMAGE_DATA_CHARS = 128 * 1024 * 1024


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = "labeler" if part == "meta" else str(part)
            out += f".{name}" if out else name
    return out or "(top level)"


def format_validation_error(err: ValidationError) -> str:
    """One line per problem: ``field: message``."""
    parts = []
    for e in err.errors()[:5]:
        parts.append(f"{_loc(tuple(e['loc']))}: {e['msg']}")
    more = len(err.errors()) - 5
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def normalize_image_path(value: str) -> str:
    """labelme on Windows writes backslashes; store and compare with forward slashes."""
    return value.replace("\\", "/")


def check_image_path(label_path: Path, image_path: str, allowed_root: Path | None) -> Path | None:
    """Resolve ``imagePath`` relative to the label file; refuse absolute or escaping paths.

    Returns the resolved path, or None when ``imagePath`` is empty.
    """
    if not image_path:
        return None
    norm = normalize_image_path(image_path)
    pure = PurePosixPath(norm)
    if pure.is_absolute() or (len(norm) > 1 and norm[1] == ":"):
        raise LabelFileReadError(label_path, f"imagePath {image_path!r} is an absolute path")
    resolved = Path(os.path.normpath(label_path.parent / Path(*pure.parts)))
    if allowed_root is not None:
        root = Path(os.path.normpath(allowed_root.absolute()))
        try:
            Path(os.path.normpath(resolved.absolute())).relative_to(root)
        except ValueError:
            raise LabelFileReadError(
                label_path, f"imagePath {image_path!r} points outside the dataset ({root})"
            ) from None
    return resolved


#: JSON nested deeper than this is refused: labelme files nest about 8 levels, and deeper
#: structures (in ``flags`` or unknown keys, kept as they are) make writing them fail.
MAX_JSON_DEPTH = 64

#: A ``\\uD800``-``\\uDFFF`` escape: the only way a JSON text can hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def _json_path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _number_too_long(text: str) -> str:
    """Where the first integer too long for Python to read is, for the error message."""
    limit = sys.get_int_max_str_digits()
    match = re.search(r"\d{" + str(limit + 1) + ",}", text) if limit else None
    if match is None:
        return f"a number has more than {limit} digits"
    line = text.count("\n", 0, match.start()) + 1
    col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    return (
        f"a number at line {line} column {col} has {len(match.group())} digits, "
        f"more than the {limit} Python reads"
    )


def _typed_points(where: list[str | int], key: str) -> bool:
    """True for the ``points`` lists of shapes and rejected shapes: pydantic reads them as
    pairs of numbers and refuses anything else, so walking their (many) numbers is not needed."""
    if key != "points":
        return False
    n = len(where)
    return (n == 2 and where[0] == "shapes") or (n == 3 and where[:2] == ["labeler", "rejected"])


def check_json_tree(data: Any, check_strings: bool = True) -> None:
    """Raise ValueError naming the field when parsed JSON holds what cannot be written back.

    Refused: nesting deeper than :data:`MAX_JSON_DEPTH` (every later step would hit Python's
    recursion limit or pydantic's serialisation depth) and, with ``check_strings``, strings or
    keys holding a lone UTF-16 surrogate (``"\\ud800"``: valid JSON, but not encodable as
    UTF-8, so the file could never be saved again). Iterative: never a RecursionError.
    """
    stack: list[tuple[Any, list[str | int]]] = [(data, [])]
    while stack:
        value, where = stack.pop()
        if len(where) > MAX_JSON_DEPTH:
            shown = _json_path(where[:6])
            raise ValueError(f"{shown}...: JSON nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                if _typed_points(where, key):
                    continue
                if check_strings and not _encodable(key):
                    raise ValueError(
                        f"{_json_path(where) + '.' if where else ''}{key!r}: key holds a lone "
                        "surrogate escape (such as \\ud800), which cannot be written as UTF-8"
                    )
                if isinstance(item, dict | list) or (check_strings and isinstance(item, str)):
                    stack.append((item, [*where, key]))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict | list) or (check_strings and isinstance(item, str)):
                    stack.append((item, [*where, i]))
        elif isinstance(value, str) and not _encodable(value):
            raise ValueError(
                f"{_json_path(where)}: text holds a lone surrogate escape (such as \\ud800), "
                "which cannot be written as UTF-8"
            )


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json_bytes(raw: bytes, check_tree: bool = True) -> Any:
    """Parse untrusted JSON bytes (UTF-8, BOM allowed) into Python values, or raise ValueError
    with one clear sentence: not UTF-8, invalid JSON (line and column), a number too long for
    Python, nesting too deep and, with ``check_tree`` (for JSON that is kept and written back,
    such as label files), nesting over :data:`MAX_JSON_DEPTH` or a lone surrogate (with the
    field, see :func:`check_json_tree`).
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    except RecursionError:
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError:  # int() refuses integer literals over sys.get_int_max_str_digits()
        raise ValueError(_number_too_long(text)) from None
    if check_tree:
        check_json_tree(data, check_strings=_SURROGATE_ESCAPE.search(raw) is not None)
    return data


def load_annotation_dict(path: str | Path) -> dict[str, Any]:
    """Read and parse the JSON of a label file, with size limits; no validation.

    Refuses what :func:`parse_json_bytes` refuses, as :class:`LabelFileReadError`.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise LabelFileReadError(path, "file not found") from None
    except OSError as err:
        raise LabelFileReadError(path, f"cannot read: {err.strerror or err}") from None
    if size == 0:
        raise LabelFileReadError(path, "empty file (0 bytes)")
    if size > MAX_LABEL_FILE_BYTES:
        raise LabelFileReadError(
            path, f"file is {size / 2**20:.0f} MiB, over the {MAX_LABEL_FILE_BYTES >> 20} MiB limit"
        )
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise LabelFileReadError(path, f"cannot read: {err.strerror or err}") from None
    return parse_annotation_dict(path, raw)


def parse_annotation_dict(path: Path, raw: bytes) -> dict[str, Any]:
    """Parse the bytes of a label file (named ``path`` in errors) into its JSON object."""
    if not raw:
        raise LabelFileReadError(path, "empty file (0 bytes)")
    try:
        data = parse_json_bytes(raw)
    except ValueError as err:
        raise LabelFileReadError(path, str(err)) from None
    if not isinstance(data, dict):
        raise LabelFileReadError(
            path, f"top level must be a JSON object, got {type(data).__name__}"
        )
    return data


def load_annotation(path: str | Path, allowed_root: str | Path | None = None) -> Annotation:
    """Read one label file into an :class:`Annotation`.

    ``allowed_root``: when given, an ``imagePath`` that resolves outside it is refused.
    Absolute ``imagePath`` values are always refused.
    """
    path = Path(path)
    return _annotation_from_dict(path, load_annotation_dict(path), allowed_root)


def annotation_from_bytes(
    path: Path, raw: bytes, allowed_root: str | Path | None = None
) -> Annotation:
    """:func:`load_annotation` for bytes already read from ``path`` (the write path re-reads
    under its lock and parses what it read, so that it compares what it parsed)."""
    if len(raw) > MAX_LABEL_FILE_BYTES:
        raise LabelFileReadError(
            path, f"file is {len(raw) / 2**20:.0f} MiB, over the {MAX_LABEL_FILE_BYTES >> 20} MiB limit"
        )
    return _annotation_from_dict(path, parse_annotation_dict(path, raw), allowed_root)


def _annotation_from_dict(
    path: Path, data: dict[str, Any], allowed_root: str | Path | None
) -> Annotation:
    image_data = data.get("imageData")
    if isinstance(image_data, str) and len(image_data) > MAX_IMAGE_DATA_CHARS:
        raise LabelFileReadError(
            path,
            f"imageData is {len(image_data) / 2**20:.0f} MiB of base64, over the "
            f"{MAX_IMAGE_DATA_CHARS >> 20} MiB limit",
        )
    try:
        data = migrate(data, SCHEMA_VERSION)
    except ValueError as err:
        cls = SchemaVersionError if "newer" in str(err) else LabelFileReadError
        raise cls(path, str(err)) from None
    try:
        ann = Annotation.model_validate(data)
    except ValidationError as err:
        raise LabelFileReadError(path, format_validation_error(err)) from None
    except RecursionError:
        raise LabelFileReadError(path, "JSON nested too deeply") from None
    check_image_path(path, ann.imagePath, Path(allowed_root) if allowed_root else None)
    return ann.mark_loaded()


_NUMBER_LISTS = re.compile(r"\[\[[-+0-9.eE,\[\]]*\]\]")


def _points_text(points: Any, indent: int) -> str | None:
    """``json.dumps(points, indent=2)`` as it appears on a line indented by ``indent`` spaces,
    or None when ``points`` is not a non-empty list of lists of numbers.

    The same characters as json's indenting encoder writes, made from its compact C encoder
    output by three replacements: the indenting encoder is pure Python and costs about a
    microsecond per number, so a mask traced into many vertices took most of a second to save.
    """
    try:
        compact = json.dumps(points, separators=(",", ","), allow_nan=False)
    except (TypeError, ValueError):
        return None
    if not _NUMBER_LISTS.fullmatch(compact) or "[]" in compact:
        return None
    outer, inner = " " * (indent + 2), " " * (indent + 4)
    body = compact[2:-2].replace("],[", "|").replace(",", ",\n" + inner).replace("|", f"\n{outer}],\n{outer}[\n{inner}")
    return f"[\n{outer}[\n{inner}{body}\n{outer}]\n{' ' * indent}]"


def dumps_annotation(ann: Annotation) -> str:
    """The file text labeler writes: labelme's layout (2-space indent, UTF-8 kept).

    Exactly ``json.dumps(ann.to_dict(), indent=2, ensure_ascii=False) + "\\n"``, with the
    shapes' point lists rendered by :func:`_points_text` (the bulk of a mask-heavy file).
    """
    data = ann.to_dict()
    token = uuid.uuid4().hex
    pending: dict[str, Any] = {}
    for i, shape in enumerate(data.get("shapes") or []):
        points = shape.get("points") if isinstance(shape, dict) else None
        if isinstance(points, list) and len(points) > 1:
            key = f"{token}:{i}"
            pending[key] = points
            shape["points"] = key
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if pending:

        def render(match: re.Match[str]) -> str:
            line_start = text.rfind("\n", 0, match.start()) + 1
            line = text[line_start : match.start()]
            indent = len(line) - len(line.lstrip(" "))
            points = pending[match.group(1)]
            fast = _points_text(points, indent)
            if fast is not None:
                return fast
            nested = json.dumps(points, indent=2, ensure_ascii=False)
            return nested.replace("\n", "\n" + " " * indent)

        text = re.sub(f'"({token}:[0-9]+)"', render, text)
    return text + "\n"


def encode_annotation(ann: Annotation, path: Path, text: str | None = None) -> bytes:
    """The bytes of ``ann``'s label file (``text``: its :func:`dumps_annotation`, if known);
    :class:`LabelFileWriteError` naming ``path`` when it cannot be serialised."""
    try:
        if text is None:
            text = dumps_annotation(ann)
        return text.encode("utf-8")
    except UnicodeEncodeError as err:  # a lone surrogate set in memory (files with one are refused)
        raise LabelFileWriteError(
            path, f"text holds {err.object[err.start : err.end]!r}, which UTF-8 cannot encode"
        ) from None
    except (TypeError, ValueError, RecursionError) as err:
        raise LabelFileWriteError(path, f"cannot serialise annotation: {err}") from None


def save_annotation(ann: Annotation, path: str | Path, text: str | None = None) -> None:
    """Write ``ann`` to ``path`` atomically; on failure the old file is left as it was.

    ``text``: ``dumps_annotation(ann)`` when the caller already has it. This writes one file
    outside any dataset; inside a dataset, :meth:`labeler.dataset.Dataset.save` and
    :meth:`~labeler.dataset.Dataset.update` also take the dataset lock.
    """
    path = Path(path)
    data = encode_annotation(ann, path, text)
    try:
        atomic_write_bytes(path, data)
    except OSError as err:
        raise LabelFileWriteError(path, f"cannot write: {err.strerror or err}") from None
