"""Benchmarks of the desktop labeler (offscreen), against the targets of the GUI issue, side by
side with labelme where it applies.

1. open a folder of 100,000 images and show the first one (target < 1 s);
2. labelme and labeler on the SAME 10,000-image folder: list it and show the first image;
3. move to the next 12-megapixel JPEG with prefetch and reduced-size decoding (target < 50 ms),
   the same without prefetch (cold), and labelme on the same JPEGs;
4. a Segment Anything click once the embedding is cached (target < 100 ms), with the sample
   checkpoint in ``sample_data/models`` when present;
5. memory (RSS) while paging through 120 different 12-megapixel image paths (target: flat).

labelme (PyQt5) cannot share a process with PySide6, so it runs in its own virtual environment
(``--labelme-python``, default ``/tmp/lm-venv/bin/python``: ``python3 -m venv /tmp/lm-venv &&
/tmp/lm-venv/bin/pip install labelme``), driven through its ``MainWindow`` API by this same file
(``--labelme-driver``): ``MainWindow()`` offscreen at 1600x1000, then
``_load_from_file_or_dir(folder)`` (labelme's File > Open Dir: it lists the folder, ticks the
images that have a label file and loads the first image) and ``_open_next_image()`` (its ``D``
key), each followed by processing the queued events and a repaint, i.e. the image on screen,
as for labeler. labelme's home (``~/.labelmerc``, its QSettings) is a temporary folder.

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
    """``n`` images as hard links of ``seeds``; every tenth gets a label file (``label``'s shapes,
    its ``imagePath`` naming that image, as labelme expects)."""
    folder.mkdir(parents=True, exist_ok=True)
    template = None
    if label is not None:
        data = json.loads(label.read_text())
        data["imagePath"] = "@@IMAGE@@"
        template = json.dumps(data)
    for i in range(n):
        src = seeds[i % len(seeds)]
        dst = folder / f"img_{i:06d}{src.suffix}"
        os.link(src, dst)
        if template is not None and i % 10 == 0:
            dst.with_suffix(".json").write_text(template.replace("@@IMAGE@@", dst.name))


def labelme_driver(folder: Path, big: Path, out: Path, repeats: int = 3) -> None:
    """Runs inside labelme's environment (PyQt5): time its MainWindow on our folders."""
    from PyQt5 import QtWidgets  # type: ignore[import-not-found]

    try:
        from loguru import logger  # labelme logs every image at DEBUG level: keep it quiet

        logger.remove()
    except ImportError:
        pass
    import labelme  # type: ignore[import-not-found]
    from labelme.app import MainWindow  # type: ignore[import-not-found]

    app = QtWidgets.QApplication(sys.argv[:1])
    res: dict[str, object] = {"labelme_version": labelme.__version__}
    # A message box would wait for a click forever offscreen: record it and go on.
    dialogs: list[str] = []
    box = QtWidgets.QMessageBox
    for kind in ("critical", "warning", "information", "question"):
        setattr(box, kind, staticmethod(lambda *a, _k=kind, **_kw: dialogs.append(f"{_k}: {a[1:3]}") or box.Ok))
    res["dialogs"] = dialogs

    def fresh() -> object:
        w = MainWindow()
        w.resize(1600, 1000)
        w.show()
        app.processEvents()
        return w

    def on_screen(w: object, action: object) -> float:
        t0 = time.perf_counter()
        action()  # type: ignore[operator]
        app.processEvents()
        w.repaint()  # type: ignore[attr-defined]
        return time.perf_counter() - t0

    opens = []
    for _ in range(repeats):
        w = fresh()
        opens.append(on_screen(w, lambda w=w: w._load_from_file_or_dir(str(folder))))
        res["listed"] = len(w.image_list)  # type: ignore[attr-defined]
        w.close()  # type: ignore[attr-defined]
        w.deleteLater()  # type: ignore[attr-defined]
        app.processEvents()
    res["open_first_image_s"] = [round(t, 3) for t in opens]
    w = fresh()
    on_screen(w, lambda: w._load_from_file_or_dir(str(big)))  # type: ignore[attr-defined]
    nexts = []
    for _ in range(len(w.image_list) - 1):  # type: ignore[attr-defined]
        nexts.append(on_screen(w, w._open_next_image))  # type: ignore[attr-defined]
    res["next_12mp_ms"] = [round(t * 1000, 1) for t in nexts]
    res["shown"] = w._image_path  # type: ignore[attr-defined]
    out.write_text(json.dumps(res))


def run_labelme(python: str, folder: Path, big: Path, tmp: Path) -> dict[str, object]:
    """Run :func:`labelme_driver` in labelme's own Python; {"error": ...} when it cannot."""
    import subprocess

    if not Path(python).exists():
        return {"error": f"labelme not installed ({python} missing; python3 -m venv /tmp/lm-venv && "
                         "/tmp/lm-venv/bin/pip install labelme)"}
    home = tmp / "labelme-home"
    home.mkdir(exist_ok=True)
    out = tmp / "labelme.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(home), PYTHONNOUSERSITE="1")
    proc = subprocess.run([python, str(Path(__file__).resolve()), "--labelme-driver", str(folder), str(big), str(out)],
                          env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not out.exists():
        return {"error": f"labelme driver failed (rc {proc.returncode}): {proc.stderr.strip()[-800:]}"}
    return json.loads(out.read_text())


def side_by_side(results: dict[str, object]) -> str:
    """The labelme comparison as a small table (ratio: labelme's time / labeler's)."""
    lm = results.get("labelme") or {}
    assert isinstance(lm, dict)
    if "error" in lm:
        return f"\nlabelme: {lm['error']}"
    n = results.get("compare_images")
    head = f"labelme {lm.get('labelme_version', '')}"
    lines = ["", f"{'same folders, offscreen':58} {head:>14} {'labeler':>9} {'ratio':>7}"]
    ours = results.get("open_compare_first_image_s") or []
    theirs = lm.get("open_first_image_s") or []
    if ours and theirs:
        a, b = statistics.median(theirs), statistics.median(ours)  # type: ignore[arg-type]
        lines.append(f"{f'open a {n:,}-image folder, first image shown (s)':58} {a:14.3f} {b:9.3f} {a / b:6.1f}x")
    nexts = lm.get("next_12mp_ms") or []
    warm = results.get("next_12mp_prefetched_ms")
    cold = results.get("next_12mp_cold_reduced_decode_ms")
    if nexts and isinstance(warm, dict):
        a = statistics.median(nexts)  # type: ignore[arg-type]
        lines.append(f"{'next 12-MP JPEG, median (ms), labeler prefetched':58} {a:14.1f} {warm['median']:9.1f} "
                     f"{a / warm['median']:6.1f}x")
        if isinstance(cold, int | float):
            lines.append(f"{'next 12-MP JPEG, median (ms), labeler cold (no prefetch)':58} {a:14.1f} {cold:9.1f} "
                         f"{a / cold:6.1f}x")
    return "\n".join(lines)


def dispose(app: object, w: object) -> None:
    """Really free a window (close() only hides it)."""
    import gc

    w.close()  # type: ignore[attr-defined]
    w.deleteLater()  # type: ignore[attr-defined]
    app.processEvents()  # type: ignore[attr-defined]
    gc.collect()


def bench_sam_ahead(models: list[str], look_s: float = 5.0, repeat: int = 3,
                    decoder_threads: int | None = None) -> dict[str, object]:
    """``--sam``: time from opening the next image to the first Segment Anything mask, after
    the person looked ``look_s`` seconds at the previous one (the GUI encodes the next images
    meanwhile). Each model is a random-weight build of its real architecture (the same cost as
    its checkpoint), in the window's own controller; the click is answered as a person's is
    (``SegmentBinding.prompt``: the decoder, then the polygon)."""
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from labeler.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    try:
        import ultralytics

        assets = Path(ultralytics.__file__).parent / "assets"
        photos = [assets / "bus.jpg", assets / "zidane.jpg"]
    except ImportError:
        photos = sorted((REPO / "sample_data" / "scenes").glob("*.jpg"))[:2]
    from labeler_plugins import sam as samplug
    from PIL import Image

    out: dict[str, object] = {"look_s": look_s, "load_before": os.getloadavg()[0], "decoder_threads": decoder_threads}
    tmp = Path(tempfile.mkdtemp(prefix="labeler-bench-sam-"))
    try:
        folder = tmp / "photos"
        folder.mkdir()
        for i in range(repeat + 2):
            shutil.copy(photos[i % len(photos)], folder / f"p{i:02d}{photos[i % len(photos)].suffix}")

        def wait(sec: float) -> None:
            loop = QEventLoop()
            QTimer.singleShot(int(sec * 1000), loop.quit)
            loop.exec()

        for kind in models:
            t0 = time.perf_counter()
            session = samplug.SamSession(samplug.build_sam(kind), device="cpu")
            session.decoder_threads = decoder_threads
            built = time.perf_counter() - t0
            t0 = time.perf_counter()
            session.encode(Image.open(photos[0]))  # alone: the encoder's time on this machine
            encoder_s = time.perf_counter() - t0
            settings = QSettings(str(tmp / f"{kind}.ini"), QSettings.Format.IniFormat)
            w = MainWindow(settings=settings, autosave=False, max_side=1920, sam_factory=lambda s=session: s)
            w.resize(1600, 1000)
            w.show()
            shown = QEventLoop()
            w.imageShown.connect(lambda _r, lp=shown: lp.quit())
            w.open_folder(folder)
            shown.exec()
            w.set_mode("sam")
            while not w.sam.is_ready:
                wait(0.05)
            firsts, at_open, cpu = [], [], []
            for _ in range(repeat):
                wait(look_s)  # the person looks at the image; the next ones are encoded meanwhile
                t0, c0 = time.perf_counter(), time.thread_time()
                w.next_image()
                at_open.append(w.sam.is_ready)
                while not w.sam.is_ready:
                    app.processEvents()
                    time.sleep(0.002)
                doc = w.doc
                assert doc is not None
                iw, ih = doc.annotation.imageWidth, doc.annotation.imageHeight
                w.segment.prompt([(iw / 2, ih / 2)], [1], None)
                firsts.append((time.perf_counter() - t0) * 1000)
                # The GUI thread's own CPU time for it (the decoder runs on it, one thread):
                # what the wall time is on an idle core, whatever the machine's load.
                cpu.append((time.thread_time() - c0) * 1000)
            out[kind] = {
                "first_mask_ms": [round(t, 1) for t in firsts],
                "median_ms": round(statistics.median(firsts), 1),
                "gui_thread_cpu_ms": [round(t, 1) for t in cpu],
                "ready_when_opened": at_open,
                "encoder_s": round(encoder_s, 2),
                "decoder_ms": round(w.sam.last_latency_ms, 1),
                "build_s": round(built, 1),
            }
            print(f"{kind}: {out[kind]}", file=sys.stderr)
            w.sam.stop()
            dispose(app, w)
            del session
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_after"] = os.getloadavg()[0]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=8, help="distinct 12-MP JPEGs for the paging test")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--compare-images", type=int, default=10_000,
                        help="size of the folder opened by both labelme and labeler")
    parser.add_argument("--labelme-python", default="/tmp/lm-venv/bin/python",
                        help="the Python of an environment with labelme installed ('' to skip labelme)")
    parser.add_argument("--labelme-driver", nargs=3, type=Path, metavar=("FOLDER", "BIG", "OUT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--sam", action="store_true",
                        help="only the Segment Anything section: first mask after a look at the previous image")
    parser.add_argument("--sam-models", default="mobile_sam,vit_b", help="comma-separated SAM model types for --sam")
    parser.add_argument("--look", type=float, default=5.0, help="seconds the person looks at each image (--sam)")
    parser.add_argument("--decoder-threads", type=int, default=None,
                        help="SAM decoder threads for --sam (default: the session's, 1 as in the GUI)")
    args = parser.parse_args(argv)
    if args.labelme_driver:
        labelme_driver(*args.labelme_driver)
        return 0
    if args.sam:
        res = bench_sam_ahead(args.sam_models.split(","), args.look, decoder_threads=args.decoder_threads)
        print(json.dumps(res, indent=2))
        if args.json:
            args.json.write_text(json.dumps(res, indent=2) + "\n")
        return 0

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

        # 2. the folder both tools open (same files, same labels)
        compare = tmp / "compare"
        make_many(compare, args.compare_images, seeds, scenes / "scene_0001.json")
        opens = []
        for _ in range(3):
            w = MainWindow(settings=settings, autosave=False)
            w.resize(1600, 1000)
            w.show()
            app.processEvents()
            opens.append(wait_shown(w, lambda w=w: w.open_folder(compare)))
            w.ensure_listed()
            dispose(app, w)
        results["compare_images"] = args.compare_images
        results["open_compare_first_image_s"] = [round(t, 3) for t in opens]

        # 3. next 12-MP JPEG, with prefetch (the person looks at each image for a moment)
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

        # labelme on the same two folders
        if args.labelme_python:
            print("running labelme on the same folders…", file=sys.stderr)
            results["labelme"] = run_labelme(args.labelme_python, compare, big[0].parent, tmp)
        else:
            results["labelme"] = {"error": "skipped (--labelme-python '')"}
        shutil.rmtree(compare)

        # 5. memory while paging through 120 distinct 12-MP paths
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

        # 4. SAM click latency with a cached embedding
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
    print(side_by_side(results))
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
