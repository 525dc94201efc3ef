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


def _sam_layout_decoder() -> tuple[torch.nn.Module, torch.nn.Module]:
    """SAM's own decoder and prompt encoder layout (256 channels, 8 heads, 64 x 64 tokens; the
    same for vit_b/l/h and MobileSAM), random weights: 8 heads x 7 tokens of a box take the
    low-rank attentions, which the small SAM's 2 heads reach at other token counts."""
    from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    torch.manual_seed(4)
    prompt = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024),
                           mask_in_chans=16).eval()
    decoder = MaskDecoder(num_multimask_outputs=3, transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256,
                          transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8)).eval()
    with torch.no_grad():
        for p in list(decoder.parameters()) + list(prompt.parameters()):
            p.add_(torch.randn_like(p) * 0.05)
    return prompt, decoder


@pytest.mark.parametrize("prompt", ["boxes", "one click", "twelve clicks"])
def test_sam_sized_decoder_matches_the_reference(prompt: str) -> None:
    """At SAM's size: boxes and a click take the low-rank layers, twelve clicks (18 tokens x 8
    heads > 128 projection channels) the reference's layers; masks, IoUs and the thresholded
    masks are the reference's to float rounding, with and without multimask."""
    prompt_encoder, reference = _sam_layout_decoder()
    fast = copy.deepcopy(reference)
    assert sam_decoder.install_fast_decoder(fast)
    gen = torch.Generator().manual_seed(6)
    boxes = points = None
    if prompt == "boxes":
        boxes = torch.rand(3, 2, 2, generator=gen).sort(dim=1).values.reshape(3, 4) * 1024
    else:
        k = 1 if prompt == "one click" else 12
        points = (torch.rand(1, k, 2, generator=gen) * 1024, torch.randint(0, 2, (1, k), generator=gen))
    emb = torch.randn(1, 256, 64, 64, generator=gen)
    calls: list[int] = []
    original = sam_decoder._layer_low_rank
    sam_decoder._layer_low_rank = lambda *a: calls.append(1) or original(*a)
    try:
        with torch.inference_mode():
            sparse, dense = prompt_encoder(points=points, boxes=boxes, masks=None)
            pe = prompt_encoder.get_dense_pe()
            side = sam_decoder.image_side(fast, emb, pe, dense)
            for multimask in (False, True):
                fast._labeler_side = side
                a = fast(emb, pe, sparse, dense, multimask_output=multimask)
                b = reference(emb, pe, sparse, dense, multimask_output=multimask)
                for x, y in zip(a, b, strict=True):
                    assert x.shape == y.shape
                    torch.testing.assert_close(x, y, atol=2e-5, rtol=1e-4)
                flipped = ((a[0] > 0) != (b[0] > 0)).float().mean().item()
                assert flipped < 1e-5  # a pixel at the threshold, at most
    finally:
        sam_decoder._layer_low_rank = original
    assert calls == ([] if prompt == "twelve clicks" else [1, 1])
    assert a[0].shape[1] == 3 and not torch.allclose(a[0][:, 0], a[0][:, 1])  # three different candidates


def test_low_rank_attentions_are_the_attention_modules() -> None:
    """_token_to_image and _image_to_token (pe projections per image, the shared queries, the
    in-place residual) against the decoder's own Attention modules on the same tokens."""
    _, decoder = _sam_layout_decoder()
    block = decoder.transformer.layers[1]
    gen = torch.Generator().manual_seed(7)
    b, n, hw, c = 3, 7, 96, 256
    q = torch.randn(b, n, c, generator=gen)
    v = torch.randn(b, n, c, generator=gen)
    keys = torch.randn(b, hw, c, generator=gen)
    shared = torch.randn(1, hw, c, generator=gen)
    key_pe = torch.randn(1, hw, c, generator=gen)
    t2i, i2t = block.cross_attn_token_to_image, block.cross_attn_image_to_token
    assert sam_decoder.low_rank_fits(t2i, n) and not sam_decoder.low_rank_fits(t2i, 17)
    with torch.inference_mode():
        want = t2i(q=q, k=keys + key_pe, v=keys)
        got = sam_decoder._token_to_image(t2i, q, keys, sam_decoder._pe_heads(t2i, t2i.k_proj, key_pe))
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        want = keys + i2t(q=keys + key_pe, k=q, v=v)
        pe_q = sam_decoder._pe_heads(i2t, i2t.q_proj, key_pe)
        got = sam_decoder._image_to_token(i2t, keys.clone(), q, v, pe_q=pe_q)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        owned = keys.clone()
        got = sam_decoder._image_to_token(i2t, owned, q, v, pe_q=pe_q, in_place=True)
        assert got.data_ptr() == owned.data_ptr()
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        want = shared + i2t(q=shared + key_pe, k=q, v=v)  # the image's own tokens, one for all prompts
        qi = i2t.q_proj(shared + key_pe)[0]
        qih = qi.reshape(hw, i2t.num_heads, -1).transpose(0, 1)
        got = sam_decoder._image_to_token(i2t, shared, q, v, qih=qih)
        assert got.shape == (b, hw, c)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_only_the_kept_masks_are_made() -> None:
    """forward: the single-mask output upscales one mask per prompt, the same as the first of all four."""
    model, reference, fast = _decoders()
    boxes = torch.tensor([[1.0, 2, 30, 40], [10, 10, 60, 50]])
    emb = torch.randn(1, 32, 8, 8, generator=torch.Generator().manual_seed(8))
    sizes: list[int] = []
    original = sam_decoder.upscale_masks
    sam_decoder.upscale_masks = lambda up, keys, h, w, hyper: sizes.append(hyper.shape[1]) or original(up, keys, h, w, hyper)
    try:
        with torch.inference_mode():
            sparse, dense = model.prompt_encoder(points=None, boxes=boxes, masks=None)
            pe = model.prompt_encoder.get_dense_pe()
            one, iou_one = fast(emb, pe, sparse, dense, multimask_output=False)
            three, _ = fast(emb, pe, sparse, dense, multimask_output=True)
            every, iou = fast.predict_masks(emb, pe, sparse, dense)
    finally:
        sam_decoder.upscale_masks = original
    assert sizes == [1, 3, 4]
    assert one.shape == (2, 1, 32, 32) and three.shape == (2, 3, 32, 32)
    torch.testing.assert_close(one, every[:, :1], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(three, every[:, 1:], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(iou_one, iou[:, :1])


def test_upscaling_in_bands_is_the_upscaling_in_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """upscale_masks a few token rows at a time (bands of 2, 2 and 1 rows) = the reference upscaling."""
    model = small_sam()
    dec = model.mask_decoder
    gen = torch.Generator().manual_seed(9)
    b, h, w, c = 2, 5, 3, dec.transformer_dim
    keys = torch.randn(b, h * w, c, generator=gen)
    hyper = torch.randn(b, 2, dec.output_upscaling[3].out_channels, generator=gen)
    monkeypatch.setattr(sam_decoder, "UPSCALE_ROWS", 2)
    with torch.inference_mode():
        up = dec.output_upscaling(keys.transpose(1, 2).reshape(b, c, h, w))
        want = (hyper @ up.flatten(2)).view(b, 2, 4 * h, 4 * w)
        got = sam_decoder.upscale_masks(dec.output_upscaling, keys, h, w, hyper)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_the_positional_side_is_shared_by_images_until_the_weights_change() -> None:
    """image_side's positional-encoding part (the same for every image) is computed once per
    decoder, again for another encoding tensor or after the projections' weights change; the
    masks stay the reference's either way."""
    model, reference, fast = _decoders()
    gen = torch.Generator().manual_seed(10)
    boxes = torch.tensor([[1.0, 2, 30, 40], [10, 10, 60, 50]])
    with torch.inference_mode():
        sparse, dense = model.prompt_encoder(points=None, boxes=boxes, masks=None)
        pe = model.prompt_encoder.get_dense_pe()
        one = sam_decoder.image_side(fast, torch.randn(1, 32, 8, 8, generator=gen), pe, dense)
        emb = torch.randn(1, 32, 8, 8, generator=gen)
        two = sam_decoder.image_side(fast, emb, pe, dense)
        assert two.pe_k_final is one.pe_k_final and two.key_pe is one.key_pe
        assert sam_decoder.image_side(fast, emb, pe.clone(), dense).pe_k_final is not one.pe_k_final
    with torch.no_grad():
        for attn in (fast.transformer.final_attn_token_to_image, reference.transformer.final_attn_token_to_image):
            attn.k_proj.weight.mul_(1.5)
    with torch.inference_mode():
        three = sam_decoder.image_side(fast, emb, pe, dense)
        assert three.pe_k_final is not two.pe_k_final
        fast._labeler_side = three
        a = fast(emb, pe, sparse, dense, multimask_output=False)
        b = reference(emb, pe, sparse, dense, multimask_output=False)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)
