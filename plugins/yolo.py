"""``yolo``: ultralytics YOLO detection, segmentation and oriented boxes as suggestions.

Detection models give rectangles; ``-seg`` models polygons; ``-obb`` models four-point
polygons. Every suggestion carries the class name from the model, the score and the source
(plugin, model file, sha256[:12] of the file or the ultralytics version for a config).

``labeler train DIR --plugin yolo`` trains on the dataset's reviewed labels (see
:meth:`YoloAutolabeler.train`) and prints the weights to use for the next autolabel round.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from labeler import hookimpl
from labeler.errors import UsageError
from labeler.model import Source
from labeler.plugin_api import Autolabeler, Exporter, ExportItem, Progress, Report, Sample
from labeler.predictions import Predictions

if TYPE_CHECKING:
    from labeler.dataset import Dataset


def _as_class_list(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, (str, int)):
        value = [value]
    return [int(v) if isinstance(v, str) and v.strip().isdigit() else v for v in value]



def import_yolo() -> Any:
    """Import ultralytics' ``YOLO`` without letting it talk on stdout or patch Pillow.

    Its logger writes to the stdout of the moment it is imported: importing it with stdout
    sent to stderr keeps ``labeler ... --json`` output machine-readable. It also replaces
    ``PIL.Image.open`` process-wide (to try pi_heif on unknown files); the original is put back
    so that labeler's own image checks keep their error messages.
    """
    import contextlib
    import sys

    import PIL.Image

    original_open = PIL.Image.open
    with contextlib.redirect_stdout(sys.stderr):
        from ultralytics import YOLO
    PIL.Image.open = original_open
    return YOLO

class YoloOptions(BaseModel):
    """Options of ``yolo`` (``-o model best.pt -o conf 0.4``; in ``yolo_sam``: ``-o yolo.conf 0.4``)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        "yolov8n.pt",
        description="Weights path (./best.pt), or an official name (yolov8n.pt, yolov8n-seg.pt; "
        "from $LABELER_MODELS or ~/.cache/labeler/models, sha256-checked, never the current folder), "
        "or an ultralytics config (yolov8n.yaml: random init).",
    )
    conf: float = Field(0.25, ge=0.0, le=1.0, description="Minimum score.")
    iou: float = Field(0.7, ge=0.0, le=1.0, description="NMS IoU threshold.")
    imgsz: int | None = Field(
        None, ge=32, description="Inference size (long side, pixels); default: the model's training size."
    )
    max_det: int = Field(300, ge=1, description="Most objects per image.")
    classes: list[str | int] | None = Field(None, description="Keep only these classes (names or ids).")
    device: str | None = Field(None, description="cpu, 0, cuda:1, mps (default: GPU when there is one).")
    batch: int = Field(8, ge=1, description="Images per forward pass.")
    output: Literal["auto", "rectangle", "polygon"] = Field(
        "auto", description="auto: polygons from -seg/-obb models, else rectangles."
    )

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, value: Any) -> Any:
        return _as_class_list(value)


class YoloTrainOptions(BaseModel):
    """Options of ``labeler train DIR --plugin yolo``."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        "yolov8n.pt",
        description="Start from these weights (fine-tune; found like autolabel's model), or an "
        "ultralytics config such as yolov8n.yaml (from scratch).",
    )
    epochs: int = Field(50, ge=1, description="Training epochs.")
    imgsz: int = Field(640, ge=32, description="Training image size.")
    batch: int = Field(16, ge=1, description="Images per training step.")
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="Share of reviewed images held out for validation.")
    seed: int = Field(0, description="Seed of the split and of training.")
    device: str | None = Field(None, description="cpu, 0, mps (default: GPU when there is one).")
    segment: bool = Field(False, description="Train a -seg model on polygons and masks.")
    project: str = Field("runs/labeler-train", description="Folder for the training run.")
    name: str = Field("yolo", description="Run name inside project (reused: exist_ok).")
    workers: int = Field(0, ge=0, description="Data-loader worker processes.")
    extra: dict[str, Any] = Field(default_factory=dict, description="More ultralytics train() arguments.")


def pick_device(device: str | None) -> str:
    """The requested device, else the first GPU when there is one, else the CPU."""
    if device:
        return device
    import torch

    if torch.cuda.is_available():
        return "0"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def predictions_from_ultralytics(result: Any) -> Predictions:
    """One ultralytics ``Results`` (detect, segment or obb) -> :class:`Predictions` (duck typed)."""
    names = result.names
    obb = getattr(result, "obb", None)
    if obb is not None and len(obb):
        cls = obb.cls.cpu().numpy().astype(int)
        return Predictions(
            xyxy=obb.xyxy.cpu().numpy(),
            class_name=[names[int(c)] for c in cls],
            confidence=obb.conf.cpu().numpy(),
            quads=obb.xyxyxyxy.cpu().numpy(),
        )
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return Predictions.empty()
    cls = boxes.cls.cpu().numpy().astype(int)
    polygons = None
    masks = getattr(result, "masks", None)
    if masks is not None and len(masks):
        polygons = [np.asarray(p, dtype=np.float32) for p in masks.xy]
    return Predictions(
        xyxy=boxes.xyxy.cpu().numpy(),
        class_name=[names[int(c)] for c in cls],
        confidence=boxes.conf.cpu().numpy(),
        polygons=polygons,
    )


#: Options that change speed, not results: left out of the resume key, so that a run resumed
#: with another batch size or device does not redo finished images.
RUNTIME_OPTIONS = frozenset({"batch", "device", "cache_size", "threads"})


def results_key(options: BaseModel, source: Source, runtime: frozenset[str] = RUNTIME_OPTIONS) -> str:
    """Like ``Plugin.config_key`` but blind to runtime-only options (also inside chain stages)."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in runtime}
        return value

    payload = json.dumps(
        {"options": strip(options.model_dump(mode="json")), "source": source.model_dump()},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _is_config(model: str) -> bool:
    return model.endswith((".yaml", ".yml"))


def config_for_ultralytics(model: str) -> str:
    """What to hand ultralytics for a config ``model``: a user's path made absolute, or a bare
    name of one of ultralytics' own configs.

    ultralytics reads a bare config name from the current folder first (and the model
    builder evaluates the activation a config names), so a bare name that a file in the
    current folder would shadow is refused, with the way to use that file on purpose.
    """
    import re

    from labeler.weights import is_user_path

    if is_user_path(model):
        p = Path(model).expanduser()
        if not p.is_file():
            raise UsageError(f"ultralytics config {model} not found")
        return str(p.absolute())
    # ultralytics looks for the scale-less name too: yolov8n.yaml -> yolov8.yaml
    for name in dict.fromkeys((model, re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", model))):
        if Path(name).exists():
            raise UsageError(
                f"{Path(name).absolute()} would be read by ultralytics in place of its own {model} "
                f"config: pass it as a path (-o model ./{name}) to use it, or run from another folder"
            )
    return model


class _ReviewedOnly(Exporter):
    """Wraps an exporter: keeps only images a person labeled or marked reviewed.

    ``only_reviewed`` export already drops unreviewed suggestions; this also drops images that
    were merely processed by a model and have no trusted shape (they are not negatives).
    """

    def __init__(self, inner: Exporter) -> None:
        super().__init__(inner.options)
        self.inner = inner
        self.kept = 0

    def export(self, items: Sequence[ExportItem], out: Path, classes: list[str], report: Report) -> None:
        keep = [e for e in items if e.annotation.meta.reviewed or any(s.is_trusted for s in e.annotation.shapes)]
        self.kept = len(keep)
        self.inner.export(keep, out, classes, report)


def _yolo_exporter(segment: bool) -> Exporter:
    """The dataset's yolo/yolo-seg exporter from the registry (the formats plugin)."""
    from labeler.plugins import get_registry

    fmt = "yolo-seg" if segment else "yolo"
    cls = get_registry().exporters.get(fmt)
    if cls is not None:
        return cls()

    # The formats plugin is not loaded (LABELER_PLUGINS?): use its functions directly.
    class _Fallback(Exporter):
        format = fmt

        def export(self, items: Sequence[ExportItem], out: Path, classes: list[str], report: Report) -> None:
            from labeler.formats.yolo import save_yolo

            save_yolo(items, out, classes, report, segment=segment)

    return _Fallback()


class YoloAutolabeler(Autolabeler):
    """Suggested rectangles (polygons for -seg/-obb models) from an ultralytics YOLO model."""

    name: ClassVar[str] = "yolo"
    description: ClassVar[str] = "Ultralytics YOLO detect/-seg/-obb: boxes or polygons with class and score"
    Options: ClassVar[type[BaseModel]] = YoloOptions
    TrainOptions: ClassVar[type[BaseModel] | None] = YoloTrainOptions
    requires: ClassVar[tuple[str, ...]] = ("ultralytics", "torch")
    extra: ClassVar[str | None] = "yolo"
    batch_size: ClassVar[int] = 8

    options: YoloOptions

    def __init__(self, options: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.model: Any = None
        self._path: Path | None = None
        self._class_ids: list[int] | None = None

    # -- model -----------------------------------------------------------------------------
    def model_path(self) -> Path | None:
        """The weights file (None for an ultralytics config, which builds a random init)."""
        if _is_config(self.options.model):
            return None
        if self._path is None:
            from labeler.weights import resolve_weights

            self._path = resolve_weights(self.options.model, option="model")
        return self._path

    def source(self) -> Source:
        path = self.model_path()
        if path is None:
            import importlib.metadata as md

            return Source(plugin=self.name, model=self.options.model, model_version=f"ultralytics-{md.version('ultralytics')}")
        from labeler.weights import file_sha256

        return Source(plugin=self.name, model=path.name, model_version=file_sha256(path)[:12])

    def config_key(self) -> str:
        return results_key(self.options, self.source())

    def setup(self) -> None:
        if self.model is not None:
            return
        self.ensure_requirements()
        path = self.model_path()  # a missing file is reported before ultralytics says anything
        YOLO = import_yolo()  # noqa: N806
        # Always an absolute path (or a checked config name): ultralytics looks names up in the
        # current folder and downloads them.
        target = str(path) if path is not None else config_for_ultralytics(self.options.model)
        try:
            model = YOLO(target)
            if path is not None and path.suffix.lower() != ".pt":
                # Other formats load on first use: load now, so that a file that is no model
                # fails the run once here instead of once per image.
                model.predict(np.zeros((64, 64, 3), np.uint8), device=pick_device(self.options.device), verbose=False)
                model.predictor = None  # the real run sets up its own (its own image size)
        except Exception as err:  # noqa: BLE001 - ultralytics raises anything on a bad file
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise UsageError(
                f"yolo: -o model {target}: not a model ultralytics can load ({type(err).__name__}: {first})"
            ) from None
        self.model = model
        self._class_ids = self._resolve_classes(self.options.classes)

    def known_classes(self) -> list[str] | None:
        """The model's class names (None before :meth:`setup`)."""
        if self.model is None:
            return None
        return [str(v) for v in dict(self.model.names).values()]

    def _resolve_classes(self, classes: list[str | int] | None) -> list[int] | None:
        if classes is None:
            return None
        names: dict[int, str] = dict(self.model.names)
        by_name = {v: k for k, v in names.items()}
        ids = []
        for c in classes:
            if isinstance(c, int) and c in names:
                ids.append(c)
            elif isinstance(c, str) and c in by_name:
                ids.append(by_name[c])
            else:
                known = ", ".join(f"{k}={v}" for k, v in list(names.items())[:40])
                raise UsageError(f"yolo: class {c!r} is not in the model ({known})")
        return ids

    # predict() is split (Autolabeler.stages_apart): the image as ultralytics reads it is made
    # in the engine's reader thread, the model runs in the model's thread.
    def prepare(self, sample: Sample) -> np.ndarray | None:
        """The (H, W, 3) BGR uint8 array ultralytics makes of a PIL RGB image (None for other
        images: ultralytics converts those itself, with its rules for 16-bit and grey)."""
        image = sample.image
        if image.mode != "RGB" or image.getexif().get(0x0112, 1) != 1:  # 0x0112: orientation
            return None
        import cv2

        return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)

    def infer(self, batch: Sequence[Sample]) -> list[Any]:
        """ultralytics' results (one ``Results`` per image)."""
        self.setup()
        o = self.options
        extra = {"imgsz": o.imgsz} if o.imgsz else {}  # else the checkpoint's own training size
        import torch

        # ultralytics' CPU device selection sets torch to cpu_count - 1 threads for the whole
        # process (1 on a 2-core machine): give the threads back for the next stage (SAM).
        threads = torch.get_num_threads()
        try:
            results = self.model.predict(
                # BGR arrays from prepare(), else PIL RGB: ultralytics converts
                [s.prepared if s.prepared is not None else s.image for s in batch],
                conf=o.conf, iou=o.iou, max_det=o.max_det, classes=self._class_ids,
                device=pick_device(o.device), batch=max(1, len(batch)), verbose=False, **extra,
            )
        finally:
            torch.set_num_threads(threads)
        return list(results)

    def finish(self, sample: Sample, raw: Any) -> Predictions:
        """One ultralytics result as predictions."""
        return predictions_from_ultralytics(raw)

    # -- training --------------------------------------------------------------------------
    def train(self, dataset: Dataset, options: BaseModel, progress: Progress) -> dict[str, Any]:
        """Export the reviewed labels to a temporary YOLO dataset, train, report mAP and weights."""
        assert isinstance(options, YoloTrainOptions)
        self.ensure_requirements()
        from labeler.exporting import ExportOptions, run_export

        exporter = _ReviewedOnly(_yolo_exporter(options.segment))
        tmp = Path(tempfile.mkdtemp(prefix="labeler-yolo-train-"))
        try:
            split = [1 - options.val_fraction, options.val_fraction] if options.val_fraction > 0 else None
            report = run_export(dataset, exporter, tmp / "data", ExportOptions(only_reviewed=True, split=split, seed=options.seed))
            if exporter.kept == 0:
                raise UsageError(
                    f"{dataset.root}: no reviewed labels to train on (draw or accept some shapes, "
                    "or mark images reviewed, first)"
                )
            n_train = len(list((tmp / "data" / "images" / "train").glob("*")))
            n_val = len(list((tmp / "data" / "images" / "val").glob("*"))) if (tmp / "data" / "images" / "val").is_dir() else 0
            YOLO = import_yolo()  # noqa: N806

            start = options.model
            if _is_config(start):
                start = config_for_ultralytics(start)
            else:
                from labeler.weights import resolve_weights

                start = str(resolve_weights(start, option="model"))
            model = YOLO(start)
            model.add_callback("on_fit_epoch_end", lambda tr: progress(min(tr.epoch + 1, tr.epochs), tr.epochs))
            args: dict[str, Any] = {
                "data": str(tmp / "data" / "data.yaml"), "epochs": options.epochs, "imgsz": options.imgsz,
                "batch": options.batch, "device": pick_device(options.device), "workers": options.workers,
                "project": str(Path(options.project).resolve()), "name": options.name, "exist_ok": True,
                "seed": options.seed, "plots": False, "verbose": False,
            }
            args.update(options.extra)
            import contextlib
            import sys

            with contextlib.redirect_stdout(sys.stderr):  # its progress bars: stdout stays for --json
                model.train(**args)
            trainer = model.trainer
            metrics = {k: float(v) for k, v in (getattr(trainer, "metrics", None) or {}).items()}
            kind = "M" if options.segment else "B"
            best = (Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)).absolute()
            return {
                "train_images": n_train,
                "val_images": n_val if n_val else f"{n_train} (no val split: validated on train)",
                "classes": list(model.names.values()) if hasattr(model, "names") else None,
                "val_mAP50": round(metrics.get(f"metrics/mAP50({kind})", float("nan")), 4),
                "val_mAP50-95": round(metrics.get(f"metrics/mAP50-95({kind})", float("nan")), 4),
                "weights": str(best),
                "next": f"labeler autolabel {dataset.root} --plugin yolo -o model {best}",
                "export_notes": report.notes,
            }
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@hookimpl
def register_autolabelers(register: Callable[[type[Autolabeler]], None]) -> None:
    """Provide the ``yolo`` autolabeler."""
    register(YoloAutolabeler)
