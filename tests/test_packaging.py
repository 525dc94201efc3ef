"""Packaging: every package folder is listed, built-ins use the public entry-point group."""

from __future__ import annotations

import importlib.metadata as md

import tomllib

from tests.conftest import REPO


def test_every_package_folder_is_listed_in_pyproject() -> None:
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    mapping = cfg["package-dir"]
    found = set()
    for pkg, folder in mapping.items():
        base = REPO / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([pkg, *rel.parts]))
    assert found == listed


def test_builtin_plugins_are_entry_points_of_the_labeler_distribution() -> None:
    eps = {ep.name: ep for ep in md.entry_points(group="labeler") if ep.dist and ep.dist.name == "labeler"}
    assert "formats" in eps
    for ep in eps.values():
        assert ep.value.startswith("labeler_plugins.")
