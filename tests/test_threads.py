"""labeler.threads: the OpenMP wait policy of an interactive process (sleep_when_idle)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: Runs in a fresh interpreter: the rule, then torch loads and runs one parallel region; libgomp
#: prints the settings it read (OMP_DISPLAY_ENV=VERBOSE) on stderr.
SCRIPT = """
import sys
from labeler.threads import sleep_when_idle
print("applied" if sleep_when_idle() else "not applied")
import torch
torch.set_num_threads(2)
torch.ones(512, 512).sum()
print("again", sleep_when_idle())
"""


def _run(env_extra: dict[str, str], script: str = SCRIPT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "QT_NO_GUI_THREADPOOL", "LABELER_QT_THREADPOOL")}
    env.update(env_extra, OMP_DISPLAY_ENV="VERBOSE",
               PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=120, check=True)


def test_openmp_workers_sleep_when_idle_once_set_before_torch_loads() -> None:
    out = _run({})
    assert out.stdout.splitlines() == ["applied", "again False"]  # once torch is in, too late
    # libgomp then waits for work without spinning (its default spins 300,000 rounds).
    assert "OMP_WAIT_POLICY = 'PASSIVE'" in out.stderr and "GOMP_SPINCOUNT = '0'" in out.stderr


def test_the_persons_openmp_wait_policy_is_kept() -> None:
    out = _run({"OMP_WAIT_POLICY": "ACTIVE"})
    assert out.stdout.splitlines()[0] == "not applied"
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in out.stderr and "GOMP_SPINCOUNT = '0'" not in out.stderr


def test_too_late_once_torch_is_loaded() -> None:
    out = _run({}, "import os, torch\nfrom labeler.threads import sleep_when_idle\n"
                   "print(sleep_when_idle(), 'OMP_WAIT_POLICY' in os.environ)\ntorch.ones(512, 512).sum()")
    assert out.stdout.split() == ["False", "False"]  # nothing changed, nothing claimed
    assert "GOMP_SPINCOUNT = '300000'" in out.stderr


def test_every_cli_command_sets_the_policy_before_its_plugins_load(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    script = ("import os\nfrom labeler.cli import cli\n"
              f"cli.main(args=['validate', {str(folder)!r}], standalone_mode=False)\n"
              "print('policy', os.environ.get('OMP_WAIT_POLICY'))\n")
    out = _run({}, script)
    assert out.stdout.splitlines()[-1] == "policy PASSIVE"


#: Runs in a fresh interpreter: the rule (or not), then a Qt paint big enough for Qt 6 to cut into
#: parts for its GUI thread pool; prints how many pool threads the process has afterwards.
PAINT = """
import os, sys
from pathlib import Path
from labeler.threads import paint_on_one_thread
print("off" if paint_on_one_thread() else "kept")
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
app = QGuiApplication(sys.argv[:1])
img = QImage(1600, 1000, QImage.Format.Format_RGB32)
p = QPainter(img)
for i in range(20):
    p.fillRect(0, 0, 1600, 1000, QColor(i, 2 * i, 3 * i))
p.end()
big = img.scaled(800, 500, mode=__import__("PySide6.QtCore").QtCore.Qt.TransformationMode.SmoothTransformation)
assert img.pixelColor(5, 5) == QColor(19, 38, 57) and not big.isNull()
names = [Path(t, "comm").read_text().strip() for t in Path("/proc/self/task").iterdir()]
print("pool threads", sum(n == "Thread (pooled)" for n in names))
"""


def test_qt_paints_on_one_thread_unless_the_person_keeps_its_pool() -> None:
    env = {"QT_QPA_PLATFORM": "offscreen"}
    off = _run(env, PAINT).stdout.splitlines()
    assert off == ["off", "pool threads 0"]
    kept = _run({**env, "LABELER_QT_THREADPOOL": "1"}, PAINT).stdout.splitlines()
    assert kept[0] == "kept" and int(kept[1].split()[-1]) >= 1  # Qt's default: its pool painted


def test_the_window_turns_qt_s_thread_pool_off_before_it_paints(tmp_path: Path) -> None:
    script = ("import os, sys\nfrom PySide6.QtWidgets import QApplication\napp = QApplication(sys.argv[:1])\n"
              "from labeler.gui.main_window import MainWindow\nw = MainWindow(autosave=False)\n"
              "print(os.environ.get('QT_NO_GUI_THREADPOOL'))\n")
    out = _run({"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}, script)
    assert out.stdout.splitlines()[-1] == "1"
