"""What one paint of the window costs, with Qt's GUI thread pool and without it, side by side in
one run (each side in its own process: Qt reads the switch once per process).

The window is 1600x1000, offscreen, on a 12-megapixel JPEG with a labelme file of 60 twelve-point
polygons (the folder ``bench/gui.py`` uses for its labeled row). Each figure is the median of
``--n`` calls, warm:

- the whole window repainted (what both tools' "on screen" includes);
- the toolbar alone;
- the canvas alone (the frame, 60 outlines and their captions);
- the Shapes list filled with the 60 shapes.

``labeler`` turns Qt's pool off (``labeler.threads.paint_on_one_thread``); the other side sets
``LABELER_QT_THREADPOOL=1`` (Qt's default).

    python bench/gui_paint.py            # 300 repaints of each
    python bench/gui_paint.py --n 100 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def measure(n: int) -> dict[str, float]:
    """Runs in a child process: the figures of this process's Qt setting."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from gui import label_copy, make_big_jpegs, pause  # noqa: PLC0415 - bench/gui.py's folders
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QToolBar

    from labeler.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="labeler-bench-paint-"))
    folder = label_copy(make_big_jpegs(tmp / "big", 1), tmp / "labeled")
    w = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat), autosave=False, max_side=1920)
    w.resize(1600, 1000)
    w.show()
    app.processEvents()
    w.open_folder(folder)
    pause(1.5)  # decoded, framed, listed
    assert w.doc is not None and len(w.doc.shapes) == 60
    doc, bar = w.doc, w.findChild(QToolBar, "Tools")

    def median_ms(fn: object) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - t0)
        return round(statistics.median(times) * 1000, 2)

    out = {
        "window_repaint_ms": median_ms(w.repaint),
        "toolbar_repaint_ms": median_ms(bar.repaint),
        "canvas_repaint_ms": median_ms(w.canvas.repaint),
        "shape_list_fill_ms": median_ms(lambda: w.shape_panel.show_document(doc, [])),
        "QT_NO_GUI_THREADPOOL": os.environ.get("QT_NO_GUI_THREADPOOL"),
    }
    w.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.n)))
        return 0
    sides = {}
    for name, extra in (("Qt's pool", {"LABELER_QT_THREADPOOL": "1"}), ("no pool (labeler)", {})):
        env = {k: v for k, v in os.environ.items() if k not in ("QT_NO_GUI_THREADPOOL", "LABELER_QT_THREADPOOL")}
        env.update(extra, QT_QPA_PLATFORM="offscreen")
        proc = subprocess.run([sys.executable, __file__, "--child", "--n", str(args.n)], env=env,
                              capture_output=True, text=True, timeout=600, check=True)
        sides[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    res = {"load": os.getloadavg()[0], "n": args.n, **sides}
    (a, pool), (b, nopool) = sides.items()
    print(f"{'median of ' + str(args.n) + ', ms':28} {a:>12} {b:>18}")
    for key in ("window_repaint_ms", "toolbar_repaint_ms", "canvas_repaint_ms", "shape_list_fill_ms"):
        print(f"{key:28} {pool[key]:12.2f} {nopool[key]:18.2f}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
