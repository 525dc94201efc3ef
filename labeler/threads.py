"""How a model's process uses the machine (one rule for every plugin): how many CPU threads a
model may use, and that the big buffers it frees are kept for reuse (:func:`keep_freed_memory`).

Engines that run several models on one machine give each its share: a Ray worker gets its
``num_cpus`` (:mod:`labeler.engines.ray_engine` sets :data:`ENV` in each worker before the
plugin loads), so two workers on two cores do not run four threads. A person can set it too
(``LABELER_THREADS=1 labeler autolabel ...``).
"""

from __future__ import annotations

import os

#: Environment variable that caps the threads of every model in this process.
ENV = "LABELER_THREADS"


def cpu_threads(requested: int | None = None) -> int:
    """``requested``, else ``$LABELER_THREADS``, else every core this process may use.

    Importing ultralytics sets ``OMP_NUM_THREADS=1`` (when unset) and its CPU device selection
    sets torch to ``cpu_count - 1`` threads, so plugins set their thread count explicitly from
    this instead of trusting what the process was started with.
    """
    if requested:
        return requested
    cap = capped()
    if cap is not None:
        return cap
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def capped() -> int | None:
    """``$LABELER_THREADS`` when set (an engine or a person capped the threads), else None."""
    value = os.environ.get(ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


_MALLOC_TUNED: list[bool] = []


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for reuse (Linux only; process-wide, done once).

    By default glibc hands a freed block over a moving threshold (up to 32 MB) and the top of
    its heap straight back to the OS, and the next allocation of that size comes as fresh pages
    that the kernel zeroes on first touch: for the SAM encoder's tens-of-MB activations that was
    1-2 million page faults per image and up to half its time. A fixed 32 MB mmap threshold and
    a 256 MB trim threshold keep such blocks in the heap (the sam plugin cuts its big attention
    and decoder tensors into chunks under 32 MB for this). The engines call it once a plugin is
    set up, the sam plugin when it builds a session (the GUI's too). Skipped when the person set
    glibc's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``, or
    ``LABELER_MALLOC_DEFAULTS=1``, or the C library is not glibc. Returns whether the settings
    are in force.
    """
    if _MALLOC_TUNED:
        return _MALLOC_TUNED[0]
    ok = False
    if not any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                          "LABELER_MALLOC_DEFAULTS")):
        try:
            if os.confstr("CS_GNU_LIBC_VERSION"):
                import ctypes

                libc = ctypes.CDLL(None)
                m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
                ok = (libc.mallopt(m_mmap_threshold, 32 << 20) == 1
                      and libc.mallopt(m_trim_threshold, 256 << 20) == 1)
        except (AttributeError, OSError, ValueError):  # not glibc
            ok = False
    _MALLOC_TUNED.append(ok)
    return ok
