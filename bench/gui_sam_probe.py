"""``bench/gui.py --sam``'s protocol (mobile_sam, a look, Next, a click at once or
``--click-after`` later) with finer timestamps, to see where the first mask's time goes: Next's
own call and the paint, the click's wait for the model thread, the decoder (wall and thread
CPU), the polygon (CPU) and the GUI's wake-up, the garbage collections, and every thread's run
and run-queue wait (``/proc/self/task/*/schedstat``, ms) during the open and during the click.

    python bench/gui_sam_probe.py --repeat 4 --json out.json
    python bench/gui_sam_probe.py --omp PASSIVE            # OMP_WAIT_POLICY before torch loads
    python bench/gui_sam_probe.py --nosam                  # the open alone, without the tool

Like the window, it applies ``labeler.threads.sleep_when_idle`` before torch loads (when that
exists: run from an older checkout, it measures that checkout's behaviour).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--repeat", type=int, default=5)
ap.add_argument("--look", type=float, default=5.0)
ap.add_argument("--omp", default="")  # e.g. PASSIVE
ap.add_argument("--spin", default="")  # GOMP_SPINCOUNT
ap.add_argument("--mallopt", action="store_true")
ap.add_argument("--gcfreeze", action="store_true")
ap.add_argument("--click-after", type=float, default=0.0)
ap.add_argument("--tag", default="")
ap.add_argument("--json", default="")
ap.add_argument("--profile", action="store_true")
ap.add_argument("--switch", type=float, default=0)
ap.add_argument("--nosam", action="store_true")
args = ap.parse_args()
if args.omp:
    os.environ["OMP_WAIT_POLICY"] = args.omp
if args.spin:
    os.environ["GOMP_SPINCOUNT"] = args.spin
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if args.mallopt:
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 256 << 20)
    libc.mallopt(-1, 1 << 30)

try:
    from labeler.threads import sleep_when_idle
    print("sleep_when_idle", sleep_when_idle(), file=sys.stderr)
except ImportError:
    pass


def tasks() -> dict[int, tuple[str, int, int]]:
    out = {}
    for t in os.listdir("/proc/self/task"):
        try:
            comm = Path(f"/proc/self/task/{t}/comm").read_text().strip()
            run, wait, _ = Path(f"/proc/self/task/{t}/schedstat").read_text().split()
            out[int(t)] = (comm, int(run), int(wait))
        except OSError:
            pass
    return out


def diff(a, b):
    res = {}
    for tid, (comm, run, wait) in b.items():
        r0, w0 = (a[tid][1], a[tid][2]) if tid in a else (0, 0)
        dr, dw = (run - r0) / 1e6, (wait - w0) / 1e6
        if dr > 0.5 or dw > 0.5:
            key = f"{comm}:{tid}"
            res[key] = (round(dr, 1), round(dw, 1))
    return res


gc_ms = []
_gc_t = [0.0]


def _gccb(phase, info):
    if phase == "start":
        _gc_t[0] = time.perf_counter()
    else:
        gc_ms.append((info["generation"], round((time.perf_counter() - _gc_t[0]) * 1000, 1)))


gc.callbacks.append(_gccb)

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from labeler.gui.main_window import MainWindow  # noqa: E402

app = QApplication.instance() or QApplication(sys.argv[:1])
import ultralytics  # noqa: E402
from labeler_plugins import sam as samplug  # noqa: E402
from PIL import Image  # noqa: E402

assets = Path(ultralytics.__file__).parent / "assets"
photos = [assets / "bus.jpg", assets / "zidane.jpg"]
tmp = Path(tempfile.mkdtemp(prefix="samprobe-"))
folder = tmp / "photos"
folder.mkdir()
for i in range(args.repeat + 2):
    shutil.copy(photos[i % 2], folder / f"p{i:02d}{photos[i % 2].suffix}")


def wait(sec):
    loop = QEventLoop()
    QTimer.singleShot(int(sec * 1000), loop.quit)
    loop.exec()


session = samplug.SamSession(samplug.build_sam("mobile_sam"), device="cpu")
session.encode(Image.open(photos[0]))
marks: dict[str, float] = {}
orig_decode = session.decode


def decode(*a, **kw):
    marks["dec0"] = time.perf_counter()
    marks["dec0_cpu"] = time.thread_time()
    out = orig_decode(*a, **kw)
    marks["dec1"] = time.perf_counter()
    marks["dec1_cpu"] = time.thread_time()
    return out


session.decode = decode
import labeler.gui.sam as guisam  # noqa: E402 - after the session is timed

_m2p = guisam.mask_to_polygon


def m2p(*a, **kw):
    c = time.thread_time()
    out = _m2p(*a, **kw)
    marks["poly1"] = time.perf_counter()
    marks["poly_cpu"] = (time.thread_time() - c) * 1000
    return out


guisam.mask_to_polygon = m2p
settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
w = MainWindow(settings=settings, autosave=False, max_side=1920, sam_factory=lambda: session)
w.resize(1600, 1000)
w.show()
shown = QEventLoop()
w.imageShown.connect(lambda _r: shown.quit())
w.open_folder(folder)
shown.exec()
if not args.nosam:
    w.set_mode("sam")
    while not w.sam.is_ready:
        wait(0.05)
if args.switch:
    sys.setswitchinterval(args.switch)
if args.gcfreeze:
    gc.collect()
    gc.freeze()
rows = []
for _ in range(args.repeat):
    wait(args.look)
    gc_ms.clear()
    s0 = tasks()
    t0 = time.perf_counter()
    c0 = time.thread_time()
    if args.profile:
        import cProfile
        import pstats
        pr = cProfile.Profile()
        pr.enable()
    w.next_image()
    if args.profile:
        app.processEvents()
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(25)
    t_next = time.perf_counter()
    ready = w.sam.is_ready
    while not w.sam.is_ready and not args.nosam:
        app.processEvents()
        time.sleep(0.002)
    app.processEvents()
    t1 = time.perf_counter()
    c1 = time.thread_time()
    s1 = tasks()
    if args.click_after:
        wait(args.click_after)
    s2 = tasks()
    if args.nosam:
        print(args.tag, "open", round((t1-t0)*1000,1), round((t_next-t0)*1000,1), round((c1-c0)*1000,1), diff(s0, s1), file=sys.stderr)
        continue
    enc = w.sam._worker is not None
    doc = w.doc
    iw, ih = doc.annotation.imageWidth, doc.annotation.imageHeight
    t2 = time.perf_counter()
    w.segment.prompt([(iw / 2, ih / 2)], [1], None)
    t3 = time.perf_counter()
    s3 = tasks()
    rows.append({
        "first": round((t3 - t0 - (t2 - t1)) * 1000, 1),
        "next_call": round((t_next - t0) * 1000, 1),
        "paint": round((t1 - t_next) * 1000, 1),
        "gui_cpu_open": round((c1 - c0) * 1000, 1),
        "click": round((t3 - t2) * 1000, 1),
        "to_model": round((marks["dec0"] - t2) * 1000, 1),
        "decode": round((marks["dec1"] - marks["dec0"]) * 1000, 1),
        "decode_cpu": round((marks["dec1_cpu"] - marks["dec0_cpu"]) * 1000, 1),
        "after_decode": round((t3 - marks["dec1"]) * 1000, 1),
        "polygon": round((marks["poly1"] - marks["dec1"]) * 1000, 1),
        "poly_cpu": round(marks["poly_cpu"], 1),
        "wake": round((t3 - marks["poly1"]) * 1000, 1),
        "ready": ready, "enc": enc,
        "gc": list(gc_ms),
        "open_threads": diff(s0, s1),
        "click_threads": diff(s2, s3),
    })
    print(args.tag, rows[-1], file=sys.stderr)
w.sam.stop()
if args.nosam:
    os._exit(0)
out = {"tag": args.tag, "rows": rows, "load": os.getloadavg()[0],
       "first_median": statistics.median(r["first"] for r in rows),
       "click_median": statistics.median(r["click"] for r in rows),
       "paint_median": statistics.median(r["next_call"] + r["paint"] for r in rows)}
print(json.dumps({k: v for k, v in out.items() if k != "rows"}))
if args.json:
    Path(args.json).write_text(json.dumps(out, indent=1))
shutil.rmtree(tmp, ignore_errors=True)
os._exit(0)
