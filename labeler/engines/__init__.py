"""Engines: where a plugin runs over a run's images.

An engine takes the driver's planned :class:`~labeler.engines.work.Job` objects in order and
yields each one back, in the same order, with the plugin's answer for it (predictions, issues,
or a failure line; None for a job that needed no work). It also runs the per-image part of a
dataset-wide check (:meth:`Engine.map`: embeddings, hashes), whose comparisons stay in the
driver. It never writes: merging and writing stay in :mod:`labeler.pipeline`, the same for
every engine.

- :class:`~labeler.engines.local.LocalEngine`: this process, with reading ahead and writing
  behind the model (the default).
- :class:`~labeler.engines.ray_engine.RayEngine`: an actor pool on a Ray cluster
  (``pip install 'labeler[ray]'``, imported only when asked for).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from labeler.dataset import Dataset
    from labeler.engines.work import CheckResult, Job, Prediction
    from labeler.plugin_api import Autolabeler, BatchTask, Check

#: ``--engine`` choices.
ENGINES = ("local", "ray")


class Engine(Protocol):
    """Runs a plugin over jobs; yields ``(job, answer)`` in the jobs' order."""

    #: Whether the driver writes results in a thread behind the engine (its queue depth; 0: in line).
    write_depth: int

    def autolabel(
        self, dataset: Dataset, plugin: Autolabeler, jobs: Iterable[Job], timeout: float | None
    ) -> Iterator[tuple[Job, Prediction | None]]:
        """Predictions (or a failure line) for every job that needs work."""
        ...

    def check(
        self, dataset: Dataset, plugin: Check, jobs: Iterable[Job], timeout: float | None
    ) -> Iterator[tuple[Job, CheckResult | None]]:
        """A per-image check's issues (or a failure line) for every job that needs work."""
        ...

    def map(self, task: BatchTask, batches: Iterable[list[object]]) -> Iterator[object]:
        """``task``'s answer for each batch, in order (a dataset-wide check's per-image part:
        embeddings, hashes)."""
        ...


def make_engine(
    name: str = "local",
    address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float = 0.0,
    batch_size: int | None = None,
) -> Engine:
    """The engine ``--engine NAME`` asks for (``ray`` raises a clear error when not installed)."""
    if name == "local":
        from labeler.engines.local import LocalEngine

        return LocalEngine(batch_size=batch_size)
    if name == "ray":
        from labeler.engines.ray_engine import RayEngine

        return RayEngine(
            address=address, workers=workers, gpus_per_worker=gpus_per_worker,
            batch_size=batch_size,
        )
    from labeler.errors import UsageError

    raise UsageError(f"unknown engine {name!r} (engines: {', '.join(ENGINES)})")
