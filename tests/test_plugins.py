"""The plugin manager: entry-point discovery, LABELER_PLUGINS, broken plugins, requirements,
name clashes. Entry points are faked where a test needs a plugin that is not installed."""

from __future__ import annotations

import importlib.metadata as md
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

import labeler
from labeler import plugins
from labeler.errors import MissingDependencyError, UsageError
from labeler.plugin_api import Autolabeler, ChainedAutolabeler, Check
from labeler.predictions import Predictions

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "labeler-example-plugin"
try:
    import labeler_example_plugin
except ImportError:  # not pip-installed: import it from the source tree
    sys.path.insert(0, str(EXAMPLE_DIR))
    import labeler_example_plugin


@pytest.fixture(autouse=True)
def fresh_manager() -> Iterator[None]:
    """Every test starts and ends with a manager that has loaded nothing yet."""
    plugins.reset()
    yield
    plugins.reset()


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, **eps: str) -> None:
    """Make the manager see exactly these ``name="module"`` entry points."""
    points = [
        md.EntryPoint(name=n, value=v, group=plugins.ENTRY_POINT_GROUP) for n, v in eps.items()
    ]

    def entry_points(group: str) -> list[md.EntryPoint]:
        return points if group == plugins.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(plugins, "md", SimpleNamespace(entry_points=entry_points))


def write_module(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for throw-away plugin modules (unloaded afterwards)."""
    folder = tmp_path / "plugin_modules"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if name.startswith("lbltest_"):
            del sys.modules[name]


GOOD_PLUGIN = """
    import labeler
    from labeler.plugin_api import Check

    class Nothing(Check):
        name = "{name}_check"
        description = "Finds nothing."

        def check_sample(self, sample):
            return []

    @labeler.hookimpl
    def register_checks(register):
        register(Nothing)
"""


# -- discovery --------------------------------------------------------------------------------
def test_installed_example_plugin_is_discovered_by_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    eps = {ep.name: ep for ep in md.entry_points(group=plugins.ENTRY_POINT_GROUP)}
    if "example" not in eps:
        pytest.skip("example plugin not installed: pip install -e examples/labeler-example-plugin")
    assert eps["example"].value == "labeler_example_plugin"
    monkeypatch.delenv(plugins.ENV_VAR, raising=False)

    reg = plugins.get_registry()

    record = reg.plugins["example"]
    assert record.error is None
    assert (record.distribution, record.version) == (
        "labeler-example-plugin",
        labeler_example_plugin.__version__,
    )
    assert record.provides == {
        "autolabelers": ["example_blobs"],
        "checks": ["example_dark", "example_duplicates"],
        "fixers": ["example_exclude"],
        "importers": ["bbox-csv"],
        "exporters": ["bbox-csv"],
    }
    assert record.commands and record.missing == []
    assert reg.get("autolabelers", "example_blobs").__module__ == "labeler_example_plugin.blobs"


def test_entry_point_loads_module_and_records_version(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, example="labeler_example_plugin")
    monkeypatch.delenv(plugins.ENV_VAR, raising=False)

    reg = plugins.get_registry()

    assert list(reg.plugins) == ["example"]
    # No distribution metadata for a bare entry point: the module's __version__ is used.
    assert reg.plugins["example"].version == labeler_example_plugin.__version__
    assert sorted(reg.checks) == ["example_dark", "example_duplicates"]
    assert plugins.get_plugin_manager() is plugins.get_plugin_manager()  # loaded once


def test_register_plugin_and_unregister(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.ENV_VAR, "")
    assert plugins.get_registry().autolabelers == {}

    plugins.register_plugin(labeler_example_plugin, "example")
    assert "example_blobs" in plugins.get_registry().autolabelers

    plugins.unregister_plugin("example")
    reg = plugins.get_registry()
    assert reg.autolabelers == {} and "example" not in reg.plugins
    plugins.unregister_plugin("example")  # unknown name: nothing happens


def test_unknown_plugin_name_lists_the_available_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, example="labeler_example_plugin")
    reg = plugins.get_registry()

    with pytest.raises(
        UsageError, match=r"unknown autolabeler 'nope' \(available: example_blobs\)"
    ):
        reg.get("autolabelers", "nope")
    with pytest.raises(UsageError, match="none installed"):
        plugins.Registry().get("checks", "x")


# -- LABELER_PLUGINS --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ["example", "other"]),
        ("example", ["example"]),
        (" other , example ", ["example", "other"]),
        ("", []),
        ("nonexistent", []),
    ],
)
def test_labeler_plugins_env_narrows_loading(
    monkeypatch: pytest.MonkeyPatch, plugin_dir: Path, value: str | None, expected: list[str]
) -> None:
    write_module(plugin_dir, "lbltest_other", GOOD_PLUGIN.format(name="other"))
    fake_entry_points(monkeypatch, example="labeler_example_plugin", other="lbltest_other")
    if value is None:
        monkeypatch.delenv(plugins.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(plugins.ENV_VAR, value)

    assert sorted(plugins.get_registry().plugins) == expected


def test_env_change_needs_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, example="labeler_example_plugin")
    monkeypatch.setenv(plugins.ENV_VAR, "")
    assert plugins.get_registry().plugins == {}
    monkeypatch.setenv(plugins.ENV_VAR, "example")
    assert plugins.get_registry().plugins == {}  # cached until reset()
    plugins.reset()
    assert list(plugins.get_registry().plugins) == ["example"]


# -- broken plugins ---------------------------------------------------------------------------
def test_plugin_that_fails_to_import_is_reported_and_others_load(
    monkeypatch: pytest.MonkeyPatch, plugin_dir: Path
) -> None:
    write_module(plugin_dir, "lbltest_broken", "raise RuntimeError('boom at import')\n")
    fake_entry_points(
        monkeypatch,
        broken="lbltest_broken",
        missing="lbltest_no_such_module",
        example="labeler_example_plugin",
    )
    monkeypatch.delenv(plugins.ENV_VAR, raising=False)

    reg = plugins.get_registry()

    assert reg.plugins["broken"].error == "RuntimeError: boom at import"
    assert reg.plugins["missing"].error is not None
    assert reg.plugins["missing"].error.startswith("ModuleNotFoundError")
    assert reg.plugins["example"].error is None
    assert "example_blobs" in reg.autolabelers
    # `labeler plugins` prints each error in full, on a line of its own (not cut to a column).
    from click.testing import CliRunner

    from labeler.cli import cli

    out = CliRunner().invoke(cli, ["plugins"], terminal_width=60).output
    assert "error: plugin 'broken': RuntimeError: boom at import" in out
    assert "error: plugin 'missing': ModuleNotFoundError" in out
    # A second look does not retry (or re-raise) the broken import.
    plugins.reset_registry()
    assert plugins.get_registry().plugins["broken"].error == "RuntimeError: boom at import"


def test_plugin_whose_register_hook_raises_is_reported_and_others_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(plugins.ENV_VAR, "")

    class Raising:
        @labeler.hookimpl
        def register_autolabelers(self, register):  # noqa: ANN001
            raise RuntimeError("no model here")

    class NotAPluginClass:
        @labeler.hookimpl
        def register_checks(self, register):  # noqa: ANN001
            register(dict)

    plugins.register_plugin(Raising(), "raising")
    plugins.register_plugin(NotAPluginClass(), "wrong")
    plugins.register_plugin(labeler_example_plugin, "example")

    reg = plugins.get_registry()

    assert (
        reg.plugins["raising"].error == "register_autolabelers failed: RuntimeError: no model here"
    )
    assert (
        reg.plugins["wrong"].error is not None
        and "not a subclass of Check" in reg.plugins["wrong"].error
    )
    assert any("raising" in w for w in reg.warnings)
    assert reg.plugins["example"].error is None
    assert "example_blobs" in reg.autolabelers and "example_dark" in reg.checks


def test_plugin_whose_register_commands_raises_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    monkeypatch.setenv(plugins.ENV_VAR, "")

    class BadCommands:
        @labeler.hookimpl
        def register_commands(self, cli):  # noqa: ANN001
            raise RuntimeError("cannot add")

    plugins.register_plugin(BadCommands(), "badcmd")
    plugins.register_plugin(labeler_example_plugin, "example")
    group = click.Group("labeler")
    errors: list[str] = []

    plugins.add_plugin_commands(group, on_error=errors.append)

    assert "example-hello" in group.commands
    assert len(errors) == 1 and "'badcmd'" in errors[0] and "cannot add" in errors[0]


def test_misspelled_hook_is_reported(monkeypatch: pytest.MonkeyPatch, plugin_dir: Path) -> None:
    write_module(
        plugin_dir,
        "lbltest_typo",
        """
        import labeler

        @labeler.hookimpl
        def register_checkz(register):
            pass
        """,
    )
    fake_entry_points(monkeypatch, typo="lbltest_typo")
    monkeypatch.delenv(plugins.ENV_VAR, raising=False)

    error = plugins.get_registry().plugins["typo"].error

    assert error is not None and "register_checkz" in error


# -- requirements -----------------------------------------------------------------------------
class NeedsMissing(Autolabeler):
    name = "needs_missing"
    requires = ("lbltest_missing_module", "json")
    extra = "yolo"

    def predict(self, batch):  # noqa: ANN001
        return [Predictions.empty() for _ in batch]


class NeedsMissingNoExtra(Check):
    name = "needs_missing_no_extra"
    requires = ("lbltest_missing_module.sub",)


class Chained(ChainedAutolabeler):
    name = "chained"
    first = NeedsMissing
    second = NeedsMissing


def test_missing_requirements_are_reported_with_the_pip_extra() -> None:
    assert NeedsMissing.missing_requirements() == ["lbltest_missing_module"]
    with pytest.raises(MissingDependencyError) as err:
        NeedsMissing.ensure_requirements()
    message = str(err.value)
    assert "'needs_missing'" in message and "lbltest_missing_module" in message
    assert "pip install 'labeler[yolo]'" in message
    assert "json" not in message  # installed modules are not listed

    assert NeedsMissingNoExtra.missing_requirements() == ["lbltest_missing_module.sub"]
    with pytest.raises(MissingDependencyError, match="pip install lbltest_missing_module.sub"):
        NeedsMissingNoExtra.ensure_requirements()
    assert Chained.missing_requirements() == ["lbltest_missing_module"]
    labeler_example_plugin.blobs.BlobAutolabeler.ensure_requirements()  # numpy: installed


def test_registry_lists_missing_requirements(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.ENV_VAR, "")
    module = ModuleType("lbltest_needs")

    @labeler.hookimpl
    def register_autolabelers(register):  # noqa: ANN001
        register(NeedsMissing)

    module.register_autolabelers = register_autolabelers  # type: ignore[attr-defined]
    plugins.register_plugin(module, "needs")

    record = plugins.get_registry().plugins["needs"]

    assert record.error is None  # a missing optional dependency is not a load error
    assert record.missing == ["lbltest_missing_module"]
    assert record.install == ["pip install 'labeler[yolo]'"]
    assert "needs_missing" in plugins.get_registry().autolabelers


# -- name clashes -----------------------------------------------------------------------------
def test_name_clash_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.ENV_VAR, "")
    from labeler_example_plugin.blobs import BlobAutolabeler

    class Impostor(BlobAutolabeler):
        description = "Same name, different class."

    class Clash:
        @labeler.hookimpl
        def register_autolabelers(self, register):  # noqa: ANN001
            register(Impostor)

    plugins.register_plugin(labeler_example_plugin, "example")
    plugins.register_plugin(Clash(), "clash")

    reg = plugins.get_registry()

    assert reg.warnings == [
        "autolabeler 'example_blobs' from plugin 'clash' replaces an earlier one"
    ]
    assert reg.autolabelers["example_blobs"] is Impostor  # the later registration wins
    assert reg.plugins["clash"].provides == {"autolabelers": ["example_blobs"]}


def test_same_class_registered_twice_is_not_a_clash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.ENV_VAR, "")
    from labeler_example_plugin.checks import DarkImageCheck

    class Again:
        @labeler.hookimpl
        def register_checks(self, register):  # noqa: ANN001
            register(DarkImageCheck)

    plugins.register_plugin(labeler_example_plugin, "example")
    plugins.register_plugin(Again(), "again")

    assert plugins.get_registry().warnings == []


def test_importer_and_exporter_share_a_format_name_without_clashing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(plugins.ENV_VAR, "")
    plugins.register_plugin(labeler_example_plugin, "example")
    reg = plugins.get_registry()
    assert reg.importers["bbox-csv"].format == reg.exporters["bbox-csv"].format == "bbox-csv"
    assert reg.warnings == []


def test_an_option_default_of_the_wrong_type_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import BaseModel, Field

    from labeler.plugin_api import Check

    monkeypatch.setenv(plugins.ENV_VAR, "")

    class Opts(BaseModel):
        threshold: float = Field("high", description="a typo'd default")  # type: ignore[assignment]

    class Sloppy(Check):
        name = "sloppy"
        Options = Opts

    class Plugin:
        @labeler.hookimpl
        def register_checks(self, register):  # noqa: ANN001
            register(Sloppy)

    plugins.register_plugin(Plugin(), "sloppy_plugin")
    reg = plugins.get_registry()
    assert "sloppy" in reg.checks  # still usable with explicit values
    assert any("check 'sloppy'" in w and "option 'threshold'" in w for w in reg.warnings), reg.warnings
    plugins.unregister_plugin("sloppy_plugin")
    plugins.reset()
