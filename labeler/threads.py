"""How a model's process uses the machine (one rule for every plugin): how many CPU threads a
model may use, that the big buffers it frees are kept for reuse (:func:`keep_freed_memory`),
that its OpenMP workers sleep when idle (:func:`sleep_when_idle`), and that the GUI's Qt painting
stays on the thread that paints (:func:`paint_on_one_thread`).

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


#: The OpenMP runtime's wait policy (GNU libgomp, which torch's wheels use, reads it once, when
#: the library loads).
WAIT_POLICY_ENV = "OMP_WAIT_POLICY"


def sleep_when_idle() -> bool:
    """Have the OpenMP worker threads of the models this process loads later sleep between
    parallel regions instead of spinning (``OMP_WAIT_POLICY=PASSIVE``).

    By default libgomp's workers spin for a while after every parallel region, holding a core
    that the process's other threads (the GUI thread and its image decodes; a batch run's
    reader, finisher and writer) or other programs need. When another thread takes a core, a
    two-thread team then waits at every region for its descheduled member (2 cores, one of
    them busy: a two-thread SAM click 0.65-0.79 s instead of 78-102 ms, the encoder up to 3.7 s
    instead of 0.85-1.05 s; bench/README.md, GUI SAM, 2026-12-02). A ``yolo_sam`` run with
    MobileSAM in bf16 took 10.2-10.7 s instead of 14.1-15.0 s beside another program's work,
    and the same time on an idle machine (6.0-7.2 s either way). The GUI and the CLI call this
    before any model loads. Returns whether the policy applies:
    False when ``OMP_WAIT_POLICY`` is set already (the person's choice is kept) or when torch
    is imported already (its OpenMP runtime has read its settings).
    """
    import sys

    if WAIT_POLICY_ENV in os.environ:
        return os.environ[WAIT_POLICY_ENV].strip().upper() == "PASSIVE" and "torch" not in sys.modules
    if "torch" in sys.modules:
        return False
    os.environ[WAIT_POLICY_ENV] = "PASSIVE"
    return True


#: Qt's own switch: set, its raster engine and image scaling never hand work to its GUI thread pool.
QT_POOL_ENV = "QT_NO_GUI_THREADPOOL"
#: ``LABELER_QT_THREADPOOL=1`` keeps Qt's GUI thread pool (Qt's default).
KEEP_QT_POOL_ENV = "LABELER_QT_THREADPOOL"


def paint_on_one_thread() -> bool:
    """Have Qt paint on the thread that paints, without its GUI thread pool
    (``QT_NO_GUI_THREADPOOL=1``, Qt's own switch, read once when the pool is first wanted).

    By default Qt 6's raster engine cuts every fill or blend of 96 or more lines, and every
    smooth image scaling, into parts for a pool of threads and waits for them: on a 2-core
    virtual machine the wake-ups cost more than the work. Repainting the whole window took
    5.7-5.9 ms with the pool and 2.6-2.8 ms without; the toolbar alone 1.8 and 0.3 ms
    (bench/README.md, "The GUI without Qt's thread pool", 2026-12-02). The window's work that
    is heavy (decodes, the frames scaled for the view) already runs on labeler's own threads.
    ``labeler gui`` and :class:`labeler.gui.main_window.MainWindow` call this before Qt paints.
    Returns whether the pool is off: False when ``LABELER_QT_THREADPOOL=1`` asks for Qt's
    default. A ``QT_NO_GUI_THREADPOOL`` set already is left as it is (Qt turns the pool off
    for any value).
    """
    if os.environ.get(KEEP_QT_POOL_ENV, "").strip() == "1":
        return False
    os.environ.setdefault(QT_POOL_ENV, "1")
    return True
