"""``yolo_sam``: YOLO finds the objects, SAM outlines them (the two plugins, chained).

The options hold one field per stage, so the CLI takes ``-o yolo.model best.pt -o
sam.checkpoint sam_vit_b_01ec64.pth -o sam.output mask``. The batch size is YOLO's; SAM
encodes each image once (the images of a batch in one encoder call) and decodes all its boxes
in one call; images where YOLO finds
nothing (and that have no rectangles) are never encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from labeler_plugins.sam import SamAutolabeler, SamOptions
from labeler_plugins.yolo import YoloAutolabeler, YoloOptions, results_key
from pydantic import BaseModel, ConfigDict, Field

from labeler import hookimpl
from labeler.plugin_api import Autolabeler, ChainedAutolabeler


class YoloSamOptions(BaseModel):
    """Options of ``yolo_sam``: ``-o yolo.KEY VALUE`` and ``-o sam.KEY VALUE``."""

    model_config = ConfigDict(extra="forbid")

    yolo: YoloOptions = Field(default_factory=YoloOptions, description="Options of the yolo stage.")
    sam: SamOptions = Field(default_factory=SamOptions, description="Options of the sam stage.")


class YoloSamAutolabeler(ChainedAutolabeler):
    """YOLO boxes as prompts for SAM: suggested polygons (or masks) with YOLO's class and score."""

    name: ClassVar[str] = "yolo_sam"
    description: ClassVar[str] = "YOLO then SAM: detected objects outlined as polygons or masks"
    Options: ClassVar[type[BaseModel]] = YoloSamOptions
    first: ClassVar[type[Autolabeler]] = YoloAutolabeler
    second: ClassVar[type[Autolabeler]] = SamAutolabeler
    extra: ClassVar[str | None] = "yolo,sam"

    def config_key(self) -> str:
        return results_key(self.options, self.source())


@hookimpl
def register_autolabelers(register: Callable[[type[Autolabeler]], None]) -> None:
    """Provide the ``yolo_sam`` chain."""
    register(YoloSamAutolabeler)
