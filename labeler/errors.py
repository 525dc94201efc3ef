"""One error hierarchy. Every message names the file (and the field, where there is one)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class LabelerError(Exception):
    """Base class of every error labeler raises on purpose."""


class UsageError(LabelerError):
    """The user asked for something that cannot be done (bad option, unknown plugin...)."""


class FileProblem(LabelerError):
    """A problem with one file; ``str(err)`` is ``"<path>: <problem>"``."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class LabelFileError(FileProblem):
    """An annotation (JSON) file problem."""


class LabelFileReadError(LabelFileError):
    """The annotation file cannot be read: corrupt JSON, wrong types, hostile paths..."""


class LabelFileWriteError(LabelFileError):
    """The annotation file cannot be written (the old file is left untouched)."""


class SchemaVersionError(LabelFileReadError):
    """The file was written by a newer labeler than this one."""


class ImageFileError(FileProblem):
    """The image cannot be read safely: truncated, not an image, too large..."""


class PluginError(LabelerError):
    """A plugin failed to load or to run."""


class MissingDependencyError(PluginError):
    """A plugin's optional dependency is not installed; the message says what to pip install."""


class MissingWeightsError(PluginError):
    """A model file is missing; the message says which file, where to put it, where it comes from."""


class WeightsMismatchError(MissingWeightsError):
    """A file found under an official model name is not the official file (its sha256 differs)."""


def near_name_hint(name: str, choices: Iterable[str]) -> str:
    """``"did you mean 'x'?"`` when ``name`` is close to one of ``choices``, else ``""``.

    The one home of near-name hints (unknown plugins, formats, issue kinds...).
    """
    import difflib

    close = difflib.get_close_matches(name, [str(c) for c in choices], n=2, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"
