"""A Segment Anything click in the GUI's path, kept cheap: the decoder's image-only work done at
encoding time, the mask upscaled only where its crop keeps it, the largest polygon alone, and an
encoding that lets a click in between its layers. Every result is the one without the shortcut."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

pytest.importorskip("segment_anything")
torch = pytest.importorskip("torch")

from labeler_plugins import sam as samplug  # noqa: E402

from labeler.masks import mask_to_polygons  # noqa: E402
from tests.test_sam_decoder import SMALL, small_sam  # noqa: E402  (its decoder has the stock layout)


def _session() -> samplug.SamSession:
    session = samplug.SamSession(small_sam(), device="cpu", threads=1)
    session.multimask_single_click = True  # a lone click picks the best of three
    return session


def _image() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 255, (48, 64, 3), dtype=np.uint8)


def test_a_click_reuses_the_image_side_computed_with_the_embedding() -> None:
    session = _session()
    emb = session.encode(_image())
    assert emb.decoder_side is not None  # computed at encoding time
    k_proj = session.model.mask_decoder.transformer.layers[0].cross_attn_token_to_image.k_proj
    calls: list[int] = []
    k_proj.register_forward_hook(lambda *_: calls.append(1))
    prompts = [{"points": [(20, 30)], "labels": [1]}, {"box": (5, 5, 40, 30)},
               {"points": [(20, 30), (50, 10)], "labels": [1, 0], "box": (5, 5, 60, 40)}]
    with_side = [session.decode(emb, **kw) for kw in prompts]
    assert calls == []  # the clicks never projected the image tokens
    bare = dataclasses.replace(emb, decoder_side=None)
    without = [session.decode(bare, **kw) for kw in prompts]
    assert len(calls) == len(prompts)  # computed per click without it
    for (a, sa), (b, sb) in zip(with_side, without, strict=True):
        assert np.array_equal(a, b) and sa == sb  # the same mask, the same score
    # A mask input (refine) has another image side: computed for that click, as before.
    n = len(calls)
    session.decode(emb, points=[(20, 30)], labels=[1])
    a, _ = session.decode(emb, points=[(20, 30)], labels=[1], refine=True)
    assert len(calls) == n + 1  # the refining click only
    session.decode(bare, points=[(20, 30)], labels=[1])
    b, _ = session.decode(bare, points=[(20, 30)], labels=[1], refine=True)
    assert np.array_equal(a, b)


@pytest.mark.parametrize(("input_size", "original"), [((768, 1024), (810, 1080)), ((576, 1024), (720, 1280)),
                                                      ((1024, 1024), (500, 500)), ((1024, 3), (3000, 9)),
                                                      ((1023, 1021), (1023, 1021))])
def test_the_mask_is_upscaled_only_where_the_crop_keeps_it_with_the_same_values(
        input_size: tuple[int, int], original: tuple[int, int]) -> None:
    import torch.nn.functional as F  # noqa: N812

    session = samplug.SamSession(samplug.build_sam_from_config(SMALL), device="cpu")
    session.side = 1024  # SAM's encoder input, 256 x 256 low-resolution masks
    low = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    full = F.interpolate(low, (1024, 1024), mode="bilinear", align_corners=False)
    ref = F.interpolate(full[..., : input_size[0], : input_size[1]], original, mode="bilinear", align_corners=False)
    assert torch.equal(session.postprocess(low, input_size, original), ref)


def test_the_click_polygon_is_the_largest_contour_simplified_alone() -> None:
    mask = np.zeros((80, 120), dtype=bool)
    mask[5:25, 5:30] = True  # 500 px
    mask[40:75, 50:110] = True  # the largest
    mask[10:20, 80:90] = True
    mask[60:62, 5:7] = True  # under min_area
    every = mask_to_polygons(mask, tolerance=1.0, min_area=4.0)
    assert len(every) == 3
    for n in (1, 2, 3, 5):
        got = mask_to_polygons(mask, tolerance=1.0, min_area=4.0, limit=n)
        assert len(got) == min(n, 3) and all(np.array_equal(a, b) for a, b in zip(got, every, strict=False))
    from labeler.gui.sam import mask_to_polygon

    assert mask_to_polygon(mask) == [(round(float(x), 2), round(float(y), 2)) for x, y in every[0]]


def test_a_click_between_encoder_layers_gets_the_same_mask_and_the_encoding_goes_on() -> None:
    session = _session()
    first, second = _image(), _image()[::-1].copy()
    emb = session.encode(first)
    alone_mask, alone_score = session.decode(emb, points=[(20, 30)], labels=[1])
    ref = session.encode(second)  # the next image, encoded with nothing in between
    answered: list[tuple[np.ndarray, float, int]] = []

    def between() -> None:  # a click arrives while the next image is encoded
        if not answered:
            torch.set_num_threads(2)  # the decoder may set its own threads...
            m, s = session.decode(emb, points=[(20, 30)], labels=[1])
            answered.append((m, s, threading.get_ident()))

    session.between_layers = between
    torch.set_num_threads(1)
    nxt = session.encode(second)
    assert torch.get_num_threads() == 1  # ...the encoder's come back after the pause
    session.between_layers = None
    assert len(answered) == 1 and answered[0][2] == threading.get_ident()
    assert np.array_equal(answered[0][0], alone_mask) and answered[0][1] == alone_score
    assert torch.equal(nxt.features, ref.features)  # the encoding went on unchanged


def test_the_fast_encoder_pauses_before_each_linear_layer_and_only_while_it_encodes() -> None:
    from labeler_plugins.sam_encoder import between_steps

    session = _session()
    calls: list[int] = []
    session.between_layers = lambda: calls.append(1)
    ref = session.encode(_image())
    blocks = session.model.image_encoder.blocks
    assert all(getattr(b, "forward", None).__func__.__name__ == "fast_block_forward" for b in blocks)
    # Each block: at least its four linear layers (qkv, proj, lin1, lin2), beyond the modules
    # the encoder calls.
    called: list[int] = []
    for m in session.model.image_encoder.modules():
        m.register_forward_pre_hook(lambda *_: called.append(1))
    session.between_layers = None
    session.encode(_image())
    assert len(calls) >= len(called) + 4 * len(blocks)
    session.between_layers = lambda: calls.append(1)
    assert between_steps.get() is None  # set for that encoding only
    session.between_layers = None
    n = len(calls)
    assert torch.equal(session.encode(_image()).features, ref.features) and len(calls) == n
