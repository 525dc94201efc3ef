"""The Ray engine: an actor pool on a Ray cluster runs the plugin; this process merges and writes.

Each actor builds the plugin once (``setup()``: one model load per actor, on its GPUs when
``gpus_per_worker`` > 0) and answers batches of :class:`~labeler.engines.work.Job` objects: it
reads and decodes the images itself (the dataset must be on storage every node sees, at the
same path), predicts or checks, and sends back predictions, issues or failure lines. The driver
(:mod:`labeler.pipeline`) keeps at most two batches in flight per actor, takes the answers back
in the jobs' order, and merges and writes them with the same rules and the same safe writes as
a local run.

A batch whose actor dies (killed, out of memory, a crash in native code) goes to another actor,
and a new actor replaces the dead one; a batch that has killed :data:`MAX_ATTEMPTS` actors fails
its images, and the run goes on. Ctrl+C stops dispatching, kills the actors and returns with
everything answered so far written.

``ray`` is imported only here, only when this engine is asked for (``pip install 'labeler[ray]'``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from labeler.dataset import Dataset
from labeler.engines.work import (
    CheckResult,
    Job,
    Prediction,
    check_input,
    check_isolated,
    predict_jobs,
)
from labeler.errors import LabelerError, MissingDependencyError
from labeler.plugin_api import Autolabeler, Check, Plugin

#: Actors a batch may kill before its images fail.
MAX_ATTEMPTS = 3
#: Batches in flight per actor: one being worked on, one waiting (hides the round trip).
IN_FLIGHT_PER_WORKER = 2
#: Batch size of per-image checks when neither --batch-size nor the plugin says.
CHECK_BATCH = 8


def import_ray() -> Any:
    """The ``ray`` module, or a clear error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "--engine ray needs ray, which is not installed: pip install 'labeler[ray]'"
        ) from None
    return ray


class _Worker:
    """One actor: the plugin built once, answering batches of jobs."""

    def __init__(self, plugin_cls: type[Plugin], options: Any, root: str, labels: str | None,
                 timeout: float | None) -> None:
        self.dataset = Dataset(root, labels=labels)
        self.plugin = plugin_cls(options)
        self.timeout = timeout
        self.set_up = False

    def ready(self) -> int:
        """Set the plugin up (load the model); the worker's process id.

        Not in ``__init__``: an error here (a missing dependency, weights that do not load)
        comes back to the driver as itself, not as a dead actor.
        """
        if not self.set_up:
            self.plugin.setup()  # type: ignore[attr-defined]
            self.set_up = True
        return os.getpid()

    def autolabel(self, jobs: list[Job]) -> list[Prediction | None]:
        """An autolabeler's answers for one batch, in order."""
        self.ready()
        assert isinstance(self.plugin, Autolabeler)
        return predict_jobs(self.dataset, self.plugin, jobs, self.timeout)

    def check(self, jobs: list[Job]) -> list[CheckResult | None]:
        """A per-image check's answers for one batch, in order."""
        self.ready()
        assert isinstance(self.plugin, Check)
        return [
            check_isolated(self.dataset, self.plugin, job, check_input(self.plugin, job),
                           self.timeout)
            for job in jobs
        ]


@dataclass
class _Batch:
    seq: int
    jobs: list[Job]
    attempts: int = 0
    died_on: list[str] = field(default_factory=list)


class RayEngine:
    """Runs the plugin on a Ray actor pool (see the module docstring).

    ``address``: the cluster (``ray.init(address=...)``; None: ``RAY_ADDRESS`` or a local
    cluster started for this run, or the one this process is already connected to).
    ``workers``: actors (default: as many as the cluster's CPUs, or GPUs with
    ``gpus_per_worker``, allow). ``batch_size``: images per batch sent to an actor (default:
    the plugin's batch size; 8 for checks).
    """

    def __init__(self, address: str | None = None, workers: int | None = None,
                 gpus_per_worker: float = 0.0, cpus_per_worker: float = 1.0,
                 batch_size: int | None = None, write_depth: int = 256) -> None:
        self.address = address
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = cpus_per_worker
        self.batch_size = batch_size
        self.write_depth = write_depth
        #: What the last run did: actors started, actors that died, batches retried.
        self.stats: dict[str, int] = {}

    # -- the two kinds of work ------------------------------------------------------------
    def autolabel(
        self, dataset: Dataset, plugin: Autolabeler, jobs: Iterable[Job], timeout: float | None
    ) -> Iterator[tuple[Job, Prediction | None]]:
        """Predictions per job, in order; batches of jobs that need work go to the actors."""
        size = max(1, self.batch_size or plugin.effective_batch_size())
        return self._run(dataset, plugin, jobs, timeout, "autolabel", size)

    def check(
        self, dataset: Dataset, plugin: Check, jobs: Iterable[Job], timeout: float | None
    ) -> Iterator[tuple[Job, CheckResult | None]]:
        """A per-image check's issues per job, in order."""
        size = max(1, self.batch_size or int(getattr(plugin.options, "batch", 0) or CHECK_BATCH))
        return self._run(dataset, plugin, jobs, timeout, "check", size)

    # -- scheduling -------------------------------------------------------------------------
    def _connect(self) -> Any:
        ray = import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
            if self.address:
                kwargs["address"] = self.address
            ray.init(**kwargs)
        return ray

    def _pool_size(self, ray: Any) -> int:
        if self.workers:
            return self.workers
        resources = ray.cluster_resources()
        if self.gpus_per_worker > 0:
            return max(1, int(resources.get("GPU", 0) // self.gpus_per_worker))
        return max(1, int(resources.get("CPU", 1) // max(self.cpus_per_worker, 1e-9)))

    def _run(self, dataset: Dataset, plugin: Plugin, jobs: Iterable[Job],
             timeout: float | None, method: str, size: int) -> Iterator[tuple[Job, Any]]:
        ray = self._connect()
        remote = ray.remote(
            num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker, max_restarts=0,
        )(_Worker)
        labels = str(dataset.labels_dir) if dataset.labels_dir is not None else None

        def start() -> Any:
            self.stats["started"] = self.stats.get("started", 0) + 1
            return remote.remote(type(plugin), plugin.options, str(dataset.root), labels, timeout)

        self.stats = {"started": 0, "died": 0, "retried": 0}
        actors = [start() for _ in range(self._pool_size(ray))]
        try:
            # Every actor set up (model loaded) before the first image: a missing weight file
            # or dependency is one error now, not one per batch.
            _get(ray, [a.ready.remote() for a in actors])
            yield from self._schedule(ray, actors, start, jobs, method, size)
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)

    def _schedule(self, ray: Any, actors: list[Any], start: Callable[[], Any],
                  jobs: Iterable[Job], method: str, size: int) -> Iterator[tuple[Job, Any]]:
        """Keep every actor busy; yield answers in the jobs' order; retry dead actors' batches."""
        stream = iter(jobs)
        finished: dict[int, list[tuple[Job, Any]]] = {}  # seq -> answers, waiting for their turn
        in_flight: dict[Any, tuple[_Batch, Any]] = {}  # object ref -> (batch, actor)
        load = {id(a): 0 for a in actors}
        retry: list[_Batch] = []
        next_seq = 0  # next batch to yield
        seq = 0  # next batch to create
        exhausted = False

        def next_batch() -> _Batch | None:
            nonlocal seq, exhausted
            batch: list[Job] = []
            work = 0
            while work < size:
                job = next(stream, None)
                if job is None:
                    exhausted = True
                    break
                batch.append(job)
                work += job.needs_work
            if not batch:
                return None
            seq += 1
            return _Batch(seq - 1, batch)

        def submit(batch: _Batch) -> None:
            if not any(j.needs_work for j in batch.jobs):
                finished[batch.seq] = [(j, None) for j in batch.jobs]
                return
            actor = min(actors, key=lambda a: load[id(a)])
            load[id(actor)] += 1
            ref = getattr(actor, method).remote(batch.jobs)
            in_flight[ref] = (batch, actor)

        capacity = IN_FLIGHT_PER_WORKER * len(actors)
        while True:
            while len(in_flight) < capacity and (retry or not exhausted):
                batch = retry.pop(0) if retry else next_batch()
                if batch is None:
                    break
                submit(batch)
            while next_seq in finished:
                yield from finished.pop(next_seq)
                next_seq += 1
            if not in_flight:
                if exhausted and not retry:
                    return
                continue
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            ref = ready[0]
            batch, actor = in_flight.pop(ref)
            if id(actor) in load:  # not when it died with this batch on it (already replaced)
                load[id(actor)] -= 1
            try:
                answers = _get(ray, ref)
            except ray.exceptions.RayActorError as err:
                self._replace(ray, actors, load, actor, start)
                batch.attempts += 1
                batch.died_on.append(type(err).__name__)
                if batch.attempts >= MAX_ATTEMPTS:
                    finished[batch.seq] = [
                        (j, f"{j.item.image_path}: the Ray worker died {batch.attempts} times "
                            f"on its batch") if j.needs_work else (j, None)
                        for j in batch.jobs
                    ]
                else:
                    self.stats["retried"] += 1
                    retry.append(batch)
                continue
            finished[batch.seq] = list(zip(batch.jobs, answers, strict=True))

    def _replace(self, ray: Any, actors: list[Any], load: dict[int, int], dead: Any,
                 start: Callable[[], Any]) -> None:
        """A dead actor's place goes to a new one (its in-flight batches fail over too)."""
        if dead not in actors:
            return
        self.stats["died"] += 1
        actors.remove(dead)
        load.pop(id(dead), None)
        ray.kill(dead, no_restart=True)
        fresh = start()
        actors.append(fresh)
        load[id(fresh)] = 0


def _get(ray: Any, refs: Any) -> Any:
    """``ray.get``, raising a plugin's :class:`LabelerError` (missing weights...) as itself."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, LabelerError):
            raise cause from None
        raise

