"""``text_boxes``: boxes for class names given as text (open-vocabulary YOLOE or YOLO-World);
``text_sam``: those boxes outlined by SAM.

For a new dataset without a trained detector: ``labeler autolabel DIR --plugin text_boxes -o
classes "pill,blister pack"`` suggests a box (a polygon with a YOLOE ``-seg`` model) for every
object the detector matches to one of the names, with its score and provenance.

How the names reach the detector: a text encoder (CLIP's tokenizer, then the encoder file)
turns all the class names into unit-length embeddings in one batched call, once per run, on the
run's device; the detector gets them as its class embeddings (YOLOE:
``YOLOEModel.set_classes(names, head.get_tpe(embeddings))``; YOLO-World: its ``txt_feats``),
which is what ultralytics' own ``set_classes`` does after running the text model it would
download. labeler loads the encoder itself from a file it resolved (:mod:`labeler.weights`):

* YOLOE uses MobileCLIP's TorchScript text encoder, ``mobileclip_blt.ts`` (an Ultralytics
  release asset);
* YOLO-World uses OpenAI's CLIP ViT-B/32, ``ViT-B-32.pt`` (the TorchScript archive OpenAI
  publishes, sha256-pinned), or the same weights as a plain state dict.

Either can be given by path with ``-o text_encoder FILE``. The model is an ultralytics ``.pt``
(loaded by ultralytics, a full pickle: the protection is where it comes from, as for ``yolo``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from labeler_plugins.sam import SamAutolabeler, SamOptions
from labeler_plugins.yolo import YoloAutolabeler, pick_device, results_key
from pydantic import BaseModel, ConfigDict, Field, field_validator

from labeler import hookimpl
from labeler.errors import MissingWeightsError, UsageError
from labeler.model import Source
from labeler.plugin_api import Autolabeler, ChainedAutolabeler

#: The text encoder each detector family was trained with (official names, see labeler.weights).
DEFAULT_TEXT_ENCODERS = {"yoloe": "mobileclip_blt.ts", "world": "ViT-B-32.pt"}


def _names(value: Any) -> Any:
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, (list, tuple)):
        value = [str(v).strip() for v in value if str(v).strip()]
    return value


class TextBoxesOptions(BaseModel):
    """Options of ``text_boxes`` (``-o classes "pill,blister pack"``; in ``text_sam``:
    ``-o text_boxes.classes ...``)."""

    model_config = ConfigDict(extra="forbid")

    classes: list[str] = Field(
        ..., min_length=1,
        description="Names of the objects to find, comma-separated (each is a text prompt and "
        "becomes the label of its boxes).",
    )
    model: str = Field(
        "yoloe-11s-seg.pt",
        description="Open-vocabulary detector: YOLOE (yoloe-11s-seg.pt, yoloe-v8l-seg.pt...) or "
        "YOLO-World (yolov8s-worldv2.pt...); a path, or an official name from $LABELER_MODELS or "
        "~/.cache/labeler/models.",
    )
    text_encoder: str | None = Field(
        None,
        description="Text encoder file (path or official name). Default: mobileclip_blt.ts for "
        "YOLOE, ViT-B-32.pt (OpenAI CLIP) for a model whose file name says 'world'.",
    )
    conf: float = Field(0.1, ge=0.0, le=1.0, description="Minimum score.")
    iou: float = Field(0.7, ge=0.0, le=1.0, description="NMS IoU threshold.")
    imgsz: int | None = Field(None, ge=32, description="Inference size; default: the model's own.")
    max_det: int = Field(300, ge=1, description="Most objects per image.")
    device: str | None = Field(None, description="cpu, 0, cuda:1, mps (default: GPU when there is one).")
    batch: int = Field(8, ge=1, description="Images per forward pass.")
    output: Literal["auto", "rectangle", "polygon"] = Field(
        "auto", description="auto: polygons from a -seg model, else rectangles."
    )

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, value: Any) -> Any:
        return _names(value)

    @field_validator("classes")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"class names repeated: {', '.join(dupes)}")
        return value


# -- the text encoder ------------------------------------------------------------------------
class TextEncoder:
    """Class names -> unit-length embeddings (N, D): CLIP's tokenizer, then an encoder file.

    :meth:`load` reads a TorchScript text encoder (MobileCLIP's ``mobileclip_blt.ts``: tokens
    in, normalised features out), OpenAI's CLIP TorchScript archive (``ViT-B-32.pt``: its state
    dict is rebuilt as an open_clip model, in float32 on the run's device), or an OpenAI-layout
    CLIP state dict (``torch.load(weights_only=True)``).
    """

    def __init__(self, encode: Callable[[Any], Any], device: str, kind: str) -> None:
        self._encode = encode
        self.device = device
        #: "torchscript" or "clip".
        self.kind = kind

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> TextEncoder:
        """Read ``path`` (see the class docstring); a file of another kind is one clear error."""
        import warnings

        import torch

        module = None
        try:
            with warnings.catch_warnings():  # MobileCLIP and OpenAI CLIP ship only as TorchScript
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception:  # noqa: BLE001 - not TorchScript: maybe a state dict
            module = None
        if module is not None and not hasattr(module, "encode_text"):
            module = module.to(device).eval()
            return cls(lambda tokens: module(tokens), device, "torchscript")
        try:
            state = module.state_dict() if module is not None else torch.load(str(path), map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state:
                state = {k.removeprefix("module."): v for k, v in state["state_dict"].items()}
            from open_clip.model import build_model_from_openai_state_dict

            model = build_model_from_openai_state_dict(dict(state)).float().to(device).eval()
        except Exception as err:  # noqa: BLE001 - any unreadable file gets one clear message
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise MissingWeightsError(
                f"{path}: not a text encoder labeler can read (a TorchScript text encoder such as "
                f"mobileclip_blt.ts, or OpenAI's CLIP ViT-B-32.pt or its state dict): {type(err).__name__}: {first}"
            ) from None
        return cls(lambda tokens: model.encode_text(tokens, normalize=True), device, "clip")

    def encode(self, names: list[str]) -> Any:
        """(N, D) float32 unit vectors for ``names``, all in one call, on the encoder's device."""
        import open_clip
        import torch

        tokens = open_clip.tokenize(names).to(self.device)  # CLIP's tokenizer (77 tokens)
        with torch.inference_mode():
            feats = self._encode(tokens).float()
        return feats / feats.norm(dim=-1, keepdim=True)


def detector_family(model: Any) -> str | None:
    """"yoloe" or "world" for an ultralytics open-vocabulary model (its ``nn.Module``), else None."""
    kind = type(model).__name__
    return {"YOLOEModel": "yoloe", "YOLOESegModel": "yoloe", "WorldModel": "world"}.get(kind)


def set_vocabulary(model: Any, names: list[str], embeddings: Any) -> None:
    """Make ``names`` the classes of an open-vocabulary ``model`` (its ``nn.Module``), with their
    text embeddings (N, D) as ultralytics' own ``set_classes`` would compute them."""
    import torch

    family = detector_family(model)
    head = model.model[-1]
    feats = embeddings.reshape(1, len(names), -1)
    if family == "yoloe":
        if hasattr(head, "lrpc"):
            raise UsageError("a prompt-free YOLOE model (-pf) has a fixed vocabulary: use a YOLOE model without -pf")
        param = next(model.parameters())
        with torch.inference_mode():
            tpe = head.get_tpe(feats.to(device=param.device, dtype=param.dtype))
        model.set_classes(names, tpe.clone())
    elif family == "world":
        model.txt_feats = feats.to(next(model.parameters()).device)
        head.nc = len(names)
        model.names = dict(enumerate(names))
    else:
        raise UsageError(f"not an open-vocabulary model ({type(model).__name__}): use a YOLOE or YOLO-World file")


# -- the autolabeler -------------------------------------------------------------------------
class TextBoxesAutolabeler(YoloAutolabeler):
    """Suggested boxes (polygons with a YOLOE -seg model) for objects named in ``classes``."""

    name: ClassVar[str] = "text_boxes"
    description: ClassVar[str] = "Open-vocabulary boxes from class names as text (YOLOE, YOLO-World)"
    Options: ClassVar[type[BaseModel]] = TextBoxesOptions
    TrainOptions: ClassVar[type[BaseModel] | None] = None
    requires: ClassVar[tuple[str, ...]] = ("ultralytics", "torch", "open_clip")
    extra: ClassVar[str | None] = "yolo,clip"

    options: TextBoxesOptions  # type: ignore[assignment]

    def __init__(self, options: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._encoder_path: Path | None = None

    def text_encoder_name(self) -> str:
        """The text encoder option, else the default for the model's family (by file name)."""
        if self.options.text_encoder:
            return self.options.text_encoder
        return DEFAULT_TEXT_ENCODERS["world" if "world" in Path(self.options.model).name.lower() else "yoloe"]

    def text_encoder_path(self) -> Path:
        """The text encoder file (resolved like every weights file; clear error when missing)."""
        if self._encoder_path is None:
            from labeler.weights import resolve_weights

            self._encoder_path = resolve_weights(self.text_encoder_name(), option="text_encoder")
        return self._encoder_path

    def source(self) -> Source:
        from labeler.weights import file_sha256

        det = super().source()
        enc = self.text_encoder_path()
        return Source(
            plugin=self.name, model=f"{det.model}+{enc.name}",
            model_version=f"{det.model_version}+{file_sha256(enc)[:12]}",
        )

    def config_key(self) -> str:
        return results_key(self.options, self.source())

    def setup(self) -> None:
        if self.model is not None:
            return
        self.ensure_requirements()
        self.text_encoder_path()  # a missing encoder is reported before the model loads
        super().setup()  # loads the detector, then _resolve_classes sets the vocabulary

    def _resolve_classes(self, classes: list[str | int] | None) -> list[int] | None:
        # The class names are the vocabulary: every class of the model is one of them.
        names = [str(c) for c in (classes or [])]
        family = detector_family(self.model.model)
        if family is None:
            raise UsageError(
                f"text_boxes: -o model {self.options.model} is not an open-vocabulary model "
                f"({type(self.model.model).__name__}): use YOLOE (yoloe-11s-seg.pt) or YOLO-World (yolov8s-worldv2.pt)"
            )
        encoder = TextEncoder.load(self.text_encoder_path(), device=self._torch_device())
        feats = encoder.encode(names)
        want = _embedding_dim(self.model.model)
        if want is not None and feats.shape[-1] != want:
            raise UsageError(
                f"text_boxes: the text encoder {self.text_encoder_path().name} gives {feats.shape[-1]}-d "
                f"embeddings, the {family} model takes {want}-d (YOLOE: mobileclip_blt.ts; YOLO-World: ViT-B-32.pt)"
            )
        set_vocabulary(self.model.model, names, feats)
        return None

    def _torch_device(self) -> str:
        device = pick_device(self.options.device)
        return f"cuda:{device}" if device.isdigit() else device

    def known_classes(self) -> list[str] | None:
        return list(self.options.classes)


def _embedding_dim(model: Any) -> int | None:
    """The text-embedding width an open-vocabulary head takes (None when it cannot tell)."""
    feats = getattr(model, "txt_feats", None)
    if feats is not None and getattr(feats, "ndim", 0) == 3:
        return int(feats.shape[-1])
    head = model.model[-1]
    reprta = getattr(head, "reprta", None)  # YOLOE's text-embedding refinement
    if reprta is not None:
        for p in reprta.parameters():
            return int(p.shape[-1])
    return None


class TextSamOptions(BaseModel):
    """Options of ``text_sam``: ``-o text_boxes.KEY VALUE`` and ``-o sam.KEY VALUE``."""

    model_config = ConfigDict(extra="forbid")

    text_boxes: TextBoxesOptions = Field(..., description="Options of the text_boxes stage (classes required).")
    sam: SamOptions = Field(default_factory=SamOptions, description="Options of the sam stage.")


class TextSamAutolabeler(ChainedAutolabeler):
    """Boxes found from class names, outlined by SAM (``text_boxes`` then ``sam``)."""

    name: ClassVar[str] = "text_sam"
    description: ClassVar[str] = "text_boxes then SAM: objects named in text, outlined as polygons or masks"
    Options: ClassVar[type[BaseModel]] = TextSamOptions
    first: ClassVar[type[Autolabeler]] = TextBoxesAutolabeler
    second: ClassVar[type[Autolabeler]] = SamAutolabeler
    extra: ClassVar[str | None] = "yolo,clip,sam"

    def config_key(self) -> str:
        return results_key(self.options, self.source())

    def known_classes(self) -> list[str] | None:
        return self.stage1.known_classes()


@hookimpl
def register_autolabelers(register: Callable[[type[Autolabeler]], None]) -> None:
    """Provide ``text_boxes`` and its chain into SAM, ``text_sam``."""
    register(TextBoxesAutolabeler)
    register(TextSamAutolabeler)
