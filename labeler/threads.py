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
