"""``sam``: segment-anything turns box (and point) prompts into masks and polygons.

Prompts of the autolabeler: every rectangle already in the annotation (human or suggested)
and the boxes of a previous stage (``Sample.prompts``, e.g. YOLO in ``yolo_sam``). All the
boxes of one image go through the mask decoder in one call, after one image encoding.

For interactive use (the GUI), :class:`SamSession` keeps the image embedding: ``set_image``
encodes an image once (an LRU cache keyed by image content and model makes a second
``set_image`` of the same image free), then each ``predict(points=..., box=...)`` costs only
the prompt encoder and the mask decoder (milliseconds, even for vit_h).

Model types: ``vit_b``, ``vit_l``, ``vit_h`` (segment-anything) from the official checkpoint
files; ``mobile_sam`` and ``sam2.1_t``/``_s``/``_b``/``_l`` (and SAM 2.0's ``sam2_*``), whose
architectures ultralytics ships (:mod:`labeler_plugins.sam_family`); and ``sample_tiny``:
segment-anything's own modules at a reduced size, stored with their configuration in the
checkpoint (``sample_data/models/``). All load through :func:`load_sam`: build the modules,
then ``load_state_dict`` of a plain state dict.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from labeler_plugins import sam_family
from labeler_plugins.sam_encoder import cpu_has_bf16
from labeler_plugins.sam_family import ULTRALYTICS_TYPES
from pydantic import BaseModel, ConfigDict, Field

from labeler import hookimpl
from labeler.errors import MissingWeightsError, UsageError
from labeler.model import Source
from labeler.plugin_api import Autolabeler, Sample
from labeler.predictions import Predictions
from labeler.threads import cpu_threads, keep_freed_memory  # noqa: F401 - also this module's

if TYPE_CHECKING:
    import torch
    from PIL import Image

#: Official checkpoint file of each model type (resolved by :mod:`labeler.weights`).
CHECKPOINTS = {
    "vit_b": "sam_vit_b_01ec64.pth",
    "vit_l": "sam_vit_l_0b3195.pth",
    "vit_h": "sam_vit_h_4b8939.pth",
    **{kind: filename for kind, (_, filename) in ULTRALYTICS_TYPES.items()},
}
ModelType = Literal[
    "auto", "vit_b", "vit_l", "vit_h", "mobile_sam", "sam2.1_t", "sam2.1_s", "sam2.1_b", "sam2.1_l",
    "sam2_t", "sam2_s", "sam2_b", "sam2_l", "sample_tiny",
]
#: Image-encoder width of each official type (how ``model_type: auto`` recognises a checkpoint).
_EMBED_DIMS = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}
#: Key of the configuration block in labeler's own (reduced-size) checkpoints.
CONFIG_KEY = "labeler_sam"

#: The reduced SAM of the sample bundle (about 0.3 M parameters).
SAMPLE_TINY_CONFIG: dict[str, Any] = {
    "img_size": 256,
    "patch_size": 8,
    "encoder_embed_dim": 64,
    "encoder_depth": 4,
    "encoder_num_heads": 2,
    "encoder_window_size": 8,
    "encoder_global_attn_indexes": [1, 3],
    "prompt_embed_dim": 32,
    "mask_in_chans": 8,
    "decoder_depth": 2,
    "decoder_mlp_dim": 128,
    "decoder_num_heads": 2,
    "iou_head_hidden_dim": 32,
}


class SamOptions(BaseModel):
    """Options of ``sam`` (``-o checkpoint FILE``; in ``yolo_sam``: ``-o sam.checkpoint FILE``)."""

    model_config = ConfigDict(extra="forbid")

    model_type: ModelType = Field(
        "auto",
        description="SAM variant: vit_b, vit_l, vit_h (segment-anything), mobile_sam, sam2.1_t, "
        "sam2.1_s, sam2.1_b, sam2.1_l (built from ultralytics; sam2_* for SAM 2.0), sample_tiny; "
        "auto: read it from the checkpoint (vit_b without one). See docs/autolabel.md for which to pick.",
    )
    checkpoint: str | None = Field(
        None,
        description="Checkpoint path (./my.pth), or an official file name (default: the one of "
        "model_type; from $LABELER_MODELS or ~/.cache/labeler/models, sha256-checked, else "
        "downloaded; never the current folder). Loaded as a plain state dict (weights_only).",
    )
    output: Literal["polygon", "mask"] = Field(
        "polygon", description="Suggest simplified polygons, or labelme mask shapes."
    )
    tolerance: float = Field(1.0, ge=0.0, description="Polygon simplification distance in pixels.")
    min_area: int = Field(16, ge=0, description="Masks smaller than this many pixels are dropped.")
    overlap_drop: float = Field(
        0.8, ge=0.0, le=1.0,
        description="Drop a mask when this share of it lies inside a higher-scored mask of the "
        "same class (a detector's duplicate or partial box); 1 keeps every mask.",
    )
    annotation_boxes: bool = Field(
        True, description="Use the rectangles already in the annotation as prompts."
    )
    precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="Image encoder numerics. bf16 is 2-3x faster on CPUs with AVX-512 bf16 "
        "or AMX and on GPUs, much slower on CPUs without AVX-512 (emulated: a warning says so); "
        "masks change slightly (see bench/README.md).",
    )
    encoder: Literal["fast", "reference"] = Field(
        "fast",
        description="fast: labeler's encoder and decoder forward (fused attention kernel, fused "
        "linears, MobileSAM's batch norms folded and its convolutions fused, the decoder's image side "
        "once per image; plugins/sam_encoder.py, sam_tinyvit.py, sam_decoder.py), the same numbers to "
        "float rounding; "
        "reference: segment-anything's own operations, bit for bit (slower).",
    )
    device: str | None = Field(None, description="cpu, cuda, cuda:1, mps (default: GPU when there is one).")
    cache_size: int = Field(4, ge=1, description="Image embeddings kept in memory (LRU).")
    threads: int | None = Field(
        None, ge=1, description="CPU threads (default: $LABELER_THREADS, else every core this process may use)."
    )
    batch: int = Field(
        1, ge=1, description="Images per predict() call, encoded in one forward pass (worth it on a GPU)."
    )


# -- model loading ---------------------------------------------------------------------------
def build_sam_from_config(config: dict[str, Any]) -> Any:
    """A ``segment_anything.modeling.Sam`` of any size, randomly initialised."""
    from functools import partial

    import torch
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    c = {**SAMPLE_TINY_CONFIG, **config}
    emb = c["img_size"] // c["patch_size"]
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=c["img_size"],
            patch_size=c["patch_size"],
            embed_dim=c["encoder_embed_dim"],
            depth=c["encoder_depth"],
            num_heads=c["encoder_num_heads"],
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            out_chans=c["prompt_embed_dim"],
            qkv_bias=True,
            use_rel_pos=True,
            window_size=c["encoder_window_size"],
            global_attn_indexes=tuple(c["encoder_global_attn_indexes"]),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=c["prompt_embed_dim"],
            image_embedding_size=(emb, emb),
            input_image_size=(c["img_size"], c["img_size"]),
            mask_in_chans=c["mask_in_chans"],
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=c["decoder_depth"],
                embedding_dim=c["prompt_embed_dim"],
                mlp_dim=c["decoder_mlp_dim"],
                num_heads=c["decoder_num_heads"],
            ),
            transformer_dim=c["prompt_embed_dim"],
            iou_head_depth=3,
            iou_head_hidden_dim=c["iou_head_hidden_dim"],
        ),
    )


def save_config_checkpoint(model: Any, config: dict[str, Any], path: str | Path, half: bool = False) -> None:
    """Save a reduced-size SAM with its configuration (what :func:`load_sam` reads back)."""
    import torch

    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save({CONFIG_KEY: {"model_type": "sample_tiny", "config": dict(config)}, "model": state}, path)


def build_sam(kind: str) -> Any:
    """A randomly initialised SAM of model type ``kind`` (benchmarks and tests: random weights
    cost what real ones cost)."""
    if kind == "sample_tiny":
        return build_sam_from_config({})
    if kind in ULTRALYTICS_TYPES:
        _require_ultralytics(kind)
        return sam_family.build(kind)
    from segment_anything import sam_model_registry

    return sam_model_registry[kind](None)


def _require_ultralytics(kind: str) -> None:
    import importlib.util

    from labeler.errors import MissingDependencyError

    if importlib.util.find_spec("ultralytics") is None:
        raise MissingDependencyError(
            f"SAM model type {kind} is built from ultralytics, which is not installed: pip install 'labeler[sam,yolo]'"
        )


def _detect_kind(state: Any) -> str | None:
    """The model type of an official-layout state dict (None when unknown)."""
    if not isinstance(state, dict):
        return None
    w = state.get("image_encoder.patch_embed.proj.weight")
    if w is not None and w.ndim == 4 and not any(k.startswith("image_encoder.trunk.") for k in state):
        return _EMBED_DIMS.get(int(w.shape[0]))
    return sam_family.detect_kind(state)


def load_sam(checkpoint: str | Path | None, model_type: str = "auto") -> tuple[Any, str]:
    """Build a SAM and load ``checkpoint`` (None: random init of ``model_type``, for benchmarks).

    Official checkpoints are plain state dicts (the type is recognised from its keys and the
    encoder's width and depth); labeler's reduced-size checkpoints carry their configuration.
    Returns (model, type).
    """
    import torch

    if checkpoint is None:
        kind = "vit_b" if model_type == "auto" else model_type
        return build_sam(kind), kind
    import pickle
    import re

    try:
        # A SAM checkpoint is a plain state dict: never unpickle anything else (that would run code).
        obj = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found is None:  # not a pickle at all
            raise MissingWeightsError(f"{checkpoint}: not a readable SAM checkpoint (UnpicklingError: {err})") from None
        raise MissingWeightsError(
            f"{checkpoint}: refused to load: it holds Python objects ({found.group(1)}) besides tensors, and a SAM "
            "checkpoint is a plain state dict (loaded with torch.load(weights_only=True)); "
            "use the official file or a state dict saved with torch.save(model.state_dict(), PATH)"
        ) from None
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise MissingWeightsError(f"{checkpoint}: not a readable SAM checkpoint ({type(err).__name__}: {first})") from None
    if isinstance(obj, dict) and CONFIG_KEY in obj:
        meta = obj[CONFIG_KEY]
        model = build_sam_from_config(meta.get("config", {}))
        state, kind = obj["model"], str(meta.get("model_type", "sample_tiny"))
    else:
        # Official SAM and MobileSAM files are the state dict; SAM 2 files hold it under "model".
        state = obj.get("model", obj) if isinstance(obj, dict) else obj
        detected = _detect_kind(state)
        kind = detected if model_type == "auto" else model_type
        if kind is None or kind not in CHECKPOINTS:
            raise UsageError(
                f"{checkpoint}: cannot tell the SAM type; pass -o model_type "
                + "|".join(k for k in CHECKPOINTS)
            )
        if detected is not None and detected != kind:
            raise UsageError(f"{checkpoint} is a {detected} checkpoint, not {kind}: use -o model_type {detected}")
        model = build_sam(kind)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise UsageError(f"{checkpoint}: does not fit SAM {kind}: {first}") from None
    return model, kind


#: Bytes of attention scores computed at once by :class:`ChunkedAttention` (under glibc's
#: 32 MB mmap ceiling, so that each chunk reuses heap memory instead of fresh pages).
ATTENTION_CHUNK_BYTES = 30 << 20


#: Bytes of per-box tensors (embedding copies, full-size masks) per mask-decoder call.
DECODER_CHUNK_BYTES = 24 << 20


def chunked_attention_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """segment-anything's encoder ``Attention.forward``, a band of query rows at a time.

    The stock forward builds the whole attention map at once: for the global blocks of vit_b at
    1024 px that is 12 x 4096 x 4096 scores (800 MB in fp32), plus as much again for the
    relative-position sum and for the softmax. Each such tensor is fresh memory from the OS
    (glibc maps anything over 32 MB), so the process spends more time in the kernel zeroing
    pages than in arithmetic. Here the same operations run on bands of query rows whose scores
    fit in ``ATTENTION_CHUNK_BYTES``: every score, sum and softmax is the same operation on the
    same numbers in the same order (bit-identical outputs, tested), with no large allocation.
    """
    import torch
    from segment_anything.modeling.image_encoder import get_rel_pos

    b, h, w, _ = x.shape
    n, heads = h * w, self.num_heads
    qkv = self.qkv(x).reshape(b, n, 3, heads, -1).permute(2, 0, 3, 1, 4).reshape(3, b * heads, n, -1)
    q, k, v = qkv.unbind(0)
    bn, c = q.shape[0], q.shape[-1]
    out = torch.empty((bn, n, c), dtype=q.dtype, device=q.device)
    rows = max(1, min(h, ATTENTION_CHUNK_BYTES // max(1, bn * w * n * q.element_size())))
    if self.use_rel_pos:
        rel_pos_h = get_rel_pos(h, h, self.rel_pos_h)
        rel_pos_w = get_rel_pos(w, w, self.rel_pos_w)
    k_t = k.transpose(1, 2)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        qs = q[:, r0 * w : r1 * w]
        attn = (qs * self.scale) @ k_t
        if self.use_rel_pos:  # add_decomposed_rel_pos, for these rows only
            r_q = qs.reshape(bn, r1 - r0, w, c)
            rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, rel_pos_h[r0:r1])
            rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, rel_pos_w)
            attn5 = attn.view(bn, r1 - r0, w, h, w)
            attn5 += rel_h[:, :, :, :, None]
            attn5 += rel_w[:, :, :, None, :]
        out[:, r0 * w : r1 * w] = attn.softmax(dim=-1) @ v
    y = out.view(b, heads, h, w, c).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
    return self.proj(y)


def chunk_encoder_attention(model: Any) -> int:
    """Run every attention of ``model.image_encoder`` through :func:`chunked_attention_forward`
    (same modules and weights, same numbers; 2x faster on CPU). Returns how many were changed."""
    import types

    changed = 0
    for block in getattr(model.image_encoder, "blocks", []):
        attn = getattr(block, "attn", None)
        if attn is None or getattr(attn, "_labeler_chunked", False):
            continue
        if all(hasattr(attn, name) for name in ("qkv", "proj", "num_heads", "scale", "use_rel_pos")):
            attn.forward = types.MethodType(chunked_attention_forward, attn)
            attn._labeler_chunked = True
            changed += 1
    return changed


def decoder_threads_now(threads: int) -> int:
    """Threads for a decoder call now: ``threads`` while the CPU has them free (the 1-minute load
    average, this process's own encoding ahead included, is under ``threads``), else one.

    Always ``threads`` when the OpenMP workers sleep when idle (``OMP_WAIT_POLICY=PASSIVE``, what
    the GUI sets): then a team that meets a busy core costs no more than one thread (mobile_sam
    on 2 cores beside a busy thread: 72-102 ms on two, 72-131 ms on one; alone 49-61 against
    57-83 ms; bench/README.md, GUI SAM 2026-12-02). The one-thread fallback is for spinning
    workers, which then wait at every parallel region for their descheduled member."""
    if os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE":
        return threads
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on this platform
        return threads
    return threads if load < threads else 1


def pick_device(device: str | None) -> str:
    """The requested device, or the GPU when there is one, else the CPU."""
    import torch

    if device:
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


# -- embeddings cache and interactive session -----------------------------------------------
@dataclass
class Embedding:
    """One encoded image: features plus the sizes needed to map prompts and masks."""

    #: The image embedding (SAM, MobileSAM); for SAM 2 a dict of ``image_embed`` and
    #: ``high_res_feats``.
    features: Any
    original_size: tuple[int, int]  # (H, W)
    input_size: tuple[int, int]  # (H, W) after resizing the long side to the encoder size
    #: The mask decoder's work on the image alone (:class:`labeler_plugins.sam_decoder.ImageSide`),
    #: computed with the embedding so that a click skips it; None for SAM 2 or another decoder.
    decoder_side: Any = None


@dataclass
class PreparedImage:
    """An image made ready for the encoder (:meth:`SamSession.prepare_image`): what needs no
    model, done once and, in a pipelined run, outside the model's thread."""

    #: The embeddings cache key: (model id, content hash).
    key: tuple[str, str]
    #: (h, w, 3) uint8 RGB, the long side resized to the encoder's input size.
    resized: np.ndarray
    original_size: tuple[int, int]  # (H, W)


@dataclass
class BoxLogits:
    """The mask decoder's answer for one image's boxes before upscaling
    (:meth:`SamSession.decode_boxes`); :meth:`SamSession.box_masks` makes the masks."""

    #: Low-resolution logits (n, 1, h, w) and predicted IoU (n,) of each decoder call's boxes.
    chunks: list[tuple[torch.Tensor, torch.Tensor]]
    input_size: tuple[int, int]
    original_size: tuple[int, int]
    count: int


class EmbeddingCache:
    """A small thread-safe LRU of image embeddings keyed by (model id, image content hash)."""

    def __init__(self, maxsize: int = 4) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[tuple[str, str], Embedding] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def peek(self, key: tuple[str, str]) -> Embedding | None:
        """The cached embedding of ``key``, without counting a hit or a miss or reordering."""
        with self._lock:
            return self._data.get(key)

    def get(self, key: tuple[str, str]) -> Embedding | None:
        with self._lock:
            emb = self._data.get(key)
            if emb is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return emb

    def put(self, key: tuple[str, str], emb: Embedding) -> None:
        with self._lock:
            self._data[key] = emb
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def image_key(image: np.ndarray) -> str:
    """Content hash of an image array (shape included)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((image.shape, image.dtype.str)).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def as_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a PIL image or an array (grey and RGBA are converted)."""
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        elif arr.shape[2] == 4:
            arr = arr[..., :3]
        return np.ascontiguousarray(arr, dtype=np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


#: The warning when bf16 is asked for on a CPU without bf16 instructions (Python's default
#: filter shows it once per calling line).
BF16_EMULATED = (
    "sam: precision bf16 on a CPU without bfloat16 instructions (oneDNN's bf16 needs AVX-512 "
    "BW/VL/DQ or AVX-NE-CONVERT): it runs emulated, several times slower than fp32 here (MobileSAM's encoder "
    "8x on an AVX2 EPYC, bench/README.md); use -o sam.precision fp32 (the default) on this machine"
)


class SamSession:
    """Interactive SAM on one image at a time: encode once, decode per prompt.

    >>> session = SamSession.from_checkpoint("sample_data/models/scenes_sam_tiny.pth")
    >>> session.set_image(pil_image)                     # encoder (cached by content)
    >>> mask, score = session.predict(points=[(120, 80)], labels=[1])
    >>> mask, score = session.predict(box=(30, 40, 200, 180))
    >>> masks, scores = session.predict_boxes([[...], [...]])  # many boxes, one decoder call
    """

    def __init__(
        self,
        model: Any,
        device: str | None = None,
        precision: str = "fp32",
        cache: EmbeddingCache | None = None,
        model_id: str = "",
        threads: int | None = None,
        encoder: str = "fast",
    ) -> None:
        from segment_anything.utils.transforms import ResizeLongestSide

        self.device = pick_device(device)
        self.threads = cpu_threads(threads)
        self.model = model.to(self.device).eval()
        self.precision = precision
        #: SAM 2 has its own prompt encoder, decoder call and multi-level features.
        self.sam2 = sam_family.is_sam2(model)
        self.side = sam_family.input_size(model)
        import torch

        self._mean = torch.tensor([123.675, 116.28, 103.53], device=self.device).view(-1, 1, 1)
        self._std = torch.tensor([58.395, 57.12, 57.375], device=self.device).view(-1, 1, 1)
        fast = False
        if encoder == "fast":
            from labeler_plugins.sam_decoder import install_fast_decoder
            from labeler_plugins.sam_encoder import fuse_conv_bn, install_fast_encoder
            from labeler_plugins.sam_tinyvit import install_fast_tinyvit

            fast = install_fast_encoder(self.model.image_encoder) > 0  # segment-anything's ViT
            if fuse_conv_bn(self.model.image_encoder):  # MobileSAM's TinyViT
                install_fast_tinyvit(self.model.image_encoder)
            if not self.sam2:
                install_fast_decoder(self.model.mask_decoder)  # many boxes on one image
        if self.device == "cpu" and not fast:
            chunk_encoder_attention(self.model)  # where fresh memory costs page faults (not GPUs)
        if self.device == "cpu":
            keep_freed_memory()
        if precision == "bf16":
            if self.device == "cpu" and not cpu_has_bf16():
                warnings.warn(BF16_EMULATED, RuntimeWarning, stacklevel=2)
            # eval() again: MobileSAM's attention caches its position biases (in the old dtype).
            self.model.image_encoder.to(torch.bfloat16).eval()
        self.cache = cache if cache is not None else EmbeddingCache()
        self.model_id = model_id or f"{id(model)}"
        self.transform = ResizeLongestSide(self.side)
        self.embedding: Embedding | None = None
        self._pe_cache: torch.Tensor | None = None  # see _dense_pe
        #: Low-resolution logits of the last :meth:`predict` (fed back with ``refine=True``).
        self.last_logits: torch.Tensor | None = None
        #: Whether a lone click asks for SAM's three candidates (the reduced sample model was
        #: trained on the single-mask output only).
        self.multimask_single_click = True
        #: CPU threads of the prompt encoder and mask decoder (None: ``threads``; "auto": see
        #: :func:`decoder_threads_now`, what the GUI uses: on an idle 2-core CPU a click takes
        #: 38 ms on two threads and 69 ms on one, while on a busy one a second *spinning*
        #: OpenMP thread mostly waits for its share; sleeping ones do not, bench/README.md,
        #: GUI SAM).
        self.decoder_threads: int | str | None = None
        #: Called on the encoding thread before each of the image encoder's modules runs (None:
        #: nothing): the GUI answers a click there, on the same thread, while it encodes ahead
        #: (``labeler.editing.prefetch.ModelThread.pause_point``); the encoding then goes on.
        self.between_layers: Callable[[], None] | None = None
        self._pausing = False
        for module in self.model.image_encoder.modules():
            module.register_forward_pre_hook(self._between_layers)

    def _between_layers(self, _module: Any, _args: Any) -> None:
        self._pause_now()

    def _pause_now(self) -> None:
        pause = self.between_layers
        if pause is not None and not self._pausing:
            import torch

            # What runs in the pause (a click's decoder) may call the encoder's own layers
            # (sam_encoder.linear): those are no pause points.
            self._pausing = True
            threads = torch.get_num_threads()
            try:
                pause()
            finally:
                self._pausing = False
            if torch.get_num_threads() != threads:  # the click's decoder set its own
                torch.set_num_threads(threads)

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path | None, model_type: str = "auto", device: str | None = None,
        precision: str = "fp32", cache_size: int = 4, threads: int | None = None, encoder: str = "fast",
    ) -> SamSession:
        """Load a checkpoint (see :func:`load_sam`) into a new session."""
        model, kind = load_sam(checkpoint, model_type)
        session = cls(model, device=device, precision=precision, cache=EmbeddingCache(cache_size),
                      model_id=f"{kind}:{checkpoint}:{precision}:{encoder}", threads=threads, encoder=encoder)
        session.multimask_single_click = kind in CHECKPOINTS
        return session

    # encoder
    def encode(self, image: Image.Image | np.ndarray) -> Embedding:
        """Run the image encoder (no cache) on a PIL image or an (H, W, 3) uint8 RGB array.

        Safe in a worker thread while :meth:`decode` answers prompts on another embedding (the
        GUI encodes the next images ahead this way)."""
        return self.encode_many([as_rgb_array(image)])[0]

    def encode_many(self, images: Sequence[np.ndarray]) -> list[Embedding]:
        """Run the image encoder once for several (H, W, 3) uint8 RGB images (no cache).

        Every image is resized and padded to the same square input, so a batch is one encoder
        forward: what makes a GPU worth its while. Each image is one host-to-device copy of its
        uint8 pixels; normalising and padding run on the device, and the features stay there.
        """
        resized = [self.transform.apply_image(image) for image in images]
        return self.encode_resized(resized, [(image.shape[0], image.shape[1]) for image in images])

    def encode_resized(self, resized: Sequence[np.ndarray], original_sizes: Sequence[tuple[int, int]]
                       ) -> list[Embedding]:
        """:meth:`encode_many` of images already resized (:attr:`PreparedImage.resized`) to the
        encoder's size; ``original_sizes`` (H, W) of each before resizing."""
        import torch
        from labeler_plugins.sam_encoder import between_steps

        if self.device == "cpu":
            torch.set_num_threads(self.threads)
        token = between_steps.set(None if self.between_layers is None else self._pause_now)
        try:
            return self._encode_resized(resized, original_sizes)
        finally:
            between_steps.reset(token)

    def _encode_resized(self, resized: Sequence[np.ndarray], original_sizes: Sequence[tuple[int, int]]
                        ) -> list[Embedding]:
        import torch

        with torch.inference_mode():
            x = torch.cat([
                self.preprocess(torch.as_tensor(r, device=self.device).permute(2, 0, 1)[None].float()) for r in resized
            ])
            if self.precision == "bf16":
                # The whole encoder in bfloat16 (weights converted once in __init__); the prompt
                # encoder and mask decoder stay fp32 and get fp32 features.
                x = x.to(torch.bfloat16)
            if self.sam2:
                both = sam_family.sam2_features(self.model, x)
                feats: list[Any] = [
                    {"image_embed": both["image_embed"][i : i + 1],
                     "high_res_feats": [f[i : i + 1] for f in both["high_res_feats"]]}
                    for i in range(len(resized))
                ]
            else:
                feats = list(self.model.image_encoder(x).float().split(1))
            sides = [self._decoder_side(f) for f in feats]
        return [
            Embedding(f, size, (r.shape[0], r.shape[1]), side)
            for f, size, r, side in zip(feats, original_sizes, resized, sides, strict=True)
        ]

    def _decoder_side(self, features: Any) -> Any:
        """The fast mask decoder's image-only work on ``features`` (the same for every prompt:
        done here, with the encoding, rather than on the first click), or None."""
        decoder = None if self.sam2 else getattr(self.model, "mask_decoder", None)
        if not getattr(decoder, "_labeler_fast", False):
            return None
        from labeler_plugins.sam_decoder import image_side

        pe = self.model.prompt_encoder
        dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, *features.shape[-2:])
        return image_side(decoder, features, self._dense_pe(), dense)

    def prepare_image(self, image: Image.Image | np.ndarray) -> PreparedImage:
        """What :meth:`set_prepared` needs of an image, without the model: its cache key and
        the image resized for the encoder (safe in another thread while the model runs)."""
        arr = as_rgb_array(image)
        return PreparedImage((self.model_id, image_key(arr)), self.transform.apply_image(arr),
                             (arr.shape[0], arr.shape[1]))

    def prefetch(self, images: Sequence[Image.Image | np.ndarray], batch: int) -> int:
        """Encode the images whose embeddings are not cached, ``batch`` per encoder call, into
        the cache (for a later :meth:`set_image`). Returns how many were encoded."""
        return self.prefetch_prepared([self.prepare_image(image) for image in images], batch)

    def prefetch_prepared(self, images: Sequence[PreparedImage], batch: int) -> int:
        """:meth:`prefetch` of prepared images (for a later :meth:`set_prepared`)."""
        todo: dict[tuple[str, str], PreparedImage] = {}
        for image in images:
            if image.key not in todo and self.cache.get(image.key) is None:
                todo[image.key] = image
        keys = list(todo)
        for i in range(0, len(keys), max(1, batch)):
            chunk = [todo[k] for k in keys[i : i + max(1, batch)]]
            embs = self.encode_resized([c.resized for c in chunk], [c.original_size for c in chunk])
            for image, emb in zip(chunk, embs, strict=True):
                self.cache.put(image.key, emb)
        return len(keys)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise a (1, 3, h, w) float image with SAM's pixel statistics and pad it to the
        encoder's square input (bottom and right), as segment-anything's ``Sam.preprocess``."""
        import torch.nn.functional as F  # noqa: N812

        x = (x - self._mean) / self._std
        h, w = x.shape[-2:]
        return F.pad(x, (0, self.side - w, 0, self.side - h))

    def postprocess(self, low_res: torch.Tensor, input_size: tuple[int, int], original_size: tuple[int, int]) -> torch.Tensor:
        """Low-resolution mask logits to the original image size (segment-anything's
        ``postprocess_masks``: upscale to the encoder input, crop the padding, resize)."""
        import torch.nn.functional as F  # noqa: N812

        low = low_res.shape[-1]
        if self.side % low == 0 and low_res.shape[-2] == low:
            # Only the rows and columns that the crop keeps (plus the one each interpolates
            # with): the same scale, the same sample positions, the same values.
            f = self.side // low
            kh, kw = (min(low, -(-n // f) + 1) for n in input_size)
            masks = F.interpolate(low_res[..., :kh, :kw], (kh * f, kw * f), mode="bilinear", align_corners=False)
        else:
            masks = F.interpolate(low_res, (self.side, self.side), mode="bilinear", align_corners=False)
        masks = masks[..., : input_size[0], : input_size[1]]
        return F.interpolate(masks, original_size, mode="bilinear", align_corners=False)

    def encode_batch(self, images: Sequence[Image.Image | np.ndarray]) -> None:
        """:meth:`prefetch` with batches as large as the cache (a GPU's batch)."""
        self.prefetch(images, self.cache.maxsize)

    def set_image(self, image: Image.Image | np.ndarray) -> Embedding:
        """Make ``image`` the current one; encodes it unless its embedding is cached."""
        arr = as_rgb_array(image)
        key = (self.model_id, image_key(arr))
        emb = self.cache.get(key)
        if emb is None:
            emb = self.encode(arr)
            self.cache.put(key, emb)
        self.embedding = emb
        self.last_logits = None
        return emb

    def set_prepared(self, image: PreparedImage) -> Embedding:
        """:meth:`set_image` of an image from :meth:`prepare_image` (the same embedding)."""
        emb = self.cache.get(image.key)
        if emb is None:
            emb = self.encode_resized([image.resized], [image.original_size])[0]
            self.cache.put(image.key, emb)
        self.embedding = emb
        self.last_logits = None
        return emb

    # decoder
    def _decode(
        self,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        boxes: np.ndarray | None,
        mask_input: torch.Tensor | None,
        multimask: bool,
        best_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Masks at the original size, predicted IoUs, low-resolution logits; with
        ``best_only`` only the best-scored candidate of each prompt is upscaled (a click's three
        candidates cost three full-size upscales otherwise), and masks holds just that one."""
        import torch

        low_res, iou = self._decode_low_res(points, labels, boxes, mask_input, multimask)
        emb = self.embedding
        assert emb is not None
        with torch.inference_mode():
            if best_only and low_res.shape[1] > 1:
                pick = iou.argmax(dim=1)
                rows = torch.arange(len(pick), device=pick.device)
                masks = self.postprocess(low_res[rows, pick][:, None], emb.input_size, emb.original_size)
                masks = masks.expand(-1, low_res.shape[1], -1, -1)  # every index: the best one
            else:
                masks = self.postprocess(low_res, emb.input_size, emb.original_size)
        return masks, iou, low_res

    def _decode_low_res(
        self,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        boxes: np.ndarray | None,
        mask_input: torch.Tensor | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The prompt encoder and mask decoder on the current embedding: low-resolution logits
        and predicted IoUs (:meth:`postprocess` brings the logits to the image size)."""
        import torch

        if self.embedding is None:
            raise RuntimeError("call set_image() before predict()")
        emb = self.embedding
        dev = self.device
        if dev == "cpu":
            n = self.decoder_threads
            torch.set_num_threads(decoder_threads_now(self.threads) if n == "auto" else (n or self.threads))
        pts = None
        if points is not None:
            coords = self.transform.apply_coords(np.asarray(points, dtype=np.float32), emb.original_size)
            pts = (
                torch.as_tensor(coords, dtype=torch.float32, device=dev),
                torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=dev),
            )
        bx = None
        if boxes is not None:
            b = self.transform.apply_boxes(np.asarray(boxes, dtype=np.float32).reshape(-1, 4), emb.original_size)
            bx = torch.as_tensor(b, dtype=torch.float32, device=dev)
        with torch.inference_mode():
            if self.sam2:
                low_res, iou = sam_family.sam2_decode(self.model, emb.features, pts, bx, mask_input, multimask)
            else:
                sparse, dense = self.model.prompt_encoder(points=pts, boxes=bx, masks=mask_input)
                decoder = self.model.mask_decoder
                decoder._labeler_side = emb.decoder_side  # used when it matches (no mask input)
                try:
                    low_res, iou = decoder(
                        image_embeddings=emb.features,
                        image_pe=self._dense_pe(),
                        sparse_prompt_embeddings=sparse,
                        dense_prompt_embeddings=dense,
                        multimask_output=multimask,
                    )
                finally:
                    decoder._labeler_side = None
        return low_res, iou

    def _dense_pe(self) -> torch.Tensor:
        """The prompt encoder's positional encoding of the embedding grid: the same for every
        image and prompt (it depends on the weights alone), so computed once, not per call."""
        if self._pe_cache is None:
            self._pe_cache = self.model.prompt_encoder.get_dense_pe()
        return self._pe_cache

    def predict(
        self,
        points: Sequence[Sequence[float]] | None = None,
        labels: Sequence[int] | None = None,
        box: Sequence[float] | None = None,
        multimask: bool | None = None,
        refine: bool = False,
    ) -> tuple[np.ndarray, float]:
        """One mask for clicks (``labels``: 1 foreground, 0 background) and/or one box.

        With ``multimask`` the best of SAM's three candidates is returned; by default it is used
        for a single click (ambiguous), as SAM recommends, for the official models.
        ``refine`` feeds the previous prediction back as a mask prompt.
        Returns ((H, W) bool mask, predicted IoU).
        """
        if points is None and box is None:
            raise ValueError("give points, a box or both")
        if multimask is None:
            multimask = self.multimask_single_click and box is None and len(points or []) == 1
        pts = lab = None
        if points is not None:
            pts = np.asarray(points, dtype=np.float32).reshape(1, -1, 2)
            lab = np.asarray(labels if labels is not None else [1] * pts.shape[1]).reshape(1, -1)
        mask_in = self.last_logits if refine else None
        masks, iou, low_res = self._decode(pts, lab, None if box is None else np.asarray(box), mask_in, multimask,
                                           best_only=True)
        best = int(iou[0].argmax())
        self.last_logits = low_res[:, best : best + 1]
        mask = (masks[0, best] > self.model.mask_threshold).cpu().numpy()
        return mask, float(iou[0, best])

    def decode(
        self,
        embedding: Embedding,
        points: Sequence[Sequence[float]] | None = None,
        labels: Sequence[int] | None = None,
        box: Sequence[float] | None = None,
        multimask: bool | None = None,
        refine: bool = False,
    ) -> tuple[np.ndarray, float]:
        """:meth:`predict` on ``embedding`` (from :meth:`encode`): the decoder alone. It becomes
        the session's current embedding (``refine`` only refines a mask of the same one)."""
        if self.embedding is not embedding:
            self.embedding, self.last_logits = embedding, None
        return self.predict(points=points, labels=labels, box=box, multimask=multimask, refine=refine)

    def predict_boxes(self, boxes: np.ndarray | Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
        """One mask per (x1, y1, x2, y2) box, all in one decoder call: ((N, H, W) bool, (N,) IoU)."""
        return self.box_masks(self.decode_boxes(boxes))

    def decode_boxes(self, boxes: np.ndarray | Sequence[Sequence[float]]) -> BoxLogits:
        """The decoder's part of :meth:`predict_boxes` on the current embedding: low-resolution
        logits of every box (:meth:`box_masks` makes the masks; it needs no model state, so a
        pipelined run does it outside the model's thread)."""
        b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if self.embedding is None:
            raise RuntimeError("call set_image() before predict_boxes()")
        emb = self.embedding
        h, w = emb.original_size
        logits = BoxLogits([], emb.input_size, emb.original_size, len(b))
        if len(b) == 0:
            return logits
        # A few boxes per decoder call: each box costs its own copy of the image embedding and
        # two full-size float masks, and tensors over 32 MB come as fresh pages from the OS on
        # every call (see keep_freed_memory). The results match one call for all (to float
        # rounding: a pixel or two in ten million can flip at the threshold).
        feats = emb.features
        side = self.side
        if isinstance(feats, dict):  # SAM 2: the embedding, plus full-size maps from the finest level
            per_box = 4 * max(int(feats["image_embed"][0].numel()), side * side, h * w)
            per_box += 4 * sum(int(f[0].numel()) for f in feats["high_res_feats"])
        else:
            per_box = 4 * max(int(feats[0].numel()), side * side, h * w)
        step = max(1, DECODER_CHUNK_BYTES // per_box)
        for i in range(0, len(b), step):
            low_res, iou = self._decode_low_res(None, None, b[i : i + step], None, multimask=False)
            # a compact copy: the decoder's output is a view of all its candidates' logits
            logits.chunks.append((low_res[:, :1].contiguous(), iou[:, 0].float()))
        return logits

    def box_masks(self, logits: BoxLogits) -> tuple[np.ndarray, np.ndarray]:
        """The masks of :meth:`decode_boxes`' logits, upscaled to the image and thresholded:
        ((N, H, W) bool, (N,) IoU). Thread-safe (uses no session state that changes)."""
        import torch

        h, w = logits.original_size
        out = np.zeros((logits.count, h, w), dtype=bool)
        scores = np.zeros((logits.count,), dtype=np.float32)
        i = 0
        with torch.inference_mode():
            for low_res, iou in logits.chunks:
                n = len(low_res)
                masks = self.postprocess(low_res, logits.input_size, logits.original_size)
                out[i : i + n] = (masks[:, 0] > self.model.mask_threshold).cpu().numpy()
                scores[i : i + n] = iou.cpu().numpy()
                i += n
        return out, scores


# -- the autolabeler -------------------------------------------------------------------------
def _drop_duplicates_impl(keep: list[int], masks: np.ndarray, names: np.ndarray, scores: np.ndarray, share: float) -> list[int]:
    """Indices in ``keep`` minus masks lying mostly (``share``) inside a better one of the same class."""
    if share >= 1.0 or len(keep) < 2:
        return list(keep)
    order = sorted(keep, key=lambda i: -float(scores[i]))
    areas = {i: int(masks[i].sum()) for i in keep}
    chosen: list[int] = []
    for i in order:
        if any(
            names[j] == names[i]
            and np.logical_and(masks[i], masks[j]).sum() >= share * min(areas[i], areas[j])
            for j in chosen
        ):
            continue
        chosen.append(i)
    return sorted(chosen)


def prompt_boxes(sample: Sample, use_annotation: bool = True, dedupe_iou: float = 0.85) -> Predictions:
    """The box prompts of a sample: the previous stage's boxes, then the annotation's rectangles
    (skipping a rectangle that repeats a previous-stage box)."""
    from labeler.geometry import box_iou

    xyxy: list[list[float]] = []
    names: list[str] = []
    conf: list[float] = []
    if sample.prompts is not None:
        for i in range(len(sample.prompts)):
            xyxy.append([float(v) for v in sample.prompts.xyxy[i]])
            names.append(str(sample.prompts.class_name[i]))
            conf.append(float(sample.prompts.confidence[i]))
    n_prev = len(xyxy)
    if use_annotation:
        for shape in sample.annotation.shapes:
            if shape.shape_type != "rectangle" or shape.review == "rejected" or len(shape.points) < 2:
                continue
            try:
                box = list(shape.bbox())
            except ValueError:
                continue
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                continue
            if any(names[j] == shape.label and box_iou(box, xyxy[j]) >= dedupe_iou for j in range(n_prev)):
                continue
            xyxy.append(box)
            names.append(shape.label)
            conf.append(shape.score if shape.score is not None else 1.0)
    return Predictions(xyxy=np.asarray(xyxy, dtype=np.float32).reshape(-1, 4), class_name=names, confidence=conf)


class SamAutolabeler(Autolabeler):
    """Masks for every box prompt: the annotation's rectangles and a previous stage's boxes."""

    name: ClassVar[str] = "sam"
    description: ClassVar[str] = "Segment Anything: boxes -> masks/polygons (vit_b/l/h or a reduced checkpoint)"
    Options: ClassVar[type[BaseModel]] = SamOptions
    requires: ClassVar[tuple[str, ...]] = ("segment_anything", "torch", "cv2")
    extra: ClassVar[str | None] = "sam"
    shape_output: ClassVar[str] = "polygon"

    options: SamOptions

    def __init__(self, options: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.session: SamSession | None = None
        self._checkpoint: Path | None = None

    def checkpoint_path(self) -> Path:
        """The checkpoint file (resolved and downloaded if needed; clear error when missing)."""
        if self._checkpoint is None:
            from labeler.weights import resolve_weights

            name = self.options.checkpoint
            if name is None:
                kind = self.options.model_type
                if kind == "sample_tiny":
                    raise UsageError("model_type sample_tiny needs -o checkpoint PATH (see sample_data/models/)")
                name = CHECKPOINTS["vit_b" if kind == "auto" else kind]
            self._checkpoint = resolve_weights(name, option="checkpoint")
        return self._checkpoint

    def source(self) -> Source:
        from labeler.weights import file_sha256

        path = self.checkpoint_path()
        return Source(plugin=self.name, model=path.name, model_version=file_sha256(path)[:12])

    def setup(self) -> None:
        if self.session is not None:
            return
        self.ensure_requirements()
        path = self.checkpoint_path()
        self.session = SamSession.from_checkpoint(
            path, self.options.model_type, device=self.options.device,
            precision=self.options.precision, cache_size=max(self.options.cache_size, self.options.batch),
            threads=self.options.threads, encoder=self.options.encoder,
        )

    def output_kind(self) -> str:
        return self.options.output

    def config_key(self) -> str:
        from labeler_plugins.yolo import results_key

        return results_key(self.options, self.source())

    # predict() is split (Autolabeler.stages_apart): prepare in the engine's reader thread,
    # infer (encoder and mask decoder) in the model's thread, finish (masks upscaled to the
    # image, polygons, duplicates) in its finisher thread.
    def prepare(self, sample: Sample) -> PreparedImage:
        """The image resized for the encoder and its cache key (no model involved)."""
        self.setup()
        assert self.session is not None
        return self.session.prepare_image(sample.image)

    def infer(self, batch: Sequence[Sample]) -> list[SamAnswer | None]:
        """Encoder and mask decoder: per image its prompts and their low-resolution masks
        (None when it has no prompt: nothing is encoded)."""
        self.setup()
        assert self.session is not None
        ready = [s.prepared if s.prepared is not None else self.prepare(s) for s in batch]
        prompts = [prompt_boxes(s, self.options.annotation_boxes) for s in batch]
        gpu_batch = len(batch) > 1 and self.session.device != "cpu"
        if self.options.batch > 1 or gpu_batch:
            # One encoder forward for the batch's images that have prompts (a GPU's gain).
            size = self.options.batch if self.options.batch > 1 else self.session.cache.maxsize
            self.session.prefetch_prepared([r for r, p in zip(ready, prompts, strict=True) if len(p)], size)
        answers: list[SamAnswer | None] = []
        for image, boxes in zip(ready, prompts, strict=True):
            if len(boxes) == 0:
                answers.append(None)
                continue
            self.session.set_prepared(image)
            answers.append(SamAnswer(boxes, self.session.decode_boxes(boxes.xyxy)))
        return answers

    def _drop_duplicates(self, keep: list[int], masks: np.ndarray, prompts: Predictions) -> list[int]:
        return _drop_duplicates_impl(keep, masks, prompts.class_name, prompts.confidence, self.options.overlap_drop)

    def predict_one(self, sample: Sample) -> Predictions:
        """Masks for one sample's prompts (no encoding at all when it has none)."""
        return self.predict([sample])[0]

    def finish(self, sample: Sample, raw: SamAnswer | None) -> Predictions:
        """Masks at the image size, then polygons, boxes and duplicates dropped."""
        from labeler.masks import mask_bbox, mask_to_polygons

        assert self.session is not None
        if raw is None:
            return Predictions.empty()
        prompts = raw.prompts
        masks, iou = self.session.box_masks(raw.logits)
        keep: list[int] = []
        polygon_of: dict[int, np.ndarray] = {}
        boxes = prompts.xyxy.copy()
        for i, m in enumerate(masks):
            if int(m.sum()) < max(1, self.options.min_area):
                continue
            box = mask_bbox(m)  # not empty: at least min_area pixels
            if self.options.output == "polygon":
                polys = mask_to_polygons(m, tolerance=self.options.tolerance, min_area=float(self.options.min_area),
                                         limit=1, box=box)
                if not polys:
                    continue
                polygon_of[i] = polys[0]  # the largest part
            boxes[i] = box
            keep.append(i)
        keep = self._drop_duplicates(keep, masks, prompts)
        polygons = [polygon_of[i] for i in keep] if self.options.output == "polygon" else []
        idx = np.asarray(keep, dtype=int)
        # A previous stage's score is the detection confidence; SAM's predicted IoU is kept aside.
        return Predictions(
            xyxy=boxes[idx],
            class_name=prompts.class_name[idx],
            confidence=prompts.confidence[idx],
            polygons=polygons if self.options.output == "polygon" else None,
            masks=masks[idx] if self.options.output == "mask" else None,
            data={"sam_iou": iou[idx]},
        )


@dataclass
class SamAnswer:
    """:meth:`SamAutolabeler.infer`'s answer for one image, for its ``finish``."""

    #: The box prompts (previous stage's boxes and the annotation's rectangles).
    prompts: Predictions
    #: Their masks before upscaling.
    logits: BoxLogits


@hookimpl
def register_autolabelers(register: Callable[[type[Autolabeler]], None]) -> None:
    """Provide the ``sam`` autolabeler."""
    register(SamAutolabeler)


class SamSegmenter:
    """The GUI's Segment Anything tool: a :class:`SamSession` on a checkpoint."""

    name = "sam"
    #: The model types the GUI offers (each from its official file, see labeler.weights).
    models = ("vit_b", "vit_l", "vit_h", "mobile_sam", "sam2.1_t", "sam2.1_s", "sam2.1_b", "sam2.1_l")

    def open(self, checkpoint: Path | None, model: str | None = None) -> SamSession:
        """A session on ``checkpoint``, else on the official file of ``model`` (default: the
        ``sam`` autolabeler's default, vit_b); a missing file is one :class:`MissingWeightsError`
        naming it and the folders it is looked up in."""
        if checkpoint is not None:
            return SamSession.from_checkpoint(checkpoint, model or "auto")
        plugin = SamAutolabeler({"model_type": model} if model else None)
        try:
            plugin.setup()  # resolves the default checkpoint; raises a clear error when missing
        except MissingWeightsError as err:  # in the GUI, a file is given by environment, not -o
            raise MissingWeightsError(str(err).replace(
                "or pass its path with -o checkpoint PATH",
                "or set $LABELER_SAM_CHECKPOINT to its path")) from None
        assert plugin.session is not None
        return plugin.session


@hookimpl
def register_segmenters(register: Callable[[Any], None]) -> None:
    """Provide the ``sam`` segmenter for the GUI."""
    register(SamSegmenter())

