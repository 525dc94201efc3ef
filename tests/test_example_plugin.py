"""The example third-party plugin (``examples/labeler-example-plugin``) as a user meets it:
its packaging, the conventions every plugin class should follow, and the whole CLI loop
(autolabel, check, fix, export, import, its own command) driven through ``labeler.cli``.

Its algorithms are unit-tested in the plugin's own ``tests/`` folder; each hook is tested
through the pipeline in ``tests/test_hookspecs.py``.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomllib
from click.testing import CliRunner, Result
from PIL import Image

from labeler import plugins
from labeler.dataset import open_dataset
from labeler.plugin_api import NoOptions, Plugin
from labeler.plugins import Registry

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "labeler-example-plugin"
try:
    import labeler_example_plugin
except ImportError:  # not pip-installed: import it from the source tree
    sys.path.insert(0, str(EXAMPLE_DIR))
    import labeler_example_plugin


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """Only the example plugin, registered by hand (no entry points load)."""
    monkeypatch.setenv(plugins.ENV_VAR, "")
    plugins.reset()
    plugins.register_plugin(labeler_example_plugin, "example")
    yield plugins.get_registry()
    plugins.unregister_plugin("example")
    plugins.reset()


def example_classes() -> list[type[Plugin]]:
    """Every class the example's register_* hooks provide (called directly, no manager)."""
    found: list[type[Plugin]] = []
    for hook in sorted(plugins.KINDS):
        getattr(labeler_example_plugin, hook)(register=found.append)
    return found


# -- packaging --------------------------------------------------------------------------------
def test_pyproject_declares_the_entry_point_and_version() -> None:
    meta = tomllib.loads((EXAMPLE_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta["project"]
    assert project["entry-points"]["labeler"] == {"example": "labeler_example_plugin"}
    assert project["version"] == labeler_example_plugin.__version__
    assert any(dep.startswith("labeler") for dep in project["dependencies"])
    assert (EXAMPLE_DIR / "README.md").is_file()


def test_installed_distribution_matches_the_source() -> None:
    try:
        dist = md.distribution("labeler-example-plugin")
    except md.PackageNotFoundError:
        pytest.skip("example plugin not installed: pip install -e examples/labeler-example-plugin")
    assert dist.version == labeler_example_plugin.__version__
    (ep,) = [ep for ep in dist.entry_points if ep.group == plugins.ENTRY_POINT_GROUP]
    assert (ep.name, ep.value) == ("example", "labeler_example_plugin")
    assert Path(labeler_example_plugin.__file__).resolve().is_relative_to(EXAMPLE_DIR)


def test_loading_the_plugin_does_not_import_numpy() -> None:
    # Heavy imports belong inside methods: `labeler --help` loads every plugin.
    code = (
        "import os, sys; os.environ['LABELER_PLUGINS'] = 'example'\n"
        f"sys.path.append({str(EXAMPLE_DIR)!r})\n"
        "import labeler_example_plugin\n"
        "from labeler import plugins\n"
        "plugins.register_plugin(labeler_example_plugin, 'example') "
        "if plugins.get_plugin_manager().get_plugin('example') is None else None\n"
        "assert plugins.get_registry().autolabelers['example_blobs']\n"
        "print(sorted(m for m in ('numpy', 'torch', 'cv2') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("cls", example_classes(), ids=lambda c: c.__name__)
def test_plugin_classes_follow_the_conventions(cls: type[Plugin]) -> None:
    assert cls.name.startswith("example_"), "prefix names with the plugin's name to avoid clashes"
    assert cls.description.endswith("."), "a one-line description for labeler plugins and --help"
    assert cls.missing_requirements() == []
    options = cls.Options
    assert options is NoOptions or options.model_config.get("extra") == "forbid"
    for field_name, info in options.model_fields.items():
        assert info.description, f"{cls.__name__}.Options.{field_name} has no description"
    cls()  # the defaults are valid
    assert len(cls().config_key()) == 12


# -- the whole loop through the CLI -----------------------------------------------------------
@pytest.fixture
def cli(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Any:
    cli_module = pytest.importorskip("labeler.cli")
    monkeypatch.setattr(cli_module, "_plugin_commands_loaded", False, raising=False)
    monkeypatch.setattr(cli_module.cli, "commands", dict(cli_module.cli.commands))
    return cli_module.cli


def invoke(cli: Any, *args: str) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def make_image(path: Path, boxes: list[tuple[int, int, int, int]], background: int = 60) -> None:
    img = Image.new("RGB", (64, 48), (background,) * 3)
    for box in boxes:
        img.paste((255, 255, 255), box)
    img.save(path)


def test_cli_plugins_lists_the_example(cli: Any) -> None:
    result = invoke(cli, "plugins", "--json")
    assert result.exit_code == 0, result.output
    (row,) = [r for r in json.loads(result.output) if r["name"] == "example"]
    assert row["provides"]["autolabelers"] == ["example_blobs"]
    assert row["provides"]["checks"] == ["example_dark", "example_duplicates"]
    assert "commands" in row["provides"] and row["error"] is None and row["missing"] == []


def test_cli_help_shows_the_plugin_options(cli: Any) -> None:
    result = invoke(cli, "autolabel", "--help")
    assert result.exit_code == 0, result.output
    assert "example_blobs" in result.output
    assert "threshold" in result.output and "Pixels at or above this value" in result.output
    assert "example-hello" in invoke(cli, "--help").output


def test_cli_full_loop(cli: Any, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    make_image(root / "a.png", [(5, 5, 15, 15), (30, 20, 50, 35)])
    make_image(root / "b.png", [(30, 20, 50, 35)], background=100)
    make_image(root / "dark.png", [(5, 5, 8, 8)], background=4)
    (root / "dup.png").write_bytes((root / "a.png").read_bytes())
    ds = open_dataset(root)

    result = invoke(
        cli, "autolabel", root, "--plugin", "example_blobs", "-o", "min_area", "150", "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["processed"] == 4 and summary["per_class"] == {"blob": 3}
    assert (
        invoke(cli, "autolabel", root, "--plugin", "example_blobs", "-o", "nope", "1").exit_code
        != 0
    )

    report = tmp_path / "findings.json"
    result = invoke(
        cli,
        "check",
        root,
        "--plugin",
        "example_dark,example_duplicates",
        "--report",
        report,
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert report.is_file()
    kinds = {
        rel: [i.kind for i in ds.load(ds.item(rel)).meta.issues] for rel in ("dark.png", "dup.png")
    }
    assert kinds == {"dark.png": ["too_dark"], "dup.png": ["duplicate"]}

    result = invoke(
        cli, "fix", root, "--plugin", "example_exclude", "--kind", "duplicate", "--json"
    )
    assert result.exit_code == 0, result.output
    assert ds.load(ds.item("dup.png")).meta.exclude
    assert not ds.load(ds.item("dark.png")).meta.exclude

    out = tmp_path / "csv"
    result = invoke(cli, "export", root, "--to", "bbox-csv", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    exported = {line.split(",")[0] for line in (out / "labels.csv").read_text().splitlines()[1:]}
    assert exported == {"a.png", "b.png", "dark.png"}  # dup.png excluded by the fix

    result = invoke(cli, "fix", root, "--plugin", "example_exclude", "--undo", "--json")
    assert result.exit_code == 0, result.output
    assert not ds.load(ds.item("dup.png")).meta.exclude

    back = tmp_path / "back"
    result = invoke(cli, "import", out, "--from", "bbox-csv", "--out", back, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["counts"] == {"images": 3, "shapes": 2}

    result = invoke(cli, "example-hello", back)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "3 images, 2 labeled, 2 labels: blob 2"
