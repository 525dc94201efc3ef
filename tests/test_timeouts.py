"""A plugin that never returns fails its image after the timeout; the run goes on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from labeler.dataset import open_dataset
from labeler.model import Issue
from labeler.pipeline import run_autolabel, run_check
from labeler.plugin_api import Autolabeler, Check
from labeler.predictions import Predictions
from labeler.timeouts import PluginTimeout, time_limit
from tests.conftest import make_image


def _dataset(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    for name in ("a", "hang", "z"):
        make_image(root / f"{name}.png")
    return root


class Hangs(Autolabeler):
    """Loops forever on one image (pure Python) and sleeps forever on another (a blocking call)."""

    name = "hangs"
    batch_size = 1

    def predict(self, batch):
        for s in batch:
            if s.item.rel == "hang.png":
                while True:
                    pass
        return [Predictions(xyxy=[[1.0, 1.0, 9.0, 9.0]], class_name=["box"], confidence=[0.7])
                for _ in batch]


class Sleeps(Check):
    name = "sleeps"

    def check_sample(self, sample):
        if sample.item.rel == "hang.png":
            time.sleep(3600)
        return [Issue(kind="seen", score=0.1)]


def test_a_hanging_autolabeler_fails_one_image(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    start = time.monotonic()
    summary = run_autolabel(open_dataset(root), Hangs(), timeout=0.5)
    assert time.monotonic() - start < 20
    assert len(summary.failed) == 1 and "hang.png" in summary.failed[0]
    assert "PluginTimeout" in summary.failed[0] and "0.5 s" in summary.failed[0]
    assert sorted(p.name for p in root.glob("*.json")) == ["a.json", "z.json"]


def test_a_check_blocked_in_a_system_call_fails_one_image(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    summary, findings = run_check(open_dataset(root), Sleeps(), timeout=0.5)
    assert len(summary.failed) == 1 and "hang.png" in summary.failed[0]
    assert sorted(f.rel for f in findings) == ["a.png", "z.png"]


def test_the_limit_works_in_a_worker_thread_as_the_gui_runs_plugins(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    out: dict[str, object] = {}
    worker = threading.Thread(
        target=lambda: out.update(summary=run_autolabel(open_dataset(root), Hangs(), timeout=0.5)))
    worker.start()
    worker.join(30)
    assert not worker.is_alive()
    summary = out["summary"]
    assert len(summary.failed) == 1 and "hang.png" in summary.failed[0]  # type: ignore[attr-defined]


def test_no_limit_and_a_limit_not_reached_change_nothing() -> None:
    with time_limit(None):
        time.sleep(0.01)
    with time_limit(5):
        time.sleep(0.01)
    time.sleep(0.1)  # nothing fires later either
    with pytest.raises(PluginTimeout), time_limit(0.2):
        time.sleep(5)
