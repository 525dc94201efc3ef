"""How many CPU threads a model may use in this process (one rule for every plugin).

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


#: The OpenMP runtime's wait policy (GNU libgomp, which torch's wheels use, reads it once, when
#: the library loads).
WAIT_POLICY_ENV = "OMP_WAIT_POLICY"


def sleep_when_idle() -> bool:
    """Have the OpenMP worker threads of the models this process loads later sleep between
    parallel regions instead of spinning (``OMP_WAIT_POLICY=PASSIVE``).

    By default libgomp's workers spin for a while after every parallel region. A batch run
    loses little to that, but an interactive process does: there the model shares the cores
    with the GUI thread and its image decodes, and a spinning worker holds a core they need.
    When another thread takes a core, a two-thread team then waits at every region for its
    descheduled member (2 cores, one of them busy: a two-thread SAM click 0.65-0.79 s instead
    of 78-102 ms, the encoder up to 3.7 s instead of 0.85-1.05 s; bench/README.md, GUI SAM,
    2026-12-02). The GUI calls this before any model loads. Returns whether the policy applies:
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
