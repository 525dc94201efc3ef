"""Layering rules: the core never imports Qt; heavy libraries are imported only where used."""

from __future__ import annotations

import ast

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


def test_gui_is_the_only_place_that_imports_qt() -> None:
    for path in CORE + PLUGINS:
        text = path.read_text(encoding="utf-8")
        assert "PySide6" not in text or path.name in {"cli.py"}, path
