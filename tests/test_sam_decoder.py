"""The fast SAM mask decoder (plugins/sam_decoder.py) against segment-anything's own."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("segment_anything")
torch = pytest.importorskip("torch")

from labeler_plugins import sam as samplug  # noqa: E402
from labeler_plugins import sam_decoder  # noqa: E402

#: A small SAM (16-dim decoder, 2 heads) so that the test runs in a second.
SMALL = {
    "img_size": 64, "patch_size": 8, "encoder_embed_dim": 32, "encoder_depth": 2,
    "encoder_num_heads": 4, "encoder_window_size": 4, "encoder_global_attn_indexes": [1],
    "prompt_embed_dim": 32,
}


def small_sam() -> torch.nn.Module:
    """The small SAM with random decoder weights (shared with tests/test_sam_click.py)."""
    torch.manual_seed(0)
    model = samplug.build_sam_from_config(SMALL).eval()
    with torch.no_grad():  # random, not SAM's zero-initialised, tokens and biases
        for p in model.mask_decoder.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def _decoders() -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    model = small_sam()
    fast = copy.deepcopy(model.mask_decoder)
    assert sam_decoder.install_fast_decoder(fast)
    assert not sam_decoder.install_fast_decoder(fast)  # once
    return model, model.mask_decoder, fast


@pytest.mark.parametrize("prompt", ["boxes", "points", "boxes+points", "one box"])
def test_fast_decoder_matches_the_reference(prompt: str) -> None:
    model, reference, fast = _decoders()
    gen = torch.Generator().manual_seed(1)
    n = 1 if prompt == "one box" else 6
    boxes = torch.rand(n, 2, 2, generator=gen).sort(dim=1).values.reshape(n, 4) * 64
    points = (torch.rand(n, 3, 2, generator=gen) * 64, torch.randint(0, 2, (n, 3), generator=gen))
    emb = torch.randn(1, 32, 8, 8, generator=gen)
    with torch.inference_mode():
        sparse, dense = model.prompt_encoder(points=None if prompt in ("boxes", "one box") else points,
                                             boxes=None if prompt == "points" else boxes, masks=None)
        pe = model.prompt_encoder.get_dense_pe()
        for multimask in (False, True):
            a = fast(emb, pe, sparse, dense, multimask_output=multimask)
            b = reference(emb, pe, sparse, dense, multimask_output=multimask)
            for x, y in zip(a, b, strict=True):
                assert x.shape == y.shape
                torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)
    masks = a[0]
    assert masks.shape[0] == n and (n == 1 or not torch.allclose(masks[0], masks[1]))  # per prompt


def test_a_mask_input_takes_the_reference_path() -> None:
    model, reference, fast = _decoders()
    gen = torch.Generator().manual_seed(2)
    emb = torch.randn(1, 32, 8, 8, generator=gen)
    masks_in = torch.randn(3, 1, 32, 32, generator=gen)  # 4x the embedding, as SAM takes them
    boxes = torch.tensor([[1.0, 2, 30, 40], [10, 10, 60, 50], [0, 0, 64, 64]])
    calls = []
    original = sam_decoder._first_layer_shared
    sam_decoder._first_layer_shared = lambda *a: calls.append(1) or original(*a)
    try:
        with torch.inference_mode():
            sparse, dense = model.prompt_encoder(points=None, boxes=boxes, masks=masks_in)
            pe = model.prompt_encoder.get_dense_pe()
            a = fast(emb, pe, sparse, dense, multimask_output=False)
            b = reference(emb, pe, sparse, dense, multimask_output=False)
            assert calls == []  # dense embeddings differ per prompt: the reference path
            sparse, dense = model.prompt_encoder(points=None, boxes=boxes, masks=None)
            fast(emb, pe, sparse, dense, multimask_output=False)
            assert calls == [1]
    finally:
        sam_decoder._first_layer_shared = original
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)


def test_session_boxes_give_the_reference_masks() -> None:
    model = small_sam()
    fast = samplug.SamSession(copy.deepcopy(model), device="cpu")
    reference = samplug.SamSession(model, device="cpu", encoder="reference")
    assert getattr(fast.model.mask_decoder, "_labeler_fast", False)
    assert not getattr(reference.model.mask_decoder, "_labeler_fast", False)
    image = np.random.default_rng(3).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    fast.set_image(image)
    reference.set_image(image)
    boxes = [[2, 2, 30, 40], [20, 5, 60, 45], [0, 0, 64, 48], [10, 10, 20, 20]]
    (a, sa), (b, sb) = fast.predict_boxes(boxes), reference.predict_boxes(boxes)
    np.testing.assert_allclose(sa, sb, atol=1e-5)
    for x, y in zip(a, b, strict=True):
        union = np.logical_or(x, y).sum()
        assert union == 0 or np.logical_and(x, y).sum() / union >= 0.99


def test_sam2_decoder_is_left_alone() -> None:
    pytest.importorskip("ultralytics")
    model = samplug.build_sam("sam2.1_t")
    assert not sam_decoder.install_fast_decoder(model.sam_mask_decoder)


def test_channels_last_upscaling_is_the_reference_upscaling() -> None:
    """upscale_masks (matrix products, channels-last) = output_upscaling then the mask product."""
    model = small_sam()
    dec = model.mask_decoder
    assert sam_decoder._is_stock_upscaling(dec.output_upscaling)
    gen = torch.Generator().manual_seed(5)
    b, h, w, c = 3, 5, 7, dec.transformer_dim
    keys = torch.randn(b, h * w, c, generator=gen)
    hyper = torch.randn(b, 4, dec.output_upscaling[3].out_channels, generator=gen)
    with torch.inference_mode():
        up = dec.output_upscaling(keys.transpose(1, 2).reshape(b, c, h, w))
        want = (hyper @ up.flatten(2)).view(b, 4, 4 * h, 4 * w)
        got = sam_decoder.upscale_masks(dec.output_upscaling, keys, h, w, hyper)
    assert got.shape == want.shape == (b, 4, 4 * h, 4 * w)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
