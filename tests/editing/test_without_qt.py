"""The editing layer's tests pass in a Python where PySide6 cannot be imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

BLOCK_QT = """
import sys
sys.modules["PySide6"] = None  # any `import PySide6...` now raises ImportError
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_editing_tests_pass_with_pyside6_absent() -> None:
    others = [str(p) for p in sorted(HERE.glob("test_*.py")) if p.name != Path(__file__).name]
    assert len(others) >= 2
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_QT, "-q", "-p", "no:pytest-qt", "-p", "no:cacheprovider",
         "--rootdir", str(REPO), *others],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_the_blocker_really_blocks_qt() -> None:
    done = subprocess.run([sys.executable, "-c", BLOCK_QT.replace(
        "import pytest\nsys.exit(pytest.main(sys.argv[1:]))", "import PySide6.QtCore")],
        capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "No module named 'PySide6.QtCore'" in done.stderr
