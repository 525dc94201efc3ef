"""Base classes for what plugins provide: autolabelers, checks, fixers, importers, exporters.

A plugin subclasses one of these, sets ``name`` (and ``format`` for importers and exporters),
declares its options as a pydantic model in ``Options`` (the CLI builds ``--help`` from it and
the GUI builds a form), lists the modules it needs in ``requires`` with the pip extra that
installs them, and imports heavy libraries only inside its methods.

Plugins return results; only :mod:`labeler.pipeline` writes label files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from labeler.errors import MissingDependencyError
from labeler.interchange import ExportItem, ImportedImage, Report  # noqa: F401 - plugins import them here
from labeler.model import Annotation, Issue, Source

if TYPE_CHECKING:
    from PIL import Image

    from labeler.dataset import Dataset, Item
    from labeler.predictions import Predictions


class NoOptions(BaseModel):
    """A plugin without options."""

    model_config = ConfigDict(extra="forbid")


#: Progress callback: ``progress(done, total)``.
Progress = Callable[[int, int], None]


def _noop_progress(done: int, total: int) -> None:
    return None


class Plugin:
    """What every plugin class has in common."""

    #: Unique name within its kind (``labeler autolabel --plugin NAME``).
    name: ClassVar[str] = ""
    #: One line shown in ``labeler plugins`` and ``--help``.
    description: ClassVar[str] = ""
    #: The options model; instances are validated from CLI flags, GUI forms or Python.
    Options: ClassVar[type[BaseModel]] = NoOptions
    #: Importable module names this plugin needs beyond labeler's core.
    requires: ClassVar[tuple[str, ...]] = ()
    #: The pip extra of labeler that installs ``requires`` (``pip install 'labeler[EXTRA]'``).
    extra: ClassVar[str | None] = None
    #: For third-party plugins: the pip requirement that installs ``requires`` (wins over extra).
    install: ClassVar[str | None] = None

    def __init__(self, options: BaseModel | dict[str, Any] | None = None) -> None:
        if options is None:
            options = self.Options()
        elif isinstance(options, dict):
            options = self.Options.model_validate(options)
        self.options = options

    @classmethod
    def missing_requirements(cls) -> list[str]:
        """Modules in ``requires`` that cannot be imported (checked without importing)."""
        missing = []
        for mod in cls.requires:
            try:
                found = importlib.util.find_spec(mod) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                missing.append(mod)
        return missing

    @classmethod
    def ensure_requirements(cls) -> None:
        """Raise :class:`MissingDependencyError` with the pip command when something is missing."""
        missing = cls.missing_requirements()
        if missing:
            raise MissingDependencyError(
                f"plugin {cls.name!r} needs {', '.join(missing)}, which is not installed: "
                f"{cls.install_command()}"
            )

    @classmethod
    def install_command(cls) -> str:
        """The pip command that installs what this plugin needs."""
        if cls.install:
            return f"pip install '{cls.install}'"
        if cls.extra:
            return f"pip install 'labeler[{cls.extra}]'"
        return "pip install " + " ".join(cls.missing_requirements() or cls.requires)

    def source(self) -> Source:
        """The provenance stamped on what this plugin produces."""
        return Source(plugin=self.name)

    def config_key(self) -> str:
        """A short hash of the options and model identity: what makes a result reusable."""
        payload = json.dumps(
            {"options": self.options.model_dump(mode="json"), "source": self.source().model_dump()},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass
class Sample:
    """One image handed to an autolabeler or per-image check."""

    item: Item
    annotation: Annotation
    image: Image.Image  # RGB, EXIF-corrected: the annotation's coordinate frame
    #: Predictions of the previous stage of a chain (e.g. YOLO boxes for SAM), else None.
    prompts: Predictions | None = None
    #: What the autolabeler's :meth:`Autolabeler.prepare` made of this image (the engine sets
    #: it right after decoding), else None.
    prepared: Any = None


class Autolabeler(Plugin):
    """A model that suggests shapes (or image labels) for images, in batches."""

    #: How many images :meth:`predict` receives at once (an option may override it).
    batch_size: ClassVar[int] = 1
    #: How to turn predictions into shapes: "auto", "rectangle", "polygon" or "mask".
    shape_output: ClassVar[str] = "auto"

    #: Options of ``labeler train`` when this autolabeler can be trained, else None.
    TrainOptions: ClassVar[type[BaseModel] | None] = None

    def setup(self) -> None:
        """Load the model. Called once before the first batch; raise clear errors here."""

    def train(self, dataset: Dataset, options: BaseModel, progress: Progress) -> dict[str, Any]:
        """Train on the dataset's reviewed labels; return metrics and ``"weights"`` (a path)."""
        raise NotImplementedError(f"{self.name} cannot be trained")

    def predict(self, batch: Sequence[Sample]) -> list[Predictions]:
        """Return one :class:`~labeler.predictions.Predictions` per sample, in order.

        A plugin either implements this, or splits it into :meth:`prepare`, :meth:`infer` and
        :meth:`finish` (then this default runs the three in turn: what an unpipelined run and
        a direct call see)."""
        if type(self).infer is Autolabeler.infer:
            raise NotImplementedError(f"{type(self).__name__} implements neither predict() nor infer()")
        ready = [s if s.prepared is not None else replace(s, prepared=self.prepare(s)) for s in batch]
        raw = self.infer(ready)
        return [self.finish(s, r) for s, r in zip(ready, raw, strict=True)]

    # -- the optional split of predict() that engines pipeline ------------------------------
    def stages_apart(self) -> bool:
        """Whether :meth:`predict` is split into :meth:`prepare`, :meth:`infer` and
        :meth:`finish`: whether the class overrides :meth:`infer` and no subclass on the way
        overrides :meth:`predict` again (a subclass of a split plugin that changes ``predict``
        gets its ``predict`` called, whole).

        The local engine then calls :meth:`prepare` in its reader thread, right after decoding
        each image, :meth:`infer` in the model's thread (the main one, where ``--timeout``
        is a ``SIGALRM``), and :meth:`finish` in a finisher thread behind it, so that the
        model's thread does only the model's work. The three steps must give what
        :meth:`predict` gives, and :meth:`prepare` and :meth:`finish` must be safe to run while
        :meth:`infer` runs on other images (no shared state that the model step changes).
        """
        for cls in type(self).__mro__:
            if "predict" in vars(cls) or "infer" in vars(cls):
                return "predict" not in vars(cls)
        return False

    def prepare(self, sample: Sample) -> Any:
        """CPU work on one decoded image before the model sees it (resizing, letterboxing,
        converting to arrays, hashing); its result becomes ``sample.prepared``.

        Called after :meth:`setup`, for one image at a time, in order, in the engine's reader
        thread when pipelined. Default: nothing (None)."""
        return None

    def infer(self, batch: Sequence[Sample]) -> list[Any]:
        """The model step of a batch: one raw answer per sample, in order, that :meth:`finish`
        turns into :class:`~labeler.predictions.Predictions`. Each sample has ``prepared``
        set by :meth:`prepare` (a direct :meth:`predict` call prepares them first).

        Runs in the model's thread; keep post-processing that needs no model (upsampling
        masks, masks to polygons) for :meth:`finish`. Default: :meth:`predict`'s answers."""
        return list(self.predict(batch))

    def finish(self, sample: Sample, raw: Any) -> Predictions:
        """Post-processing of one image's raw answer from :meth:`infer`: its predictions.

        Called once per image, in order, in the engine's finisher thread when pipelined (not the
        main thread: ``--timeout`` is enforced there by a watchdog, which interrupts Python code
        but not one long native call). The engines let ``sample.prepared`` go once
        :meth:`infer` has run: put what this step needs in ``raw``. Default: ``raw`` itself
        (already predictions)."""
        return raw  # type: ignore[no-any-return]

    def output_kind(self) -> str:
        """The shape type choice for :meth:`Predictions.to_shapes`."""
        return getattr(self.options, "output", None) or self.shape_output

    def known_classes(self) -> Collection[str] | None:
        """The class names this plugin can predict (after :meth:`setup`), or None when any
        name may come (prompts, labels already in the file). A prediction naming another
        class fails its image (see :func:`labeler.predictions.validate_predictions`)."""
        return None

    def effective_batch_size(self) -> int:
        """Batch size from the options when they have one, else the class default."""
        return int(getattr(self.options, "batch", None) or self.batch_size)


class ChainedAutolabeler(Autolabeler):
    """Two autolabelers in sequence: the second gets the first's predictions as prompts.

    Subclass and set ``first``/``second`` (``yolo_sam`` is ``yolo`` then ``sam``; ``text_sam``
    is ``text_boxes`` then ``sam``). The options model should hold one field per stage, named
    after the stages (see ``stage_options``); a stage's errors name its options with that prefix
    (see ``stage_errors``).
    """

    first: ClassVar[type[Autolabeler]]
    second: ClassVar[type[Autolabeler]]

    def __init__(self, options: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.stage1 = self.first(self.stage_options(self.first))
        self.stage2 = self.second(self.stage_options(self.second))

    def stage_options(self, stage: type[Autolabeler]) -> BaseModel | None:
        """The options of one stage: the field of our options named after the stage."""
        return getattr(self.options, stage.name, None)

    @classmethod
    def missing_requirements(cls) -> list[str]:
        seen: list[str] = []
        for stage in (cls.first, cls.second):
            seen.extend(m for m in stage.missing_requirements() if m not in seen)
        return seen

    @contextmanager
    def stage_errors(self, stage: Autolabeler) -> Iterator[None]:
        """Errors of ``stage`` name its options as the chain takes them: a stage's ``-o
        checkpoint PATH`` is ``-o sam.checkpoint PATH`` here."""
        from labeler.errors import MissingWeightsError, UsageError

        try:
            yield
        except (MissingWeightsError, UsageError) as err:
            msg = str(err)
            for field in type(stage.options).model_fields:
                msg = msg.replace(f"-o {field} ", f"-o {stage.name}.{field} ")
            raise type(err)(msg) from None

    def setup(self) -> None:
        for stage in (self.stage1, self.stage2):
            with self.stage_errors(stage):
                stage.setup()

    def source(self) -> Source:
        with self.stage_errors(self.stage1):
            a = self.stage1.source()
        with self.stage_errors(self.stage2):
            b = self.stage2.source()
        return Source(
            plugin=self.name,
            model=f"{a.model}+{b.model}",
            model_version=f"{a.model_version}+{b.model_version}",
        )

    def effective_batch_size(self) -> int:
        return self.stage1.effective_batch_size()

    def output_kind(self) -> str:
        return self.stage2.output_kind()

    # The split: both stages prepare in the reader thread; the model step runs the first stage
    # whole (its predictions are the second's prompts) and the second's infer; the finisher
    # runs the second stage's finish.
    def stages_apart(self) -> bool:
        return super().stages_apart() and (self.stage1.stages_apart() or self.stage2.stages_apart())

    def prepare(self, sample: Sample) -> tuple[Any, Any]:
        """Each stage's :meth:`~Autolabeler.prepare` of the image (None for a stage without)."""
        return tuple(  # type: ignore[return-value]
            stage.prepare(sample) if stage.stages_apart() else None
            for stage in (self.stage1, self.stage2)
        )

    def infer(self, batch: Sequence[Sample]) -> list[tuple[Sample, Any]]:
        """The first stage's predictions, then the second stage's model step on them: per
        image, the second stage's sample (with its prompts) and its raw answer."""
        parts = [s.prepared if s.prepared is not None else (None, None) for s in batch]
        first = self.stage1.predict([replace(s, prepared=p[0]) for s, p in zip(batch, parts, strict=True)])
        prompted = [
            Sample(item=s.item, annotation=s.annotation, image=s.image, prompts=preds, prepared=p[1])
            for s, preds, p in zip(batch, first, parts, strict=True)
        ]
        split = self.stage2.stages_apart()
        answers = self.stage2.infer(prompted) if split else self.stage2.predict(prompted)
        # the second stage's finish gets its sample without what prepare made (used up)
        return [(replace(s, prepared=None), a) for s, a in zip(prompted, answers, strict=True)]

    def finish(self, sample: Sample, raw: Any) -> Predictions:
        """The second stage's :meth:`~Autolabeler.finish` of its raw answer (its predictions
        already when that stage is not split)."""
        prompted, answer = raw
        return self.stage2.finish(prompted, answer) if self.stage2.stages_apart() else answer  # type: ignore[no-any-return]


@dataclass
class Finding:
    """An issue raised on one image (``rel``: image path relative to the dataset root)."""

    rel: str
    issue: Issue


class BatchTask(Protocol):
    """Per-image work of a dataset-wide check that an engine may run elsewhere (Ray workers).

    It must pickle *before* :meth:`setup` (hold what builds the model, not the model):
    each worker unpickles one copy, calls :meth:`setup` once (loads its model), then calls it
    on batches. Answers must pickle too (arrays, strings), and never depend on which worker
    computed them.
    """

    def setup(self) -> None:
        """Load the model (once per worker)."""
        ...

    def __call__(self, batch: list[Any]) -> Any:
        """The answer for one batch (it reads the images itself, by path)."""
        ...

    def lost(self, batch: list[Any], problem: str) -> Any:
        """The answer for a batch that could not be computed (its workers died): ``problem``
        for each of its items, in the shape :meth:`__call__` answers."""
        ...


def map_in_process(task: BatchTask, batches: Iterable[list[Any]]) -> Iterator[Any]:
    """``task`` over ``batches`` in this process, one answer per batch, in order."""
    task.setup()
    for batch in batches:
        yield task(batch)


class Check(Plugin):
    """A data check. Override :meth:`run` for dataset-level checks (duplicates, outliers),
    or :meth:`check_sample` for per-image checks (the default :meth:`run` loops over images).
    """

    #: "image": one image at a time (errors isolated per image); "dataset": sees everything.
    scope: ClassVar[str] = "image"
    #: Whether :meth:`check_sample` needs the decoded image (``Sample.image``).
    needs_image: ClassVar[bool] = True
    #: The run's engine (``--engine``), set by the pipeline before :meth:`run`; None: this process.
    run_engine: Any = None

    def setup(self) -> None:
        """Load models or resources once before running."""

    def map_batches(self, task: BatchTask, batches: Iterable[list[Any]]) -> Iterator[Any]:
        """For :meth:`run`: ``task`` over ``batches`` on the run's engine, answers in order.

        With ``--engine ray`` the batches go to Ray workers (one ``task.setup()`` each); else
        they run here. The dataset-wide part (comparing images) stays in :meth:`run`.
        """
        if self.run_engine is None:
            return map_in_process(task, batches)
        return self.run_engine.map(task, batches)

    def skip_image(self, item: Item, problem: str) -> None:
        """For :meth:`run`: report an image it could not check (unreadable...) and go on.

        The pipeline lists it as failed (with the file name) and keeps that image's earlier
        findings, as for a per-image check.
        """
        if not hasattr(self, "skipped_images"):
            self.skipped_images: list[tuple[Item, str]] = []
        self.skipped_images.append((item, problem))

    def check_sample(self, sample: Sample) -> list[Issue]:
        """Issues for one image (per-image checks)."""
        raise NotImplementedError

    def run(
        self, dataset: Dataset, items: Sequence[tuple[Item, Annotation]], progress: Progress
    ) -> Iterator[Finding]:
        """Dataset-level checks yield findings for any image; see :class:`Finding`."""
        raise NotImplementedError


class Fixer(Plugin):
    """Applies the ``suggested_fix`` of issues, reversibly."""

    #: Issue kinds this fixer handles.
    kinds: ClassVar[tuple[str, ...]] = ()
    #: True for fixers that write image files (the orientation fix writes a rotated copy after
    #: moving the original aside); a dry run then describes the fix without calling it.
    modifies_images: ClassVar[bool] = False

    def applies_to(self, issue: Issue) -> bool:
        """Whether this fixer can fix ``issue`` (default: by kind, open issues only)."""
        return issue.state == "open" and issue.kind in self.kinds

    def fix(self, dataset: Dataset, item: Item, annotation: Annotation, issue: Issue) -> bool:
        """Edit ``annotation`` in place to resolve ``issue``; store undo data in ``issue``.

        Return True when something changed. Never overwrite an original image: a fixer that
        must change pixels sets ``modifies_images`` and keeps the original (see docs/ocr.md).
        """
        raise NotImplementedError

    def undo(self, dataset: Dataset, item: Item, annotation: Annotation, issue: Issue) -> bool:
        """Revert a fix made by :meth:`fix`; return True when something changed."""
        raise NotImplementedError

    def describe(self, annotation: Annotation, issue: Issue, undo: bool = False) -> str:
        """One line for ``fix --dry-run``: what the fix (or its undo) would change, as
        ``old -> new``. The default describes the generic ``suggested_fix`` actions."""
        from labeler.fixes import describe_fix

        return describe_fix(annotation, issue, undo=undo)


class SuggestedFixer(Fixer):
    """A fixer that applies and reverts the issues' generic ``suggested_fix`` actions
    (:mod:`labeler.fixes`: relabel, exclude, set_text, add_suggestion, exclude_shape,
    replace_box). Subclasses set ``name``, ``kinds`` and, where needed, ``applies_to``."""

    def fix(self, dataset: Dataset, item: Item, annotation: Annotation, issue: Issue) -> bool:
        """Apply ``issue.suggested_fix`` (:func:`labeler.fixes.apply_suggested_fix`)."""
        from labeler.fixes import apply_suggested_fix

        return apply_suggested_fix(annotation, issue)

    def undo(self, dataset: Dataset, item: Item, annotation: Annotation, issue: Issue) -> bool:
        """Revert it (:func:`labeler.fixes.undo_suggested_fix`)."""
        from labeler.fixes import undo_suggested_fix

        return undo_suggested_fix(annotation, issue)


class Importer(Plugin):
    """Reads a foreign dataset; the import command writes images and label files."""

    #: Format name for ``labeler import --from FORMAT``.
    format: ClassVar[str] = ""

    def read(self, src: Path, report: Report) -> Iterable[ImportedImage]:
        """Yield the images and annotations found under ``src``; record bad files in ``report``."""
        raise NotImplementedError


class Exporter(Plugin):
    """Writes annotations in a training format under an output folder."""

    #: Format name for ``labeler export --to FORMAT``.
    format: ClassVar[str] = ""
    #: Whether images are exported per shape (detection) or per image label (classification).
    task: ClassVar[str] = "detection"
    #: Whether :meth:`export` counts each image it writes with ``report.add("exported
    #: images")``: then a run that wrote none is reported as "nothing exported" (exit code 1).
    #: An exporter that does not count gets every image it was handed counted as ``images``.
    counts_images: ClassVar[bool] = False

    def export(
        self, items: Sequence[ExportItem], out: Path, classes: list[str], report: Report
    ) -> None:
        """Write ``items`` under ``out``; ``classes`` is the ordered class list (ids = index)."""
        raise NotImplementedError


class SegmentSession(Protocol):
    """One image at a time, prompted interactively (the GUI's Segment Anything tool).

    ``set_image`` is slow (an encoder); ``predict`` is fast (a decoder) and returns a (H, W)
    bool mask, or ``(mask, score)``.
    """

    def set_image(self, image: Any) -> Any: ...

    def predict(self, points: Sequence[Sequence[float]] | None = None,
                labels: Sequence[int] | None = None,
                box: Sequence[float] | None = None) -> Any: ...


class EncodingSegmentSession(SegmentSession, Protocol):
    """A :class:`SegmentSession` whose encoder and decoder can be called apart (optional).

    ``encode(image)`` returns an embedding object for one image (it may run in a worker thread
    while the decoder answers clicks on another image); ``decode(embedding, points=...,
    labels=..., box=...)`` answers from that embedding alone, as ``predict`` does. The GUI then
    encodes the images a person will open next in the background; a session without these two
    methods keeps working through ``set_image``/``predict``, one image at a time.
    """

    def encode(self, image: Any) -> Any: ...

    def decode(self, embedding: Any, points: Sequence[Sequence[float]] | None = None,
               labels: Sequence[int] | None = None, box: Sequence[float] | None = None) -> Any: ...


def can_encode_apart(session: Any) -> bool:
    """Whether ``session`` is an :class:`EncodingSegmentSession` (has ``encode`` and ``decode``)."""
    return callable(getattr(session, "encode", None)) and callable(getattr(session, "decode", None))


class Segmenter(Protocol):
    """What ``register_segmenters`` registers: a name and a way to open a session.

    A segmenter offering several models (SAM's vit_b ... sam2.1_l) lists them in an optional
    ``models`` attribute (a sequence of names, the default first) and accepts
    ``open(checkpoint, model=NAME)``; the GUI shows one choice per model.
    """

    name: str

    def open(self, checkpoint: Path | None) -> SegmentSession:
        """A session using the model file ``checkpoint`` (None: the plugin's default model)."""
        ...
