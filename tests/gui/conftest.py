"""GUI fixtures: a window on a small real dataset, settings kept in tmp_path, offscreen."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, QSettings, Qt  # noqa: E402

from labeler.gui.label_dialog import LabelAnswer  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402
from tests.editing.conftest import four_images, labelme_json, make_image, rect, write_json  # noqa: E402,F401


@pytest.fixture
def gui_dataset(tmp_path: Path) -> Path:
    """Four images: two labeled (one with suggestions), one with an issue, one unlabeled."""
    return four_images(tmp_path)


class Answers:
    """Scripted answers for the label dialog (what a person would type)."""

    def __init__(self) -> None:
        self.queue: list[LabelAnswer | None] = []
        self.asked: list[tuple[str, str | None]] = []
        self.groups: list[int | None] = []

    def __call__(self, label: str = "", text: str | None = None, group_id: int | None = None) -> LabelAnswer | None:
        self.asked.append((label, text))
        self.groups.append(group_id)
        return self.queue.pop(0) if self.queue else None


@pytest.fixture
def window(qtbot, tmp_path: Path) -> Iterator[MainWindow]:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, max_side=512)
    w.answers = Answers()  # type: ignore[attr-defined]
    w.ask_label = w.answers  # type: ignore[attr-defined]
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.autosave = False
    for d in w._docs.values():
        d._dirty = False
    w.close()


class GuiDriver:
    """Small helpers that act like a person on the window (qtbot mouse and keys)."""

    def __init__(self, qtbot, window: MainWindow) -> None:  # noqa: ANN001
        self.qtbot = qtbot
        self.window = window

    def open(self, root: Path) -> None:
        open_and_wait(self.qtbot, self.window, root)

    def drag(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        drag(self.qtbot, self.window, a, b)

    def click(self, x: float, y: float, button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
        click(self.qtbot, self.window, x, y, button)

    def key(self, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        self.qtbot.keyClick(self.window.canvas, key, modifier)

    def label_next(self, label: str, text: str | None = None) -> None:
        self.window.answers.queue.append(LabelAnswer(label=label, text=text))  # type: ignore[attr-defined]


@pytest.fixture
def gui(qtbot, window: MainWindow) -> GuiDriver:  # noqa: ANN001
    return GuiDriver(qtbot, window)


def open_and_wait(qtbot, window: MainWindow, root: Path) -> None:
    with qtbot.waitSignal(window.imageShown, timeout=5000):
        assert window.open_folder(root)
    window.wait_for_scan()
    qtbot.wait(20)


def widget_pos(window: MainWindow, x: float, y: float) -> QPoint:
    p: QPointF = window.canvas.to_widget(x, y)
    return QPoint(round(p.x()), round(p.y()))


def drag(qtbot, window: MainWindow, a: tuple[float, float], b: tuple[float, float]) -> None:
    """Press at image point ``a``, move, release at ``b`` (left button)."""
    c = window.canvas
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=widget_pos(window, *a))
    qtbot.mouseMove(c, widget_pos(window, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2))
    qtbot.mouseMove(c, widget_pos(window, *b))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=widget_pos(window, *b))


def click(qtbot, window: MainWindow, x: float, y: float,
          button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
    qtbot.mouseClick(window.canvas, button, pos=widget_pos(window, x, y))
