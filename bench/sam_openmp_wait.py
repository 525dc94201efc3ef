"""What the OpenMP wait policy does to a SAM click and encoding when another thread wants a core.

A random-weight mobile_sam session decodes a click (at the middle of ultralytics' ``bus.jpg``)
on one and on two threads, alone and while a Python thread of the same process decodes and
scales that JPEG in a loop (what the window's image loader does beside a click), then encodes
the image three times. Run it once per policy, each in a fresh process (libgomp reads its
settings when torch loads)::

    python bench/sam_openmp_wait.py                            # libgomp's default: spin, then sleep
    OMP_WAIT_POLICY=PASSIVE python bench/sam_openmp_wait.py    # what the GUI sets (sleep_when_idle)
    GOMP_SPINCOUNT=10000 python bench/sam_openmp_wait.py       # a shorter spin
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path


def main() -> int:
    import ultralytics
    from labeler_plugins import sam as samplug
    from PIL import Image

    path = Path(ultralytics.__file__).parent / "assets" / "bus.jpg"
    img = Image.open(path)
    s = samplug.SamSession(samplug.build_sam("mobile_sam"), device="cpu")
    emb = s.encode(img)
    c = (img.width / 2, img.height / 2)
    stop = threading.Event()

    def beside() -> None:  # PIL decode + scale, the GIL released in both
        while not stop.is_set():
            im = Image.open(path)
            im.load()
            im.resize((1600, 1200))

    def decode() -> float:
        t = time.perf_counter()
        s.decode(emb, points=[c], labels=[1])
        return (time.perf_counter() - t) * 1000

    policy = f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')} GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', '-')}"
    print(f"{policy}, load average {os.getloadavg()[0]:.2f}; decoder wall ms, medians of 6")
    for threads in (1, 2):
        s.decoder_threads = threads
        for _ in range(3):
            decode()
        alone = [decode() for _ in range(6)]
        stop.clear()
        other = threading.Thread(target=beside)
        other.start()
        time.sleep(0.05)
        busy = [decode() for _ in range(6)]
        stop.set()
        other.join()
        print(f"  {threads} thread(s): alone {statistics.median(alone):6.1f}, beside a busy thread "
              f"{statistics.median(busy):6.1f} (max {max(busy):6.1f})")
    walls, cpus = [], []
    for _ in range(3):
        t, cpu = time.perf_counter(), time.process_time()
        s.encode(img)
        walls.append((time.perf_counter() - t) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    print(f"  encoder ({s.threads} threads): wall {[round(w) for w in walls]} ms, process CPU {[round(x) for x in cpus]} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
