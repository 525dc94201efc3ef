"""Image flags and label flags, as labelme's ``--flags`` and ``--labelflags`` define them.

Image flags are checkboxes of the whole image, saved in the label file's top-level ``flags``
(``{"blurry": true, "night": false}``). Label flags are checkboxes of one shape, offered for the
labels that match a pattern (a regular expression matched at the start of the label, as labelme
does: ``{"person-\\d+": ["male", "tall"], ".*": ["occluded"]}``), saved in the shape's ``flags``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from labeler.errors import FileProblem, UsageError
from labeler.model import Shape


def parse_flags(value: str | None) -> list[str]:
    """``a,b,c`` or a text file with one flag a line (labelme's ``--flags``)."""
    if not value:
        return []
    path = Path(value)
    if path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise FileProblem(path, f"cannot read the flags: {err}") from None
        names = [line.strip() for line in lines]
    else:
        names = [part.strip() for part in value.split(",")]
    return list(dict.fromkeys(n for n in names if n))


def parse_label_flags(value: str | None) -> dict[str, list[str]]:
    """A JSON / YAML mapping ``{label pattern: [flag, ...]}``, or a file holding one
    (labelme's ``--labelflags``). Raises UsageError (FileProblem for a file) when it is not
    such a mapping or a pattern is not a regular expression."""
    if not value:
        return {}
    path = Path(value)
    where = f"{path}: " if path.is_file() else "--labelflags: "
    try:
        text = path.read_text(encoding="utf-8") if path.is_file() else value
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        problem = f"not JSON or YAML: {err}".splitlines()[0]
        raise (FileProblem(path, problem) if path.is_file() else UsageError(where + problem)) from None
    if not isinstance(data, dict) or not all(
            isinstance(v, list) and all(isinstance(f, str) for f in v) for v in data.values()):
        problem = 'expected a mapping of label patterns to lists of flags, e.g. {"person": ["occluded"]}'
        raise FileProblem(path, problem) if path.is_file() else UsageError(where + problem)
    out: dict[str, list[str]] = {}
    for pattern, flags in data.items():
        try:
            re.compile(str(pattern))
        except re.error as err:
            problem = f"label pattern {pattern!r} is not a regular expression: {err}"
            raise FileProblem(path, problem) if path.is_file() else UsageError(where + problem) from None
        out[str(pattern)] = list(dict.fromkeys(flags))
    return out


def flags_for_label(label_flags: Mapping[str, Sequence[str]], label: str) -> list[str]:
    """The flags offered for ``label``: those of every pattern that matches its start."""
    names: list[str] = []
    for pattern, flags in label_flags.items():
        if re.match(pattern, label):
            names.extend(f for f in flags if f not in names)
    return names


def shown_flags(names: Sequence[str], saved: Mapping[str, Any] | None) -> dict[str, bool]:
    """The checkboxes to show: every configured flag (unchecked), then the boolean flags
    already saved (checked or not, including ones no longer configured)."""
    shown = {n: False for n in names}
    for key, value in (saved or {}).items():
        if isinstance(value, bool):
            shown[key] = value
    return shown


def shape_attributes(shape: Shape) -> tuple[dict[str, bool], str, bool]:
    """A shape's boolean ``flags``, ``description`` and X-AnyLabeling's ``difficult``."""
    flags = {k: v for k, v in (shape.flags or {}).items() if isinstance(v, bool)}
    return flags, shape.description or "", bool((shape.model_extra or {}).get("difficult", False))
