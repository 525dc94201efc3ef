"""The fast TinyViT forward (plugins/sam_tinyvit.py) against ultralytics' own MobileSAM encoder."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ultralytics")

from labeler_plugins import sam as samplug  # noqa: E402
from labeler_plugins import sam_encoder, sam_tinyvit  # noqa: E402


def _tinyvit(img_size: int) -> torch.nn.Module:
    """MobileSAM's TinyViT (its real widths and depths) at a small input, with batch norms and
    attention biases that are not their initial identity and zeros."""
    from ultralytics.models.sam.modules.tiny_encoder import TinyViT

    torch.manual_seed(0)
    enc = TinyViT(img_size=img_size, embed_dims=[64, 128, 160, 320], depths=[2, 2, 6, 2], num_heads=[2, 4, 5, 10],
                  window_sizes=[7, 7, 14, 7], drop_path_rate=0.0)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in enc.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
            if hasattr(m, "attention_biases"):
                m.attention_biases.copy_(torch.randn(m.attention_biases.shape, generator=gen))
    return enc.eval()


def _fast(enc: torch.nn.Module) -> torch.nn.Module:
    fast = copy.deepcopy(enc)
    assert sam_encoder.fuse_conv_bn(fast) > 20
    # the patch embedding, 2 MBConv blocks, 3 patch mergings and 10 attention blocks
    assert sam_tinyvit.install_fast_tinyvit(fast) == 16
    assert sam_tinyvit.install_fast_tinyvit(fast) == 0  # once
    return fast


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max() / b.float().abs().max())


# 224: windows that tile each stage exactly, and a stage whose window is the whole map (14 x 14);
# 256: every stage padded to whole windows.
@pytest.mark.parametrize("img_size", [224, 256])
def test_fast_tinyvit_matches_ultralytics_fp32(img_size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    enc = _tinyvit(img_size)
    fast = _fast(enc)
    x = torch.randn(1, 3, img_size, img_size, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        ref = enc(x)
        whole = fast(x)
        # MBConv in bands of 3 image rows (the last band shorter): the same as in one band
        monkeypatch.setattr(sam_tinyvit, "BAND_BYTES", 3 * 256 * (img_size // 4) * 4)
        banded = fast(x)
    assert whole.shape == ref.shape == (1, 256, img_size // 16, img_size // 16)
    assert _rel_err(whole, ref) < 1e-5
    assert _rel_err(banded, ref) < 1e-5
    assert _rel_err(banded, whole) < 1e-5


def test_fast_tinyvit_outside_inference_takes_torchs_plain_operations() -> None:
    """With autograd on (oneDNN's fused ops have no backward) the same forward runs torch's
    own operations, with the same numbers, and gradients flow."""
    enc = _tinyvit(224)
    fast = _fast(enc)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = enc(x)
    out = fast(x.requires_grad_())
    assert _rel_err(out.detach(), ref) < 1e-5
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_fast_tinyvit_bf16_is_as_close_as_the_plain_bf16() -> None:
    enc = _tinyvit(256)
    plain = copy.deepcopy(enc)
    sam_encoder.fuse_conv_bn(plain)
    fast = _fast(enc)
    for e in (plain, fast):
        e.to(torch.bfloat16).eval()  # eval again: the attention caches its biases in the new dtype
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        ref = enc(x)
        err_plain = _rel_err(plain(x.bfloat16()), ref)
        err_fast = _rel_err(fast(x.bfloat16()), ref)
    assert err_fast < 0.05
    assert err_fast <= 1.5 * err_plain


@pytest.mark.slow
def test_mobile_sam_session_runs_the_fast_tinyvit_with_the_reference_masks() -> None:
    """The session's default for MobileSAM is the fast forward; embeddings and masks are those
    of ultralytics' own modules (``-o sam.encoder reference``)."""
    torch.manual_seed(0)
    model = samplug.build_sam("mobile_sam").eval()
    for m in model.image_encoder.modules():
        if hasattr(m, "attention_biases"):
            torch.nn.init.normal_(m.attention_biases, std=1.0)
    reference = samplug.SamSession(copy.deepcopy(model), device="cpu", encoder="reference")
    fast = samplug.SamSession(model, device="cpu")
    assert getattr(fast.model.image_encoder.layers[1].blocks[0], "_labeler_fast", False)
    assert not getattr(reference.model.image_encoder.layers[1].blocks[0], "_labeler_fast", False)
    image = np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    fast.set_image(image)
    reference.set_image(image)
    assert _rel_err(fast.embedding.features, reference.embedding.features) < 1e-4
    boxes = [[5, 5, 200, 250], [150, 40, 390, 290], [0, 0, 400, 300]]
    for x, y in zip(fast.predict_boxes(boxes)[0], reference.predict_boxes(boxes)[0], strict=True):
        union = np.logical_or(x, y).sum()
        assert union == 0 or np.logical_and(x, y).sum() / union >= 0.999
