"""``ocr``: pseudo-label text boxes and transcriptions with the OCR models bundled in
``rapidocr_onnxruntime`` (PP-OCRv4 detection + recognition, 0/180 line classifier).

Each detected line becomes a suggested 4-point polygon (clockwise from the text's top-left
corner) labelled ``text`` with its transcription in ``labeler.text`` and the recogniser's
confidence as score. The pipeline's merge rules apply: human and accepted shapes are never
touched, rejected suggestions do not come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from labeler import hookimpl
from labeler.model import Source
from labeler.plugin_api import Autolabeler, Sample
from labeler.predictions import Predictions

__version__ = "0.1.0"


class OcrOptions(BaseModel):
    """Options of the ocr autolabeler."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="text", description="Label of the text-region shapes.")
    min_score: float = Field(
        default=0.5, ge=0, le=1, description="Drop lines recognised with a lower confidence."
    )
    use_cls: bool = Field(
        default=True, description="Turn upside-down lines before recognising them (0/180)."
    )


class OcrAutolabeler(Autolabeler):
    """Text lines and their transcriptions, as suggestions with scores."""

    name = "ocr"
    description = "Text boxes + transcriptions (PP-OCRv4 via rapidocr, bundled models)"
    Options: ClassVar[type[BaseModel]] = OcrOptions
    requires = ("rapidocr_onnxruntime", "cv2")
    extra = "ocr"
    shape_output: ClassVar[str] = "polygon"

    def setup(self) -> None:
        """Load the shared OCR engine (once per process)."""
        from labeler.ocr_engine import get_engine

        self.ensure_requirements()
        self.engine = get_engine()

    def source(self) -> Source:
        from labeler.ocr_engine import rapidocr_version

        return Source(
            plugin=self.name,
            model="PP-OCRv4 det+rec (rapidocr_onnxruntime)",
            model_version=rapidocr_version(),
        )

    def predict(self, batch: Sequence[Sample]) -> list[Predictions]:
        """One :class:`Predictions` per image with ``quads`` and ``texts``."""
        from labeler.ocr_engine import to_array

        opts: OcrOptions = self.options  # type: ignore[assignment]
        out: list[Predictions] = []
        for sample in batch:
            lines = self.engine.read(
                to_array(sample.image), min_score=opts.min_score, use_cls=opts.use_cls
            )
            out.append(lines_to_predictions(lines, opts.label))
        return out


def lines_to_predictions(lines: Sequence[Any], label: str = "text") -> Predictions:
    """:class:`~labeler.ocr_engine.OcrLine` s -> :class:`Predictions` (quads, texts, scores)."""
    if not lines:
        return Predictions(quads=np.zeros((0, 4, 2), dtype=np.float32), texts=[])
    quads = np.stack([np.asarray(line.quad, dtype=np.float32).reshape(4, 2) for line in lines])
    xyxy = np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1)
    return Predictions(
        xyxy=xyxy,
        class_name=[label] * len(lines),
        confidence=[line.score for line in lines],
        quads=quads,
        texts=[line.text for line in lines],
    )


@hookimpl
def register_autolabelers(register: Any) -> None:
    """The ocr autolabeler."""
    register(OcrAutolabeler)
