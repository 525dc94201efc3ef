"""The plugin manager: built-in and third-party plugins load the same way.

Every plugin is found through the ``labeler`` entry-point group (labeler's own built-ins in
``plugins/`` are entry points of the ``labeler`` distribution). ``LABELER_PLUGINS`` narrows what
loads: a comma-separated list of entry-point names (empty string: none).

A plugin that fails to import, or whose ``register_*`` hook raises, is reported by
``labeler plugins`` and skipped; it never stops the others.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from labeler import hookspecs
from labeler.errors import UsageError, near_name_hint
from labeler.plugin_api import Autolabeler, Check, Exporter, Fixer, Importer, Plugin

ENTRY_POINT_GROUP = "labeler"
ENV_VAR = "LABELER_PLUGINS"

#: hook name -> (registry attribute, base class, key attribute)
KINDS: dict[str, tuple[str, type[Plugin], str]] = {
    "register_autolabelers": ("autolabelers", Autolabeler, "name"),
    "register_checks": ("checks", Check, "name"),
    "register_fixers": ("fixers", Fixer, "name"),
    "register_importers": ("importers", Importer, "format"),
    "register_exporters": ("exporters", Exporter, "format"),
}

#: registry attribute -> (what one is, the command that runs it), for "X is a fixer" hints
KIND_COMMANDS: dict[str, tuple[str, str]] = {
    "autolabelers": ("an autolabeler", "labeler autolabel DIR --plugin"),
    "checks": ("a check", "labeler check DIR --plugin"),
    "fixers": ("a fixer", "labeler fix DIR --plugin"),
    "importers": ("an import format", "labeler import SRC --out DIR --from"),
    "exporters": ("an export format", "labeler export DIR --out OUT --to"),
}


@dataclass
class PluginRecord:
    """One loaded plugin (an entry point or a programmatically registered object)."""

    name: str
    distribution: str | None = None
    version: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)
    classes: list[type[Plugin]] = field(default_factory=list)
    commands: bool = False
    gui_extensions: bool = False
    segmenters: bool = False
    error: str | None = None

    @property
    def missing(self) -> list[str]:
        """Optional dependencies of its classes that are not installed."""
        out: list[str] = []
        for cls in self.classes:
            out.extend(m for m in cls.missing_requirements() if m not in out)
        return out

    @property
    def install(self) -> list[str]:
        """pip commands that would install what is missing."""
        out: list[str] = []
        for cls in self.classes:
            if cls.missing_requirements() and cls.install_command() not in out:
                out.append(cls.install_command())
        return out


@dataclass
class Registry:
    """Every plugin class by kind and name, plus per-plugin records."""

    autolabelers: dict[str, type[Autolabeler]] = field(default_factory=dict)
    checks: dict[str, type[Check]] = field(default_factory=dict)
    fixers: dict[str, type[Fixer]] = field(default_factory=dict)
    importers: dict[str, type[Importer]] = field(default_factory=dict)
    exporters: dict[str, type[Exporter]] = field(default_factory=dict)
    plugins: dict[str, PluginRecord] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, kind: str, name: str) -> Any:
        """Look up ``name`` among ``kind`` ("autolabelers", ...); clear error when unknown."""
        table: dict[str, Any] = getattr(self, kind)
        if name not in table:
            known = ", ".join(sorted(table)) or "none installed"
            hint = near_name_hint(name, table)
            if not hint:  # the right name for another command: say which one
                for other, (what, command) in KIND_COMMANDS.items():
                    if other != kind and name in getattr(self, other):
                        hint = f"{name} is {what}: {command} {name}"
                        break
            raise UsageError(
                f"unknown {kind[:-1]} {name!r} (available: {known}); see 'labeler plugins'"
                + (f"; {hint}" if hint else "")
            )
        return table[name]


_pm: pluggy.PluginManager | None = None
_registry: Registry | None = None
_load_errors: dict[str, str] = {}
_dists: dict[str, tuple[str, str]] = {}  # entry-point name -> (distribution, version)
_hook_errors: dict[str, str] = {}  # plugin name -> "unknown hook ..." (loaded, but reported)


def _check_hook_names(obj: object, name: str) -> None:
    """Report ``@hookimpl`` functions whose name is not a hook (a typo is otherwise silent)."""
    unknown = sorted(
        attr
        for attr in dir(obj)
        if hasattr(getattr(obj, attr, None), "labeler_impl") and not hasattr(hookspecs, attr)
    )
    if unknown:
        known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("register_")))
        _hook_errors[name] = f"unknown hook(s) {', '.join(unknown)} (the hooks are: {known})"


def _allowed() -> set[str] | None:
    value = os.environ.get(ENV_VAR)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with entry points loaded (once)."""
    global _pm
    if _pm is not None:
        return _pm
    pm = pluggy.PluginManager("labeler")
    pm.add_hookspecs(hookspecs)
    allowed = _allowed()
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None or ep.name in _load_errors:
            other = _dists.get(ep.name, ("?", ""))[0]
            if ep.dist is not None and ep.dist.metadata["Name"] != other:
                _hook_errors.setdefault(
                    ep.name,
                    f"entry point name also used by {ep.dist.metadata['Name']} (that one was not loaded)",
                )
            continue
        try:
            obj = ep.load()
            pm.register(obj, name=ep.name)
            _check_hook_names(obj, ep.name)
            if ep.dist is not None:
                _dists[ep.name] = (ep.dist.metadata["Name"], ep.dist.version)
        except Exception as err:  # noqa: BLE001 - one broken plugin must not stop the rest
            _load_errors[ep.name] = f"{type(err).__name__}: {err}"
    _pm = pm
    return pm


def register_plugin(obj: ModuleType | object, name: str) -> None:
    """Register a plugin module or object by hand (tests, notebooks, embedding apps)."""
    get_plugin_manager().register(obj, name=name)
    _check_hook_names(obj, name)
    reset_registry()


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered by :func:`register_plugin` or an entry point."""
    pm = get_plugin_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    reset_registry()


def reset_registry() -> None:
    """Forget the collected classes (they are collected again on next use)."""
    global _registry
    _registry = None


def reset() -> None:
    """Forget everything, entry points included (tests use this after changing LABELER_PLUGINS)."""
    global _pm, _registry
    _pm = None
    _registry = None
    _load_errors.clear()
    _dists.clear()
    _hook_errors.clear()


def get_registry() -> Registry:
    """Collect every plugin's classes through the ``register_*`` hooks (cached)."""
    global _registry
    if _registry is not None:
        return _registry
    pm = get_plugin_manager()
    reg = Registry()
    for name, err in _load_errors.items():
        reg.plugins[name] = PluginRecord(name=name, error=err)
    for plugin in pm.get_plugins():
        pname = pm.get_name(plugin) or repr(plugin)
        dist, version = _dists.get(pname, (None, None))
        if version is None:
            version = getattr(plugin, "__version__", None)
        reg.plugins[pname] = PluginRecord(
            name=pname, distribution=dist, version=version, error=_hook_errors.get(pname)
        )
        if pname in _hook_errors:
            reg.warnings.append(f"plugin {pname!r}: {_hook_errors[pname]}")
    for hook_name, (attr, base, key) in KINDS.items():
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            record = reg.plugins[impl.plugin_name]
            table: dict[str, Any] = getattr(reg, attr)

            def register(
                cls: type[Plugin],
                _rec: PluginRecord = record,
                _t: dict[str, Any] = table,
                _base: type[Plugin] = base,
                _key: str = key,
                _attr: str = attr,
            ) -> None:
                if not (isinstance(cls, type) and issubclass(cls, _base)):
                    raise TypeError(f"{cls!r} is not a subclass of {_base.__name__}")
                ident = getattr(cls, _key)
                if not ident:
                    raise TypeError(f"{cls.__name__} has no {_key}")
                if ident in _t and _t[ident] is not cls:
                    reg.warnings.append(
                        f"{_attr[:-1]} {ident!r} from plugin {_rec.name!r} replaces an earlier one"
                    )
                problem = _option_defaults_problem(cls)
                if problem:
                    reg.warnings.append(f"plugin {_rec.name!r}: {_attr[:-1]} {ident!r}: {problem}")
                _t[ident] = cls
                _rec.provides.setdefault(_attr, []).append(ident)
                if cls not in _rec.classes:
                    _rec.classes.append(cls)

            try:
                impl.function(register=register)
            except Exception as err:  # noqa: BLE001
                record.error = f"{hook_name} failed: {type(err).__name__}: {err}"
                reg.warnings.append(f"plugin {record.name!r}: {record.error}")
    for impl in pm.hook.register_commands.get_hookimpls():
        reg.plugins[impl.plugin_name].commands = True
    for impl in pm.hook.register_gui_extensions.get_hookimpls():
        reg.plugins[impl.plugin_name].gui_extensions = True
    for impl in pm.hook.register_segmenters.get_hookimpls():
        reg.plugins[impl.plugin_name].segmenters = True
    _registry = reg
    return reg


def _option_defaults_problem(cls: type[Plugin]) -> str | None:
    """A sentence when an options model's own defaults do not pass its validation (a typo such
    as ``threshold: float = "high"``, which pydantic never checks by itself), else None."""
    import warnings

    from pydantic import ValidationError

    for attr in ("Options", "TrainOptions"):
        model = getattr(cls, attr, None)
        if model is None:
            continue
        try:
            defaults = model()
        except ValidationError:
            continue  # required options: nothing to check without values
        except Exception:  # noqa: BLE001 - a broken model is reported when it is used
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.model_validate(defaults.model_dump())
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return f"the default of option {where!r} is invalid: {first['msg']}"
        except Exception:  # noqa: BLE001
            continue
    return None


def add_plugin_commands(cli: Any, on_error: Callable[[str], None] | None = None) -> None:
    """Let plugins add subcommands to the click group ``cli`` (errors reported, not raised)."""
    pm = get_plugin_manager()
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception:  # noqa: BLE001
            if on_error is not None:
                on_error(
                    f"plugin {impl.plugin_name!r} failed to add commands:\n{traceback.format_exc(limit=3)}"
                )


def collect_segmenters(errors: list[str] | None = None) -> list[Any]:
    """Every interactive segmenter registered through ``register_segmenters``, in plugin order
    (a plugin whose hook raises, or that registers an object without ``name`` and ``open``, is
    reported in ``errors`` and skipped)."""
    pm = get_plugin_manager()
    found: list[Any] = []
    for impl in pm.hook.register_segmenters.get_hookimpls():
        def register(seg: Any) -> None:
            if not getattr(seg, "name", None) or not callable(getattr(seg, "open", None)):
                raise TypeError(f"{seg!r} needs a name and an open(checkpoint) method")
            found.append(seg)

        try:
            impl.function(register=register)
        except Exception as err:  # noqa: BLE001 - one broken plugin must not stop the others
            if errors is not None:
                errors.append(f"plugin {impl.plugin_name!r}: segmenter: {type(err).__name__}: {err}")
    return found
