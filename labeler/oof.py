"""Out-of-fold predictions: ``labeler train DIR --plugin yolo --folds K``.

The labeled images (reviewed, or with a shape a person drew or accepted; not excluded) are
split into ``K`` folds of equal size (dealt out in the order of a hash of their path). For each fold one model is trained on the other
folds and predicts the held-out images, so every image is predicted by a model that never saw
its labels. The predictions go into one predictions file (format in ``docs/checks.md``):

    DIR/.labeler/oof/<key>/predictions.json

where ``<key>`` hashes the plugin, the training options and ``K``. ``labeler check DIR
--plugin detection_errors`` reads the newest such file when no other predictions are given,
so a rerun of the check reuses it (training runs only when ``labeler train`` is asked again).

A trainable autolabeler is used for prediction by building it with ``model`` set to the
fold's weights (and ``imgsz``, ``device`` from the training options when it has them), and
``conf`` lowered to ``min_conf``: low-confidence boxes are evidence too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from labeler.dataset import Dataset, Item
from labeler.errors import FileProblem, ImageFileError, LabelFileError, UsageError
from labeler.io.images import open_image
from labeler.plugin_api import Autolabeler, Progress, Sample
from labeler.predictions import predictions_to_json, save_predictions_file

#: Where out-of-fold predictions live, relative to the dataset root.
OOF_DIR = Path(".labeler") / "oof"
OOF_FILE = "predictions.json"


def assign_folds(rels: list[str], folds: int, seed: int = 0) -> dict[str, int]:
    """Fold of each image: images ordered by a hash of their path, then dealt out in turn,
    so folds differ in size by at most one and do not depend on the listing order."""
    def key(rel: str) -> str:
        return hashlib.sha256(f"{seed}:{rel}".encode("utf-8", "surrogatepass")).hexdigest()

    return {rel: i % folds for i, rel in enumerate(sorted(rels, key=key))}


def oof_key(plugin: str, options: BaseModel, folds: int) -> str:
    """The configuration hash that names an out-of-fold run's folder."""
    payload = json.dumps({"plugin": plugin, "options": options.model_dump(mode="json"), "folds": folds},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def latest_oof_file(root: Path) -> Path | None:
    """The newest out-of-fold predictions file of the dataset at ``root``, or None."""
    folder = Path(root) / OOF_DIR
    files = [p for p in folder.glob(f"*/{OOF_FILE}") if p.is_file()] if folder.is_dir() else []
    return max(files, key=lambda p: p.stat().st_mtime) if files else None


def labeled_items(dataset: Dataset) -> tuple[list[Item], list[str]]:
    """Images a training run would use (as ``train`` does: reviewed or with a trusted shape,
    not excluded), and one line per label file that could not be read."""
    problems: list[FileProblem] = []
    keep = [
        item for item, ann in dataset.annotations(errors=problems)
        if not ann.meta.exclude and (ann.meta.reviewed or any(s.is_trusted for s in ann.shapes))
    ]
    return keep, [str(p) for p in problems]


def _predictor(cls: type[Autolabeler], weights: str, train_options: BaseModel, min_conf: float) -> Autolabeler:
    fields = cls.Options.model_fields
    wanted: dict[str, Any] = {"model": weights, "conf": min_conf}
    for key in ("imgsz", "device"):
        value = getattr(train_options, key, None)
        if value is not None:
            wanted[key] = value
    if "model" not in fields:
        raise UsageError(f"plugin {cls.name!r} has no 'model' option: it cannot predict with its trained folds")
    return cls({k: v for k, v in wanted.items() if k in fields})


def train_out_of_fold(
    dataset: Dataset,
    cls: type[Autolabeler],
    train_options: BaseModel,
    folds: int,
    progress: Progress,
    min_conf: float = 0.01,
    seed: int = 0,
) -> dict[str, Any]:
    """Train ``folds`` models and write the out-of-fold predictions file; return a summary
    (``predictions``: the file, ``folds``: per-fold images and weights, ``problems``)."""
    if folds < 2:
        raise UsageError(f"--folds {folds}: give at least 2")
    items, problems = labeled_items(dataset)
    fold = assign_folds([it.rel for it in items], folds, seed)
    if len(items) < 2 * folds:
        raise UsageError(
            f"{dataset.root}: {len(items)} labeled image(s) are too few for {folds} folds "
            "(each fold needs images, and each model images to train on)"
        )
    key = oof_key(cls.name, train_options, folds)
    out = dataset.root / OOF_DIR / key / OOF_FILE
    images: dict[str, dict[str, Any]] = {}
    per_fold: list[dict[str, Any]] = []
    steps = folds * 2
    for k in range(folds):
        train_items = [it for it in items if fold[it.rel] != k]
        held_out = [it for it in items if fold[it.rel] == k]
        options = train_options
        if "name" in type(train_options).model_fields:
            options = train_options.model_copy(update={"name": f"{train_options.name}-oof{key}-fold{k}"})  # type: ignore[attr-defined]
        trainer = cls()
        result = trainer.train(dataset.subset(train_items), options, lambda d, t: None)
        progress(2 * k + 1, steps)
        weights = str(result["weights"])
        predictor = _predictor(cls, weights, train_options, min_conf)
        predictor.setup()
        batch_size = predictor.effective_batch_size()
        for start in range(0, len(held_out), batch_size):
            batch: list[Sample] = []
            for item in held_out[start : start + batch_size]:
                try:
                    ann = dataset.load(item) or dataset.new_annotation(item)
                    batch.append(Sample(item=item, annotation=ann, image=open_image(item.image_path)))
                except (ImageFileError, LabelFileError) as err:
                    problems.append(str(err))
            if not batch:
                continue
            for sample, preds in zip(batch, predictor.predict(batch), strict=True):
                images[sample.item.rel] = predictions_to_json(preds, fold=k)
        progress(2 * k + 2, steps)
        per_fold.append({"fold": k, "train_images": len(train_items), "held_out": len(held_out), "weights": weights})
    source = _predictor(cls, per_fold[0]["weights"], train_options, min_conf).source()
    source.model = f"{cls.name} out-of-fold ({folds} folds)"
    source.model_version = key
    save_predictions_file(out, images, source=source, out_of_fold=True, folds=folds, seed=seed,
                          min_conf=min_conf, train_options=train_options.model_dump(mode="json"),
                          fold_weights=[f["weights"] for f in per_fold])
    return {"predictions": str(out), "images_predicted": len(images), "folds": per_fold,
            "problems": problems,
            "next": f"labeler check {dataset.root} --plugin detection_errors"}
