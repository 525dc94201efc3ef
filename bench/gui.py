"""Benchmarks of the desktop labeler (offscreen), against the targets of the GUI issue, side by
side with labelme 7 on the same folders.

1. open a folder of 100,000 images and show the first one (target < 1 s);
2. labelme and labeler on the SAME 10,000-image folder: open it and show the first image;
3. the next 12-megapixel JPEG after looking at each image for ``--look`` seconds (3: the
   neighbours' prefetch has finished), the next one without a pause (the key pressed again as
   soon as the image is on screen: the prefetch is still running), both side by side with
   labelme, and labeler without prefetch (cold, reduced-scale decode); and the next image after
   a look when each has a labelme JSON of 60 polygons (a labeled dataset under review);
4. a Segment Anything click once the embedding is cached (target < 100 ms), with the sample
   checkpoint in ``sample_data/models`` when present;
5. memory (RSS) while paging through 120 different 12-megapixel image paths (target: flat).

labelme 7 (PySide6, Python >= 3.12) runs in its own virtual environment (``--labelme-python``,
default ``/work/lm7-venv/bin/python``: ``python3.12 -m venv /work/lm7-venv &&
/work/lm7-venv/bin/pip install labelme==7.9.1``), driven through its ``MainWindow``
(``labelme._app``) by this same file (``--labelme-driver``): ``MainWindow()`` offscreen at
1600x1000, then ``_load_from_file_or_dir(file_or_dir=folder)`` (its File > Open Dir: it lists
the folder, ticks the images that have a label file and loads the first image) and
``_open_next_image()`` (its ``D`` key: loads the next image, taking the decode its prefetcher
made of the neighbours when there is one), each followed by processing the queued events and a
repaint of the window, i.e. the image on screen, as for labeler. labelme's home
(``~/.labelmerc``, its QSettings) is a temporary folder. Every labelme and labeler window is
1600x1000; each "without a pause" pass starts from a fresh window on the first image.

The folders are generated under a temporary directory (hard links of a few files, so 100,000
images cost almost no disk). Run: ``python bench/gui.py [--images 100000] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
LABELME_PYTHON = "/work/lm7-venv/bin/python"
LABELME_INSTALL = f"python3.12 -m venv {Path(LABELME_PYTHON).parent.parent} && {Path(LABELME_PYTHON).parent}/pip install labelme==7.9.1"
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


#: Polygons per image in the labeled copy of the 12-MP folder (a labeled dataset under review).
LABELED_SHAPES = 60


def label_copy(images: list[Path], folder: Path, n_shapes: int = LABELED_SHAPES) -> Path:
    """Hard links of ``images`` in ``folder``, each with a labelme JSON of ``n_shapes`` 12-point
    polygons in 5 classes, spread over the image (what both tools read and paint on Next)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for k, src in enumerate(images):
        dst = folder / src.name
        os.link(src, dst)
        w, h = Image.open(src).size
        shapes = []
        for i in range(n_shapes):
            cx, cy = (i % 10 + 0.5) * w / 10, (i // 10 % 6 + 0.5) * h / 6
            r = min(w, h) / 16 * (1 + (i + k) % 3) / 3
            pts = [[round(cx + r * math.cos(a * math.pi / 6), 2), round(cy + r * math.sin(a * math.pi / 6), 2)]
                   for a in range(12)]
            shapes.append({"label": f"class_{i % 5}", "points": pts, "group_id": None, "description": "",
                           "shape_type": "polygon", "flags": {}, "mask": None})
        data = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": dst.name, "imageData": None,
                "imageHeight": h, "imageWidth": w}
        dst.with_suffix(".json").write_text(json.dumps(data, indent=2))
    return folder


#: The process CPU time (all threads) of the last timed step, in seconds: on a busy machine the
#: wall time of a step mostly measures waiting for a core, its CPU time the work it did.
LAST_CPU = [0.0]


def pause(seconds: float) -> None:
    """Run the Qt event loop for ``seconds`` (a person looking at the image)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def labelme_driver(folder: Path, big: Path, out: Path, repeats: int = 3, look_s: float = 3.0,
                   labeled: Path | None = None) -> None:
    """Runs inside labelme 7's environment (PySide6, Python >= 3.12): time its MainWindow on
    our folders, with the same protocol as labeler (window 1600x1000, events processed and
    the window repainted before the clock stops)."""
    from PySide6 import QtWidgets

    try:
        from loguru import logger  # labelme logs every image: keep it quiet

        logger.remove()
    except ImportError:
        pass
    import labelme  # type: ignore[import-not-found]
    from labelme._app import MainWindow  # type: ignore[import-not-found]

    app = QtWidgets.QApplication(sys.argv[:1])
    res: dict[str, object] = {"labelme_version": labelme.__version__}
    # A message box would wait for a click forever offscreen: record it and go on.
    dialogs: list[str] = []
    box = QtWidgets.QMessageBox
    for kind in ("critical", "warning", "information", "question"):
        setattr(box, kind, staticmethod(
            lambda *a, _k=kind, **_kw: dialogs.append(f"{_k}: {a[1:3]}") or box.StandardButton.Ok))
    res["dialogs"] = dialogs

    def fresh() -> object:
        w = MainWindow()
        w.resize(1600, 1000)
        w.show()
        app.processEvents()
        return w

    def on_screen(w: object, action: object) -> float:
        c0, t0 = time.process_time(), time.perf_counter()
        action()  # type: ignore[operator]
        app.processEvents()
        w.repaint()  # type: ignore[attr-defined]
        LAST_CPU[0] = time.process_time() - c0
        return time.perf_counter() - t0

    def dispose(w: object) -> None:
        w.close()  # type: ignore[attr-defined]
        w.deleteLater()  # type: ignore[attr-defined]
        app.processEvents()

    def open_dir(w: object, path: Path) -> float:
        return on_screen(w, lambda: w._load_from_file_or_dir(file_or_dir=str(path)))  # type: ignore[attr-defined]

    opens = []
    for _ in range(repeats):
        w = fresh()
        opens.append(open_dir(w, folder))
        res["listed"] = len(w._loaded_image_paths)  # type: ignore[attr-defined]
        dispose(w)
    res["open_first_image_s"] = [round(t, 3) for t in opens]
    # next after a look: the prefetch of the neighbours has had look_s to finish
    w = fresh()
    open_dir(w, big)
    n = len(w._loaded_image_paths)  # type: ignore[attr-defined]
    looked, looked_cpu, shown = [], [], []
    for _ in range(n - 1):
        pause(look_s)
        looked.append(on_screen(w, w._open_next_image))  # type: ignore[attr-defined]
        looked_cpu.append(LAST_CPU[0])
        shown.append(Path(w._image_path).name)  # type: ignore[attr-defined]
    res["next_after_look_ms"] = [round(t * 1000, 1) for t in looked]
    res["next_after_look_cpu_ms"] = [round(t * 1000, 1) for t in looked_cpu]
    res["shown_after_look"] = shown
    dispose(w)
    if labeled is not None:  # the same with a label file of LABELED_SHAPES polygons per image
        w = fresh()
        open_dir(w, labeled)
        looked, looked_cpu = [], []
        for _ in range(n - 1):
            pause(look_s)
            looked.append(on_screen(w, w._open_next_image))  # type: ignore[attr-defined]
            looked_cpu.append(LAST_CPU[0])
        res["next_labeled_after_look_ms"] = [round(t * 1000, 1) for t in looked]
        res["next_labeled_after_look_cpu_ms"] = [round(t * 1000, 1) for t in looked_cpu]
        res["shapes_shown_last"] = len(w._canvas_widgets.canvas.shapes)  # type: ignore[attr-defined]
        dispose(w)
    # next without a pause: the key pressed again as soon as the image is on screen
    rapid, rapid_cpu = [], []
    for _ in range(repeats):
        w = fresh()
        open_dir(w, big)
        for _ in range(n - 1):
            rapid.append(on_screen(w, w._open_next_image))  # type: ignore[attr-defined]
            rapid_cpu.append(LAST_CPU[0])
        res["shown_last"] = Path(w._image_path).name  # type: ignore[attr-defined]
        dispose(w)
    res["next_no_pause_ms"] = [round(t * 1000, 1) for t in rapid]
    res["next_no_pause_cpu_ms"] = [round(t * 1000, 1) for t in rapid_cpu]
    out.write_text(json.dumps(res))


def run_labelme(python: str, folder: Path, big: Path, tmp: Path, extra: list[str]) -> dict[str, object]:
    """Run :func:`labelme_driver` in labelme's own Python; {"error": ...} when it cannot."""
    import subprocess

    if not Path(python).exists():
        return {"error": f"labelme not installed ({python} missing; {LABELME_INSTALL})"}
    home = tmp / "labelme-home"
    home.mkdir(exist_ok=True)
    out = tmp / "labelme.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               PYTHONNOUSERSITE="1")
    proc = subprocess.run([python, str(Path(__file__).resolve()), "--labelme-driver", str(folder), str(big), str(out),
                           *extra], env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not out.exists():
        return {"error": f"labelme driver failed (rc {proc.returncode}): {proc.stderr.strip()[-800:]}"}
    return json.loads(out.read_text())


#: (row title, labeler's key, labelme's key) of the side-by-side table.
COMPARED = (
    ("open a {n:,}-image folder, first image shown (s)", "open_compare_first_image_s", "open_first_image_s"),
    ("next 12-MP JPEG after a {look:g} s look (ms)", "next_12mp_after_look_ms", "next_after_look_ms"),
    ("  the same, process CPU time (ms)", "next_12mp_after_look_cpu_ms", "next_after_look_cpu_ms"),
    (f"the same, {LABELED_SHAPES} polygons in its label file (ms)", "next_labeled_after_look_ms",
     "next_labeled_after_look_ms"),
    ("  the same, process CPU time (ms)", "next_labeled_after_look_cpu_ms", "next_labeled_after_look_cpu_ms"),
    ("next 12-MP JPEG without a pause (ms)", "next_12mp_no_pause_ms", "next_no_pause_ms"),
    ("  the same, process CPU time (ms)", "next_12mp_no_pause_cpu_ms", "next_no_pause_cpu_ms"),
)


def side_by_side(results: dict[str, object]) -> str:
    """The labelme comparison as a small table of medians (ratio: labelme's time / labeler's;
    the target is at least 2x on each row)."""
    lm = results.get("labelme") or {}
    assert isinstance(lm, dict)
    if "error" in lm:
        return f"\nlabelme: {lm['error']}"
    head = f"labelme {lm.get('labelme_version', '')}"
    lines = ["", f"{'same folders, offscreen, medians':50} {head:>14} {'labeler':>9} {'ratio':>7}"]
    for title, ours_key, theirs_key in COMPARED:
        ours, theirs = results.get(ours_key), lm.get(theirs_key)
        if not ours or not theirs:
            continue
        a, b = statistics.median(theirs), statistics.median(ours)  # type: ignore[arg-type]
        name = title.format(n=results.get("compare_images", 0), look=results.get("look_s", 3.0))
        lines.append(f"{name:50} {a:14.3f} {b:9.3f} {a / b:6.1f}x  {'(>= 2x)' if a >= 2 * b else '(< 2x)'}")
    return "\n".join(lines)


def dispose(app: object, w: object) -> None:
    """Really free a window (close() only hides it)."""
    import gc

    w.close()  # type: ignore[attr-defined]
    w.deleteLater()  # type: ignore[attr-defined]
    app.processEvents()  # type: ignore[attr-defined]
    gc.collect()


def bench_sam_ahead(models: list[str], look_s: float = 5.0, repeat: int = 3,
                    decoder_threads: int | str | None = None, click_after_s: float = 0.0,
                    rest_ms: float = 250.0) -> dict[str, object]:
    """``--sam``: time from opening the next image to the first Segment Anything mask, after
    the person looked ``look_s`` seconds at the previous one (the GUI encodes the next images
    meanwhile). Each model is a random-weight build of its real architecture (the same cost as
    its checkpoint), in the window's own controller; the click is answered as a person's is
    (``SegmentBinding.prompt``: the decoder, then the polygon), as soon as the image is on
    screen (the window's events processed), or ``click_after_s`` later.

    Each repeat opens two images: on the first the click comes at once (the pointer never
    rested); on the second the pointer comes to the click's place and rests ``rest_ms`` there
    first, as a person's does before a click, and the window answers that click ahead
    (``SamController.answer_ahead``). Both are reported, the person's pause not counted in
    either (``first_mask_ms`` and ``rested_first_mask_ms``)."""
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from labeler.gui.main_window import MainWindow
    from labeler.threads import sleep_when_idle

    # The window does this before its model loads torch; here torch loads first (the sessions
    # are built before the windows), so the same rule is applied here.
    idle_sleep = sleep_when_idle()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    try:
        import ultralytics

        assets = Path(ultralytics.__file__).parent / "assets"
        photos = [assets / "bus.jpg", assets / "zidane.jpg"]
    except ImportError:
        photos = sorted((REPO / "sample_data" / "scenes").glob("*.jpg"))[:2]
    from labeler_plugins import sam as samplug
    from PIL import Image

    out: dict[str, object] = {"look_s": look_s, "click_after_s": click_after_s, "load_before": os.getloadavg()[0],
                              "decoder_threads": decoder_threads, "openmp_sleeps_when_idle": idle_sleep,
                              "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}
    tmp = Path(tempfile.mkdtemp(prefix="labeler-bench-sam-"))
    try:
        folder = tmp / "photos"
        folder.mkdir()
        for i in range(2 * repeat + 2):
            shutil.copy(photos[i % len(photos)], folder / f"p{i:02d}{photos[i % len(photos)].suffix}")

        def wait(sec: float) -> None:
            loop = QEventLoop()
            QTimer.singleShot(int(sec * 1000), loop.quit)
            loop.exec()

        for kind in models:
            t0 = time.perf_counter()
            session = samplug.SamSession(samplug.build_sam(kind), device="cpu")
            session.decoder_threads = decoder_threads  # None: the GUI's own choice ("auto")
            built = time.perf_counter() - t0
            t0 = time.perf_counter()
            session.encode(Image.open(photos[0]))  # alone: the encoder's time on this machine
            encoder_s = time.perf_counter() - t0
            settings = QSettings(str(tmp / f"{kind}.ini"), QSettings.Format.IniFormat)
            settings.remove("last_images")  # each window starts at the folder's first image
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
            firsts, on_screen, clicks, at_open, cpu, gui_cpu, encoding = [], [], [], [], [], [], []
            next_calls, held = [], []
            rested: dict[str, list[float]] = {"first": [], "click": [], "answered_ahead": []}
            for rest in [r for _ in range(repeat) for r in (False, True)]:
                wait(look_s)  # the person looks at the image; the next ones are encoded meanwhile
                t0 = time.perf_counter()
                w.next_image()
                next_calls.append((time.perf_counter() - t0) * 1000)  # Next's own call, before the paint
                at_open.append(w.sam.is_ready)
                while not w.sam.is_ready:
                    app.processEvents()
                    time.sleep(0.002)
                app.processEvents()  # the new image painted: what the person clicks on
                t1 = time.perf_counter()
                if click_after_s:
                    wait(click_after_s)
                encoding.append(w.sam._worker is not None)  # a prefetch encoding runs (or waits) at the click
                held.append(w.sam._thread.held)  # ...and is held (it waits at its next pause point)
                doc = w.doc
                assert doc is not None
                iw, ih = doc.annotation.imageWidth, doc.annotation.imageHeight
                if rest:  # the pointer comes to the object and rests there before the click
                    w.canvas.view.cursor = (iw / 2, ih / 2)
                    w.canvas.cursorMoved.emit(iw / 2, ih / 2)
                    wait(rest_ms / 1000)
                    pr = w.canvas.segment_tool.prompt_at_cursor()
                    assert pr is not None
                    t2 = time.perf_counter()
                    w.segment.prompt(pr.points, pr.labels, pr.box)
                    t3 = time.perf_counter()
                    rested["click"].append((t3 - t2) * 1000)
                    rested["first"].append((t3 - t0 - (t2 - t1)) * 1000)
                    rested["answered_ahead"].append(w.sam.last_ahead)
                    w.canvas.clear_sam()
                    continue
                t2, c2 = time.perf_counter(), time.thread_time()
                w.segment.prompt([(iw / 2, ih / 2)], [1], None)
                t3 = time.perf_counter()
                gui_cpu.append((time.thread_time() - c2) * 1000)
                on_screen.append((t1 - t0) * 1000)
                clicks.append((t3 - t2) * 1000)
                firsts.append((t3 - t0 - (t2 - t1)) * 1000)  # the person's pause not counted
                # The CPU time of the thread that answered the click (the model thread: the
                # decoder and the polygon): its wall time on an idle core, whatever the load.
                cpu.append(getattr(w.sam, "last_cpu_ms", gui_cpu[-1]))  # (before the model thread: the GUI's)
            out[kind] = {
                "first_mask_ms": [round(t, 1) for t in firsts],
                "median_ms": round(statistics.median(firsts), 1),
                "open_to_clickable_ms": [round(t, 1) for t in on_screen],
                "click_to_polygon_ms": [round(t, 1) for t in clicks],
                "click_thread_cpu_ms": [round(t, 1) for t in cpu],
                "gui_thread_cpu_ms": [round(t, 1) for t in gui_cpu],
                "ready_when_opened": at_open,
                "encoding_at_click": encoding,
                "encoding_held_at_click": held,
                "next_call_ms": [round(t, 1) for t in next_calls],
                "encoder_s": round(encoder_s, 2),
                "build_s": round(built, 1),
                "rest_ms": rest_ms,
                "rested_first_mask_ms": [round(t, 1) for t in rested["first"]],
                "rested_median_ms": round(statistics.median(rested["first"]), 1),
                "rested_click_to_polygon_ms": [round(t, 1) for t in rested["click"]],
                "rested_answered_ahead": rested["answered_ahead"],
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
    parser.add_argument("--repeats", type=int, default=3,
                        help="opens of the compared folder, and passes over the 12-MP JPEGs without a pause")
    parser.add_argument("--look", type=float, default=None,
                        help="seconds spent looking at each image before 'next' (default 3; with --sam 5)")
    parser.add_argument("--labelme-python", default=LABELME_PYTHON,
                        help="the Python of a labelme 7 environment ('' to skip labelme)")
    parser.add_argument("--labelme-labeled", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--labelme-driver", nargs=3, type=Path, metavar=("FOLDER", "BIG", "OUT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--sam", action="store_true",
                        help="only the Segment Anything section: first mask after a look at the previous image")
    parser.add_argument("--sam-models", default="mobile_sam,vit_b", help="comma-separated SAM model types for --sam")
    parser.add_argument("--decoder-threads", type=int, default=None,
                        help="SAM decoder threads for --sam (default: the GUI's choice, every core while the "
                             "load average is under the core count, else one)")
    parser.add_argument("--click-after", type=float, default=0.0,
                        help="--sam: seconds between the image on screen and the click (default 0: at once; "
                             "a person takes longer, and a prefetch encoding may be running by then)")
    parser.add_argument("--rest-ms", type=float, default=250.0,
                        help="--sam: how long the pointer rests on the object before the second click of "
                             "each repeat (answered ahead; default 250 ms, a person's pause before a click)")
    args = parser.parse_args(argv)
    if args.look is None:
        args.look = 5.0 if args.sam else 3.0
    if args.labelme_driver:
        labelme_driver(*args.labelme_driver, repeats=args.repeats, look_s=args.look, labeled=args.labelme_labeled)
        return 0
    if args.sam:
        res = bench_sam_ahead(args.sam_models.split(","), args.look, decoder_threads=args.decoder_threads,
                              click_after_s=args.click_after, rest_ms=args.rest_ms)
        print(json.dumps(res, indent=2))
        if args.json:
            args.json.write_text(json.dumps(res, indent=2) + "\n")
        return 0

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from labeler.gui.main_window import MainWindow
    from labeler.gui.sam import find_checkpoint, plugin_session_factory

    app = QApplication.instance() or QApplication(sys.argv[:1])
    results: dict[str, object] = {"cpu_count": os.cpu_count(), "look_s": args.look}
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
            c0, t0 = time.process_time(), time.perf_counter()
            action()  # type: ignore[operator]
            if not shown:
                QTimer.singleShot(timeout_ms, loop.quit)
                loop.exec()
            w.imageShown.disconnect(on_shown)
            if not shown:
                raise RuntimeError("image never shown")
            app.processEvents()  # as for labelme: queued events, then the window repainted
            w.repaint()
            LAST_CPU[0] = time.process_time() - c0
            return time.perf_counter() - t0

        # 1. a 100,000-image folder
        scenes = REPO / "sample_data" / "scenes"
        seeds = sorted(scenes.glob("*.jpg"))[:8]
        many = tmp / "many"
        t0 = time.perf_counter()
        make_many(many, args.images, seeds, scenes / "scene_0001.json")
        print(f"generated {args.images:,} images in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        settings.remove("last_images")  # each window starts at the folder's first image
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
        for _ in range(args.repeats):
            settings.remove("last_images")  # each window starts at the folder's first image
            w = MainWindow(settings=settings, autosave=False)
            w.resize(1600, 1000)
            w.show()
            app.processEvents()
            opens.append(wait_shown(w, lambda w=w: w.open_folder(compare)))
            w.ensure_listed()
            w.wait_for_scan(600_000)  # no status scan of this folder left running into the next tests
            dispose(app, w)
        results["compare_images"] = args.compare_images
        results["open_compare_first_image_s"] = [round(t, 3) for t in opens]

        # 3. next 12-MP JPEG after a look at each image (the prefetch has had --look seconds)
        big = make_big_jpegs(tmp / "big", args.big)

        labeled = label_copy(big, tmp / "big_labeled")

        def big_window(folder: Path = big[0].parent) -> MainWindow:
            # decode for a 1920x1080 screen (offscreen Qt reports a small virtual screen)
            settings.remove("last_images")  # each window starts at the folder's first image
            w = MainWindow(settings=settings, autosave=False, max_side=1920)
            w.resize(1600, 1000)
            w.show()
            app.processEvents()
            wait_shown(w, lambda: w.open_folder(folder))
            return w

        # ...and the same when each image has its label file of polygons
        for folder, key in ((big[0].parent, "next_12mp_after_look"), (labeled, "next_labeled_after_look")):
            w = big_window(folder)
            warm: list[float] = []
            warm_cpu: list[float] = []
            for _ in range(len(big) - 1):
                pause(args.look)
                warm.append(wait_shown(w, w.next_image))
                warm_cpu.append(LAST_CPU[0])
            results[f"{key}_ms"] = [round(t * 1000, 1) for t in warm]
            results[f"{key}_cpu_ms"] = [round(t * 1000, 1) for t in warm_cpu]
            if folder == labeled:
                results["labeled_shapes"] = len(w.doc.shapes) if w.doc else 0
            dispose(app, w)
        # next 12-MP JPEG without a pause: the key pressed again as soon as the image is shown
        rapid: list[float] = []
        rapid_cpu: list[float] = []
        for _ in range(args.repeats):
            w = big_window()
            for _ in range(len(big) - 1):
                rapid.append(wait_shown(w, w.next_image))
                rapid_cpu.append(LAST_CPU[0])
            dispose(app, w)
        results["next_12mp_no_pause_ms"] = [round(t * 1000, 1) for t in rapid]
        results["next_12mp_no_pause_cpu_ms"] = [round(t * 1000, 1) for t in rapid_cpu]
        w = big_window()
        # cold: no prefetch, no cache (jumping far away)
        cold: list[float] = []
        for _ in range(5):
            w.loader.wait(20000)
            app.processEvents()  # deliver finished prefetches before emptying the cache
            w.loader.clear()
            cold.append(wait_shown(w, w.next_image))
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
            results["labelme"] = run_labelme(args.labelme_python, compare, big[0].parent, tmp,
                                             ["--repeats", str(args.repeats), "--look", str(args.look),
                                              "--labelme-labeled", str(labeled)])
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
