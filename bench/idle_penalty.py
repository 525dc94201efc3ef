"""What the first work after a pause costs on this machine: the same fixed piece of compute
(40 products of two 300 x 300 matrices, one thread) timed warm, back to back, and then each
after a sleep, wall clock and CPU time.

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pause", type=float, default=3.0, help="seconds of sleep before each timed piece")
    parser.add_argument("--n", type=int, default=5, help="timed pieces of each kind")
    args = parser.parse_args(argv)
    a = np.random.default_rng(0).random((300, 300))
    work(a)
    work(a)
    warm = [work(a) for _ in range(args.n)]
    after = []
    for _ in range(args.n):
        time.sleep(args.pause)
        after.append(work(a))
    w_cpu = statistics.median(c for _, c in warm)
    a_cpu = statistics.median(c for _, c in after)
    print(f"load average {os.getloadavg()[0]:.2f}; one thread, the same work each time")
    print(f"{'':28} {'wall ms':>30} {'CPU ms':>30}")
    print(f"{'warm, back to back':28} {' '.join(f'{w:5.0f}' for w, _ in warm):>30} "
          f"{' '.join(f'{c:5.0f}' for _, c in warm):>30}")
    print(f"{f'after a {args.pause:g} s sleep':28} {' '.join(f'{w:5.0f}' for w, _ in after):>30} "
          f"{' '.join(f'{c:5.0f}' for _, c in after):>30}")
    print(f"the first work after a pause costs {a_cpu / w_cpu:.2f}x the CPU time of the same work warm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
