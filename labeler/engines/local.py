"""The local engine: the plugin runs in this process, fed and drained by threads.

Pipelined (the default): a reader thread reads label files and decodes the next batch's
images while the model predicts the current one (a bounded queue, ``read_depth`` images
ahead), and the driver writes results in a thread behind (:func:`labeler.pipeline.run_autolabel`
uses :attr:`LocalEngine.write_depth`), so the model does not wait for the disk. The model itself
runs in the calling thread, where ``--timeout`` limits work. ``pipelined=False`` does all three
in turn in one thread (the benchmark's reference).

An autolabeler that splits its ``predict`` (:meth:`~labeler.plugin_api.Autolabeler.stages_apart`)
gets its :meth:`~labeler.plugin_api.Autolabeler.prepare` called in the reader thread, right
after each image is decoded, and its :meth:`~labeler.plugin_api.Autolabeler.finish` in a
finisher thread between the model and the writer (:class:`~labeler.engines.streams.InOrderBehind`,
``finish_depth`` images, order kept): the model's thread runs only
:meth:`~labeler.plugin_api.Autolabeler.infer`. Unpipelined, the same three steps run in turn,
so both give the same answers.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator

from PIL import Image

from labeler.dataset import Dataset
from labeler.engines.streams import InOrderBehind, read_ahead
from labeler.engines.work import (
    CheckResult,
    Job,
    Prediction,
    Raw,
    answer_batch,
    check_input,
    check_isolated,
    finish_isolated,
    infer_isolated,
    load_sample,
    models_frozen,
    prepare_sample,
)
from labeler.plugin_api import Autolabeler, BatchTask, Check, Sample, map_in_process


class LocalEngine:
    """Runs the plugin in this process (see the module docstring)."""

    def __init__(self, pipelined: bool = True, batch_size: int | None = None,
                 read_depth: int | None = None, write_depth: int = 64,
                 finish_depth: int | None = None) -> None:
        self.pipelined = pipelined
        self.batch_size = batch_size
        self.read_depth = read_depth
        self.write_depth = write_depth if pipelined else 0
        #: Images waiting between the model and the finisher thread (default: one batch).
        self.finish_depth = finish_depth
        #: ``time.perf_counter()`` when the last run's plugin was set up (model loaded).
        self.ready_at: float | None = None
        #: CPU seconds the model's thread spent in the plugin in the last run (``thread_time``
        #: around each batch: ``predict``, or ``infer`` when the plugin splits it).
        self.model_cpu_s = 0.0

    def batch_size_for(self, plugin: Autolabeler) -> int:
        """The batch size: ``--batch-size`` when given, else the plugin's."""
        return max(1, self.batch_size or plugin.effective_batch_size())

    def autolabel(
        self, dataset: Dataset, plugin: Autolabeler, jobs: Iterable[Job], timeout: float | None
    ) -> Iterator[tuple[Job, Prediction | None]]:
        """Predictions per job, in order; batches of ``batch_size`` jobs that need work. The
        plugin is set up (its models loaded) at the first job that needs work: a rerun with
        every image done loads nothing."""
        jobs = iter(jobs)
        for job in jobs:
            if not job.needs_work:
                yield job, None
                continue
            plugin.setup()
            with models_frozen():
                yield from self._autolabel(dataset, plugin, itertools.chain([job], jobs), timeout)
            return

    def _autolabel(
        self, dataset: Dataset, plugin: Autolabeler, jobs: Iterable[Job], timeout: float | None
    ) -> Iterator[tuple[Job, Prediction | None]]:
        self.ready_at = time.perf_counter()
        self.model_cpu_s = 0.0
        size = self.batch_size_for(plugin)
        loaded: Iterable[tuple[Job, Sample | str | None]] = (
            (job, prepare_sample(plugin, load_sample(dataset, job), timeout)
             if job.needs_work else None)
            for job in jobs
        )
        if self.pipelined:
            loaded = read_ahead(loaded, self.read_depth or 2 * size)
        if self.pipelined and plugin.stages_apart():
            yield from self._finished_behind(plugin, _batches(loaded, size), timeout, size)
            return
        for pending in _batches(loaded, size):
            cpu = time.thread_time()
            answers = answer_batch(plugin, [s for _, s in pending], timeout)
            self.model_cpu_s += time.thread_time() - cpu
            yield from zip((job for job, _ in pending), answers, strict=True)

    def _finished_behind(
        self, plugin: Autolabeler, batches: Iterable[list[tuple[Job, Sample | str | None]]],
        timeout: float | None, size: int,
    ) -> Iterator[tuple[Job, Prediction | None]]:
        """The model step here, each image's ``finish`` in the finisher thread; answers in
        order. On Ctrl+C what the model already answered is finished and yielded first."""
        behind: InOrderBehind[Job, Prediction | None] = InOrderBehind(self.finish_depth or size)
        with behind:
            try:
                for pending in batches:
                    samples = [s for _, s in pending if isinstance(s, Sample)]
                    cpu = time.thread_time()
                    raw = iter(infer_isolated(plugin, samples, timeout))
                    self.model_cpu_s += time.thread_time() - cpu
                    for job, sample in pending:
                        if not isinstance(sample, Sample):  # a load failure, or no work
                            yield from behind.put(job, value=sample)
                            continue
                        answer = next(raw)
                        sample.prepared = None  # used up: not held while it waits
                        if isinstance(answer, Raw):
                            yield from behind.put(job, _finishing(plugin, sample, answer, timeout))
                        else:  # the model step failed for this image
                            yield from behind.put(job, value=answer)
            except KeyboardInterrupt:
                yield from behind.rest()
                raise
            yield from behind.rest()

    def check(
        self, dataset: Dataset, plugin: Check, jobs: Iterable[Job], timeout: float | None
    ) -> Iterator[tuple[Job, CheckResult | None]]:
        """Issues per job, in order; the next images are decoded ahead when pipelined."""
        plugin.setup()
        with models_frozen():
            yield from self._check(dataset, plugin, jobs, timeout)

    def _check(
        self, dataset: Dataset, plugin: Check, jobs: Iterable[Job], timeout: float | None
    ) -> Iterator[tuple[Job, CheckResult | None]]:
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


def _batches(
    loaded: Iterable[tuple[Job, Sample | str | None]], size: int
) -> Iterator[list[tuple[Job, Sample | str | None]]]:
    """Jobs in lists holding ``size`` that need work (passed-through jobs ride along)."""
    pending: list[tuple[Job, Sample | str | None]] = []
    work = 0
    for job, sample in loaded:
        pending.append((job, sample))
        work += job.needs_work
        if work >= size:
            yield pending
            pending, work = [], 0
    if pending:
        yield pending


def _finishing(
    plugin: Autolabeler, sample: Sample, raw: Raw, timeout: float | None
) -> Callable[[], Prediction]:
    """The finisher thread's work for one image."""
    return lambda: finish_isolated(plugin, sample, raw.value, timeout)
