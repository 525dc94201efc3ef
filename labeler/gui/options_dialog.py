"""A settings form for a plugin's options, built from its pydantic ``Options`` model.

Each field of ``cls.Options.model_fields`` becomes an editor: ``bool`` a check box, ``int`` and
``float`` spin boxes (bounded by the field's ``ge``/``le``/``gt``/``lt``), ``Literal[...]`` a combo
box, ``str`` and ``Path`` a line edit, a list a comma-separated line edit, a nested model a group
of its own fields; an optional number or text is a line edit where empty means ``None``. The
field's description is the tooltip and the defaults are filled in. Every change is validated
with the model itself and the errors appear under the field concerned (OK stays disabled until
the options are valid), never as an exception. The last accepted values are remembered per
plugin in ``QSettings`` and offered next time. The window's own Edit > Preferences use the same
form (:func:`preferences_dialog`).
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from labeler.editing.preferences import Preferences

#: Nothing entered (the field is left out, so the model's default or "required" applies).
_UNSET = object()
_INT_LIMIT = 2**31 - 1


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """(the type without ``None``, whether ``None`` is allowed)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], optional
        return typing.Union[tuple(args)], optional  # noqa: UP007 - rebuilt at run time
    return annotation, False


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    """The field's numeric bounds from its ``ge``/``gt``/``le``/``lt`` constraints."""
    lo = hi = None
    for m in info.metadata:
        for attr, is_low, strict in (("ge", True, False), ("gt", True, True), ("le", False, False),
                                     ("lt", False, True)):
            v = getattr(m, attr, None)
            if isinstance(v, int | float):
                if is_low:
                    lo = v + (1 if strict and isinstance(v, int) else 0)
                else:
                    hi = v - (1 if strict and isinstance(v, int) else 0)
    return lo, hi


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


class FieldEditor:
    """One field's editor widget, reading and writing plain Python values."""

    def __init__(self, name: str, info: FieldInfo, on_change: Any) -> None:
        self.name = name
        self.info = info
        self.required = info.is_required()
        tp, self.optional = _unwrap_optional(info.annotation)
        self.tp = tp
        self.kind = self._kind(tp)
        self.widget: QWidget = self._make(on_change)
        tip = info.description or ""
        if self.kind in ("list",):
            tip = (tip + "\n" if tip else "") + "Comma-separated values."
        if self.optional and self.kind in ("text", "list", "number"):
            tip = (tip + "\n" if tip else "") + "Leave empty for none (the plugin decides)."
        self.widget.setToolTip(tip)
        self.error = QLabel("")
        self.error.setObjectName(f"error_{name}")
        self.error.setStyleSheet("color: #d03030;")
        self.error.setWordWrap(True)
        self.error.hide()

    @staticmethod
    def _kind(tp: Any) -> str:
        if _is_model(tp):
            return "model"
        if typing.get_origin(tp) is Literal:
            return "choice"
        if tp is bool:
            return "bool"
        if tp is int:
            return "int"
        if tp is float:
            return "float"
        if tp in (str, Path) or (isinstance(tp, type) and issubclass(tp, str | Path)):
            return "text"
        if typing.get_origin(tp) in (list, tuple, set, frozenset):
            return "list"
        return "json"

    def _make(self, on_change: Any) -> QWidget:
        kind = self.kind
        if kind in ("int", "float") and self.optional:
            self.kind = kind = "number"  # a line edit: empty means None
        if kind == "bool":
            w = QCheckBox()
            w.toggled.connect(on_change)
            return w
        if kind == "int":
            w = QSpinBox()
            lo, hi = _bounds(self.info)
            w.setRange(int(lo) if lo is not None else -_INT_LIMIT, int(hi) if hi is not None else _INT_LIMIT)
            w.setMinimumWidth(110)
            w.valueChanged.connect(on_change)
            return w
        if kind == "float":
            w = QDoubleSpinBox()
            lo, hi = _bounds(self.info)
            w.setDecimals(4)
            w.setRange(float(lo) if lo is not None else -1e12, float(hi) if hi is not None else 1e12)
            unit = lo is not None and hi is not None and hi - lo <= 1.0
            w.setSingleStep(0.05 if unit else 0.1)
            w.setMinimumWidth(110)
            w.valueChanged.connect(on_change)
            return w
        if kind == "choice":
            w = QComboBox()
            if self.optional:
                w.addItem("(none)", None)
            for v in typing.get_args(self.tp):
                w.addItem(str(v), v)
            w.currentIndexChanged.connect(on_change)
            return w
        if kind == "model":
            box = QGroupBox()
            self.form = OptionsForm(self.tp, parent=box)
            self.form.changed.connect(on_change)
            lay = QVBoxLayout(box)
            lay.setContentsMargins(6, 6, 6, 6)
            lay.addWidget(self.form)
            return box
        w = QLineEdit()
        if self.optional:
            w.setPlaceholderText("none")
        elif kind == "json":
            w.setPlaceholderText("a JSON value")
        w.textChanged.connect(on_change)
        return w

    # -- values ------------------------------------------------------------------------------
    def set_value(self, value: Any) -> None:
        """Show ``value`` (a default, or what was remembered); unknown shapes leave it as is."""
        w = self.widget
        kind = self.kind
        try:
            if kind == "bool":
                w.setChecked(bool(value))  # type: ignore[attr-defined]
            elif kind == "int":
                w.setValue(int(value))  # type: ignore[attr-defined]
            elif kind == "float":
                w.setValue(float(value))  # type: ignore[attr-defined]
            elif kind == "choice":
                k = w.findData(value)  # type: ignore[attr-defined]
                if k >= 0:
                    w.setCurrentIndex(k)  # type: ignore[attr-defined]
            elif kind == "model":
                if isinstance(value, BaseModel):
                    value = value.model_dump(mode="json")
                self.form.set_values(value if isinstance(value, dict) else {})
            elif kind == "list":
                w.setText("" if value is None else ", ".join(str(v) for v in value))  # type: ignore[attr-defined]
            elif kind == "json":
                w.setText("" if value is None else json.dumps(value))  # type: ignore[attr-defined]
            else:
                w.setText("" if value is None else str(value))  # type: ignore[attr-defined]
        except (TypeError, ValueError, OverflowError):
            pass

    def value(self) -> Any:
        """What is entered, as a plain value for ``model_validate`` (or ``_UNSET``)."""
        w = self.widget
        kind = self.kind
        if kind == "bool":
            return w.isChecked()  # type: ignore[attr-defined]
        if kind in ("int", "float"):
            return w.value()  # type: ignore[attr-defined]
        if kind == "choice":
            return w.currentData()  # type: ignore[attr-defined]
        if kind == "model":
            return self.form.values()
        text = w.text().strip()  # type: ignore[attr-defined]
        if not text:
            if self.optional:
                return None
            if self.required:
                return _UNSET
            return [] if kind == "list" else "" if kind == "text" else _UNSET
        if kind == "list":
            return [t.strip() for t in text.split(",") if t.strip()]
        if kind == "json":
            try:
                return json.loads(text)
            except ValueError:
                return text
        return text  # text and optional numbers: pydantic converts "12" to 12

    def show_error(self, message: str | None) -> None:
        self.error.setText(message or "")
        self.error.setVisible(bool(message))


class OptionsForm(QWidget):
    """The editors of one options model, in a form; :meth:`validate` checks them."""

    changed = Signal()

    def __init__(self, model: type[BaseModel], values: dict[str, Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.editors: dict[str, FieldEditor] = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self._loading = True
        for name, info in model.model_fields.items():
            ed = FieldEditor(name, info, self._changed)
            self.editors[name] = ed
            label = QLabel(info.title or name)
            label.setToolTip(ed.widget.toolTip())
            cell = QWidget()
            lay = QVBoxLayout(cell)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.setSpacing(1)
            lay.addWidget(ed.widget)
            lay.addWidget(ed.error)
            form.addRow(label, cell)
        self.set_values(values or {})
        self._loading = False

    def _changed(self, *_args: Any) -> None:
        if not self._loading:
            self.changed.emit()

    def defaults(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, info in self.model.model_fields.items():
            if not info.is_required():
                out[name] = info.get_default(call_default_factory=True)
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill in ``values`` over the defaults (fields not in either stay empty)."""
        loading, self._loading = self._loading, True
        merged = {**self.defaults(), **{k: v for k, v in values.items() if k in self.editors}}
        for name, ed in self.editors.items():
            if name in merged:
                ed.set_value(merged[name])
            elif ed.kind == "model":
                ed.set_value({})
        self._loading = loading

    def values(self) -> dict[str, Any]:
        """The entries as a dict for ``model_validate`` (empty required fields left out)."""
        out = {}
        for name, ed in self.editors.items():
            v = ed.value()
            if v is not _UNSET:
                out[name] = v
        return out

    def validate(self) -> tuple[BaseModel | None, list[str]]:
        """(the options, []) when valid, else (None, messages) with each shown by its field."""
        for ed in self.editors.values():
            ed.show_error(None)
            if ed.kind == "model":
                ed.form.validate()
        try:
            return self.model.model_validate(self.values()), []
        except ValidationError as err:
            return None, self.show_errors(err.errors())

    def show_errors(self, errors: list[Any]) -> list[str]:
        """Put each error under its field; returns the messages no field took."""
        by_field: dict[str, list[str]] = {}
        rest: list[str] = []
        for e in errors:
            loc = [str(x) for x in e.get("loc", ())]
            msg = str(e.get("msg", "invalid"))
            if loc and loc[0] in self.editors:
                ed = self.editors[loc[0]]
                if ed.kind == "model" and len(loc) > 1:
                    ed.form.show_errors([{**e, "loc": tuple(loc[1:])}])
                    by_field.setdefault(loc[0], [])
                    continue
                detail = f"{'.'.join(loc[1:])}: " if len(loc) > 1 else ""
                by_field.setdefault(loc[0], []).append(detail + msg)
            else:
                rest.append(msg)
        for name, msgs in by_field.items():
            if msgs:
                self.editors[name].show_error("; ".join(msgs))
        return rest


def settings_key(kind: str, name: str) -> str:
    return f"plugin_options/{kind}/{name}"


def remembered_options(settings: QSettings, kind: str, name: str) -> dict[str, Any]:
    """The options last accepted for this plugin (an empty dict when none or unreadable)."""
    raw = settings.value(settings_key(kind, name), "")
    try:
        data = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def remember_options(settings: QSettings, kind: str, name: str, options: BaseModel) -> None:
    settings.setValue(settings_key(kind, name), json.dumps(options.model_dump(mode="json")))


def has_options(cls: Any) -> bool:
    model = getattr(cls, "Options", None)
    return bool(model is not None and getattr(model, "model_fields", None))


class PluginOptionsDialog(QDialog):
    """Options of one plugin before it runs; :meth:`ask` returns the validated options or None."""

    def __init__(self, cls: Any, kind: str, settings: QSettings, title: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cls = cls
        self.kind = kind
        self.settings = settings
        self.setWindowTitle(title or f"{cls.name}: options")
        self.options: BaseModel | None = None
        intro = QLabel(getattr(cls, "description", "") or "")
        intro.setWordWrap(True)
        self.form = OptionsForm(cls.Options, remembered_options(settings, kind, cls.name))
        self.form.changed.connect(self._revalidate)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        self.general_error = QLabel("")
        self.general_error.setStyleSheet("color: #d03030;")
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        lay = QVBoxLayout(self)
        if intro.text():
            lay.addWidget(intro)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.general_error)
        lay.addWidget(self.buttons)
        self._revalidate()
        # As tall as the form needs (room for an error line or two), scrolling past 720 px.
        extra = self.sizeHint().height() - scroll.sizeHint().height()
        self.resize(520, min(self.form.sizeHint().height() + extra + 60, 720))

    @property
    def ok_button(self) -> Any:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def restore_defaults(self) -> None:
        self.form.set_values({})
        self._revalidate()

    def _revalidate(self) -> bool:
        options, rest = self.form.validate()
        self.general_error.setText("\n".join(rest))
        self.general_error.setVisible(bool(rest))
        self.ok_button.setEnabled(options is not None)
        self.options = options
        return options is not None

    def accept(self) -> None:
        if not self._revalidate() or self.options is None:
            return  # the errors are on screen; the dialog stays open
        remember_options(self.settings, self.kind, self.cls.name, self.options)
        super().accept()

    def ask(self) -> BaseModel | None:
        """Show the dialog modally; the validated options, or None when cancelled."""
        if self.exec() != QDialog.DialogCode.Accepted:
            return None
        return self.options


def ask_plugin_options(window: Any, kind: str, cls: Any) -> Any:
    """Before a run from the Plugins menu: the plugin's options from its form (remembered in
    ``window.settings``), its defaults when it has none, or None when cancelled."""
    if not has_options(cls):
        return cls.Options()
    return PluginOptionsDialog(cls, kind, window.settings, parent=window).ask()



class _PreferencesPlugin:
    """The window's own settings, shaped like a plugin class for :class:`PluginOptionsDialog`."""

    name = "preferences"
    description = "Settings of the desktop labeler (remembered between sessions)."
    Options = Preferences


def remembered_preferences(settings: QSettings) -> Preferences:
    """The preferences last accepted in Edit > Preferences (the defaults when none or invalid)."""
    try:
        return Preferences(**remembered_options(settings, "app", "preferences"))
    except ValidationError:
        return Preferences()


def preferences_dialog(window: Any) -> PluginOptionsDialog:
    """Edit > Preferences…: the form of :class:`~labeler.editing.preferences.Preferences`,
    remembered in ``window.settings`` like a plugin's options."""
    dialog = PluginOptionsDialog(_PreferencesPlugin, "app", window.settings, title="Preferences", parent=window)
    dialog.ok_button.setText("OK")
    return dialog
