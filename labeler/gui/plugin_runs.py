"""Plugin runs from the window: options asked, the session's job run in a
:class:`~labeler.gui.workers.PluginWorker`, progress and Cancel in the status bar, each image's
result merged into its open document as it arrives."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QProgressBar, QPushButton

from labeler.dataset import Item
from labeler.gui.status import status_of_annotation
from labeler.gui.workers import PluginWorker

if TYPE_CHECKING:
    from labeler.gui.main_window import MainWindow


class PluginRuns(QObject):
    """At most one plugin run at a time, in the background."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.worker: PluginWorker | None = None
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel)
        self.error_box: QMessageBox | None = None

    def _plugin(self, kind: str, name: str, options: Any, plugin: Any) -> Any:
        if plugin is not None:
            return plugin
        from labeler.plugins import get_registry

        try:
            return get_registry().get(kind, name)(options)
        except Exception as err:  # noqa: BLE001 - unknown plugin or refused options: reported
            self.session.error(str(err))
            return None

    def run_menu_entry(self, kind: str, name: str, current_only: bool = True, cls: Any = None) -> PluginWorker | None:
        """From the Plugins menu: ask the plugin's options, then run it in the background."""
        from labeler.plugins import get_registry

        if self.session.dataset is None or self.worker is not None:
            if self.worker is not None:
                self.window.statusBar().showMessage("A plugin is already running (Cancel it first)", 4000)
            return None
        try:
            cls = cls or get_registry().get(kind, name)
        except Exception as err:  # noqa: BLE001
            self.session.error(str(err))
            return None
        options = self.window.ask_options(kind, cls)
        if options is None:
            return None
        try:
            plugin = cls(options)
        except Exception as err:  # noqa: BLE001 - a plugin refusing its options is reported
            self.session.error(f"{name}: {type(err).__name__}: {err}")
            return None
        if kind == "checks":
            return self.run_check(name, plugin=plugin)
        return self.run_autolabeler(name, current_only=current_only, plugin=plugin)

    def run_autolabeler(self, name: str, current_only: bool = True, options: dict[str, Any] | None = None,
                        plugin: Any = None) -> PluginWorker | None:
        """Run an autolabeler on the open image or the listed images."""
        s = self.session
        if s.dataset is None or self.worker is not None:
            return None
        plugin = self._plugin("autolabelers", name, options, plugin)
        if plugin is None or (current_only and s.doc is None):
            return None
        items = [s.doc.item] if current_only and s.doc else self.window.files.listed_items()
        job = s.autolabel_job(plugin, items, redo=current_only)
        return self._start(job, plugin.name) if job is not None else None

    def run_check(self, name: str, options: dict[str, Any] | None = None, plugin: Any = None) -> PluginWorker | None:
        """Run a check over the listed images."""
        if self.session.dataset is None or self.worker is not None:
            return None
        plugin = self._plugin("checks", name, options, plugin)
        if plugin is None:
            return None
        job = self.session.check_job(plugin, self.window.files.listed_items())
        return self._start(job, plugin.name) if job is not None else None

    def _start(self, job: Callable[..., Any], plugin_name: str) -> PluginWorker:
        worker = PluginWorker(job, plugin_name, self.window)
        worker.progress.connect(self._progress)
        worker.result.connect(lambda item, ann, n=plugin_name: self._result(item, ann, n))
        worker.done.connect(self._done)
        worker.error.connect(self._failed)
        self.worker = worker
        self.session.busy = True
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.window.statusBar().showMessage(f"Running {plugin_name}…")
        worker.start()
        return worker

    def _progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done}/{total}")

    def _result(self, item: Item, ann: Any, plugin: str) -> None:
        target, doc = self.session.merge_result(item, ann, plugin)
        self.window.files.set_status(item.rel, status_of_annotation(target),
                                     dirty=doc.dirty if doc is not None else False)
        self.window._classes_timer.start(300)

    def _finish(self) -> None:
        if self.worker is not None:
            self.worker.wait()
            self.worker.setParent(None)
        self.worker = None
        self.session.busy = False
        self.progress.hide()
        self.cancel_button.hide()

    def _done(self, summary: Any) -> None:
        self._finish()
        text = f"{summary.plugin}: {summary.processed} image(s) processed, {summary.changed} changed"
        if summary.failed:
            text += f", {len(summary.failed)} failed"
            self.session.errors.extend(summary.failed)
        if summary.interrupted:
            text += " (cancelled)"
        self.window.statusBar().showMessage(text, 8000)
        if self.session.wants_autosave():
            self.window._autosave_timer.start(self.window.AUTOSAVE_MS)
        self.window.pluginFinished.emit(summary)

    def _failed(self, message: str) -> None:
        self._finish()
        self.session.error(message)
        # A status-bar line is gone in 10 s: a run that failed as a whole also gets a window
        # (not modal: the work in the window goes on).
        first, _, rest = message.partition("\n")
        box = QMessageBox(QMessageBox.Icon.Warning, "The plugin run failed", first, parent=self.window)
        if rest.strip():
            box.setDetailedText(rest)
        box.setModal(False)
        box.show()
        self.error_box = box
        self.window.pluginFinished.emit(None)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.window.statusBar().showMessage("Cancelling after the current image…")

    def stop(self) -> None:
        """Cancel and wait (the window closes)."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(10000)
