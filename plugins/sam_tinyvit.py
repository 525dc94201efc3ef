"""A faster forward for MobileSAM's TinyViT image encoder (same modules, same weights).

ultralytics' TinyViT (``ultralytics.models.sam.modules.tiny_encoder``) spends most of its time
in memory-bound passes, not in arithmetic: each GELU is a separate pass over its input, the
first stage's 256-channel activations at 256 x 256 are 67 MB tensors (fp32) that glibc maps
fresh from the OS on every allocation (anything over 32 MB, see ``keep_freed_memory`` in
``plugins/sam.py``), 1x1 convolutions on one thread take a slow non-oneDNN path, and the
windowed attentions build their score maps in full, then scale, add the position biases and
take the softmax in three more passes. Here, on a CPU:

- every convolution runs through oneDNN's fused ``_convolution_pointwise`` (the op inductor
  emits): the GELU after it is applied as it writes, and MBConv's residual sum too;
- the first stage's MBConv blocks run a band of image rows at a time (:data:`BAND_BYTES` of
  hidden activations per band, with a one-row halo for the 3x3 depthwise convolution): the
  256-channel activations never exist for the whole image;
- attention is torch's fused ``scaled_dot_product_attention`` with the position biases as its
  additive mask (broadcast over the windows, not copied), q, k and v strided views of the qkv
  output, and the MLP's first linear layer with its GELU fused (oneDNN);
- the windows' outputs are put back and added to the residual in one pass.

The numbers are the reference's to float rounding (other summation orders; tested against
ultralytics' own forward in ``tests/test_sam_tinyvit.py``); elsewhere (a GPU, autograd, a torch
without oneDNN) the same forward runs torch's plain operations. Measurements: bench/README.md.
"""

from __future__ import annotations

import functools
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Bytes of an MBConv block's hidden activations computed at once (one band of image rows):
#: small enough to stay in cache and in glibc's reused heap.
BAND_BYTES = 4 << 20


@functools.cache
def _mkldnn_conv() -> bool:
    """Whether this torch has oneDNN's fused convolution (``torch.ops.mkldnn._convolution_pointwise``)."""
    import torch

    return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


def _fused(x: torch.Tensor, weight: torch.Tensor) -> bool:
    from labeler_plugins.sam_encoder import onednn_fuses

    return onednn_fuses(x, weight) and _mkldnn_conv()


def conv(x: torch.Tensor, layer: Any, gelu: bool = False, residual: torch.Tensor | None = None) -> torch.Tensor:
    """``layer(x)`` (a ``Conv2d``), then ``+ residual``, then the exact GELU (``gelu``): on a CPU
    one oneDNN call for the convolution with the GELU or the sum applied as it writes."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    if _fused(x, layer.weight):
        args = (layer.weight, layer.bias, list(layer.padding), list(layer.stride), list(layer.dilation), layer.groups)
        if residual is not None:
            y = torch.ops.mkldnn._convolution_pointwise.binary(x, residual, *args, "add", None, None, [], "")
            return F.gelu(y, approximate="none") if gelu else y  # oneDNN takes one post-op here
        return torch.ops.mkldnn._convolution_pointwise(x, *args, "gelu" if gelu else "none", [], "none" if gelu else "")
    y = layer(x)
    if residual is not None:
        y = y + residual
    return F.gelu(y) if gelu else y


def _is_gelu(module: Any) -> bool:
    import torch

    return type(module) is torch.nn.GELU and module.approximate == "none"


def mbconv_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """ultralytics' ``MBConv.forward`` (1x1 expansion, 3x3 depthwise, 1x1 projection, residual,
    GELUs) with fused convolutions, a band of image rows at a time (:data:`BAND_BYTES`)."""
    import torch

    b, _, h, w = x.shape
    hidden = self.conv1.weight.shape[0]
    rows = max(1, min(h, BAND_BYTES // max(1, b * hidden * w * x.element_size())))
    dw = self.conv2
    halo = dw.padding[0]
    bands = []
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        a, e = max(0, r0 - halo), min(h, r1 + halo)
        y = conv(x[:, :, a:e], self.conv1, gelu=True)
        # The depthwise convolution zero-pads every band; rows next to a cut are dropped and the
        # halo rows give the right ones (the same sums as on the whole image).
        y = conv(y, dw, gelu=True)[:, :, r0 - a : r0 - a + (r1 - r0)]
        bands.append(conv(y, self.conv3, gelu=True, residual=x[:, :, r0:r1]))
    return bands[0] if len(bands) == 1 else torch.cat(bands, dim=2)


def patch_embed_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """ultralytics' ``PatchEmbed.forward`` (conv, GELU, conv) with the GELU fused."""
    seq = self.seq
    return conv(conv(x, seq[0], gelu=True), seq[2])


def patch_merging_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """ultralytics' ``PatchMerging.forward`` with the GELUs fused into the convolutions; a
    (B, HW, C) input is taken as the channels-last image it is (no copy)."""
    if x.ndim == 3:
        h, w = self.input_resolution
        x = x.view(len(x), h, w, -1).permute(0, 3, 1, 2)
    x = conv(x, self.conv1, gelu=True)
    x = conv(x, self.conv2, gelu=True)
    return conv(x, self.conv3).flatten(2).transpose(1, 2)


def attention_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """ultralytics' TinyViT ``Attention.forward`` on torch's fused attention kernel, with the
    cached position biases (``ab``) as its additive mask, broadcast over the windows."""
    import torch.nn.functional as F  # noqa: N812
    from labeler_plugins.sam_encoder import linear

    b, n, _ = x.shape
    heads, kd = self.num_heads, self.key_dim
    qkv = linear(F.layer_norm(x, self.norm.normalized_shape, self.norm.weight, self.norm.bias, self.norm.eps),
                 self.qkv).view(b, n, heads, -1)
    q, k, v = (t.transpose(1, 2) for t in qkv.split([kd, kd, self.d], dim=3))  # (B, heads, N, .) views
    if self.training or not hasattr(self, "ab"):
        bias = self.attention_biases[:, self.attention_bias_idxs]
    else:
        self.ab = self.ab.to(self.attention_biases.device)
        bias = self.ab
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype).expand(b, -1, -1, -1), scale=self.scale)
    return out.transpose(1, 2).reshape(b, n, self.dh)


def tinyvit_block_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """ultralytics' ``TinyViTBlock.forward`` with :func:`attention_forward`, the windows put
    back and added to the residual in one pass, the local convolution on the channels-last view
    of the tokens, and the MLP's linear layers with their GELU and residual fused."""
    import torch.nn.functional as F  # noqa: N812
    from labeler_plugins.sam_encoder import linear

    h, w = self.input_resolution
    b, hw, c = x.shape
    ws = self.window_size
    attn = self.attn
    if h == ws and w == ws:
        x = linear(attention_forward(attn, x), attn.proj, residual=x)
    else:
        pad_b, pad_r = (ws - h % ws) % ws, (ws - w % ws) % ws
        y = x.view(b, h, w, c)
        if pad_b or pad_r:
            y = F.pad(y, (0, 0, 0, pad_r, 0, pad_b))  # zero tokens, normalised in the windows as the reference
        nh, nw = (h + pad_b) // ws, (w + pad_r) // ws
        y = y.view(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
        y = linear(attention_forward(attn, y), attn.proj).view(b, nh, nw, ws, ws, c).transpose(2, 3)
        if pad_b or pad_r:
            y = y.reshape(b, h + pad_b, w + pad_r, c)[:, :h, :w]
            x = (x.view(b, h, w, c) + y).view(b, hw, c)
        else:
            x = (x.view(b, nh, ws, nw, ws, c) + y).view(b, hw, c)
    x = conv(x.view(b, h, w, c).permute(0, 3, 1, 2), self.local_conv)  # channels-last in and out
    x = x.permute(0, 2, 3, 1).reshape(b, hw, c)
    mlp = self.mlp
    y = F.layer_norm(x, mlp.norm.normalized_shape, mlp.norm.weight, mlp.norm.bias, mlp.norm.eps)
    return linear(linear(y, mlp.fc1, gelu=True, fp32_gelu=True), mlp.fc2, residual=x)


def _is_conv(module: Any) -> bool:
    import torch

    return type(module) is torch.nn.Conv2d


def install_fast_tinyvit(encoder: Any) -> int:
    """Run a TinyViT encoder's patch embedding, MBConv blocks, patch mergings, attentions and
    blocks through this module's forwards. Call after ``fuse_conv_bn`` (the forwards need plain
    convolutions); a module of another layout keeps its own forward. Returns how many modules
    were changed; a second call changes none."""
    changed = 0
    for module in encoder.modules():
        if getattr(module, "_labeler_fast", False):
            continue
        kind = type(module).__name__
        forward = None
        if kind == "MBConv" and all(_is_conv(getattr(module, n, None)) for n in ("conv1", "conv2", "conv3")) \
                and all(_is_gelu(getattr(module, n, None)) for n in ("act1", "act2", "act3")) \
                and module.conv1.kernel_size == (1, 1) and module.conv2.stride == (1, 1) \
                and module.conv2.padding[0] == module.conv2.kernel_size[0] // 2:
            forward = mbconv_forward
        elif kind == "PatchEmbed" and len(getattr(module, "seq", ())) == 3 and _is_conv(module.seq[0]) \
                and _is_gelu(module.seq[1]) and _is_conv(module.seq[2]):
            forward = patch_embed_forward
        elif kind == "PatchMerging" and all(_is_conv(getattr(module, n, None)) for n in ("conv1", "conv2", "conv3")) \
                and _is_gelu(getattr(module, "act", None)):
            forward = patch_merging_forward
        elif kind == "TinyViTBlock" and _is_conv(getattr(module, "local_conv", None)) \
                and _is_gelu(getattr(getattr(module, "mlp", None), "act", None)) \
                and all(hasattr(module.attn, a) for a in ("qkv", "proj", "norm", "key_dim", "d", "dh", "attention_biases")):
            forward = tinyvit_block_forward
        if forward is None:
            continue
        module.forward = types.MethodType(forward, module)
        module._labeler_fast = True
        changed += 1
    return changed
