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

:meth:`RayEngine.map` runs a dataset-wide check's per-image part (``clip_outliers``' embeddings,
``duplicates``' hashes) on the same kind of pool: the task is pickled to each actor, set up once
there (one model load per actor), and each batch's answer comes back in order; the check's
comparisons and the embedding cache stay in the driver.

``ray`` is imported only here, only when this engine is asked for (``pip install 'labeler[ray]'``).
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
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
    settle_loaded_model,
)
from labeler.errors import LabelerError, MissingDependencyError
from labeler.plugin_api import Autolabeler, BatchTask, Check, Plugin

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


def _share_cpus(threads: int) -> None:
    """Cap this worker's model threads at its CPUs (before any model loads): without it, torch
    (the sam plugin) and onnxruntime take every core of the node in each worker."""
    from labeler.threads import ENV

    os.environ[ENV] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


class _Worker:
    """One actor: the plugin built once, answering batches of jobs."""

    def __init__(self, plugin_cls: type[Plugin], options: Any, root: str, labels: str | None,
                 timeout: float | None, threads: int = 1) -> None:
        _share_cpus(threads)
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
            settle_loaded_model()  # the model stays for the actor's life
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


class _TaskWorker:
    """One actor of :meth:`RayEngine.map`: a dataset-wide check's task, set up once."""

    def __init__(self, task: BatchTask, threads: int = 1) -> None:
        _share_cpus(threads)
        self.task = task
        self.set_up = False

    def ready(self) -> int:
        """Set the task up (load its model); the worker's process id."""
        if not self.set_up:
            self.task.setup()
            settle_loaded_model()
            self.set_up = True
        return os.getpid()

    def run(self, batch: list[Any]) -> Any:
        """The task's answer for one batch."""
        self.ready()
        return self.task(batch)


@dataclass
class _Batch:
    seq: int
    items: list[Any]
    work: bool = True  # False: nothing in it for a worker (passed through in its place)
    attempts: int = 0
    died_on: list[str] = field(default_factory=list)


def _job_batches(jobs: Iterable[Job], size: int) -> Iterator[_Batch]:
    """Jobs in batches of ``size`` that need work (read lazily: the driver plans as it goes)."""
    batch: list[Job] = []
    work = seq = 0
    for job in jobs:
        batch.append(job)
        work += job.needs_work
        if work >= size:
            yield _Batch(seq, batch, work=True)
            batch, work, seq = [], 0, seq + 1
    if batch:
        yield _Batch(seq, batch, work=work > 0)


def _jobs_lost(batch: _Batch) -> list[Any]:
    return [f"{j.item.image_path}: the Ray worker died {batch.attempts} times on its batch"
            if j.needs_work else None for j in batch.items]


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
        #: ``time.perf_counter()`` when the last run's actors were all set up (models loaded).
        self.ready_at: float | None = None

    # -- the kinds of work ------------------------------------------------------------------
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

    def map(self, task: BatchTask, batches: Iterable[list[Any]]) -> Iterator[Any]:
        """``task``'s answer for each batch, in order, computed on the actors (each unpickles
        the task and sets it up once). A batch that kills :data:`MAX_ATTEMPTS` actors is
        answered by ``task.lost``."""
        numbered = (_Batch(seq, list(b)) for seq, b in enumerate(batches))
        first = next(numbered, None)
        if first is None:  # nothing to compute (all cached): no actors, no model loads
            self.stats = {"started": 0, "died": 0, "retried": 0}
            return
        numbered = itertools.chain([first], numbered)

        def lost(batch: _Batch) -> Any:
            return task.lost(batch.items, f"the Ray worker died {batch.attempts} times on its batch")

        for _batch, answer in self._pool(_TaskWorker, (task, self._threads()), numbered, "run",
                                         lost):
            yield answer

    # -- scheduling -------------------------------------------------------------------------
    def _threads(self) -> int:
        """Model threads per worker: its CPUs (at least one)."""
        return max(1, math.floor(self.cpus_per_worker))

    def _connect(self) -> Any:
        ray = import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
            if self.address:
                kwargs["address"] = self.address
            ray.init(**kwargs)
        return ray

    def _pool_size(self, ray: Any) -> int:
        """``--workers``, or as many as the cluster holds; refused when it cannot hold them
        (their actors would wait for resources forever)."""
        resources = ray.cluster_resources()
        gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
        if self.workers:
            workers = self.workers
        elif self.gpus_per_worker > 0:
            workers = int(gpus // self.gpus_per_worker)
        else:
            workers = int(cpus // max(self.cpus_per_worker, 1e-9))
        need_gpus, need_cpus = workers * self.gpus_per_worker, workers * self.cpus_per_worker
        if workers < 1 or need_gpus > gpus or need_cpus > cpus:
            from labeler.errors import UsageError

            raise UsageError(
                f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs; {max(workers, 1)} "
                f"worker(s) with {self.cpus_per_worker:g} CPU and {self.gpus_per_worker:g} GPU "
                "each do not fit (fewer --workers, another --gpus-per-worker, or more nodes)"
            )
        return workers

    def _run(self, dataset: Dataset, plugin: Plugin, jobs: Iterable[Job],
             timeout: float | None, method: str, size: int) -> Iterator[tuple[Job, Any]]:
        labels = str(dataset.labels_dir) if dataset.labels_dir is not None else None
        args = (type(plugin), plugin.options, str(dataset.root), labels, timeout, self._threads())
        for batch, answers in self._pool(_Worker, args, _job_batches(jobs, size), method,
                                         _jobs_lost):
            yield from zip(batch.items, answers or [None] * len(batch.items), strict=True)

    def _pool(self, actor_cls: type, args: tuple[Any, ...], batches: Iterator[_Batch],
              method: str, lost: Callable[[_Batch], Any]) -> Iterator[tuple[_Batch, Any]]:
        """Start the actors (``actor_cls(*args)``, all set up), run ``batches`` on them, kill
        them at the end (or on Ctrl+C); ``(batch, answer)`` in the batches' order."""
        ray = self._connect()
        remote = ray.remote(
            num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker, max_restarts=0,
        )(actor_cls)

        def start() -> Any:
            self.stats["started"] = self.stats.get("started", 0) + 1
            return remote.remote(*args)

        self.stats = {"started": 0, "died": 0, "retried": 0}
        actors = [start() for _ in range(self._pool_size(ray))]
        try:
            # Every actor set up (model loaded) before the first image: a missing weight file
            # or dependency is one error now, not one per batch.
            _get(ray, [a.ready.remote() for a in actors])
            self.ready_at = time.perf_counter()
            yield from self._schedule(ray, actors, start, batches, method, lost)
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)

    def _schedule(self, ray: Any, actors: list[Any], start: Callable[[], Any],
                  batches: Iterator[_Batch], method: str,
                  lost: Callable[[_Batch], Any]) -> Iterator[tuple[_Batch, Any]]:
        """Keep every actor busy; yield answers in the batches' order; retry dead actors'
        batches (``lost(batch)`` answers one that killed :data:`MAX_ATTEMPTS`)."""
        finished: dict[int, tuple[_Batch, Any]] = {}  # seq -> answer, waiting for its turn
        in_flight: dict[Any, tuple[_Batch, Any]] = {}  # object ref -> (batch, actor)
        load = {id(a): 0 for a in actors}
        retry: list[_Batch] = []
        next_seq = 0  # next batch to yield
        exhausted = False

        def submit(batch: _Batch) -> None:
            if not batch.work:
                finished[batch.seq] = (batch, None)
                return
            actor = min(actors, key=lambda a: load[id(a)])
            load[id(actor)] += 1
            ref = getattr(actor, method).remote(batch.items)
            in_flight[ref] = (batch, actor)

        capacity = IN_FLIGHT_PER_WORKER * len(actors)
        while True:
            while len(in_flight) < capacity and (retry or not exhausted):
                batch = retry.pop(0) if retry else next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                submit(batch)
            while next_seq in finished:
                yield finished.pop(next_seq)
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
                answer = _get(ray, ref)
            except ray.exceptions.RayActorError as err:
                self._replace(ray, actors, load, actor, start)
                batch.attempts += 1
                batch.died_on.append(type(err).__name__)
                if batch.attempts >= MAX_ATTEMPTS:
                    finished[batch.seq] = (batch, lost(batch))
                else:
                    self.stats["retried"] += 1
                    retry.append(batch)
                continue
            finished[batch.seq] = (batch, answer)

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

