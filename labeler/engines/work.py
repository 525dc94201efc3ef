"""What a worker does with one image or one batch: the same code in every engine.

The driver (:mod:`labeler.pipeline`) plans the run (which images still need the plugin) and
merges and writes the results; an engine (:mod:`labeler.engines.local`,
:mod:`labeler.engines.ray_engine`) moves :class:`Job` objects to where the plugin runs and
calls these functions there: :func:`load_sample` (decode the image, check the stored size), :func:`prepare_sample` (an
autolabeler's :meth:`~labeler.plugin_api.Autolabeler.prepare` of it),
:func:`predict_isolated` (an autolabeler's batch, one failing image failing alone; or its two
steps apart: :func:`infer_isolated` in the model's thread, :func:`finish_isolated` per image
behind it) and
:func:`check_isolated` (a per-image check on one image). Failures come back as one-line
``"<file>: <problem>"`` strings, never raised, so that a run goes on.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from labeler.errors import ImageFileError, LabelerError, LabelFileError
from labeler.io.images import open_image
from labeler.model import Annotation, Issue
from labeler.plugin_api import Autolabeler, Check, Sample
from labeler.predictions import Predictions, validate_predictions
from labeler.threads import keep_freed_memory
from labeler.timeouts import time_limit

if TYPE_CHECKING:
    from PIL import Image

    from labeler.dataset import Dataset, Item

#: An autolabeler's answer for one image: its predictions, or a failure line.
Prediction = Union[Predictions, str]  # noqa: UP007 - a runtime alias on Python 3.10
#: A check's answer for one image: its issues, or a failure line.
CheckResult = Union[list[Issue], str]  # noqa: UP007


def settle_loaded_model() -> None:
    """What a process does once its plugin's ``setup()`` has loaded the model: freed buffers
    kept for reuse (:func:`labeler.threads.keep_freed_memory`), and everything that exists now
    (the models and imports: about 370,000 tracked objects for ``yolo_sam``) moved to the cycle
    collector's permanent generation (:func:`gc.freeze`), so that the collections each image's
    many new objects trigger (a traced mask's polygon is thousands of point tuples) no longer
    walk them all. Measured on ``yolo_sam`` with MobileSAM: 3.1 s of 19 s spent collecting
    before, 0.9 s after. Reference counting frees objects as before; only cycles among the
    frozen ones wait. A Ray actor calls this once for its life."""
    keep_freed_memory()
    gc.freeze()


@contextmanager
def models_frozen() -> Iterator[None]:
    """:func:`settle_loaded_model` for one local run, undone (:func:`gc.unfreeze`) on leaving.
    A second run overlapping in the same process (the GUI) may unfreeze early: that costs
    speed, nothing else."""
    settle_loaded_model()
    try:
        yield
    finally:
        gc.unfreeze()


@dataclass
class Job:
    """One image of a run, as the driver planned it.

    ``annotation`` is the label file as the driver read it (None: no file yet) and ``before``
    its serialised text. A job that is ``done`` (already processed with the same settings) or
    has a ``failure`` (its label file could not be read) is passed through an engine untouched,
    in its place.
    """

    item: Item
    annotation: Annotation | None = None
    before: str | None = None
    done: bool = False
    failure: str | None = None

    @property
    def needs_work(self) -> bool:
        """Whether the plugin has to see this image."""
        return not self.done and self.failure is None


def failure_text(err: BaseException, item: Item) -> str:
    """The failure line of an image that could not be read."""
    return str(err) if isinstance(err, LabelerError) else f"{item.rel}: {err}"


def load_sample(dataset: Dataset, job: Job, with_image: bool = True) -> Sample | str:
    """The sample a plugin sees for ``job``: the decoded image (EXIF applied) and the
    annotation (a new one when the image has no label file), or a failure line when the image
    is bad or its label file's stored size disagrees with it."""
    item = job.item
    try:
        image = open_image(item.image_path) if with_image else None
        if job.annotation is None:
            ann = dataset.new_annotation(item)
        else:
            dataset.check_size(item, job.annotation)
            ann = job.annotation
    except (LabelFileError, ImageFileError, OSError) as err:
        return failure_text(err, item)
    return Sample(item=item, annotation=ann, image=image)  # type: ignore[arg-type]


def prepare_sample(
    plugin: Autolabeler, loaded: Sample | str | None, timeout: float | None = None
) -> Sample | str | None:
    """``plugin.prepare`` on a decoded sample (``loaded`` from :func:`load_sample`), stored as
    its ``prepared``; the failure line of an image whose preparation raises. Load failures
    and passed-through jobs (None) are returned as they are, and so is every sample of a
    plugin whose ``predict`` is not split (:meth:`Autolabeler.stages_apart`).

    ``timeout``: seconds for the one image (a watchdog outside the main thread)."""
    if not isinstance(loaded, Sample) or not plugin.stages_apart():
        return loaded
    try:
        with time_limit(timeout):
            loaded.prepared = plugin.prepare(loaded)
    except (KeyboardInterrupt, LabelerError):
        raise
    except Exception as err:  # noqa: BLE001 - plugin code may raise anything
        return _failed(plugin, loaded, err, "preparing the image")
    return loaded


def predict_isolated(
    plugin: Autolabeler, batch: Sequence[Sample], timeout: float | None = None
) -> list[Prediction]:
    """Predict a batch; if it fails, retry image by image so one bad image fails alone.

    Each answer is validated (:func:`validate_predictions`). ``timeout``: seconds per image
    (the batch gets that times its size). For a plugin whose ``predict`` is split, the model
    step (:func:`infer_isolated`) then :func:`finish_isolated` per image, in line.
    """
    if plugin.stages_apart():
        raw = infer_isolated(plugin, batch, timeout)
        for sample in batch:
            sample.prepared = None  # used up, as in a pipelined run (finish must not need it)
        return [r if isinstance(r, str) else finish_isolated(plugin, s, r.value, timeout)
                for s, r in zip(batch, raw, strict=True)]
    return _isolated(plugin, plugin.predict, batch, timeout, validate=True)


@dataclass
class Raw:
    """One image's answer from :meth:`Autolabeler.infer`, waiting for its ``finish``."""

    value: Any


def infer_isolated(
    plugin: Autolabeler, batch: Sequence[Sample], timeout: float | None = None
) -> list[Raw | str]:
    """The model step (:meth:`Autolabeler.infer`) of a batch, one failing image failing
    alone (the batch is retried image by image); per image its :class:`Raw` answer or a
    failure line. ``timeout``: seconds per image, the batch gets that times its size."""
    raw = _isolated(plugin, plugin.infer, batch, timeout, validate=False)
    return [r if isinstance(r, str) else Raw(r) for r in raw]


def finish_isolated(
    plugin: Autolabeler, sample: Sample, raw: Any, timeout: float | None = None
) -> Prediction:
    """:meth:`Autolabeler.finish` of one image's raw answer, validated: its predictions, or a
    failure line when finishing raises, runs past ``timeout`` seconds (a watchdog outside the
    main thread) or gives bad predictions."""
    try:
        with time_limit(timeout):
            preds = plugin.finish(sample, raw)
    except (KeyboardInterrupt, LabelerError):
        raise
    except Exception as err:  # noqa: BLE001 - plugin code may raise anything
        return _failed(plugin, sample, err, "finishing its predictions")
    return _validated(plugin, [sample], [preds])[0]


def _failed(plugin: Autolabeler, sample: Sample, err: BaseException, step: str = "") -> str:
    during = f" {step}" if step else ""
    return f"{sample.item.image_path}: {plugin.name} failed{during}: {type(err).__name__}: {err}"


def _isolated(
    plugin: Autolabeler, call: Callable[[list[Sample]], Sequence[Any]], batch: Sequence[Sample],
    timeout: float | None, validate: bool,
) -> list[Any]:
    """``call(batch)`` (predict or infer) under the batch's time limit; on failure again image
    by image, so that the image that fails alone is the one answered by a failure line."""
    if not batch:
        return []
    try:
        with time_limit(timeout * len(batch) if timeout else None):
            out = list(call(list(batch)))
        if len(out) != len(batch):
            raise RuntimeError(f"plugin returned {len(out)} results for {len(batch)} images")
        return _validated(plugin, batch, out) if validate else out
    except (KeyboardInterrupt, LabelerError):
        raise
    except Exception as err:  # noqa: BLE001 - plugin code may raise anything
        if len(batch) == 1:
            return [_failed(plugin, batch[0], err)]
    results: list[Any] = []
    for sample in batch:
        results.extend(_isolated(plugin, call, [sample], timeout, validate))
    return results


def _validated(
    plugin: Autolabeler, batch: Sequence[Sample], out: Sequence[Predictions]
) -> list[Prediction]:
    """Each image's predictions checked; a bad one fails alone."""
    known = plugin.known_classes()
    results: list[Prediction] = []
    for sample, preds in zip(batch, out, strict=True):
        try:
            results.append(validate_predictions(preds, sample.image.size, known))
        except ValueError as err:
            results.append(
                f"{sample.item.image_path}: {plugin.name} returned bad predictions: {err}"
            )
    return results


def predict_jobs(
    dataset: Dataset, plugin: Autolabeler, jobs: Sequence[Job], timeout: float | None = None
) -> list[Prediction | None]:
    """One batch of jobs end to end, as a worker runs it: load each image, predict those that
    loaded (one batch), and answer per job in order (None for a job that needs no work)."""
    loaded = [prepare_sample(plugin, load_sample(dataset, job), timeout) if job.needs_work else None
              for job in jobs]
    return answer_batch(plugin, loaded, timeout)


def answer_batch(
    plugin: Autolabeler, loaded: Sequence[Sample | str | None], timeout: float | None = None
) -> list[Prediction | None]:
    """Predict the samples among ``loaded`` as one batch; load failures and passed-through
    jobs (None) keep their place."""
    samples = [s for s in loaded if isinstance(s, Sample)]
    answers = iter(predict_isolated(plugin, samples, timeout))
    return [next(answers) if isinstance(s, Sample) else s for s in loaded]


def check_input(plugin: Check, job: Job) -> Image.Image | str | None:
    """The decoded image a per-image check needs for ``job`` (None when it needs none), or
    the failure line of a bad image. Read ahead of :func:`check_isolated` by the engines."""
    if not job.needs_work or not plugin.needs_image:
        return None
    try:
        return open_image(job.item.image_path)
    except ImageFileError as err:
        return str(err)


def check_isolated(
    dataset: Dataset, plugin: Check, job: Job, image: Image.Image | str | None,
    timeout: float | None = None,
) -> CheckResult | None:
    """A per-image check on one job (``image`` from :func:`check_input`): its issues, or a
    failure line (None: the job needed no work)."""
    if not job.needs_work:
        return None
    if isinstance(image, str):
        return image
    item = job.item
    try:
        ann = job.annotation if job.annotation is not None else dataset.new_annotation(item)
        sample = Sample(item=item, annotation=ann, image=image)  # type: ignore[arg-type]
        with time_limit(timeout):
            found = list(plugin.check_sample(sample))
        for issue in found:
            if not isinstance(issue, Issue):
                raise TypeError(f"check_sample returned {type(issue).__name__}, not an Issue")
        return found
    except ImageFileError as err:
        return str(err)
    except (KeyboardInterrupt, LabelerError):
        raise
    except Exception as err:  # noqa: BLE001 - plugin code may raise anything
        return f"{item.image_path}: {plugin.name} failed: {type(err).__name__}: {err}"
