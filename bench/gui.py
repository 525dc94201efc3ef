"""Benchmarks of the desktop labeler (offscreen), against the targets of the GUI issue.

1. open a folder of 100,000 images and show the first one (target < 1 s; labelme 6.3.1 lists
   10,000 images and shows the first in 0.53 s);
2. move to the next 12-megapixel JPEG with prefetch and reduced-size decoding (target < 50 ms;
   labelme: 217 ms), and the same without prefetch (cold);
3. a Segment Anything click once the embedding is cached (target < 100 ms), with the sample
   checkpoint in ``sample_data/models`` when present;
4. memory (RSS) while paging through 120 different 12-megapixel image paths (target: flat).

The folders are generated under a temporary directory (hard links of a few files, so 100,000
images cost almost no disk). Run: ``python bench/gui.py [--images 100000] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_big_jpegs(folder: Path, n: int, size: tuple[int, int] = (4000, 3000)) -> list[Path]:
    """``n`` distinct 12-megapixel JPEGs (smooth gradients plus noise: realistic file sizes)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    small = np.random.default_rng(0).integers(0, 255, size=(h // 8, w // 8, 3), dtype=np.uint8)
    paths = []
    for i in range(n):
        img = Image.fromarray(np.roll(small, i * 37, axis=1)).resize(size, Image.Resampling.BILINEAR)
        p = folder / f"big_{i:03d}.jpg"
        img.save(p, quality=90)
        paths.append(p)
    return paths


def make_many(folder: Path, n: int, seeds: list[Path], label: Path | None) -> None:
    """``n`` images as hard links of ``seeds`` (every tenth with a label file)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = seeds[i % len(seeds)]
        dst = folder / f"img_{i:06d}{src.suffix}"
        os.link(src, dst)
        if label is not None and i % 10 == 0:
            os.link(label, dst.with_suffix(".json"))


def dispose(app: object, w: object) -> None:
    """Really free a window (close() only hides it)."""
    import gc

    w.close()  # type: ignore[attr-defined]
    w.deleteLater()  # type: ignore[attr-defined]
    app.processEvents()  # type: ignore[attr-defined]
    gc.collect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=8, help="distinct 12-MP JPEGs for the paging test")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from labeler.gui.main_window import MainWindow
    from labeler.gui.sam import find_checkpoint, plugin_session_factory

    app = QApplication.instance() or QApplication(sys.argv[:1])
    results: dict[str, object] = {"cpu_count": os.cpu_count()}
    tmp = Path(tempfile.mkdtemp(prefix="labeler-bench-gui-"))
    try:
        settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)

        def wait_shown(w: MainWindow, action: object, timeout_ms: int = 20000) -> float:
            """Seconds from calling ``action`` until the window shows the image."""
            loop = QEventLoop()
            shown: list[float] = []

            def on_shown(_rel: str) -> None:
                shown.append(time.perf_counter())
                loop.quit()

            w.imageShown.connect(on_shown)
            t0 = time.perf_counter()
            action()  # type: ignore[operator]
            if not shown:
                QTimer.singleShot(timeout_ms, loop.quit)
                loop.exec()
            w.imageShown.disconnect(on_shown)
            if not shown:
                raise RuntimeError("image never shown")
            w.canvas.repaint()  # count the first paint of the new image too
            return time.perf_counter() - t0

        # 1. a 100,000-image folder
        scenes = REPO / "sample_data" / "scenes"
        seeds = sorted(scenes.glob("*.jpg"))[:8]
        many = tmp / "many"
        t0 = time.perf_counter()
        make_many(many, args.images, seeds, scenes / "scene_0001.json")
        print(f"generated {args.images:,} images in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        w = MainWindow(settings=settings, autosave=False)
        w.resize(1600, 1000)
        w.show()
        app.processEvents()
        first = wait_shown(w, lambda: w.open_folder(many))
        results["open_100k_first_image_s"] = round(first, 3)
        t0 = time.perf_counter()
        w.ensure_listed()
        results["open_100k_full_list_s"] = round(time.perf_counter() - t0 + first, 2)
        w.wait_for_scan(600_000)
        results["open_100k_all_statuses_s"] = round(time.perf_counter() - t0 + first, 2)
        dispose(app, w)
        shutil.rmtree(many)

        # 2. next 12-MP JPEG, with prefetch (the person looks at each image for a moment)
        big = make_big_jpegs(tmp / "big", args.big)
        # decode for a 1920x1080 screen (offscreen Qt reports a small virtual screen)
        w = MainWindow(settings=settings, autosave=False, max_side=1920)
        w.resize(1600, 1000)
        w.show()
        wait_shown(w, lambda: w.open_folder(big[0].parent))
        warm: list[float] = []
        for _ in range(len(big) - 1):
            w.loader.wait(20000)  # prefetch done: the user is still looking at the image
            app.processEvents()
            warm.append(wait_shown(w, w.next_image))
        results["next_12mp_prefetched_ms"] = {
            "median": round(statistics.median(warm) * 1000, 1), "max": round(max(warm) * 1000, 1)}
        # cold: no prefetch, no cache (jumping far away)
        cold: list[float] = []
        for _ in range(5):
            w.loader.wait(20000)
            app.processEvents()  # deliver finished prefetches before emptying the cache
            w.loader.clear()
            cold.append(wait_shown(w, w.prev_image))
        results["next_12mp_cold_reduced_decode_ms"] = round(statistics.median(cold) * 1000, 1)
        from labeler.io.images import open_image

        t0 = time.perf_counter()
        open_image(big[0])
        results["full_12mp_decode_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        results["display_decode_max_side"] = w.loader.max_side
        dispose(app, w)

        # 4. memory while paging through 60 distinct 12-MP paths
        paging = tmp / "paging"
        paging.mkdir()
        for i in range(120):
            os.link(big[i % len(big)], paging / f"p_{i:03d}.jpg")
        w = MainWindow(settings=settings, autosave=False, max_side=1920)
        w.resize(1600, 1000)
        w.show()
        wait_shown(w, lambda: w.open_folder(paging))
        samples = []
        for i in range(119):
            wait_shown(w, w.next_image)
            if i % 20 == 19:
                w.loader.wait(20000)
                app.processEvents()
                samples.append(round(rss_mib(), 1))
        results["rss_mib_every_20_images"] = samples
        dispose(app, w)

        # 3. SAM click latency with a cached embedding
        ckpt = find_checkpoint()
        factory = plugin_session_factory(ckpt)
        if factory is not None and ckpt is not None:
            from labeler.gui.sam import SamController

            ctl = SamController(factory)
            loop = QEventLoop()
            ctl.ready.connect(lambda _p: loop.quit())
            ctl.error.connect(lambda m: (print(m, file=sys.stderr), loop.quit()))
            t0 = time.perf_counter()
            ctl.set_image(scenes / "scene_0001.jpg")
            loop.exec()
            results["sam_checkpoint"] = ckpt.name
            results["sam_load_and_embed_s"] = round(time.perf_counter() - t0, 2)
            lat = []
            for k in range(20):
                ctl.predict([(100 + k, 120)], [1], None)
                lat.append(ctl.last_latency_ms)
            results["sam_click_ms"] = {"median": round(statistics.median(lat), 1), "max": round(max(lat), 1)}
            ctl.wait()
        else:
            results["sam_click_ms"] = "skipped: no SAM plugin or checkpoint"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
