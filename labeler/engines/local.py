"""The local engine: the plugin runs in this process, fed and drained by threads.

Pipelined (the default): a reader thread reads label files and decodes the next batch's
images while the model predicts the current one (a bounded queue, ``read_depth`` images
ahead), and the driver writes results in a thread behind (:func:`labeler.pipeline.run_autolabel`
uses :attr:`LocalEngine.write_depth`), so the model does not wait for the disk. The model itself
runs in the calling thread, where ``--timeout`` limits work. ``pipelined=False`` does all three
in turn in one thread (the benchmark's reference).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from PIL import Image

from labeler.dataset import Dataset
from labeler.engines.streams import read_ahead
from labeler.engines.work import (
    CheckResult,
    Job,
    Prediction,
    answer_batch,
    check_input,
    check_isolated,
    load_sample,
)
from labeler.plugin_api import Autolabeler, BatchTask, Check, Sample, map_in_process


class LocalEngine:
    """Runs the plugin in this process (see the module docstring)."""

    def __init__(self, pipelined: bool = True, batch_size: int | None = None,
                 read_depth: int | None = None, write_depth: int = 64) -> None:
        self.pipelined = pipelined
        self.batch_size = batch_size
        self.read_depth = read_depth
        self.write_depth = write_depth if pipelined else 0
        #: ``time.perf_counter()`` when the last run's plugin was set up (model loaded).
        self.ready_at: float | None = None

    def batch_size_for(self, plugin: Autolabeler) -> int:
        """The batch size: ``--batch-size`` when given, else the plugin's."""
        return max(1, self.batch_size or plugin.effective_batch_size())

    def autolabel(
        self, dataset: Dataset, plugin: Autolabeler, jobs: Iterable[Job], timeout: float | None
    ) -> Iterator[tuple[Job, Prediction | None]]:
        """Predictions per job, in order; batches of ``batch_size`` jobs that need work."""
        plugin.setup()
        self.ready_at = time.perf_counter()
        size = self.batch_size_for(plugin)
        loaded: Iterable[tuple[Job, Sample | str | None]] = (
            (job, load_sample(dataset, job) if job.needs_work else None) for job in jobs
        )
        if self.pipelined:
            loaded = read_ahead(loaded, self.read_depth or 2 * size)
        pending: list[tuple[Job, Sample | str | None]] = []
        work = 0
        for job, sample in loaded:
            pending.append((job, sample))
            work += job.needs_work
            if work >= size:
                yield from _answered(plugin, pending, timeout)
                pending, work = [], 0
        yield from _answered(plugin, pending, timeout)

    def check(
        self, dataset: Dataset, plugin: Check, jobs: Iterable[Job], timeout: float | None
    ) -> Iterator[tuple[Job, CheckResult | None]]:
        """Issues per job, in order; the next images are decoded ahead when pipelined."""
        plugin.setup()
        self.ready_at = time.perf_counter()
        stream: Iterable[tuple[Job, Image.Image | str | None]] = (
            (job, check_input(plugin, job)) for job in jobs
        )
        if self.pipelined:
            stream = read_ahead(stream, self.read_depth or 8)
        for job, image in stream:
            yield job, check_isolated(dataset, plugin, job, image, timeout)

    def map(self, task: BatchTask, batches: Iterable[list[object]]) -> Iterator[object]:
        """``task`` over ``batches`` in this process (the task's model loads once)."""
        return map_in_process(task, batches)


def _answered(
    plugin: Autolabeler, pending: list[tuple[Job, Sample | str | None]], timeout: float | None
) -> Iterator[tuple[Job, Prediction | None]]:
    answers = answer_batch(plugin, [s for _, s in pending], timeout)
    yield from zip((job for job, _ in pending), answers, strict=True)
