"""The fast SAM image-encoder forward (plugins/sam_encoder.py) against segment-anything's own."""

from __future__ import annotations

import copy
import types
from functools import partial
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("segment_anything")
torch = pytest.importorskip("torch")

from labeler_plugins import sam as samplug  # noqa: E402
from labeler_plugins import sam_encoder  # noqa: E402
from segment_anything.modeling.image_encoder import Block, ImageEncoderViT  # noqa: E402

#: A small encoder whose 10 x 10 token grid does not divide into its 4 x 4 windows (padding),
#: with a global block, as in vit_b.
PADDED = {
    "img_size": 80, "patch_size": 8, "encoder_embed_dim": 32, "encoder_depth": 3,
    "encoder_num_heads": 4, "encoder_window_size": 4, "encoder_global_attn_indexes": [1],
    "prompt_embed_dim": 16,
}


def _random_rel_pos(module: torch.nn.Module, std: float = 0.5) -> None:
    """segment-anything starts the relative positions at zero: make them matter."""
    torch.manual_seed(1)
    for name, p in module.named_parameters():
        if "rel_pos" in name:
            torch.nn.init.normal_(p, std=std)


def _encoder(config: dict) -> ImageEncoderViT:
    torch.manual_seed(0)
    enc = samplug.build_sam_from_config(config).image_encoder.eval()
    _random_rel_pos(enc)
    return enc


def _fast_copy(enc: ImageEncoderViT) -> ImageEncoderViT:
    fast = copy.deepcopy(enc)
    assert sam_encoder.install_fast_encoder(fast) == len(fast.blocks)
    return fast


def _mean_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().mean().detach())


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max().detach() / b.float().abs().max().detach())


@pytest.mark.parametrize("config", [PADDED, samplug.SAMPLE_TINY_CONFIG], ids=["padded-windows", "sample-tiny"])
def test_fast_encoder_matches_segment_anything_fp32(config: dict) -> None:
    enc = _encoder(config)
    fast = _fast_copy(enc)
    torch.manual_seed(2)
    x = torch.randn(2, 3, config["img_size"], config["img_size"])  # a batch of two images
    with torch.inference_mode():
        ref, out = enc(x), fast(x)
    assert out.shape == ref.shape
    assert _rel_err(out, ref) < 1e-5  # the fused kernel sums in another order: float rounding only
    one = fast(x[1:])  # each image of a batch gets what it gets alone
    assert _rel_err(one, ref[1:]) < 1e-5


def test_fast_encoder_bf16_is_as_close_as_segment_anythings_bf16() -> None:
    enc = _encoder(PADDED)
    fast = _fast_copy(enc).to(torch.bfloat16)
    stock16 = _encoder(PADDED).to(torch.bfloat16)
    torch.manual_seed(2)
    x = torch.randn(1, 3, 80, 80)
    with torch.inference_mode():
        ref = enc(x)
        out, stock = fast(x.bfloat16()), stock16(x.bfloat16())
    assert out.dtype == torch.bfloat16 and _rel_err(out, ref) < 0.05
    # bf16 rounding, not a different computation (10% off in one relative-position term: 1.7x)
    assert _mean_err(out, ref) < 1.25 * _mean_err(stock, ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("window", [14, 0], ids=["window-14", "global"])
def test_vit_b_block_matches_in_bands(dtype: torch.dtype, window: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """One vit_b-sized block (768 wide, 12 heads): 14-token windows over a 28 x 30 grid (padded),
    or global attention on a 24 x 24 grid; mask budgets that give several bands of heads, of
    query rows, and one band for everything."""
    torch.manual_seed(0)
    size = (28, 30) if window else (24, 24)
    block = Block(768, 12, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
                  window_size=window, input_size=(64, 64) if window == 0 else None).eval()
    _random_rel_pos(block)
    x = torch.randn(1, *size, 768)
    with torch.inference_mode():
        ref = block(x)
        block.to(dtype)
        stock = block(x.to(dtype))
        block.forward = types.MethodType(sam_encoder.fast_block_forward, block)
        for budget in (64 << 10, 1 << 20, 1 << 30):
            monkeypatch.setattr(sam_encoder, "MASK_CHUNK_BYTES", budget)
            out = block(x.to(dtype))
            if dtype == torch.float32:
                assert _rel_err(out, ref) < 1e-5, budget
            else:
                assert _mean_err(out, ref) < 1.25 * _mean_err(stock, ref), budget


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_explicit_attention_matches_in_bands(dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain-matmul attention (taken in bfloat16 on CPUs without AMX) gives the reference's
    block: in float32 to rounding, in bfloat16 as close as segment-anything's own bfloat16; with
    bands of several heads, of query rows that do not divide the grid (the last band shorter),
    and one band for everything."""
    torch.manual_seed(0)
    block = Block(768, 12, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
                  window_size=0, input_size=(64, 64)).eval()
    _random_rel_pos(block)
    x = torch.randn(1, 24, 24, 768)
    monkeypatch.setattr(sam_encoder, "explicit_attention", lambda q, keys: True)
    with torch.inference_mode():
        ref = block(x)
        block.to(dtype)
        stock = block(x.to(dtype))
        block.forward = types.MethodType(sam_encoder.fast_block_forward, block)
        size = torch.empty((), dtype=dtype).element_size()
        image_row, head = 24 * 576 * size, 576 * 576 * size  # the scores of one image row, one head
        for budget in (5 * image_row, 3 * head, 1 << 30):  # 5 of 24 rows, 3 of 12 heads, all
            monkeypatch.setattr(sam_encoder, "SCORE_CHUNK_BYTES", budget)
            out = block(x.to(dtype))
            if dtype == torch.float32:
                assert _rel_err(out, ref) < 1e-5, budget
            else:
                assert _mean_err(out, ref) < 1.25 * _mean_err(stock, ref), budget


def test_explicit_attention_is_for_bf16_global_maps_on_cpus_without_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sam_encoder, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(sam_encoder, "cpu_has_amx", lambda: False)
    q16 = torch.zeros(1, 12, 8, 64, dtype=torch.bfloat16)
    with torch.inference_mode():
        assert sam_encoder.explicit_attention(q16, 4096)
        assert not sam_encoder.explicit_attention(q16, 196)  # windows: the fused kernel is faster
        assert not sam_encoder.explicit_attention(q16.float(), 4096)  # fp32: the fused kernel
        monkeypatch.setattr(sam_encoder, "cpu_has_amx", lambda: True)
        assert not sam_encoder.explicit_attention(q16, 4096)  # AMX: the fused kernel
        monkeypatch.setattr(sam_encoder, "cpu_has_amx", lambda: False)
        monkeypatch.setattr(sam_encoder, "cpu_has_bf16", lambda: False)
        assert not sam_encoder.explicit_attention(q16, 4096)  # emulated bf16: as before


def test_install_is_once_and_leaves_other_blocks_alone() -> None:
    enc = _encoder(PADDED)
    assert sam_encoder.install_fast_encoder(enc) == 3
    assert sam_encoder.install_fast_encoder(enc) == 0

    class OtherMlp(torch.nn.Module):  # not segment-anything's MLP: the block keeps its forward
        def __init__(self) -> None:
            super().__init__()
            self.lin1, self.lin2, self.act = torch.nn.Linear(32, 64), torch.nn.Linear(64, 32), torch.nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin2(self.act(self.lin1(x)))

    other = _encoder(PADDED)
    other.blocks[0].mlp = OtherMlp()
    assert sam_encoder.install_fast_encoder(other) == 3
    assert "forward" not in other.blocks[0].__dict__  # its own forward, only the attention replaced
    assert "forward" in other.blocks[0].attn.__dict__
    assert "forward" in other.blocks[1].__dict__


@pytest.mark.parametrize("onednn", [False, True], ids=["fp32-mkl", "fp32-onednn"])
def test_fast_linear_fuses_gelu_and_residual(onednn: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sam_encoder, "fp32_linears_on_onednn", lambda: onednn)
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 48)
    x, res = torch.randn(5, 7, 64), torch.randn(5, 7, 48)
    with torch.inference_mode():
        ref_gelu = res + torch.nn.functional.gelu(layer(x))
        ref_plain = res + layer(x)
        gelu_out, plain_out = sam_encoder.linear(x, layer, gelu=True, residual=res), sam_encoder.linear(x, layer, residual=res)
        if onednn and sam_encoder.onednn_fuses(x, layer.weight):  # another library's sums: rounding only
            assert _rel_err(gelu_out, ref_gelu) < 1e-6 and _rel_err(plain_out, ref_plain) < 1e-6
        else:  # fp32 on MKL: the same ops
            assert torch.equal(gelu_out, ref_gelu) and torch.equal(plain_out, ref_plain)
        layer.to(torch.bfloat16)
        for gelu, ref in ((True, ref_gelu), (False, ref_plain)):
            out = sam_encoder.linear(x.bfloat16(), layer, gelu=gelu, residual=res.bfloat16())
            assert out.dtype == torch.bfloat16 and out.shape == (5, 7, 48)
            assert _rel_err(out, ref) < 0.02


def test_fp32_linears_take_onednn_on_amd_cpus_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sam_encoder.cpu_vendor.__wrapped__() in ("AuthenticAMD", "GenuineIntel", "")
    for vendor, expected in (("AuthenticAMD", True), ("GenuineIntel", False), ("", False)):
        monkeypatch.setattr(sam_encoder, "cpu_vendor", lambda v=vendor: v)
        assert sam_encoder.fp32_linears_on_onednn.__wrapped__() is expected


def test_session_encodes_a_batch_in_one_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    path = tmp_path / "padded.pth"
    samplug.save_config_checkpoint(samplug.build_sam_from_config(PADDED), PADDED, path)
    session = samplug.SamSession.from_checkpoint(path, device="cpu", cache_size=4)
    alone = samplug.SamSession.from_checkpoint(path, device="cpu")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (60, 90, 3), dtype=np.uint8), rng.integers(0, 255, (70, 50, 3), dtype=np.uint8)]
    calls: list[int] = []
    encoder = session.model.image_encoder
    real = encoder.forward
    monkeypatch.setattr(encoder, "forward", lambda x: calls.append(len(x)) or real(x))
    session.encode_batch([images[0], images[1], images[0]])
    assert calls == [2]  # one call, each distinct image once
    session.encode_batch(images)
    assert calls == [2]  # both cached
    for image in images:
        emb = session.set_image(image)
        ref = alone.encode(image)
        assert emb.original_size == ref.original_size and emb.input_size == ref.input_size
        assert _rel_err(emb.features, ref.features) < 1e-5
    assert calls == [2]  # set_image found them in the cache


def test_session_default_is_the_fast_encoder_with_the_reference_masks(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = samplug.build_sam_from_config(PADDED)
    _random_rel_pos(model.image_encoder)
    path = tmp_path / "padded.pth"
    samplug.save_config_checkpoint(model, PADDED, path)
    fast = samplug.SamSession.from_checkpoint(path, device="cpu")
    reference = samplug.SamSession.from_checkpoint(path, device="cpu", encoder="reference")
    assert all(getattr(b, "_labeler_fast", False) for b in fast.model.image_encoder.blocks)
    assert not any(getattr(b, "_labeler_fast", False) for b in reference.model.image_encoder.blocks)
    assert all(getattr(b.attn, "_labeler_chunked", False) for b in reference.model.image_encoder.blocks)
    image = np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    boxes = [[5, 5, 40, 50], [30, 10, 90, 60], [0, 0, 96, 64]]
    fast.set_image(image)
    reference.set_image(image)
    assert _rel_err(fast.embedding.features, reference.embedding.features) < 1e-5
    a, _ = fast.predict_boxes(boxes)
    b, _ = reference.predict_boxes(boxes)
    for x, y in zip(a, b, strict=True):
        union = np.logical_or(x, y).sum()
        assert union == 0 or np.logical_and(x, y).sum() / union >= 0.99


@pytest.mark.slow
def test_mobile_sam_convolutions_fold_their_batch_norms_with_the_same_masks() -> None:
    """MobileSAM's TinyViT Conv2d_BN pairs become one channels-last convolution each; with
    batch norms whose statistics are not the identity, features and masks stay the reference's."""
    torch.manual_seed(0)
    model = samplug.build_sam("mobile_sam").eval()
    gen = torch.Generator().manual_seed(3)
    for m in model.image_encoder.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
    pairs = sum(1 for m in model.image_encoder.modules() if type(m).__name__ == "Conv2d_BN")
    assert pairs > 20
    reference = samplug.SamSession(copy.deepcopy(model), device="cpu", encoder="reference")
    fast = samplug.SamSession(model, device="cpu")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.model.image_encoder.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in reference.model.image_encoder.modules())
    assert sam_encoder.fuse_conv_bn(fast.model.image_encoder) == 0  # once
    image = np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    fast.set_image(image)
    reference.set_image(image)
    assert _rel_err(fast.embedding.features, reference.embedding.features) < 1e-4
    boxes = [[5, 5, 80, 100], [60, 20, 150, 110]]
    for x, y in zip(fast.predict_boxes(boxes)[0], reference.predict_boxes(boxes)[0], strict=True):
        union = np.logical_or(x, y).sum()
        assert union == 0 or np.logical_and(x, y).sum() / union >= 0.99
