"""What the first work after a pause costs on this machine: the same fixed pieces of work timed
warm, back to back, and then each after a sleep, wall clock and CPU time. Two kinds: compute (40
products of two 300 x 300 matrices, one thread) and memory (one pass that reads and rewrites
32 MB that the process allocated and touched long before: what a GUI does with its frames and
backing store when the next image comes).

Every "after a look" figure of ``bench/gui.py`` (the next image after a 3 s look, the first mask
after a 5 s look) is work that starts after the CPU idled; on a virtual machine the same
instructions can then take longer (the host's clock and caches), in labeler and in the tool it is
compared with alike. This prints how much, so that those figures can be read.

    python bench/idle_penalty.py               # 3 s pauses, 5 of each
    python bench/idle_penalty.py --pause 1 --n 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402 - after the thread setting


def work(a: np.ndarray, rounds: int = 40) -> tuple[float, float]:
    """(wall ms, CPU ms) of ``rounds`` matrix products."""
    t, c = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        a @ a
    return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000


def touch(buf: np.ndarray) -> tuple[float, float]:
    """(wall ms, CPU ms) of one pass that reads and rewrites ``buf`` in place."""
    t, c = time.perf_counter(), time.process_time()
    np.add(buf, 1, out=buf)
    return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000


def row(name: str, times: list[tuple[float, float]]) -> str:
    return (f"{name:34} {' '.join(f'{w:5.1f}' for w, _ in times):>32} "
            f"{' '.join(f'{c:5.1f}' for _, c in times):>32}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pause", type=float, default=3.0, help="seconds of sleep before each timed piece")
    parser.add_argument("--n", type=int, default=5, help="timed pieces of each kind")
    args = parser.parse_args(argv)
    a = np.random.default_rng(0).random((300, 300))
    buf = np.zeros(32 << 18, np.float32)  # 32 MB, touched now, long before it is timed
    print(f"load average {os.getloadavg()[0]:.2f}; one thread, the same work each time")
    print(f"{'':34} {'wall ms':>32} {'CPU ms':>32}")
    for name, piece in (("compute (40 matrix products)", lambda: work(a)),
                        ("memory (32 MB read and rewritten)", lambda: touch(buf))):
        piece()
        piece()
        warm = [piece() for _ in range(args.n)]
        after = []
        for _ in range(args.n):
            time.sleep(args.pause)
            after.append(piece())
        w_cpu = statistics.median(c for _, c in warm)
        a_cpu = statistics.median(c for _, c in after)
        print(row(f"{name}, warm", warm))
        print(row(f"  after a {args.pause:g} s sleep", after))
        print(f"  the first {name.split()[0]} work after a pause costs {a_cpu / w_cpu:.2f}x the CPU time of the same work warm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
