"""Layering rules: the core never imports Qt; heavy libraries are imported only where used."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from tests.conftest import REPO

HEAVY = {"torch", "torchvision", "ultralytics", "segment_anything", "open_clip", "timm", "cv2",
         "rapidocr_onnxruntime", "onnxruntime", "sklearn", "PySide6"}


def top_level_imports(path) -> set[str]:
    """Modules imported at module level (not inside functions, not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                break
            if isinstance(sub, ast.Import):
                found.update(a.name.split(".")[0] for a in sub.names)
            elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                found.add(sub.module.split(".")[0])
    return found


CORE = sorted(p for p in (REPO / "labeler").rglob("*.py") if "gui" not in p.relative_to(REPO / "labeler").parts)
PLUGINS = sorted((REPO / "plugins").glob("*.py"))


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(REPO)))
def test_core_modules_import_no_qt_and_no_heavy_library_at_module_level(path) -> None:
    assert not (top_level_imports(path) & HEAVY)


@pytest.mark.parametrize("path", PLUGINS, ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_import_heavy_libraries_only_when_they_run(path) -> None:
    assert not (top_level_imports(path) & HEAVY)


def run_lint_imports(root, env=None):  # noqa: ANN001, ANN201
    """``lint-imports`` on the contracts in ``root/pyproject.toml``; the completed process."""
    import os
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "importlinter.cli"]
    return subprocess.run([*cmd, "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_import_contracts_hold() -> None:
    # Layers on the import graph (every import, inside functions too), not a text search:
    # only labeler.gui imports Qt; cli > gui > editing > pipeline > plugin API > formats > io/model;
    # labeler never imports labeler_plugins. The contracts live in pyproject.toml.
    done = run_lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize("module, line", [
    ("labeler/formats/violation.py", "from labeler.plugin_api import Check\n"),
    ("labeler/editing/violation.py", "import PySide6.QtCore\n"),
    ("labeler/geometry_violation.py", "from labeler_plugins import sam\n"),
    ("labeler/pipeline_violation.py", "from labeler.editing import violation\n"),
])
def test_import_contracts_fail_on_a_violating_import(tmp_path, module: str, line: str) -> None:
    # The same contracts on a copy of the packages with one bad import added: lint-imports fails
    # and names the offending module.
    import shutil

    for name in ("labeler", "plugins"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / ".shim").mkdir()
    (tmp_path / ".shim" / "labeler_plugins").symlink_to(tmp_path / "plugins")
    target = tmp_path / module
    if module.startswith("labeler/pipeline_violation"):
        # a module of the pipeline layer importing the editing layer above it
        target = tmp_path / "labeler" / "pipeline.py"
        (tmp_path / "labeler" / "editing" / "violation.py").write_text("X = 1\n", encoding="utf-8")
        target.write_text(target.read_text(encoding="utf-8") + line, encoding="utf-8")
    elif module.startswith("labeler/geometry_violation"):
        target = tmp_path / "labeler" / "geometry.py"
        target.write_text(target.read_text(encoding="utf-8") + line, encoding="utf-8")
    else:
        target.write_text(line, encoding="utf-8")
    done = run_lint_imports(tmp_path, env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{tmp_path / '.shim'}"})
    assert done.returncode != 0, done.stdout
    assert "BROKEN" in done.stdout
    importer = target.relative_to(tmp_path).with_suffix("").as_posix().replace("/", ".")
    assert f"{importer} -> " in done.stdout, done.stdout  # the offending import is named
