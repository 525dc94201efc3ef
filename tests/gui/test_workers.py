"""Plugins run in a worker with progress and cancel; results appear in the open image."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt

from labeler.model import Issue
from labeler.plugin_api import Autolabeler, Check, Sample
from labeler.predictions import Predictions


class FakeDetector(Autolabeler):
    """Suggests one box per image; can be held back to test the window stays responsive."""

    name = "fakedet"
    gate: threading.Event | None = None
    threads: list[str] = []

    def predict(self, batch: Sequence[Sample]) -> list[Predictions]:
        FakeDetector.threads.append(threading.current_thread().name)
        if self.gate is not None:
            self.gate.wait(5)
        return [Predictions(xyxy=[[2, 2, 30, 30]], class_name=["bird"], confidence=[0.8]) for _ in batch]


class FakeCheck(Check):
    name = "fakecheck2"
    needs_image = False

    def check_sample(self, sample: Sample) -> list[Issue]:
        if sample.item.rel == "d.jpg":
            return [Issue(kind="too_dark", score=0.9, detail="dark", suggested_fix={"action": "exclude"})]
        return []


def test_autolabel_current_image_in_worker(gui, window, gui_dataset: Path, qtbot) -> None:
    gui.open(gui_dataset)
    window.doc.set_label([0], "lion")  # unsaved edit: saved before the run, kept after
    FakeDetector.gate = threading.Event()
    worker = window.run_autolabeler("fakedet", current_only=True, plugin=FakeDetector())
    assert worker is not None and window.cancel_button.isVisibleTo(window)
    # the window keeps working while the plugin runs
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton)
    assert window.run_autolabeler("fakedet", plugin=FakeDetector()) is None  # one run at a time
    with qtbot.waitSignal(window.pluginFinished, timeout=10000):
        FakeDetector.gate.set()
    FakeDetector.gate = None
    assert FakeDetector.threads[-1] != threading.main_thread().name
    labels = [(s.label, s.review) for s in window.doc.shapes]
    assert labels == [("lion", None), ("bird", "suggested")]
    assert window.review_panel.suggestions.count() == 1
    data = json.loads((gui_dataset / "a.json").read_text())
    assert [s["label"] for s in data["shapes"]] == ["lion", "bird"]
    assert not window.doc.dirty  # what is on screen is what is on disk
    assert window.doc.external_change() is None
    window.doc.accept([1])
    assert window.save()


def test_autolabel_listed_images_with_progress_and_cancel(gui, window, gui_dataset: Path, qtbot) -> None:
    gui.open(gui_dataset)
    progress: list[tuple[int, int]] = []
    FakeDetector.gate = threading.Event()
    worker = window.run_autolabeler("fakedet", current_only=False, plugin=FakeDetector())
    worker.progress.connect(lambda d, t, m: progress.append((d, t)))
    window.cancel_plugin()
    with qtbot.waitSignal(window.pluginFinished, timeout=10000) as sig:
        FakeDetector.gate.set()
    FakeDetector.gate = None
    summary = sig.args[0]
    assert summary.interrupted and summary.processed < 4
    assert not window.progress.isVisibleTo(window)


def test_check_in_worker_updates_statuses(gui, window, gui_dataset: Path, qtbot) -> None:
    gui.open(gui_dataset)
    with qtbot.waitSignal(window.pluginFinished, timeout=10000):
        window.run_check("fakecheck2", plugin=FakeCheck())
    row = window._rows["d.jpg"]
    assert window.file_model.statuses[row].issue_kinds == {"too_dark"}
    window.open_rel("d.jpg")
    assert window.review_panel.issues.count() == 1
    window.apply_fix()  # no fixer plugin registered for it here: the built-in exclude
    assert window.doc.annotation.meta.exclude


def test_image_loader_prefetches_neighbours(gui, window, gui_dataset: Path, qtbot) -> None:
    gui.open(gui_dataset)
    qtbot.waitUntil(lambda: window.loader.cached(gui_dataset / "b.jpg") is not None, timeout=5000)
    with qtbot.assertNotEmitted(window.loader.loaded, wait=0):
        window.next_image()
    assert window.canvas.has_image  # shown synchronously from the prefetch cache


def test_a_cached_image_prefetches_its_neighbours_once_its_frame_is_painted(gui, window, gui_dataset: Path,
                                                                             qtbot) -> None:
    gui.open(gui_dataset)  # a.jpg shown, b.jpg and c.jpg prefetched
    qtbot.waitUntil(lambda: window.loader.cached(gui_dataset / "c.jpg") is not None, timeout=5000)
    window.next_image()  # b.jpg from the cache: d.jpg is next in line
    d = gui_dataset / "d.jpg"
    assert window.canvas.has_image and str(d) not in window.loader._pending  # not while b's frame is drawn
    with qtbot.waitSignal(window.loader.loaded, timeout=5000) as blocker:  # painted, then idle: d's turn
        pass
    assert blocker.args[0] == str(d) and window.loader.cached(d) is not None


class NoWeights(FakeDetector):
    name = "noweights"

    def setup(self) -> None:
        from labeler.errors import MissingWeightsError

        raise MissingWeightsError("model file 'yolov8n.pt' not found: put it at ~/.cache/labeler/models")


def test_a_run_that_fails_as_a_whole_gets_a_window(gui, window, gui_dataset: Path, qtbot) -> None:
    gui.open(gui_dataset)
    with qtbot.waitSignal(window.pluginFinished, timeout=10000):
        window.run_autolabeler("noweights", current_only=True, plugin=NoWeights())
    box = window._error_box
    assert box.isVisible() and not box.isModal()
    assert box.text().startswith("model file 'yolov8n.pt' not found")  # the sentence, no traceback
    box.close()


def test_first_item_is_the_first_image_the_listing_gives(tmp_path: Path) -> None:
    """The window shows ``first_item`` before the listing ends: it must be the listing's first."""
    from labeler.dataset import Dataset
    from labeler.gui.workers import first_item
    from tests.conftest import make_image

    root = tmp_path / "ds"
    (root / ".hidden").mkdir(parents=True)
    make_image(root / ".hidden" / "a.jpg", (8, 8))
    make_image(root / ".labeler" / "a.jpg", (8, 8))
    make_image(root / "labels" / "a.jpg", (8, 8))  # the labels folder is not walked
    make_image(root / ".a.jpg", (8, 8))
    (root / "a.json").write_text("{}")
    (root / "a0.jpg").mkdir()  # a folder named like an image, with no image in it
    make_image(root / "b" / "c" / "z.png", (8, 8))
    make_image(root / "c.jpg", (8, 8))
    found = []
    for step in range(4):
        ds = Dataset(root, labels=root / "labels")
        found.append(first_item(ds) == ds.items[0] if ds.items else first_item(ds) is None)
        if step == 0:
            (root / "b" / "c" / "z.png").unlink()  # b/ holds no image now: c.jpg is first
        elif step == 1:
            make_image(root / "a0.jpg" / "in.jpg", (8, 8))  # the folder named a0.jpg is walked
        elif step == 2:
            for p in (root / "a0.jpg" / "in.jpg", root / "c.jpg"):
                p.unlink()
    assert found == [True, True, True, True]
    assert first_item(Dataset(root, labels=root / "labels")) is None
